"""SimRig: the sim cell plus the arm exactly as franka_bridge drives it, stepped synchronously.

The arm is driven through the same ArmController the bridge runs (safety filter, latches,
runaway guard, settle tracking) with the sim cell's robot configuration (config/robot.yaml +
config/cell_sim.yaml): one action path and one error policy. `execute(action)` submits one
action and waits until the controller reports the arm settled, so between two frames lies one
fully executed action, as in a planning cycle. Evaluation episodes and the synchronous data
collector share it.

Between episodes the rig acts as the operator: a latched error or stop is recovered and the arm
re-armed (counted in `recoveries`, and logged), the arm homed by a joint motion, the objects
re-placed, and the arm jogged to the seeded start pose by ordinary actions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from vjepa2_ros.config import require

CONNECT_ATTEMPTS = 10
JOG_STEP_M = 0.08  # start-pose jogging: under safety.max_translation_m
JOG_TOLERANCE_M = 0.005
JOG_MAX_STEPS = 20
JOG_REFUSALS = 2  # motion-planner refusals in a row a jog retries
MOTION_TIMEOUT_EVENT = "motion timeout: no settle"  # the arm did not settle within motion_timeout_s
SAFE_HEIGHT_M = 0.30  # above every object: where the arm waits while the scene is re-placed


def jog_action(position, target, open_gripper: bool = False) -> np.ndarray | None:
    """The next ordinary action (<= JOG_STEP_M) from `position` toward `target`, or None once
    within JOG_TOLERANCE_M. Shared by the core rig and the graph-mode episode driver."""
    delta = np.asarray(target, dtype=np.float64) - np.asarray(position, dtype=np.float64)[:3]
    distance = float(np.linalg.norm(delta))
    if distance < JOG_TOLERANCE_M:
        return None
    gripper = -1.0 if open_gripper else 0.0  # closedness delta: -1 opens fully
    return np.concatenate([delta * min(1.0, JOG_STEP_M / distance), np.zeros(3), [gripper]])


def episode_start(seed: int, start_min, start_max) -> np.ndarray:
    """The seeded start position of an episode's end effector (the hand keeps pointing down)."""
    return np.random.default_rng(10_000 + seed).uniform(start_min, start_max)


@dataclass
class RigConfig:
    host: str = "127.0.0.61"  # franky-sim address
    seed: int = 0  # scene seed at start
    start_min: tuple[float, float, float] = (0.40, -0.12, 0.20)  # seeded start poses, base frame
    start_max: tuple[float, float, float] = (0.55, 0.12, 0.35)
    dynamics_factor: float = 0.3  # franky relative dynamics factor
    motion_timeout_s: float = 8.0  # wait at most this long for one action to settle
    state_rate_hz: float = 100.0  # the controller's state loop (as the bridge's)

    def __post_init__(self) -> None:
        require(
            all(a < b for a, b in zip(self.start_min, self.start_max)),
            "start_min must be below start_max on every axis",
        )
        require(0 < self.dynamics_factor <= 1, "dynamics_factor must be in (0, 1]")
        require(self.motion_timeout_s > 0, "motion_timeout_s must be > 0")


class SimRig:
    """`start()`/`stop()` or a context manager; `reset(seed)`, `execute(action)`, `state()`."""

    def __init__(self, config: RigConfig | None = None, log=None) -> None:
        self.config = config or RigConfig()
        self.cell = None
        self.controller = None
        self._loop = None
        self.recoveries: list[str] = []  # latches cleared between episodes (operator actions)
        self._log = log or (lambda level, message: None)

    def start(self) -> SimRig:
        from vjepa2_ros.robot.controller import ArmController, StateLoop
        from vjepa2_ros.sim.cell import SimCell
        from vjepa2_ros.sim.config import SimConfig, cell_robot_config

        c = self.config
        self.cell = SimCell(SimConfig(host=c.host, seed=c.seed)).start()
        try:
            robot_cfg = cell_robot_config(
                robot_ip=c.host, relative_dynamics_factor=c.dynamics_factor, auto_arm=True
            )
            self.controller = ArmController(robot_cfg, log=self._log)
            for _ in range(CONNECT_ATTEMPTS):
                if self.controller.connect():
                    break
                time.sleep(0.5)
            else:
                raise RuntimeError(f"cannot connect to the simulated arm at {c.host}")
            self._loop = StateLoop(self.controller, c.state_rate_hz, log=self._log).start()
            self._wait(lambda: self.controller.last_sample is not None, 10.0, "a robot state")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.stop()
            self._loop = None
        if self.controller is not None:
            self.controller.disconnect()
            self.controller = None
        if self.cell is not None:
            self.cell.stop()
            self.cell = None

    def __enter__(self) -> SimRig:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @staticmethod
    def _wait(predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"sim rig: no {what} within {timeout:.0f} s")
            time.sleep(0.005)

    def state(self) -> np.ndarray:
        """[x y z roll pitch yaw closedness] as franky reports it (what the bridge publishes)."""
        return self.controller.last_sample.ee_state.copy()

    def ee(self) -> np.ndarray:
        """Ground-truth end-effector position (scoring)."""
        return self.cell.ground_truth()["ee"][0]

    def now(self) -> float:
        return self.controller.clock()

    def event_counts(self) -> dict[str, int]:
        """Every safety event of the arm controller so far, by kind."""
        return dict(self.controller.event_counts)

    def events_since(self, before: dict[str, int]) -> dict[str, int]:
        """Safety events by kind ("clipped: workspace", "watchdog", ...) since `before`
        (an earlier `event_counts()`)."""
        now = self.event_counts()
        return {k: n - before.get(k, 0) for k, n in now.items() if n > before.get(k, 0)}

    def motion(self):
        """The controller's motion status (what the bridge publishes on /franka/motion)."""
        return self.controller.status().motion

    def execute(self, action, stamp: float | None = None) -> str:
        """Submit one action (stamped `stamp`, default now) and wait until the arm settled.

        Returns the safety event ("" for a clean action); a refused action does not move. A
        guard that cut the motion short on the way (watchdog, runaway, robot error) or no
        settle within the motion timeout is the event too: an episode never hides one.
        """
        stamp = self.controller.clock() if stamp is None else stamp
        gripper_before = self.controller.gripper_logic.last
        outcome = self.controller.submit(np.asarray(action, dtype=np.float64), stamp)
        if not outcome.executed:
            return outcome.event
        counts = self.event_counts()
        settled = self.wait_settled(
            stamp, gripper=self.controller.gripper_logic.last != gripper_before
        )
        if self.events_since(counts):
            return self.controller.event or self.controller.status().reason
        return outcome.event if settled else MOTION_TIMEOUT_EVENT

    def wait_settled(self, stamp: float, gripper: bool = False) -> bool:
        """Until the action stamped `stamp` settled: True, or False at the motion timeout.

        `gripper` (the action commanded the gripper) or a gripper command still running: the
        gripper is polled as the bridge's gripper timer does (finger width, a command kept behind
        the running one), and once settled the next state carries the new width. Otherwise the
        gripper is left alone (each libfranka gripper read waits for the hand's next packet).
        """
        deadline = time.monotonic() + self.config.motion_timeout_s
        period, next_poll = 1.0 / self.controller.config.gripper_rate_hz, 0.0
        backend = self.controller.backend
        while time.monotonic() < deadline:
            gripper = gripper or backend.gripper_active
            if gripper and time.monotonic() >= next_poll:
                self.controller.poll_gripper()
                next_poll = time.monotonic() + period
            m = self.motion()
            if m.outcome != "moving" and m.action_stamp is not None and m.action_stamp >= stamp:
                if gripper:
                    self.controller.poll_gripper()
                    self._next_sample()
                return True
            time.sleep(0.005)
        self._log("warning", f"no settle within {self.config.motion_timeout_s} s of an action")
        return False

    def _next_sample(self) -> None:
        """Until the state loop read the robot again (a sample after this call)."""
        before = self.controller.last_sample
        self._wait(lambda: self.controller.last_sample is not before, 2.0, "a robot state")

    def ensure_armed(self) -> None:
        """As an operator between episodes: clear a latch (counted) and arm."""
        ctl = self.controller
        if not ctl.backend.connected:
            ctl.connect()
        state = ctl.state.value
        if state in ("error", "stopped"):
            reason = ctl.status().reason
            self.recoveries.append(f"{state}: {reason}")
            self._log("warning", f"rig: recovering from {state} ({reason}) between episodes")
            answer = ctl.recover()
            if not answer.success:
                raise RuntimeError(f"sim rig: recovery failed: {answer.message}")
        if ctl.state.value == "disarmed":
            answer = ctl.arm(True)
            if not answer.success:
                raise RuntimeError(f"sim rig: cannot arm: {answer.message}")

    def jog_to(self, xyz, open_gripper: bool = False) -> np.ndarray:
        """Move the end effector to `xyz` with ordinary actions (<= JOG_STEP_M each).

        franky-sim's trajectory generator now and then refuses a motion (ruckig -111; the arm
        holds): the step is planned again from the state, JOG_REFUSALS times at most in a row.
        A safety rejection ends the jog at once.
        """
        self.ensure_armed()
        target = np.asarray(xyz, dtype=np.float64)
        refusals = 0
        for _ in range(JOG_MAX_STEPS + JOG_REFUSALS):
            action = jog_action(self.state(), target, open_gripper)
            if action is None:
                break
            event = self.execute(action)
            refusals = refusals + 1 if event.startswith("refused") else 0
            if event.startswith("rejected") or refusals > JOG_REFUSALS:
                raise RuntimeError(f"sim rig: jog to {target.round(3).tolist()} refused: {event}")
        return self.state()

    def reset(self, seed: int) -> np.ndarray:
        """Up to a safe height, new scene from `seed`, then the seeded start pose.

        Jogging with ordinary actions (not franky's joint-space homing, which franky-sim
        preempts now and then under load) keeps the reset on the one action path. Returns the
        state at the start pose, gripper open.
        """
        up = self.state()[:3].copy()
        up[2] = max(up[2], SAFE_HEIGHT_M)
        self.jog_to(up, open_gripper=True)
        self.cell.reset(seed)
        self.cell.wait_sim_time(0.3)  # objects settle on the table
        c = self.config
        return self.jog_to(episode_start(seed, c.start_min, c.start_max), open_gripper=True)
