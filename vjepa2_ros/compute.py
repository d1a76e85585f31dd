"""CPU share of the model's compute: torch threads and scheduling priority of a process.

On a small machine the world model (encoder, planner) competes for the same cores as the
simulator's 1 kHz physics loop and the robot's control loop. Both of those are time-critical;
planning is not (it only has to finish). Model processes therefore run with a positive nice
value: the kernel then serves physics and control first and gives planning what is left.
Measured on the 2-core dev box: with the planner at the same priority, franky-sim's physics fell
to 0.25x real time in `make demo` and the simulated arm ran away under load.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

from vjepa2_ros.config import require

MAX_NICE = 19


def quick_gil_handover(interval_s: float) -> Callable[[], None]:
    """Hand the GIL over at least every `interval_s` in this process; returns the undo.

    Python's default is 5 ms: a thread that must run on time (the bridge's 100 Hz state loop)
    could wait that long behind a busy one at each acquisition. The setting is process-wide, so
    whoever sets it undoes it when done (a node sharing its process: tests, the demo's driver;
    left set, it made a test process's own threads thrash the GIL: ~92 Hz instead of ~100 Hz
    measured in the flood test).
    """
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, interval_s))
    return lambda: sys.setswitchinterval(before)


@contextlib.contextmanager
def thread_scheduling_kept():
    """Give the calling thread its scheduling policy back afterwards.

    libfranka makes a thread that creates a franky Robot or Gripper real-time (SCHED_FIFO)
    whenever it may, as root even with RealtimeConfig.Ignore. A thread that goes on to plan is
    then served before the simulator's physics: after a test built its Robot in the main
    thread, the planner's torch threads inherited SCHED_FIFO and the in-process sim fell to
    0.13x real time (every action "rejected: stale state"). FrankaBackend connects in a thread
    of its own; code that creates franky objects itself wraps them in this.
    """
    if not hasattr(os, "sched_getscheduler"):
        yield
        return
    policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
    try:
        yield
    finally:
        os.sched_setscheduler(0, policy, param)


def lower_priority(nice: int) -> int:
    """Raise every thread of this process to at least `nice` (never lower); returns it.

    Linux keeps a nice value per thread and new threads inherit their creator's: all existing
    threads (torch's pool included) are set, later ones follow. 0 leaves the process as it is.
    """
    require(0 <= nice <= MAX_NICE, f"nice must be in 0..{MAX_NICE}, got {nice}")
    if nice == 0 or not hasattr(os, "setpriority"):
        return 0
    tasks = Path("/proc/self/task")
    tids = [int(t.name) for t in tasks.iterdir()] if tasks.is_dir() else [0]
    for tid in tids:
        try:
            if os.getpriority(os.PRIO_PROCESS, tid) < nice:
                os.setpriority(os.PRIO_PROCESS, tid, nice)
        except (ProcessLookupError, PermissionError):  # a thread that just ended
            continue
    return nice


def set_torch_threads(threads: int) -> None:
    """torch intra-op threads; 0 keeps torch's default (all cores)."""
    require(0 <= threads <= 256, f"torch_threads must be 0 (default) or 1..256, got {threads}")
    if threads:
        import torch

        torch.set_num_threads(threads)
