"""What renga embeds in its outputs, read back: `renga inspect FILE` and `renga reproduce FILE`.

A keyframe PNG carries its node's params and seed in a `renga` text chunk; a muxed video (and a
stills run's contact sheet) carries the whole resolved job config. `reproduce` turns that config
back into a Hydra config tree, so it composes with the user's overrides like any other run and,
unchanged, gives the same node keys: everything is cached and nothing renders.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from orchestrator.config import ASSETS_DIR
from orchestrator.engine.errors import UserError
from orchestrator.media import video as media

PNG_KEY = "renga"
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv")
REPRODUCE_CONFIG = "reproduce"
REPRODUCE_OPTION = "_reproduce"
# Groups whose option picks a backend class, as a job config lists them.
BACKEND_GROUPS = ("keyframes", "video", "audio", "lipsync", "interpolate", "mux")


def read_embedded(path: Path) -> dict[str, Any]:
    """The renga metadata in a PNG or video renga wrote; a `UserError` naming the file if none."""
    key = str(path)
    if not path.is_file():
        raise UserError(key, "file not found")
    try:
        if path.suffix.lower() == ".png":
            raw = [media.read_png_metadata(path).get(PNG_KEY, "")]
        elif path.suffix.lower() in VIDEO_SUFFIXES:
            raw = list(media.read_metadata(path).values())
        else:
            raise UserError(key, f"expected a .png or a video ({', '.join(VIDEO_SUFFIXES)})")
    except media.MediaError as exc:
        raise UserError(key, str(exc).removeprefix(f"{path}: ")) from None
    for value in raw:
        try:
            data = json.loads(value)
        except ValueError:
            continue
        if isinstance(data, dict):
            return data["renga"] if isinstance(data.get("renga"), dict) else data
    raise UserError(key, "no renga metadata in this file")


def is_job(data: dict[str, Any]) -> bool:
    """A whole job config (from a video or contact sheet), not one keyframe node's params."""
    return "job" in data and "node" not in data


def portable(value: Any) -> Any:
    """Sample-asset paths back to `${asset:...}`, so an embedded config works on any install."""
    if isinstance(value, dict):
        return {k: portable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [portable(v) for v in value]
    if isinstance(value, str):
        root = f"{ASSETS_DIR}{os.sep}"
        if value.startswith(root):
            return "${asset:" + value[len(root) :] + "}"
    return value


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (Markdown prompts) as `|` blocks, as a user would write them."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and value == value.rstrip(" ") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)


def as_yaml(data: dict[str, Any]) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def write_reproduce_tree(config: dict[str, Any], directory: Path) -> None:
    """A config tree whose primary config `reproduce` is the stock one with `config` on top.

    `config` is what `received.job_config` checked: each group's section is a group option
    file `_reproduce` (renga's own option by name, then plain values) chosen by the defaults
    list, so `renga reproduce FILE mux=prores` still swaps a whole group, and `key=value`
    overrides apply last as always."""
    groups = [g for g in ("job", *BACKEND_GROUPS) if isinstance(config.get(g), dict)]
    for group in groups:
        write_option(directory, group, config[group])
    defaults: list[Any] = ["config"]
    defaults += [{f"override {g}": REPRODUCE_OPTION} for g in groups]
    defaults.append("_self_")
    rest = {k: v for k, v in config.items() if k not in groups}
    (directory / f"{REPRODUCE_CONFIG}.yaml").write_text(
        as_yaml({"defaults": defaults, **rest}), encoding="utf-8"
    )


def write_option(directory: Path, group: str, content: dict[str, Any]) -> None:
    """`<directory>/<group>/_reproduce.yaml`, the option `<group>=_reproduce` composes."""
    (directory / group).mkdir(parents=True, exist_ok=True)
    (directory / group / f"{REPRODUCE_OPTION}.yaml").write_text(as_yaml(content), encoding="utf-8")
