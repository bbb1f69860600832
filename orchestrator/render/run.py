"""One run: plan, build the graph, execute against the store, publish to the run directory."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig

from orchestrator.engine import integrity, signals
from orchestrator.engine.errors import NODE_ERROR_EXIT, RengaError, UserError
from orchestrator.engine.graph import Graph
from orchestrator.engine.progress import NodeRecord, Reporter
from orchestrator.engine.store import MANIFEST, Store
from orchestrator.plan.job import plan_job
from orchestrator.plan.timeline import Timeline
from orchestrator.render.beats import StoredBeats
from orchestrator.render.graph import build_graph
from orchestrator.render.publish import RUN_JSON, publish, published_files
from orchestrator.render.stages import Stages, output_size, output_timing
from orchestrator.schema.bounds import check_config

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
    return _prepare(cfg, run_dir)[:4]


def _prepare(cfg: DictConfig, run_dir: Path) -> tuple[Timeline, Graph, Stages, Store, StoredBeats]:
    """`prepare`, and the beat analysis the planner was handed (it knows whether it ran)."""
    check_config(cfg)
    stages = Stages.from_config(cfg)
    store = Store(writable_dir(cache_dir(cfg), "cache_dir"))
    beats = StoredBeats(store)
    timeline = plan_job(cfg, stages.video, beats)
    # Every backend's problem at once (a job with two missing models names both); stills
    # render only keyframes, so they need no video model, sound or encoder.
    errors = []
    stills = [b for b in (stages.keyframes,) if b is not None]
    used = stages.backends() if timeline.mode == "video" else stills
    for backend in used:
        try:
            backend.validate(timeline)
        except UserError as exc:
            errors.append(exc)
    if errors:
        rest = "".join(f"; {error}" for error in errors[1:])
        raise UserError(errors[0].key, errors[0].message + rest)
    writable_dir(run_dir, "hydra.run.dir")
    return timeline, build_graph(timeline, stages), stages, store, beats


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
    timeline, graph, stages, store, beats = _prepare(cfg, run_dir)
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
        store.discard_own()
        stop.finished = _in_store(graph, store)
        publish(run_dir, timeline, graph, stages, store, records, error=stop)
        raise stop from None
    except BaseException as exc:
        _planned(records, beats.ran)
        publish(run_dir, timeline, graph, stages, store, records, error=exc)
        raise
    _planned(records, beats.ran)
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


def _planned(records: list[NodeRecord], made: NodeRecord | None) -> None:
    """Nodes that ran at plan time (a music video's beat analysis) ran in this run, although
    the executor found them in the store."""
    for i, record in enumerate(records):
        if made is not None and record.id == made.id and record.key == made.key:
            records[i] = made


def _headline(timeline: Timeline, stages: Stages) -> dict[str, str]:
    if timeline.mode == "stills":
        return {"keyframes": str(len(timeline.keyframes))}
    frames, fps = output_timing(timeline, stages)
    width, height = output_size(timeline, stages)
    return {
        "video": f"{frames} frames @ {float(fps):g} fps "
        f"({float(frames / fps):.2f} s, {width}x{height})"
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
