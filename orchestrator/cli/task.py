"""The Hydra task: one render per composed config, in the CLI's process or a launcher's worker.

It lives in its own importable module so that multirun launchers (joblib, submitit) pickle it
by reference rather than by value.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from orchestrator.cli import offline, runlog, startup
from orchestrator.cli.batch import record_job
from orchestrator.cli.commands import Task, run_task
from orchestrator.cli.jobfile import literal_job
from orchestrator.cli.rundir import discard_rejected
from orchestrator.engine import signals
from orchestrator.engine.errors import UserError
from orchestrator.engine.progress import Reporter
from orchestrator.render.run import execute

# Set by `renga plan` (and `reproduce KEYFRAME.png`) before Hydra composes: run instead of a render.
command: Task | None = None


def run(cfg: DictConfig) -> None:
    startup.started()
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    overrides = list(hydra_cfg.overrides.task)
    runlog.started(run_dir, overrides)
    with offline.network(offline.downloads_allowed(cfg)):
        if hydra_cfg.mode != RunMode.MULTIRUN:
            _run_one(cfg, run_dir)
        else:
            _run_swept(cfg, run_dir, overrides)


@contextmanager
def _logged_stop() -> Iterator[None]:
    """SIGINT/SIGTERM arrive as a KeyboardInterrupt and leave as renga's `Stopped`, logged."""
    try:
        yield
    except KeyboardInterrupt as exc:
        stop = signals.stopped(exc)
        runlog.stopped(stop)
        raise stop from None


def _run_one(cfg: DictConfig, run_dir: Path) -> None:
    """A failure is one line on the terminal, its traceback in the log, and an exit code."""
    try:
        with _logged_stop():
            literal_job(cfg)
            if command is not None:
                run_task(command, cfg, run_dir)
            else:
                execute(cfg, run_dir, Reporter())
    except Exception as exc:
        line = runlog.failed(exc)
        if runlog.full_errors():
            raise
        print(line, file=sys.stderr)
        if isinstance(exc, UserError):
            discard_rejected(run_dir)
        sys.exit(runlog.exit_code(exc))


def _run_swept(cfg: DictConfig, run_dir: Path, overrides: list[str]) -> None:
    """In a sweep, one job's failure is recorded for the batch summary and the others go on."""
    started = time.perf_counter()
    try:
        with _logged_stop():
            literal_job(cfg)
            result = execute(cfg, run_dir, Reporter())
    except Exception as exc:
        line = runlog.failed(exc)
        print(line, file=sys.stderr)
        record_job(run_dir, overrides, seconds=time.perf_counter() - started, error=line)
        return
    output = run_dir / result["output"] if result.get("output") else None
    record_job(run_dir, overrides, seconds=time.perf_counter() - started, output=output)
