"""SimCell: franky-sim's FR3 on a table with a cup and a box, a libfranka-protocol server on
`host`, physics paced to real time in a thread, and the exterior camera rendered in a worker
process.

    with SimCell(SimConfig(host="127.0.0.7", seed=3)) as cell:
        with thread_scheduling_kept():  # libfranka would leave this thread SCHED_FIFO
            robot = franky.Robot(cell.host, realtime_config=franky.RealtimeConfig.Ignore)
        image = cell.render()          # uint8 [H, W, 3]
        truth = cell.ground_truth()    # {"ee": (pos, quat_wxyz), "cup": ..., "box": ..., ...}
"""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Mapping, Sequence

import numpy as np

from vjepa2_ros.sim import scene
from vjepa2_ros.sim.config import SimConfig
from vjepa2_ros.sim.kinematics import (
    HAND_MAX_WIDTH,
    ArmKinematics,
    pose_to_state,
    width_from_closedness,
)
from vjepa2_ros.sim.render import RenderWorker

PHYSICS_DT = 0.001  # franky-sim steps MuJoCo at 1 kHz (the libfranka control rate)
RTF_WINDOW_S = 2.0
HOME_HAND_WIDTH = HAND_MAX_WIDTH  # home with the gripper open
# A scene whose qpos moved less than this (rad, m; quaternion components) since the last frame
# looks the same: 1e-4 m is ~0.03 px at the exterior camera's 1.4 m, 256 px.
STILL_QPOS = 1e-4


HELD_XY_M = 0.03  # an object between the fingers: its centre this close to the hand in xy
HELD_Z_M = 0.05  # ... and in height


def holds(obj_pos, ee_pos, finger_width: float) -> bool:
    """Whether the fingers close on the cup-sized object at `obj_pos` (ground truth): it sits
    between them and they stop at its width, not shut on air."""
    obj, ee = np.asarray(obj_pos, dtype=np.float64), np.asarray(ee_pos, dtype=np.float64)
    between = np.linalg.norm(obj[:2] - ee[:2]) < HELD_XY_M and abs(obj[2] - ee[2]) < HELD_Z_M
    return bool(between and 0.5 * scene.CUP_RADIUS < finger_width < 2 * scene.CUP_RADIUS + 0.005)


def in_hand(truth: Mapping, name: str = "cup") -> bool:
    """`holds` on a `SimCell.ground_truth()` dict."""
    return holds(truth[name][0], truth["ee"][0], truth["ee.gripper"])


class SimCell:
    """The simulated Franka cell. `start()` / `stop()` (idempotent) or use as a context manager."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self._lock = threading.RLock()  # guards MjData between the physics thread and readers
        self._server = None
        self._sim = None
        self._robot = None
        self._renderer: RenderWorker | None = None
        self._thread: threading.Thread | None = None
        self._running = threading.Event()
        self._steps = 0
        self._rtf_samples: collections.deque = collections.deque(maxlen=64)
        self._error: BaseException | None = None
        self._last_frame: tuple[np.ndarray, np.ndarray] | None = None  # (qpos, image)
        self.seed = self.config.seed

    # ---------------------------------------------------------------- lifecycle
    @property
    def host(self) -> str:
        """The address to pass to franky.Robot / franky.Gripper."""
        return self.config.host

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> SimCell:
        """Build the scene, bind the libfranka server on `host`, start physics and the renderer."""
        if self._thread is not None:
            return self
        import mujoco
        from franky_sim import SimulationServer

        self.home_q = tuple(self.config.home_joints)
        sim, xml = scene.build_cell(self.config.camera, self.home_q, HOME_HAND_WIDTH)
        robot = sim.robots[0]
        server = SimulationServer(sim, hostname_candidates=[self.config.host])
        try:
            server.init()
        except OSError as exc:
            sim.cleanup()
            raise OSError(
                f"cannot bind the simulated robot on {self.config.host} (ports 1337/1338): {exc}. "
                "Another simulator may be running there; choose another loopback address with "
                "the `host` parameter (e.g. 127.0.0.3)."
            ) from exc
        self._sim, self._server, self._robot = sim, server, robot
        try:
            model = sim.model
            self._ids = {
                name: mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, name)
                for name in scene.OBJECTS
            }
            self._site = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, scene.EE_SITE)
            self._arm_joints = [
                mujoco.mj_name2id(
                    model, mujoco.mjtObj.mjOBJ_JOINT, f"{scene.ROBOT_PREFIX}fr3_joint{i}"
                )
                for i in range(1, 8)
            ]
            self._fingers = [
                int(model.jnt_qposadr[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, n)])
                for n in (
                    f"{scene.ROBOT_PREFIX}finger_joint1",
                    f"{scene.ROBOT_PREFIX}finger_joint2",
                )
            ]
            self._free = {
                name: int(
                    model.jnt_qposadr[
                        mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, f"{name}_joint")
                    ]
                )
                for name in scene.OBJECTS
            }
            self._place_objects(self.seed)
            self.kinematics = ArmKinematics(model, self.home_q)
            cam = self.config.camera
            self._renderer = RenderWorker(
                xml, cam.width, cam.height, scene.CAMERA, self.config.render_timeout_s
            )
            self._running.set()
            self._thread = threading.Thread(
                target=self._physics_loop, name="vjepa2-sim-physics", daemon=True
            )
            self._thread.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop physics, close the server sockets and the render process; safe to call twice."""
        self._running.clear()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=10)
        renderer, self._renderer = self._renderer, None
        if renderer is not None:
            renderer.close()
        server, self._server = self._server, None
        if server is not None:
            for rs in server.robot_servers:
                rs.reset_state()  # close client TCP/UDP sockets
                gs = rs.gripper_server
                if gs is not None:
                    gs.reset_state()
            server.cleanup()
        sim, self._sim = self._sim, None
        if sim is not None and not sim.is_cleaned_up:
            sim.cleanup()
        self._robot = None

    def __enter__(self) -> SimCell:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _require_started(self):
        if self._sim is None:
            raise RuntimeError(
                "the sim cell is not started: call start() (or use `with SimCell()`)"
            )
        if self._error is not None:
            raise RuntimeError(f"the physics thread failed: {self._error!r}") from self._error

    # ---------------------------------------------------------------- physics
    def _physics_loop(self) -> None:
        """Step at 1 kHz against an absolute schedule (sleep overshoot does not accumulate)."""
        period = PHYSICS_DT / self.config.realtime_factor
        server = self._server
        next_t = time.perf_counter()
        self._rtf_samples.append((next_t, self._steps))
        try:
            while self._running.is_set():
                with self._lock:
                    server.run_once(realtime=False)
                self._steps += 1
                if self._steps % 100 == 0:
                    self._rtf_samples.append((time.perf_counter(), self._steps))
                next_t += period
                delay = next_t - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                elif delay < -0.1:  # far behind (machine busy): drop the debt, do not burst
                    next_t = time.perf_counter()
        except BaseException as exc:  # surfaced by the next call from the user
            self._error = exc

    @property
    def sim_time(self) -> float:
        """Simulated seconds since start."""
        return self._steps * PHYSICS_DT

    @property
    def realtime_factor(self) -> float:
        """Simulated time / wall time over the last ~2 s (nan before 0.2 s of samples)."""
        samples = list(self._rtf_samples)
        if len(samples) < 2:
            return math.nan
        t_end, s_end = samples[-1]
        t0, s0 = next(s for s in samples if t_end - s[0] <= RTF_WINDOW_S)
        if t_end - t0 < 0.05:
            return math.nan
        return (s_end - s0) * PHYSICS_DT / (t_end - t0)

    def wait_sim_time(self, seconds: float, timeout: float | None = None) -> None:
        """Block until `seconds` of simulated time have passed (e.g. to let objects settle)."""
        target = self._steps + round(seconds / PHYSICS_DT)
        deadline = time.monotonic() + (timeout if timeout is not None else 10 * seconds + 5)
        while self._steps < target:
            self._require_started()
            if time.monotonic() > deadline:
                raise TimeoutError(f"simulation did not advance {seconds} s in time")
            time.sleep(0.005)

    # ---------------------------------------------------------------- scene state
    def _place_objects(self, seed: int) -> None:
        import mujoco

        data = self._sim.data
        for name, (pos, quat) in scene.object_poses(seed, self.config.objects).items():
            adr = self._free[name]
            data.qpos[adr : adr + 3] = pos
            data.qpos[adr + 3 : adr + 7] = quat
            dof = self._sim.model.jnt_dofadr[
                mujoco.mj_name2id(self._sim.model, mujoco.mjtObj.mjOBJ_JOINT, f"{name}_joint")
            ]
            data.qvel[dof : dof + 6] = 0.0
        mujoco.mj_forward(self._sim.model, data)

    def reset(self, seed: int | None = None) -> int:
        """Re-randomise the objects from `seed` (default: the next seed). Returns the seed used.

        The arm is not touched: a teleported arm would look like a runaway to the robot's
        guards (send it home with /franka/home, a real joint motion, first).
        """
        self._require_started()
        self.seed = self.seed + 1 if seed is None else int(seed)
        with self._lock:
            self._place_objects(self.seed)
        return self.seed

    def qpos(self) -> np.ndarray:
        """A consistent copy of the full MuJoCo qpos."""
        self._require_started()
        with self._lock:
            return self._sim.data.qpos.copy()

    def ground_truth(self) -> dict:
        """Poses in the base frame: {"ee"|"cup"|"box": (pos[3], quat_wxyz[4]), "ee.gripper": m}."""
        import mujoco

        self._require_started()
        with self._lock:
            data = self._sim.data
            truth = {
                name: (data.xpos[bid].copy(), data.xquat[bid].copy())
                for name, bid in self._ids.items()
            }
            ee_pos = data.site_xpos[self._site].copy()
            ee_mat = data.site_xmat[self._site].copy()
            width = float(sum(data.qpos[a] for a in self._fingers))
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, ee_mat)
        truth["ee"] = (ee_pos, quat)
        truth["ee.gripper"] = width
        return truth

    def ee_state(self) -> np.ndarray:
        """The end effector in model conventions: [x y z roll pitch yaw gripper-closedness]."""
        truth = self.ground_truth()
        return pose_to_state(*truth["ee"], truth["ee.gripper"])

    # ---------------------------------------------------------------- camera
    def render(self) -> np.ndarray:
        """The exterior camera's current view, uint8 [H, W, 3] (RGB).

        A scene that has not moved since the last frame (every joint and object coordinate
        within STILL_QPOS of it: far below a pixel) gives the same picture: the last frame is
        returned without rendering again. On a CPU a render costs ~140 ms, and the arm rests
        while the planner plans: without this the camera alone took most of a core.
        """
        self._require_started()
        qpos = self.qpos()
        last = self._last_frame
        if last is not None and np.max(np.abs(qpos - last[0])) < STILL_QPOS:
            return last[1].copy()
        image = self._renderer.render(qpos)
        self._last_frame = (qpos, image)
        return image.copy()

    def camera_info(self) -> dict:
        """Pinhole intrinsics of the MuJoCo camera: K (3x3 row-major), width, height, frame_id."""
        cam = self.config.camera
        return {
            "K": scene.intrinsics(cam),
            "width": cam.width,
            "height": cam.height,
            "frame_id": cam.frame_id,
        }

    def project(self, points) -> np.ndarray:
        """Pixel coordinates (u right, v down) of base-frame points [N, 3] in the camera image."""
        return scene.project(self.config.camera, points)

    def goal_qpos(
        self,
        arm_pose: Sequence[float] | None = None,
        gripper: float | None = None,
        objects: Mapping[str, Sequence[float]] | None = None,
    ) -> np.ndarray:
        """The live qpos with the arm moved (IK) to `arm_pose`, the gripper and objects set.

        `arm_pose`: [x y z roll pitch yaw] (base frame, extrinsic xyz Euler); `gripper`:
        closedness in [0, 1]; `objects`: {"cup"|"box": [x y z] or [x y z qw qx qy qz]}.
        """
        import mujoco

        self._require_started()
        data = mujoco.MjData(self._sim.model)
        data.qpos[:] = self.qpos()
        if arm_pose is not None:
            self.kinematics.place_arm(data, arm_pose)
        if gripper is not None:
            if not 0.0 <= gripper <= 1.0:
                raise ValueError(f"gripper closedness must be in [0, 1], got {gripper}")
            for adr in self._fingers:
                data.qpos[adr] = width_from_closedness(gripper) / 2
        for name, pose in (objects or {}).items():
            if name not in self._free:
                raise ValueError(f"unknown object {name!r}; objects: {', '.join(self._free)}")
            pose = np.asarray(pose, dtype=float)
            if pose.shape not in ((3,), (7,)) or not np.isfinite(pose).all():
                raise ValueError(
                    f"object {name!r}: give [x y z] or [x y z qw qx qy qz], got {pose}"
                )
            adr = self._free[name]
            data.qpos[adr : adr + len(pose)] = pose
        return data.qpos.copy()

    def render_goal(
        self,
        arm_pose: Sequence[float] | None = None,
        gripper: float | None = None,
        objects: Mapping[str, Sequence[float]] | None = None,
    ) -> np.ndarray:
        """A goal image: the scene with the arm/objects placed, rendered without touching the
        live simulation (see `goal_qpos`)."""
        return self._renderer.render(self.goal_qpos(arm_pose, gripper, objects))
