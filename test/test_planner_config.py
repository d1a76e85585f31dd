"""config/planner.yaml (with model.yaml) is valid ROS parameter input for PlannerConfig."""

from __future__ import annotations

import pytest

from vjepa2_ros.config import ConfigError, from_mapping, unflatten
from vjepa2_ros.graph import node_spec
from vjepa2_ros.nodes.params import declare_config, node_parameters
from vjepa2_ros.planning.config import PlannerConfig


def test_planner_yaml_declares_as_ros_parameters(ros):
    params = node_parameters(list(node_spec("planner").files), "planner")
    node = ros.node("planner")
    cfg = declare_config(node, PlannerConfig, params)
    assert cfg == from_mapping(PlannerConfig, unflatten(params))
    assert node.get_parameter("budget").value == cfg.budget
    assert node.get_parameter("model.preset").value == cfg.model.preset == params["model.preset"]
    cem = cfg.cem_config()
    assert cem.samples > 0 and cem.seed == cfg.seed and cem.early_stop == cfg.early_stop


def test_planner_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="rate_hz"):
        PlannerConfig(rate_hz=0.0)
    with pytest.raises(ConfigError, match="known budgets: fast, notebook, paper"):
        PlannerConfig(budget="Paper")
