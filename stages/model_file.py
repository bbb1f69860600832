"""What the finishing backends (RIFE, upscale) share about the model file a user points them at:
where it is, the precision it runs in, and how a file that will not load is said in one line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from orchestrator.engine.errors import UserError
from stages.diffusion.spec import resolve_device

PRECISIONS = ("auto", "fp32", "fp16")


def model_path(value: str | None) -> Path | None:
    """The file a config's `model` names, `~` expanded, absolute (None when unset)."""
    return Path(os.path.expanduser(value)).absolute() if value else None


def check_precision(key: str, value: str) -> None:
    if value not in PRECISIONS:
        raise UserError(key, f"unknown value {value!r}; expected one of {', '.join(PRECISIONS)}")


def auto_precision(device: str) -> str:
    """What `precision: auto` settles on where the model runs: half on a GPU, full on the CPU."""
    return "fp32" if resolve_device(device) == "cpu" else "fp16"


def torch_dtype(precision: str) -> Any:
    import torch

    return torch.float16 if precision == "fp16" else torch.float32


def reason(exc: BaseException) -> str:
    """An exception's first line, for a file that would not load (pickle and format errors
    come in many classes, some with long messages)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
