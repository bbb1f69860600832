"""Seam and drift metrics on synthetic frame sequences."""

from __future__ import annotations

import numpy as np

from stages.metrics import SeamMeter, delta_e, mean_lab


def _ramp(start: float, steps: int, step: float) -> list[np.ndarray]:
    return [np.full((8, 8, 3), start + i * step, np.uint8) for i in range(steps)]


def test_a_smooth_join_scores_one_and_a_jump_scores_its_size():
    smooth = SeamMeter(2)
    for label, frames in enumerate((_ramp(10, 10, 2), _ramp(30, 10, 2))):
        for frame in frames:
            smooth.add(frame, label, True)
    assert smooth.seam_ratio(1) == (10, 1.0)

    jumpy = SeamMeter(2)
    for label, frames in enumerate((_ramp(10, 10, 2), _ramp(38, 10, 2))):
        for frame in frames:
            jumpy.add(frame, label, True)
    assert jumpy.seam_ratio(1)[1] == 5.0


def test_a_crossfade_counts_as_the_seam_and_its_worst_step_is_reported():
    meter = SeamMeter(2)
    levels = [0, 2, 4, 6, 8, 12, 14, 16, 18, 20]
    for i, level in enumerate(levels):
        label, pure = (0, True) if i < 5 else (1, i >= 7)
        meter.add(np.full((4, 4, 3), level, np.uint8), label, pure)
    at, jump = meter.seam_ratio(1)
    assert at == 5 and jump == 2.0


def test_drift_is_the_distance_between_mean_colours():
    grey = np.full((8, 8, 3), 128, np.uint8)
    assert delta_e(mean_lab(grey), mean_lab(grey)) == 0
    warm = grey.copy()
    warm[..., 0] = 150
    assert delta_e(mean_lab(warm), mean_lab(grey)) > 5
    meter = SeamMeter(1)
    meter.add(grey, 0, True)
    meter.add(warm, 0, True)
    meter.finish()
    assert delta_e(meter.end_lab[0], mean_lab(warm)) < 1e-6
