"""The footage node: a user's clip fitted to the job, its last frame the shot's keyframe."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import numpy as np
from PIL import Image

from orchestrator.engine.context import NodeContext
from orchestrator.engine.graph import Node
from orchestrator.entries import FOOTAGE_FILE
from orchestrator.media.encode import LOSSLESS, write_video
from orchestrator.media.images import fit_image, save_png
from orchestrator.media.video import read_frames_at
from orchestrator.plan.footage import CONTEXT_FRAMES
from orchestrator.plan.timeline import Footage


def fit_frame(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """A frame of the clip at the job's size, fitted exactly as a shot's image is."""
    return np.asarray(fit_image(Image.fromarray(frame), width, height))


def footage_node(
    node_id: str, footage: Footage, width: int, height: int, fps: Fraction, keyframe_file: str
) -> Node:
    """The shot's keyframe (the clip's last fitted frame) and, with `include`, the fitted clip
    as a lossless video. Keyed on the file's content, like a shot's image."""
    params: dict[str, Any] = {
        "start": str(footage.start),
        "end": str(footage.end),
        "frames": footage.frames,
        "include": footage.include,
        "size": [width, height],
        "fps": str(fps),
        "context": CONTEXT_FRAMES,
    }

    def run(ctx: NodeContext) -> None:
        # Without `include` only the last frame is needed: decode from the keyframe before it.
        times = footage.times(fps) if footage.include else footage.times(fps)[-CONTEXT_FRAMES:]
        last: list[np.ndarray] = []

        def fitted() -> Iterator[np.ndarray]:
            for count, frame in enumerate(read_frames_at(footage.path, times), 1):
                last[:] = [fit_frame(frame, width, height)]
                ctx.steps(count, len(times))
                yield last[0]

        if footage.include:
            write_video(ctx.out_dir / FOOTAGE_FILE, fitted(), fps=fps, codec=LOSSLESS)
        else:
            for _ in fitted():
                pass
        save_png(ctx.out_dir / keyframe_file, Image.fromarray(last[-1]))
        ctx.metrics["frames"] = footage.lead

    return Node(
        id=node_id,
        stage="footage",
        run=run,
        params=params,
        version="1",
        files={"video": footage.path},
    )
