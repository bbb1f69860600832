"""Model pool: each model is loaded once per run and released before another group loads."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from typing import Any


class ModelPool:
    def __init__(self) -> None:
        self._models: dict[str, Any] = {}
        self.group: str | None = None
        self.loads = 0

    def get(self, name: str, loader: Callable[[], Any]) -> Any:
        """The model called `name`, loading it with `loader` the first time it is asked for."""
        if name not in self._models:
            self._models[name] = loader()
            self.loads += 1
        return self._models[name]

    def switch(self, group: str | None) -> None:
        """Make room for `group`: release every model of the previous group."""
        if group is not None and group != self.group:
            self.release()
            self.group = group

    def release(self) -> None:
        self._models.clear()
        self.group = None
        gc.collect()
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()
