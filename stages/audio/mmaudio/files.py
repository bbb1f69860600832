"""Where MMAudio's weight files are: the official files' names and folders, and the converted
set renga writes once per set of files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HF_REPO = "hkchengrex/MMAudio"
SYNCHFORMER_FILE = "synchformer_state_dict.pth"
# Where an MMAudio checkout (and the Hugging Face repo) keeps each official file.
SUBDIRS = {
    "model": "weights",
    "vae": "ext_weights",
    "synchformer": "ext_weights",
    "vocoder": "ext_weights",
}
CONVERTED = {
    "model": "flow.safetensors",
    "vae": "vae.safetensors",
    "vocoder": "vocoder.safetensors",
    "synchformer": "synchformer.safetensors",
}


@dataclass(frozen=True)
class WeightFiles:
    model: Path
    vae: Path
    synchformer: Path
    clip: str
    vocoder: str
