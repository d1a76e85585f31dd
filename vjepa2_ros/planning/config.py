"""PlannerConfig: the planner node's parameters (config/planner.yaml), validated.

The node reads this with `declare_config(node, PlannerConfig, ...)`; `cem_config(spec)` turns
the named budget plus the per-run settings (seed, warm start, early stop, chunking, the GPU fast
path) into the CEMConfig the CEMPlanner takes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

from vjepa2_ros.config import ConfigError, require
from vjepa2_ros.model.config import ModelConfig
from vjepa2_ros.model.presets import ModelSpec, spec_from_name
from vjepa2_ros.planning.budgets import BUDGETS_FILE, budget_names, load_budget
from vjepa2_ros.planning.cem import CEMConfig
from vjepa2_ros.planning.input_gate import InputLimits
from vjepa2_ros.planning.rollout import candidates_per_chunk


@dataclass
class PlannerConfig:
    budget: str = "fast"  # a name in budgets_file: paper, notebook, fast
    budgets_file: str = BUDGETS_FILE  # in config/ unless a path
    rate_hz: float = 2.0  # planning cycles per second at most (one action per cycle)
    max_latent_age_s: float = 1.0  # skip a cycle when the newest latent is older than this
    max_state_age_s: float = 0.5  # ... or the newest /franka/ee_state is older than this
    # Plan only on a frame captured after the arm settled from the last action (/franka/motion).
    # false: for robot drivers that do not publish /franka/motion (then frames may show the arm
    # still moving from the previous action).
    require_settle: bool = True
    settle_timeout_s: float = 15.0  # no settle report this long after an action: say so
    state_match_s: float = 0.05  # ee_state paired with a frame lies at most this far from its stamp
    torch_threads: int = 0  # CPU threads for planning; 0: torch's default (all cores)
    nice: int = 10  # scheduling priority (0..19): physics and robot control go first
    seed: int = 0
    warm_start: bool = False  # seed each plan with the previous one shifted by a step
    warm_start_fill: Literal["zero", "repeat"] = "zero"
    early_stop: bool = False
    chunk_size: int = 0  # candidates per predictor call; 0: all, or from memory_budget_gb
    memory_budget_gb: float = 0.0  # activation memory for rollouts; 0: no limit
    start_enabled: bool = True  # plan from start-up, or wait for /vjepa2/planner/enable
    model: ModelConfig = field(default_factory=ModelConfig)  # config/model.yaml, shared
    # GPU fast path (CEMConfig fields of the same names; README "GPU fast path").
    kv_cache: bool = True  # horizon >= 2: cached keys/values instead of re-running the context
    compile: bool = False  # torch.compile the rollout steps (first plan takes minutes)
    compile_mode: Literal[
        "default", "max-autotune-no-cudagraphs", "max-autotune", "reduce-overhead"
    ] = "default"
    fp8_validation: str = ""  # FP8 predictor GEMMs, only with this passing validation report

    def __post_init__(self) -> None:
        require(self.rate_hz > 0, f"rate_hz must be > 0, got {self.rate_hz}")
        require(
            self.max_latent_age_s > 0,
            f"max_latent_age_s must be > 0 s, got {self.max_latent_age_s}",
        )
        require(
            self.max_state_age_s > 0, f"max_state_age_s must be > 0 s, got {self.max_state_age_s}"
        )
        require(
            self.chunk_size >= 0, f"chunk_size must be >= 0 (0: no chunking), got {self.chunk_size}"
        )
        require(
            self.settle_timeout_s > 0,
            f"settle_timeout_s must be > 0 s, got {self.settle_timeout_s}",
        )
        require(
            0 < self.state_match_s <= 1.0,
            f"state_match_s must be in (0, 1] s, got {self.state_match_s}",
        )
        require(0 <= self.nice <= 19, f"nice must be in 0..19, got {self.nice}")
        require(
            0 <= self.torch_threads <= 256,
            f"torch_threads must be 0 (torch's default) or a thread count, got {self.torch_threads}",
        )
        names = budget_names(self.budgets_file)
        if self.budget not in names:
            raise ConfigError(
                f"planner budget {self.budget!r} is not in {self.budgets_file}; "
                f"known budgets: {', '.join(names)}"
            )

    def input_limits(self) -> InputLimits:
        """The planning-cycle gate's limits (vjepa2_ros/planning/input_gate.py)."""
        return InputLimits(
            max_latent_age_s=self.max_latent_age_s,
            max_state_age_s=self.max_state_age_s,
            require_settle=self.require_settle,
            settle_timeout_s=self.settle_timeout_s,
            state_match_s=self.state_match_s,
        )

    @property
    def torch_dtype(self) -> torch.dtype:
        return self.model.torch_dtype

    def cem_config(self, spec: ModelSpec | None = None) -> CEMConfig:
        """The named budget with this run's seed, warm start, early stop, chunking, fast path.

        With memory_budget_gb > 0 and chunk_size 0, the chunks are sized so the rollout's
        estimated activations fit the budget; that needs the model's sizes: `spec`, the world
        model's ModelSpec (the node passes its model's), else the configured preset's.
        """
        chunk = self.chunk_size
        horizon = load_budget(self.budget, self.budgets_file).horizon
        if chunk == 0 and self.memory_budget_gb > 0:
            spec = spec if spec is not None else spec_from_name(self.model.preset)
            budget = self.memory_budget_gb * 1e9
            chunk = candidates_per_chunk(spec, horizon, self.torch_dtype, budget, self.kv_cache)
        return load_budget(
            self.budget,
            self.budgets_file,
            seed=self.seed,
            warm_start=self.warm_start,
            warm_start_fill=self.warm_start_fill,
            early_stop=self.early_stop,
            chunk_size=chunk,
            kv_cache=self.kv_cache,
            compile=self.compile,
            compile_mode=self.compile_mode,
            fp8_validation=self.fp8_validation,
        )
