"""planner node over real DDS with the small model: actions, diagnostics, stale camera, pause."""

import time

import numpy as np
import pytest
import torch
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import Image, JointState
from std_srvs.srv import SetBool

from vjepa2_ros import interfaces as names
from vjepa2_ros.model.presets import spec_from_name
from vjepa2_ros.model.world_model import WorldModel
from vjepa2_ros.nodes.conversions import (
    ACTION_NAMES,
    STATE_NAMES,
    diagnostic_values,
    latent_to_msg,
    msg_to_vector,
    vector_to_msg,
)
from vjepa2_ros.nodes.planner import PlannerNode
from vjepa2_ros.nodes.qos import LATCHED

pytestmark = pytest.mark.ros
TINY_BUDGET = "tiny:\n  samples: 16\n  iterations: 2\n  horizon: 1\n  topk: 4\n"


def test_plans_on_fresh_inputs_stops_on_frozen_camera_and_pauses(ros, tmp_path):
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(TINY_BUDGET)
    model = WorldModel.build(spec_from_name("small"), "cpu", torch.float32, seed=0)
    planner = ros.add(
        PlannerNode(
            context=ros.context,
            world_model=model,
            parameter_overrides={
                "budget": "tiny",
                "budgets_file": str(budgets),
                "rate_hz": 10.0,
                "max_latent_age_s": 2.0,
                "max_state_age_s": 2.0,
            },
        )
    )
    probe = ros.node("planner_probe")
    actions, diags = [], []
    probe.create_subscription(JointState, names.ACTION, actions.append, 50)
    probe.create_subscription(
        DiagnosticArray,
        names.PLANNER_DIAGNOSTICS,
        lambda m: diags.append(diagnostic_values(m, names.PLANNER_STATUS_NAME)),
        50,
    )
    latent_pub = probe.create_publisher(Image, names.LATENT, 10)
    state_pub = probe.create_publisher(JointState, names.EE_STATE, 10)
    goal_pub = probe.create_publisher(Image, names.GOAL_LATENT, LATCHED)
    ros.wait_for(lambda: latent_pub.get_subscription_count() > 0, what="discovery")

    n, d = model.tokens_per_frame, model.embed_dim
    rng = np.random.default_rng(0)
    goal_pub.publish(latent_to_msg(rng.standard_normal((n, d)).astype(np.float32)))
    state = [0.45, 0.0, 0.4, np.pi, 0.0, 0.0, 0.0]

    def publish_inputs():
        now = probe.get_clock().now()
        state_pub.publish(vector_to_msg(state, STATE_NAMES, stamp=now))
        latent_pub.publish(latent_to_msg(rng.standard_normal((n, d)).astype(np.float32), now))

    deadline = time.monotonic() + 30
    while len(actions) < 3 and time.monotonic() < deadline:
        publish_inputs()
        time.sleep(0.15)
    assert len(actions) >= 3, f"no actions; last diagnostics: {diags[-1:]}"
    for msg in actions:
        a = msg_to_vector(msg, ACTION_NAMES)
        assert np.all(np.isfinite(a)) and np.all(np.abs(a[:3]) <= 0.05 + 1e-9)
        assert np.all(a[3:6] == 0.0)  # rotation is not planned by default
    planned = [v for v in diags if v and not v["skipped"]]
    assert planned and all(float(v["energy"]) > 0 for v in planned)
    assert {v["budget"] for v in planned} == {"tiny"}

    # The camera freezes: no new latents. Within 2 cycles no more actions, and diagnostics say why.
    time.sleep(0.3)
    count, cycle = len(actions), planner.cycles
    ros.wait_for(lambda: planner.cycles >= cycle + 3, what="three more cycles")
    assert len(actions) <= count + 1
    assert diags[-1]["skipped"] == "no new camera latent since the last cycle"

    # Paused through the service: fresh inputs do not produce actions.
    client = probe.create_client(SetBool, names.PLANNER_ENABLE)
    assert client.wait_for_service(timeout_sec=5)
    future = client.call_async(SetBool.Request(data=False))
    ros.wait_for(future.done, what="enable response")
    count = len(actions)
    for _ in range(5):
        publish_inputs()
        time.sleep(0.15)
    assert len(actions) == count
    assert diags[-1]["skipped"] == "disabled"
