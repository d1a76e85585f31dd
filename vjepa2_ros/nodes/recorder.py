"""recorder: write the evaluation topics to a rosbag2 (MCAP) bag without rosbag2.

Like `ros2 bag record`, each topic is subscribed once a publisher appears, with QoS matched to
the publishers (reliable / transient-local only when they all offer it, so latched goal topics
arrive and best-effort cameras still connect). Messages are stored as received (raw CDR, no
re-serialisation) stamped with the receive time. The bag is flushed every flush_period_s and
closed on shutdown (SIGINT/SIGTERM) or interpreter exit.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from vjepa2_ros.data.bag import BagWriter
from vjepa2_ros.data.topics import RecorderConfig
from vjepa2_ros.nodes.entrypoint import spin_node
from vjepa2_ros.nodes.params import declare_config

NODE_NAME = "recorder"
CONFIG_FILE = "recorder.yaml"


def message_class(msgtype: str):
    """'sensor_msgs/msg/Image' -> the rclpy message class."""
    package, kind, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{package}.{kind}"), name)


def matched_qos(publisher_qos: list, depth: int) -> QoSProfile:
    """A subscription QoS compatible with every publisher, as strict as they all allow."""
    reliable = all(q.reliability == ReliabilityPolicy.RELIABLE for q in publisher_qos)
    latched = all(q.durability == DurabilityPolicy.TRANSIENT_LOCAL for q in publisher_qos)
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
    )


class RecorderNode(Node):
    """Subscribes to the configured topics as publishers appear and writes them to one bag."""

    config_class = RecorderConfig  # its parameters (entrypoint checks parameter files)

    def __init__(self, **kwargs) -> None:
        overrides = kwargs.pop("parameter_overrides", None) or {}
        super().__init__(NODE_NAME, **kwargs)
        self.config: RecorderConfig = declare_config(self, RecorderConfig, overrides)
        cfg = self.config
        name = cfg.bag_name or time.strftime("vjepa2_%Y%m%d_%H%M%S")
        self.bag_path = Path(cfg.output_dir) / name
        self.bag_path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = BagWriter(self.bag_path, flush_period_s=cfg.flush_period_s)
        self._pending: dict[str, str | None] = cfg.selected_topics()
        self._recording: dict[str, object] = {}
        self._discover()
        self.create_timer(cfg.discovery_period_s, self._discover)
        self.create_timer(cfg.flush_period_s, self.writer.flush)
        self.get_logger().info(f"recording {len(self._pending)} topic(s) to {self.bag_path}")
        self._started = True

    @property
    def counts(self) -> dict[str, int]:
        """Messages written per topic so far."""
        return dict(self.writer.counts)

    @property
    def subscribed(self) -> list[str]:
        return sorted(self._recording)

    def _discover(self) -> None:
        for topic, msgtype in list(self._pending.items()):
            infos = self.get_publishers_info_by_topic(topic)
            if not infos:
                continue
            msgtype = msgtype or infos[0].topic_type
            offered = [i.topic_type for i in infos]
            if any(t != msgtype for t in offered):
                self.get_logger().error(
                    f"{topic}: publishers offer {sorted(set(offered))}, expected {msgtype}; "
                    "not recording it",
                    once=True,
                )
                continue
            qos = matched_qos([i.qos_profile for i in infos], self.config.queue_depth)
            latched = qos.durability == DurabilityPolicy.TRANSIENT_LOCAL
            self.writer.add_topic(topic, msgtype, latched=latched)
            self._recording[topic] = self.create_subscription(
                message_class(msgtype),
                topic,
                lambda data, topic=topic: self._on_message(topic, data),
                qos,
                raw=True,
            )
            del self._pending[topic]
            self.get_logger().info(f"recording {topic} ({msgtype})")

    def _on_message(self, topic: str, data: bytes) -> None:
        self.writer.write(topic, self.get_clock().now().nanoseconds, data)

    def close(self) -> None:
        """Finish the bag (metadata.yaml, MCAP summary); safe to call twice."""
        self.writer.close()

    def destroy_node(self) -> None:
        if not getattr(self, "_started", False):  # construction failed half-way
            return super().destroy_node()
        self.close()
        super().destroy_node()


def main(args=None) -> None:
    spin_node(RecorderNode, CONFIG_FILE, NODE_NAME, args)


if __name__ == "__main__":
    main()
