"""The scripted exploration policy: bounds, determinism and grasps that reach the object."""

from __future__ import annotations

import numpy as np
import pytest

from vjepa2_ros.config import ConfigError
from vjepa2_ros.sim.exploration import ExplorationConfig, ExplorationPolicy

HOME = np.array([0.5, 0.0, 0.3, np.pi, 0.0, 0.0, 0.0])


def run(policy, steps, object_pos=None, track=1.0):
    """Roll the policy on an ideal arm that moves `track` x each commanded translation."""
    state, states, actions = HOME.copy(), [], []
    for _ in range(steps):
        a = policy.act(state, object_pos)
        actions.append(a)
        state = state.copy()
        state[:3] += track * a[:3]
        state[6] = np.clip(state[6] + a[6], 0.0, 1.0)
        states.append(state)
    return np.array(states), np.array(actions)


def test_random_actions_stay_within_bounds_and_the_workspace():
    cfg = ExplorationConfig()
    states, actions = run(ExplorationPolicy(cfg, seed=3), 400)
    assert np.abs(actions[:, :3]).max() <= cfg.max_delta_m + 1e-12
    assert np.abs(actions[:, :3]).max() > 0.045  # really explores the +-5 cm range
    assert np.all(actions[:, 3:6] == 0.0)
    assert np.all(states[:, :3] >= np.array(cfg.workspace_min) - 1e-12)
    assert np.all(states[:, :3] <= np.array(cfg.workspace_max) + 1e-12)
    toggles = np.count_nonzero(actions[:, 6])
    assert 20 <= toggles <= 60  # ~10 % of 400 steps
    assert set(np.unique(actions[:, 6])) <= {-1.0, 0.0, 1.0}


def test_same_seed_same_actions_other_seed_other_actions():
    a1 = run(ExplorationPolicy(seed=7), 50, object_pos=np.array([0.55, 0.1, 0.05]))[1]
    a2 = run(ExplorationPolicy(seed=7), 50, object_pos=np.array([0.55, 0.1, 0.05]))[1]
    a3 = run(ExplorationPolicy(seed=8), 50, object_pos=np.array([0.55, 0.1, 0.05]))[1]
    assert np.array_equal(a1, a2)
    assert not np.array_equal(a1, a3)


def test_scripted_pick_and_place_closes_at_the_object_lifts_and_puts_it_down_elsewhere():
    cfg = ExplorationConfig()
    cup = np.array([0.55, -0.1, 0.05])
    policy = ExplorationPolicy(cfg, seed=0)
    policy.start_grasp(cup)
    target = policy.place_target
    assert cfg.place_min_m <= np.linalg.norm(target - cup) <= cfg.place_max_m
    assert target[2] == cup[2]  # put down on the table, where it stood
    state, trace = HOME.copy(), []
    for _ in range(80):
        phase = policy.phase
        a = policy.act(state)
        state = state.copy()
        state[:3] += a[:3]
        state[6] = np.clip(state[6] + a[6], 0.0, 1.0)
        trace.append((phase, state.copy(), a))
        if policy.phase == "explore":
            break
    phases = [p for p, _, _ in trace]
    order = ["approach", "descend", "close", "lift", "carry", "lower", "release", "retreat"]
    assert [p for i, p in enumerate(phases) if i == 0 or p != phases[i - 1]] == order
    closing = [s for p, s, a in trace if p == "close"]
    # Closed right at the grasp height above the object.
    assert np.linalg.norm(closing[0][:3] - (cup + np.array([0, 0, cfg.grasp_height_m]))) < 0.011
    assert closing[-1][6] == 1.0
    lifted = [s for p, s, _ in trace if p == "lift"][-1]
    assert lifted[2] - closing[0][2] == pytest.approx(cfg.lift_m, abs=0.011)
    carried = [s for p, s, _ in trace if p == "carry"]  # still closed, still up
    assert all(s[6] == 1.0 for s in carried)
    assert carried[0][2] == pytest.approx(lifted[2], abs=0.011)
    opening = next(s for p, s, _ in trace if p == "release")  # let go at the target, held height
    put = target + np.array([0, 0, cfg.grasp_height_m])
    assert np.linalg.norm(opening[:3] - put) < 0.011
    assert trace[-1][1][6] == 0.0  # released
    assert all(np.abs(a[:3]).max() <= cfg.max_delta_m + 1e-12 for _, _, a in trace)


def test_blocked_grasp_times_out_instead_of_hanging():
    cfg = ExplorationConfig(phase_timeout_steps=5)
    policy = ExplorationPolicy(cfg, seed=0)
    policy.start_grasp(np.array([0.6, 0.2, 0.05]))
    run(policy, 40, track=0.0)  # the arm never moves
    assert policy.phase == "explore"


def test_grasps_happen_during_exploration_when_an_object_is_known():
    policy = ExplorationPolicy(seed=1)
    run(policy, 200, object_pos=np.array([0.5, 0.1, 0.05]))
    assert policy.grasps_started >= 2


def test_place_targets_stay_in_the_workspace():
    cfg = ExplorationConfig(workspace_min=(0.32, -0.28, 0.06), workspace_max=(0.62, 0.28, 0.45))
    policy = ExplorationPolicy(cfg, seed=5)
    for cup in ([0.35, -0.25, 0.045], [0.6, 0.25, 0.045], [0.45, 0.0, 0.045]):
        for _ in range(20):
            policy.start_grasp(np.array(cup))
            put = policy.place_target + np.array([0, 0, cfg.grasp_height_m])
            assert np.all(put >= cfg.workspace_min) and np.all(put <= cfg.workspace_max)
            assert np.linalg.norm(policy.place_target - cup) >= cfg.place_min_m - 1e-9


def test_config_errors():
    with pytest.raises(ConfigError, match="max_delta_m"):
        ExplorationConfig(max_delta_m=0.5)
    with pytest.raises(ConfigError, match="workspace"):
        ExplorationConfig(workspace_min=(0.7, 0, 0), workspace_max=(0.3, 1, 1))
    with pytest.raises(ConfigError, match="place_min_m"):
        ExplorationConfig(place_min_m=0.2, place_max_m=0.1)
