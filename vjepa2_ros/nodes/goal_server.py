"""goal_server: holds the ordered image sub-goals and publishes the active one.

Sources: a camera snapshot (/vjepa2/goal/capture), images sent to /vjepa2/goal/add (RViz, rqt,
scripts), a folder (parameter goal_dir) and an RViz interactive-marker menu where the
interactive_markers library is installed. Advancing follows vjepa2_ros.planning.subgoals: the
planner's typed cycle reports (/vjepa2/planner/cycle), the arm's state (/franka/arm_state) and its
executed motions (/franka/motion). Each sub-goal's end goes out on /vjepa2/goal/progress, with
the ground-truth error in the sim (/sim/ground_truth against /sim/goal_truth).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

import numpy as np
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.time import Time
from sensor_msgs.msg import Image, JointState, TimeReference
from std_msgs.msg import Bool, Int32, String
from std_srvs.srv import SetBool, Trigger

from vjepa2_ros import interfaces as names
from vjepa2_ros.config import require
from vjepa2_ros.nodes.conversions import (
    ImageEncodingError,
    image_from_array,
    msg_to_motion,
    named_values,
    rgb_from_image_checked,
    vector_to_msg,
)
from vjepa2_ros.nodes.entrypoint import spin_node
from vjepa2_ros.nodes.params import declare_config
from vjepa2_ros.nodes.qos import LATCHED, LATCHED_HISTORY
from vjepa2_ros.planning.goal_images import load_goal_folder
from vjepa2_ros.planning.gripper_schedule import GripperSchedule
from vjepa2_ros.planning.subgoals import SubgoalPolicy, SubgoalSequence


@dataclass
class GoalServerConfig:
    goal_dir: str = ""
    policy: SubgoalPolicy = field(default_factory=SubgoalPolicy)
    interactive_marker: bool = True
    marker_frame: str = names.BASE_FRAME
    marker_position: list[float] = field(default_factory=lambda: [0.0, -0.4, 0.6])
    max_image_side: int = 4096  # goal images larger than this (px) are refused
    # What each sub-goal's plans may do with the gripper, in sub-goal order, comma-separated
    # (planning/gripper_schedule.py: free, hold, close, open, close_in_place, open_in_place,
    # close@1); sub-goals past the list: gripper_default.
    gripper_schedules: str = ""
    gripper_default: str = "free"

    def schedule(self, index: int) -> GripperSchedule:
        """The gripper schedule of sub-goal `index`."""
        listed = GripperSchedule.parse_list(self.gripper_schedules)
        return (
            listed[index]
            if 0 <= index < len(listed)
            else GripperSchedule.parse(self.gripper_default)
        )

    def __post_init__(self) -> None:
        GripperSchedule.parse_list(self.gripper_schedules)  # one clear error at start-up
        GripperSchedule.parse(self.gripper_default)
        require(len(self.marker_position) == 3, "marker_position must be [x, y, z]")
        require(
            16 <= self.max_image_side <= 16384,
            f"max_image_side must be in 16..16384 px, got {self.max_image_side}",
        )


class GoalServerNode(Node):
    config_class = GoalServerConfig  # its parameters (entrypoint checks parameter files)

    def __init__(self, *, parameter_overrides: dict | None = None, **kwargs) -> None:
        super().__init__("goal_server", **kwargs)
        live = {"policy.stable_cycles": self._set_policy, "policy.max_cycles": self._set_policy}
        live |= {"gripper_schedules": self._set_gripper, "gripper_default": self._set_gripper}
        self.config = declare_config(self, GoalServerConfig, parameter_overrides, live=live)
        self.sequence: SubgoalSequence = SubgoalSequence(policy=self.config.policy)
        self._lock = threading.Lock()
        self._latest_frame = None  # newest camera frame (RGB) for capture
        self._active_stamp_ns = -1  # stamp of the published active goal: identifies it
        self._arm_state = ""  # newest /franka/arm_state ("" before the bridge reports)
        self._ee_truth: np.ndarray | None = None  # sim: newest ground-truth ee position
        self._cup_truth: np.ndarray | None = None
        self._goal_truths: dict[int, dict[str, np.ndarray]] = {}  # sub-goal index -> targets

        self._gripper_pub = self.create_publisher(TimeReference, names.GOAL_GRIPPER, LATCHED)
        self._goal_pub = self.create_publisher(Image, names.GOAL_IMAGE, LATCHED)
        self._index_pub = self.create_publisher(Int32, names.GOAL_INDEX, LATCHED)
        self._done_pub = self.create_publisher(Bool, names.GOAL_DONE, LATCHED)
        self._progress_pub = self.create_publisher(JointState, names.GOAL_PROGRESS, LATCHED_HISTORY)
        self.create_subscription(
            Image, names.CAMERA_IMAGE, self._on_camera, qos_profile_sensor_data
        )
        self.create_subscription(Image, names.GOAL_ADD, self._on_goal_image, 10)
        self.create_subscription(JointState, names.PLANNER_CYCLE, self._on_cycle, 10)
        self.create_subscription(String, names.ARM_STATE, self._on_arm_state, LATCHED)
        self.create_subscription(TimeReference, names.MOTION, self._on_motion, LATCHED)
        self.create_subscription(JointState, names.SIM_GROUND_TRUTH, self._on_truth, 1)
        self.create_subscription(
            JointState, names.SIM_GOAL_TRUTH, self._on_goal_truth, LATCHED_HISTORY
        )
        self.create_service(Trigger, names.GOAL_CAPTURE, self._srv_capture)
        self.create_service(Trigger, names.GOAL_NEXT, self._srv_next)
        self.create_service(Trigger, names.GOAL_PREVIOUS, self._srv_previous)
        self.create_service(Trigger, names.GOAL_CLEAR, self._srv_clear)
        self._enable_client = self.create_client(SetBool, names.PLANNER_ENABLE)
        self._stop_client = self.create_client(Trigger, names.FRANKA_STOP)

        if self.config.goal_dir:
            for name, rgb in load_goal_folder(self.config.goal_dir):
                self.sequence.add(rgb, f"folder:{name}")
            self.get_logger().info(
                f"loaded {len(self.sequence.goals)} sub-goal(s) from {self.config.goal_dir}"
            )
        self._marker = self._make_marker_menu() if self.config.interactive_marker else None
        self._publish_active()
        self._started = True

    def _set_policy(self, config: GoalServerConfig) -> str | None:
        """`ros2 param set /goal_server policy.*`: the active sub-goal continues under it."""
        with self._lock:
            self.config = config
            self.sequence.policy = config.policy
        self.get_logger().info(f"goal policy: {config.policy}")
        return None

    def _set_gripper(self, config: GoalServerConfig) -> str | None:
        """`ros2 param set /goal_server gripper_schedules ...`: the active sub-goal's next plan
        uses it (republished with the active goal's stamp)."""
        with self._lock:
            self.config = config
            index = self.sequence.index
        self.get_logger().info(f"gripper schedules: {config.gripper_schedules or '-'}")
        if self._active_stamp_ns >= 0:
            self._publish_gripper(index, self._active_stamp_ns)
        return None

    @property
    def has_camera_frame(self) -> bool:
        """A live frame arrived: /vjepa2/goal/capture can add it."""
        return self._latest_frame is not None

    # ----------------------------------------------------------------- inputs
    def _on_camera(self, msg: Image) -> None:
        self._latest_frame = msg

    def _on_goal_image(self, msg: Image) -> None:
        try:
            rgb = rgb_from_image_checked(msg, self.config.max_image_side)
        except ImageEncodingError as exc:
            self.get_logger().error(f"goal image on {names.GOAL_ADD} ignored: {exc}")
            return
        self._add(rgb, "topic")

    def _on_cycle(self, msg: JointState) -> None:
        """One planned cycle: count it for the active sub-goal if it planned against it."""
        try:
            values = named_values(msg, names.CYCLE_NAMES)
        except ValueError as exc:
            self.get_logger().error(f"{names.PLANNER_CYCLE} ignored: {exc}")
            return
        goal_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        if goal_ns != self._active_stamp_ns:
            return  # planned against an earlier goal: does not count for this one
        arm_ok = self._arm_state in HEALTHY_ARM_STATES
        with self._lock:
            active = self.sequence.active
            if active is None:
                return
            index = self.sequence.index
            outcome = self.sequence.record_cycle(
                active.goal_id, values["energy"], values["arrived"] > 0.5, arm_ok
            )
        if outcome:
            self._finish(index, outcome)

    def _on_arm_state(self, msg: String) -> None:
        self._arm_state = msg.data

    def _on_motion(self, msg: TimeReference) -> None:
        report = msg_to_motion(msg)
        if report.outcome == "settled" and report.action_stamp is not None:
            with self._lock:
                if report.action_stamp * 1e9 > self._active_stamp_ns >= 0:
                    self.sequence.note_motion()

    def _on_truth(self, msg: JointState) -> None:
        named = dict(zip(msg.name, msg.position))
        with self._lock:
            self._ee_truth = _position(named, "ee")
            self._cup_truth = _position(named, "cup")

    def _on_goal_truth(self, msg: JointState) -> None:
        named = dict(zip(msg.name, msg.position))
        if "index" not in named:
            self.get_logger().error(f"{names.SIM_GOAL_TRUTH} without an `index` value ignored")
            return
        targets = {body: _position(named, body) for body in ("ee", "cup")}
        with self._lock:
            self._goal_truths[int(named["index"])] = {
                k: v for k, v in targets.items() if v is not None
            }

    def _truth_error(self, index: int) -> float | None:
        """Sim: the cup's (else the end effector's) distance to sub-goal `index`'s target: a
        sub-goal that moves an object is judged on the object."""
        targets = self._goal_truths.get(index, {})
        for body, now in (("cup", self._cup_truth), ("ee", self._ee_truth)):
            if body in targets and now is not None:
                return float(np.linalg.norm(now - targets[body]))
        return None

    def _finish(self, index: int, outcome: str) -> None:
        """Report a sub-goal's end (log + /vjepa2/goal/progress) and publish the next one."""
        with self._lock:
            record = self.sequence.outcomes[-1]
            record.truth_error_m = self._truth_error(index)
        truth = (
            f"; ground truth {record.truth_error_m * 100:.1f} cm from its target"
            if record.truth_error_m is not None
            else ""
        )
        what = {"reached": "reached", "budget": "given up (cycle budget)"}.get(outcome, outcome)
        self.get_logger().info(f"sub-goal {index} {what} after {record.cycles} cycles{truth}")
        energy = record.last_energy if record.last_energy is not None else math.nan
        error = record.truth_error_m if record.truth_error_m is not None else math.nan
        self._progress_pub.publish(
            vector_to_msg(
                [index, float(record.reached), record.cycles, energy, error],
                names.PROGRESS_NAMES,
                stamp=self.get_clock().now(),
            )
        )
        self._publish_active()

    # ----------------------------------------------------------------- services
    def _add(self, rgb, source: str) -> int:
        with self._lock:
            was_active = self.sequence.active
            self.sequence.add(rgb, source)
            count = len(self.sequence.goals)
        self.get_logger().info(f"sub-goal {count - 1} added from {source}")
        if was_active is None:
            self._publish_active()
        return count

    def _srv_capture(self, _request, response):
        frame = self._latest_frame
        if frame is None:
            response.success = False
            response.message = f"no camera frame received on {names.CAMERA_IMAGE} yet"
            return response
        try:
            rgb = rgb_from_image_checked(frame, self.config.max_image_side)
        except ImageEncodingError as exc:
            response.success, response.message = False, str(exc)
            return response
        count = self._add(rgb, "capture")
        response.success = True
        response.message = f"captured sub-goal {count - 1}"
        return response

    def _srv_next(self, _request, response):
        with self._lock:
            if self.sequence.active is None:
                response.success, response.message = False, "no active sub-goal"
                return response
            index = self.sequence.index
            moved = self.sequence.next()
        self._finish(index, "moved on by /vjepa2/goal/next")
        response.success = True
        response.message = (
            f"sub-goal {self.sequence.index} active" if moved else "that was the last sub-goal"
        )
        return response

    def _srv_previous(self, _request, response):
        with self._lock:
            moved = self.sequence.previous()
        if moved:
            self._publish_active()
        response.success = moved
        response.message = f"sub-goal {self.sequence.index} active" if moved else "no previous"
        return response

    def _srv_clear(self, _request, response):
        with self._lock:
            count = len(self.sequence.goals)
            self.sequence.clear()
        self._publish_active()
        response.success = True
        response.message = f"cleared {count} sub-goal(s)"
        return response

    # ----------------------------------------------------------------- outputs
    def _publish_active(self) -> None:
        with self._lock:
            goal = self.sequence.active
            index = self.sequence.index
            finished = self.sequence.finished
        stamp = self.get_clock().now()
        if goal is not None:
            self._active_stamp_ns = stamp.nanoseconds
            # The schedule first: the planner plans against the goal only once it holds the
            # schedule with the goal's stamp (input_gate.WAIT_GRIPPER), so order is not needed.
            self._publish_gripper(index, stamp.nanoseconds)
            self._goal_pub.publish(image_from_array(goal.image, "rgb8", "camera", stamp))
        else:
            self._active_stamp_ns = -1
        self._index_pub.publish(Int32(data=index))
        self._done_pub.publish(Bool(data=finished))
        if finished:
            reached = sum(o.reached for o in self.sequence.outcomes)
            self.get_logger().info(
                f"all {len(self.sequence.outcomes)} sub-goal(s) done: {reached} reached by the "
                "planner's arrival rule"
            )

    def _publish_gripper(self, index: int, stamp_ns: int) -> None:
        schedule = self.config.schedule(index)
        msg = TimeReference(source=str(schedule))
        msg.header.stamp = Time(nanoseconds=stamp_ns).to_msg()
        self._gripper_pub.publish(msg)
        self.get_logger().info(f"sub-goal {index}: gripper {schedule}")

    # ----------------------------------------------------------------- RViz menu
    def _make_marker_menu(self):
        try:
            from interactive_markers import InteractiveMarkerServer, MenuHandler
        except ImportError:
            self.get_logger().info(
                "interactive_markers is not installed: the RViz goal menu is off "
                "(services and topics still work)"
            )
            return None
        from visualization_msgs.msg import InteractiveMarker, InteractiveMarkerControl, Marker

        server = InteractiveMarkerServer(self, "vjepa2_goals")
        menu = MenuHandler()
        actions = {
            "Capture": lambda: self._srv_capture(None, Trigger.Response()),
            "Next": lambda: self._srv_next(None, Trigger.Response()),
            "Previous": lambda: self._srv_previous(None, Trigger.Response()),
            "Clear": lambda: self._srv_clear(None, Trigger.Response()),
            "Start": lambda: self._set_planner(True),
            "Stop": self._stop_all,
        }
        for title, action in actions.items():
            menu.insert(title, callback=lambda _fb, act=action: self._log_result(act()))
        marker = InteractiveMarker()
        marker.header.frame_id = self.config.marker_frame
        marker.name = "vjepa2_goals"
        marker.description = "V-JEPA 2 goals (right-click)"
        x, y, z = self.config.marker_position
        marker.pose.position.x, marker.pose.position.y, marker.pose.position.z = x, y, z
        box = Marker(type=Marker.CUBE)
        box.scale.x = box.scale.y = box.scale.z = 0.06
        box.color.r, box.color.g, box.color.b, box.color.a = 0.2, 0.6, 1.0, 0.9
        control = InteractiveMarkerControl(
            interaction_mode=InteractiveMarkerControl.MENU, always_visible=True
        )
        control.markers.append(box)
        marker.controls.append(control)
        server.insert(marker)
        menu.apply(server, marker.name)
        server.applyChanges()
        return server

    def _stop_all(self):
        """RViz "Stop": pause the planner and stop the arm (latched until recover and arm)."""
        self._set_planner(False)
        if not self._stop_client.service_is_ready():
            return Trigger.Response(success=False, message=f"{names.FRANKA_STOP} not available")
        self._stop_client.call_async(Trigger.Request())
        return Trigger.Response(success=True, message="planner paused; arm stopped")

    def _set_planner(self, enable: bool):
        if not self._enable_client.service_is_ready():
            return Trigger.Response(success=False, message="planner enable service not available")
        self._enable_client.call_async(SetBool.Request(data=enable))
        return Trigger.Response(
            success=True, message="planner " + ("started" if enable else "stopped")
        )

    def _log_result(self, response) -> None:
        log = self.get_logger().info if response.success else self.get_logger().warning
        log(response.message)


HEALTHY_ARM_STATES = ("armed", "moving")  # ArmState values in which arrival may count


def _position(named: dict[str, float], body: str) -> np.ndarray | None:
    keys = (f"{body}.x", f"{body}.y", f"{body}.z")
    return np.array([named[k] for k in keys]) if all(k in named for k in keys) else None


def main(args=None) -> None:
    spin_node(GoalServerNode, "goals.yaml", "goal_server", args)
