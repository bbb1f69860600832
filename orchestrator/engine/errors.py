"""What the user is told: errors (one line on stderr, a fixed exit code, never a traceback),
warnings and status lines. Stages report through these too.

The traceback of a failure goes to the run's log (`renga.log`), which the line names.
"""

from __future__ import annotations

import logging
import signal
import sys

USER_ERROR_EXIT = 2
NODE_ERROR_EXIT = 1

log = logging.getLogger("renga")


class RengaError(Exception):
    """Base class for errors renga reports as one line."""

    exit_code = USER_ERROR_EXIT

    def line(self) -> str:
        return f"error: {self}"


class UserError(RengaError):
    """A mistake in the config or its inputs, found before anything renders.

    `key` is the config key (`job.shots[2].image`) or path the user has to fix.
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


class NodeError(RengaError):
    """A node failed while running; finished nodes are kept in the store."""

    exit_code = NODE_ERROR_EXIT

    def __init__(self, node_id: str, message: str, detail: str | None = None) -> None:
        super().__init__(f"node {node_id} failed: {message}. {RESUME}")
        self.node_id = node_id
        self.message = message
        # The failure's traceback when it happened in another process (a Ray worker).
        self.detail = detail

    def __reduce__(self) -> tuple[type, tuple[str, str, str | None]]:
        """Pickled by its fields (it crosses from a Ray worker to the driver)."""
        return type(self), (self.node_id, self.message, self.detail)

    def line(self, log: str | None = None) -> str:
        trace = f" Full traceback in {log}." if log else ""
        return f"error: node {self.node_id} failed: {self.message}.{trace} {RESUME}"


RESUME = "Finished nodes are kept; run the same command again to resume."


class Stopped(KeyboardInterrupt):
    """SIGINT or SIGTERM: the run stops where it is, keeps what finished, and exits 128 + signal.

    A KeyboardInterrupt, so that no `except Exception` in a library swallows it and code that
    already treats Ctrl-C as "stop" treats SIGTERM the same way.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum
        # Set by the run once it knows: nodes of this run that are in the store.
        self.finished = 0

    def line(self) -> str:
        return f"stopped; {self.finished} finished nodes kept; run the same command again to resume"


def warn(key: str, message: str) -> None:
    """A plan-time warning: one line naming the key; the job still runs."""
    print(f"warning: {key}: {message}", file=sys.stderr)


def status(message: str) -> None:
    """One line on the terminal (and in renga.log) before something that takes a while."""
    print(message, file=sys.stderr, flush=True)
    log.info("%s", message)
