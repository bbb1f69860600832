"""User-facing errors: one line on stderr, a fixed exit code, never a traceback."""

from __future__ import annotations

USER_ERROR_EXIT = 2
NODE_ERROR_EXIT = 1


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

    def __init__(self, node_id: str, message: str) -> None:
        super().__init__(
            f"node {node_id} failed: {message}. Finished nodes are kept; "
            "run the same command again to resume."
        )
        self.node_id = node_id
