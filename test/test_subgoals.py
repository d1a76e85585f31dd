"""Sub-goal sequencing: adding, switching and the honest rule that advances."""

import numpy as np
import pytest

from vjepa2_ros.config import ConfigError
from vjepa2_ros.planning.goal_images import GoalImageError, load_goal_folder, save_rgb
from vjepa2_ros.planning.subgoals import SubgoalPolicy, SubgoalSequence


def make(stable=2, budget=5):
    return SubgoalSequence(policy=SubgoalPolicy(stable, budget))


def test_first_goal_activates_and_stable_arrival_advances():
    seq = make()
    a = seq.add("A", "topic")
    b = seq.add("B", "topic")
    assert seq.index == 0 and seq.active is a
    seq.note_motion()  # the arm executed an action for A
    assert seq.record_cycle(a.goal_id, 0.2, arrived=True) is None  # once: not yet stable
    assert seq.record_cycle(a.goal_id, 0.5, arrived=False) is None  # not arrived: resets
    assert seq.record_cycle(a.goal_id, 0.2, arrived=True) is None
    assert seq.record_cycle(a.goal_id, 0.1, arrived=True) == "reached"
    assert seq.active is b
    assert seq.outcomes[0].reached and seq.outcomes[0].cycles == 4
    assert seq.outcomes[0].last_energy == pytest.approx(0.1)


def test_never_reached_while_the_arm_is_unhealthy_or_has_not_moved():
    seq = make(stable=1, budget=0)
    a = seq.add("A", "topic")
    # Arrived by the model's rule, but the arm never moved for this sub-goal (all rejected).
    for _ in range(5):
        assert seq.record_cycle(a.goal_id, 0.01, arrived=True) is None
    seq.note_motion()
    # Moved, but the bridge is in error / stopped / disconnected when the cycle is planned.
    for _ in range(5):
        assert seq.record_cycle(a.goal_id, 0.01, arrived=True, arm_ok=False) is None
    assert seq.record_cycle(a.goal_id, 0.01, arrived=True, arm_ok=True) == "reached"
    # The next sub-goal starts with no motion of its own.
    b = seq.add("B", "topic")
    assert seq.active is b
    assert seq.record_cycle(b.goal_id, 0.01, arrived=True) is None


def test_cycles_for_another_goal_are_ignored():
    seq = make()
    a = seq.add("A", "topic")
    b = seq.add("B", "topic")
    seq.next()
    assert seq.active is b
    seq.note_motion()
    for _ in range(5):  # late cycles still planned against A must not count for B
        assert seq.record_cycle(a.goal_id, 0.0, arrived=True) is None
    assert seq.active is b and not seq.finished


def test_cycle_budget_gives_up_and_sequence_finishes():
    seq = make(budget=3)
    a = seq.add("A", "folder")
    results = [seq.record_cycle(a.goal_id, 1.0, arrived=False) for _ in range(3)]
    assert results == [None, None, "budget"]
    assert seq.finished and seq.index == -1 and seq.active is None
    assert not seq.outcomes[0].reached and seq.outcomes[0].cycles == 3
    # A goal added after the end becomes active again.
    c = seq.add("C", "capture")
    assert seq.active is c and not seq.finished


def test_next_previous_clear_restart():
    seq = make()
    assert not seq.next() and not seq.previous()
    for name in "ABC":
        seq.add(name, "topic")
    assert seq.next() and seq.index == 1
    assert seq.previous() and seq.index == 0
    assert seq.next() and seq.next() and seq.index == 2
    assert not seq.next() and seq.finished
    assert seq.restart() and seq.index == 0 and not seq.outcomes
    seq.clear()
    assert seq.index == -1 and not seq.goals


def test_policy_validation_names_the_problem():
    with pytest.raises(ConfigError, match="stable_cycles"):
        SubgoalPolicy(stable_cycles=0)
    with pytest.raises(ConfigError, match="max_cycles"):
        SubgoalPolicy(max_cycles=-1)


def test_goal_folder_loads_in_name_order(tmp_path):
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    blue = np.zeros((8, 8, 3), np.uint8)
    blue[..., 2] = 255
    save_rgb(tmp_path / "02_place.png", blue)
    save_rgb(tmp_path / "01_grasp.png", red)
    (tmp_path / "notes.txt").write_text("ignored")
    goals = load_goal_folder(tmp_path)
    assert [name for name, _ in goals] == ["01_grasp.png", "02_place.png"]
    np.testing.assert_array_equal(goals[0][1], red)
    np.testing.assert_array_equal(goals[1][1], blue)
    with pytest.raises(GoalImageError, match="holds no images"):
        load_goal_folder(tmp_path / "empty" if (tmp_path / "empty").mkdir() is None else "")
    with pytest.raises(GoalImageError, match="not a folder"):
        load_goal_folder(tmp_path / "missing")
