"""Long videos as overlapping windows: exact coverage and joins that do not click."""

from __future__ import annotations

import numpy as np
import pytest

from stages.audio.mmaudio.windows import equal_power_join, plan_windows

RATE = 44100


@pytest.mark.parametrize("seconds", [0.3, 5.0, 8.0, 8.01, 15.0, 61.7, 600.0])
def test_windows_cover_the_track_exactly_within_limits(seconds: float) -> None:
    total = round(seconds * RATE)
    windows = plan_windows(total, RATE, window=8.0, overlap=1.0)
    assert windows[0].start == 0 and windows[-1].end == total
    assert all(w.length <= 8.0 * RATE for w in windows)
    assert len({w.length for w in windows}) == 1
    for a, b in zip(windows, windows[1:], strict=False):
        assert a.end - b.start >= 1.0 * RATE, "neighbours overlap by at least a second"
        assert b.start > a.start
    if seconds > 8.0:
        fewer = len(windows) - 1
        assert fewer * 8.0 * RATE - (fewer - 1) * RATE < total, "no spare window"


def _render(length: int, rng: np.random.Generator) -> np.ndarray:
    """What a window holds: its own take of a band-limited ambience (independent renders of one
    scene share a spectrum and level, not a waveform)."""
    spectrum = np.fft.rfft(rng.standard_normal(length))
    spectrum[np.fft.rfftfreq(length, 1 / RATE) > 1500] = 0
    noise = np.fft.irfft(spectrum, length)
    return (0.3 * noise / noise.std()).astype(np.float32)[None]


def _roughest_step(samples: np.ndarray) -> float:
    return float(np.max(np.abs(np.diff(samples))))


def test_joins_are_no_rougher_than_the_signal_itself() -> None:
    rng = np.random.default_rng(0)
    total = round(30.0 * RATE)
    windows = plan_windows(total, RATE, window=8.0, overlap=1.0)
    renders = [_render(w.length, rng) for w in windows]
    joined = np.concatenate(list(equal_power_join(windows, renders)), axis=1)[0]
    assert joined.shape == (total,)
    for before, after in zip(windows, windows[1:], strict=False):
        lap = before.end - after.start
        join = joined[after.start - 100 : before.end + 100]
        own = renders[after.index][0, lap : lap + join.size]
        assert _roughest_step(join) <= 1.25 * _roughest_step(own), f"join at {after.start}"
        level = np.sqrt(np.mean(joined[after.start : before.end] ** 2))
        assert 0.8 <= level / 0.3 <= 1.2, "equal power: no dip or bump across the overlap"


def test_a_hard_cut_would_fail_the_same_check() -> None:
    """The check above can fail: butting two renders together without a crossfade clicks."""
    rng = np.random.default_rng(1)
    first, second = _render(RATE, rng)[0], _render(RATE, rng)[0]
    cut = np.concatenate([first[: RATE // 2], second[RATE // 2 :]])
    assert _roughest_step(cut[RATE // 2 - 100 : RATE // 2 + 100]) > 1.25 * _roughest_step(second)


def test_join_checks_each_window_length() -> None:
    windows = plan_windows(RATE * 10, RATE, window=8.0, overlap=1.0)
    with pytest.raises(ValueError, match="window 1"):
        list(equal_power_join(windows, [np.zeros((1, w.length - (w.index == 1))) for w in windows]))
