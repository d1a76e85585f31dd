"""The simulated Franka cell: real franky over the libfranka protocol against franky-sim,
real MuJoCo EGL rendering in a worker process."""

from __future__ import annotations

import socket
import threading

import numpy as np
import pytest
from franky_sim_server import free_loopback_host

from vjepa2_ros.compute import thread_scheduling_kept
from vjepa2_ros.sim.config import ConfigError, ObjectsConfig, SimConfig
from vjepa2_ros.sim.scene import object_poses

pytestmark = pytest.mark.sim
franky = pytest.importorskip("franky")


@pytest.fixture(scope="module")
def cell():
    from vjepa2_ros.sim.cell import SimCell

    with SimCell(SimConfig(host=free_loopback_host(), seed=1)) as c:
        c.wait_sim_time(0.2)
        yield c


@pytest.fixture(scope="module")
def robot(cell):
    with thread_scheduling_kept():  # else pytest's thread stays SCHED_FIFO (compute.py)
        r = franky.Robot(cell.host, realtime_config=franky.RealtimeConfig.Ignore)
    r.relative_dynamics_factor = 0.15
    return r


def _move_to(robot, xyz, quat_xyzw) -> None:
    robot.move(franky.CartesianMotion(franky.Affine(list(xyz), list(quat_xyzw))))


def test_five_cm_motion_moves_ground_truth_and_changes_image_at_the_arm(cell, robot):
    cell.reset(seed=2)
    cell.wait_sim_time(0.3)
    before_img = cell.render()
    before = cell.ground_truth()["ee"][0]
    # franky's relative motions are in the end-effector frame; ask for -5 cm along base y.
    pose = robot.current_cartesian_state.pose.end_effector_pose
    target = np.asarray(pose.translation) + np.array([0.0, -0.05, 0.0])
    _move_to(robot, target, pose.quaternion)
    cell.wait_sim_time(0.3)
    after = cell.ground_truth()["ee"][0]
    after_img = cell.render()

    moved = after - before
    assert abs(np.linalg.norm(moved) - 0.05) <= 0.005, moved
    assert moved[1] == pytest.approx(-0.05, abs=0.005)
    # franky reads the same pose as the ground truth (same TCP).
    franky_now = np.asarray(robot.current_cartesian_state.pose.end_effector_pose.translation)
    np.testing.assert_allclose(franky_now, after, atol=2e-3)

    diff = np.abs(after_img.astype(int) - before_img.astype(int)).sum(-1) > 40
    assert diff.sum() > 30, "the image did not change"
    # Changed where the hand is (and its shadow), unchanged at the objects that did not move.
    u, v = cell.project([(before + after) / 2])[0].astype(int)
    assert diff[v - 12 : v + 12, u - 12 : u + 12].mean() > 0.25
    truth = cell.ground_truth()
    for name in ("cup", "box"):
        u, v = cell.project([truth[name][0]])[0].astype(int)
        assert diff[v - 4 : v + 4, u - 4 : u + 4].mean() < 0.05, f"{name} region changed"


def test_franky_reads_the_measured_pose_while_the_arm_comes_to_rest(cell, robot):
    """O_T_EE is the pose of the joints the arm has now, as on a real Franka, not the motion's
    target: franky-sim 1.0.4 reported the commanded pose (an aliased pinocchio placement), so a
    motion's last ~7 mm looked done ~0.5 s before the arm got there (scene.measure_the_pose)."""
    cell.reset(seed=2)
    cell.wait_sim_time(0.3)
    pose = robot.current_cartesian_state.pose.end_effector_pose
    target = np.asarray(pose.translation) + np.array([-0.05, -0.05, 0.0])
    _move_to(robot, target, pose.quaternion)  # returns when franky's motion ended
    gaps, travel = [], []
    start = cell.ground_truth()["ee"][0]
    for _ in range(20):
        franky_now = np.asarray(robot.state.O_T_EE.translation)
        truth = cell.ground_truth()["ee"][0]
        gaps.append(np.linalg.norm(franky_now - truth))
        travel.append(np.linalg.norm(truth - start))
        cell.wait_sim_time(0.02)
    assert max(travel) > 2e-3  # the arm still moved after the motion ended: the case at stake
    assert max(gaps) < 1e-3, f"franky's pose is {max(gaps) * 1000:.1f} mm from the arm's"
    assert np.linalg.norm(cell.ground_truth()["ee"][0] - target) < 2e-3


def test_scripted_grasp_lifts_the_cup(cell, robot):
    cell.reset(seed=5)
    cell.wait_sim_time(0.5)
    with thread_scheduling_kept():
        gripper = franky.Gripper(cell.host)
    cup0 = cell.ground_truth()["cup"][0]
    quat = robot.current_cartesian_state.pose.end_effector_pose.quaternion
    gripper.move(0.08, 0.1)
    _move_to(robot, [cup0[0], cup0[1], 0.2], quat)
    _move_to(robot, [cup0[0], cup0[1], cup0[2]], quat)
    gripper.grasp(0.0, 0.05, 40.0, epsilon_inner=0.08, epsilon_outer=0.08)
    width = cell.ground_truth()["ee.gripper"]
    assert 0.05 < width < 0.065, f"fingers should stop on the 6 cm cup, width {width}"
    _move_to(robot, [cup0[0], cup0[1], 0.2], quat)
    cell.wait_sim_time(0.3)
    cup1 = cell.ground_truth()["cup"][0]
    assert cup1[2] - cup0[2] >= 0.05, f"cup lifted only {cup1[2] - cup0[2]:.3f} m"
    assert np.linalg.norm(cup1[:2] - cup0[:2]) < 0.03
    gripper.move(0.08, 0.1)


def test_seeds_randomise_objects_deterministically(cell):
    cfg = ObjectsConfig()
    a, b, c = object_poses(3, cfg), object_poses(3, cfg), object_poses(4, cfg)
    for name in ("cup", "box"):
        np.testing.assert_array_equal(a[name][0], b[name][0])
        assert np.linalg.norm(a[name][0][:2] - c[name][0][:2]) > 1e-3
        lo, hi = (
            np.array([cfg.x_range[0], cfg.y_range[0]]),
            np.array([cfg.x_range[1], cfg.y_range[1]]),
        )
        assert np.all(a[name][0][:2] >= lo) and np.all(a[name][0][:2] <= hi)
    assert np.linalg.norm(a["cup"][0][:2] - a["box"][0][:2]) >= cfg.min_separation

    # The physics keeps running in real time after a reset: contact settles the objects by up to
    # ~0.1 mm before the read (measured 0.05 mm). Seeds place them centimetres apart.
    settle_m = 5e-4
    assert cell.reset(seed=3) == 3
    truth = cell.ground_truth()
    np.testing.assert_allclose(truth["cup"][0], a["cup"][0], atol=settle_m)
    np.testing.assert_allclose(truth["box"][0], a["box"][0], atol=settle_m)
    assert cell.reset() == 4  # no seed: the next one
    np.testing.assert_allclose(cell.ground_truth()["cup"][0], c["cup"][0], atol=settle_m)
    # A reset never moves the arm (its guards would see a teleport): still pointing down, open.
    state = cell.ee_state()
    assert state[6] == pytest.approx(0.0, abs=0.02)
    assert abs(abs(state[3]) - np.pi) < 0.05 and abs(state[4]) < 0.05


def test_goal_render_places_arm_and_objects_without_touching_the_live_sim(cell):
    import mujoco

    cell.reset(seed=6)
    cell.wait_sim_time(0.2)
    live = cell.ground_truth()
    live_img = cell.render()
    state = cell.ee_state()
    goal = state[:6] + np.array([0.0, 0.1, -0.15, 0, 0, 0])
    qpos = cell.goal_qpos(arm_pose=goal)
    data = mujoco.MjData(cell._sim.model)
    data.qpos[:] = qpos
    mujoco.mj_kinematics(cell._sim.model, data)
    np.testing.assert_allclose(data.site_xpos[cell._site], goal[:3], atol=2e-3)

    arm_img = cell.render_goal(arm_pose=goal, gripper=1.0)
    cup_target = live["cup"][0] + [0.0, -0.12, 0.0]
    cup_img = cell.render_goal(objects={"cup": cup_target})
    for img in (arm_img, cup_img):
        assert img.shape == live_img.shape and img.dtype == np.uint8
        assert (np.abs(img.astype(int) - live_img.astype(int)).sum(-1) > 40).sum() > 30
    # The cup image changed around the cup's old and new places.
    u, v = cell.project([cup_target])[0]
    diff = np.abs(cup_img.astype(int) - live_img.astype(int)).sum(-1) > 40
    assert diff[int(v) - 6 : int(v) + 6, int(u) - 6 : int(u) + 6].mean() > 0.5
    # The live sim did not move.
    np.testing.assert_allclose(cell.ground_truth()["cup"][0], live["cup"][0], atol=1e-3)
    with pytest.raises(ValueError, match="out of the arm's reach"):
        cell.render_goal(arm_pose=[2.0, 0.0, 0.3, np.pi, 0, 0])
    with pytest.raises(ValueError, match="unknown object"):
        cell.render_goal(objects={"mug": [0.5, 0, 0.05]})


def test_camera_info_matches_mujoco_fovy(cell):
    info = cell.camera_info()
    k = np.array(info["K"]).reshape(3, 3)
    assert (info["width"], info["height"]) == (256, 256)
    half = np.degrees(np.arctan(0.5 * info["height"] / k[1, 1]))
    assert 2 * half == pytest.approx(cell.config.camera.fovy_deg, abs=1e-6)
    assert info["frame_id"] == "sim_camera"


def test_start_stop_start_leaks_nothing():
    from vjepa2_ros.sim.cell import SimCell

    host = free_loopback_host()
    threads = set(threading.enumerate())
    cell = SimCell(SimConfig(host=host))
    for _ in range(2):
        cell.start()
        renderer = cell._renderer
        assert cell.render().shape == (256, 256, 3)
        cell.stop()
        cell.stop()  # idempotent
        assert renderer._proc is None
        assert set(threading.enumerate()) <= threads
        for port in (1337, 1338):
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((host, port))  # free again


def test_bad_config_says_what_to_fix():
    with pytest.raises(ConfigError, match="loopback"):
        SimConfig(host="10.0.0.2")
    with pytest.raises(ConfigError, match="fps"):
        from vjepa2_ros.sim.config import CameraConfig

        CameraConfig(fps=30.0)
    assert SimConfig.load().camera.fps == 4.0


def test_no_gl_backend_gives_one_clear_error(monkeypatch):
    from vjepa2_ros.sim.render import RenderBackendError, RenderWorker

    monkeypatch.setenv("MUJOCO_GL", "no-such-backend")
    with pytest.raises(RenderBackendError, match="apt-get install libegl1 libegl-mesa0"):
        RenderWorker("<mujoco/>", 32, 32, "exterior")


def test_ctrl_c_to_the_process_group_leaves_the_render_worker_to_its_owner():
    """A terminal's Ctrl-C reaches the worker too; it must keep rendering until close()."""
    import os
    import signal

    from vjepa2_ros.sim.render import RenderWorker

    xml = '<mujoco><worldbody><camera name="c" pos="0 0 1"/></worldbody></mujoco>'
    worker = RenderWorker(xml, 32, 32, "c")
    try:
        os.kill(worker._proc.pid, signal.SIGINT)
        for _ in range(3):  # a worker killed by the signal would fail here with EOFError
            assert worker.render(np.zeros(0)).shape == (32, 32, 3)
        assert worker.alive
    finally:
        worker.close()
    assert not worker.alive
