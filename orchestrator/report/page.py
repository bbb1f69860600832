"""`report.html`: one self-contained page that shows a run at a glance instead of a log.

Keyframes, a filmstrip per segment, the timeline (shots, segments, cuts, beats), per-seam metrics,
per-node timing and cache hits, and the resolved config. Thumbnails are embedded as data URIs and
charts are inline SVG, so the page needs no network and no script. Written for failed runs too,
showing what finished.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from orchestrator.engine.graph import Graph
from orchestrator.engine.store import Store, write_text_atomic
from orchestrator.entries import CLIP_FILE, KEYFRAME_FILE, keyframe_id
from orchestrator.media.container import MediaError
from orchestrator.media.images import load_image, thumbnail_jpeg
from orchestrator.media.video import read_frame
from orchestrator.plan.timeline import Timeline
from orchestrator.report.charts import seams_section
from orchestrator.report.html import data_uri, esc, img_tag, section_html
from orchestrator.report.timeline import timeline_section

REPORT_FILE = "report.html"
KEYFRAME_THUMB = 320
FILM_THUMB = 176
# Outputs a browser plays beside the page (ProRes .mov does not play in browsers).
PLAYABLE = (".mp4",)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_HERE = Path(__file__).resolve().parent


def write_report(
    run_dir: Path,
    summary: Mapping[str, Any],
    timeline: Timeline,
    graph: Graph,
    store: Store,
    cfg: DictConfig,
    error: str | None = None,
) -> Path:
    """Build the page from run.json's summary plus the store's files, and publish it atomically."""
    path = run_dir / REPORT_FILE
    write_text_atomic(path, render(summary, timeline, graph, store, cfg, error, run_dir))
    return path


def render(
    summary: Mapping[str, Any],
    timeline: Timeline,
    graph: Graph,
    store: Store,
    cfg: DictConfig,
    error: str | None = None,
    run_dir: Path | None = None,
) -> str:
    records = {n["id"]: n for n in summary.get("nodes", [])}
    name = str(cfg.job.get("name", "renga"))
    sections = [
        _header(
            name, summary, timeline, graph, records, error, _poster(timeline, graph, store), run_dir
        ),  # fmt: skip
        _keyframes(timeline, graph, store, records),
    ]
    if timeline.mode == "video":
        sections += [
            timeline_section(timeline, summary),
            _filmstrips(timeline, graph, store, records, error),
            seams_section(records),
        ]
    sections += [_nodes(graph, store, records, error), _config(cfg)]
    page = (_HERE / "page.html").read_text(encoding="utf-8")
    style = (_HERE / "style.css").read_text(encoding="utf-8")
    return page.format(title=esc(f"renga · {name}"), style=style, body="\n".join(sections))


# --------------------------------------------------------------------------- sections


def _header(
    name: str,
    summary: Mapping[str, Any],
    timeline: Timeline,
    graph: Graph,
    records: Mapping[str, Any],
    error: str | None,
    poster_uri: str | None,
    run_dir: Path | None = None,
) -> str:
    complete = bool(summary.get("complete"))
    status = "complete" if complete else "failed" if error else "incomplete"
    ran = sum(r["status"] == "ran" for r in records.values())
    cached = sum(r["status"] == "cached" for r in records.values())
    seconds = sum(float(r.get("seconds", 0.0)) for r in records.values())
    facts = [("mode", timeline.mode), ("size", f"{timeline.width}×{timeline.height}")]
    if timeline.mode == "video":
        facts += [
            ("frames", f"{timeline.frames} @ {float(timeline.fps):g} fps"),
            ("duration", f"{timeline.duration:.2f} s"),
            ("transition", timeline.transition),
            ("loop", timeline.loop),
        ]
    facts += [
        ("shots", str(len(timeline.shots))),
        ("nodes", f"{ran} ran · {cached} cached · {len(graph) - ran - cached} not run"),
        ("render time", f"{seconds:.1f} s"),
    ]
    output = summary.get("output")
    out = ""
    if output:
        link = f'<a href="{esc(output)}">{esc(output)}</a>'
        # An absolute path, so the command works from any directory.
        target = (run_dir.absolute() / output) if run_dir is not None else Path(output)
        again = f"<code>renga reproduce {esc(shlex.quote(str(target)))}</code>"
        out = f'<p class="output">output: {link} · run it again: {again}</p>'
        if output.endswith(PLAYABLE):
            poster = f' poster="{esc(poster_uri)}"' if poster_uri else ""
            out += (
                f'<video class="player" src="{esc(output)}"{poster} controls '
                'preload="metadata"></video>'
            )
    failure = f'<div class="error">{esc(error)}</div>' if error else ""
    items = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in facts)
    return (
        f'<header><h1>{esc(name)} <span class="badge {status}">{status}</span></h1>'
        f"{failure}<dl class=facts>{items}</dl>{out}</header>"
    )


def _poster(timeline: Timeline, graph: Graph, store: Store) -> str | None:
    """The first keyframe as the player's still, so the page shows a picture before playing."""
    if not timeline.keyframes:
        return None
    node = graph[keyframe_id(timeline.keyframes[0])]
    try:
        image = load_image(store.entry(node.stage, node.key) / KEYFRAME_FILE)
    except MediaError:
        return None
    return data_uri(thumbnail_jpeg(image, 640))


def _keyframes(timeline: Timeline, graph: Graph, store: Store, records: Mapping[str, Any]) -> str:
    cards = []
    for shot in timeline.keyframes:
        node = graph[keyframe_id(shot)]
        plan = timeline.shots[shot]
        picture = _thumb_image(store, node.stage, node.key, records, node.id, KEYFRAME_THUMB)
        prompt = next((line for line in plan.prompt.splitlines() if line.strip()), "")
        if plan.footage is not None:
            prompt = f"last frame of your clip {plan.footage.path.name} · {prompt}"
        cards.append(
            f'<figure class="card">{picture}<figcaption><b>shot {shot}</b>'
            f" · {plan.frames} frames · seed {plan.seed}"
            f'<span class="prompt">{esc(prompt.lstrip("#-* "))}</span></figcaption></figure>'
        )
    return section_html("Keyframes", f'<div class="sheet-grid">{"".join(cards)}</div>')


def _thumb_image(
    store: Store, stage: str, key: str, records: Mapping[str, Any], node_id: str, width: int
) -> str:
    if node_id not in records:
        return '<div class="missing">not rendered</div>'
    try:
        image = load_image(store.entry(stage, key) / KEYFRAME_FILE)
    except MediaError:
        return '<div class="missing">missing from the store</div>'
    return img_tag(thumbnail_jpeg(image, width), f"{node_id}")


def _filmstrips(
    timeline: Timeline, graph: Graph, store: Store, records: Mapping[str, Any], error: str | None
) -> str:
    failed = _failed_node(error)
    rows = []
    for segment in timeline.segments:
        node = graph[segment.id]
        record = records.get(node.id)
        last = segment.num_frames - 1
        picks = (("first", 0), ("middle", last // 2), ("last", last))
        if record is None:
            frames = "".join(f'<div class="missing">{label}</div>' for label, _ in picks)
        else:
            clip = store.entry(node.stage, node.key) / CLIP_FILE
            frames = "".join(_frame_thumb(clip, label, index) for label, index in picks)
        status = record["status"] if record else "failed" if node.id == failed else "not run"
        rows.append(
            f'<div class="strip"><div class="strip-label"><b>{esc(segment.id)}</b>'
            f"<span>{segment.num_frames} frames · keeps {segment.contributes}</span>"
            f'<span>seed {segment.seed}</span><span class="st {status.replace(" ", "-")}">'
            f"{esc(status)}</span></div>"
            f'<div class="frames">{frames}</div></div>'
        )
    return section_html("Segments", "".join(rows))


def _frame_thumb(clip: Path, label: str, index: int) -> str:
    try:
        frame = read_frame(clip, index)
    except (MediaError, IndexError):
        return f'<div class="missing">{label}: unreadable</div>'
    picture = img_tag(thumbnail_jpeg(frame, FILM_THUMB), f"{label} frame {index}")
    return f"<figure>{picture}<figcaption>{label} · {index}</figcaption></figure>"


def _nodes(graph: Graph, store: Store, records: Mapping[str, Any], error: str | None) -> str:
    slowest = max((float(r.get("seconds", 0.0)) for r in records.values()), default=0.0) or 1.0
    failed = _failed_node(error)
    rows = []
    stages: dict[str, list[float]] = {}
    for node in graph:
        record = records.get(node.id)
        status = record["status"] if record else "failed" if node.id == failed else "not run"
        seconds = float(record.get("seconds", 0.0)) if record else 0.0
        built = ""
        if record and record["status"] == "cached":
            manifest = store.lookup(node.stage, node.key) or {}
            if "seconds" in manifest:
                built = f"built in {float(manifest['seconds']):.2f} s"
        stats = stages.setdefault(node.stage, [0, 0, 0, 0.0])
        stats[0 if status == "ran" else 1 if status == "cached" else 2] += 1
        stats[3] += seconds
        bar = f'<span class="bar" style="width:{100 * seconds / slowest:.1f}%"></span>'
        rows.append(
            f"<tr><td>{esc(node.id)}</td><td>{esc(node.stage)}</td>"
            f'<td><span class="st {status.replace(" ", "-")}">{status}</span></td>'
            f'<td class="num">{seconds:.2f}</td><td class="barcell">{bar}</td>'
            f'<td class="dim">{built}</td>'
            f"<td><code>{esc(node.key)}</code></td></tr>"
        )
    per_stage = "".join(
        f"<tr><td>{esc(stage)}</td><td class=num>{int(s[0])}</td><td class=num>{int(s[1])}</td>"
        f"<td class=num>{int(s[2])}</td><td class=num>{s[3]:.2f}</td></tr>"
        for stage, s in stages.items()
    )
    summary = (
        "<table class=stages><tr><th>stage</th><th>ran</th><th>cached</th><th>not run</th>"
        f"<th>seconds</th></tr>{per_stage}</table>"
    )
    table = (
        "<table class=nodes><tr><th>node</th><th>stage</th><th>status</th><th>seconds</th>"
        f"<th></th><th></th><th>key</th></tr>{''.join(rows)}</table>"
    )
    return section_html("Nodes", summary + table)


def _failed_node(error: str | None) -> str | None:
    if error and error.startswith("node ") and " failed" in error:
        return error[len("node ") : error.index(" failed")]
    return None


def _config(cfg: DictConfig) -> str:
    # The same text OmegaConf.to_yaml gives, dumped by libyaml in a third of the time.
    values = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    text = yaml.dump(values, Dumper=_DUMPER, sort_keys=False, allow_unicode=True)
    summary = "<summary>show the config that made this run (YAML)</summary>"
    return section_html("Resolved config", f"<details>{summary}<pre>{esc(text)}</pre></details>")


# --------------------------------------------------------------------------- helpers
