"""Named CEM budgets (config/budgets.yaml): `paper`, `notebook`, `fast`, or your own.

The file maps a budget name to CEMConfig fields; fields a budget leaves out keep the CEMConfig
defaults (the reference notebook's hyper-parameters).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vjepa2_ros.config import ConfigError, from_mapping, load_yaml
from vjepa2_ros.planning.cem import CEMConfig

BUDGETS_FILE = "budgets.yaml"


def budget_names(path: str | Path = BUDGETS_FILE) -> list[str]:
    """The budget names defined in `path` (default: config/budgets.yaml)."""
    return sorted(load_yaml(path))


def load_budget(name: str, path: str | Path = BUDGETS_FILE, **overrides: Any) -> CEMConfig:
    """CEMConfig for budget `name`; `overrides` (CEMConfig fields) replace the file's values."""
    data = load_yaml(path)
    if name not in data:
        raise ConfigError(
            f"unknown CEM budget {name!r} in {path}; known budgets: {', '.join(sorted(data))}. "
            f"Pick one of them or add a section named {name!r} to {path}."
        )
    section = dict(data[name] or {})
    section.update(overrides)
    return from_mapping(CEMConfig, section, where=f"{path}:{name}")
