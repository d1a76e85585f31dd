"""ArmController's state machine, latches, arming and guards, with a fake robot (no ROS).

The fake backend is a tiny kinematic arm: a motion moves the end effector to its target over a
few state reads on its own robot clock. Every transition of the state machine is driven here;
the franky-sim tests (test_franka_bridge.py) run the same controller against the real protocol.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from vjepa2_ros.config import ConfigError
from vjepa2_ros.robot.config import RobotConfig
from vjepa2_ros.robot.controller import ArmController, ArmState, RateLimitedLog
from vjepa2_ros.robot.franky_backend import RobotError, RobotSample
from vjepa2_ros.robot.safety import SafetyConfig

START = np.array([0.45, 0.0, 0.35, math.pi, 0.0, 0.0, 0.0])


class FakeRobot:
    """A franky-like backend: connect, read, move (STEPS reads to arrive), stop, recover."""

    STEPS = 30  # 3 cm in 0.3 s of robot time: 0.1 m/s

    def __init__(self) -> None:
        self.connected = False
        self.reachable = True
        self.pose = START.copy()
        self.robot_time = 0.0
        self.target = None
        self.steps_left = 0
        self.moves: list[np.ndarray] = []
        self.stops = 0
        self.recoveries = 0
        self.fail_reads = False
        self.abort_with = ""  # the next poll raises this (a motion the robot aborted)
        self.jump_m = 0.0  # the next read jumps this far (a runaway)
        self.gripper_busy = False
        self.homed = 0
        self.home_hook = None

    def connect(self) -> None:
        if not self.reachable:
            raise RobotError("cannot connect to the robot at fake: refused")
        self.connected = True

    def disconnect(self, timeout_s=None) -> None:
        self.connected = False

    def read_state(self) -> RobotSample:
        if not self.connected or self.fail_reads:
            raise RobotError("reading the robot state failed: UDP receive: Timeout")
        self.robot_time += 0.01
        if self.target is not None and self.steps_left > 0:
            self.steps_left -= 1
            frac = 1.0 / (self.steps_left + 1)
            self.pose[:3] += (self.target[:3] - self.pose[:3]) * frac
            if self.steps_left == 0:
                self.pose[3:6] = self.target[3:6]
                self.target = None
        if self.jump_m:
            self.pose[0] += self.jump_m
            self.jump_m = 0.0
        return RobotSample(self.pose.copy(), np.zeros(7), 0.08, np.eye(4), self.robot_time)

    def move_to(self, target) -> None:
        self.moves.append(np.asarray(target, float).copy())
        self.target = np.asarray(target, float).copy()
        self.steps_left = self.STEPS

    def poll(self) -> bool:
        if self.abort_with:
            reason, self.abort_with = self.abort_with, ""
            self.target, self.steps_left = None, 0
            raise RobotError(f"motion aborted: {reason}")
        return self.target is not None

    def stop(self) -> None:
        self.stops += 1
        self.target, self.steps_left = None, 0

    def recover(self) -> None:
        self.recoveries += 1

    def home(self) -> None:
        self.homed += 1
        if self.home_hook:
            self.home_hook()

    def gripper(self, command) -> bool:
        return True

    def gripper_poll(self):
        return None

    def read_gripper(self) -> float:
        return 0.08


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make(auto_arm=True, **safety) -> tuple[ArmController, FakeRobot, Clock, list]:
    robot, clock, logs = FakeRobot(), Clock(), []
    cfg = RobotConfig(robot_ip="fake", auto_arm=auto_arm, safety=SafetyConfig(**safety))
    ctl = ArmController(
        cfg, robot, clock=clock, monotonic=clock, log=lambda lvl, m: logs.append((lvl, m))
    )
    return ctl, robot, clock, logs


def tick(ctl, clock, n=1):
    for _ in range(n):
        clock.t += 0.01
        ctl.tick()


def act(ctl, clock, dx=0.03, **kw):
    a = np.zeros(7)
    a[0] = dx
    for k, v in kw.items():
        a["dx dy dz droll dpitch dyaw g".split().index(k)] = v
    return ctl.submit(a, clock.t)


def settle(ctl, clock):
    """Ticks until the controller reports the newest motion settled."""
    for _ in range(200):
        tick(ctl, clock)
        if not ctl.motion.moving:
            return
    pytest.fail("never settled")


def test_connect_auto_arms_once_and_a_real_arm_starts_disarmed():
    ctl, robot, clock, _ = make(auto_arm=False)
    assert ctl.state is ArmState.DISCONNECTED
    assert ctl.connect() and ctl.state is ArmState.DISARMED
    tick(ctl, clock)
    out = act(ctl, clock)
    assert not out.executed and out.event == "rejected: disarmed" and not robot.moves
    assert ctl.arm(True).success and ctl.state is ArmState.ARMED
    ctl2, _, _, _ = make(auto_arm=True)
    assert ctl2.connect() and ctl2.state is ArmState.ARMED


def test_an_action_moves_then_settles_with_a_stamp_after_the_motion():
    ctl, robot, clock, _ = make()
    ctl.connect()
    tick(ctl, clock)
    out = act(ctl, clock, dx=0.03)
    assert out.executed and ctl.state is ArmState.MOVING
    assert ctl.status().motion.outcome == "moving"
    sent = clock.t
    settle(ctl, clock)
    m = ctl.status().motion
    assert m.outcome == "settled" and m.action_stamp == sent and m.settled_at > sent
    assert ctl.state is ArmState.ARMED
    np.testing.assert_allclose(robot.pose[:3], START[:3] + np.array([0.03, 0.0, 0.0]), atol=1e-9)


def test_a_rejected_action_is_answered_at_once_without_motion():
    ctl, robot, clock, _ = make()
    ctl.connect()
    tick(ctl, clock)
    out = act(ctl, clock, dx=float("nan"))
    assert not out.executed and out.event == "rejected: nan" and not robot.moves
    m = ctl.status().motion
    assert m.outcome == "rejected" and m.action_stamp == clock.t


def test_stop_latches_disarms_and_survives_a_reconnect_until_recover_and_arm():
    ctl, robot, clock, _ = make()
    ctl.connect()
    tick(ctl, clock)
    assert ctl.stop().success and ctl.state is ArmState.STOPPED and robot.stops
    # The robot goes away and comes back: still stopped, actions refused.
    robot.connected = False
    ctl.connect()
    assert ctl.state is ArmState.STOPPED
    tick(ctl, clock)
    assert act(ctl, clock).event == "rejected: stopped" and not robot.moves
    assert not ctl.arm(True).success  # arming needs a recover first
    assert ctl.recover().success and ctl.state is ArmState.DISARMED
    assert act(ctl, clock).event == "rejected: disarmed"
    assert ctl.arm(True).success
    assert act(ctl, clock).executed


def test_a_stop_while_disconnected_is_latched():
    ctl, robot, clock, _ = make()
    robot.reachable = False
    assert not ctl.connect()
    answer = ctl.stop()
    assert answer.success and "latched while disconnected" in answer.message
    robot.reachable = True
    ctl.connect()
    tick(ctl, clock)
    assert ctl.state is ArmState.STOPPED
    assert act(ctl, clock).event == "rejected: stopped" and not robot.moves


def test_an_error_during_motion_latches_across_a_lost_connection():
    ctl, robot, clock, _ = make()
    ctl.connect()
    tick(ctl, clock)
    act(ctl, clock)
    robot.fail_reads = True  # the robot dies mid-motion
    tick(ctl, clock)
    assert ctl.state is ArmState.ERROR and "during a motion" in ctl.status().reason
    # ... stays error while reads keep failing and the bridge reconnects
    for _ in range(400):
        tick(ctl, clock)
    assert ctl.state is ArmState.ERROR and not robot.connected
    robot.fail_reads = False
    ctl.connect()
    tick(ctl, clock)
    assert ctl.state is ArmState.ERROR
    assert act(ctl, clock).event == "rejected: error" and len(robot.moves) == 1


def test_a_lost_connection_while_idle_disarms_without_latching():
    ctl, robot, clock, _ = make()
    ctl.connect()
    tick(ctl, clock)
    robot.fail_reads = True
    for _ in range(400):  # > state_reconnect_after_s of failed reads
        tick(ctl, clock)
    assert ctl.state is ArmState.DISCONNECTED
    robot.fail_reads = False
    ctl.connect()
    assert ctl.state is ArmState.DISARMED  # auto_arm arms only the first connection


def test_runaway_on_the_robot_clock_latches_an_error():
    ctl, robot, clock, _ = make(max_measured_speed_m_s=1.0, measured_speed_window_s=0.02)
    ctl.connect()
    tick(ctl, clock, 3)
    robot.jump_m = 0.05  # 5 cm within 20 ms of robot time: 2.5 m/s
    tick(ctl, clock)
    assert ctl.state is ArmState.ERROR and "2.50 m/s over 20 ms" in ctl.status().reason
    assert ctl.status().event_counts["runaway"] == 1


def test_one_tick_of_controller_jitter_is_not_a_runaway():
    # 1.5 mm back and forth between 1 ms ticks reads 1.5 m/s tick to tick; over the 20 ms
    # window the arm has not gone anywhere.
    ctl, robot, clock, _ = make(max_measured_speed_m_s=1.0, measured_speed_window_s=0.02)
    ctl.connect()
    for k in range(60):
        robot.robot_time -= 0.009  # 1 ms of robot time per read
        robot.pose[0] = START[0] + (0.0015 if k % 2 else 0.0)
        tick(ctl, clock)
    assert ctl.state is ArmState.ARMED and ctl.runaway.peak_m_s < 0.1


def test_a_host_read_delay_is_not_a_runaway():
    # Two reads far apart in robot time but close on the host: speed from the robot clock.
    ctl, robot, clock, _ = make(max_measured_speed_m_s=1.0)
    ctl.connect()
    tick(ctl, clock)
    robot.robot_time += 0.5  # the reader thread was delayed 0.5 s of robot time
    robot.jump_m = 0.05
    tick(ctl, clock)
    assert ctl.state is ArmState.ARMED


def test_the_watchdog_times_a_motion_on_the_robot_clock():
    # A simulator starved of CPU runs at a tenth of real time: 1 s on the host is 0.1 s of arm
    # motion, and the watchdog must not cut a motion short for the host's delay. It fires once
    # the arm itself has moved for longer than the timeout with no new action.
    ctl, robot, clock, _ = make(watchdog_timeout_s=0.5)
    ctl.connect()
    tick(ctl, clock)
    robot.STEPS = 10_000  # a long motion: still running when the watchdog should fire
    act(ctl, clock)

    def slow_ticks(n):
        for _ in range(n):
            robot.robot_time -= 0.009  # 1 ms of robot time per 10 ms tick
            tick(ctl, clock)

    slow_ticks(100)  # 1 s on the host, 0.1 s on the robot
    assert robot.stops == 0 and ctl.state is ArmState.MOVING
    slow_ticks(450)  # 0.55 s on the robot since the action
    assert robot.stops == 1 and ctl.event.startswith("watchdog")
    assert ctl.status().event_counts["watchdog"] == 1


def test_motion_planner_failure_refuses_the_action_and_stays_armed():
    ctl, robot, clock, _ = make()
    ctl.connect()
    tick(ctl, clock)
    act(ctl, clock)
    robot.abort_with = "Motion planner failed with error code -111"
    settle(ctl, clock)
    assert ctl.state is ArmState.ARMED
    assert ctl.status().event_counts["refused: motion planner"] == 1
    robot.abort_with = "Reflex: cartesian_reflex"
    act(ctl, clock)
    tick(ctl, clock)
    assert ctl.state is ArmState.ERROR and "cartesian_reflex" in ctl.status().reason


def test_stop_during_home_answers_honestly():
    ctl, robot, clock, _ = make()
    ctl.connect()
    tick(ctl, clock)
    answers = {}
    robot.home_hook = lambda: answers.setdefault("stop", ctl.stop())
    home = ctl.home()
    assert answers["stop"].success and answers["stop"].message.startswith("stopped")
    assert not home.success and "homing interrupted: stopped" in home.message
    assert ctl.state is ArmState.STOPPED


def test_disarm_during_home_interrupts_it_without_an_error_latch():
    """franky answers a preempted homing with an error; the controller knows it asked for it."""
    ctl, robot, clock, _ = make()
    ctl.connect()
    tick(ctl, clock)

    def disarm_then_preempted():
        assert ctl.arm(False).success
        raise RobotError("homing failed: Move command preempted!")

    robot.home_hook = disarm_then_preempted
    home = ctl.home()
    assert not home.success and home.message == "homing interrupted: disarmed (/franka/arm false)"
    assert ctl.state is ArmState.DISARMED  # not error: nothing went wrong with the robot


def test_home_refused_when_not_armed_and_reports_success_when_clean():
    ctl, robot, clock, _ = make(auto_arm=False)
    ctl.connect()
    tick(ctl, clock)
    assert not ctl.home().success and robot.homed == 0
    ctl.arm(True)
    assert ctl.home().success and robot.homed == 1


def test_orientation_limit_rejects_turning_the_hand_further_out():
    from vjepa2_ros.pose.arrays import tilt_and_twist

    ctl, robot, clock, _ = make(max_tilt_rad=0.6)
    ctl.connect()
    tick(ctl, clock)
    events = []
    for _ in range(10):  # the hostile tester's 10 x dpitch 0.34 rad
        events.append(act(ctl, clock, dx=0.0, dpitch=0.34).event)
        settle(ctl, clock)
    tilt, _ = tilt_and_twist(START[3:6], robot.pose[3:6])
    assert tilt <= 0.6 + 1e-9  # one turn of 0.34 rad fits the 0.6 rad cone, a second does not
    assert events[0] == "" and set(events[1:]) == {"rejected: orientation"}
    out = act(ctl, clock, dx=0.0, dpitch=-0.2)  # back towards the reference: allowed
    assert out.executed


def test_a_flood_of_bad_actions_logs_a_count_not_a_line_each():
    ctl, robot, clock, logs = make()
    ctl.connect()
    tick(ctl, clock)
    for _ in range(1000):
        clock.t += 0.001
        act(ctl, clock, dx=float("nan"))
    lines = [m for lvl, m in logs if "rejected: nan" in m]
    assert 1 <= len(lines) <= 1 + 1.0 / ctl.config.rejection_log_period_s + 1
    assert ctl.actions_rejected == 1000 and not robot.moves


def test_rate_limited_log():
    log = RateLimitedLog(2.0)
    assert log.due("a", 0.0) == 0
    assert log.due("a", 1.0) is None and log.due("a", 1.5) is None
    assert log.due("b", 1.5) == 0
    assert log.due("a", 2.1) == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_translation_m", 5.0), ("max_measured_speed_m_s", 30.0), ("watchdog_timeout_s", 60.0)],
)
def test_every_limit_has_an_upper_bound(field, value):
    with pytest.raises(ConfigError, match=field):
        SafetyConfig(**{field: value})
