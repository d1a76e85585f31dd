"""ROS parameters <-> typed config dataclasses.

Every field of a node's config dataclass becomes a declared ROS parameter (nested dataclasses
become dotted names, e.g. `safety.max_translation_m`), defaulting to the dataclass default. The
launch file passes config/<file>.yaml (ROS parameter format) so defaults, launch and demo agree;
the values are read back and validated by the same `from_mapping` the pure core uses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from vjepa2_ros.config import (  # noqa: F401 (node_parameters, flatten re-exported)
    ConfigError,
    field_docs,
    flatten,
    from_mapping,
    node_parameters,
    unflatten,
)

T = TypeVar("T")


def _ros_value(value: Any) -> Any:
    """ROS parameters hold scalars, strings and homogeneous lists; tuples become lists."""
    if isinstance(value, tuple):
        return list(value)
    return value


def declare_config(
    node,
    cls: type[T],
    overrides: dict[str, Any] | None = None,
    live: dict[str, Callable[[T], str | None]] | None = None,
) -> T:
    """Declare one ROS parameter per config field and return the validated config.

    `overrides` (flat names) replace the dataclass defaults before declaration, for callers that
    build nodes in-process (tests, the demo runner) with parameters from config files.

    `live`: parameters that `ros2 param set` may change while the node runs, each with a
    function that applies the new, validated config (return an error message to refuse). Every
    other parameter is declared read-only, so setting it is refused instead of silently ignored.
    """
    from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult

    live = live or {}
    docs = field_docs(cls)
    defaults = flatten(dataclasses.asdict(cls()))
    defaults.update(overrides or {})
    unknown = sorted(set(overrides or {}) - set(flatten(dataclasses.asdict(cls()))))
    unknown += sorted(set(live) - set(defaults))
    if unknown:
        raise ConfigError(f"{node.get_name()}: unknown parameter(s) {', '.join(unknown)}")
    values = {}
    for name, default in defaults.items():
        descriptor = ParameterDescriptor(
            description=docs.get(name, ""),
            additional_constraints="" if name in live else "read-only: restart the node to change",
            dynamic_typing=default is None or isinstance(default, list),
            read_only=name not in live,
        )
        param = node.declare_parameter(name, _ros_value(default), descriptor)
        values[name] = param.value
    where = f"node {node.get_name()} parameters"
    config = from_mapping(cls, unflatten(values), where=where)
    if live:
        state = {"values": values}

        def on_set(params):
            changed = {p.name: p.value for p in params if p.name in live}
            if not changed:
                return SetParametersResult(successful=True)
            candidate = {**state["values"], **changed}
            try:
                new = from_mapping(cls, unflatten(candidate), where=where)
            except ConfigError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
            for name in changed:
                error = live[name](new)
                if error:
                    return SetParametersResult(successful=False, reason=error)
            state["values"] = candidate
            return SetParametersResult(successful=True)

        node.add_on_set_parameters_callback(on_set)
    return config


def config_parameter_names(node_class) -> set[str]:
    """The ROS parameter names a node declares (from its `config_class`)."""
    return set(flatten(dataclasses.asdict(node_class.config_class())))
