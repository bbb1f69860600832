"""Which model a folder (or single file) holds, read at plan time from its JSON and headers.

A Z-Image folder given as `video.model` used to load for 14 s and die on a missing attribute;
an A14B config on a TI2V-5B folder failed after 23 s, and the reverse rendered with one expert
and exit 0. `model_index.json` says what a folder is (`_class_name`, the transformer's class,
`transformer_2`, `expand_timesteps`, `boundary_ratio`), the transformer's `config.json` its
input channels (36: Wan 2.2 I2V A14B, 48: TI2V-5B, 16: text-to-video), and a single
`.safetensors` file the same from its patch embedding's shape: all read without loading a
weight, and a mismatch is one line naming the key, what the folder holds and the option that
fits it.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.engine.errors import UserError


@dataclass(frozen=True)
class Holds:
    """What a model is, in words, and the config option that drives it (None: no backend)."""

    label: str
    option: str | None


ZIT = Holds("Z-Image (ZImagePipeline)", "keyframes=zit")
A14B = Holds("Wan 2.2 I2V A14B (two experts)", "video=wan22_i2v_a14b")
TI2V = Holds("Wan 2.2 TI2V-5B (one transformer, expand_timesteps)", "video=wan22_ti2v_5b")
SKYREELS_DF = Holds("SkyReels-V2 diffusion forcing", "video=skyreels_v2_df")
LTX2 = Holds("LTX-2 (video with sound, LTX2VideoTransformer3DModel)", "video=ltx2")
WAN_CHANNELS = {36: A14B, 48: TI2V}


def read_json(source: str, name: str) -> dict[str, Any] | None:
    """`name` inside a local folder or a cached Hub repo; None when it is not on this machine
    (a download the user allowed: it is checked when it loads)."""
    folder = Path(os.path.expanduser(source))
    if folder.is_dir():
        path = folder / name
    else:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(source, name)
        if not isinstance(found, str):
            return None
        path = Path(found)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def identify(index: dict[str, Any] | None, transformer: dict[str, Any] | None) -> Holds | None:
    """What a pipeline folder holds, from its model_index.json and transformer config."""
    if index is None and transformer is None:
        return None
    index = index or {}
    component = _component(index.get("transformer")) or (transformer or {}).get("_class_name")
    name = index.get("_class_name") or component or "unknown"
    if component and component.startswith("ZImage") or name.startswith("ZImage"):
        return ZIT
    if (component or "").startswith("SkyReelsV2") or name.startswith("SkyReelsV2"):
        return SKYREELS_DF if "DiffusionForcing" in name else Holds(f"a {name} model", None)
    if (component or "").startswith("LTX2") or name.startswith("LTX2"):
        return LTX2
    if not (component or "").startswith("Wan") and not name.startswith("Wan"):
        return Holds(f"a {name} model", None)
    channels = (transformer or {}).get("in_channels")
    if _component(index.get("transformer_2")):
        if channels in (None, 36):
            return A14B
        return Holds(f"a two-expert Wan model with {channels} input channels (text-to-video)", None)
    if index.get("expand_timesteps") or channels == 48:
        return TI2V
    return Holds(f"a one-transformer Wan model without expand_timesteps ({name}; Wan 2.1?)", None)


def check_folder(source: str, key: str, option: str, wanted: str) -> None:
    """Refuse a folder that holds another model than the backend `option` drives."""
    index = read_json(source, "model_index.json")
    holds = identify(index, read_json(source, "transformer/config.json"))
    _refuse_mismatch(holds, source, key, option, wanted)


def check_single_file(path: str, key: str, option: str, wanted: str) -> None:
    """A Wan .safetensors transformer whose input channels say it is another model."""
    channels = _safetensors_channels(Path(path))
    holds = WAN_CHANNELS.get(channels) if channels is not None else None
    if channels is not None and holds is None:
        holds = Holds(f"a Wan transformer with {channels} input channels", None)
    _refuse_mismatch(holds, path, key, option, wanted)


def _refuse_mismatch(holds: Holds | None, source: str, key: str, option: str, wanted: str) -> None:
    if holds is None or holds.option == option:
        return
    fits = f"use it with {holds.option}" if holds.option else "no video=/keyframes= option fits"
    raise UserError(key, f"{source} holds {holds.label}, not {wanted}; {fits}")


def _component(entry: Any) -> str | None:
    """The class of a model_index entry `[library, class]` ([null, null]: absent)."""
    if isinstance(entry, list) and len(entry) == 2 and entry[1]:
        return str(entry[1])
    return None


def _safetensors_channels(path: Path) -> int | None:
    """Input channels of a Wan transformer file (any key layout), from its header alone."""
    if path.suffix != ".safetensors":
        return None
    try:
        with path.open("rb") as file:
            (size,) = struct.unpack("<Q", file.read(8))
            if size > 100_000_000:
                return None
            header = json.loads(file.read(size))
    except (OSError, ValueError, struct.error):
        return None
    for name, entry in header.items():
        if name.endswith("patch_embedding.weight") and isinstance(entry, dict):
            shape = entry.get("shape", [])
            return int(shape[1]) if len(shape) > 1 else None
    return None
