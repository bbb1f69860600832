"""SIGINT and SIGTERM stop a render the same way: as an exception raised where the run is.

Raising (rather than exiting in the handler) lets everything on the way out run: the store's
temporary entry of the node in flight is removed, run.json and the report are written, the log
gets the reason. The exception is a `KeyboardInterrupt`, so library code that catches
`Exception` (model loaders, writers) lets it through. A second signal while the first one's
shutdown runs is ignored, so the shutdown is never cut half-way. Some libraries turn the
handler's exception into a plain `KeyboardInterrupt` of their own (Ray's `ray.wait`);
`stopped` turns it back.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from orchestrator.engine.errors import Stopped

SIGNALS = (signal.SIGINT, signal.SIGTERM)

_installed = False
_received: int | None = None
# Inside `deferred()` a signal is noted and raised when the block ends.
_depth = 0
_pending = False


def install() -> None:
    """Route SIGINT and SIGTERM to `Stopped` (main thread only, where Python runs handlers)."""
    global _installed
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in SIGNALS:
        signal.signal(signum, _stop)
    _installed = True


def reinstall() -> None:
    """Take the signals back from a library that set its own (ray.init sets SIGTERM's)."""
    if _installed:
        install()


def stopped(exc: KeyboardInterrupt) -> Stopped:
    """`exc` as the `Stopped` of the signal that arrived (SIGINT when none was seen)."""
    if isinstance(exc, Stopped):
        return exc
    return Stopped(_received or signal.SIGINT)


@contextmanager
def deferred() -> Iterator[None]:
    """A signal arriving inside waits for the block's end: what the block does (publish a store
    entry, then record it for run.json) happens whole, so run.json lists every kept node."""
    global _depth, _pending
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        # A block that fails ends the run with its own error; the signal is not raised twice.
        now = _depth == 0 and _pending
        if now:
            _pending = False
    if now:
        raise Stopped(_received or signal.SIGINT)


def _stop(signum: int, frame: FrameType | None) -> None:
    global _received, _pending
    if _received is not None:
        return
    _received = signum
    if _depth:
        _pending = True
        return
    raise Stopped(signum)
