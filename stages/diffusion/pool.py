"""The run's model pool: each model loaded once, a model group released before the next loads.

It implements the engine's `Pool` (`orchestrator/engine/context.py`); the executor config names
this class as its `pool`, so the engine runs nodes against it without importing torch. Memory
questions go to `torch.cuda` only when the run has imported torch: a draft run never loads it.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from typing import Any

from stages.diffusion.spec import resolve_device


class ModelPool:
    """Models by name; switching group drops the old group's models and empties the cache."""

    def __init__(self) -> None:
        self._models: dict[str, Any] = {}
        self.group: str | None = None
        self.loads = 0

    def __enter__(self) -> ModelPool:
        """For one run: everything alive before it is set aside from garbage collection, so
        releasing a model group scans only what the run created (a full scan of a process
        holding torch and diffusers takes a quarter of a second)."""
        gc.freeze()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        gc.unfreeze()

    def get(self, name: str, loader: Callable[[], Any]) -> Any:
        """The model called `name`, loading it with `loader` the first time it is asked for."""
        if name not in self._models:
            if not self._models:
                # No model is alive: set aside all that is (the libraries imported since the
                # run began, above all), so a release scans only what the group's loads create.
                gc.freeze()
            self._models[name] = loader()
            self.loads += 1
        return self._models[name]

    def switch(self, group: str | None) -> None:
        """Make room for `group`: release every model of the previous group."""
        if group is not None and group != self.group:
            self.release()
            self.group = group

    def release(self) -> None:
        """Drop every model and collect the cycles that would keep their weights alive."""
        self.group = None
        if not self._models:
            return
        self._models.clear()
        gc.collect()
        if cuda := _cuda():
            cuda.empty_cache()

    def reset_peak_memory(self) -> None:
        if cuda := _cuda():
            cuda.reset_peak_memory_stats()

    def peak_memory_gib(self) -> float | None:
        """The most GPU memory tensors held since the last reset, in GiB (None without a GPU)."""
        cuda = _cuda()
        return round(cuda.max_memory_allocated() / 2**30, 2) if cuda else None

    @staticmethod
    def device_text() -> str:
        """What `device: auto` picks on this machine, in words (`renga --version`)."""
        try:
            import torch
        except ImportError:
            return "none (torch is not installed)"
        device = resolve_device("auto")
        build = f"torch built for CUDA {torch.version.cuda}" if torch.version.cuda else "CPU torch"
        if device == "cuda":
            props = torch.cuda.get_device_properties(0)
            count = torch.cuda.device_count()
            gpus = f", {count} GPUs" if count > 1 else ""
            return f"cuda ({props.name}, {props.total_memory / 2**30:.0f} GiB{gpus}; {build})"
        if device == "mps":
            return "mps (Apple GPU)"
        return f"cpu (no GPU found; {build})"


def _cuda() -> Any | None:
    """torch.cuda when a run has imported torch and has a GPU; renga never imports torch itself
    just to ask."""
    torch = sys.modules.get("torch")
    return torch.cuda if torch is not None and torch.cuda.is_available() else None
