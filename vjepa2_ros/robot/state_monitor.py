"""Health of the robot-state stream: freshness, failed reads, when to log, when to latch (pure).

Under CPU load libfranka's UDP state stream can miss its deadline ("UDP receive: Timeout") now
and then. While the arm is idle that is not an error: the bridge counts it, logs it at most once
per `log_period_s`, and keeps reading. Actions are refused while the newest good sample is too old
(`SafetyFilter.check(..., state_age=...)`). A failed read while a motion runs is different: the
bridge cannot see where the arm goes, so it stops the motion and latches `error`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vjepa2_ros.config import require


@dataclass(frozen=True)
class ReadFailure:
    """What the bridge does about one failed state read."""

    latch: bool  # a motion was running: stop it and latch `error` until /franka/recover
    log: bool  # write a log line now (throttled while idle; always when latching)
    suppressed: int  # failures not logged since the previous log line


class StateMonitor:
    """Counts state reads; knows the age of the newest good one. Times in seconds, any clock."""

    def __init__(self, log_period_s: float) -> None:
        require(log_period_s > 0, f"state error log period must be > 0 s, got {log_period_s}")
        self.log_period_s = log_period_s
        self.failures = 0  # total failed reads
        self.consecutive = 0  # failed reads since the last good one
        self.last_ok: float | None = None
        self._last_log: float | None = None
        self._suppressed = 0

    def succeeded(self, now: float) -> int:
        """Record a good read; returns how many reads had failed in a row before it."""
        failed_before = self.consecutive
        self.last_ok = now
        self.consecutive = 0
        return failed_before

    def failed(self, now: float, motion_running: bool) -> ReadFailure:
        """Record a failed read and decide: latch (motion running) or log-throttled and go on."""
        self.failures += 1
        self.consecutive += 1
        due = self._last_log is None or now - self._last_log >= self.log_period_s
        log = motion_running or due
        suppressed = self._suppressed
        if log:
            self._last_log = now
            self._suppressed = 0
        else:
            self._suppressed += 1
        return ReadFailure(latch=motion_running, log=log, suppressed=suppressed)

    def age(self, now: float) -> float:
        """Seconds since the newest good read (inf before the first)."""
        return math.inf if self.last_ok is None else max(0.0, now - self.last_ok)

    def reset(self) -> None:
        """Forget the stream (a new connection): no sample yet, counts kept."""
        self.last_ok = None
        self.consecutive = 0
