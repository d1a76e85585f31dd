"""GraphedEncoder: batch-1 encoding replayed from a CUDA graph; the CPU falls back to eager."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vjepa2_ros.model.checkpoint import world_model_from_config
from vjepa2_ros.model.config import ModelConfig
from vjepa2_ros.model.cuda_graph import GraphedEncoder
from vjepa2_ros.model.preprocess import preprocess_frames


@pytest.fixture(scope="module")
def small():
    return world_model_from_config(ModelConfig("small"))


def frame(seed: int, h: int = 120, w: int = 160) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_cpu_falls_back_to_eager_with_the_same_numbers(small):
    graphed = GraphedEncoder(small)
    assert not graphed.enabled
    with torch.inference_mode():
        want = small.encode(frame(0))
    got = graphed.encode(frame(0))
    assert got.shape == (1, small.spec.tokens_per_frame, small.spec.encoder.dim)
    assert torch.equal(got, want) and graphed.captured_shapes == []
    batch = np.stack([frame(1), frame(2)])
    assert graphed(batch).shape == (2, 64, 128)
    with pytest.raises(ValueError, match="GPU"):
        GraphedEncoder(small, enabled=True)


def test_preprocess_constants_are_made_once_per_device():
    from vjepa2_ros.model import preprocess

    preprocess_frames(frame(3), 128)
    first = preprocess._NORM["cpu"]
    with torch.inference_mode():
        preprocess_frames(frame(4), 128)
    assert preprocess._NORM["cpu"] is first and not first[0].is_inference()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA GPU")
def test_graph_replay_matches_eager_on_the_gpu():
    model = world_model_from_config(ModelConfig("small", "", "cuda", "float32"))
    graphed = GraphedEncoder(model)
    with torch.inference_mode():
        for seed in range(3):  # new inputs go through the same captured graph
            want = model.encode(frame(seed))
            got = graphed.encode(frame(seed))
            assert (got - want).abs().max() < 1e-4
    assert graphed.captured_shapes == [(1, 120, 160, 3)]
    first = graphed.encode(frame(0))
    graphed.encode(frame(1))
    assert (first - graphed.encode(frame(0))).abs().max() < 1e-4, "outputs are copies"
