"""Typed configuration: dataclasses filled from config/*.yaml (or ROS parameters), validated.

Every tunable number lives in a dataclass field with a default; `from_mapping` turns a plain
mapping (a YAML section, a dict of ROS parameters) into that dataclass, checking names and types
so a typo or a wrong unit fails at start-up with a message naming the file, key and fix.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from vjepa2_ros.paths import config_dir

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value is missing, misspelt or out of range; the message says which."""


def resolve_config(path: str | Path) -> Path:
    """A config file: the path itself if it exists, else the name in the package's config/."""
    path = Path(path).expanduser()
    if not path.is_absolute() and not path.exists():
        path = config_dir() / path
    return path


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a name without a folder is looked up in the package's config/."""
    path = resolve_config(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: unexpected value {value!r}")
    if origin is typing.Literal:
        if value not in args:
            choices = ", ".join(repr(a) for a in args)
            raise ConfigError(f"{where}: {value!r} is not one of {choices}")
        return value
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return from_mapping(hint, value, where)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}")
            return tuple(
                _coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args))
            )
        item = args[0] if args else Any
        items = [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def from_mapping(cls: type[T], data: Mapping[str, Any], where: str = "config") -> T:
    """Build dataclass `cls` from `data`; unknown keys and wrong types raise ConfigError.

    Missing keys keep the dataclass default. After construction the dataclass may validate
    ranges in `__post_init__` (raise ConfigError there).
    """
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        known = ", ".join(sorted(fields))
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known keys: {known}")
    hints = typing.get_type_hints(cls)
    kwargs = {name: _coerce(value, hints[name], f"{where}.{name}") for name, value in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def load_section(cls: type[T], path: str | Path, section: str | None = None) -> T:
    """Load `section` of a YAML file (or the whole file) into dataclass `cls`."""
    data = load_yaml(path)
    where = str(path)
    if section is not None:
        if section not in data:
            raise ConfigError(
                f"{path}: no section {section!r}; sections: {', '.join(sorted(data))}"
            )
        data = data[section] or {}
        where = f"{path}:{section}"
    return from_mapping(cls, data, where)


def to_mapping(obj: Any) -> dict[str, Any]:
    """The inverse of from_mapping, for ROS parameters and run summaries."""
    return dataclasses.asdict(obj)


def require(condition: bool, message: str) -> None:
    """Range checks in __post_init__: raise ConfigError(message) unless condition holds."""
    if not condition:
        raise ConfigError(message)


def require_in(name: str, value: float, high: float, unit: str = "", low: float = 0.0) -> None:
    """The common range check: `low < value <= high`, else ConfigError naming it and its range."""
    require(
        low < value <= high,
        f"{name} must be in ({low:g}, {high:g}]{' ' + unit if unit else ''}, got {value}",
    )


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1} (ROS parameter names)."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """{"a.b": 1} -> {"a": {"b": 1}}."""
    nested: dict[str, Any] = {}
    for name, value in flat.items():
        *parents, leaf = name.split(".")
        cursor = nested
        for part in parents:
            cursor = cursor.setdefault(part, {})
        cursor[leaf] = value
    return nested


def node_parameters(files: str | Path | list[str | Path], node_name: str) -> dict[str, Any]:
    """The flat ROS parameters of `node_name` from one or more ROS parameter files.

    Each file holds `<node>: ros__parameters: {...}` and/or `/**: ros__parameters: {...}` (every
    node); later files override earlier ones, as `--params-file` does for a node. A shared group
    in `/**` (graph.SHARED_GROUPS, e.g. `model.*`) reaches only the nodes that declare it; the
    others ignore it, as ROS does.
    """
    from vjepa2_ros.graph import foreign_shared_key

    params: dict[str, Any] = {}
    for file in [files] if isinstance(files, (str, Path)) else files:
        data = load_yaml(file)
        everyone = section_parameters(data, "/**")
        params.update({k: v for k, v in everyone.items() if not foreign_shared_key(node_name, k)})
        for name in (node_name, f"/{node_name}"):
            params.update(section_parameters(data, name))
    return params


def section_parameters(data: Mapping[str, Any], section: str) -> dict[str, Any]:
    """The flat parameters of one section (`<node>` or `/**`) of a loaded ROS parameter file."""
    values = data.get(section) or {}
    values = values.get("ros__parameters", {}) if isinstance(values, Mapping) else {}
    return flatten(values) if isinstance(values, Mapping) else {}


def load_node_config(cls: type[T], files: str | Path | list[str | Path], node_name: str) -> T:
    """A node's typed config from its ROS parameter file(s), without ROS (sim rig, tools)."""
    where = f"{files}:{node_name}.ros__parameters"
    return from_mapping(cls, unflatten(node_parameters(files, node_name)), where)


_FIELD_COMMENT = re.compile(r"^\s+(\w+)\s*:[^#]*#\s*(.+?)\s*$")


def field_docs(cls, prefix: str = "") -> dict[str, str]:
    """{flat name: the comment after the field in the dataclass source} (parameter descriptions).

    The config dataclasses document each field with a trailing comment; ROS shows it as the
    parameter's description (`ros2 param describe`), so there is one text for both.
    """
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            lines = inspect.getsource(klass).splitlines()
        except (OSError, TypeError):
            continue
        for line in lines:
            match = _FIELD_COMMENT.match(line)
            if match:
                docs[f"{prefix}{match.group(1)}"] = match.group(2)
    for f in dataclasses.fields(cls):
        hint = typing.get_type_hints(cls).get(f.name)
        if dataclasses.is_dataclass(hint):
            docs.update(field_docs(hint, f"{prefix}{f.name}."))
    return docs
