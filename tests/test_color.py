"""Colour drift correction: each method undoes a known cast, strength blends, bad options fail."""

from __future__ import annotations

import numpy as np
import pytest

from orchestrator.engine.errors import UserError
from stages import color
from stages.assemble import Assembler
from stages.metrics import delta_e, mean_lab


def _picture(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:48, 0:64]
    base = np.stack([xs * 3, ys * 4, (xs + ys) * 2], axis=-1).astype(np.float32)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def _cast(frame: np.ndarray) -> np.ndarray:
    return np.clip(frame * np.array([1.2, 1.05, 0.8]) + 10, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("method", ["reinhard_lab", "mkl", "histogram"])
def test_each_method_undoes_a_colour_cast(method: str):
    reference = _picture()
    drifted = _cast(_picture(1))
    before = delta_e(mean_lab(drifted), mean_lab(reference))
    transform = color.fit(
        method, color.stats_of(drifted, method), color.stats_of(reference, method)
    )
    after = delta_e(mean_lab(transform.apply(drifted)), mean_lab(reference))
    assert before > 10
    assert after < before / 5


def test_strength_blends_with_the_identity():
    reference, drifted = _picture(), _cast(_picture(1))
    transform = color.fit("mkl", color.stats_of(drifted, "mkl"), color.stats_of(reference, "mkl"))
    np.testing.assert_array_equal(transform.toward(0.0).apply(drifted), drifted)
    full = transform.apply(drifted).astype(float)
    half = transform.toward(0.5).apply(drifted).astype(float)
    assert np.abs(half - (full + drifted) / 2).max() <= 1


def test_statistics_accumulate_frame_by_frame():
    frames = [_picture(i) for i in range(3)]
    stats = color.stats_of(frames, "reinhard_lab")
    pooled = color.stats_of(np.concatenate(frames, axis=0), "reinhard_lab")
    np.testing.assert_allclose(stats.mean, pooled.mean, rtol=1e-6)
    np.testing.assert_allclose(stats.cov, pooled.cov, rtol=1e-5, atol=1e-6)


def test_correct_start_matches_the_anchor_only_when_enabled():
    anchor, start = _picture(), _cast(_picture(1))
    np.testing.assert_array_equal(Assembler().correct_start(start, anchor), start)
    corrected = Assembler(color_match="reinhard_lab").correct_start(start, anchor)
    assert delta_e(mean_lab(corrected), mean_lab(anchor)) < 1


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"color_match": "magic"}, "assemble.color_match"),
        ({"color_strength": 1.5}, "assemble.color_strength"),
        ({"color_reference": "last_keyframe"}, "assemble.color_reference"),
    ],
)
def test_bad_colour_options_name_the_key(options: dict, key: str):
    with pytest.raises(UserError) as err:
        Assembler(**options).validate(None)  # type: ignore[arg-type]
    assert err.value.key == key
