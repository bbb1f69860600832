"""Final encode: the assembled video and the audio into one file, with the job embedded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchestrator.engine.context import NodeContext
from orchestrator.engine.errors import UserError
from orchestrator.media.encode import h264, prores, write_video
from orchestrator.media.metadata import read_metadata
from orchestrator.media.video import probe_video, read_frames
from orchestrator.plan.timeline import Timeline

CONTAINERS = {"libx264": ("mp4", "mkv", "mov"), "prores_ks": ("mov", "mkv")}
METADATA_KEY = "comment"


class Muxer:
    # 2: x264 with fixed threads and without AVX-512, so the same frames give the same bytes
    version = "2"
    model_group = None

    def __init__(
        self,
        codec: str = "libx264",
        container: str = "mp4",
        crf: int = 18,
        preset: str = "veryfast",
        prores_profile: int = 3,
    ) -> None:
        self.codec = codec
        self.container = container
        self.crf = crf
        self.preset = preset
        self.prores_profile = prores_profile

    @property
    def filename(self) -> str:
        return f"final.{self.container}"

    def validate(self, timeline: Timeline) -> None:
        if self.codec not in CONTAINERS:
            raise UserError("mux.codec", f"unknown codec {self.codec!r}; expected one of "
                            f"{', '.join(CONTAINERS)}")  # fmt: skip
        if self.container not in CONTAINERS[self.codec]:
            raise UserError(
                "mux.container",
                f"{self.codec} cannot go in .{self.container}; use "
                f"{' or '.join(CONTAINERS[self.codec])}",
            )
        if not 0 <= self.crf <= 51:
            raise UserError("mux.crf", f"must be between 0 and 51, got {self.crf}")

    def run(
        self,
        video: Path,
        audio: Path | None,
        timeline: Timeline,
        metadata: dict[str, Any],
        ctx: NodeContext,
    ) -> None:
        if self.codec == "prores_ks":
            codec = prores(self.prores_profile)
        else:
            codec = h264(self.crf, self.preset)
        # The video's own rate and length: interpolation may have changed both.
        info = probe_video(video)
        written = write_video(
            ctx.out_dir / self.filename,
            read_frames(video),
            fps=info.fps,
            codec=codec,
            audio=audio,
            metadata={METADATA_KEY: json.dumps({"renga": metadata}, sort_keys=True)},
            progress=lambda n: ctx.steps(n, info.frames),
        )
        ctx.metrics["frames"] = written


def embedded_config(path: Path) -> dict[str, Any] | None:
    """The config embedded in a file renga muxed, or None."""
    raw = read_metadata(path).get(METADATA_KEY)
    if not raw:
        return None
    try:
        return json.loads(raw).get("renga")
    except ValueError:
        return None
