"""Build the world model a node's ModelConfig asks for, with one clear error when it cannot."""

from __future__ import annotations

import logging

from vjepa2_ros.model.config import DEFAULT_CHECKPOINTS, ModelConfig
from vjepa2_ros.model.presets import spec_from_name

log = logging.getLogger(__name__)
RANDOM_INIT_SEED = 0


def load_from_config(config: ModelConfig):
    """The configured checkpoint; for `small` without one, deterministic random weights.

    The released `vitg-ac` model is never silently replaced by random weights: a missing file is
    an error naming where to put it.
    """
    from vjepa2_ros.model.checkpoint import CheckpointError, load_world_model
    from vjepa2_ros.model.world_model import WorldModel

    path = config.checkpoint_path()
    if path is not None:
        return load_world_model(path, config.preset, config.device, config.torch_dtype)
    if config.preset != "small":
        raise CheckpointError(
            f"no checkpoint for preset {config.preset!r}: download {DEFAULT_CHECKPOINTS[config.preset]} "
            "into the package's models/ folder or pass checkpoint:=/path/to/file"
        )
    log.warning(
        "no small checkpoint found (models/%s): using random weights (seed %d); plans will be poor. "
        "Train one with vjepa2-train (see README).",
        DEFAULT_CHECKPOINTS["small"],
        RANDOM_INIT_SEED,
    )
    return WorldModel.build(
        spec_from_name("small"), config.device, config.torch_dtype, seed=RANDOM_INIT_SEED
    )
