"""Lip-sync through an external program: each shot with speech is handed to the user's tool
(LatentSync, MuseTalk, InfiniteTalk, ...) in its own environment, and its result is brought
back to the job's frame rate and size.

These tools pin their own torch and diffusers, so renga never imports them: it writes the
shot and its speech in the form the tool wants, runs the tool as an argument list (no shell),
and checks what comes back.
"""

from __future__ import annotations

import glob
import json
import logging
import math
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from orchestrator.engine.context import NodeContext
from orchestrator.engine.errors import UserError
from orchestrator.media.audio import write_audio
from orchestrator.media.container import MediaError
from orchestrator.media.encode import LOSSLESS, h264, write_video
from orchestrator.media.video import probe_video, read_frames
from orchestrator.plan.timeline import ShotPlan, Timeline

log = logging.getLogger("renga.lipsync")

DUB_FILE = "dub.mkv"
SKIPPED_FILE = "skipped.json"
PLACEHOLDER = re.compile(r"\{(python|root|video|audio|image|output|workdir|fps|sample_rate)\}")
STDERR_LINES = 6
SPEECH_FLOOR_DB = -45.0


class LipsyncFailure(RuntimeError):
    """The tool ran but did not give a usable result for a shot."""


@dataclass(frozen=True)
class Tool:
    name: str
    argv: list[str]
    python: str | None
    env: dict[str, str]
    input_files: dict[str, str]
    output: str
    fps: float
    sample_rate: int


class ExternalLipsync:
    version = "1"
    model_group = "external"
    # Where the tool is installed does not change what it makes.
    cache_exclude = ("root", "python", "timeout")

    def __init__(
        self,
        tool: str = "latentsync",
        root: str | None = None,
        python: str | None = None,
        timeout: float = 3600.0,
        on_failure: str = "fail",
        tools: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.tool_name = tool
        self.root = root
        self.python = python
        self.timeout = timeout
        self.on_failure = on_failure
        self.tools = tools or {}

    @staticmethod
    def dubbed(entry: Path) -> Path | None:
        """The re-dubbed shot a lipsync node published, or None if it skipped the shot."""
        path = entry / DUB_FILE
        return path if path.exists() else None

    @staticmethod
    def splice(
        video: Iterable[np.ndarray], dubs: dict[int, tuple[int, Path]]
    ) -> Iterator[np.ndarray]:
        return splice(video, dubs)

    def wants(self, timeline: Timeline) -> bool:
        return timeline.vocals is not None or any(s.speech for s in timeline.shots)

    def validate(self, timeline: Timeline) -> None:
        if not self.wants(timeline):
            return
        if self.on_failure not in ("skip", "fail"):
            raise UserError("lipsync.on_failure", f"must be skip or fail, got {self.on_failure!r}")
        tool = self.tool()
        if not tool.argv:
            raise UserError(f"lipsync.tools.{tool.name}.argv", "empty: nothing to run")
        for text in [*tool.argv, tool.output]:
            for name in re.findall(r"\{(\w+)\}", text):
                if not PLACEHOLDER.fullmatch(f"{{{name}}}"):
                    raise UserError(
                        f"lipsync.tools.{tool.name}", f"unknown placeholder {{{name}}} in {text!r}"
                    )
        root = self.checkout()
        python = self.interpreter(tool, root)
        if not Path(python).is_file():
            raise UserError(
                "lipsync.python",
                f"{python} not found; set lipsync.python to the interpreter of {tool.name}'s "
                "environment",
            )

    def tool(self) -> Tool:
        if self.tool_name not in self.tools:
            known = ", ".join(sorted(self.tools)) or "none"
            raise UserError("lipsync.tool", f"unknown tool {self.tool_name!r}; known: {known}")
        spec = dict(self.tools[self.tool_name])
        return Tool(
            name=self.tool_name,
            argv=[str(a) for a in spec.get("argv", [])],
            python=spec.get("python"),
            env={str(k): str(v) for k, v in (spec.get("env") or {}).items()},
            input_files=dict(spec.get("input_files") or {}),
            output=str(spec.get("output", "{output}")),
            fps=float(spec.get("fps", 25.0)),
            sample_rate=int(spec.get("sample_rate", 16000)),
        )

    def checkout(self) -> Path:
        if not self.root:
            raise UserError("lipsync.root", f"not set: point it at your {self.tool_name} checkout")
        root = Path(os.path.expanduser(self.root)).resolve()
        if not root.is_dir():
            raise UserError("lipsync.root", f"not a directory: {root}")
        return root

    def interpreter(self, tool: Tool, root: Path) -> str:
        if self.python:
            return os.path.expanduser(self.python)
        if tool.python:
            return os.path.expanduser(tool.python)
        return str(root / ".venv" / "bin" / "python")

    def run(
        self,
        shot: ShotPlan,
        frames: Iterable[np.ndarray],
        speech: np.ndarray,
        timeline: Timeline,
        ctx: NodeContext,
    ) -> None:
        """Re-dub one shot: `frames` are its rendered frames, `speech` mono samples at the
        tool's rate. Writes DUB_FILE, or SKIPPED_FILE when the policy says skip."""
        tool = self.tool()
        try:
            if _peak_db(speech) < SPEECH_FLOOR_DB:
                raise _Silent("no speech in this shot")
            self._dub(shot, frames, speech, timeline, tool, ctx)
        except _Silent as quiet:
            _skip(ctx, str(quiet))
        except (LipsyncFailure, subprocess.TimeoutExpired) as exc:
            message = f"{tool.name} on shot {shot.index}: {_describe(exc)}"
            if self.on_failure == "fail":
                raise LipsyncFailure(message) from None
            log.warning("lip-sync skipped: %s", message)
            _skip(ctx, message)
        finally:
            shutil.rmtree(ctx.out_dir / "work", ignore_errors=True)

    def _dub(
        self,
        shot: ShotPlan,
        frames: Iterable[np.ndarray],
        speech: np.ndarray,
        timeline: Timeline,
        tool: Tool,
        ctx: NodeContext,
    ) -> None:
        work = ctx.out_dir / "work"
        work.mkdir()
        root = self.checkout()
        tool_fps = Fraction(tool.fps).limit_denominator(1001)
        seconds = speech.shape[-1] / tool.sample_rate
        values = {
            "python": self.interpreter(tool, root),
            "root": str(root),
            "video": str(work / "input.mp4"),
            "audio": str(work / "speech.wav"),
            "image": str(work / "first_frame.png"),
            "output": str(work / "output.mp4"),
            "workdir": str(work),
            "fps": f"{float(tool_fps):g}",
            "sample_rate": str(tool.sample_rate),
        }
        needed = math.ceil(seconds * tool_fps - 1e-6)
        source = list(_retimed(frames, timeline.fps, tool_fps, needed))
        Image.fromarray(source[0]).save(values["image"])
        write_video(Path(values["video"]), source, fps=tool_fps, codec=h264(crf=12))
        write_audio(Path(values["audio"]), speech.reshape(1, -1), tool.sample_rate)
        for name, template in tool.input_files.items():
            (work / name).write_text(fill(template, values))
        argv = [fill(arg, values) for arg in tool.argv]
        env = {**os.environ, **{k: fill(v, values) for k, v in tool.env.items()}}
        done = subprocess.run(
            argv,
            cwd=root,
            env=env,
            timeout=self.timeout,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
        )
        if done.returncode != 0:
            raise LipsyncFailure(f"exit code {done.returncode}{_tail(done.stderr)}")
        output = _find_output(fill(tool.output, values), done.stderr)
        try:
            info = probe_video(output)
        except MediaError as exc:
            raise LipsyncFailure(f"output does not decode: {exc}") from None
        if abs(info.duration - seconds) > 1 / tool.fps + 0.05:
            lasts = f"output lasts {info.duration:.2f} s, the speech {seconds:.2f} s"
            raise LipsyncFailure(lasts + _tail(done.stderr))
        if abs(info.width / info.height - timeline.width / timeline.height) > 0.02:
            raise LipsyncFailure(
                f"output is {info.width}x{info.height}, not the shot's shape "
                f"{timeline.width}x{timeline.height}"
            )
        count = min(shot.frames, round(info.duration * timeline.fps))
        back = _retimed(read_frames(output), info.fps, timeline.fps, count)
        size = (timeline.width, timeline.height)
        written = write_video(
            ctx.out_dir / DUB_FILE,
            (_resized(frame, size) for frame in back),
            fps=timeline.fps,
            codec=LOSSLESS,
        )
        ctx.metrics["dubbed_frames"] = written


class _Silent(Exception):
    pass


def fill(template: str, values: dict[str, str]) -> str:
    """Replace known `{placeholders}`; everything else, JSON braces included, stays as written."""
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def _skip(ctx: NodeContext, reason: str) -> None:
    (ctx.out_dir / SKIPPED_FILE).write_text(json.dumps({"reason": reason}))
    ctx.metrics["skipped"] = reason


def _describe(exc: BaseException) -> str:
    if isinstance(exc, subprocess.TimeoutExpired):
        return f"timed out after {exc.timeout:g} s{_tail(exc.stderr)}"
    return str(exc)


def _tail(stderr: str | bytes | None) -> str:
    if not stderr:
        return ""
    if isinstance(stderr, bytes):
        stderr = stderr.decode(errors="replace")
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return "; last stderr: " + " | ".join(lines[-STDERR_LINES:]) if lines else ""


def _find_output(pattern: str, stderr: str) -> Path:
    if glob.has_magic(pattern):
        matches = [Path(p) for p in glob.glob(pattern)]
        if matches:
            return max(matches, key=lambda p: p.stat().st_mtime)
    elif Path(pattern).is_file():
        return Path(pattern)
    raise LipsyncFailure(f"no output at {pattern}{_tail(stderr)}")


def _retimed(
    frames: Iterable[np.ndarray], src_fps: Fraction, dst_fps: Fraction, count: int
) -> Iterator[np.ndarray]:
    """`count` frames at `dst_fps`, each the source frame shown at that moment (the last one
    held if the source ends first)."""
    source = iter(frames)
    current = next(source)
    index = 0
    for k in range(count):
        wanted = math.floor(Fraction(k) / dst_fps * src_fps + Fraction(1, 1000))
        while index < wanted:
            nxt = next(source, None)
            if nxt is None:
                break
            current, index = nxt, index + 1
        yield current


def _resized(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (frame.shape[1], frame.shape[0]) == size:
        return frame
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def _peak_db(samples: np.ndarray) -> float:
    peak = float(np.max(np.abs(samples), initial=0.0))
    return 20 * math.log10(peak) if peak > 0 else -math.inf


def splice(video: Iterable[np.ndarray], dubs: dict[int, tuple[int, Path]]) -> Iterator[np.ndarray]:
    """The assembled video with each dubbed range (start frame -> dub file) put in place."""
    ranges = sorted(dubs.items())
    replacement: Iterator[np.ndarray] | None = None
    until = -1
    for position, frame in enumerate(video):
        if ranges and position == ranges[0][0]:
            start, (count, path) = ranges.pop(0)
            replacement, until = read_frames(path), start + count
        yield next(replacement) if replacement is not None and position < until else frame
