"""Reading the official MMAudio weight files and checking them against our modules, strictly.

Every official file (flow network, VAE, vocoder, Synchformer) goes through `read_official`
(`torch.load(weights_only=True)`, so a file can never run code) and `check_state`, which names
every missing, unexpected or mis-shaped key at once: a file from another variant or a truncated
download is caught before any weight is copied.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orchestrator.engine.errors import RengaError

LISTED = 8


class CheckpointMismatch(ValueError):
    """An official weight file does not fit the module it is meant for.

    Found while a node runs (converting weights), so the executor reports it against that
    node, keeping every finished one."""

    def __init__(
        self,
        what: str,
        path: Path | str,
        missing: list[str],
        unexpected: list[str],
        mismatched: list[str],
    ) -> None:
        parts = []
        for label, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("wrong shape", mismatched),
        ):
            if keys:
                more = f" (+{len(keys) - LISTED} more)" if len(keys) > LISTED else ""
                parts.append(f"{len(keys)} {label} keys: {', '.join(keys[:LISTED])}{more}")
        super().__init__(f"{path}: not a {what} checkpoint: {'; '.join(parts)}")
        self.missing = missing
        self.unexpected = unexpected
        self.mismatched = mismatched


def read_official(path: Path | str, unwrap: tuple[str, ...] = ()) -> dict[str, Any]:
    """The tensors of a `.pth`/`.pt` file, loaded without unpickling code, on the CPU.

    `unwrap` names container keys some releases nest the state dict under (e.g. `generator`)."""
    import torch

    try:
        state = torch.load(Path(path), map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # files saved in torch's legacy (non-zip) format cannot be mapped
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
    for key in unwrap:
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict):
        raise RengaError(f"{path}: expected a state dict, found {type(state).__name__}")
    return dict(state)


def check_state(
    expected: Mapping[str, tuple[int, ...]],
    state: Mapping[str, Any],
    what: str,
    path: Path | str,
) -> None:
    """Raise CheckpointMismatch unless `state` has exactly the `expected` keys and shapes."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = sorted(
        f"{key} {tuple(state[key].shape)} != {tuple(shape)}"
        for key, shape in expected.items()
        if key in state and tuple(state[key].shape) != tuple(shape)
    )
    if missing or unexpected or mismatched:
        raise CheckpointMismatch(what, path, missing, unexpected, mismatched)


def expected_shapes(module: Any) -> dict[str, tuple[int, ...]]:
    """Every key `module.load_state_dict(strict=True)` needs, with its shape."""
    return {key: tuple(value.shape) for key, value in module.state_dict().items()}
