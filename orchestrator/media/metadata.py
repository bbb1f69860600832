"""What renga embeds in its outputs, read back: `renga inspect FILE` and `renga reproduce FILE`.

A keyframe PNG carries its node's params and seed in a `renga` text chunk; a muxed video (and a
stills run's contact sheet) carries the whole resolved job config. Reading it back is all that
happens here; `cli/reproduce.py` turns a config into a Hydra config tree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image

from orchestrator.engine.errors import UserError
from orchestrator.media.container import MediaError, reading

PNG_KEY = "renga"
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv")
# What renga writes is a few KB, nested a few levels; a file that holds more is not renga's.
MAX_METADATA = 1 << 20
MAX_DEPTH = 32


def read_embedded(path: Path) -> dict[str, Any]:
    """The renga metadata in a PNG or video renga wrote; a `UserError` naming the file if none."""
    key = str(path)
    if not path.is_file():
        raise UserError(key, "file not found")
    try:
        if path.suffix.lower() == ".png":
            raw = [read_png_metadata(path).get(PNG_KEY, "")]
        elif path.suffix.lower() in VIDEO_SUFFIXES:
            raw = list(read_metadata(path).values())
        else:
            raise UserError(key, f"expected a .png or a video ({', '.join(VIDEO_SUFFIXES)})")
    except MediaError as exc:
        raise UserError(key, str(exc).removeprefix(f"{path}: ")) from None
    for value in raw:
        if not value.lstrip().startswith("{"):
            continue
        if len(value) > MAX_METADATA:
            raise UserError(key, f"its metadata is over {MAX_METADATA >> 20} MiB: not renga's")
        try:
            data = json.loads(value)
        except ValueError:
            continue
        except RecursionError:
            data = None
        if data is None or _depth(data) > MAX_DEPTH:
            raise UserError(key, f"its metadata nests over {MAX_DEPTH} levels deep: not renga's")
        if isinstance(data, dict):
            return data["renga"] if isinstance(data.get("renga"), dict) else data
    raise UserError(key, "no renga metadata in this file")


def _depth(data: Any) -> int:
    """How deep lists and mappings nest in `data` (1 for a flat one), without recursion."""
    deepest, todo = 0, [(data, 1)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:
                values = item.values() if isinstance(item, dict) else item
                todo.extend((v, depth + 1) for v in values)
    return deepest


def is_job(data: dict[str, Any]) -> bool:
    """A whole job config (from a video or contact sheet), not one keyframe node's params."""
    return "job" in data and "node" not in data


def read_metadata(path: Path) -> dict[str, str]:
    """Container tags with lower-case keys (Matroska upper-cases them on write)."""
    with reading(path, "media") as container:
        return {key.lower(): value for key, value in container.metadata.items()}


def read_png_metadata(path: Path) -> dict[str, str]:
    """The PNG's text chunks (tEXt, zTXt and iTXt)."""
    if not Path(path).is_file():
        raise MediaError(f"{path}: file not found")
    try:
        with Image.open(path) as image:
            if image.format != "PNG":
                raise MediaError(f"{path}: not a PNG ({image.format})")
            return {str(key): str(value) for key, value in image.text.items()}
    except (OSError, ValueError) as exc:
        raise MediaError(f"{path}: cannot read as PNG: {exc}") from exc
