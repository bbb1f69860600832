"""What Hydra writes before a job starts is held back, so a compose error becomes one line.

The app holds stderr while Hydra composes; the first job (or a sweep's start) lets it through.
The hook lives here, not in the task or the batch callback, because both call it and the app
sets it: each imports this module and nothing imports the other.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable

# Set by the app to let Hydra's held-back start-up output through once a job starts.
on_start: Callable[[], None] | None = None


class HeldStderr(io.TextIOBase):
    """Holds back what Hydra writes before the job starts, so a compose error becomes one line."""

    def __init__(self, real: io.TextIOBase) -> None:
        self.real = real
        self.buffer_text = io.StringIO()

    def write(self, text: str) -> int:
        return self.buffer_text.write(text)

    def flush(self) -> None:
        return None

    def release(self) -> None:
        if sys.stderr is self:
            sys.stderr = self.real
            self.real.write(self.buffer_text.getvalue())
            self.real.flush()


def started() -> None:
    """A job or a sweep has started: what Hydra wrote before it goes out as it was."""
    if on_start is not None:
        on_start()
