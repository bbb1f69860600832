"""`renga plan`: what a run would do, without rendering.

Every node with its key, whether the store already holds it, frames per shot and node, and an
estimate of the time to render the rest from the durations past runs recorded in the store's
manifests (seconds per frame, per megapixel where the node's size is known, per stage and
backend).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from orchestrator.engine.graph import Node
from orchestrator.engine.store import Store
from orchestrator.plan.cast import prompt_lines
from orchestrator.plan.timeline import Timeline
from orchestrator.render.audio import window_frames
from orchestrator.render.run import prepare

CACHED = "cached"
TO_RUN = "to run"


@dataclass(frozen=True)
class Rates:
    """Seconds per unit of work, learnt from the store: `(stage, backend) -> rate`."""

    rates: dict[tuple[str, str], float]
    samples: int

    @classmethod
    def from_store(cls, store: Store) -> Rates:
        seconds: dict[tuple[str, str], float] = {}
        units: dict[tuple[str, str], float] = {}
        samples = 0
        for manifest in store.manifests():
            stage, params = manifest.get("stage"), manifest.get("params", {})
            took = manifest.get("seconds")
            work = _work(stage, params, _past_frames(stage, params, manifest.get("metrics", {})))
            if not isinstance(took, int | float) or took <= 0 or not work:
                continue
            profile = (str(stage), _backend(params))
            seconds[profile] = seconds.get(profile, 0.0) + float(took)
            units[profile] = units.get(profile, 0.0) + work
            samples += 1
        return cls({p: seconds[p] / units[p] for p in seconds}, samples)

    def estimate(self, node: Node, frames: int) -> float | None:
        rate = self.rates.get((node.stage, _backend(node.params)))
        work = _work(node.stage, node.params, frames)
        return None if rate is None or not work else rate * work


def _backend(params: dict[str, Any]) -> str:
    """The class that did a node's work: the first `_target_` among its param sections."""
    for value in params.values():
        if isinstance(value, dict) and "_target_" in value:
            return str(value["_target_"])
    return ""


def _size(params: dict[str, Any]) -> float:
    request = params.get("request")
    if isinstance(request, dict) and request.get("width") and request.get("height"):
        return request["width"] * request["height"] / 1e6
    return 1.0


def _work(stage: Any, params: dict[str, Any], frames: int | None) -> float:
    return (frames or 0) * _size(params)


def _past_frames(stage: Any, params: dict[str, Any], metrics: dict[str, Any]) -> int | None:
    if stage == "keyframe":
        return 1
    if stage == "segment":
        return params.get("request", {}).get("num_frames")
    if stage == "contact_sheet":
        return len(params.get("labels", []))
    if stage == "audio_weights":
        return 1
    frames = params.get("frames", metrics.get("frames"))
    return frames if isinstance(frames, int) else None


def node_frames(node: Node, timeline: Timeline) -> int:
    """Frames a node renders or handles in this plan."""
    if node.stage == "keyframe":
        return 1
    if node.stage == "segment":
        return int(node.params["request"]["num_frames"])
    if node.stage == "contact_sheet":
        return len(timeline.keyframes)
    if node.stage == "footage":
        return int(node.params["frames"])
    if node.stage == "audio_weights":
        return 1
    if node.stage == "effects":
        return window_frames(node.params["window"], timeline.fps)
    return timeline.frames


def build(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """The plan as data: shots, nodes (key, cached or to run, frames, estimate) and totals."""
    timeline, graph, stages, store = prepare(cfg, run_dir)
    rates = Rates.from_store(store)
    fps = float(timeline.fps)
    nodes = []
    for node in graph:
        cached = store.lookup(node.stage, node.key) is not None
        frames = node_frames(node, timeline)
        nodes.append(
            {
                "id": node.id,
                "stage": node.stage,
                "key": node.key,
                "status": CACHED if cached else TO_RUN,
                "frames": frames,
                "estimate": None if cached else _round(rates.estimate(node, frames)),
            }
        )
    pending = [n for n in nodes if n["status"] == TO_RUN]
    return {
        "name": str(cfg.job.name),
        "mode": timeline.mode,
        "frames": timeline.frames if timeline.mode == "video" else 0,
        "fps": fps,
        "duration": timeline.duration if timeline.mode == "video" else 0.0,
        "width": timeline.width,
        "height": timeline.height,
        "store": str(store.root),
        "shots": [
            {
                "index": s.index,
                "frames": s.frames,
                "seconds": round(s.frames / fps, 3),
                "start": s.start,
                "prompt": _first_line(s.prompt),
                "keyframe_prompt": s.prompt,
                "video_prompt": s.motion,
            }
            for s in timeline.shots
        ],
        # Config values decided from the plan: {"assemble.color_match": ["auto", "mean_lab"]}.
        "settled": {key: list(values) for key, values in stages.settled.items()},
        "nodes": nodes,
        "estimate": _round(sum(n["estimate"] or 0.0 for n in pending)),
        "unestimated": sum(n["estimate"] is None for n in pending),
        "history": rates.samples,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


PROMPT_WIDTH = 48


def _first_line(text: str) -> str:
    """The prompt's first line (a Markdown title, or the start of a plain prompt), cut to one
    width so every row of the column reads the same way."""
    line = next((line for line in text.splitlines() if line.strip()), "")
    line = " ".join(line.strip().lstrip("#-* ").split())
    return line if len(line) <= PROMPT_WIDTH else line[: PROMPT_WIDTH - 1].rstrip() + "…"


def render_text(plan: dict[str, Any]) -> str:
    lines = [f"plan: {plan['name']} ({plan['mode']}, {plan['width']}x{plan['height']}"]
    if plan["mode"] == "video":
        lines[0] += f", {plan['frames']} frames @ {plan['fps']:g} fps = {plan['duration']:.2f} s"
    lines[0] += ")"
    lines += ["", "shot  frames  seconds  start  prompt"]
    lines += [
        f"{s['index']:>4}  {s['frames']:>6}  {s['seconds']:>7.2f}  {s['start']:>5}  {s['prompt']}"
        for s in plan["shots"]
    ]
    lines += prompt_lines(plan["shots"])
    if plan["settled"]:
        lines.append("")
        lines += [f"{key}: {asked} -> {value}" for key, (asked, value) in plan["settled"].items()]
    width = max(len(n["id"]) for n in plan["nodes"])
    lines += ["", f"{'node':<{width}}  {'stage':<13} {'status':<7} {'frames':>6}  estimate"]
    for n in plan["nodes"]:
        estimate = "" if n["status"] == CACHED else _seconds(n["estimate"])
        lines.append(
            f"{n['id']:<{width}}  {n['stage']:<13} {n['status']:<7} {n['frames']:>6}  {estimate}"
        )
    pending = [n for n in plan["nodes"] if n["status"] == TO_RUN]
    lines += ["", f"{len(plan['nodes'])} nodes: {len(plan['nodes']) - len(pending)} cached, "
              f"{len(pending)} to run"]  # fmt: skip
    if not pending:
        lines.append("nothing to render: the store holds every node")
    else:
        total = f"estimated render time: {_seconds(plan['estimate'])}"
        if plan["unestimated"]:
            total += f" + {plan['unestimated']} node(s) with no timing in the store yet"
        lines.append(f"{total} (from {plan['history']} past nodes in {plan['store']})")
    return "\n".join(lines)


def _seconds(value: float | None) -> str:
    if value is None:
        return "?"
    if value < 60:
        return f"~{value:.1f} s"
    minutes, seconds = divmod(round(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"~{hours} h {minutes:02d} min" if hours else f"~{minutes} min {seconds:02d} s"


def show(cfg: DictConfig, run_dir: Path, as_json: bool) -> str:
    plan = build(cfg, run_dir)
    return json.dumps(plan, indent=2) if as_json else render_text(plan)
