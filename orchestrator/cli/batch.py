"""Batch renders (`renga -m ...`): each job records how it ended, and one summary lists them all.

In a sweep a failing job must not stop the others, so the app records the failure in the job's
directory and returns instead of exiting; when the sweep ends, `BatchSummary` gathers every
job's record into `<sweep dir>/batch.json`, prints a table, and exits non-zero if any failed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from orchestrator.cli import startup
from orchestrator.engine.store import write_json_atomic

JOB_FILE = "job.json"
BATCH_FILE = "batch.json"


def record_job(
    run_dir: Path,
    overrides: list[str],
    *,
    seconds: float,
    output: Path | None = None,
    error: str | None = None,
) -> None:
    write_json_atomic(
        run_dir / JOB_FILE,
        {
            "overrides": overrides,
            "status": "failed" if error else "ok",
            "error": error,
            "output": str(output) if output else None,
            "seconds": round(seconds, 3),
        },
    )


def summarise(sweep_dir: Path) -> dict[str, Any]:
    """Every job directory of a sweep (those Hydra wrote a `.hydra` folder into) and its record;
    a job that left no record was killed or is still running."""
    jobs = []
    for hydra_dir in sorted(sweep_dir.rglob(".hydra")):
        run_dir = hydra_dir.parent
        if run_dir == sweep_dir:
            continue
        record_path = run_dir / JOB_FILE
        if record_path.is_file():
            record = json.loads(record_path.read_text())
        else:
            record = {"status": "unfinished", "error": "no record: killed or still running",
                      "output": None, "seconds": None}  # fmt: skip
        jobs.append({"dir": str(run_dir.relative_to(sweep_dir)), **record})
    counts = {s: sum(j["status"] == s for j in jobs) for s in ("ok", "failed", "unfinished")}
    seconds = sum(j["seconds"] or 0.0 for j in jobs)
    return {"jobs": jobs, **counts, "seconds": round(seconds, 3)}


class BatchSummary(Callback):
    """Hydra callback: after a multirun, write and print the batch summary."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        startup.started()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        summary = summarise(sweep_dir)
        write_json_atomic(sweep_dir / BATCH_FILE, summary)
        console = Console(stderr=True)
        table = Table(title=f"batch: {sweep_dir}", title_justify="left")
        for column in ("job", "status", "seconds", "output / error"):
            table.add_column(column, overflow="fold")
        for job in summary["jobs"]:
            seconds = f"{job['seconds']:.1f}" if job["seconds"] is not None else "-"
            detail = job["error"]
            if job["status"] == "ok" and job["output"]:
                detail = Path(job["output"]).name
            table.add_row(job["dir"], job["status"], seconds, detail or "")
        console.print(table)
        console.print(
            f"{summary['ok']} ok, {summary['failed']} failed, {summary['unfinished']} unfinished; "
            f"summary: {sweep_dir / BATCH_FILE}",
            highlight=False,
        )
        if summary["failed"] or summary["unfinished"]:
            sys.exit(1)
