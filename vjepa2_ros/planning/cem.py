"""Cross-entropy method (CEM) in the world model's latent space, reference semantics, batched.

One call plans H actions from the current latent and state towards a goal latent:
1. A Gaussian over action sequences [H, 7]: mean 0 (or the previous plan shifted, warm start);
   std `maxnorm` for xyz, `gripper_std` for the gripper, 0 for rotation unless `plan_rotation`.
2. Each iteration draws N sequences (eps ~ randn(H, N, active dims), one draw per iteration from
   a generator seeded with `seed + call index`), clips xyz to +-maxnorm, rotation to
   +-max_rotation and the gripper to +-gripper_clip, rolls all of them out in one predictor call
   per horizon step (chunked), and scores them by L1 energy of the final predicted frame.
3. The top-k lowest energies are the elites; mean <- (1-m) * elite_mean + m * mean and
   std <- (1-m) * elite_std + m * std (unbiased std), with separate momenta for the gripper.
4. The returned plan is the mean with small gripper deltas (|g| < 0.25) set to 0; the robot
   executes its first step and the next call plans again (receding horizon).

Differences from the reference notebook (facts checked against its cem()): the sampling mean
is rolled out as one extra candidate per iteration (never an elite) and the returned plan once
at the end, for the diagnostics (+1 forward per iteration, +H; evaluate_plan=false gives exactly
N x iterations x H); pose math is batched torch float32 instead of scipy per candidate; eps is
drawn as one [H, N, dims] tensor per iteration (for H = 1 the same numbers as the reference's
[N, 4] draw from the same generator state). Its `close_gripper` and its `axis` pin are
`plan(gripper=...)` (planning/gripper_schedule.py): the gripper held or set, x, y, z pinned to 0
(in-place modes, or the axes a schedule leaves unplanned: `hold/z`); `axis` pins to values other
than 0 are not implemented. Its cem() defaults (momentum_mean 0.25, momentum_std 0.95) differ
from what its notebook passes (0.15, 0.15); we use the notebook's values.

Everything inside the iteration loop stays on the device: no .item(), no host copies, no Python
loop over candidates. Diagnostics are stacked and copied to the host once, at the end. The only
exception is the opt-in early stop, which must read one flag per iteration to decide to stop.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from vjepa2_ros.config import require
from vjepa2_ros.planning.fast_rollout import engine_for
from vjepa2_ros.planning.gripper_schedule import GRIPPER, GripperSchedule
from vjepa2_ros.planning.rollout import (
    ApplyAction,
    RolloutCost,
    default_apply_action,
    rollout_energies,
)

XYZ = slice(0, 3)
ROT = slice(3, 6)


@dataclass
class CEMConfig:
    """Search budget and CEM hyper-parameters (defaults: the reference notebook)."""

    samples: int = 400  # candidate action sequences per iteration (N)
    iterations: int = 10
    horizon: int = 2  # actions per sequence (H)
    topk: int = 10  # elites per iteration
    maxnorm: float = 0.05  # m; xyz clip and initial xyz std
    gripper_clip: float = 0.75  # gripper delta samples clipped to +-this
    gripper_std: float = 1.0  # initial gripper std
    momentum_mean: float = 0.15  # weight of the old mean (xyz, rotation)
    momentum_std: float = 0.15
    momentum_mean_gripper: float = 0.15
    momentum_std_gripper: float = 0.15
    plan_rotation: bool = False  # reference: rotation deltas fixed to 0
    max_rotation: float = 0.1  # rad; rotation clip and initial std when plan_rotation
    gripper_round_threshold: float = 0.25  # returned |gripper delta| below this becomes 0
    chunk_size: int = 0  # candidates per predictor call (0: all); bounds activation memory
    seed: int = 0  # call k of a planner (since reset) draws from seed + k
    warm_start: bool = False  # seed the mean with the previous plan shifted by one step
    warm_start_fill: Literal["zero", "repeat"] = "zero"  # the vacated last step: 0 or a copy
    early_stop: bool = False  # stop when the best energy stops improving (one sync/iteration)
    early_stop_patience: int = 2  # iterations without improvement before stopping
    early_stop_rel_tol: float = 1e-3  # improvement below this fraction counts as none
    early_stop_min_iterations: int = 3
    evaluate_plan: bool = True  # also roll out the mean each iteration and the returned plan
    # How rollouts run (planning/fast_rollout.py); the search is the same. Only the package's
    # WorldModel has these paths; synthetic world models always use their predict().
    kv_cache: bool = True  # horizon >= 2: reuse earlier steps' keys/values, no mask
    compile: bool = False  # torch.compile predictor + norm + energy per step (GPU; minutes once)
    compile_backend: Literal["inductor", "aot_eager", "eager"] = "inductor"
    compile_mode: Literal[
        "default", "max-autotune-no-cudagraphs", "max-autotune", "reduce-overhead"
    ] = "default"
    fp8_validation: str = ""  # FP8 predictor GEMMs; path of a passing vjepa2-validate-precision

    def __post_init__(self) -> None:
        require(self.samples >= 2, f"samples must be >= 2, got {self.samples}")
        require(
            2 <= self.topk <= self.samples,
            f"topk must be in [2, samples={self.samples}] (elite std needs two), got {self.topk}",
        )
        require(self.iterations >= 1, f"iterations must be >= 1, got {self.iterations}")
        require(self.horizon >= 1, f"horizon must be >= 1, got {self.horizon}")
        require(self.maxnorm > 0, f"maxnorm must be > 0 metres, got {self.maxnorm}")
        require(self.gripper_clip >= 0, f"gripper_clip must be >= 0, got {self.gripper_clip}")
        require(self.gripper_std >= 0, f"gripper_std must be >= 0, got {self.gripper_std}")
        require(self.max_rotation >= 0, f"max_rotation must be >= 0 rad, got {self.max_rotation}")
        for name in (
            "momentum_mean",
            "momentum_std",
            "momentum_mean_gripper",
            "momentum_std_gripper",
        ):
            value = getattr(self, name)
            require(0.0 <= value < 1.0, f"{name} must be in [0, 1), got {value}")
        require(
            self.chunk_size >= 0, f"chunk_size must be >= 0 (0: no chunking), got {self.chunk_size}"
        )
        require(self.early_stop_patience >= 1, "early_stop_patience must be >= 1")
        require(self.early_stop_rel_tol >= 0, "early_stop_rel_tol must be >= 0")
        require(self.early_stop_min_iterations >= 1, "early_stop_min_iterations must be >= 1")
        require(
            self.warm_start_fill in ("zero", "repeat"),
            f"warm_start_fill must be 'zero' or 'repeat', got {self.warm_start_fill!r}",
        )
        backends = ("inductor", "aot_eager", "eager")
        require(
            self.compile_backend in backends,
            f"compile_backend must be one of {backends}, got {self.compile_backend!r}",
        )
        modes = ("default", "max-autotune-no-cudagraphs", "max-autotune", "reduce-overhead")
        require(
            self.compile_mode in modes,
            f"compile_mode must be one of {modes}, got {self.compile_mode!r}",
        )


@dataclass
class PlanDiagnostics:
    """Per-iteration numbers of one plan() call (host numpy, copied once at the end)."""

    mean_energy: np.ndarray  # [I] energy of the sampling mean at the start of each iteration
    best_energy: np.ndarray  # [I] lowest candidate energy of each iteration
    elite_std: np.ndarray  # [I, H, 7] std of the elites of each iteration
    iteration_s: np.ndarray  # [I] wall time per iteration
    iterations: int  # iterations run (fewer than configured after an early stop)
    early_stopped: bool
    predictor_calls: int  # batched predictor invocations, including plan evaluation
    predictor_forwards: int  # candidate-steps evaluated (the paper budget: 8,000 + 10 + 1)
    latency_s: float  # wall time of plan(), host copy included
    seed: int  # generator seed of this call

    @property
    def elite_spread_m(self) -> np.ndarray:
        """[I] xyz spread of the first-step elites in metres (norm of the per-axis std)."""
        return np.linalg.norm(self.elite_std[:, 0, XYZ], axis=-1)


@dataclass
class PlanResult:
    action: np.ndarray  # [7] float64: first step of the returned plan (execute this)
    plan: np.ndarray  # [H, 7] returned plan: the mean, gripper rounded
    mean: np.ndarray  # [H, 7] final mean before rounding (warm-start seed)
    energy: float  # energy of the returned plan (nan with evaluate_plan off)
    best_energy: float  # lowest energy of any sampled candidate
    best_plan: np.ndarray  # [H, 7] that candidate
    diagnostics: PlanDiagnostics = field(repr=False)


class PlanningError(RuntimeError):
    """The world model produced non-finite energies or a non-finite plan: do not execute it."""


class _IterationClock:
    """Per-iteration wall times without host syncs: CUDA events on GPU, perf_counter on CPU."""

    def __init__(self, device: torch.device) -> None:
        self._cuda = device.type == "cuda"
        self._marks: list = []

    def mark(self) -> None:
        if self._cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self._marks.append(event)
        else:
            self._marks.append(time.perf_counter())

    def intervals_s(self) -> np.ndarray:
        if self._cuda:
            torch.cuda.synchronize()
            ms = [a.elapsed_time(b) for a, b in zip(self._marks, self._marks[1:])]
            return np.asarray(ms, dtype=np.float64) / 1e3
        return np.diff(np.asarray(self._marks, dtype=np.float64))


class CEMPlanner:
    """Latent-space CEM over a world model with `predict(z_ctx, actions, states)`.

    `apply_action(state[..., 7], action[..., 7])` advances states between horizon steps
    (default: vjepa2_ros.pose.tensors.apply_action). Not thread-safe: one planner per caller.
    """

    def __init__(
        self,
        world_model,
        config: CEMConfig,
        device: str | torch.device = "cpu",
        apply_action: ApplyAction | None = None,
    ) -> None:
        self.world_model = world_model
        self.config = config
        self.device = torch.device(device)
        self.apply_action = apply_action or default_apply_action()
        c = config
        f32 = dict(dtype=torch.float32, device=self.device)
        rot = c.max_rotation if c.plan_rotation else 0.0
        self._init_std = torch.tensor([c.maxnorm] * 3 + [rot] * 3 + [c.gripper_std], **f32)
        self._hi = torch.tensor([c.maxnorm] * 3 + [rot] * 3 + [c.gripper_clip], **f32)
        self._lo = -self._hi
        self._m_mean = torch.tensor([c.momentum_mean] * 6 + [c.momentum_mean_gripper], **f32)
        self._m_std = torch.tensor([c.momentum_std] * 6 + [c.momentum_std_gripper], **f32)
        self._calls = 0
        self._prev_mean: torch.Tensor | None = None
        # The compiled / KV-cached engine where the config asks for it and the model has one.
        self.engine = engine_for(world_model, config)

    def _energies(self, z_now, state, actions, z_goal, chunk_size: int = 0) -> RolloutCost:
        if self.engine is None:
            return rollout_energies(
                self.world_model, z_now, state, actions, z_goal, self.apply_action, chunk_size
            )
        return self.engine.energies(z_now, state, actions, z_goal, self.apply_action, chunk_size)

    def reset(self) -> None:
        """Forget the previous plan (no warm start) and restart the seed sequence.

        Call on a new goal or sub-goal, after the robot was stopped or moved by hand.
        """
        self._calls = 0
        self._prev_mean = None

    @property
    def active_dims(self) -> int:
        """Sampled dimensions per step: xyz + gripper (4), or all 7 with plan_rotation."""
        return 7 if self.config.plan_rotation else 4

    def _to_full(self, x: torch.Tensor) -> torch.Tensor:
        """[..., active] -> [..., 7], rotation columns exactly 0 unless planned."""
        if self.config.plan_rotation:
            return x
        zeros = torch.zeros(*x.shape[:-1], 3, dtype=x.dtype, device=x.device)
        return torch.cat([x[..., :3], zeros, x[..., 3:]], dim=-1)

    def _from_full(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.plan_rotation:
            return x
        return torch.cat([x[..., :3], x[..., 6:]], dim=-1)

    def initial_mean(self) -> torch.Tensor:
        """[H, 7] mean of the first iteration: zeros, or the previous plan shifted (warm start)."""
        c = self.config
        zeros = torch.zeros(c.horizon, 7, dtype=torch.float32, device=self.device)
        prev = self._prev_mean
        if not c.warm_start or prev is None:
            return zeros
        fill = prev[-1:] if c.warm_start_fill == "repeat" else zeros[:1]
        return torch.cat([prev[1:], fill], dim=0)

    def initial_std(self) -> torch.Tensor:
        """[H, 7] std of the first iteration (maxnorm xyz, gripper_std, rotation 0 or max)."""
        return self._init_std.expand(self.config.horizon, 7).clone()

    def sample(
        self, mean: torch.Tensor, std: torch.Tensor, gen: torch.Generator, fixed=None
    ) -> torch.Tensor:
        """One iteration's candidates [N, H, 7]: mean + std * eps (one [H, N, dims] draw),
        clipped; `fixed` (GripperSchedule.fixed) then sets the entries it fixes."""
        c = self.config
        eps = torch.randn(
            (c.horizon, c.samples, self.active_dims), generator=gen, device=self.device
        )
        drawn = self._from_full(mean)[:, None] + self._from_full(std)[:, None] * eps  # [H, N, A]
        samples = torch.clamp(self._to_full(drawn).transpose(0, 1), self._lo, self._hi)
        return samples if fixed is None else _apply_schedule(samples, fixed)

    def _check_inputs(self, z_now, state_now, z_goal) -> tuple[torch.Tensor, ...]:
        if not isinstance(z_now, torch.Tensor) or z_now.dim() != 2:
            raise ValueError(
                f"z_now must be a [tokens, channels] tensor, got {getattr(z_now, 'shape', z_now)!r}"
            )
        if not isinstance(z_goal, torch.Tensor) or tuple(z_goal.shape) != tuple(z_now.shape):
            raise ValueError(
                f"goal latent {tuple(getattr(z_goal, 'shape', ()))} must have the shape of the "
                f"current latent {tuple(z_now.shape)}: encode both with the same model"
            )
        state = torch.as_tensor(np.asarray(state_now, dtype=np.float32)).reshape(-1)
        if state.numel() != 7:
            raise ValueError(
                f"state_now must have 7 values (x y z roll pitch yaw gripper), got {state.numel()}"
            )
        if not bool(torch.isfinite(state).all()):
            raise ValueError(f"state_now has non-finite values {state.tolist()}: refusing to plan")
        # Context in the predictor's dtype (a float32 latent from ROS would otherwise make every
        # rollout context float32); the goal in float32, where the energy is computed.
        z_now = z_now.to(self.device, getattr(self.world_model, "dtype", z_now.dtype))
        z_goal = z_goal.to(self.device, torch.float32)
        if not bool(torch.isfinite(z_now).all() & torch.isfinite(z_goal).all()):
            raise ValueError(
                "latent has NaN/inf values (encoder or message fault): refusing to plan"
            )
        return z_now, z_goal, state.to(self.device)

    @torch.inference_mode()
    def score(self, z_now: torch.Tensor, state_now, z_goal: torch.Tensor, actions) -> torch.Tensor:
        """Energies [B] (float32, device) of given candidates [B, H, 7] through this planner's
        rollout path: what plan() ranks them by. For comparisons such as precision checks."""
        z_now, z_goal, state = self._check_inputs(z_now, state_now, z_goal)
        actions = torch.as_tensor(actions, dtype=torch.float32, device=self.device)
        return self._energies(z_now, state, actions, z_goal, self.config.chunk_size).energies

    @torch.inference_mode()
    def plan(
        self,
        z_now: torch.Tensor,
        state_now,
        z_goal: torch.Tensor,
        gripper: GripperSchedule | None = None,
    ) -> PlanResult:
        """Plan H actions from latent z_now [tokens, channels] and state [7] towards z_goal.

        `gripper`: what the plan may do with the gripper (planning/gripper_schedule.py);
        None or `free` is the reference search."""
        t0 = time.perf_counter()
        c = self.config
        z_now, z_goal, state = self._check_inputs(z_now, state_now, z_goal)
        seed = c.seed + self._calls
        self._calls += 1
        gen = torch.Generator(device=self.device)
        gen.manual_seed(seed)
        clock = _IterationClock(self.device)
        fixed = None if gripper is None else gripper.fixed(c.horizon, self.device)
        out = self._search(z_now, state, z_goal, gen, self.initial_mean(), clock, fixed)
        result = self._to_host(out, clock, seed, t0)  # raises before a bad plan seeds the next
        self._prev_mean = out["mean"]
        return result

    def _search(self, z_now, state, z_goal, gen, mean, clock, fixed=None) -> dict:
        """The CEM iterations and the plan's evaluation; device tensors in, device tensors out.

        No host syncs here unless early_stop is on (test_cem checks this). `fixed`: the
        gripper schedule's (mask, values), applied to the mean, every sample and the plan.
        """
        c = self.config
        if fixed is not None:
            mean = _apply_schedule(mean, fixed)
        n = c.samples
        std = self.initial_std()
        best_energy = torch.full((), float("inf"), device=self.device)
        best_plan = mean.clone()
        rec_mean_e, rec_best_e, rec_std = [], [], []
        calls = forwards = 0
        stalled = 0
        early_stopped = False
        clock.mark()
        for it in range(c.iterations):
            samples = self.sample(mean, std, gen, fixed)
            candidates = torch.cat([samples, mean.unsqueeze(0)]) if c.evaluate_plan else samples
            cost = self._energies(z_now, state, candidates, z_goal, c.chunk_size)
            calls += cost.predictor_calls
            forwards += cost.predictor_forwards
            top_e, top_i = torch.topk(cost.energies[:n], c.topk, largest=False, sorted=True)
            elites = samples.index_select(0, top_i)  # [k, H, 7]
            elite_mean = elites.mean(dim=0)
            elite_std = elites.std(dim=0, correction=1)  # unbiased, as torch.std in the reference
            mean = elite_mean * (1.0 - self._m_mean) + mean * self._m_mean
            std = elite_std * (1.0 - self._m_std) + std * self._m_std

            previous_best = best_energy
            improved = top_e[0] < best_energy
            best_energy = torch.where(improved, top_e[0], best_energy)
            best_plan = torch.where(improved, elites[0], best_plan)
            nan = torch.full_like(top_e[0], float("nan"))
            rec_mean_e.append(cost.energies[n] if c.evaluate_plan else nan)
            rec_best_e.append(top_e[0])
            rec_std.append(elite_std)
            clock.mark()
            if c.early_stop and it > 0:
                gain = previous_best - top_e[0]
                # The one deliberate host sync: deciding to stop needs the value.
                no_gain = bool(gain <= c.early_stop_rel_tol * previous_best.abs())
                stalled = stalled + 1 if no_gain else 0
                if stalled >= c.early_stop_patience and it + 1 >= c.early_stop_min_iterations:
                    early_stopped = True
                    break

        g = mean[:, GRIPPER]
        rounded_g = torch.where(g.abs() < c.gripper_round_threshold, torch.zeros_like(g), g)
        plan = torch.cat([mean[:, :GRIPPER], rounded_g.unsqueeze(-1)], dim=-1)
        if fixed is not None:
            plan = _apply_schedule(plan, fixed)
        if c.evaluate_plan:
            final = self._energies(z_now, state, plan.unsqueeze(0), z_goal)
            calls += final.predictor_calls
            forwards += final.predictor_forwards
            plan_energy = final.energies[0]
        else:
            plan_energy = torch.full((), float("nan"), device=self.device)
        return dict(
            plan=plan,
            mean=mean,
            best_plan=best_plan,
            plan_energy=plan_energy,
            best_energy=best_energy,
            mean_energy=torch.stack(rec_mean_e),
            best_energies=torch.stack(rec_best_e),
            elite_std=torch.stack(rec_std),
            calls=calls,
            forwards=forwards,
            early_stopped=early_stopped,
        )

    def _to_host(self, out: dict, clock: _IterationClock, seed: int, t0: float) -> PlanResult:
        c = self.config
        # One host copy for everything the caller reads.
        keys = ["plan", "mean", "best_plan", "plan_energy", "best_energy"]
        keys += ["mean_energy", "best_energies", "elite_std"]
        parts = [out[k].reshape(-1).double() for k in keys]
        flat = torch.cat(parts).cpu().numpy()
        host = dict(zip(keys, np.split(flat, np.cumsum([p.numel() for p in parts])[:-1])))
        iters = host["best_energies"].size
        h = c.horizon
        diagnostics = PlanDiagnostics(
            mean_energy=host["mean_energy"],
            best_energy=host["best_energies"],
            elite_std=host["elite_std"].reshape(iters, h, 7),
            iteration_s=clock.intervals_s(),
            iterations=iters,
            early_stopped=out["early_stopped"],
            predictor_calls=out["calls"],
            predictor_forwards=out["forwards"],
            latency_s=time.perf_counter() - t0,
            seed=seed,
        )
        plan = host["plan"].reshape(h, 7)
        finite = np.isfinite(plan).all() and np.isfinite(host["best_energy"][0])
        if not finite or (c.evaluate_plan and not np.isfinite(host["plan_energy"][0])):
            raise PlanningError(
                "world model predictions gave non-finite energies or actions "
                f"(best energy {host['best_energy'][0]}, plan energy {host['plan_energy'][0]}): "
                "no action returned; check the checkpoint, dtype (float16 overflow?) and latents"
            )
        return PlanResult(
            action=plan[0].copy(),
            plan=plan,
            mean=host["mean"].reshape(h, 7),
            energy=float(host["plan_energy"][0]),
            best_energy=float(host["best_energy"][0]),
            best_plan=host["best_plan"].reshape(h, 7),
            diagnostics=diagnostics,
        )


def _apply_schedule(actions: torch.Tensor, fixed) -> torch.Tensor:
    """`actions` [..., H, 7] with the entries the gripper schedule fixes set to its values."""
    mask, values = fixed
    return torch.where(mask, values, actions)
