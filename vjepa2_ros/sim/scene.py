"""The MJCF of the cell: franky-sim's FR3 on a table, a cup, a box and an exterior camera.

The robot base frame is the MuJoCo world frame: the arm stands on the table top at z = 0, the
floor is lowered below the table. Object poses come from a seed (`object_poses`).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np

from vjepa2_ros.sim.config import CameraConfig, ObjectsConfig

ROBOT_PREFIX = "robot0_"
EE_SITE = "ee_site"
CAMERA = "exterior"
OBJECTS = ("cup", "box")
# franky-sim's TCP: flange * (0, 0, 0.1034, rpy 0 0 -pi/4) = hand body frame + 0.1034 m along z.
TCP_OFFSET_M = 0.1034
# Shadow map and anti-aliasing: 512 px and 2x keep a 256 px CPU (EGL) render cheap enough for
# 4 Hz beside real-time physics on 2 cores (1024 px took ~250-270 ms). Only franky-sim's key
# light casts shadows: every shadow-casting light adds a depth pass and a lighting pass over the
# arm's ~240k triangles (two casters: ~235 ms per frame, one: ~140 ms, same look at 256 px).
SHADOW_MAP_SIZE, MSAA_SAMPLES = 512, 2
TABLE_TOP_Z = 0.0
TABLE_HEIGHT = 0.75
# Object geometry (metres, kilograms): small enough for the 8 cm Franka hand, heavy enough to
# sit still, high friction like rubbery real objects so a 70 N grasp holds them.
CUP_RADIUS, CUP_HALF_HEIGHT, CUP_MASS = 0.03, 0.045, 0.12
BOX_HALF, BOX_MASS = 0.025, 0.1
OBJECT_FRICTION = "1.2 0.02 0.002"
OBJECT_HALF_HEIGHT = {"cup": CUP_HALF_HEIGHT, "box": BOX_HALF}
# A grasp that holds while the planner thinks. MuJoCo's default pyramidal friction cone is soft:
# a cup held in franky-sim's 20 N grasp crept down the fingers 5 mm in 6 s (the planner waits
# 2-3 s per plan, and a lifted cup was lost mid-carry in 6 of 20 evaluation episodes). An
# elliptic cone with impratio 3 creeps 0.9 mm in 6 s. impratio 10 held better (0.2 mm) but a
# cup set down on the table jammed the fingers: side contacts on the pads held them against the
# hand's weak opening force (~11 N near the cup) and the hand stayed at closedness 0.3.
# Measured with the rig's scripted pick-and-place and hold (test_sim_eval.py).
FRICTION_CONE, IMPRATIO = "elliptic", 3


def _fmt(values) -> str:
    return " ".join(f"{float(v):.6g}" for v in values)


def camera_xyaxes(position, lookat) -> tuple[np.ndarray, np.ndarray]:
    """MuJoCo camera x and y axes for a camera at `position` looking at `lookat`, z up."""
    forward = np.asarray(lookat, float) - np.asarray(position, float)
    forward /= np.linalg.norm(forward)
    up = np.array([0.0, 0.0, 1.0])
    x = np.cross(forward, up)
    if np.linalg.norm(x) < 1e-6:  # looking straight down: pick the base x axis as image up
        x = np.cross(forward, np.array([1.0, 0.0, 0.0]))
    x /= np.linalg.norm(x)
    y = np.cross(x, forward)
    return x, y


def intrinsics(camera: CameraConfig) -> list[float]:
    """K of MuJoCo's pinhole camera (3x3 row-major): square pixels, principal point at the
    image centre."""
    f = 0.5 * camera.height / math.tan(math.radians(camera.fovy_deg) / 2)
    return [f, 0.0, camera.width / 2, 0.0, f, camera.height / 2, 0.0, 0.0, 1.0]


def project(camera: CameraConfig, points) -> np.ndarray:
    """Pixel coordinates (u right, v down) of base-frame points [N, 3] in `camera`'s image."""
    x, y = camera_xyaxes(camera.position, camera.lookat)
    z = np.cross(x, y)  # MuJoCo cameras look along -z
    rel = np.atleast_2d(np.asarray(points, float)) - np.asarray(camera.position)
    xc, yc, zc = rel @ x, rel @ y, rel @ z
    k = intrinsics(camera)
    return np.stack([k[2] + k[0] * xc / -zc, k[5] - k[4] * yc / -zc], axis=-1)


def build_scene(sim, camera: CameraConfig) -> None:
    """Add table, lights, objects, the end-effector site and the camera to a MujocoSimulator."""
    root = sim.scene
    world = sim.worldbody
    option = root.find("option")
    if option is None:
        option = ET.SubElement(root, "option")
    option.set("cone", FRICTION_CONE)
    option.set("impratio", str(IMPRATIO))
    for geom in world.findall("geom"):
        if geom.get("name") == "ground":
            geom.set("pos", f"0 0 {-TABLE_HEIGHT}")
    asset = root.find("asset")
    for tex in asset.findall("texture"):
        if tex.get("name") == "ground_checker":  # a calm lab floor instead of a blue checker
            tex.set("rgb1", "0.32 0.32 0.34")
            tex.set("rgb2", "0.38 0.38 0.4")
    visual = root.find("visual")
    # CPU (llvmpipe) rendering cost is dominated by shadow map size and MSAA: franky-sim's
    # 4096 / 8x took ~4x longer per frame than 1024 / 2x, which looks the same at 256 px.
    quality = visual.find("quality")
    quality.set("shadowsize", str(SHADOW_MAP_SIZE))
    quality.set("offsamples", str(MSAA_SAMPLES))
    ET.SubElement(visual, "global", offwidth="1024", offheight="1024")
    ET.SubElement(
        asset, "texture", name="table_wood", type="2d", builtin="flat", rgb1="0.62 0.5 0.36",
        rgb2="0.5 0.4 0.28", mark="random", random="0.25", markrgb="0.55 0.44 0.3",
        width="256", height="256",
    )  # fmt: skip
    ET.SubElement(asset, "material", name="table_wood", texture="table_wood", texrepeat="4 4")
    ET.SubElement(asset, "material", name="cup_red", rgba="0.85 0.12 0.1 1", specular="0.3")
    ET.SubElement(asset, "material", name="cup_inner", rgba="0.35 0.04 0.03 1")
    ET.SubElement(asset, "material", name="box_blue", rgba="0.1 0.35 0.85 1", specular="0.2")
    ET.SubElement(asset, "material", name="box_tape", rgba="0.95 0.85 0.2 1")

    # Table: top surface at z = 0 under the arm, legs to the lowered floor.
    table = ET.SubElement(world, "body", name="table", pos="0.3 0 0")
    ET.SubElement(
        table, "geom", name="table_top", type="box", size="0.5 0.55 0.02", pos="0 0 -0.02",
        material="table_wood", friction="1 0.005 0.0001",
    )  # fmt: skip
    for i, (sx, sy) in enumerate(((1, 1), (1, -1), (-1, 1), (-1, -1))):
        ET.SubElement(
            table, "geom", name=f"table_leg{i}", type="box", size="0.03 0.03 0.365",
            pos=_fmt((0.45 * sx, 0.5 * sy, -0.405)), rgba="0.3 0.3 0.3 1",
        )  # fmt: skip
    # Soft fill lights so the arm and the objects are lit from the camera side and from above;
    # neither casts shadows (the key light's shadow is enough, and each caster costs a pass).
    ET.SubElement(
        world, "light", name="camera_fill", pos=_fmt(camera.position), dir=_fmt(
            np.asarray(camera.lookat) - np.asarray(camera.position)
        ), directional="true", diffuse="0.35 0.35 0.35", specular="0 0 0", castshadow="false",
    )  # fmt: skip
    ET.SubElement(
        world, "light", name="overhead", pos="0.4 0 1.6", dir="0 0 -1", diffuse="0.35 0.35 0.33",
        specular="0.1 0.1 0.1", castshadow="false", cutoff="60", exponent="2",
    )  # fmt: skip

    cup = ET.SubElement(world, "body", name="cup", pos=f"0.5 0.1 {CUP_HALF_HEIGHT}")
    ET.SubElement(cup, "freejoint", name="cup_joint")
    ET.SubElement(
        cup, "geom", name="cup_geom", type="cylinder", size=f"{CUP_RADIUS} {CUP_HALF_HEIGHT}",
        mass=str(CUP_MASS), material="cup_red", friction=OBJECT_FRICTION, condim="4",
        solref="0.005 1",
    )  # fmt: skip
    # Visual only: the dark opening and a handle make it read as a cup in the image.
    ET.SubElement(
        cup, "geom", name="cup_opening", type="cylinder",
        size=f"{CUP_RADIUS * 0.8} 0.0015", pos=f"0 0 {CUP_HALF_HEIGHT}", material="cup_inner",
        contype="0", conaffinity="0", mass="0",
    )  # fmt: skip
    ET.SubElement(
        cup, "geom", name="cup_handle", type="capsule", fromto=_fmt(
            (CUP_RADIUS + 0.008, 0, -0.018, CUP_RADIUS + 0.008, 0, 0.018)
        ), size="0.006", material="cup_red", contype="0", conaffinity="0", mass="0",
    )  # fmt: skip

    box = ET.SubElement(world, "body", name="box", pos=f"0.5 -0.1 {BOX_HALF}")
    ET.SubElement(box, "freejoint", name="box_joint")
    ET.SubElement(
        box, "geom", name="box_geom", type="box", size=_fmt([BOX_HALF] * 3),
        mass=str(BOX_MASS), material="box_blue", friction=OBJECT_FRICTION, condim="4",
        solref="0.005 1",
    )  # fmt: skip
    ET.SubElement(
        box, "geom", name="box_tape", type="box", size=f"{BOX_HALF + 0.0005} 0.006 {BOX_HALF + 0.0005}",
        material="box_tape", contype="0", conaffinity="0", mass="0",
    )  # fmt: skip

    # The end-effector site on the hand, at franky's TCP (same pose as franky's O_T_EE).
    for body in world.iter("body"):
        if body.get("name") == f"{ROBOT_PREFIX}hand":
            ET.SubElement(body, "site", name=EE_SITE, pos=f"0 0 {TCP_OFFSET_M}", size="0.005")
            break
    else:  # pragma: no cover - a franky-sim release with another model layout
        raise RuntimeError("franky-sim FR3 model has no hand body; cannot place the TCP site")

    x, y = camera_xyaxes(camera.position, camera.lookat)
    ET.SubElement(
        world, "camera", name=CAMERA, pos=_fmt(camera.position), xyaxes=_fmt([*x, *y]),
        fovy=f"{camera.fovy_deg:.6g}",
    )  # fmt: skip


def build_cell(camera: CameraConfig, home_q, hand_width: float):
    """franky-sim's simulator with the FR3 at `home_q` and this cell's scene: (sim, MJCF text).

    One source for the live cell (vjepa2_ros/sim/cell.py), its render process and the offline
    kinematics (vjepa2_ros/sim/kinematics.py): all three see the same model.
    """
    from franky_sim.mujoco_simulator import MujocoSimulator

    sim = MujocoSimulator()
    sim.init()
    sim.add_robot(initial_q=tuple(home_q), initial_hand_width=hand_width)
    measure_the_pose(sim.robots[0])
    build_scene(sim, camera)
    return sim, ET.tostring(sim.scene, encoding="unicode")


def measure_the_pose(robot) -> None:
    """Make franky-sim report the measured end-effector pose (O_T_EE), as a real Franka does.

    franky-sim 1.0.4's `kinematics(q)` returns pinocchio's frame placement by reference; the
    O_T_EE it stores for a state is then overwritten by the next call (the desired pose,
    kinematics(q_d)). So O_T_EE was the commanded pose: it froze at a motion's target while the
    joints still travelled ~7 mm for ~0.5 s, the bridge declared the arm settled on that frozen
    pose, and the camera saw the hand short of where the state said. A copy per call restores
    O_T_EE = kinematics(q) (test_sim_cell.py checks it against MuJoCo's own pose).
    """
    compute = robot.kinematics

    def measured(q):
        return compute(q).copy()

    robot.kinematics = measured


def object_poses(seed: int, objects: ObjectsConfig) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Deterministic cup and box poses on the table from `seed`: {name: (pos[3], quat_wxyz)}.

    Rejection sampling keeps the two objects `min_separation` apart.
    """
    rng = np.random.default_rng(seed)
    for _ in range(1000):
        xy = rng.uniform(
            [objects.x_range[0], objects.y_range[0]],
            [objects.x_range[1], objects.y_range[1]],
            size=(2, 2),
        )
        if np.linalg.norm(xy[0] - xy[1]) >= objects.min_separation:
            break
    else:  # the config check makes this unreachable for sane ranges
        raise RuntimeError("could not place the cup and the box apart; widen objects ranges")
    yaws = rng.uniform(objects.yaw_range[0], objects.yaw_range[1], size=2)
    poses = {}
    for i, name in enumerate(OBJECTS):
        pos = np.array([xy[i, 0], xy[i, 1], TABLE_TOP_Z + OBJECT_HALF_HEIGHT[name]])
        quat = np.array([math.cos(yaws[i] / 2), 0.0, 0.0, math.sin(yaws[i] / 2)])
        poses[name] = (pos, quat)
    return poses
