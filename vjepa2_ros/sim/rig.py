"""SimRig: the sim cell plus the arm as the bridge drives it (franky backend, safety filter,
gripper hysteresis), stepped synchronously: one action, wait for the motion, next frame.

Evaluation episodes and the synchronous data collector share it, so the data and the planner
see the same thing between two frames: one fully executed action.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from vjepa2_ros.config import require

STATE_RETRIES = 5  # state reads tried before giving up
TARGET_TOLERANCE_M = 0.002  # "at the target" for a motion that ended before it was seen


@dataclass
class RigConfig:
    host: str = "127.0.0.61"  # franky-sim address
    seed: int = 0  # scene seed at start
    start_min: tuple[float, float, float] = (0.40, -0.12, 0.20)  # seeded start poses, base frame
    start_max: tuple[float, float, float] = (0.55, 0.12, 0.35)
    dynamics_factor: float = 0.3  # franky relative dynamics factor
    motion_timeout_s: float = 4.0  # wait at most this long for one action's motion
    settle_s: float = 0.1  # simulated time after a motion before the next frame

    def __post_init__(self) -> None:
        require(
            all(a < b for a, b in zip(self.start_min, self.start_max)),
            "start_min must be below start_max on every axis",
        )
        require(0 < self.dynamics_factor <= 1, "dynamics_factor must be in (0, 1]")
        require(self.motion_timeout_s > 0, "motion_timeout_s must be > 0")
        require(self.settle_s >= 0, "settle_s must be >= 0")


class SimRig:
    """`start()`/`stop()` or a context manager; `reset(seed)`, `execute(action)`, `state()`."""

    def __init__(self, config: RigConfig | None = None) -> None:
        self.config = config or RigConfig()
        self.cell = None
        self.backend = None

    def start(self) -> SimRig:
        from vjepa2_ros.robot.config import RobotConfig
        from vjepa2_ros.robot.franky_backend import FrankaBackend
        from vjepa2_ros.robot.gripper import GripperHysteresis
        from vjepa2_ros.robot.safety import SafetyFilter
        from vjepa2_ros.sim.cell import SimCell
        from vjepa2_ros.sim.config import SimConfig

        c = self.config
        self.cell = SimCell(SimConfig(host=c.host, seed=c.seed)).start()
        try:
            robot_cfg = RobotConfig(robot_ip=c.host, relative_dynamics_factor=c.dynamics_factor)
            self.backend = FrankaBackend(robot_cfg)
            self.backend.connect()
        except BaseException:
            self.stop()
            raise
        self.safety = SafetyFilter(robot_cfg.safety)
        self.gripper_logic = GripperHysteresis(robot_cfg.gripper)
        return self

    def stop(self) -> None:
        if self.backend is not None:
            self.backend.disconnect()
            self.backend = None
        if self.cell is not None:
            self.cell.stop()
            self.cell = None

    def __enter__(self) -> SimRig:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def state(self) -> np.ndarray:
        """[x y z roll pitch yaw closedness] as franky reports it (what the bridge publishes).

        On a loaded machine libfranka's state read can time out ("Net Exception") while the sim
        lags; a few retries ride that out, a lasting failure is raised.
        """
        from vjepa2_ros.robot.franky_backend import RobotError

        for attempt in range(STATE_RETRIES):
            try:
                return self.backend.read_state().ee_state
            except RobotError:
                if attempt == STATE_RETRIES - 1:
                    raise
                time.sleep(0.2)
                if attempt >= 1:
                    self.reconnect()
        raise AssertionError("unreachable")

    def reconnect(self) -> None:
        """Drop and re-open the franky connection (after a libfranka network error)."""
        try:
            self.backend.disconnect()
        except Exception:
            pass  # the connection is broken already
        self.backend.connect()

    def ee(self) -> np.ndarray:
        """Ground-truth end-effector position (scoring)."""
        return self.cell.ground_truth()["ee"][0]

    def wait_motion(self, target=None) -> None:
        """Until the motion to `target` (xyz) has run and ended, or the motion timeout.

        franky starts an asynchronous motion a little later: "not in control" right after the
        command means "not started yet", so the motion counts as done only after it was seen
        running, or once the arm is at the target.
        """
        deadline = time.monotonic() + self.config.motion_timeout_s
        started = False
        while time.monotonic() < deadline:
            try:
                running = self.backend.poll()
            except Exception:  # aborted (reflex): recover and carry on from where it stopped
                try:
                    self.backend.recover()
                except Exception:  # the connection broke (loaded machine): open a new one
                    self.reconnect()
                break
            if running:
                started = True
            elif started or target is None:
                break
            elif np.linalg.norm(self.state()[:3] - np.asarray(target)[:3]) < TARGET_TOLERANCE_M:
                break
            time.sleep(0.01)
        self.cell.wait_sim_time(self.config.settle_s)

    def move_to(self, xyz, rpy) -> None:
        """Blocking Cartesian move to an absolute pose (episode setup, not planned)."""
        pose = np.concatenate([np.asarray(xyz, float), np.asarray(rpy, float)])
        for _ in range(4):  # long moves can outlast one motion timeout at low dynamics
            self.backend.move_to(pose)
            self.wait_motion(pose)
            if np.linalg.norm(self.state()[:3] - pose[:3]) < 0.005:
                return

    def execute(self, action) -> str:
        """Safety filter, then the arm motion and the gripper command; waits for the motion.

        Returns the safety event ("" for a clean action); a rejected action does not move. A
        motion franky refuses (its planner fails now and then in the sim, error -111) is
        retried once after an error recovery, as an operator would; a second refusal returns
        the event "refused" and the arm stays where it is.
        """
        from vjepa2_ros.robot.franky_backend import RobotError

        action = np.asarray(action, dtype=np.float64)
        now = time.monotonic()
        verdict = self.safety.check(action, now, now, self.state())
        if not verdict.ok:
            return verdict.event
        self.safety.commit(now)
        try:
            self.backend.move_to(verdict.target[:6])
        except RobotError:
            try:
                self.backend.recover()
                self.backend.move_to(verdict.target[:6])
            except RobotError:
                return "refused"
        command = self.gripper_logic.decide(float(verdict.target[6]))
        if command is not None:
            self.backend.gripper(command)
        self.wait_motion(verdict.target)
        return verdict.event

    def reset(self, seed: int) -> np.ndarray:
        """New scene from `seed`, arm home, then to a seeded start pose; returns the state."""
        self.cell.reset(seed)
        self.cell.wait_sim_time(0.3)
        try:
            self.backend.poll()
        except Exception:
            self.backend.recover()
        self.gripper_logic.reset()
        self.safety.last_executed_stamp = None
        home = self.state()
        rng = np.random.default_rng(10_000 + seed)
        self.move_to(rng.uniform(self.config.start_min, self.config.start_max), home[3:6])
        return self.state()
