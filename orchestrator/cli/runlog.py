"""The run's log: `renga.log` in the run directory holds what the terminal showed and more.

Hydra's job logging (`conf/hydra/job_logging/renga.yaml`) opens the file; renga writes to the
`renga` logger. The terminal keeps one line per failure; the log keeps the full traceback
(the node's own exception, chained to the error renga reported), so every failure leaves a
trace that outlives the terminal.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from orchestrator.engine.errors import NODE_ERROR_EXIT, NodeError, RengaError, Stopped

log = logging.getLogger("renga")


def log_path() -> str | None:
    """The log file as the user can open it: relative to the working directory when inside it."""
    for logger in (log, logging.getLogger()):
        for handler in logger.handlers:
            if isinstance(handler, logging.FileHandler):
                path = Path(handler.baseFilename)
                try:
                    return str(path.relative_to(Path.cwd()))
                except ValueError:
                    return str(path)
    return None


def started(run_dir: Path, overrides: list[str]) -> None:
    log.info("renga %s", " ".join(sys.argv[1:]))
    log.info("run directory %s; overrides: %s", run_dir, " ".join(overrides) or "none")


def failed(exc: Exception) -> str:
    """Log `exc` with its traceback and return the one line for the terminal."""
    where = log_path()
    if isinstance(exc, NodeError):
        line = exc.line(where)
        detail = f"\n{exc.detail}" if exc.detail else ""
        log.error("%s%s", exc.line(), detail, exc_info=exc)
    elif isinstance(exc, RengaError):
        line = exc.line()
        log.error("%s", line)
    else:
        trace = f"; full traceback in {where}" if where else ""
        line = f"error: unexpected {type(exc).__name__}: {exc} (a bug in renga{trace})"
        log.error("%s", line, exc_info=exc)
    return line


def exit_code(exc: Exception) -> int:
    return exc.exit_code if isinstance(exc, RengaError) else NODE_ERROR_EXIT


def stopped(exc: Stopped) -> None:
    log.warning("stopped by %s: %s", exc.args[0] if exc.args else "a signal", exc.line())


def full_errors() -> bool:
    """HYDRA_FULL_ERROR=1: a developer wants Python's own traceback on the terminal."""
    return bool(os.environ.get("HYDRA_FULL_ERROR"))
