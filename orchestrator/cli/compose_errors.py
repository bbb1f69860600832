"""Hydra's compose errors that lose what the user needs, said in one line with the key.

- A YAML error keeps its reason ("found duplicate key width") and the file, line and column.
- An unknown group option (`preset=drafft`) lists the options, with a "did you mean".
- An error inside a job file (`shots` given as a mapping, an unknown key, a value of the wrong
  type) names the full key: Hydra names the file and at most the last key, so the file is read
  again and walked against the schema to find where.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import typing
from pathlib import Path
from typing import Any

import yaml

from orchestrator.config import CONF_DIR

_RENGA_ERROR = re.compile(r"^orchestrator\.errors\.\w+: (.*)$")
_ERRNO = re.compile(r"^\w+Error: \[Errno \d+\] ([^:]+): '(.+)'$")
_YAML_ERROR = re.compile(r"^yaml\.\w+\.\w+Error: (.*)$")
_MARK = re.compile(r'^in "(.+)", line (\d+), column (\d+)$')
_MISSING_OPTION = re.compile(r"Could not find '([\w/.-]+)/([^']+)'")
_IN_FILE = re.compile(r"^In '([\w/.-]+)/([^']+)': \w+ raised while composing config:$")


def explain(lines: list[str], argv: list[str]) -> str | None:
    """One line for the compose errors above (stripped lines of Hydra's output), else None."""
    return (
        _raised(lines) or _yaml_error(lines) or _missing_option(lines) or _in_job_file(lines, argv)
    )


def _raised(lines: list[str]) -> str | None:
    """A renga error raised before the job started (a callback's), or an OS error anywhere in
    the chain of a traceback: before the job starts the only files are the run directory's."""
    if len(lines) == 1 and lines[0].startswith("error: "):
        return lines[0]
    for line in reversed(lines):
        if match := _RENGA_ERROR.match(line):
            return f"error: {match.group(1)}"
    if not any(line.startswith("Traceback") for line in lines):
        return None
    for line in reversed(lines):
        if match := _ERRNO.match(line):
            reason, path = match.groups()
            return f"error: hydra.run.dir: cannot write {path}: {reason}"
    return None


def _yaml_error(lines: list[str]) -> str | None:
    start = next((i for i, line in enumerate(lines) if _YAML_ERROR.match(line)), None)
    if start is None:
        return None
    body = [_YAML_ERROR.sub(r"\1", lines[start]), *lines[start + 1 :]]
    marks = [m for m in map(_MARK.match, body) if m]
    reasons = [line for line in body if not _MARK.match(line) and not line.startswith("while ")]
    reason = reasons[-1] if reasons else body[0]
    if not marks:
        return f"error: {reason}"
    path, line, column = marks[-1].groups()
    return f"error: {path}: line {line}, column {column}: {reason}"


def _missing_option(lines: list[str]) -> str | None:
    match = next(filter(None, map(_MISSING_OPTION.search, lines)), None)
    if match is None:
        return None
    group, name = match.groups()
    try:
        start = lines.index(f"Available options in '{group}':") + 1
    except ValueError:
        return None
    options = []
    for line in lines[start:]:
        if line.startswith("Config search path"):
            break
        if not line.startswith("schema_"):
            options.append(line)
    near = difflib.get_close_matches(name, options, n=1)
    hint = f" (did you mean {near[0]}?)" if near else ""
    return f"error: {group}: unknown option {name!r}{hint}; options: {', '.join(options)}"


def _in_job_file(lines: list[str], argv: list[str]) -> str | None:
    match = next(filter(None, map(_IN_FILE.match, lines)), None)
    if match is None or len(lines) < 2:
        return None
    group, name = match.groups()
    path = _find_file(group, name, argv)
    schema = _group_schema(group)
    if path is None or schema is None:
        return None
    data = yaml.safe_load(path.read_text())
    reason = lines[lines.index(match.group(0)) + 1]
    unknown = re.match(r"Key '(.+)' not in '\w+'", reason)
    if unknown:
        found = _unknown_key(data, schema, group)
        if found:
            return f"error: {found} ({path})"
    converted = re.match(r"Value '(.*)' of type '\w+' could not be converted to (\w+)", reason)
    key_line = next((line for line in lines if line.startswith("full_key:")), "")
    name_key = key_line.removeprefix("full_key:").strip()
    if converted and name_key:
        where = _find_value(data, name_key.rsplit(".", 1)[-1], converted.group(1), group)
        if where:
            return f"error: {where}: {reason} ({path})"
    if reason.startswith(("Cannot merge", "Merge error")):
        found = _shape_mismatch(data, schema, group)
        if found:
            key, want = found
            given = "a list" if want == "a mapping" else "a mapping"
            return f"error: {key}: {given} in {path}, but it must be {want}"
    return None


def _find_file(group: str, name: str, argv: list[str]) -> Path | None:
    dirs = [Path(a.split("=", 1)[1]) for a in argv if a.startswith("--config-dir=")]
    dirs += [Path(b) for a, b in zip(argv, argv[1:], strict=False) if a in ("--config-dir", "-cd")]
    for folder in [*dirs, CONF_DIR]:
        candidate = folder / group / f"{name}.yaml"
        if candidate.is_file():
            return candidate
    return None


def _group_schema(group: str) -> type | None:
    from orchestrator.schema import RengaConfig

    hints = typing.get_type_hints(RengaConfig)
    schema = hints.get(group)
    return schema if dataclasses.is_dataclass(schema) else None


def _children(data: Any, schema: type, path: str) -> list[tuple[str, Any, Any]]:
    """(key, value, type) for each entry of a mapping the schema describes."""
    if not isinstance(data, dict):
        return []
    hints = typing.get_type_hints(schema)
    return [(f"{path}.{k}", v, hints.get(k)) for k, v in data.items()]


def _inner(hint: Any) -> type | None:
    """The dataclass a field holds: itself, or a list's / an optional's element."""
    if dataclasses.is_dataclass(hint):
        return hint  # type: ignore[return-value]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[-1] if args and dataclasses.is_dataclass(args[-1]) else None


def _items(value: Any, key: str) -> list[tuple[str, Any]]:
    if isinstance(value, list):
        return [(f"{key}[{i}]", item) for i, item in enumerate(value)]
    return [(key, value)]


def _unknown_key(data: Any, schema: type, path: str) -> str | None:
    """`job.shots[0].secnds: unknown key (did you mean seconds?); valid keys: ...`"""
    from orchestrator.schema.bounds import unknown_key_message

    fields = [f.name for f in dataclasses.fields(schema)]
    for key, value, hint in _children(data, schema, path):
        name = key.rsplit(".", 1)[1]
        if name not in fields:
            return f"{key}: {unknown_key_message(name, fields)}"
        inner = _inner(hint)
        for where, item in _items(value, key) if inner else []:
            found = _unknown_key(item, inner, where)  # type: ignore[arg-type]
            if found:
                return found
    return None


def _find_value(data: Any, name: str, text: str, path: str) -> str | None:
    """The first key called `name` whose value reads as `text`."""
    if isinstance(data, list):
        pairs = [(f"{path}[{i}]", v) for i, v in enumerate(data)]
    elif isinstance(data, dict):
        pairs = [(f"{path}.{k}", v) for k, v in data.items()]
    else:
        return None
    for key, value in pairs:
        if key.endswith(f".{name}") and str(value) == text:
            return key
        found = _find_value(value, name, text, key)
        if found:
            return found
    return None


def _shape_mismatch(data: Any, schema: type, path: str) -> tuple[str, str] | None:
    """The first key whose value is a mapping where the schema has a list, or the reverse,
    and what the schema wants there."""
    for key, value, hint in _children(data, schema, path):
        is_list = typing.get_origin(hint) is list
        if isinstance(value, dict if is_list else list) and (is_list or _inner(hint)):
            return key, "a list" if is_list else "a mapping"
        inner = _inner(hint)
        for where, item in _items(value, key) if inner else []:
            found = _shape_mismatch(item, inner, where)  # type: ignore[arg-type]
            if found:
                return found
    return None
