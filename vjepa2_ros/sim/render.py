"""Camera rendering in a separate process, so the physics thread keeps real time.

MuJoCo rendering holds the GIL for most of a frame (~100 ms on a CPU); done in the simulator's
process it slows physics to a fraction of real time. The worker is a fresh Python process
(`python -m vjepa2_ros.sim.render`, so the caller's __main__ is never re-imported as with
multiprocessing 'spawn') that owns its own MjModel, MjData and EGL context; it receives qpos
snapshots over a socket pair and returns the RGB frame.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

EGL_HELP = (
    "MuJoCo could not create an OpenGL context for headless rendering. Install the EGL "
    "packages (Debian/Ubuntu: `sudo apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri "
    "libgles2`) and run with MUJOCO_GL=egl (on a GPU machine the NVIDIA driver's EGL works too)."
)


class RenderBackendError(RuntimeError):
    """No OpenGL backend could render; the message names the packages to install."""


# Rendering yields to the physics loop and the robot's control loop (vjepa2_ros/compute.py):
# a late frame is harmless, late physics is not.
RENDER_NICE = 5


def _worker(conn: Connection) -> None:
    """Process entry: build the model and renderer, then answer render requests until None."""
    from vjepa2_ros.compute import lower_priority

    # The worker lives exactly as long as its parent's RenderWorker: it stops on close() or when
    # the parent's end of the socket closes. Ctrl-C in a terminal signals the whole process group;
    # a worker that died of it before its parent had handled the same signal made the parent's
    # next render fail with EOFError (a traceback from sim_camera on a clean Ctrl-C).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    lower_priority(RENDER_NICE)
    try:
        xml, width, height, camera = conn.recv()
        import mujoco

        model = mujoco.MjModel.from_xml_string(xml)
        data = mujoco.MjData(model)
        renderer = mujoco.Renderer(model, height, width)
    except Exception as exc:  # any GL/EGL failure ends up here
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        conn.close()
        return
    conn.send(("ready", None))
    try:
        while True:
            request = conn.recv()
            if request is None:
                break
            data.qpos[:] = request
            mujoco.mj_forward(model, data)
            renderer.update_scene(data, camera=camera)
            conn.send_bytes(renderer.render().tobytes())
    except EOFError:  # the parent has gone
        pass
    finally:
        renderer.close()
        conn.close()


class RenderWorker:
    """A spawned rendering process for one camera; `render(qpos)` -> uint8 [H, W, 3].

    Thread-safe (one request at a time); `close()` stops the process and frees its GL context.
    """

    def __init__(self, xml: str, width: int, height: int, camera: str, timeout_s: float = 10.0):
        self.width, self.height = width, height
        self._timeout = timeout_s
        self._lock = threading.Lock()
        env = dict(os.environ)
        env.setdefault("MUJOCO_GL", "egl")
        if env["MUJOCO_GL"] == "egl":
            env.setdefault("PYOPENGL_PLATFORM", "egl")
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        ours, theirs = socket.socketpair()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "vjepa2_ros.sim.render", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            env=env,
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self._conn = Connection(ours.detach())
        self._conn.send((xml, width, height, camera))
        # Spawning re-imports Python and MuJoCo: allow for a slow, busy machine.
        if not self._conn.poll(max(timeout_s, 60.0)):
            self.close()
            raise RenderBackendError(f"the render process did not start in time. {EGL_HELP}")
        try:
            status, detail = self._conn.recv()
        except EOFError:
            status, detail = "error", "the render process exited"
        if status != "ready":
            self.close()
            raise RenderBackendError(f"{detail}. {EGL_HELP}")

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def render(self, qpos: np.ndarray) -> np.ndarray:
        """Render the scene at joint positions `qpos` (the full MjData.qpos vector)."""
        with self._lock:
            if not self.alive:
                raise RuntimeError("the render process is not running (closed or crashed)")
            self._conn.send(np.asarray(qpos, dtype=np.float64))
            if not self._conn.poll(self._timeout):
                raise TimeoutError(f"the render process gave no frame in {self._timeout:.1f} s")
            buf = self._conn.recv_bytes()
        return np.frombuffer(buf, dtype=np.uint8).reshape(self.height, self.width, 3)

    def close(self) -> None:
        """Stop the process (politely, then by force); idempotent."""
        with self._lock:  # a render in flight finishes (or times out) first
            proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            self._conn.send(None)
        except (OSError, BrokenPipeError):
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        self._conn.close()


if __name__ == "__main__":
    _worker(Connection(int(sys.argv[1])))
