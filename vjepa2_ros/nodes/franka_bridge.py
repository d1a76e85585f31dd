"""franka_bridge: ROS in and out of the ArmController (vjepa2_ros/robot/controller.py).

All safety logic (state machine, latches, arming, safety filter, watchdog, runaway guard, settle
tracking) lives in the controller; this node only translates. One executor thread serves every
callback (each returns at once); homing runs in its own thread, so a stop is never queued behind
it; the state stream too, so it flows while a motion or homing is under way.

Teardown: libfranka serves one client, and the connection lives as long as the franky objects
do. `destroy_node` cancels the timers, preempts motion, waits for callbacks in flight, then
disconnects (and checks the connection is really released), so a new bridge can connect at once.
"""

from __future__ import annotations

import threading

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import PoseStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState, TimeReference
from std_msgs.msg import String
from std_srvs.srv import SetBool, Trigger

from vjepa2_ros import interfaces as names
from vjepa2_ros.compute import quick_gil_handover
from vjepa2_ros.nodes.callbacks import CallbackGate, run_in_thread
from vjepa2_ros.nodes.conversions import (
    diagnostics_msg,
    ee_transform,
    joints_to_msg,
    motion_to_msg,
    msg_to_vector,
    pose_to_msg,
    stamp_to_sec,
    tf_publisher,
    vector_to_msg,
)
from vjepa2_ros.nodes.entrypoint import spin_node
from vjepa2_ros.nodes.params import declare_config
from vjepa2_ros.nodes.qos import LATCHED
from vjepa2_ros.robot.config import RobotConfig
from vjepa2_ros.robot.controller import Answer, ArmController, ArmState, ArmStatus, StateLoop
from vjepa2_ros.robot.franky_backend import RobotError, RobotSample

NODE_NAME = names.BRIDGE_STATUS_NAME
# GIL handover (Python's default: 5 ms; the 100 Hz stream fell to ~45 Hz under a flood with it).
GIL_SWITCH_INTERVAL_S = 0.0002
LEVELS = {
    ArmState.ARMED: DiagnosticStatus.OK,
    ArmState.MOVING: DiagnosticStatus.OK,
    ArmState.DISARMED: DiagnosticStatus.WARN,
    ArmState.STOPPED: DiagnosticStatus.WARN,
    ArmState.ERROR: DiagnosticStatus.ERROR,
    ArmState.DISCONNECTED: DiagnosticStatus.ERROR,
}


class FrankaBridgeNode(Node):
    """The only node that moves the arm."""

    config_class = RobotConfig  # its parameters (entrypoint checks parameter files)
    # One thread: rclpy's multi-threaded executor starved the state stream under an action flood
    # (its main thread spins at every message). Home, the one blocking call, has its own thread.
    executor_threads = 1

    def __init__(self, **kwargs) -> None:
        overrides = kwargs.pop("parameter_overrides", None) or {}
        super().__init__(NODE_NAME, **kwargs)
        self.config: RobotConfig = declare_config(self, RobotConfig, overrides)
        cfg = self.config
        self.controller = ArmController(cfg, clock=self._now, log=self._log)
        self._gate = CallbackGate()  # destroy_node waits for callbacks in flight
        self._published: tuple | None = None  # (state, motion, event kind) last published
        self._status_lock = threading.Lock()  # the executor and the state loop both publish

        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.pub_state = self.create_publisher(JointState, names.EE_STATE, qos)
        self.pub_pose = self.create_publisher(PoseStamped, names.EE_POSE, qos)
        self.pub_joints = self.create_publisher(JointState, names.JOINT_STATES, qos)
        self.pub_diag = self.create_publisher(DiagnosticArray, names.DIAGNOSTICS, qos)
        self.pub_arm_state = self.create_publisher(String, names.ARM_STATE, LATCHED)
        self.pub_motion = self.create_publisher(TimeReference, names.MOTION, LATCHED)
        self.pub_tf = tf_publisher(self)  # base -> end effector, for RViz
        self.create_subscription(JointState, names.ACTION, self._on_action, qos)
        c = self.controller
        self._service(Trigger, names.FRANKA_STOP, lambda r: c.stop())
        self._service(Trigger, names.FRANKA_RECOVER, lambda r: c.recover())
        self._service(Trigger, names.FRANKA_HOME, lambda r: c.home(), blocking=True)
        self._service(SetBool, names.FRANKA_ARM, lambda r: c.arm(bool(r.data)))
        self._own_timers = [
            self.create_timer(1.0 / cfg.diagnostics_rate_hz, self._on_diag_timer),
            self.create_timer(1.0 / cfg.gripper_rate_hz, self._on_gripper_timer),
            self.create_timer(cfg.reconnect_period_s, self._try_connect),
        ]
        self._try_connect()
        self._restore_gil = quick_gil_handover(GIL_SWITCH_INTERVAL_S)
        self._state_loop = StateLoop(c, cfg.state_rate_hz, self._on_sample, self._log).start()
        self._started = True

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _log(self, level: str, message: str) -> None:
        # rclpy fixes a logger call site's severity at its first call: one line per level.
        logger = self.get_logger()
        if level == "error":
            logger.error(message)
        elif level == "warning":
            logger.warning(message)
        else:
            logger.info(message)

    def _service(self, srv_type, name: str, handler, blocking: bool = False) -> None:
        """A service answering with `handler(request) -> Answer`; `blocking`: a long call
        (seconds) runs in its own thread while the executor keeps serving (stop, actions)."""

        def answer(request) -> Answer:
            with self._gate.enter() as live:
                return handler(request) if live else Answer(False, "the bridge is shutting down")

        async def serve(request, response):
            if blocking:
                result = await run_in_thread(self.executor, lambda: answer(request), name[1:])
            else:
                result = answer(request)
            response.success, response.message = result.success, result.message
            self._publish_status(force=True)
            return response

        # rclpy holds a callback's group until its coroutine returns: a blocking service gets a
        # group of its own, so stop and actions (the default group) are served meanwhile.
        group = MutuallyExclusiveCallbackGroup() if blocking else None
        self.create_service(srv_type, name, serve, callback_group=group)

    def _try_connect(self) -> None:
        with self._gate.enter() as live:
            if live and not self.controller.backend.connected:
                self.controller.connect()
                self._publish_status(force=True)

    # ---- inputs -----------------------------------------------------------------------------
    def _on_action(self, msg: JointState) -> None:
        with self._gate.enter() as live:
            if not live:
                return
            stamp = stamp_to_sec(msg.header.stamp)
            try:
                action, error = msg_to_vector(msg, names.ACTION_NAMES), ""
            except ValueError as exc:
                action, error = None, str(exc)
            outcome = self.controller.submit(action, stamp, parse_error=error)
            if outcome.event:  # a clip or a rejection: diagnostics when its kind changes; the
                # motion message with the next state sample (now when none flow: disconnected)
                self._publish_status(motion=not self.controller.backend.connected)

    def _on_gripper_timer(self) -> None:
        with self._gate.enter() as live:
            if live:
                self.controller.poll_gripper()

    def _on_diag_timer(self) -> None:
        with self._gate.enter() as live:
            if live:
                self._publish_status(force=True)

    # ---- outputs ----------------------------------------------------------------------------
    def _on_sample(self, sample: RobotSample) -> None:
        with self._gate.enter() as live:
            if not live or not self.context.ok():  # Ctrl-C shut the context down first
                return
            self._publish_sample(sample)
            self._publish_status()

    def _publish_sample(self, sample: RobotSample) -> None:
        cfg, stamp = self.config, self.get_clock().now().to_msg()
        self.pub_state.publish(
            vector_to_msg(sample.ee_state, names.STATE_NAMES, stamp, cfg.base_frame)
        )
        self.pub_pose.publish(pose_to_msg(sample.ee_state, stamp, cfg.base_frame))
        if self.pub_tf is not None:
            self.pub_tf.publish(
                ee_transform(sample.ee_state, stamp, cfg.base_frame, names.EE_FRAME)
            )
        names_, positions = cfg.joint_names, [float(q) for q in sample.joint_positions]
        if np.isfinite(sample.gripper_width):
            names_ += cfg.finger_names
            positions += [sample.gripper_width / 2.0] * 2
        self.pub_joints.publish(joints_to_msg(names_, positions, stamp))

    def _publish_status(self, force: bool = False, motion: bool = True) -> None:
        """Latched topics when their value changes, diagnostics when the state or the event kind
        does (`force`: all three); `motion=False` leaves /franka/motion to the state loop."""
        with self._status_lock:
            status = self.controller.status()
            kind = (status.state, status.motion.outcome, status.event.split(":")[0])
            last_state, last_motion, last_kind = self._published or (None, None, None)
            send_motion = force or (motion and status.motion != last_motion)
            self._published = (status.state, status.motion if send_motion else last_motion, kind)
            if force or status.state != last_state:  # in the lock: latched values stay in order
                self.pub_arm_state.publish(String(data=status.state.value))
            if send_motion:
                self.pub_motion.publish(motion_to_msg(status.motion, self.config.base_frame))
            if force or kind != last_kind:
                self.pub_diag.publish(self._diagnostics(status))

    def _diagnostics(self, status: ArmStatus):
        level = LEVELS[status.state]
        if status.state_failing and level == DiagnosticStatus.OK:
            level = DiagnosticStatus.WARN
        return diagnostics_msg(
            NODE_NAME,
            level,
            status.summary,
            self.config.robot_ip,
            status.values(),
            self.get_clock().now().to_msg(),
        )

    @property
    def state(self) -> str:
        return self.controller.state.value

    def destroy_node(self) -> None:
        """Timers off, motion preempted, callbacks drained, connection released, then the node."""
        if not getattr(self, "_started", False):  # construction failed half-way
            return super().destroy_node()
        self._gate.refuse()
        for timer in self._own_timers:
            timer.cancel()
        if not self.controller.backend.halt():  # unblocks a homing callback waiting on its motion
            self.get_logger().error("the robot did not answer the stop at shutdown: check the arm")
        stuck = self._gate.drain(self.config.shutdown_timeout_s)
        if stuck:
            self.get_logger().error(f"{stuck} callbacks still running at shutdown")
        self._state_loop.stop(self.config.shutdown_timeout_s)
        self._restore_gil()
        try:
            self.controller.disconnect(self.config.shutdown_timeout_s)
        except RobotError as exc:
            self.get_logger().error(str(exc))
        super().destroy_node()


def main(args=None) -> None:
    spin_node(FrankaBridgeNode, "robot.yaml", NODE_NAME, args)
