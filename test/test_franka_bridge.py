"""franka_bridge against franky-sim (real libfranka protocol) over real rclpy/DDS.

The simulator (plain FR3, no scene) runs in its own process on a random 127.0.0.N host, so its
1 kHz loop never competes with the executor for the GIL and concurrent test runs never clash.
"""

from __future__ import annotations

import itertools
import math
import sys
import time

import numpy as np
import pytest
from franky_sim_server import FrankySim

pytest.importorskip("franky", reason="franky-control is not installed")
pytest.importorskip("franky_sim", reason="franky-sim is not installed")
pytest.importorskip("rclpy", reason="rclpy is not installed")

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from rclpy.duration import Duration
from sensor_msgs.msg import JointState
from std_srvs.srv import SetBool, Trigger

from vjepa2_ros.nodes.conversions import ACTION_NAMES, diagnostic_values, vector_to_msg
from vjepa2_ros.nodes.franka_bridge import FrankaBridgeNode

pytestmark = [pytest.mark.ros, pytest.mark.sim]

TOL_M = 0.003  # bar: commanded delta +- 3 mm
STILL_M = 0.0005  # "did not move"
_probe_ids = itertools.count()


@pytest.fixture(scope="module")
def sim():
    """franky-sim's MuJoCo FR3 on a free loopback host, stopped cleanly after the module."""
    with FrankySim() as server:
        yield server


class Probe:
    """A test node recording the bridge's outputs, sending actions and calling its services."""

    def __init__(self, ros) -> None:
        self.ros = ros
        self.node = ros.node(f"bridge_probe_{next(_probe_ids)}")
        self.states: list[tuple[float, JointState]] = []
        self.joints: list[JointState] = []
        self.poses: list[PoseStamped] = []
        self.diags: list[dict[str, str]] = []
        n = self.node
        n.create_subscription(JointState, "/franka/ee_state", self._on_state, 50)
        n.create_subscription(JointState, "/joint_states", self.joints.append, 50)
        n.create_subscription(PoseStamped, "/franka/ee_pose", self.poses.append, 50)
        n.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 50)
        self.pub = n.create_publisher(JointState, "/vjepa2/action", 10)

    def _on_state(self, msg: JointState) -> None:
        self.states.append((time.monotonic(), msg))

    def _on_diag(self, msg: DiagnosticArray) -> None:
        values = diagnostic_values(msg, "franka_bridge")
        if values is not None:
            self.diags.append(values)

    def start(self, bridge) -> None:
        self.ros.wait_for(lambda: len(self.states) > 5, 20, "ee_state from the bridge")
        self.ros.wait_for(lambda: self.pub.get_subscription_count() > 0, 10, "action subscriber")
        assert bridge.state == "armed"

    def ee(self) -> np.ndarray:
        return np.asarray(self.states[-1][1].position)

    def now(self):
        return self.node.get_clock().now()

    def send(self, values, stamp=None, names=ACTION_NAMES) -> None:
        msg = vector_to_msg(values, names, stamp or self.now())
        self.pub.publish(msg)

    def wait_settled(self, timeout: float = 6.0, window: float = 0.3) -> np.ndarray:
        """Wait until the ee moved < 0.2 mm over `window` seconds; return the state."""
        deadline = time.monotonic() + timeout
        time.sleep(window)
        while time.monotonic() < deadline:
            t_now = self.states[-1][0]
            recent = [np.asarray(m.position[:3]) for t, m in self.states if t > t_now - window]
            if len(recent) > 5 and np.ptp(np.array(recent), axis=0).max() < 0.0002:
                return self.ee()
            time.sleep(0.05)
        pytest.fail("the arm did not settle")

    def still(self, seconds: float) -> np.ndarray:
        """The newest state after `seconds` more of state messages (polls, no fixed sleep)."""
        n = len(self.states) + max(1, int(seconds * 50))
        self.ros.wait_for(lambda: len(self.states) >= n, 10, "state messages")
        return self.ee()

    def arm(self, on: bool) -> SetBool.Response:
        client = self.node.create_client(SetBool, "/franka/arm")
        assert client.wait_for_service(timeout_sec=10)
        future = client.call_async(SetBool.Request(data=on))
        self.ros.wait_for(future.done, 30, "/franka/arm response")
        return future.result()

    def call(self, name: str) -> Trigger.Response:
        client = self.node.create_client(Trigger, name)
        assert client.wait_for_service(timeout_sec=10), name
        future = client.call_async(Trigger.Request())
        self.ros.wait_for(future.done, 30, f"{name} response")
        return future.result()


@pytest.fixture
def sim_host(sim):
    return sim.host


@pytest.fixture
def bridge_factory(ros, sim_host):
    """Build a bridge (and a probe) on the sim; `around=f(start_state) -> overrides` first
    measures the arm with a plain bridge, tears it down and builds one configured around the
    measured pose (this also exercises a clean reconnect to the same robot)."""

    def build(around=None, **overrides):
        # A generous watchdog and state age: on a loaded 2-core box the sim runs slower than
        # real time and the state timer can be late.
        params = {
            "robot_ip": sim_host,
            "use_sim": True,
            "auto_arm": True,
            "safety.watchdog_timeout_s": 5.0,
            "safety.max_state_age_s": 0.5,
            **overrides,
        }
        if around is not None:
            bridge, probe = build()
            start = probe.wait_settled()
            ros.remove(bridge)
            params.update(around(start))
        bridge = ros.add(FrankaBridgeNode(context=ros.context, parameter_overrides=params))
        probe = Probe(ros)
        probe.start(bridge)
        return bridge, probe

    return build


def test_state_rate_and_consistent_stamps(bridge_factory):
    _bridge, probe = bridge_factory()
    time.sleep(0.3)
    t0 = time.monotonic()
    n0 = len(probe.states)
    time.sleep(2.0)
    rate = (len(probe.states) - n0) / (time.monotonic() - t0)
    print(f"ee_state rate over 2 s: {rate:.1f} Hz")
    assert rate >= 50.0
    state_stamps = {(m.header.stamp.sec, m.header.stamp.nanosec) for _, m in probe.states}
    joint_stamps = {(m.header.stamp.sec, m.header.stamp.nanosec) for m in probe.joints}
    pose_stamps = {(m.header.stamp.sec, m.header.stamp.nanosec) for m in probe.poses}
    assert len(state_stamps & joint_stamps & pose_stamps) >= 0.9 * len(probe.poses)
    msg = probe.states[-1][1]
    assert list(msg.name) == ["x", "y", "z", "roll", "pitch", "yaw", "gripper"]
    state = np.asarray(msg.position)
    assert 0.0 <= state[6] <= 1.0
    pose = probe.poses[-1].pose.position
    assert abs(pose.z - state[2]) < 0.005 and len(probe.joints[-1].position) == 9


def test_valid_action_moves_by_commanded_delta(bridge_factory):
    bridge, probe = bridge_factory()
    start = probe.wait_settled()
    delta = np.array([0.03, -0.02, 0.02])
    probe.send([*delta, 0.0, 0.0, 0.0, 0.0])
    probe.ros.wait_for(lambda: bridge.controller.actions_executed == 1, 5, "action executed")
    end = probe.wait_settled()
    moved = end[:3] - start[:3]
    print(f"commanded {delta}, moved {np.round(moved, 5)}")
    np.testing.assert_allclose(moved, delta, atol=TOL_M)
    np.testing.assert_allclose(end[3:6], start[3:6], atol=0.02)  # orientation held
    assert probe.diags[-1]["state"] == "armed" and probe.diags[-1]["actions_executed"] == "1"


def test_workspace_clip_never_leaves_the_box(bridge_factory):
    box_max: list[float] = []

    def around(start):
        box_max[:] = [float(start[0] + 0.02), 0.45, 0.75]
        return {"safety.workspace_max": box_max}

    bridge, probe2 = bridge_factory(around=around)
    n0 = len(probe2.states)
    probe2.send([0.07, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    probe2.ros.wait_for(
        lambda: bridge.controller.actions_executed == 1, 5, "clipped action executed"
    )
    end = probe2.wait_settled()
    xs = [m.position[0] for _, m in probe2.states[n0:]]
    print(f"box x max {box_max[0]:.4f}, max x reached {max(xs):.4f}")
    assert max(xs) <= box_max[0] + 0.001
    assert end[0] == pytest.approx(box_max[0], abs=TOL_M)
    assert bridge.controller.event == "clipped: workspace"
    assert any(d["safety_event"] == "clipped: workspace" for d in probe2.diags)


def test_bad_actions_never_move_the_arm(bridge_factory):
    def floor_below(start):  # the workspace floor 5 cm under the hand
        return {"safety.workspace_min": [0.25, -0.45, float(start[2] - 0.05)]}

    bridge, probe = bridge_factory(around=floor_below, **{"safety.workspace_mode": "reject"})
    start = probe.wait_settled()
    now = probe.now()
    stale = now - Duration(seconds=5.0)
    cases = [
        ("rejected: nan", lambda: probe.send([0.02, math.nan, 0, 0, 0, 0, 0])),
        ("rejected: inf", lambda: probe.send([0.02, 0, math.inf, 0, 0, 0, 0])),
        ("rejected: length", lambda: probe.send([0.02, 0, 0, 0, 0, 0], names=("",) * 6)),
        ("rejected: stale", lambda: probe.send([0.02, 0, 0, 0, 0, 0, 0], stamp=stale)),
        ("rejected: oversize translation", lambda: probe.send([0.2, 0, 0, 0, 0, 0, 0])),
        ("rejected: oversize rotation", lambda: probe.send([0, 0, 0, 0.0, 0.0, 1.0, 0])),
        ("rejected: workspace", lambda: probe.send([0, 0, -0.09, 0, 0, 0, 0])),
    ]
    for i, (event, send) in enumerate(cases, start=1):
        send()
        probe.ros.wait_for(lambda i=i: bridge.controller.actions_rejected == i, 5, event)
        assert bridge.controller.event == event
    moved = np.abs(probe.still(0.3)[:3] - start[:3]).max()
    assert moved < STILL_M, f"the arm moved {moved} m on rejected actions"
    assert bridge.controller.actions_executed == 0
    # an action not newer than the last executed one is rejected too (sent at once: not stale)
    stamp = probe.now()
    probe.send([0.0, 0.01, 0, 0, 0, 0, 0], stamp=stamp)
    probe.ros.wait_for(lambda: bridge.controller.actions_executed == 1, 5, "valid action")
    probe.send([0.0, 0.01, 0, 0, 0, 0, 0], stamp=stamp)
    probe.ros.wait_for(
        lambda: bridge.controller.event == "rejected: out-of-order", 5, "out-of-order"
    )
    end = probe.wait_settled()
    assert end[1] - start[1] == pytest.approx(0.01, abs=TOL_M)  # moved once, not twice


def test_stop_halts_and_latches_until_recover(bridge_factory):
    bridge, probe = bridge_factory(**{"safety.max_speed_m_s": 0.05})
    start = probe.wait_settled()
    probe.send([0.0, 0.08, 0.0, 0.0, 0.0, 0.0, 0.0])  # ~2 s at 5 cm/s
    probe.ros.wait_for(lambda: abs(probe.ee()[1] - start[1]) > 0.005, 5, "motion start")
    response = probe.call("/franka/stop")
    assert response.success, response.message
    stopped_at = probe.wait_settled(window=0.2)
    assert abs(stopped_at[1] - start[1]) < 0.06, "stop did not halt the motion early"
    assert bridge.state == "stopped"
    probe.send([0.0, -0.02, 0.0, 0.0, 0.0, 0.0, 0.0])
    probe.ros.wait_for(lambda: bridge.controller.event == "rejected: stopped", 5, "latched reject")
    assert np.abs(probe.still(0.3)[:3] - stopped_at[:3]).max() < STILL_M
    assert probe.call("/franka/home").success is False  # latched: no homing either
    response = probe.call("/franka/recover")
    assert response.success, response.message
    assert bridge.state == "disarmed"  # recover clears the latch; arming is a separate step
    probe.send([0.0, -0.02, 0.0, 0.0, 0.0, 0.0, 0.0])
    probe.ros.wait_for(
        lambda: bridge.controller.event == "rejected: disarmed", 5, "refused while disarmed"
    )
    assert probe.arm(True).success and bridge.state == "armed"
    probe.ros.wait_for(lambda: probe.diags[-1]["state"] == "armed", 5, "armed on diagnostics")
    probe.send([0.0, -0.02, 0.0, 0.0, 0.0, 0.0, 0.0])
    probe.ros.wait_for(
        lambda: bridge.controller.actions_executed == 2, 5, "action after recover and arm"
    )
    end = probe.wait_settled()
    assert end[1] - stopped_at[1] == pytest.approx(-0.02, abs=TOL_M)


def test_watchdog_stops_motion_when_actions_stop(bridge_factory):
    bridge, probe = bridge_factory(
        **{"safety.max_speed_m_s": 0.05, "safety.watchdog_timeout_s": 0.3}
    )
    start = probe.wait_settled()
    probe.send([0.0, -0.08, 0.0, 0.0, 0.0, 0.0, 0.0])  # would take ~2 s
    probe.ros.wait_for(lambda: bridge.controller.event.startswith("watchdog"), 5, "watchdog")
    end = probe.wait_settled()
    assert abs(end[1] - start[1]) < 0.05
    assert bridge.state == "armed"  # the watchdog halts; it does not latch


def test_gripper_closes_and_opens_from_action_values(bridge_factory):
    bridge, probe = bridge_factory()
    probe.wait_settled()
    probe.send([0, 0, 0, 0, 0, 0, 0.75])  # closedness delta > delta_threshold: grasp
    # Closedness (on ee_state) and finger width (on joint_states) are two topics: wait for both.
    probe.ros.wait_for(
        lambda: probe.ee()[6] > 0.9 and probe.joints[-1].position[7] * 2 < 0.008,
        8,
        "gripper closed (closedness > 0.9, width < 8 mm)",
    )
    probe.send([0, 0, 0, 0, 0, 0, -0.75])
    probe.ros.wait_for(
        lambda: probe.ee()[6] < 0.1 and probe.joints[-1].position[7] * 2 > 0.072,
        8,
        "gripper opened (closedness < 0.1, width > 72 mm)",
    )
    assert bridge.controller.actions_executed == 2


def test_home_returns_to_configured_joints(bridge_factory):
    bridge, probe = bridge_factory()
    response = probe.call("/franka/home")
    assert response.success, response.message
    probe.wait_settled()  # the last samples can trail the motion's end by a few ms
    q = np.asarray(probe.joints[-1].position[:7])
    np.testing.assert_allclose(q, bridge.config.safety.home_joints, atol=0.01)


def test_unreachable_robot_reports_disconnected_and_stays_up(ros):
    params = {"robot_ip": "127.0.0.254", "reconnect_period_s": 0.2}
    bridge = ros.add(FrankaBridgeNode(context=ros.context, parameter_overrides=params))
    diags: list[dict[str, str]] = []
    probe = ros.node("diag_probe")
    probe.create_subscription(
        DiagnosticArray,
        "/diagnostics",
        lambda m: diags.extend({kv.key: kv.value for kv in s.values} for s in m.status),
        10,
    )
    ros.wait_for(lambda: len(diags) >= 2, 10, "diagnostics")
    assert diags[-1]["state"] == "disconnected"
    assert bridge.state == "disconnected" and "127.0.0.254" in bridge.controller.status().reason
    pub = probe.create_publisher(JointState, "/vjepa2/action", 10)
    ros.wait_for(lambda: pub.get_subscription_count() > 0, 10, "action subscriber")
    pub.publish(vector_to_msg([0.01, 0, 0, 0, 0, 0, 0], ACTION_NAMES, probe.get_clock().now()))
    ros.wait_for(lambda: bridge.controller.event == "rejected: disconnected", 5, "rejection")


def test_the_bridge_hands_the_gil_over_quickly_and_restores_it_when_it_goes(bridge_factory, ros):
    """The state loop needs quick GIL turns; the setting is process-wide, so a bridge sharing a
    process (tests, the demo's driver) puts it back when it is destroyed."""
    sys.setswitchinterval(0.005)  # Python's default
    bridge, _probe = bridge_factory()
    assert sys.getswitchinterval() == pytest.approx(0.0002)
    ros.remove(bridge)
    assert sys.getswitchinterval() == pytest.approx(0.005)
