"""What a run records: the evaluation topics and their message types, and the recorder's config.

Topic names come from vjepa2_ros.interfaces; this module adds their message types.

One list for `ros2 bag record` (launch, record:=true), the in-process recorder node and the
evaluator, so a recorded bag always has what `vjepa2-eval` reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vjepa2_ros import interfaces as names
from vjepa2_ros.config import require

IMAGE = "sensor_msgs/msg/Image"
JOINT_STATE = "sensor_msgs/msg/JointState"
DIAGNOSTICS = "diagnostic_msgs/msg/DiagnosticArray"

# Recorded by default (record:=true), in this order.
EVAL_TOPICS: dict[str, str] = {
    names.CAMERA_IMAGE: IMAGE,
    names.GOAL_IMAGE: IMAGE,
    names.GOAL_INDEX: "std_msgs/msg/Int32",
    names.GOAL_GRIPPER: "sensor_msgs/msg/TimeReference",  # each sub-goal's gripper schedule
    names.ACTION: JOINT_STATE,
    names.EE_STATE: JOINT_STATE,  # the pose too (/franka/ee_pose repeats it at 100 Hz: not recorded)
    names.PLANNER_DIAGNOSTICS: DIAGNOSTICS,
    names.DIAGNOSTICS: DIAGNOSTICS,
    names.SIM_GROUND_TRUTH: JOINT_STATE,
    names.SIM_GOAL_TRUTH: JOINT_STATE,
    names.GOAL_PROGRESS: JOINT_STATE,
    names.PLANNER_CYCLE: JOINT_STATE,
    names.ARM_STATE: "std_msgs/msg/String",
    names.MOTION: "sensor_msgs/msg/TimeReference",
}
# Large (tokens x channels float32 per frame): only with include_latents.
OPTIONAL_TOPICS: dict[str, str] = {names.LATENT: IMAGE}
KNOWN_TOPICS: dict[str, str] = {**EVAL_TOPICS, **OPTIONAL_TOPICS}


def record_topics(include_latents: bool = False) -> dict[str, str]:
    """topic -> message type of what a run records."""
    topics = dict(EVAL_TOPICS)
    if include_latents:
        topics.update(OPTIONAL_TOPICS)
    return topics


@dataclass
class RecorderConfig:
    """The recorder node (config/recorder.yaml): where the bag goes and what it holds."""

    output_dir: str = "runs"  # bags are created below this folder
    bag_name: str = ""  # empty: vjepa2_<YYYYmmdd_HHMMSS>
    topics: list[str] = field(default_factory=list)  # empty: the evaluation topics
    include_latents: bool = False  # also record /vjepa2/latent (large)
    flush_period_s: float = 1.0  # at most this much is lost if the recorder is killed
    discovery_period_s: float = 0.2  # how often to look for publishers of unsubscribed topics
    queue_depth: int = 100  # subscription history depth

    def __post_init__(self) -> None:
        self.topics = [t for t in self.topics if t]  # ROS has no empty string list: [""] = []
        require(bool(self.output_dir), "recorder.output_dir must name a folder for the bags")
        require("/" not in self.bag_name, "recorder.bag_name is a folder name, not a path")
        require(
            all(t.startswith("/") for t in self.topics),
            f"recorder.topics must be absolute topic names (start with /), got {self.topics}",
        )
        require(self.flush_period_s > 0, "recorder.flush_period_s must be > 0 seconds")
        require(self.discovery_period_s > 0, "recorder.discovery_period_s must be > 0 seconds")
        require(self.queue_depth >= 1, "recorder.queue_depth must be >= 1")

    def selected_topics(self) -> dict[str, str | None]:
        """topic -> type for known topics, None (type taken from the ROS graph) for others."""
        if not self.topics:
            return dict(record_topics(self.include_latents))
        selected: dict[str, str | None] = {t: KNOWN_TOPICS.get(t) for t in self.topics}
        if self.include_latents:
            selected.update(OPTIONAL_TOPICS)
        return selected
