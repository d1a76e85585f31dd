"""Seeded reach and pick-place episodes through the running node graph (`--graph`, the demo).

The same seeds, goals and ground-truth scores as the core episodes
(vjepa2_ros/evaluation/sim_episodes.py), driven over ROS by a GraphEpisodeDriver: the sim
renders the goal images for the goal server, the planner plans from the camera encoder's
latents, the bridge executes, and every cycle is scored on the sim's ground truth once its
action settled.

Sub-goals of a pick-place episode end as in the core episodes: `subgoal_reached` on ground
truth (the end effector within the sub-goal's tolerance of its pose) or `subgoal_cycles` spent; the
driver then moves the goal server on (/vjepa2/goal/next), as an operator's script would. In a
reach episode the goal server's own end of the sub-goal (its arrival rule) ends it too, as it
would for a user; in a pick-place episode the rule is switched off (see `pick_place`).
"""

from __future__ import annotations

import contextlib
import functools
import time

import numpy as np

from vjepa2_ros import interfaces as names
from vjepa2_ros.evaluation.sim_episodes import (
    EpisodeResult,
    PickPlaceStages,
    SimEvalConfig,
    pick_place_goals,
    sample_reach_goal,
    subgoal_reached,
)
from vjepa2_ros.planning.subgoals import MAX_STABLE_CYCLES
from vjepa2_ros.shell.episode import GraphEpisodeDriver
from vjepa2_ros.sim.rig import episode_start

GRAPH_READY_TIMEOUT_S = 180.0  # the nodes up, the sim's first frame encoded (2-core box: ~40 s)
EPISODE_TIMEOUT_S = 1800.0  # one episode through the graph at most (a 2-core box plans ~7 s)


@contextlib.contextmanager
def episode_graph(task: str, cfg: SimEvalConfig, planner: dict, model: dict | None = None):
    """The node graph the episodes run through, up and ready: yields its GraphEpisodeDriver.

    sim_camera, franka_bridge and planner as their own processes (as ros2 launch starts them),
    camera_encoder and goal_server in this one; `planner` and `model` are parameter overrides
    (the budget; the model for both model nodes).
    """
    from vjepa2_ros.shell.demo import PROCESSES
    from vjepa2_ros.shell.runner import GraphRunner

    model = model or {}
    overrides = {
        "sim_camera": {"host": cfg.host},
        "franka_bridge": {"robot_ip": cfg.host, "relative_dynamics_factor": cfg.dynamics_factor},
        "planner": {**planner, **model},
        "camera_encoder": model,
        "goal_server": {
            "interactive_marker": False,
            "policy.max_cycles": goal_server_budget(task, cfg),
        },
    }
    with GraphRunner() as runner:
        runner.start_graph(use_sim=True, overrides=overrides, processes=PROCESSES)
        driver = GraphEpisodeDriver(runner, log=print)
        runner.spin_in_background()
        driver.wait_ready(GRAPH_READY_TIMEOUT_S)
        yield driver


def goal_server_budget(task: str, cfg: SimEvalConfig) -> int:
    """The goal server's per-sub-goal cycle budget for `task`: reach ends on the episode's
    budget; pick-place sub-goals are moved on by the driver (0 = the goal server's unlimited)."""
    return cfg.max_cycles if task == "reach" else 0


@functools.cache
def _kinematics():
    from vjepa2_ros.sim.kinematics import ArmKinematics

    return ArmKinematics.for_cell()


def run(driver: GraphEpisodeDriver, task: str, seed: int, cfg: SimEvalConfig, log=None):
    """One seeded episode of `task` ("reach" or "pick-place") -> EpisodeResult."""
    return (reach if task == "reach" else pick_place)(driver, seed, cfg, log)


def _start(driver: GraphEpisodeDriver, seed: int, cfg: SimEvalConfig, operator: bool) -> np.ndarray:
    """Reset the scene for `seed`, the arm at the seeded start pose; the measured ee state.
    `operator`: recover a latched arm first (evaluation), or fail on it (the demo)."""
    driver.reset(seed, episode_start(seed, cfg.start_min, cfg.start_max), operator=operator)
    driver.set_parameter("planner", "seed", seed * 1000)
    driver.set_parameter("goal_server", "gripper_schedules", "")  # the task sets its own
    return driver.s.ee_state.copy()


def _log_cycle(log, record, subgoal: int | None = None) -> None:
    if log:
        sub = "" if subgoal is None else f" sub-goal {subgoal}"
        log(
            f"  cycle {record.cycle:3d}{sub} E {record.energy:.4f} d "
            f"{record.distance_m * 100:5.1f} cm {record.event}"
        )


def reach(driver: GraphEpisodeDriver, seed: int, cfg: SimEvalConfig, log=None) -> EpisodeResult:
    t0 = time.monotonic()
    start = _start(driver, seed, cfg, operator=True)
    goal = sample_reach_goal(start, seed, cfg, _kinematics().reachable)
    driver.add_goal(0, np.concatenate([goal, start[3:6]]), truth={"ee": goal})
    start_truth = driver.truth_after(0.0)
    dist0 = float(np.linalg.norm(start_truth - goal))
    progress_before = len(driver.s.progress)
    driver.planner(True)

    def stop(record) -> bool:
        _log_cycle(log, record)
        return (
            record.distance_m <= cfg.reach_success_m
            or record.distance_m > cfg.reach_abort_m
            or len(driver.s.progress) > progress_before  # the goal server ended the sub-goal
        )

    history = driver.follow_cycles(goal, cfg.max_cycles, stop, timeout_s=EPISODE_TIMEOUT_S)
    driver.planner(False)
    final = history[-1].distance_m if history else dist0
    return EpisodeResult.reach(
        seed, final <= cfg.reach_success_m, dist0, history, t0, goal, start_truth
    )


def pick_place(
    driver: GraphEpisodeDriver,
    seed: int,
    cfg: SimEvalConfig,
    log=None,
    operator: bool = True,
    timeout_s: float = EPISODE_TIMEOUT_S,
) -> EpisodeResult:
    t0 = time.monotonic()
    start = _start(driver, seed, cfg, operator)
    driver.truth_after(0.0)
    cup0, box = driver.s.cup_truth.copy(), driver.s.box_truth.copy()
    goals, target = pick_place_goals(seed, cup0, box, start[:6], cfg)
    # Each sub-goal's gripper schedule, set as an operator would (`ros2 param set`) before the
    # sub-goals are added; the goal server hands it to the planner with each goal. The sub-goals
    # are moved on by ground truth or their cycles, as on the core: the model's arrival rule
    # (2.5 cm) is too coarse for the open hand around the cup (1.2 cm), so it ends none here.
    stamp = driver.s.goal_stamp  # the goal before this episode's
    schedules = ",".join(g["schedule"] for g in goals)
    driver.set_parameter("goal_server", "gripper_schedules", schedules)
    driver.set_parameter("goal_server", "policy.stable_cycles", MAX_STABLE_CYCLES)
    for k, g in enumerate(goals):
        # The place sub-goal's truth names the cup's target too: a recorded run's evaluation
        # (vjepa2-eval) and the goal server then judge it on the cup, as the paper does.
        truth = {"ee": g["arm"], **(g["objects"] or {})}
        driver.add_goal(k, g["pose"], g["gripper"], g["objects"], truth=truth)
    stages = PickPlaceStages(cup0, target, cfg)
    history = []
    done = [False] * len(goals)  # each sub-goal reached by ground truth
    deadline = time.monotonic() + timeout_s
    driver.planner(True)
    try:
        for k, g in enumerate(goals):
            # Active once the goal server says so and has sent its goal (a new stamp): a cycle
            # planned for the previous sub-goal may still land after the move on.
            driver.wait(
                lambda k=k, old=stamp: driver.s.goal_index == k and driver.s.goal_stamp != old,
                30.0,
                f"sub-goal {k} active",
            )
            stamp = driver.s.goal_stamp

            def stop(record, k=k, g=g) -> bool:
                _log_cycle(log, record, k)
                s = driver.s
                done[k] = subgoal_reached(g, s.ee_truth, float(s.ee_state[6]), cfg)
                stages.observe(k, done[k], s.cup_truth, s.ee_truth, s.finger_width_truth)
                return done[k] or s.goal_index != k

            cycles = driver.follow_cycles(
                g["arm"],
                cfg.subgoal_cycles,
                stop,
                timeout_s=deadline - time.monotonic(),
                goal_stamp=stamp,
            )
            for record in cycles:
                record.subgoal = k
            history += cycles
            if driver.s.goal_index == k:  # reached by ground truth, or its cycles are spent
                driver.trigger(names.GOAL_NEXT, effect=lambda k=k: driver.s.goal_index != k)
    finally:
        driver.planner(False)
    driver.truth_after(driver.s.motion.settled_at or 0.0)
    final = stages.finish(driver.s.cup_truth)
    return EpisodeResult.pick_place(seed, stages, final, history, done, t0)
