"""Post-training on synthetic episodes: the loss falls, checkpoints load and resume exactly."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from vjepa2_ros.config import ConfigError
from vjepa2_ros.data.episodes import Episode
from vjepa2_ros.model.presets import PRESETS, EncoderSize, PredictorSize
from vjepa2_ros.pose.tensors import action_between
from vjepa2_ros.train.trainer import TrainConfig, Trainer, load_train_config, lr_at

# The small preset's layout at a tiny size: 32 px -> 4 tokens per frame, one block each.
TINY = replace(
    PRESETS["small"],
    name="tiny",
    img_size=32,
    encoder=EncoderSize(dim=64, depth=1, heads=1, mlp_hidden=128),
    predictor=PredictorSize(dim=64, depth=1, heads=1, mlp_hidden=128, max_steps=4),
)


def synthetic_episodes(n_episodes=3, length=10, seed=0) -> list[Episode]:
    """A bright square that moves with the end effector: frames are a function of the state."""
    rng = np.random.default_rng(seed)
    episodes = []
    for k in range(n_episodes):
        xy = np.cumsum(rng.uniform(-0.05, 0.05, (length, 2)), 0).clip(-0.15, 0.15)
        states = np.zeros((length, 7), np.float32)
        states[:, :2] = xy
        states[:, 2] = 0.3
        frames = np.full((length, 32, 32, 3), 30, np.uint8)
        px = ((xy + 0.15) / 0.3 * 24).astype(int)
        for t, (u, v) in enumerate(px):
            frames[t, v : v + 8, u : u + 8] = (250, 200, 50)
        actions = action_between(torch.from_numpy(states[:-1]), torch.from_numpy(states[1:]))
        episodes.append(
            Episode(
                f"synthetic#{k}", frames, states, actions.numpy(), np.arange(length) * 250_000_000
            )
        )
    return episodes


def config(tmp_path, **kw) -> TrainConfig:
    base = dict(
        output_dir=str(tmp_path / "run"),
        frames_per_clip=3,
        batch_size=4,
        steps=40,
        warmup_steps=4,
        lr=3e-3,
        start_lr=3e-4,
        progress=False,
        checkpoint_every=1000,
    )
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one thread is fastest, and fair to concurrent test runs on 2 cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def episodes():
    return synthetic_episodes()


def test_schedule_warms_up_linearly_then_decays_by_cosine(tmp_path):
    cfg = config(tmp_path, steps=100, warmup_steps=10, start_lr=1e-4, lr=1e-3, final_lr=0.0)
    assert lr_at(0, cfg) == pytest.approx(1e-4)
    assert lr_at(5, cfg) == pytest.approx(5.5e-4)
    assert lr_at(10, cfg) == pytest.approx(1e-3)
    assert lr_at(55, cfg) == pytest.approx(0.5e-3)  # half-way through the cosine
    assert lr_at(100, cfg) == pytest.approx(0.0, abs=1e-12)
    assert lr_at(30, cfg) == pytest.approx(0.5e-3 * (1 + math.cos(math.pi * 20 / 90)))


def test_training_lowers_the_loss_and_keeps_the_encoder_frozen(tmp_path, episodes):
    torch.manual_seed(0)
    trainer = Trainer(config(tmp_path, predictor_init="default"), spec=TINY)
    encoder_before = {k: v.clone() for k, v in trainer.model.encoder.state_dict().items()}
    data = trainer.prepare(episodes)
    assert data.latents.shape == (30, 4, 64)
    history = trainer.train(data)
    first = np.mean([h["loss"] for h in history[:5]])
    last = np.mean([h["loss"] for h in history[-5:]])
    assert last < 0.7 * first, (first, last)
    assert all(
        torch.equal(v, encoder_before[k]) for k, v in trainer.model.encoder.state_dict().items()
    )
    # The latent cache is on disk and reused.
    cached = list((tmp_path / "run" / "latents").glob("latents_*.pt"))
    assert len(cached) == 1
    again = trainer.prepare(episodes)
    assert torch.equal(again.latents, data.latents)


def test_copy_init_starts_at_the_copy_baseline_and_learns_to_beat_it(tmp_path, episodes):
    """The default start: the first loss is exactly copying frame t as frame t+1; then it drops."""
    trainer = Trainer(config(tmp_path), spec=TINY)
    data = trainer.prepare(episodes)
    z = data.batch(0, 4, trainer.cfg.seed, "cpu")[0].view(4, 3, 4, 64)
    copy_loss = (z[:, 1:] - z[:, :-1]).abs().mean() + (z[:, 1:] - z[:, :1]).abs().mean()
    history = trainer.train(data)
    assert math.isclose(history[0]["loss"], float(copy_loss), rel_tol=1e-4)
    last = np.mean([h["loss"] for h in history[-5:]])
    assert last < 0.85 * history[0]["loss"], (history[0]["loss"], last)


def test_checkpoint_loads_with_the_world_model_loader(tmp_path, episodes):
    checkpoint = pytest.importorskip(
        "vjepa2_ros.model.checkpoint", reason="needs the model branch's checkpoint loader"
    )
    trainer = Trainer(config(tmp_path, steps=3, warmup_steps=1), spec=TINY)
    trainer.train(trainer.prepare(episodes))
    path = trainer.save(tmp_path / "model.pt", with_optimizer=False)
    model = checkpoint.load_world_model(path, preset=TINY)
    z = trainer.model.encode(episodes[0].frames[:2])
    a = torch.zeros(1, 1, 7)
    s = torch.from_numpy(episodes[0].states[None, :1])
    trainer.model.eval()
    with torch.no_grad():
        expected = trainer.model.predict(z[:1], a, s)
        got = model.predict(model.encode(episodes[0].frames[:1]), a, s)
    assert torch.allclose(got, expected, atol=1e-5)
    saved = torch.load(path, weights_only=True)
    assert saved["step"] == 3 and saved["preset"] == "tiny" and "opt" not in saved


def test_resume_continues_exactly(tmp_path, episodes):
    cfg = config(tmp_path, steps=6, warmup_steps=2)
    straight = Trainer(cfg, spec=TINY)
    data = straight.prepare(episodes)
    straight.train(data)

    first = Trainer(cfg, spec=TINY)
    first.train(data, until=3, checkpoint=tmp_path / "latest.pt")
    resumed = Trainer(cfg, spec=TINY)
    resumed.resume(tmp_path / "latest.pt")
    assert resumed.step == 3
    resumed.train(data)

    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in straight.history[3:]]
    for k, v in straight.model.predictor.state_dict().items():
        assert torch.allclose(resumed.model.predictor.state_dict()[k], v, atol=1e-7), k


def test_resume_refuses_a_file_without_optimizer_state(tmp_path, episodes):
    trainer = Trainer(config(tmp_path, steps=1, warmup_steps=0), spec=TINY)
    path = trainer.save(tmp_path / "slim.pt", with_optimizer=False)
    with pytest.raises(ConfigError, match="opt"):
        Trainer(config(tmp_path), spec=TINY).resume(path)


def test_config_file_and_errors():
    cfg = load_train_config("train.yaml", steps=10, warmup_steps=2)
    assert cfg.preset == "small" and cfg.steps == 10 and cfg.betas == (0.9, 0.999)
    with pytest.raises(ConfigError, match="auto_steps"):
        TrainConfig(frames_per_clip=2, auto_steps=2)
    with pytest.raises(ConfigError, match="preset"):
        TrainConfig(preset="huge")


def test_a_model_handed_in_keeps_its_weights(tmp_path, episodes):
    """The copy init is for a random start only: a given (e.g. pretrained) predictor is not reset."""
    from vjepa2_ros.model.world_model import WorldModel

    model = WorldModel.build(TINY, seed=3)
    before = model.predictor.action_encoder.weight.clone()
    trainer = Trainer(config(tmp_path, steps=1, warmup_steps=0, lr=1e-12, start_lr=0.0), model)
    trainer.train(trainer.prepare(episodes))
    assert torch.allclose(trainer.model.predictor.action_encoder.weight, before, atol=1e-6)
