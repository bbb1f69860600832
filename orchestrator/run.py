"""One run: plan, build the graph, execute against the store, publish to the run directory."""

from __future__ import annotations

import json
import os
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig

from orchestrator import beats
from orchestrator.errors import RengaError, UserError
from orchestrator.flow import (
    CONTACT_SHEET_FILE,
    KEYFRAME_FILE,
    Stages,
    build_graph,
    keyframe_id,
    output_timing,
)
from orchestrator.graph import Graph
from orchestrator.music import music_summary
from orchestrator.plan import Timeline, plan_job
from orchestrator.progress import NodeRecord, Reporter
from orchestrator.report import REPORT_FILE, write_report
from orchestrator.store import Store, write_json_atomic

RUN_JSON = "run.json"


def default_cache_dir() -> Path:
    if env := os.environ.get("RENGA_CACHE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "renga"


def cache_dir(cfg: DictConfig) -> Path:
    return Path(os.path.expanduser(cfg.cache_dir)) if cfg.cache_dir else default_cache_dir()


def prepare(cfg: DictConfig, run_dir: Path) -> tuple[Timeline, Graph, Stages, Store]:
    """Everything that can fail on bad input, done before any node runs."""
    stages = Stages.from_config(cfg)
    store = Store(_writable_dir(cache_dir(cfg), "cache_dir"))
    timeline = plan_job(cfg, stages.video, store)
    for backend in stages.backends():
        backend.validate(timeline)
    _writable_dir(run_dir, "hydra.run.dir")
    return timeline, build_graph(timeline, stages), stages, store


def _writable_dir(path: Path, key: str) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".renga-write-test-{uuid.uuid4().hex[:8]}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise UserError(key, f"cannot write to {path}: {exc.strerror or exc}") from None
    return path


def execute(cfg: DictConfig, run_dir: Path, reporter: Reporter) -> dict[str, Any]:
    timeline, graph, stages, store = prepare(cfg, run_dir)
    store.sweep()
    executor = instantiate(cfg.executor, _convert_="all")
    records: list[NodeRecord] = []
    try:
        with reporter:
            executor.run(graph, store, reporter, records)
    except BaseException as exc:
        _planned(records, timeline)
        publish(run_dir, timeline, graph, stages, store, records, error=exc)
        raise
    _planned(records, timeline)
    output = publish(run_dir, timeline, graph, stages, store, records)
    reporter.summary(
        records,
        str(output),
        _headline(timeline, stages) | _node_lines(records) | _peak_memory(records),
    )
    return json.loads((run_dir / RUN_JSON).read_text())


def _planned(records: list[NodeRecord], timeline: Timeline) -> None:
    """Nodes that ran at plan time (a music video's beat analysis) ran in this run, although
    the executor found them in the store."""
    made = timeline.music.analysed if timeline.music is not None else None
    for i, record in enumerate(records):
        if made is not None and record.id == made.id and record.key == made.key:
            records[i] = made


def _headline(timeline: Timeline, stages: Stages) -> dict[str, str]:
    if timeline.mode == "stills":
        return {"keyframes": str(len(timeline.keyframes))}
    frames, fps = output_timing(timeline, stages)
    return {
        "video": f"{frames} frames @ {float(fps):g} fps "
        f"({float(frames / fps):.2f} s, {timeline.width}x{timeline.height})"
    }


def _peak_memory(records: list[NodeRecord]) -> dict[str, str]:
    """The run's highest GPU memory and the node that reached it: what to size a preset by."""
    peaks = [(r.metrics["peak_vram_gib"], r.id) for r in records if "peak_vram_gib" in r.metrics]
    if not peaks:
        return {}
    gib, node = max(peaks)
    return {"peak GPU memory": f"{gib:.1f} GiB ({node})"}


# Summary lines in this order, then any other in alphabetical order: a node that ran reports
# them in its own order, one from the store in the manifest's (sorted) order.
LINE_ORDER = ("seams", "colour drift", "loop seam")


def _node_lines(records: list[NodeRecord]) -> dict[str, str]:
    """Summary lines nodes reported in their metrics (seams, drift, ...), in a stable order."""
    lines: dict[str, str] = {}
    for record in records:
        lines.update(record.metrics.get("summary", {}))
    rank = {name: i for i, name in enumerate(LINE_ORDER)}
    return dict(sorted(lines.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0])))


def publish(
    run_dir: Path,
    timeline: Timeline,
    graph: Graph,
    stages: Stages,
    store: Store,
    records: list[NodeRecord],
    error: BaseException | None = None,
) -> Path:
    """Copy finished results into the run dir under their final names, then write run.json and
    report.html (for a failed run too: they show what finished)."""
    done = {r.id for r in records}
    keyframes_dir = run_dir / "keyframes"
    for shot in timeline.keyframes:
        node = graph[keyframe_id(shot)]
        if node.id in done:
            keyframes_dir.mkdir(exist_ok=True)
            _place(
                store.entry(node.stage, node.key) / KEYFRAME_FILE,
                keyframes_dir / f"shot_{shot:03d}.png",
            )
    if timeline.mode == "stills":
        output = run_dir / CONTACT_SHEET_FILE
        source = "contact_sheet", CONTACT_SHEET_FILE
    else:
        output = run_dir / stages.mux.filename
        source = "mux", stages.mux.filename
    if source[0] in done:
        node = graph[source[0]]
        _place(store.entry(node.stage, node.key) / source[1], output)
    if beats.STAGE in done:
        _place(store.entry(beats.STAGE, graph[beats.STAGE].key) / beats.FILE, run_dir / beats.FILE)
    if timeline.mode == "video" and "contact_sheet" in done:
        sheet = graph["contact_sheet"]
        _place(
            store.entry(sheet.stage, sheet.key) / CONTACT_SHEET_FILE, run_dir / CONTACT_SHEET_FILE
        )
    frames, fps = output_timing(timeline, stages)
    summary: dict[str, Any] = {
        "mode": timeline.mode,
        "frames": frames if timeline.mode == "video" else 0,
        "fps": float(fps),
        "duration": float(frames / fps) if timeline.mode == "video" else 0.0,
        "width": timeline.width,
        "height": timeline.height,
        "shots": [
            {"index": s.index, "frames": s.frames, "start": s.start, "seed": s.seed}
            for s in timeline.shots
        ],
        **music_summary(timeline),
        "output": output.name if source[0] in done else None,
        "complete": source[0] in done,
        "store": str(store.root),
        "nodes": [r.as_json() for r in records],
    }
    write_json_atomic(run_dir / RUN_JSON, summary)
    _report(run_dir, summary, timeline, graph, store, stages.cfg, error)
    return output


def _report(
    run_dir: Path,
    summary: dict[str, Any],
    timeline: Timeline,
    graph: Graph,
    store: Store,
    cfg: DictConfig,
    error: BaseException | None,
) -> None:
    """The report is a view of the run: failing to draw it never fails the run."""
    reason = None
    if isinstance(error, RengaError):
        reason = str(error)
    elif isinstance(error, KeyboardInterrupt):
        reason = "interrupted"
    elif error is not None:
        reason = f"{type(error).__name__}: {error}"
    try:
        write_report(run_dir, summary, timeline, graph, store, cfg, reason)
    except Exception as exc:
        print(f"warning: {REPORT_FILE} not written: {type(exc).__name__}: {exc}", file=sys.stderr)


def _place(source: Path, target: Path) -> None:
    """Publish `source` at `target` atomically: a hard link when possible, else a copy."""
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def read_run(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / RUN_JSON).read_text())
