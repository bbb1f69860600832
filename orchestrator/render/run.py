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

from orchestrator.engine import integrity, signals
from orchestrator.engine.errors import NODE_ERROR_EXIT, NodeError, RengaError, Stopped, UserError
from orchestrator.engine.graph import Graph
from orchestrator.engine.progress import NodeRecord, Reporter
from orchestrator.engine.store import MANIFEST, Store, write_json_atomic
from orchestrator.plan import beats
from orchestrator.plan.job import Timeline, plan_job
from orchestrator.plan.music import music_summary
from orchestrator.render.graph import (
    CONTACT_SHEET_FILE,
    KEYFRAME_FILE,
    Stages,
    build_graph,
    keyframe_id,
    output_timing,
)
from orchestrator.report.page import REPORT_FILE, write_report
from orchestrator.schema.bounds import check_config

RUN_JSON = "run.json"
# Hydra's job log (hydra.job.name is renga).
LOG_FILE = "renga.log"
# Written and removed to prove a directory takes data: a full disk still creates empty files.
_PROBE = b"renga" * 820


class PublishError(RengaError):
    """The run finished but its results could not be written to the run directory."""

    exit_code = NODE_ERROR_EXIT

    def __init__(self, run_dir: Path, exc: OSError) -> None:
        super().__init__(
            f"hydra.run.dir: cannot write {exc.filename or run_dir}: {exc.strerror or exc}; "
            "every node is finished and kept in the store: free space (or choose another "
            "hydra.run.dir) and run the same command again to publish"
        )


def default_cache_dir() -> Path:
    if env := os.environ.get("RENGA_CACHE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "renga"


def cache_dir(cfg: DictConfig) -> Path:
    return Path(os.path.expanduser(cfg.cache_dir)) if cfg.cache_dir else default_cache_dir()


def prepare(cfg: DictConfig, run_dir: Path) -> tuple[Timeline, Graph, Stages, Store]:
    """Everything that can fail on bad input, done before any node runs."""
    check_config(cfg)
    stages = Stages.from_config(cfg)
    store = Store(writable_dir(cache_dir(cfg), "cache_dir"))
    timeline = plan_job(cfg, stages.video, store)
    # Every backend's problem at once (a job with two missing models names both).
    errors = []
    for backend in stages.backends():
        try:
            backend.validate(timeline)
        except UserError as exc:
            errors.append(exc)
    if errors:
        rest = "".join(f"; {error}" for error in errors[1:])
        raise UserError(errors[0].key, errors[0].message + rest)
    writable_dir(run_dir, "hydra.run.dir")
    return timeline, build_graph(timeline, stages), stages, store


def writable_dir(path: Path, key: str) -> Path:
    """`path`, created if needed, once a few KiB written there come back without error."""
    probe = path / f".renga-write-test-{uuid.uuid4().hex[:8]}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(_PROBE)
    except OSError as exc:
        if probe.is_file():
            probe.unlink()
        raise UserError(key, f"cannot write to {path}: {exc.strerror or exc}") from None
    probe.unlink()
    return path


def execute(cfg: DictConfig, run_dir: Path, reporter: Reporter) -> dict[str, Any]:
    timeline, graph, stages, store = prepare(cfg, run_dir)
    records: list[NodeRecord] = []
    try:
        store.sweep()
        published = [node_id for node_id, _, _ in published_files(run_dir, timeline, graph, stages)]
        integrity.check_before_run(graph, store, published)
        executor = instantiate(cfg.executor, _convert_="all")
        with reporter:
            executor.run(graph, store, reporter, records)
    except KeyboardInterrupt as exc:
        stop = signals.stopped(exc)
        stop.finished = _in_store(graph, store)
        publish(run_dir, timeline, graph, stages, store, records, error=stop)
        raise stop from None
    except BaseException as exc:
        _planned(records, timeline)
        publish(run_dir, timeline, graph, stages, store, records, error=exc)
        raise
    _planned(records, timeline)
    try:
        output = publish(run_dir, timeline, graph, stages, store, records)
    except KeyboardInterrupt as exc:
        stop = signals.stopped(exc)
        stop.finished = _in_store(graph, store)
        raise stop from None
    except OSError as exc:
        raise PublishError(run_dir, exc) from exc
    reporter.summary(
        records,
        str(output),
        _headline(timeline, stages) | _node_lines(records) | _peak_memory(records),
    )
    return json.loads((run_dir / RUN_JSON).read_text())


def _in_store(graph: Graph, store: Store) -> int:
    """The graph's nodes a run of the same command will not build again (a Ray worker may have
    finished one the driver had not yet heard of)."""
    return sum((store.entry(node.stage, node.key) / MANIFEST).is_file() for node in graph)


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


def published_files(
    run_dir: Path, timeline: Timeline, graph: Graph, stages: Stages
) -> list[tuple[str, str, Path]]:
    """What a run publishes: (node id, file in its entry, path in the run dir); the main output
    (the video, or the contact sheet in stills mode) first."""
    if timeline.mode == "stills":
        files = [("contact_sheet", CONTACT_SHEET_FILE, run_dir / CONTACT_SHEET_FILE)]
    else:
        files = [("mux", stages.mux.filename, run_dir / stages.mux.filename)]
        if "contact_sheet" in graph.nodes:
            files.append(("contact_sheet", CONTACT_SHEET_FILE, run_dir / CONTACT_SHEET_FILE))
    files += [
        (keyframe_id(shot), KEYFRAME_FILE, run_dir / "keyframes" / f"shot_{shot:03d}.png")
        for shot in timeline.keyframes
    ]
    if beats.STAGE in graph.nodes:
        files.append((beats.STAGE, beats.FILE, run_dir / beats.FILE))
    return files


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
    report.html (for a failed run too: they show what finished). An entry is hashed before it is
    published (unless this process built or hashed it already); a corrupt one is set aside and
    not published, and the run fails so that the next one rebuilds it."""
    done = {r.id for r in records}
    files = published_files(run_dir, timeline, graph, stages)
    corrupt = []
    for node_id, name, target in files:
        node = graph[node_id]
        if node_id not in done:
            continue
        if (damage := store.intact(node.stage, node.key)) is not None:
            integrity.warn(damage, store.set_aside(node.stage, node.key))
            corrupt.append(node_id)
            continue
        target.parent.mkdir(exist_ok=True)
        place(store.entry(node.stage, node.key) / name, target)
    main, _, output = files[0]
    complete = main in done and main not in corrupt
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
        "output": output.name if complete else None,
        "complete": complete,
        "store": str(store.root),
        # In graph order, not the order nodes finished in: that differs between a fresh run,
        # a resumed one and the Ray executor, and run.json is the same for the same config.
        "nodes": [r.as_json() for r in _in_graph_order(records, graph)],
    }
    write_json_atomic(run_dir / RUN_JSON, summary)
    _report(run_dir, summary, timeline, graph, store, stages.cfg, error)
    if corrupt and error is None:
        raise NodeError(corrupt[0], "its store entry was corrupt when published; moved aside")
    return output


def _in_graph_order(records: list[NodeRecord], graph: Graph) -> list[NodeRecord]:
    order = {node_id: index for index, node_id in enumerate(graph.nodes)}
    return sorted(records, key=lambda record: order.get(record.id, len(order)))


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
    elif isinstance(error, Stopped):
        reason = f"stopped by {error.args[0]}"
    elif isinstance(error, KeyboardInterrupt):
        reason = "interrupted"
    elif error is not None:
        reason = f"{type(error).__name__}: {error}"
    try:
        write_report(run_dir, summary, timeline, graph, store, cfg, reason)
    except Exception as exc:
        print(f"warning: {REPORT_FILE} not written: {type(exc).__name__}: {exc}", file=sys.stderr)


def place(source: Path, target: Path) -> None:
    """Publish `source` at `target` atomically: a hard link when possible, else a copy."""
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_run(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / RUN_JSON).read_text())
