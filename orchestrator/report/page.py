"""`report.html`: one self-contained page that shows a run at a glance instead of a log.

Keyframes, a filmstrip per segment, the timeline (shots, segments, cuts, beats), per-seam metrics,
per-node timing and cache hits, and the resolved config. Thumbnails are embedded as data URIs and
charts are inline SVG, so the page needs no network and no script. Written for failed runs too,
showing what finished.
"""

from __future__ import annotations

import base64
import html
import math
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from orchestrator.engine.graph import Graph
from orchestrator.engine.store import Store, write_text_atomic
from orchestrator.media import video as media
from orchestrator.plan.job import ShotPlan, Timeline
from orchestrator.render.graph import CLIP_FILE, KEYFRAME_FILE, keyframe_id

REPORT_FILE = "report.html"
KEYFRAME_THUMB = 320
FILM_THUMB = 176
# Node metrics whose value is a list of times in seconds, drawn as ticks on the timeline.
BEAT_KEYS = ("beats", "downbeats", "bars", "onsets")
# Outputs a browser plays beside the page (ProRes .mov does not play in browsers).
PLAYABLE = (".mp4",)
SHOT_COLOURS = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#e15759")
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


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
    return _PAGE.format(title=esc(f"renga · {name}"), style=_STYLE, body="\n".join(sections))


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
        image = media.load_image(store.entry(node.stage, node.key) / KEYFRAME_FILE)
    except media.MediaError:
        return None
    return data_uri(media.thumbnail_jpeg(image, 640))


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
        image = media.load_image(store.entry(stage, key) / KEYFRAME_FILE)
    except media.MediaError:
        return '<div class="missing">missing from the store</div>'
    return img_tag(media.thumbnail_jpeg(image, width), f"{node_id}")


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
        frame = media.read_frame(clip, index)
    except (media.MediaError, IndexError):
        return f'<div class="missing">{label}: unreadable</div>'
    picture = img_tag(media.thumbnail_jpeg(frame, FILM_THUMB), f"{label} frame {index}")
    return f"<figure>{picture}<figcaption>{label} · {index}</figcaption></figure>"


def _own_clip(shot: ShotPlan, x0: float, x1: float, y: int, fps: float) -> str:
    """The user's included clip, hatched inside its shot: footage, not generated."""
    assert shot.footage is not None
    name = esc(shot.footage.path.name)
    return (
        f'<rect x="{x0:.1f}" y="{y}" width="{x1 - x0:.1f}" height="22" rx="3" class="own">'
        f"<title>your clip {name}: frames {shot.start}–{shot.start + shot.lead - 1} "
        f"({shot.lead / fps:.2f} s, from {float(shot.footage.start):g} s)</title></rect>"
        f'<text x="{(x0 + x1) / 2:.1f}" y="{y - 4}" class="lab" text-anchor="middle">'
        f"your clip</text>"
    )


def timeline_section(timeline: Timeline, summary: Mapping[str, Any]) -> str:
    width, left, right = 1000, 70, 20
    span = width - left - right
    total = max(timeline.frames, 1)
    fps = float(timeline.fps)

    def x(frame: float) -> float:
        return left + span * frame / total

    parts: list[str] = []
    rows = {"shots": 34, "segments": 78, "beats": 118}
    for label, y in rows.items():
        parts.append(
            f'<text x="{left - 8}" y="{y + 14}" class="lab" text-anchor="end">{label}</text>'
        )
    for shot in timeline.shots:
        colour = SHOT_COLOURS[shot.index % len(SHOT_COLOURS)]
        x0, x1 = x(shot.start), x(shot.start + shot.frames)
        parts.append(
            f'<rect x="{x0:.1f}" y="{rows["shots"]}" width="{x1 - x0:.1f}" height="22" rx="3" '
            f'fill="{colour}"><title>shot {shot.index}: frames {shot.start}–'
            f"{shot.start + shot.frames - 1} ({shot.frames / fps:.2f} s)</title></rect>"
        )
        if shot.lead:
            parts.append(_own_clip(shot, x0, x(shot.start + shot.lead), rows["shots"], fps))
        if x1 - x0 > 40:
            parts.append(
                f'<text x="{(x0 + x1) / 2:.1f}" y="{rows["shots"] + 15}" class="in" '
                f'text-anchor="middle">shot {shot.index}</text>'
            )
    start = 0
    for segment in timeline.segments:
        x0, x1 = x(start), x(start + segment.contributes)
        colour = SHOT_COLOURS[segment.shot % len(SHOT_COLOURS)]
        parts.append(
            f'<rect x="{x0 + 0.5:.1f}" y="{rows["segments"]}" width="{max(x1 - x0 - 1, 1):.1f}" '
            f'height="22" rx="2" fill="{colour}" fill-opacity="0.55" stroke="{colour}">'
            f"<title>{segment.id}: {segment.num_frames}-frame clip, keeps "
            f"{segment.contributes}</title></rect>"
        )
        start += segment.contributes
    if timeline.frames > timeline.forward_frames:
        x0 = x(timeline.forward_frames)
        parts.append(
            f'<rect x="{x0:.1f}" y="{rows["shots"]}" width="{x(total) - x0:.1f}" height="66" '
            f'class="back"><title>ping-pong: the way back</title></rect>'
            f'<text x="{(x0 + x(total)) / 2:.1f}" y="{rows["segments"] + 15}" class="lab" '
            f'text-anchor="middle">way back</text>'
        )
    cut_kind = "cut" if timeline.transition == "cut" else timeline.transition
    for shot in timeline.shots[1:]:
        cx = x(shot.start)
        parts.append(
            f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="26" y2="142" class="cut">'
            f"<title>{cut_kind} at frame {shot.start} ({shot.start / fps:.2f} s)</title></line>"
        )
    beats = beat_times(summary)
    if beats:
        for i, (name, times) in enumerate(beats.items()):
            height = 22 if i == 0 else 12
            for t in times:
                if 0 <= t * fps <= total:
                    bx = x(t * fps)
                    parts.append(
                        f'<line x1="{bx:.1f}" x2="{bx:.1f}" y1="{rows["beats"]}" '
                        f'y2="{rows["beats"] + height}" class="beat b{i % 3}">'
                        f"<title>{esc(name)} {t:.2f} s</title></line>"
                    )
    else:
        parts.append(
            f'<text x="{left}" y="{rows["beats"] + 14}" class="lab">no beat analysis in this run'
            "</text>"
        )
    for t in _ticks(timeline.duration):
        tx = x(t * fps)
        parts.append(
            f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="150" y2="156" class="axis"/>'
            f'<text x="{tx:.1f}" y="170" class="lab" text-anchor="middle">{t:g} s</text>'
        )
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="150" y2="150" class="axis"/>')
    svg = f'<svg viewBox="0 0 {width} 178" class="timeline" role="img">{"".join(parts)}</svg>'
    legend = ", ".join(f"{esc(k)} ({len(v)})" for k, v in beats.items())
    note = f'<p class="note">beat marks: {legend}</p>' if beats else ""
    return section_html("Timeline", svg + note)


def beat_times(summary: Mapping[str, Any]) -> dict[str, list[float]]:
    """Times in seconds of beats (and bars, downbeats, onsets) recorded anywhere in the run:
    at the top of run.json or in any node's metrics."""
    found: dict[str, list[float]] = {}
    sources: list[Mapping[str, Any]] = [summary]
    sources += [n.get("metrics", {}) for n in summary.get("nodes", [])]
    for source in sources:
        for name in BEAT_KEYS:
            times = _times(source.get(name))
            if times and name not in found:
                found[name] = times
    return found


def _times(value: Any) -> list[float]:
    if not isinstance(value, list):
        return []
    times = []
    for item in value:
        if isinstance(item, Mapping):
            item = next((item[k] for k in ("time", "seconds", "t") if k in item), None)
        if is_number(item):
            times.append(float(item))
    return times


def _ticks(duration: float) -> list[float]:
    if duration <= 0:
        return [0.0]
    step = next(s for s in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1e9) if duration / s <= 12)
    return [i * step for i in range(int(duration / step) + 1)]


def seams_section(records: Mapping[str, Any]) -> str:
    metrics = records.get("assemble", {}).get("metrics", {})
    series = metric_series(metrics)
    if not series:
        body = '<p class="note">no per-seam metrics were recorded for this run.</p>'
    else:
        body = '<div class="charts">' + "".join(_chart(n, v) for n, v in series.items()) + "</div>"
    scalars = {k: v for k, v in metrics.items() if is_number(v)}
    if scalars:
        items = "".join(
            f"<div><dt>{esc(k)}</dt><dd>{fmt_number(v)}</dd></div>" for k, v in scalars.items()
        )
        body += f'<h3>assemble metrics</h3><dl class="facts">{items}</dl>'
    return section_html("Seams and drift", body)


def metric_series(metrics: Mapping[str, Any]) -> dict[str, list[float]]:
    """Every numeric series in a node's metrics: a list of numbers, a list of records (one series
    per numeric field) or a mapping of such lists."""
    series: dict[str, list[float]] = {}

    def visit(name: str, value: Any) -> None:
        if isinstance(value, list) and value and all(is_number(v) for v in value):
            series[name] = [float(v) for v in value]
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            fields = [k for k in value[0] if all(is_number(v.get(k)) for v in value)]
            for field in fields:
                series[f"{name}.{field}"] = [float(v[field]) for v in value]
        elif isinstance(value, Mapping):
            for key, inner in value.items():
                visit(f"{name}.{key}", inner)

    for key, value in metrics.items():
        if key not in BEAT_KEYS:
            visit(key, value)
    return {k: v for k, v in series.items() if not k.endswith((".index", ".seam"))}


# Series shorter than this are drawn as bars (a one-join video has one seam).
BAR_CHART_BELOW = 3


def _chart(name: str, values: Sequence[float]) -> str:
    width, height, left, bottom, top = 440, 170, 52, 26, 14
    # From zero (ratios and colour distances are not negative): a bar's height is its value.
    lo, hi = min(0.0, min(values)), max(values)
    if math.isclose(lo, hi):
        lo, hi = lo - 1, hi + 1
    span_x = width - left - 12
    span_y = height - top - bottom
    n = len(values)

    def px(i: int) -> float:
        return left + (span_x * (i + 0.5) / n)

    def py(v: float) -> float:
        return top + span_y * (1 - (v - lo) / (hi - lo))

    parts = [
        f'<line x1="{left}" x2="{width - 12}" y1="{height - bottom}" y2="{height - bottom}" '
        'class="axis"/>',
        f'<line x1="{left}" x2="{left}" y1="{top}" y2="{height - bottom}" class="axis"/>',
        f'<text x="{left - 6}" y="{top + 4}" class="lab" text-anchor="end">{fmt_number(hi)}</text>',
        f'<text x="{left - 6}" y="{height - bottom}" class="lab" text-anchor="end">{fmt_number(lo)}'
        "</text>",
    ]
    if n < BAR_CHART_BELOW:
        # A line through one or two points says nothing: bars, each labelled with its value.
        bar = span_x / n * 0.4
        for i, v in enumerate(values):
            y0, y1 = sorted((py(0.0), py(v)))
            parts.append(
                f'<rect x="{px(i) - bar / 2:.1f}" y="{y0:.1f}" width="{bar:.1f}" '
                f'height="{max(y1 - y0, 1.0):.1f}" class="vbar"/>'
                f'<text x="{px(i):.1f}" y="{y0 - 5:.1f}" class="lab" text-anchor="middle">'
                f"{fmt_number(v)}</text>"
            )
    else:
        points = " ".join(f"{px(i):.1f},{py(v):.1f}" for i, v in enumerate(values))
        parts.append(f'<polyline points="{points}" class="series"/>')
    label_every = max(1, math.ceil(n / 12))
    for i, v in enumerate(values):
        parts.append(
            f'<circle cx="{px(i):.1f}" cy="{py(v):.1f}" r="3.5" class="dot">'
            f"<title>{esc(name)} [{i}] = {fmt_number(v)}</title></circle>"
        )
        if i % label_every == 0:
            parts.append(
                f'<text x="{px(i):.1f}" y="{height - bottom + 15}" class="lab" '
                f'text-anchor="middle">{i}</text>'
            )
    svg = f'<svg viewBox="0 0 {width} {height}" role="img">{"".join(parts)}</svg>'
    return f'<figure class="chart"><figcaption>{esc(name)}</figcaption>{svg}</figure>'


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


def section_html(title: str, body: str) -> str:
    return f"<section><h2>{esc(title)}</h2>{body}</section>"


def data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def img_tag(jpeg: bytes, alt: str) -> str:
    return f'<img src="{data_uri(jpeg)}" alt="{esc(alt)}">'


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def fmt_number(value: float) -> str:
    return f"{value:.4g}"


_STYLE = """
:root { color-scheme: dark; --bg:#15161a; --panel:#1e2026; --line:#30333b; --text:#e6e6e6;
  --dim:#9aa0aa; --accent:#7aa2f7; --ok:#59a14f; --cached:#4e79a7; --bad:#e15759; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--text);
  font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width:1100px; margin:0 auto; padding:24px 28px 60px; }
h1 { font-size:26px; margin:0 0 12px; display:flex; align-items:center; gap:12px; }
h2 { font-size:15px; text-transform:uppercase; letter-spacing:.08em; color:var(--dim);
  margin:0 0 12px; }
section, header { background:var(--panel); border:1px solid var(--line); border-radius:10px;
  padding:18px 20px; margin:0 0 18px; }
.badge { font-size:12px; padding:3px 10px; border-radius:99px; text-transform:uppercase;
  letter-spacing:.06em; }
.badge.complete { background:var(--ok); color:#fff; }
.badge.failed { background:var(--bad); color:#fff; }
.badge.incomplete { background:#edc948; color:#222; }
.error { background:#3a1d20; border:1px solid var(--bad); border-radius:6px; padding:10px 12px;
  margin:0 0 12px; font-family:ui-monospace, monospace; font-size:13px; white-space:pre-wrap; }
dl.facts { display:flex; flex-wrap:wrap; gap:10px 28px; margin:0; }
dl.facts dt { color:var(--dim); font-size:12px; }
dl.facts dd { margin:0; font-weight:600; }
.output { margin:14px 0 0; }
video.player { display:block; margin-top:12px; max-width:100%; max-height:360px;
  border-radius:6px; background:#000; }
a { color:var(--accent); }
.sheet-grid { display:grid; grid-template-columns:repeat(auto-fill, minmax(230px, 1fr));
  gap:14px; }
.card { margin:0; background:#121317; border:1px solid var(--line); border-radius:8px;
  overflow:hidden; }
.card img { width:100%; display:block; }
.card figcaption { padding:8px 10px; font-size:13px; }
.card .prompt { display:block; color:var(--dim); margin-top:3px; overflow:hidden;
  text-overflow:ellipsis; white-space:nowrap; }
.missing { display:flex; align-items:center; justify-content:center; min-height:90px;
  min-width:150px; color:var(--dim); background:repeating-linear-gradient(45deg,#1a1b20 0 8px,
  #202228 8px 16px); border-radius:4px; font-size:12px; }
.strip { display:flex; gap:16px; align-items:center; padding:10px 0;
  border-top:1px solid var(--line); }
.strip:first-of-type { border-top:0; }
.strip-label { width:170px; flex:none; display:flex; flex-direction:column; gap:2px;
  font-size:13px; }
.strip-label span { color:var(--dim); }
.frames { display:flex; gap:8px; flex-wrap:wrap; }
.frames figure { margin:0; }
.frames img { display:block; width:176px; border-radius:4px; }
.frames figcaption { color:var(--dim); font-size:11px; text-align:center; }
.st { display:inline-block; font-size:11px; padding:1px 8px; border-radius:99px;
  background:#333; color:#ddd; width:max-content; }
.st.ran { background:var(--ok); color:#fff; }
.st.cached { background:var(--cached); color:#fff; }
.st.failed { background:var(--bad); color:#fff; }
svg { width:100%; height:auto; display:block; }
svg .lab { fill:var(--dim); font-size:12px; }
svg .in { fill:#fff; font-size:12px; font-weight:600; }
svg .axis { stroke:#555; stroke-width:1; }
svg .cut { stroke:#fff; stroke-width:2; stroke-dasharray:4 3; }
svg .back { fill:#ffffff10; stroke:#888; stroke-dasharray:3 3; }
svg .own { fill:#00000055; stroke:#fff; stroke-dasharray:2 2; }
svg .beat { stroke:#edc948; stroke-width:1.5; }
svg .beat.b1 { stroke:#e15759; }
svg .beat.b2 { stroke:#76b7b2; }
svg .series { fill:none; stroke:var(--accent); stroke-width:2; }
svg .dot { fill:var(--accent); }
svg .vbar { fill:var(--accent); opacity:0.85; }
.charts { display:grid; grid-template-columns:repeat(auto-fill, minmax(420px, 1fr)); gap:14px; }
.chart { margin:0; background:#121317; border:1px solid var(--line); border-radius:8px;
  padding:8px 10px; }
.chart figcaption { font-size:13px; font-weight:600; }
.note { color:var(--dim); margin:8px 0 0; }
table { border-collapse:collapse; width:100%; font-size:13px; margin-bottom:14px; }
th { text-align:left; color:var(--dim); font-weight:500; border-bottom:1px solid var(--line);
  padding:4px 8px; }
td { padding:3px 8px; border-bottom:1px solid #26282e; }
td.num { text-align:right; font-variant-numeric:tabular-nums; }
table.stages { width:auto; min-width:420px; }
td.barcell { width:30%; }
.bar { display:block; height:8px; min-width:1px; background:var(--accent); border-radius:4px; }
code, td.dim { color:var(--dim); font-size:12px; }
h3 { font-size:13px; color:var(--dim); font-weight:500; margin:14px 0 6px; }
details summary { cursor:pointer; color:var(--accent); }
pre { background:#121317; border:1px solid var(--line); border-radius:6px; padding:12px;
  overflow:auto; font-size:12px; max-height:640px; }
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style>
</head>
<body><main>
{body}
</main></body>
</html>
"""
