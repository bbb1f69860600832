"""What a job may do: a job file is configuration of *what* to make, and its text is text.

Two rules, each applied in one place:

- `check_argv` (before Hydra composes): a job file chosen by the command line, and any config
  its defaults list pulls from the user's config directories, may not set `hydra.*`,
  `executor` or `cache_dir`, nor name code (`_target_`, `_args_`, ...). Hydra instantiates
  `hydra.callbacks` right after composing, before renga's task runs, so the job file itself
  is read here. The command line is the user's own and may set all of these.
- `literal_job` (when the task starts): every string in the composed `job` node is taken as
  written, `${...}` included, so a prompt is never resolved (`${oc.env:HF_TOKEN}` stays those
  characters in the card and the metadata). The one interpolation kept is renga's own
  `${asset:NAME}` as the whole value of a path field, the form the shipped jobs and embedded
  configs use.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hydra._internal.utils import get_args_parser
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Glob
from omegaconf import AnyNode, Container, DictConfig, ListConfig, StringNode

from orchestrator.cli.configfile import FileError, character_problem, read_config
from orchestrator.config import CONF_DIR
from orchestrator.engine.errors import UserError

# Keys Hydra's `instantiate` acts on.
SPECIAL_KEYS = frozenset({"_target_", "_args_", "_partial_", "_recursive_", "_convert_"})
# Top-level keys only the command line (or renga's own config) sets.
COMMAND_LINE_KEYS = ("hydra", "executor", "cache_dir")
ASSET = re.compile(r"\$\{asset:[^${}\\]+\}")
# Job fields that name files: `${asset:...}` there is a sample shipped with renga.
PATH_FIELDS = frozenset({"soundtrack", "vocals", "image", "speech"})
# Job fields that are prose for a model or a person.
TEXT_FIELDS = frozenset(
    {"name", "style", "negative_prompt", "prompt", "motion", "sound", "phrases"}
)


def literal(text: str) -> str:
    """`text` escaped so that OmegaConf resolves it to exactly `text` (a run of n backslashes
    before `${` needs 2n+1 to stay n backslashes and a literal `${`)."""
    return re.sub(r"(\\*)\$\{", lambda m: "\\" * (2 * len(m.group(1)) + 1) + "${", text)


def literal_job(cfg: DictConfig) -> None:
    """Make every string of `cfg.job` literal text, in place; see the module docstring."""
    _literal(cfg.job, "job", "")


def _literal(node: Container, key: str, field: str) -> None:
    names = node.keys() if isinstance(node, DictConfig) else range(len(node))
    for name in list(names):
        child = node._get_node(name)
        path = f"{key}.{name}" if isinstance(node, DictConfig) else f"{key}[{name}]"
        label = str(name) if isinstance(node, DictConfig) else field
        if isinstance(child, DictConfig | ListConfig):
            if child._is_interpolation():
                raise UserError(path, "a job is read as written; `${...}` here is not resolved")
            _literal(child, path, label)
            continue
        raw = child._value() if child is not None else None
        if isinstance(raw, str) and (found := character_problem(raw)):
            message = f"character {found[0]} is {found[1]}, which is not text"
            raise UserError(path, f"{message}; a job's values are plain text")
        if not isinstance(raw, str) or "${" not in raw:
            continue
        if label in PATH_FIELDS and ASSET.fullmatch(raw):
            continue
        if not isinstance(child, StringNode | AnyNode):
            raise UserError(path, f"a job is read as written; write the value, not {raw}")
        node[name] = literal(raw)


def check_argv(argv: list[str]) -> None:
    """Refuse a job file (the `job` choices in `argv`) that sets command-line keys or names code.

    `argv` is read with the parsers `hydra.main` itself uses (argument parser, override grammar),
    so the files checked are the ones Hydra is about to compose."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            args = get_args_parser().parse_args(argv)
    except SystemExit:
        return  # Hydra parses the same argv next and reports the error
    dirs = _user_dirs(args)
    _check_option_names(args, dirs)
    if not dirs:
        return
    seen: set[Path] = set()
    for name in _job_choices(args, dirs):
        for directory in dirs:
            path = directory / "job" / f"{name}.yaml"
            if path.is_file():
                _check_file(path, "job", None, dirs, seen)
    for path in _chosen_files(args, dirs):
        if path not in seen:
            seen.add(path)
            _load(path)


def _check_option_names(args: Any, dirs: list[Path]) -> None:
    """A group option whose name the override grammar reads as a number or bool (`job=inf`,
    `preset=1`): Hydra ends in a ValueError that names neither the override nor the fix."""
    for override in _overrides(args.overrides):
        group = override.key_or_group
        if "." in group or override.is_delete() or override.is_sweep_override():
            continue
        if not any((d / group).is_dir() for d in (CONF_DIR, *dirs)):
            continue
        value = override.value()
        if value is not None and not isinstance(value, str | list):
            kind = "true/false" if isinstance(value, bool) else "a number"
            name = override.get_value_string()
            message = f"Hydra reads {name!r} as {kind}, not an option name"
            raise UserError(override.input_line, f"{message}; quote it: {group}=\"'{name}'\"")


def _chosen_files(args: Any, dirs: list[Path]) -> Iterator[Path]:
    """The user's files other than jobs that the command line makes Hydra read: the primary
    config and group options (`preset=mine`). They are the user's own, so only read with
    limits, not checked as a job is."""
    names = [f"{args.config_name or 'config'}.yaml"]
    for override in _overrides(args.overrides):
        group = override.key_or_group
        if group == "job" or "." in group or override.is_delete():
            continue
        values = override.sweep_string_iterator() if override.is_sweep_override() else None
        for value in values or [override.value()]:
            # `preset=[svi,mine]` chooses several options of the group.
            for name in value if isinstance(value, list) else [value]:
                if isinstance(name, str):
                    names.append(f"{group}/{name}.yaml")
    for directory in dirs:
        for name in names:
            path = directory / name
            if path.is_file():
                yield path


def _user_dirs(args: Any) -> list[Path]:
    """Config directories that are not renga's own: `--config-dir`, `hydra.searchpath`."""
    dirs = []
    if args.config_dir:
        dirs.append(Path(args.config_dir).resolve())
    if args.config_path and not args.config_path.startswith("pkg://"):
        path = Path(args.config_path.removeprefix("file://"))
        dirs.append((path if path.is_absolute() else Path(__file__).parent / path).resolve())
    for override in _overrides(args.overrides):
        if override.key_or_group == "hydra.searchpath":
            for item in override.value() or []:
                if isinstance(item, str) and not item.startswith("pkg://"):
                    dirs.append(Path(item.removeprefix("file://")).resolve())
    return [d for d in dirs if d != CONF_DIR.resolve()]


def _overrides(items: list[str]) -> list[Any]:
    try:
        return OverridesParser.create().parse_overrides(items)
    except Exception:  # a malformed override: Hydra reports it
        return []


def _job_choices(args: Any, dirs: list[Path]) -> Iterator[str]:
    """Every `job` option the run (or sweep) composes."""
    chosen = [o for o in _overrides(args.overrides) if o.key_or_group == "job" and not o.package]
    if not chosen:
        yield _default_job(args.config_name or "config", dirs)
        return
    for override in chosen:
        if override.is_delete():
            continue
        value = override.value()
        if isinstance(value, Glob):
            names = sorted({p.stem for d in dirs for p in (d / "job").glob("*.yaml")})
            yield from value.filter(names)
        elif override.is_sweep_override():
            yield from override.sweep_string_iterator()
        else:
            yield str(value)


def _default_job(config_name: str, dirs: list[Path]) -> str:
    """The job a primary config's defaults list picks ("example" for renga's own)."""
    for directory in [*dirs, CONF_DIR]:
        path = directory / f"{config_name}.yaml"
        if path.is_file():
            for entry in _defaults(_load(path)):
                if isinstance(entry, dict):
                    for key, value in entry.items():
                        if key.removeprefix("override ").strip("/ ") == "job":
                            return str(value)
            break
    return "example"


def _load(path: Path, what: str = "a config file") -> Any:
    """The file's data, read with limits (`configfile`) before Hydra reads it unbounded; a
    config file is a mapping of keys (Hydra refuses anything else, in words of its own)."""
    data = read_config(path, what)
    if data is not None and not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"the single value {str(data)[:40]!r}"
        message = f"the file holds {kind}; {what} is a mapping of keys (`name: ...`)"
        raise FileError(path, message, 1)
    return data


def _defaults(data: Any) -> list[Any]:
    entries = data.get("defaults") if isinstance(data, dict) else None
    return entries if isinstance(entries, list) else []


def _package(path: Path) -> str | None:
    """The `# @package` of a config file's header, as Hydra reads it."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            if line.strip():
                break
            continue
        match = re.match(r"#\s*@package\s+(\S+)", line)
        if match:
            return match.group(1)
    return None


def _check_file(
    path: Path,
    group: str,
    package: str | None,
    dirs: list[Path],
    seen: set[Path],
    chain: tuple[Path, ...] = (),
) -> None:
    """One config file of the job (the job file, or one its defaults list pulls in); `chain`
    is the files whose defaults lists led here (Hydra recurses without end on a loop)."""
    if path in chain:
        loop = " -> ".join(p.name for p in (*chain[chain.index(path) :], path))
        raise FileError(path, f"its defaults list pulls in itself ({loop}), a loop")
    if path in seen:
        return
    seen.add(path)
    chain = (*chain, path)
    data = _load(path, "a job file" if group == "job" else "a config file")
    package = package or _package(path) or "_group_"
    prefix = package.replace("_group_", group.replace("/", ".")).removeprefix("_global_")
    prefix = prefix.strip(".")
    if isinstance(data, dict):
        for entry in _defaults(data):
            _check_default(entry, path, group, dirs, seen, chain)
        _check_keys({k: v for k, v in data.items() if k != "defaults"}, prefix, path)
    elif data is not None:
        _check_keys(data, prefix, path)


def _check_keys(value: Any, key: str, path: Path) -> None:
    if key.split(".", 1)[0] in COMMAND_LINE_KEYS:
        raise UserError(key, f"a job file may not set it ({path}); pass it on the command line")
    if isinstance(value, dict):
        for name, item in value.items():
            child = f"{key}.{name}".strip(".")
            if str(name) in SPECIAL_KEYS:
                raise UserError(child, f"a job file may not name code to run ({path})")
            _check_keys(item, child, path)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_keys(item, f"{key}[{i}]", path)


def _check_default(
    entry: Any, path: Path, group: str, dirs: list[Path], seen: set[Path], chain: tuple[Path, ...]
) -> None:
    """A defaults entry of a job file: no `hydra/*` or `executor` option; configs it pulls from
    the user's directories are checked like the job file."""
    if entry == "_self_":
        return
    if isinstance(entry, str):
        items: list[tuple[Any, Any]] = [(None, entry)]
    else:
        items = list(entry.items()) if isinstance(entry, dict) else []
    for key, value in items:
        name = key if key is not None else value
        name = str(name).removeprefix("override ").removeprefix("optional ").strip()
        name, _, package = name.partition("@")
        target = name[1:] if name.startswith("/") else f"{group}/{name}"
        if target.split("/", 1)[0] in COMMAND_LINE_KEYS:
            message = f"a job file may not choose it ({path}); pass it on the command line"
            raise UserError(f"defaults[{name}]", message)
        if key is None:
            configs = [(target.rsplit("/", 1)[0] if "/" in target else "", target)]
        else:
            choices = value if isinstance(value, list) else [value]
            configs = [(target, f"{target}/{c}") for c in choices if isinstance(c, str)]
        for config_group, config in configs:
            for directory in dirs:
                file = directory / f"{config}.yaml"
                if file.is_file():
                    _check_file(file, config_group, package or None, dirs, seen, chain)
