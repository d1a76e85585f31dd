"""A franky-sim server for tests, and the loopback addresses tests run their simulators on.

franky-sim binds fixed ports (robot 1337, gripper 1338) on the address it is given, so every
simulator a test starts gets its own loopback address: concurrent test runs never share one.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading

READY_LINE = "Connect to the server"  # franky-sim prints it once it listens
START_TIMEOUT_S = 60.0


def free_loopback_host() -> str:
    """A random 127.x.y.z address for one simulator (Linux routes all of 127/8 to loopback)."""
    rng = random.SystemRandom()
    return f"127.0.{rng.randint(1, 250)}.{rng.randint(10, 250)}"


class FrankySim:
    """franky-sim's plain MuJoCo FR3 in its own process on `host`: start, kill, freeze, start
    again (the robot restarts at its start pose), stop."""

    def __init__(self, host: str | None = None) -> None:
        self.host = host or free_loopback_host()
        self.proc: subprocess.Popen | None = None
        self.lines: list[str] = []

    def start(self) -> FrankySim:
        cmd = [sys.executable, "-m", "franky_sim.run_server", "-s", "mujoco"]
        self.proc = subprocess.Popen(
            [*cmd, "--hostname", self.host],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ready = threading.Event()

        def drain(proc=self.proc) -> None:
            for line in proc.stdout:
                self.lines.append(line)
                if READY_LINE in line:
                    ready.set()

        threading.Thread(target=drain, daemon=True).start()
        if not ready.wait(START_TIMEOUT_S):
            self.proc.kill()
            tail = "".join(self.lines[-20:])
            raise RuntimeError(f"franky-sim did not start within {START_TIMEOUT_S:.0f} s:\n{tail}")
        return self

    def kill(self) -> None:
        """The robot vanishes at once (a cable pulled, a controller crash)."""
        self.proc.kill()
        self.proc.wait(10)

    def freeze(self, frozen: bool = True) -> None:
        """Stop (or continue) the server's process: its sockets stay open and nothing answers."""
        self.proc.send_signal(signal.SIGSTOP if frozen else signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGCONT)  # a frozen server cannot act on SIGTERM
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def __enter__(self) -> FrankySim:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
