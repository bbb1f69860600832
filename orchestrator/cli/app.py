"""`renga ARGS` / `python -m orchestrator ARGS`: the Hydra application."""

from __future__ import annotations

import os
import re
import sys

import hydra

from orchestrator.cli import compose, compose_errors, jobfile, startup, task, usage
from orchestrator.cli import store as store_commands
from orchestrator.cli.commands import COMMANDS, hydra_argv, inspect
from orchestrator.cli.fastexit import exits_fast
from orchestrator.config import CONF_DIR
from orchestrator.engine import signals
from orchestrator.engine.errors import USER_ERROR_EXIT, RengaError

_startup: startup.HeldStderr | None = None


usage.register_resolvers()
app = hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")(task.run)


def one_line(text: str) -> str:
    """Hydra's multi-line compose error as `error: <key>: <what is wrong>`."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    noise = ("Set the environment", "object_type", "reference_type")
    lines = [line for line in lines if not line.startswith(noise)]
    if explained := compose_errors.explain(lines, sys.argv):
        return explained
    if any(line.startswith("Traceback") for line in lines):
        # Before the job starts, the only file Hydra writes is the run directory.
        match = re.match(r"\w+Error: \[Errno \d+\] ([^:]+): '(.+)'", lines[-1])
        if match:
            return f"error: hydra.run.dir: cannot create {match.group(2)}: {match.group(1)}"
        return f"error: {lines[-1]}"
    key = None
    rest = []
    for line in lines:
        match = re.match(r"full_key:\s*(\S+)", line)
        if match:
            key = match.group(1)
        else:
            rest.append(line)
    message = "; ".join(rest) or "invalid configuration"
    return f"error: {key}: {message}" if key else f"error: {message}"


@exits_fast
def main() -> None:
    """SIGINT and SIGTERM end any command with one line and exit 128 + the signal's number."""
    signals.install()
    try:
        _main()
    except KeyboardInterrupt as exc:
        stop = signals.stopped(exc)
        print(stop.line(), file=sys.stderr)
        sys.exit(stop.exit_code)


def _main() -> None:
    """`renga inspect|reproduce|plan|store ...` are handled here before Hydra parses the argv."""
    command = sys.argv[1] if len(sys.argv) > 1 else None
    args = sys.argv[2:]
    page = usage.command_help(command)
    if page is not None and any(a in usage.HELP_FLAGS for a in args):
        print(page, end="")
        return
    try:
        if command not in COMMANDS:
            if "--version" in sys.argv[1:]:
                # Hydra's own flag would print Hydra's version; renga's names what shapes a render.
                print(usage.version_text())
                return
            _run_app()
            return
        if command == "inspect":
            print(inspect(args))
            return
        if command == "store":
            sys.exit(store_commands.main(args))
        with hydra_argv(command, args) as (argv, subcommand):
            sys.argv = [sys.argv[0], *argv]
            task.command = subcommand
            _run_app()
    except RengaError as exc:
        print(exc.line(), file=sys.stderr)
        sys.exit(exc.exit_code)


def _run_app() -> None:
    global _startup
    # Before Hydra composes: it instantiates `hydra.callbacks` before renga's task runs.
    jobfile.check_argv(sys.argv[1:])
    compose.install()
    if os.environ.get("HYDRA_FULL_ERROR"):
        app()
        return
    _startup = startup.HeldStderr(sys.stderr)  # type: ignore[arg-type]
    sys.stderr = _startup
    startup.on_start = _startup.release
    try:
        app()
    except SystemExit as exc:
        if sys.stderr is _startup:
            sys.stderr = _startup.real
            held = _startup.buffer_text.getvalue()
            if exc.code not in (0, None):
                print(one_line(held), file=sys.stderr)
                sys.exit(USER_ERROR_EXIT)
            sys.stderr.write(held)
        raise
    finally:
        _startup.release()
