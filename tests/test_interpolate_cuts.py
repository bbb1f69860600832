"""No interpolator blends across a hard cut: the in-betweens there repeat the frame before it,
so the cut falls at the same instant as in the assembled video and no ghost frame appears."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import Cli, ok, tiny_job

from orchestrator.media.video import read_frames
from orchestrator.plan.job import plan_job
from stages.interpolate import Interpolator, output_frames
from stages.interpolate.flow import FlowInterpolator
from stages.video.draft import DraftVideo


class Midpoint(Interpolator):
    """The plain blend, so a blended frame is easy to tell from a repeated one."""

    def __init__(self, factor: int) -> None:
        self.factor = factor

    def between(self, a: np.ndarray, b: np.ndarray) -> Iterator[np.ndarray]:
        for j in range(1, self.factor):
            yield np.round(a + (b.astype(float) - a) * j / self.factor).astype(np.uint8)


def _frames(n: int) -> list[np.ndarray]:
    return [np.full((16, 16, 3), 10 * i, np.uint8) for i in range(n)]


@pytest.mark.parametrize("interpolator", [Midpoint(2), Midpoint(4), FlowInterpolator(4)])
@pytest.mark.parametrize("cuts,loop", [((3,), False), ((1, 5), True), ((6,), True), ((), True)])
def test_inbetweens_at_a_cut_repeat_the_frame_before(
    interpolator: Interpolator, cuts: tuple[int, ...], loop: bool
):
    frames = _frames(6)
    k = interpolator.factor
    out = list(interpolator.frames(frames, loop, cuts))
    assert len(out) == output_frames(6, k, loop)
    pairs = 6 if loop else 5
    for pair in range(pairs):
        inserted = out[pair * k + 1 : pair * k + k]
        if pair + 1 in cuts:
            assert all(np.array_equal(f, frames[pair]) for f in inserted), pair
        else:
            assert not any(np.array_equal(f, frames[pair]) for f in inserted), pair


def test_the_plan_names_the_cuts(make_config):
    shots = [{"prompt": f"shot {i}", "seconds": 1.0} for i in range(3)]
    timelines = {
        t: plan_job(make_config(job=tiny_job(transition=t, shots=shots)), DraftVideo(frames=17))
        for t in ("cut", "continue", "morph")
    }
    starts = [s.start for s in timelines["cut"].shots]
    assert timelines["cut"].cuts == tuple(starts[1:])
    assert timelines["continue"].cuts == () and timelines["morph"].cuts == ()
    pingpong = plan_job(
        make_config(job=tiny_job(loop="pingpong", shots=shots)), DraftVideo(frames=17)
    )
    n = pingpong.forward_frames
    # The way back crosses each cut again, one frame later than its mirror image.
    assert pingpong.cuts == (*starts[1:], *(2 * n - 1 - i for i in reversed(starts[1:])))


def _entry(run: dict, node_id: str) -> Path:
    node = next(n for n in run["nodes"] if n["id"] == node_id)
    return Path(run["store"]) / node["stage"] / node["key"] / "video.mkv"


def test_cli_interpolation_holds_the_frame_before_a_cut(cli: Cli):
    run = cli.run_json(ok(cli("preset=draft", "interpolate=flow", "interpolate.factor=4",
                              job=tiny_job())))  # fmt: skip
    assembled = [np.asarray(f) for f in read_frames(_entry(run, "assemble"))]
    out = [np.asarray(f) for f in read_frames(_entry(run, "interpolate"))]
    cut = len(assembled) // 2  # two one-second shots
    assert len(out) == output_frames(len(assembled), 4, False)
    for j in range(1, 4):
        np.testing.assert_array_equal(out[(cut - 1) * 4 + j], assembled[cut - 1])
    np.testing.assert_array_equal(out[cut * 4], assembled[cut])
    # Inside a shot the in-betweens are new frames.
    assert not np.array_equal(out[5], assembled[1])
