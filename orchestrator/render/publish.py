"""Publishing a run: results into the run directory, run.json, the report."""

from __future__ import annotations

import json
import os
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from orchestrator.engine import integrity
from orchestrator.engine.errors import NodeError, RengaError, Stopped
from orchestrator.engine.graph import Graph
from orchestrator.engine.progress import NodeRecord
from orchestrator.engine.store import Store, write_json_atomic
from orchestrator.entries import CONTACT_SHEET_FILE, KEYFRAME_FILE, keyframe_id
from orchestrator.plan.music import music_summary
from orchestrator.plan.timeline import Timeline
from orchestrator.render.beats import FILE, STAGE
from orchestrator.render.stages import Stages, output_size, output_timing
from orchestrator.report.page import REPORT_FILE, write_report

RUN_JSON = "run.json"


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
    if STAGE in graph.nodes:
        files.append((STAGE, FILE, run_dir / FILE))
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
    width, height = output_size(timeline, stages)
    summary: dict[str, Any] = {
        "mode": timeline.mode,
        "frames": frames if timeline.mode == "video" else 0,
        "fps": float(fps),
        "duration": float(frames / fps) if timeline.mode == "video" else 0.0,
        "width": width,
        "height": height,
        "shots": [
            {"index": s.index, "frames": s.frames, "start": s.start, "seed": s.seed}
            for s in timeline.shots
        ],
        **music_summary(timeline),
        # Config values decided from the plan: {"assemble.color_match": ["auto", "mean_lab"]}.
        **({"settled": {k: list(v) for k, v in stages.settled.items()}} if stages.settled else {}),
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


def _in_graph_order(records: list[NodeRecord], graph: Graph) -> list[NodeRecord]:
    order = {node_id: index for index, node_id in enumerate(graph.nodes)}
    return sorted(records, key=lambda record: order.get(record.id, len(order)))
