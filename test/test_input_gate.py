"""The planner never plans on missing, frozen or stale inputs, and says why."""

import pytest

from vjepa2_ros.config import ConfigError
from vjepa2_ros.planning.input_gate import CycleInputs, InputLimits, skip_reason

LIMITS = InputLimits(max_latent_age_s=1.0, max_state_age_s=0.5, require_new_latent=True)


def inputs(**kw):
    base = dict(
        now=100.0,
        latent_stamp=99.8,
        state_stamp=99.9,
        goal_present=True,
        enabled=True,
        last_used_latent_stamp=99.5,
    )
    base.update(kw)
    return CycleInputs(**base)


def test_fresh_inputs_plan():
    assert skip_reason(inputs(), LIMITS) == ""


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"enabled": False}, "disabled"),
        ({"goal_present": False}, "no goal latent"),
        ({"latent_stamp": None}, "no camera latent yet"),
        ({"state_stamp": None}, "no end-effector state yet"),
        ({"latent_stamp": 98.5}, "stale camera: newest latent is 1.50 s old (> 1.0 s)"),
        ({"last_used_latent_stamp": 99.8}, "no new camera latent since the last cycle"),
        ({"state_stamp": 99.0}, "stale robot state: newest ee_state is 1.00 s old (> 0.5 s)"),
    ],
)
def test_each_problem_has_its_reason(change, reason):
    assert skip_reason(inputs(**change), LIMITS) == reason


def test_same_latent_allowed_when_not_required():
    limits = InputLimits(max_latent_age_s=1.0, max_state_age_s=0.5, require_new_latent=False)
    assert skip_reason(inputs(last_used_latent_stamp=99.8), limits) == ""


def test_limits_validated():
    with pytest.raises(ConfigError, match="max_latent_age_s"):
        InputLimits(max_latent_age_s=0)
