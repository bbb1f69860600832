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
from types import FrameType

from orchestrator.engine.errors import Stopped

SIGNALS = (signal.SIGINT, signal.SIGTERM)

_installed = False
_received: int | None = None


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


def _stop(signum: int, frame: FrameType | None) -> None:
    global _received
    if _received is not None:
        return
    _received = signum
    raise Stopped(signum)
