"""What every interpolator shares: the frame count and rate it makes, streaming a video through
it, and hard cuts, where the in-betweens repeat the frame before the cut instead of blending two
shots (a ghost frame): the cut then falls at the same instant as in the assembled video."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from orchestrator.engine.context import NodeContext
from orchestrator.engine.errors import UserError
from orchestrator.media.encode import LOSSLESS, write_video
from orchestrator.media.video import probe_video, read_frames
from orchestrator.plan.timeline import Timeline

FACTORS = (2, 4)


def output_frames(frames: int, factor: int, loop: bool) -> int:
    """(N-1)*k+1 frames; a looping video also gets the in-betweens from its last frame back
    to its first, N*k, so it still loops and lasts exactly as long."""
    return frames * factor if loop else (frames - 1) * factor + 1


class Interpolator:
    """A backend of the `interpolate` group; subclasses say how the in-betweens of two frames
    look (`between`)."""

    version = "1"
    model_group = None
    factor: int

    def validate(self, timeline: Timeline) -> None:
        if self.factor not in FACTORS:
            raise UserError(
                "interpolate.factor", f"must be one of {', '.join(map(str, FACTORS))}, "
                f"got {self.factor}",
            )  # fmt: skip

    def output_frames(self, frames: int, loop: bool) -> int:
        return output_frames(frames, self.factor, loop)

    def run(
        self, source: Path, loop: bool, out: Path, ctx: NodeContext, cuts: Sequence[int] = ()
    ) -> None:
        """`source` at `factor` times its rate into `out`; `cuts`: the frames that follow a
        hard cut (`Timeline.cuts`)."""
        info = probe_video(source)
        total = self.output_frames(info.frames, loop)
        written = write_video(
            out,
            self.frames(read_frames(source), loop, cuts),
            fps=info.fps * self.factor,
            codec=LOSSLESS,
            progress=lambda n: ctx.steps(n, total),
        )
        if written != total:
            raise ValueError(f"interpolated {written} frames, expected {total}")
        ctx.metrics["frames"] = written
        ctx.metrics["fps"] = float(info.fps * self.factor)

    def frames(
        self, frames: Iterable[np.ndarray], loop: bool, cuts: Collection[int] = ()
    ) -> Iterator[np.ndarray]:
        """Every input frame followed by factor-1 in-betweens, up to the last input frame (and
        back to the first for a loop); at a cut the in-betweens repeat the frame before it."""
        cuts = set(cuts)
        source = iter(frames)
        first = next(source, None)
        if first is None:
            return
        previous, index = first, 0
        for index, frame in enumerate(source, 1):
            yield previous
            yield from self._between(previous, frame, index in cuts)
            previous = frame
        yield previous
        if loop:
            yield from self._between(previous, first, index + 1 in cuts)

    def _between(self, a: np.ndarray, b: np.ndarray, cut: bool) -> Iterator[np.ndarray]:
        if cut:
            for _ in range(self.factor - 1):
                yield a
        else:
            yield from self.between(a, b)

    def between(self, a: np.ndarray, b: np.ndarray) -> Iterator[np.ndarray]:
        """The factor-1 frames at equal steps strictly between `a` and `b`."""
        raise NotImplementedError
