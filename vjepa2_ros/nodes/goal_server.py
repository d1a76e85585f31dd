"""goal_server: holds the ordered image sub-goals and publishes the active one.

Sources: a camera snapshot (/vjepa2/goal/capture), images sent to /vjepa2/goal/add (RViz, rqt,
scripts), a folder (parameter goal_dir) and an RViz interactive-marker menu where the
interactive_markers library is installed. Advancing follows vjepa2_ros.planning.subgoals.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Bool, Int32
from std_srvs.srv import SetBool, Trigger

from vjepa2_ros import interfaces as names
from vjepa2_ros.config import require
from vjepa2_ros.nodes.conversions import (
    ImageEncodingError,
    diagnostic_values,
    image_from_array,
    rgb_from_image,
)
from vjepa2_ros.nodes.entrypoint import spin_node
from vjepa2_ros.nodes.params import declare_config
from vjepa2_ros.nodes.qos import LATCHED
from vjepa2_ros.planning.goal_images import load_goal_folder
from vjepa2_ros.planning.subgoals import SubgoalPolicy, SubgoalSequence


@dataclass
class GoalServerConfig:
    goal_dir: str = ""
    policy: SubgoalPolicy = field(default_factory=SubgoalPolicy)
    interactive_marker: bool = True
    marker_frame: str = "base"
    marker_position: list[float] = field(default_factory=lambda: [0.0, -0.4, 0.6])

    def __post_init__(self) -> None:
        require(len(self.marker_position) == 3, "marker_position must be [x, y, z]")


class GoalServerNode(Node):
    def __init__(self, *, parameter_overrides: dict | None = None, **kwargs) -> None:
        super().__init__("goal_server", **kwargs)
        self.config = declare_config(self, GoalServerConfig, parameter_overrides)
        self.sequence: SubgoalSequence = SubgoalSequence(policy=self.config.policy)
        self._lock = threading.Lock()
        self._latest_frame = None  # newest camera frame (RGB) for capture
        self._active_stamp_ns = -1  # stamp of the published active goal: identifies it

        self._goal_pub = self.create_publisher(Image, names.GOAL_IMAGE, LATCHED)
        self._index_pub = self.create_publisher(Int32, names.GOAL_INDEX, LATCHED)
        self._done_pub = self.create_publisher(Bool, names.GOAL_DONE, LATCHED)
        self.create_subscription(
            Image, names.CAMERA_IMAGE, self._on_camera, qos_profile_sensor_data
        )
        self.create_subscription(Image, names.GOAL_ADD, self._on_goal_image, 10)
        self.create_subscription(
            DiagnosticArray, names.PLANNER_DIAGNOSTICS, self._on_planner_diagnostics, 10
        )
        self.create_service(Trigger, names.GOAL_CAPTURE, self._srv_capture)
        self.create_service(Trigger, names.GOAL_NEXT, self._srv_next)
        self.create_service(Trigger, names.GOAL_PREVIOUS, self._srv_previous)
        self.create_service(Trigger, names.GOAL_CLEAR, self._srv_clear)
        self._enable_client = self.create_client(SetBool, names.PLANNER_ENABLE)

        if self.config.goal_dir:
            for name, rgb in load_goal_folder(self.config.goal_dir):
                self.sequence.add(rgb, f"folder:{name}")
            self.get_logger().info(
                f"loaded {len(self.sequence.goals)} sub-goal(s) from {self.config.goal_dir}"
            )
        self._marker = self._make_marker_menu() if self.config.interactive_marker else None
        self._publish_active()

    # ----------------------------------------------------------------- inputs
    def _on_camera(self, msg: Image) -> None:
        self._latest_frame = msg

    def _on_goal_image(self, msg: Image) -> None:
        try:
            rgb = rgb_from_image(msg)
        except ImageEncodingError as exc:
            self.get_logger().error(f"goal image on {names.GOAL_ADD} ignored: {exc}")
            return
        self._add(rgb, "topic")

    def _on_planner_diagnostics(self, msg: DiagnosticArray) -> None:
        values = diagnostic_values(msg, names.PLANNER_STATUS_NAME)
        if not values or values.get("skipped") or "energy" not in values:
            return
        if int(values.get("goal_stamp_ns", "-2")) != self._active_stamp_ns:
            return  # planned against an earlier goal: does not count for this one
        with self._lock:
            active = self.sequence.active
            if active is None:
                return
            outcome = self.sequence.record_energy(active.goal_id, float(values["energy"]))
        if outcome:
            self.get_logger().info(
                f"sub-goal {self.sequence.outcomes[-1].index} "
                f"{'reached' if outcome == 'reached' else 'given up (cycle budget)'} after "
                f"{self.sequence.outcomes[-1].cycles} cycles"
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
            rgb = rgb_from_image(frame)
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
            moved = self.sequence.next()
        self._publish_active()
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
            self._goal_pub.publish(image_from_array(goal.image, "rgb8", "camera", stamp))
        else:
            self._active_stamp_ns = -1
        self._index_pub.publish(Int32(data=index))
        self._done_pub.publish(Bool(data=finished))
        if finished:
            reached = sum(o.reached for o in self.sequence.outcomes)
            self.get_logger().info(
                f"all {len(self.sequence.outcomes)} sub-goal(s) done: {reached} reached"
            )

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
            "Stop": lambda: self._set_planner(False),
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


def main(args=None) -> None:
    spin_node(GoalServerNode, "goals.yaml", "goal_server", args)
