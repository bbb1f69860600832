"""The timeline section: shots, segments, the user's own clips and the beats, as one inline
SVG."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.plan.timeline import ShotPlan, Timeline
from orchestrator.report.html import SHOT_COLOURS, esc, is_number, section_html

# Node metrics whose value is a list of times in seconds, drawn as ticks on the timeline.
BEAT_KEYS = ("beats", "downbeats", "bars", "onsets")


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
