"""The arm's safety against the real protocol, tried as a hostile tester would (issue 15).

franky-sim's FR3 runs as its own process (killed and restarted here), the bridge runs in this
process or as its own (as under ros2 launch), attackers are separate processes. Each test
asserts what the arm did (its measured pose), not only what the bridge said.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from franky_sim_server import FrankySim

pytest.importorskip("franky", reason="franky-control is not installed")
pytest.importorskip("franky_sim", reason="franky-sim is not installed")

from rcl_interfaces.msg import Log
from sensor_msgs.msg import JointState, TimeReference
from std_srvs.srv import SetBool, Trigger

from vjepa2_ros import interfaces as names
from vjepa2_ros.graph import NODES
from vjepa2_ros.nodes.conversions import stamp_to_sec, vector_to_msg
from vjepa2_ros.nodes.franka_bridge import FrankaBridgeNode
from vjepa2_ros.shell.runner import NodeProcess

pytestmark = [pytest.mark.ros, pytest.mark.sim]
STILL_M = 0.0005
BRIDGE = next(n for n in NODES if n.name == "franka_bridge")


@pytest.fixture
def franky_sim():
    with FrankySim() as sim:
        yield sim


class Operator:
    """Sends actions, calls the bridge's services, watches the arm (a test node)."""

    def __init__(self, ros, name="operator") -> None:
        self.ros = ros
        self.node = ros.node(name)
        self.states: list[np.ndarray] = []
        self.arm_state: list[str] = []
        self.node.create_subscription(
            JointState, names.EE_STATE, lambda m: self.states.append(np.asarray(m.position)), 50
        )
        from std_msgs.msg import String

        from vjepa2_ros.nodes.qos import LATCHED

        self.node.create_subscription(
            String, names.ARM_STATE, lambda m: self.arm_state.append(m.data), LATCHED
        )
        self.motion: list[tuple[float, str]] = []  # (action stamp, outcome) on /franka/motion
        self.node.create_subscription(
            TimeReference,
            names.MOTION,
            lambda m: self.motion.append((stamp_to_sec(m.time_ref), m.source)),
            LATCHED,
        )
        self.pub = self.node.create_publisher(JointState, names.ACTION, 10)

    def wait_state(self, state: str, timeout: float = 30.0) -> None:
        self.ros.wait_for(lambda: self.arm_state and self.arm_state[-1] == state, timeout, state)

    def ee(self, fresh: int = 20) -> np.ndarray:
        """The end effector after `fresh` more state messages (a settled reading)."""
        n = len(self.states) + fresh
        self.ros.wait_for(lambda: len(self.states) >= n, 20, "fresh robot state")
        return self.states[-1]

    def send(self, dx=0.0, dy=0.0, dz=0.0) -> float:
        """Publish an action; returns its stamp (s)."""
        self.ros.wait_for(lambda: self.pub.get_subscription_count() > 0, 10, "action subscriber")
        values = [dx, dy, dz, 0.0, 0.0, 0.0, 0.0]
        msg = vector_to_msg(values, names.ACTION_NAMES, self.node.get_clock().now())
        self.pub.publish(msg)
        return stamp_to_sec(msg.header.stamp)

    def wait_answer(self, stamp: float, outcome: str, timeout: float = 5.0) -> None:
        """/franka/motion answers the action stamped `stamp` with `outcome`."""

        def answered() -> bool:  # the stamp went through seconds and back: compare to 1 us
            return any(abs(t - stamp) < 1e-6 and o == outcome for t, o in self.motion)

        self.ros.wait_for(answered, timeout, f"{outcome} answer")

    def call(self, service: str, srv=Trigger, request=None, timeout: float = 30.0):
        client = self.node.create_client(srv, service)
        assert client.wait_for_service(timeout_sec=10), service
        future = client.call_async(request or srv.Request())
        self.ros.wait_for(future.done, timeout, f"{service} answer")
        return future.result()

    def arm(self, on: bool = True):
        return self.call(names.FRANKA_ARM, SetBool, SetBool.Request(data=on))


def bridge(ros, host: str, **params):
    overrides = {
        "robot_ip": host,
        "auto_arm": True,
        "reconnect_period_s": 0.5,
        "state_reconnect_after_s": 1.0,
        "connect_quiet_s": 0.1,
        "safety.watchdog_timeout_s": 5.0,
        "safety.max_state_age_s": 0.5,
        **params,
    }
    # Its own executor, as `ros2 run` spins it: stop during home depends on that scheduling.
    return ros.add_alone(FrankaBridgeNode(context=ros.context, parameter_overrides=overrides))


def test_a_robot_restart_keeps_the_latch_until_recover_and_arm(ros, franky_sim):
    node = bridge(ros, franky_sim.host, **{"safety.max_speed_m_s": 0.05})
    op = Operator(ros)
    op.wait_state("armed")
    start = op.ee()
    op.send(dy=0.06)  # ~1.2 s at 5 cm/s: the robot dies in the middle
    ros.wait_for(lambda: abs(op.states[-1][1] - start[1]) > 0.005, 10, "motion start")
    franky_sim.kill()
    op.wait_state("error")
    ros.wait_for(lambda: not node.controller.backend.connected, 30, "the dead connection dropped")
    franky_sim.start()  # the robot is back (a fresh FR3 at its start pose)
    ros.wait_for(lambda: node.controller.backend.connected, 30, "reconnect")
    assert node.state == "error"  # still latched
    before = op.ee()
    op.send(dy=0.03)
    ros.wait_for(lambda: node.controller.event == "rejected: error", 10, "rejection")
    assert np.abs(op.ee()[:3] - before[:3]).max() < STILL_M  # moved 0 mm
    assert op.call(names.FRANKA_RECOVER).success
    op.wait_state("disarmed")
    op.send(dy=0.03)
    ros.wait_for(lambda: node.controller.event == "rejected: disarmed", 10, "disarmed")
    assert np.abs(op.ee()[:3] - before[:3]).max() < STILL_M
    assert op.arm().success
    op.wait_state("armed")
    op.send(dy=0.03)
    ros.wait_for(lambda: op.ee()[1] - before[1] > 0.02, 20, "motion after recover and arm")


def test_a_stop_sent_while_disconnected_stays_latched(ros, franky_sim):
    node = bridge(ros, franky_sim.host)
    op = Operator(ros)
    op.wait_state("armed")
    franky_sim.kill()
    op.wait_state("disconnected")
    answer = op.call(names.FRANKA_STOP)
    assert answer.success and "latched while disconnected" in answer.message
    op.wait_state("stopped")
    franky_sim.start()
    ros.wait_for(lambda: node.controller.backend.connected, 30, "reconnect")
    assert node.state == "stopped"
    before = op.ee()
    op.send(dx=0.03)
    ros.wait_for(lambda: node.controller.event == "rejected: stopped", 10, "rejection")
    assert np.abs(op.ee()[:3] - before[:3]).max() < STILL_M
    franky_sim.kill()  # no state samples flow: the refusal is still answered on /franka/motion
    ros.wait_for(lambda: not node.controller.backend.connected, 30, "disconnect")
    op.wait_answer(op.send(dx=0.03), "rejected")


def test_stop_during_home_gives_honest_answers(ros, franky_sim):
    node = bridge(ros, franky_sim.host, relative_dynamics_factor=0.05)
    op = Operator(ros)
    op.wait_state("armed")
    start = op.ee()
    op.send(dy=0.08)  # away from home, so that homing takes a while
    ros.wait_for(lambda: abs(op.states[-1][1] - start[1]) > 0.005, 10, "motion start")
    ros.wait_for(lambda: node.state == "armed" and not node.controller.motion.moving, 30, "settle")
    home = op.node.create_client(Trigger, names.FRANKA_HOME)
    assert home.wait_for_service(timeout_sec=10)
    home_answer = home.call_async(Trigger.Request())
    ros.wait_for(lambda: node.controller._homing or home_answer.done(), 10, "homing start")
    assert not home_answer.done(), home_answer.result().message
    ros.wait_for(lambda: node.controller.motion.moving, 10, "homing motion")
    stop = op.call(names.FRANKA_STOP)
    ros.wait_for(home_answer.done, 30, "home answer")
    assert stop.success and stop.message.startswith("stopped"), stop.message
    result = home_answer.result()
    assert not result.success and "homing interrupted: stopped" in result.message, result.message
    assert node.state == "stopped"


def _bridge_process(host: str, **params) -> NodeProcess:
    """The bridge as its own process, as ros2 launch starts it, discovery range NOT preset."""
    env_before = os.environ.pop("ROS_AUTOMATIC_DISCOVERY_RANGE", None)
    try:
        return NodeProcess(BRIDGE, {"robot_ip": host, **params})
    finally:
        if env_before is not None:
            os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = env_before


def test_actions_from_another_process_are_refused_while_disarmed(ros, franky_sim):
    proc = _bridge_process(franky_sim.host)  # robot.yaml: auto_arm false, as on a real arm
    try:
        op = Operator(ros)
        op.wait_state("disarmed", 60)
        before = op.ee()
        attacker = textwrap.dedent(
            f"""
            import time, rclpy
            from rclpy.node import Node
            from sensor_msgs.msg import JointState, TimeReference
            rclpy.init()
            n = Node("attacker")
            pub = n.create_publisher(JointState, "{names.ACTION}", 10)
            end = time.monotonic() + 4
            while time.monotonic() < end:
                m = JointState(name={list(names.ACTION_NAMES)!r}, position=[0.03, 0, 0, 0, 0, 0, 0])
                m.header.stamp = n.get_clock().now().to_msg()
                pub.publish(m)
                time.sleep(0.05)
            """
        )
        subprocess.run([sys.executable, "-c", attacker], check=True, timeout=60)
        assert np.abs(op.ee()[:3] - before[:3]).max() < STILL_M
        assert op.arm_state[-1] == "disarmed"
        assert any("rejected: disarmed" in line for line in proc.lines)
        # Every entry point keeps discovery on this machine unless told otherwise.
        assert any("discovery: LOCALHOST" in line for line in proc.lines), proc.lines[:20]
    finally:
        assert proc.stop() == 0


FROZEN_CLIENT = textwrap.dedent(
    """
    import sys
    from vjepa2_ros.robot.franky_backend import FrankaBackend, RobotError
    from vjepa2_ros.sim.config import cell_robot_config
    backend = FrankaBackend(cell_robot_config(robot_ip=sys.argv[1]))
    backend.connect()
    backend.gripper("close")
    print("grasping", flush=True)
    sys.stdin.readline()
    try:
        backend.disconnect(1.0)
    except RobotError as exc:
        print(exc, flush=True)
    """
)


def test_a_robot_that_froze_mid_grasp_cannot_keep_its_client_from_exiting(franky_sim):
    """Disconnect and interpreter exit are bounded when the robot never answers again.

    Once, under ros2 launch, the bridge ignored SIGINT and SIGTERM until SIGKILL: the sim had
    stopped first with a grasp in flight, and franky's future for it (whose destructor waits
    for the grasp's answer) was destroyed at interpreter exit. A frozen server (its sockets open,
    nothing answering) leaves libfranka's stop waiting too, every time.
    """
    client = subprocess.Popen(
        [sys.executable, "-c", FROZEN_CLIENT, franky_sim.host],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert client.stdout.readline().strip() == "grasping"
        franky_sim.freeze()
        out, _ = client.communicate("\n", timeout=30)
    finally:
        franky_sim.freeze(False)
        if client.poll() is None:
            client.kill()
    assert client.returncode == 0, out
    assert "did not answer the stop" in out, out


FLOODER = textwrap.dedent(
    f"""
    # A separate process sends NaN actions at 1 kHz for 10 s, then prints how many and the last
    # stamp: the load comes from outside, the test's own process only measures.
    import math, sys, time, rclpy
    from rclpy.node import Node
    from sensor_msgs.msg import JointState
    rclpy.init()
    n = Node("flooder")
    pub = n.create_publisher(JointState, "{names.ACTION}", 10)
    while pub.get_subscription_count() == 0:
        time.sleep(0.01)
    m = JointState(name={list(names.ACTION_NAMES)!r}, position=[math.nan] * 7)
    clock, start, sent = n.get_clock(), time.monotonic(), 0
    while time.monotonic() - start < float(sys.argv[1]):
        m.header.stamp = clock.now().to_msg()
        pub.publish(m)
        sent += 1
        delay = start + sent * 0.001 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    print(sent, m.header.stamp.sec, m.header.stamp.nanosec, flush=True)
    """
)


def _cpu_times() -> np.ndarray:
    """This machine's CPU times (user ... steal), from /proc/stat; zeros where unreadable."""
    try:
        with open("/proc/stat") as f:
            return np.array([int(v) for v in f.readline().split()[1:9]], dtype=np.float64)
    except (OSError, ValueError):
        return np.zeros(8)


def test_a_flood_of_bad_actions_keeps_the_state_stream_and_the_log_quiet(ros, franky_sim):
    proc = _bridge_process(franky_sim.host, auto_arm=True)
    try:
        op = Operator(ros)
        op.wait_state("armed", 60)
        logs: list[Log] = []
        op.node.create_subscription(Log, "/rosout", logs.append, 1000)
        stamps: list[float] = []
        op.node.create_subscription(
            JointState,
            names.EE_STATE,
            lambda m: stamps.append(m.header.stamp.sec + m.header.stamp.nanosec * 1e-9),
            2000,
        )
        ros.wait_for(lambda: len(stamps) > 10, 10, "the state stream")
        cpu_before = _cpu_times()
        flood = subprocess.run(
            [sys.executable, "-c", FLOODER, "10"], capture_output=True, text=True, timeout=60
        )
        cpu = _cpu_times() - cpu_before
        assert flood.returncode == 0, flood.stderr
        sent, sec, nanosec = (int(v) for v in flood.stdout.split())
        # The last refused action is answered on /franka/motion (with the next state sample).
        op.wait_answer(sec + nanosec * 1e-9, "rejected")
        end = sec + nanosec * 1e-9
        window = [t for t in stamps if end - 9.0 <= t <= end]  # the flood's last 9 s
        rate = (len(window) - 1) / (window[-1] - window[0])
        lines = [m for m in logs if m.name == "franka_bridge" and "rejected" in m.msg]
        busy, stolen = 1 - cpu[3:5].sum() / cpu.sum(), cpu[7] / cpu.sum()  # idle+iowait, steal
        print(
            f"sent {sent} NaN actions; ee_state {rate:.1f} Hz; {len(lines)} rejection log "
            f"lines; CPUs {busy:.0%} busy, {stolen:.0%} taken by the host (steal)"
        )
        assert sent > 8000
        assert len(lines) <= 2 * 10
        # Strict on two cores too: the 72-95 Hz once seen in full-suite runs was the test's own
        # MultiThreadedExecutor spinning a core (conftest.RosHarness is single-threaded now).
        assert rate >= 95.0, f"state stream {rate:.1f} Hz ({busy:.0%} busy, {stolen:.0%} steal)"
    finally:
        assert proc.stop() == 0
