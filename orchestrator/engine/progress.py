"""Progress bars per stage (counts and ETA), a step bar for the node in flight, and the summary.

Every event also goes to the `renga` logger, which Hydra's job logging writes to renga.log.
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

log = logging.getLogger("renga")


@contextmanager
def quiet_warnings(logger: str) -> Iterator[None]:
    """Warnings raised inside go to renga.log only: a library's advice to its programmer
    (librosa's `n_fft is too large`) is noise on a user's terminal."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        yield
    for warning in caught:
        message = f"{warning.category.__name__}: {warning.message} ({warning.filename})"
        # renga.yaml gives the log a file handler only: these reach renga.log, not the terminal.
        logging.getLogger(logger).warning("%s", message)


@dataclass
class NodeRecord:
    id: str
    stage: str
    key: str
    status: str
    seconds: float
    metrics: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        record = {
            "id": self.id,
            "stage": self.stage,
            "key": self.key,
            "status": self.status,
            "seconds": round(self.seconds, 3),
        }
        if self.metrics:
            record["metrics"] = self.metrics
        return record


class Reporter:
    """Rich progress on stderr; quiet where there is no terminal except for the final lines."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("{task.description:<14}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self._stage_tasks: dict[str, TaskID] = {}
        self._started: set[str] = set()
        self._steps: TaskID | None = None

    def __enter__(self) -> Reporter:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.end_steps()
        self.progress.stop()

    def plan(self, stages: Counter[str]) -> None:
        log.info("%d nodes: %s", stages.total(), ", ".join(f"{n} {s}" for s, n in stages.items()))
        for stage, total in stages.items():
            self._stage_tasks[stage] = self.progress.add_task(stage, total=total, start=False)

    def node_started(self, stage: str) -> None:
        """Start the stage's clock at its first node, so elapsed and ETA are the stage's own."""
        if stage not in self._started:
            self._started.add(stage)
            self.progress.start_task(self._stage_tasks[stage])

    def node_done(self, record: NodeRecord) -> None:
        took = f" in {record.seconds:.2f} s" if record.status == "ran" else ""
        log.info("%s: %s%s -> %s/%s", record.id, record.status, took, record.stage, record.key)
        self.end_steps()
        self.progress.advance(self._stage_tasks[record.stage])

    def steps(self, done: int, total: int, label: str) -> None:
        if self._steps is None:
            self._steps = self.progress.add_task(f"  {label}", total=total)
        self.progress.update(self._steps, completed=done, total=total)

    def stepper(self, label: str) -> Callable[[int, int], None]:
        """The step callback for one node's inner progress bar."""
        return lambda done, total: self.steps(done, total, label)

    def end_steps(self) -> None:
        if self._steps is not None:
            self.progress.remove_task(self._steps)
            self._steps = None

    def log(self, message: str) -> None:
        log.info("%s", message)
        self.progress.console.print(message, highlight=False)

    def summary(self, records: list[NodeRecord], output: str, extra: dict[str, str]) -> None:
        table = Table(title="renga", title_justify="left")
        for column in ("stage", "ran", "cached", "seconds"):
            table.add_column(column, justify="right" if column != "stage" else "left")
        by_stage: dict[str, list[NodeRecord]] = {}
        for record in records:
            by_stage.setdefault(record.stage, []).append(record)
        for stage, items in by_stage.items():
            ran = sum(r.status == "ran" for r in items)
            table.add_row(
                stage, str(ran), str(len(items) - ran), f"{sum(r.seconds for r in items):.1f}"
            )
        self.console.print(table)
        lines = [
            f"warning: {record.id} skipped: {record.metrics['skipped']}"
            for record in records
            if record.metrics.get("skipped")
        ]
        ran = sum(r.status == "ran" for r in records)
        if ran == 0:
            every = "the 1 node was" if len(records) == 1 else f"all {len(records)} nodes were"
            lines.append(f"nothing to do: {every} cached")
        lines += [f"{name}: {value}" for name, value in extra.items()]
        lines.append(f"output: {output}")
        log.info("finished: %d nodes ran, %d cached", ran, len(records) - ran)
        for line in lines:
            log.info("%s", line)
            self.console.print(line, highlight=False, soft_wrap=True)
