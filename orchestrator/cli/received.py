"""A file someone sent you is data: what `renga inspect` and `renga reproduce` accept from it.

A PNG or video renga wrote carries its config as JSON. Nothing in it is ever instantiated or
interpolated: each stage's backend is chosen by name among renga's own options of that group
(the `_target_` renga wrote is only matched against them), the rest must be plain values of
keys that option's schema has, and machine settings (`allow_download`, the lip-sync tool's
interpreter and checkout) come from this install and its command line, never from the file.
Anything else (`_target_` that names no renga backend, `_args_`, `_partial_`, `hydra`,
`${...}` outside prompt text, an unknown key) is refused with one line before Hydra composes.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf

from orchestrator.cli.configfile import character_problem
from orchestrator.cli.jobfile import ASSET, PATH_FIELDS, SPECIAL_KEYS, TEXT_FIELDS
from orchestrator.config import CONF_DIR
from orchestrator.engine.errors import UserError
from orchestrator.schema import RengaConfig, group_schemas
from orchestrator.stage import KeyframeRequest

# Settings of the machine that renders, not of the job: left to this install.
MACHINE_KEYS = frozenset({"allow_download"})
MACHINE_GROUP_KEYS = {"lipsync": frozenset({"root", "python"})}
# Keys whose value chooses a program to run: must be renga's own when they come from a file.
PROGRAM_KEYS = {"lipsync": ("tools",)}
SCALARS = {"seed": int, "mode": str}
SECTIONS = ("assemble", "contact_sheet", "memory")


@dataclass(frozen=True)
class Option:
    """One of renga's own group options (`video=draft`): its schema and its own YAML values."""

    name: str
    target: str | None
    schema: type
    values: dict[str, Any]


class Refused(UserError):
    """A received file asks for something renga does not take from a file."""

    def __init__(self, source: Path, key: str, message: str) -> None:
        super().__init__(str(source), f"{key}: {message} (a received file is read as data only)")


def job_config(data: dict[str, Any], source: Path) -> dict[str, Any]:
    """The embedded job config, checked: each backend group's section becomes the content of a
    group option file (`{"defaults": [<renga's option>, "_self_"], <plain values>}`)."""
    fields = _fields(RengaConfig)
    config: dict[str, Any] = {}
    for key, value in data.items():
        if key in MACHINE_KEYS:
            continue
        if key in BACKEND_GROUPS:
            config[key] = option_file(key, value, source, key)
        elif key in SCALARS:
            if not isinstance(value, SCALARS[key]) or isinstance(value, bool):
                raise Refused(source, key, f"expected a {SCALARS[key].__name__}")
            _check(value, SCALARS[key], key, source)
            config[key] = value
        elif key == "job" or key in SECTIONS:
            schema = fields[key]
            section = _without_target(value, schema, key, source) if key != "job" else value
            _check(section, schema, key, source)
            config[key] = section
        else:
            raise Refused(source, key, "not a key renga writes")
    return config


def keyframe_params(data: dict[str, Any], source: Path) -> dict[str, Any]:
    """A keyframe PNG's node params, checked: `request`, the backend as an option file of the
    `keyframes` group, and `image` (the user picture's path, or None)."""
    # `notes` (the shot's video prompt) is text kept beside the picture; reproducing ignores it.
    allowed = {"node", "request", "backend", "files", "notes"}
    for key in data:
        if key not in allowed:
            raise Refused(source, key, "not a key renga writes")
    try:
        request, backend = data["request"], data["backend"]
    except KeyError as exc:
        raise UserError(str(source), f"not a keyframe's renga metadata: {exc}") from None
    _check(request, KeyframeRequest, "request", source)
    required = {f.name for f in dataclasses.fields(KeyframeRequest) if _required(f)}
    missing = required - set(request)
    if missing:
        raise UserError(str(source), f"not a keyframe's renga metadata: {sorted(missing)}")
    files = data.get("files", {})
    _check(files, dict[str, str], "files", source)
    image = files.get("image")
    if image is not None and "${" in image and not ASSET.fullmatch(image):
        raise Refused(source, "files.image", "`${...}` is not read from a file")
    return {
        "request": request,
        "backend": option_file("keyframes", backend, source, "backend"),
        "image": image,
    }


def option_file(group: str, section: Any, source: Path, key: str) -> dict[str, Any]:
    """`section` as a file of `group`: renga's own option its `_target_` names, then its values."""
    if not isinstance(section, dict):
        raise Refused(source, key, "expected a mapping")
    target = section.get("_target_")
    candidates = [o for o in options(group) if o.target == target]
    if not candidates:
        message = f"{target!r} is not one of renga's {group} options"
        raise Refused(source, f"{key}._target_", message)
    values = {k: v for k, v in section.items() if k != "_target_" and k not in MACHINE_KEYS}
    for name in MACHINE_GROUP_KEYS.get(group, ()):
        values.pop(name, None)
    # Several options may share a class (mux: h264, prores); the one whose own values the
    # section keeps is the natural name, and the values below make any of them the same config.
    option = next((o for o in candidates if _agrees(o.values, values)), candidates[0])
    _check(values, option.schema, key, source)
    for name in PROGRAM_KEYS.get(group, ()):
        own = _composed(option).get(name)
        if name in values and values[name] != own:
            message = "differs from renga's own; a file never chooses a program"
            raise Refused(source, f"{key}.{name}", message)
    return {"defaults": [option.name, "_self_"], **values}


@cache
def options(group: str) -> tuple[Option, ...]:
    """renga's own options of a backend group, read from `conf/<group>/*.yaml` and the schema."""
    schemas = group_schemas()[group]
    found = []
    for path in sorted((CONF_DIR / group).glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        names = [d for d in raw.get("defaults", []) if str(d).startswith("schema_")]
        schema = schemas[names[0].removeprefix("schema_")]
        target = raw.get("_target_", _default(schema, "_target_"))
        values = {k: v for k, v in raw.items() if k not in ("defaults", "_target_")}
        found.append(Option(path.stem, target, schema, values))
    return tuple(found)


def _composed(option: Option) -> dict[str, Any]:
    merged = OmegaConf.merge(OmegaConf.structured(option.schema), option.values)
    values = OmegaConf.to_container(merged, resolve=False)
    assert isinstance(values, dict)
    return values


def _agrees(own: dict[str, Any], values: dict[str, Any]) -> bool:
    return all(values.get(k, v) == v for k, v in own.items() if not _interpolated(v))


def _interpolated(value: Any) -> bool:
    return isinstance(value, str) and "${" in value


def _without_target(section: Any, schema: type, key: str, source: Path) -> Any:
    """A fixed section (`assemble`): its `_target_` may only be the schema's own, and is dropped."""
    if not isinstance(section, dict) or "_target_" not in section:
        return section
    if section["_target_"] != _default(schema, "_target_"):
        raise Refused(source, f"{key}._target_", f"{section['_target_']!r} is not renga's {key}")
    return {k: v for k, v in section.items() if k != "_target_"}


def _default(schema: type, name: str) -> Any:
    for field in dataclasses.fields(schema):
        if field.name == name:
            return field.default
    return None


@cache
def _required(spec: dataclasses.Field) -> bool:
    return spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING


def _fields(schema: type) -> dict[str, Any]:
    hints = typing.get_type_hints(schema)
    return {f.name: hints[f.name] for f in dataclasses.fields(schema)}


def _check(value: Any, kind: Any, key: str, source: Path) -> None:
    """`value` is plain data of type `kind`: no special key, no `${...}` outside text."""
    if isinstance(value, dict):
        for name in value:
            if not isinstance(name, str) or name in SPECIAL_KEYS or name in ("hydra", "defaults"):
                raise Refused(source, f"{key}.{name}", "not taken from a file")
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise Refused(source, key, "expected a mapping")
        fields = _fields(kind)
        for name, item in value.items():
            if name not in fields or name == "_target_":
                raise Refused(source, f"{key}.{name}", "not a key of this option")
            _check(item, fields[name], f"{key}.{name}", source)
        return
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return
        kinds = [a for a in args if a is not type(None)]
        _check(value, kinds[0] if len(kinds) == 1 else Any, key, source)
    elif origin is list and isinstance(value, list):
        for i, item in enumerate(value):
            _check(item, args[0], f"{key}[{i}]", source)
    elif origin is tuple and isinstance(value, list):
        # JSON writes tuples as lists: `tuple[X, ...]` holds Xs, `tuple[X, Y]` one of each.
        if len(args) == 2 and args[1] is Ellipsis:
            kinds = [args[0]] * len(value)
        elif len(args) == len(value):
            kinds = list(args)
        else:
            raise Refused(source, key, f"expected {len(args)} values")
        for i, (item, item_kind) in enumerate(zip(value, kinds, strict=True)):
            _check(item, item_kind, f"{key}[{i}]", source)
    elif origin is dict and isinstance(value, dict):
        for name, item in value.items():
            _check(item, args[1], f"{key}.{name}", source)
    elif isinstance(value, dict | list):
        if kind is not Any:
            raise Refused(source, key, "expected a plain value")
        for name, item in value.items() if isinstance(value, dict) else enumerate(value):
            _check(item, Any, f"{key}.{name}", source)
    elif isinstance(value, str):
        if found := character_problem(value):
            message = f"character {found[0]} is {found[1]}, which is not text"
            raise Refused(source, key, message)
        if "${" in value:
            _check_text(value, key, source)


def _check_text(value: str, key: str, source: Path) -> None:
    """`${...}` stays as written only in text (a job's prompts and names, a keyframe's request);
    a job's paths may name a sample asset as `${asset:...}`, as renga writes them; anywhere
    else it is refused."""
    field = key.rsplit(".", 1)[-1].split("[", 1)[0]
    if key.startswith(("job.", "request.")) and field in TEXT_FIELDS:
        return
    if key.startswith("job.") and field in PATH_FIELDS and ASSET.fullmatch(value):
        return
    raise Refused(source, key, "`${...}` is not read from a file")


# Groups whose option picks a backend class, as a job config lists them.
BACKEND_GROUPS = ("keyframes", "video", "audio", "lipsync", "upscale", "interpolate", "mux")
