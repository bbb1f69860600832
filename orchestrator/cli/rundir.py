"""The run directory: checked before Hydra writes into it, and left clean by a rejected run.

Hydra creates the run directory, writes `.hydra/` and opens `renga.log` before renga's code
runs, so a read-only or full run directory used to fail inside Hydra (`Unable to configure
handler 'file'`, `[Errno 28]` without a path). `RunDirCheck` runs first and names
`hydra.run.dir` and the path. A run rejected at plan time removes what Hydra made for it: an
empty `outputs/<date>/<time>/` explains nothing.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from orchestrator.engine.errors import UserError
from orchestrator.render.run import LOG_FILE, writable_dir

HYDRA_DIR = ".hydra"


class RunDirCheck(Callback):
    """`hydra.callbacks.run_dir`: the run directory exists and takes a file, or one line."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        # Hydra turns a callback's exception into a warning and goes on, so exit here.
        try:
            writable_dir(Path(str(config.hydra.run.dir)), "hydra.run.dir")
        except UserError as exc:
            print(exc.line(), file=sys.stderr)
            sys.exit(exc.exit_code)


def discard_rejected(run_dir: Path) -> None:
    """Remove what Hydra wrote for a run that never started: `.hydra/`, an empty log, and the
    directory itself (with its date folder and `outputs/`) once nothing else is in them."""
    shutil.rmtree(run_dir / HYDRA_DIR, ignore_errors=True)
    log = run_dir / LOG_FILE
    if log.is_file() and log.stat().st_size == 0:
        log.unlink()
    folders = [run_dir]
    if run_dir.parent.parent.name == "outputs":
        folders += [run_dir.parent, run_dir.parent.parent]
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return
