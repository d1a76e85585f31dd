"""franka_bridge: ROS in and out of the ArmController (vjepa2_ros/robot/controller.py).

All safety logic (state machine, latches, arming, safety filter, watchdog, runaway guard, settle
tracking) lives in the controller; this node only translates. Callback groups keep the arm
honest: actions, home, recover and arm share a command group (one at a time); stop has its own
group so it is never queued behind a running command; the state stream runs in its own thread so
it keeps flowing while a motion or homing is under way. Needs a MultiThreadedExecutor.

Teardown: libfranka serves one client, and the connection lives as long as the franky objects
do. `destroy_node` cancels the timers, preempts motion, waits for callbacks in flight, then
disconnects (and checks the connection is really released), so a new bridge can connect at once.
"""

from __future__ import annotations

import contextlib
import sys

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState, TimeReference
from std_msgs.msg import String
from std_srvs.srv import SetBool, Trigger

from vjepa2_ros import interfaces as names
from vjepa2_ros.nodes.callbacks import CallbackGate
from vjepa2_ros.nodes.conversions import (
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
# Python hands the GIL over every 5 ms by default: with busy executor threads each of the state
# loop's GIL acquisitions could wait that long (the 100 Hz stream fell to ~45 Hz).
GIL_SWITCH_INTERVAL_S = 0.001
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
    executor_threads = 4  # stop must never wait behind a running home or action callback

    def __init__(self, **kwargs) -> None:
        overrides = kwargs.pop("parameter_overrides", None) or {}
        super().__init__(NODE_NAME, **kwargs)
        self.config: RobotConfig = declare_config(self, RobotConfig, overrides)
        cfg = self.config
        self.controller = ArmController(cfg, clock=self._now, log=self._log)
        self._gate = CallbackGate()  # destroy_node waits for callbacks in flight
        self._published: tuple | None = None  # (state, motion) last sent on the latched topics

        state_group, command_group = (
            MutuallyExclusiveCallbackGroup(),
            MutuallyExclusiveCallbackGroup(),
        )
        stop_group, gripper_group = (
            MutuallyExclusiveCallbackGroup(),
            MutuallyExclusiveCallbackGroup(),
        )
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.pub_state = self.create_publisher(JointState, names.EE_STATE, qos)
        self.pub_pose = self.create_publisher(PoseStamped, names.EE_POSE, qos)
        self.pub_joints = self.create_publisher(JointState, names.JOINT_STATES, qos)
        self.pub_diag = self.create_publisher(DiagnosticArray, names.DIAGNOSTICS, qos)
        self.pub_arm_state = self.create_publisher(String, names.ARM_STATE, LATCHED)
        self.pub_motion = self.create_publisher(TimeReference, names.MOTION, LATCHED)
        self.pub_tf = tf_publisher(self)  # base -> end effector, for RViz
        self.create_subscription(
            JointState, names.ACTION, self._on_action, qos, callback_group=command_group
        )
        self._service(Trigger, names.FRANKA_STOP, lambda r: self.controller.stop(), stop_group)
        self._service(
            Trigger, names.FRANKA_RECOVER, lambda r: self.controller.recover(), command_group
        )
        self._service(Trigger, names.FRANKA_HOME, lambda r: self.controller.home(), command_group)
        self._service(
            SetBool, names.FRANKA_ARM, lambda r: self.controller.arm(bool(r.data)), command_group
        )
        self._own_timers = [
            self.create_timer(1.0 / cfg.diagnostics_rate_hz, self._on_diag_timer, state_group),
            self.create_timer(1.0 / cfg.gripper_rate_hz, self._on_gripper_timer, gripper_group),
            self.create_timer(cfg.reconnect_period_s, self._try_connect, command_group),
        ]
        self._try_connect()
        sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_INTERVAL_S))
        self._state_loop = StateLoop(
            self.controller, cfg.state_rate_hz, self._on_sample, self._log
        ).start()
        self._started = True

    # ---- plumbing ---------------------------------------------------------------------------
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

    def _service(self, srv_type, name: str, handler, group) -> None:
        def serve(request, response):
            with self._gate.enter() as live:
                answer = handler(request) if live else Answer(False, "the bridge is shutting down")
            response.success, response.message = answer.success, answer.message
            self._publish_status(force=True)
            return response

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
            if outcome.event:  # a clip or a rejection: tell diagnostics when its kind changes
                self._publish_status()

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

    def _publish_status(self, force: bool = False) -> None:
        """Arm state and motion on their latched topics when they change; diagnostics too."""
        status = self.controller.status()
        key = (status.state, status.motion, status.event.split(":")[0])
        if key == self._published and not force:
            return
        changed = key[:2] != (self._published or (None, None))[:2]
        self._published = key
        if changed or force:
            self.pub_arm_state.publish(String(data=status.state.value))
            self.pub_motion.publish(motion_to_msg(status.motion, self.config.base_frame))
        self.pub_diag.publish(self._diagnostics(status))

    def _diagnostics(self, status: ArmStatus) -> DiagnosticArray:
        level = LEVELS[status.state]
        if status.state_failing and level == DiagnosticStatus.OK:
            level = DiagnosticStatus.WARN
        diag = DiagnosticStatus(
            level=level, name=NODE_NAME, message=status.summary, hardware_id=self.config.robot_ip
        )
        diag.values = [KeyValue(key=k, value=v) for k, v in status.values().items()]
        msg = DiagnosticArray(status=[diag])
        msg.header.stamp = self.get_clock().now().to_msg()
        return msg

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
        if self.controller.backend.connected:
            with contextlib.suppress(RobotError):
                self.controller.backend.stop()  # unblocks a homing callback waiting on its motion
        stuck = self._gate.drain(self.config.shutdown_timeout_s)
        if stuck:
            self.get_logger().error(f"{stuck} callbacks still running at shutdown")
        self._state_loop.stop(self.config.shutdown_timeout_s)
        try:
            self.controller.disconnect(self.config.shutdown_timeout_s)
        except RobotError as exc:
            self.get_logger().error(str(exc))
        super().destroy_node()


# Python hands the GIL over every 5 ms by default: under a flood of incoming messages the
# state loop's thread then waits that long for each of its many re-acquisitions (franky and rclpy
# release the GIL in every call) and the 100 Hz state stream sags. 0.5 ms keeps it on time.
GIL_SWITCH_INTERVAL_S = 0.0002


def main(args=None) -> None:
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    spin_node(FrankaBridgeNode, "robot.yaml", NODE_NAME, args)
