"""ROS parameters <-> typed config dataclasses.

Every field of a node's config dataclass becomes a declared ROS parameter (nested dataclasses
become dotted names, e.g. `safety.max_translation_m`), defaulting to the dataclass default. The
launch file passes config/<file>.yaml (ROS parameter format) so defaults, launch and demo agree;
the values are read back and validated by the same `from_mapping` the pure core uses.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from vjepa2_ros.config import ConfigError, from_mapping, load_yaml

T = TypeVar("T")


def flatten(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1} (ROS parameter names)."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    """{"a.b": 1} -> {"a": {"b": 1}}."""
    nested: dict[str, Any] = {}
    for name, value in flat.items():
        *parents, leaf = name.split(".")
        cursor = nested
        for part in parents:
            cursor = cursor.setdefault(part, {})
        cursor[leaf] = value
    return nested


def _ros_value(value: Any) -> Any:
    """ROS parameters hold scalars, strings and homogeneous lists; tuples become lists."""
    if isinstance(value, tuple):
        return list(value)
    return value


def node_parameters(file: str, node_name: str) -> dict[str, Any]:
    """The flat ROS parameters for `node_name` from config/<file> (`<node>: ros__parameters:`)."""
    data = load_yaml(file)
    section = data.get(node_name) or data.get("/**") or {}
    params = section.get("ros__parameters", {}) if isinstance(section, dict) else {}
    return flatten(params)


def declare_config(node, cls: type[T], overrides: dict[str, Any] | None = None) -> T:
    """Declare one ROS parameter per config field and return the validated config.

    `overrides` (flat names) replace the dataclass defaults before declaration, for callers that
    build nodes in-process (tests, the demo runner) with parameters from config files.
    """
    from rcl_interfaces.msg import ParameterDescriptor

    defaults = flatten(dataclasses.asdict(cls()))
    defaults.update(overrides or {})
    unknown = sorted(set(overrides or {}) - set(flatten(dataclasses.asdict(cls()))))
    if unknown:
        raise ConfigError(f"{node.get_name()}: unknown parameter(s) {', '.join(unknown)}")
    values = {}
    for name, default in defaults.items():
        descriptor = ParameterDescriptor(
            dynamic_typing=default is None or isinstance(default, list)
        )
        param = node.declare_parameter(name, _ros_value(default), descriptor)
        values[name] = param.value
    return from_mapping(cls, unflatten(values), where=f"node {node.get_name()} parameters")
