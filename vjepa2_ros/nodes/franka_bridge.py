"""franka_bridge: /vjepa2/action -> safety filter -> franky; robot state out at >= 50 Hz.

Callback groups keep the arm honest: the state timer (state, watchdog, diagnostics) runs in its
own group so state keeps flowing while a motion or homing is under way; actions, home and
recover share a command group (one at a time); stop has its own group so it is never queued
behind a running command. Needs a MultiThreadedExecutor (main() uses one).

Teardown order matters: libfranka serves one client, and the connection lives as long as the
franky objects do. `destroy_node` cancels the timers, preempts motion, waits for callbacks in
flight, then disconnects (and checks the connection is really released) before the node goes, so
a new bridge can connect to the same robot at once.

Failed state reads while idle are counted and logged (throttled), not latched; actions are refused
(`rejected: stale state`) while the newest good sample is older than `safety.max_state_age_s`. A
failed read while a motion runs stops it and latches `error` until /franka/recover.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger

from vjepa2_ros.nodes.conversions import (
    ACTION_NAMES,
    STATE_NAMES,
    msg_to_vector,
    stamp_to_sec,
    vector_to_msg,
)
from vjepa2_ros.nodes.entrypoint import spin_node
from vjepa2_ros.nodes.params import declare_config
from vjepa2_ros.robot.config import RobotConfig
from vjepa2_ros.robot.franky_backend import FrankaBackend, RobotError, RobotSample
from vjepa2_ros.robot.gripper import GripperHysteresis
from vjepa2_ros.robot.pose import quaternion_xyzw
from vjepa2_ros.robot.safety import SafetyFilter, Verdict, runaway_reason
from vjepa2_ros.robot.state_monitor import StateMonitor

NODE_NAME = "franka_bridge"
LATCHED_STATES = ("error", "stopped")
GIL_SWITCH_INTERVAL_S = 0.001  # only /franka/recover clears these


class FrankaBridgeNode(Node):
    """The only node that moves the arm. States: ok | stopped | error | disconnected."""

    def __init__(self, **kwargs) -> None:
        overrides = kwargs.pop("parameter_overrides", None) or {}
        super().__init__(NODE_NAME, **kwargs)
        self.config: RobotConfig = declare_config(self, RobotConfig, overrides)
        cfg = self.config
        self.backend = FrankaBackend(cfg)
        self.safety = SafetyFilter(cfg.safety)
        self.gripper_logic = GripperHysteresis(cfg.gripper)

        self.state = "disconnected"
        self.safety_event = ""
        self.error_reason = ""
        self.actions_executed = 0
        self.actions_rejected = 0
        self._last_sample: RobotSample | None = None
        self._last_action_time: float | None = None  # monotonic, of the last executed action
        self._motion_active = False
        self._flag_lock = threading.Lock()
        self._connected_at = time.monotonic()  # of the current connection
        self._last_sample_t = 0.0  # monotonic time of _last_sample
        self._closing = False  # set by destroy_node: callbacks that start now do nothing
        self._in_flight = 0  # callbacks running (destroy_node waits for them)
        self._idle = threading.Condition()
        self.monitor = StateMonitor(cfg.state_error_log_period_s)
        self._read_error = ""  # reason of the newest failed state read

        state_group = MutuallyExclusiveCallbackGroup()
        command_group = MutuallyExclusiveCallbackGroup()
        stop_group = MutuallyExclusiveCallbackGroup()
        gripper_group = MutuallyExclusiveCallbackGroup()
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.pub_state = self.create_publisher(JointState, "/franka/ee_state", qos)
        self.pub_pose = self.create_publisher(PoseStamped, "/franka/ee_pose", qos)
        self.pub_joints = self.create_publisher(JointState, "/joint_states", qos)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", qos)
        self.create_subscription(
            JointState, "/vjepa2/action", self._on_action, qos, callback_group=command_group
        )
        self.create_service(Trigger, "/franka/stop", self._on_stop, callback_group=stop_group)
        self.create_service(
            Trigger, "/franka/recover", self._on_recover, callback_group=command_group
        )
        self.create_service(Trigger, "/franka/home", self._on_home, callback_group=command_group)
        self._own_timers = [
            self.create_timer(1.0 / cfg.diagnostics_rate_hz, self._on_diag_timer, state_group),
            self.create_timer(1.0 / cfg.gripper_rate_hz, self._on_gripper_timer, gripper_group),
            self.create_timer(cfg.reconnect_period_s, self._try_connect, command_group),
        ]
        self._try_connect()
        # State at state_rate_hz from its own thread: an executor timer shares the executor's
        # threads (and the GIL) with every other callback and fell to ~20 Hz on a busy laptop.
        # Python hands the GIL over every 5 ms by default: with busy executor threads each
        # of the state loop's GIL acquisitions could wait that long (rate fell to ~45 Hz).
        sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_INTERVAL_S))
        self._state_thread = threading.Thread(target=self._state_loop, name="franka-state")
        self._state_thread.start()

    @contextlib.contextmanager
    def _callback(self):
        """Mark a callback in flight; yields False (do nothing) once the node is closing."""
        with self._idle:
            live = not self._closing
            if live:
                self._in_flight += 1
        try:
            yield live
        finally:
            if live:
                with self._idle:
                    self._in_flight -= 1
                    self._idle.notify_all()

    # ---- connection -------------------------------------------------------------------------
    def _try_connect(self) -> None:
        with self._callback() as live:
            if live and not self.backend.connected:
                self._connect()

    def _connect(self) -> None:
        try:
            self.backend.connect()
        except RobotError as exc:
            if self.error_reason != str(exc):
                self.get_logger().error(
                    f"{exc}; retrying every {self.config.reconnect_period_s} s "
                    "(check robot_ip, the FCI mode in Desk, or start the simulator)"
                )
            self.error_reason = str(exc)
            self._set_state("disconnected", "")
            return
        self.gripper_logic.reset()
        self.monitor.reset()
        self._connected_at = time.monotonic()
        if self.state in LATCHED_STATES:  # reconnected after an error or a stop: still latched
            self.get_logger().info(f"reconnected; still {self.state}: call /franka/recover")
            return
        self.error_reason = ""
        self._set_state("ok", "")
        self.get_logger().info(f"connected to the robot at {self.config.robot_ip}")

    # ---- state ------------------------------------------------------------------------------
    def _state_loop(self) -> None:
        """Read and publish the state on an absolute schedule until the node closes."""
        period = 1.0 / self.config.state_rate_hz
        next_t = time.monotonic()
        while True:
            with self._callback() as live:
                if not live:
                    return
                try:
                    if self.backend.connected:
                        self._read_and_publish()
                except Exception as exc:  # never let the state stream die silently
                    self.get_logger().error(
                        f"state loop: {exc!r}",
                        throttle_duration_sec=self.config.state_error_log_period_s,
                    )
            next_t += period
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:  # fell behind (busy machine): do not burst to catch up
                next_t = time.monotonic()

    def _read_and_publish(self) -> None:
        try:
            sample = self.backend.read_state()
        except RobotError as exc:
            self._on_read_failure(exc)
            return
        failed_before = self.monitor.succeeded(time.monotonic())
        if failed_before:
            self.get_logger().info(f"state reads recovered after {failed_before} failures")
        now = time.monotonic()
        previous, previous_t = self._last_sample, self._last_sample_t
        self._last_sample, self._last_sample_t = sample, now
        self._publish_sample(sample)
        runaway = previous is not None and runaway_reason(
            previous.ee_state[:3],
            previous_t,
            sample.ee_state[:3],
            now,
            self.config.safety.max_measured_speed_m_s,
        )
        if runaway and self.state not in LATCHED_STATES:
            self._halt(runaway)
            self._fail(RobotError(runaway))
            return
        try:
            running = self.backend.poll()
        except RobotError as exc:
            self._fail(exc)
            return
        with self._flag_lock:
            self._motion_active = running
            last = self._last_action_time
        timeout = self.config.safety.watchdog_timeout_s
        if running and last is not None and time.monotonic() - last > timeout:
            self._halt(f"watchdog: no action for {timeout} s")

    def _on_gripper_timer(self) -> None:
        with self._callback() as live:
            if not live or not self.backend.connected:
                return
            try:
                self.backend.read_gripper()
                issued = self.backend.gripper_poll()
                if issued:
                    self.get_logger().info(f"gripper {issued} (waited for the previous command)")
            except RobotError as exc:  # the arm's samples keep the previous width
                self.get_logger().warning(
                    str(exc), throttle_duration_sec=self.config.state_error_log_period_s
                )

    def _on_read_failure(self, exc: RobotError) -> None:
        """Idle: count, log throttled, keep reading. Moving: stop and latch `error`."""
        with self._flag_lock:
            moving = self._motion_active
        decision = self.monitor.failed(time.monotonic(), moving)
        self._read_error = str(exc)
        if decision.latch:
            self._halt(f"state read failed during a motion: {exc}")
            with self._flag_lock:  # stopped, or the connection is gone: no motion to watch
                self._motion_active = False
            self._fail(exc)
        elif (
            min(self.monitor.age(time.monotonic()), time.monotonic() - self._connected_at)
            > self.config.state_reconnect_after_s
        ):
            # libfranka does not recover from some network errors ("Net Exception" on every
            # read): a fresh connection does. A latched error stays latched across it.
            self.get_logger().error(
                f"no robot state for {self.config.state_reconnect_after_s} s ({exc}): reconnecting"
            )
            try:
                self.backend.disconnect(self.config.shutdown_timeout_s)
            except RobotError as err:
                self.get_logger().error(str(err))
            self.monitor.reset()
            if self.state not in LATCHED_STATES:
                self._set_state("disconnected", f"reconnecting: {exc}")
        elif decision.log:
            more = (
                f" (+{decision.suppressed} more since the last report)"
                if decision.suppressed
                else ""
            )
            self.get_logger().warning(
                f"{exc}{more}; {self.monitor.failures} failed reads so far, still trying; "
                "actions are rejected while the state is older than "
                f"safety.max_state_age_s = {self.config.safety.max_state_age_s} s"
            )

    def _publish_sample(self, sample: RobotSample) -> None:
        cfg = self.config
        stamp = self.get_clock().now().to_msg()
        self.pub_state.publish(vector_to_msg(sample.ee_state, STATE_NAMES, stamp, cfg.base_frame))
        pose = PoseStamped()
        pose.header.stamp = stamp
        pose.header.frame_id = cfg.base_frame
        x, y, z = (float(v) for v in sample.ee_state[:3])
        pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = x, y, z
        qx, qy, qz, qw = (float(v) for v in quaternion_xyzw(sample.ee_state))
        o = pose.pose.orientation
        o.x, o.y, o.z, o.w = qx, qy, qz, qw
        self.pub_pose.publish(pose)
        names = cfg.joint_names
        positions = [float(q) for q in sample.joint_positions]
        if np.isfinite(sample.gripper_width):
            names += cfg.finger_names
            positions += [sample.gripper_width / 2.0] * 2
        joints = JointState(name=names, position=positions)
        joints.header.stamp = stamp
        self.pub_joints.publish(joints)

    # ---- actions ----------------------------------------------------------------------------
    def _on_action(self, msg: JointState) -> None:
        with self._callback() as live:
            if live:
                self._handle_action(msg)

    def _handle_action(self, msg: JointState) -> None:
        if self.state != "ok":
            hint = {
                "stopped": "call /franka/recover",
                "error": "call /franka/recover",
                "disconnected": "waiting for the robot",
            }[self.state]
            self._reject(f"rejected: {self.state}", f"robot is {self.state}: {hint}")
            return
        sample = self._last_sample
        if sample is None:
            self._reject("rejected: no state", "no robot state read yet")
            return
        try:
            action = msg_to_vector(msg, ACTION_NAMES)
        except ValueError as exc:
            self._reject("rejected: length", f"bad action message: {exc}")
            return
        now = self.get_clock().now().nanoseconds * 1e-9
        state_age = self.monitor.age(time.monotonic())
        verdict = self.safety.check(
            action, stamp_to_sec(msg.header.stamp), now, sample.ee_state, state_age
        )
        if not verdict.ok:
            self._reject(verdict.event, verdict.detail)
            return
        self._execute(verdict, stamp_to_sec(msg.header.stamp))

    def _execute(self, verdict: Verdict, stamp: float) -> None:
        try:
            self.backend.move_to(verdict.target)
            command = self.gripper_logic.decide(float(verdict.target[6]))
            if command is not None:
                self.backend.gripper(command)
        except RobotError as exc:
            self.gripper_logic.reset()
            self._fail(exc)
            return
        self.safety.commit(stamp)
        with self._flag_lock:
            self._last_action_time = time.monotonic()
            self._motion_active = True
            self.actions_executed += 1
        if verdict.event:
            self.get_logger().warning(f"{verdict.event}: {verdict.detail}")
        self.safety_event = verdict.event
        if verdict.event:
            self.publish_diagnostics()

    def _reject(self, event: str, detail: str) -> None:
        with self._flag_lock:
            self.actions_rejected += 1
        self.safety_event = event
        self.get_logger().warning(f"{event}: {detail}; the arm was not moved")
        self.publish_diagnostics()

    # ---- stop / recover / home --------------------------------------------------------------
    def _halt(self, reason: str) -> None:
        try:
            self.backend.stop()
        except RobotError as exc:
            self._fail(exc)
            return
        with self._flag_lock:
            self._motion_active = False
            self._last_action_time = None
        self.safety_event = reason
        self.get_logger().warning(f"motion stopped: {reason}")
        self.publish_diagnostics()

    def _on_stop(self, _request, response):
        with self._callback() as live:
            if not live:
                response.success, response.message = False, "the bridge is shutting down"
                return response
            return self._stop(response)

    def _stop(self, response):
        if not self.backend.connected:
            response.success, response.message = False, "not connected to the robot"
            return response
        self._set_state("stopped", "stopped: /franka/stop")
        self._halt("stopped: /franka/stop")
        response.success = self.state == "stopped"
        response.message = (
            "stopped; actions are rejected until /franka/recover"
            if response.success
            else f"stop failed: {self.error_reason}"
        )
        return response

    def _on_recover(self, _request, response):
        with self._callback() as live:
            if not live:
                response.success, response.message = False, "the bridge is shutting down"
                return response
            return self._recover(response)

    def _recover(self, response):
        if not self.backend.connected:
            response.success, response.message = False, "not connected to the robot"
            return response
        try:
            self.backend.recover()
        except RobotError as exc:
            self._fail(exc)
            response.success, response.message = False, str(exc)
            return response
        self.error_reason = ""
        self.gripper_logic.reset()
        with self._flag_lock:
            self._last_action_time = None
        self._set_state("ok", "")
        self.get_logger().info("recovered: accepting actions")
        response.success, response.message = True, "recovered; accepting actions"
        return response

    def _on_home(self, _request, response):
        with self._callback() as live:
            if not live:
                response.success, response.message = False, "the bridge is shutting down"
                return response
            return self._home(response)

    def _home(self, response):
        if self.state != "ok":
            response.success = False
            response.message = f"robot is {self.state}: call /franka/recover first"
            return response
        self.get_logger().info(f"homing to {list(self.config.safety.home_joints)}")
        try:
            self.backend.home()
            self.backend.gripper("open")
        except RobotError as exc:
            self._fail(exc)
            response.success, response.message = False, str(exc)
            return response
        self.gripper_logic.reset()
        self.gripper_logic.last = "open"
        response.success, response.message = True, "at home"
        return response

    # ---- diagnostics ------------------------------------------------------------------------
    def _fail(self, exc: RobotError) -> None:
        if str(exc) != self.error_reason:  # the same failure again is not news
            self.get_logger().error(f"robot error: {exc}; call /franka/recover")
        self.error_reason = str(exc)
        self._set_state("error", f"error: {exc}")

    def _set_state(self, state: str, event: str) -> None:
        changed = state != self.state or event != self.safety_event
        self.state = state
        if event or state == "ok":
            self.safety_event = event
        if changed:
            self.publish_diagnostics()

    def _on_diag_timer(self) -> None:
        with self._callback() as live:
            if live:
                self.publish_diagnostics()

    def publish_diagnostics(self) -> None:
        level = {
            "ok": DiagnosticStatus.OK,
            "stopped": DiagnosticStatus.WARN,
            "error": DiagnosticStatus.ERROR,
            "disconnected": DiagnosticStatus.ERROR,
        }[self.state]
        message = self.error_reason or self.state
        failing = self.monitor.consecutive
        if failing and self.state == "ok":
            level = DiagnosticStatus.WARN
            message = f"state reads failing ({failing} in a row): {self._read_error}"
        status = DiagnosticStatus(
            level=level, name=NODE_NAME, message=message, hardware_id=self.config.robot_ip
        )
        age = self.monitor.age(time.monotonic())
        values = {
            "state": self.state,
            "safety_event": self.safety_event,
            "actions_executed": str(self.actions_executed),
            "actions_rejected": str(self.actions_rejected),
            "state_read_failures": str(self.monitor.failures),
            "state_age_ms": f"{age * 1e3:.1f}" if np.isfinite(age) else "inf",
        }
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.pub_diag.publish(msg)

    def destroy_node(self) -> None:
        """Timers off, motion preempted, callbacks drained, connection released, then the node."""
        with self._idle:
            self._closing = True
        for timer in self._own_timers:
            timer.cancel()
        if self.backend.connected:
            with contextlib.suppress(RobotError):
                self.backend.stop()  # unblocks a homing callback waiting on its motion
        deadline = time.monotonic() + self.config.shutdown_timeout_s
        with self._idle:
            while self._in_flight and time.monotonic() < deadline:
                self._idle.wait(deadline - time.monotonic())
            stuck = self._in_flight
        if stuck:
            self.get_logger().error(f"{stuck} callbacks still running at shutdown")
        self._state_thread.join(timeout=self.config.shutdown_timeout_s)
        try:
            self.backend.disconnect(self.config.shutdown_timeout_s)
        except RobotError as exc:
            self.get_logger().error(str(exc))
        super().destroy_node()


def main(args=None) -> None:
    spin_node(FrankaBridgeNode, "robot.yaml", NODE_NAME, args)
