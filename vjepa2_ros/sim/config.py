"""Typed configuration of the simulated Franka cell (config/sim.yaml, section `sim_camera`)."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field

from vjepa2_ros.config import ConfigError, load_section, require

MAX_FPS = 15.0


@dataclass
class CameraConfig:
    """The exterior camera: a pinhole looking from `position` at `lookat` (metres, base frame).

    The default sits in front of and to the right of the arm, above the table, like DROID's
    exterior cameras, so motion along all three axes is visible in the image. It looks down only
    26 degrees, so a horizontal move towards it shifts the image 1.3 px/cm against 2.0 for a
    vertical one (bench/camera_view.py). A view 47 degrees down (1.06, -0.56, 1.08 -> 0.47, 0,
    0.2, fovy 40) with a model retrained on it was tried on 2026-12-06 and not adopted: README
    "Evaluating in the sim".
    """

    width: int = 256
    height: int = 256
    fps: float = 4.0
    fovy_deg: float = 42.0
    position: tuple[float, float, float] = (1.3, -0.85, 0.9)
    lookat: tuple[float, float, float] = (0.4, 0.0, 0.3)
    frame_id: str = "sim_camera"

    def __post_init__(self) -> None:
        require(
            16 <= self.width <= 2048 and 16 <= self.height <= 2048,
            f"camera size {self.width}x{self.height}: width and height must lie in 16..2048",
        )
        require(
            0.0 < self.fps <= MAX_FPS,
            f"camera.fps {self.fps}: must be in (0, {MAX_FPS}] frames per second",
        )
        require(
            1.0 <= self.fovy_deg <= 150.0,
            f"camera.fovy_deg {self.fovy_deg}: vertical field of view must be in 1..150 degrees",
        )
        gap = math.dist(self.position, self.lookat)
        require(gap > 1e-3, "camera.position and camera.lookat must differ")
        require(bool(self.frame_id), "camera.frame_id must not be empty")


@dataclass
class ObjectsConfig:
    """Where the cup and the box may appear on the table (base frame, metres), from the seed."""

    x_range: tuple[float, float] = (0.4, 0.6)
    y_range: tuple[float, float] = (-0.22, 0.22)
    yaw_range: tuple[float, float] = (-math.pi, math.pi)
    min_separation: float = 0.14  # centre-to-centre, so the gripper fits between them

    def __post_init__(self) -> None:
        for name in ("x_range", "y_range", "yaw_range"):
            lo, hi = getattr(self, name)
            require(
                lo <= hi, f"objects.{name} {[lo, hi]}: the first value must not exceed the second"
            )
        require(self.min_separation >= 0.0, "objects.min_separation must be >= 0")
        require(
            math.hypot(self.x_range[1] - self.x_range[0], self.y_range[1] - self.y_range[0])
            >= self.min_separation,
            "objects: x_range/y_range are too small to place the cup and the box "
            f"{self.min_separation} m apart; widen the ranges or lower min_separation",
        )
        require(
            0.2 <= self.x_range[0]
            and self.x_range[1] <= 0.8
            and -0.45 <= self.y_range[0]
            and self.y_range[1] <= 0.45,
            "objects: x_range must lie in 0.2..0.8 m and y_range in -0.45..0.45 m (the table "
            "in reach of the arm)",
        )


@dataclass
class SimConfig:
    """The simulated cell: server address, seed, camera, objects and real-time pacing."""

    host: str = "127.0.0.2"  # loopback address franky-sim binds (ports 1337/1338)
    seed: int = 0
    realtime_factor: float = 1.0  # 1.0: physics paced to wall-clock time
    camera: CameraConfig = field(default_factory=CameraConfig)
    objects: ObjectsConfig = field(default_factory=ObjectsConfig)
    render_timeout_s: float = 10.0  # a render worker that does not answer in time is an error

    def __post_init__(self) -> None:
        try:
            addr = ipaddress.ip_address(self.host)
        except ValueError as exc:
            raise ConfigError(
                f"host {self.host!r} is not an IP address; use a loopback address like 127.0.0.2"
            ) from exc
        require(
            addr.is_loopback and self.host != "127.0.0.1",
            f"host {self.host!r}: the simulator binds a loopback address other than 127.0.0.1 "
            "(e.g. 127.0.0.2) so it never clashes with a real robot or local services",
        )
        require(self.seed >= 0, f"seed {self.seed}: must be >= 0")
        require(
            0.05 <= self.realtime_factor <= 4.0,
            f"realtime_factor {self.realtime_factor}: must be in 0.05..4",
        )
        require(self.render_timeout_s > 0, "render_timeout_s must be > 0")

    @property
    def home_joints(self) -> tuple[float, ...]:
        """The arm's start (and /franka/home) joints: the sim cell's franka_bridge home."""
        return cell_robot_config().safety.home_joints

    @classmethod
    def load(cls, path: str = "sim.yaml") -> SimConfig:
        """Defaults from config/sim.yaml (ROS parameter format)."""
        return load_section_ros(cls, path, "sim_camera")


# franka_bridge's parameter files for the simulated cell: the robot defaults, then the cell's.
CELL_FILES = ("robot.yaml", "cell_sim.yaml")


def cell_robot_config(**overrides):
    """The RobotConfig of the simulated cell (what franka_bridge runs with use_sim:=true)."""
    import dataclasses

    from vjepa2_ros.config import load_node_config
    from vjepa2_ros.robot.config import RobotConfig

    cfg = load_node_config(RobotConfig, list(CELL_FILES), "franka_bridge")
    return dataclasses.replace(cfg, **overrides) if overrides else cfg


def load_section_ros(cls, path: str, node: str):
    """`<node>: ros__parameters: {...}` of a YAML file into dataclass `cls`."""
    from vjepa2_ros.config import from_mapping, load_yaml

    data = load_yaml(path)
    section = (data.get(node) or {}).get("ros__parameters")
    if section is None:
        # fall back to a plain section for hand-written files
        return load_section(cls, path, node)
    return from_mapping(cls, section, f"{path}:{node}.ros__parameters")
