"""Motion at seams: camera velocity read from frames, the draft carrying it on, the seam figure."""

from __future__ import annotations

import hashlib
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from orchestrator.engine.context import NodeContext
from orchestrator.stage import SegmentRequest
from stages import motion
from stages.diffusion.pool import ModelPool
from stages.metrics import MOTION_SPAN, SeamMeter
from stages.video.draft import DraftVideo

WIDTH, HEIGHT = 160, 96


def texture(width: int = 480, height: int = 320, seed: int = 0) -> np.ndarray:
    """Soft random texture, the kind of picture points can be tracked on."""
    noise = np.random.default_rng(seed).random((height, width, 3)).astype(np.float32)
    return (cv2.GaussianBlur(noise, (0, 0), 2.0) * 255 * 3 - 255).clip(0, 255).astype(np.uint8)


def moving(image: np.ndarray, step: np.ndarray, count: int) -> list[np.ndarray]:
    """`count` WIDTHxHEIGHT frames from the middle of `image`, each moved on from the last by
    `step` (3x3, content positions in one frame -> the next)."""
    crop = np.array([[1, 0, -(image.shape[1] - WIDTH) / 2], [0, 1, -(image.shape[0] - HEIGHT) / 2],
                     [0, 0, 1]])  # fmt: skip
    return [
        cv2.warpAffine(
            image,
            (np.linalg.matrix_power(step, t) @ crop)[:2],
            (WIDTH, HEIGHT),
            flags=cv2.INTER_LINEAR,
        )  # fmt: skip
        for t in range(count)
    ]


def zoom_pan(zoom: float, x: float, y: float) -> np.ndarray:
    """Zoom about the frame centre, then pan by (x, y) pixels."""
    cx, cy = (WIDTH - 1) / 2, (HEIGHT - 1) / 2
    return np.array([[zoom, 0, cx - zoom * cx + x], [0, zoom, cy - zoom * cy + y], [0, 0, 1]])


def pan(image: np.ndarray, speeds: list[float]) -> list[np.ndarray]:
    """Frames of a horizontal pan moving speeds[i] pixels between frame i and i + 1."""
    positions = np.concatenate([[0.0], np.cumsum(speeds)])
    return [moving(image, zoom_pan(1.0, x, 0.0), 2)[1] for x in positions]


def ctx(tmp_path: Path) -> NodeContext:
    return NodeContext("test", tmp_path, {}, ModelPool())


# ------------------------------------------------------------------------- velocity estimation


def test_camera_step_reads_a_pan_and_a_zoom() -> None:
    step = zoom_pan(1.004, 1.5, -0.5)
    estimated = motion.camera_step(moving(texture(), step, 5))
    np.testing.assert_allclose(estimated[:, :2], step[:2, :2], atol=3e-4)
    np.testing.assert_allclose(estimated[:, 2], step[:2, 2], atol=0.05)


def test_camera_step_is_still_for_a_still_picture_or_one_frame() -> None:
    frame = moving(texture(), np.eye(3), 1)[0]
    identity = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    np.testing.assert_allclose(motion.camera_step([frame] * 4), identity, atol=1e-3)
    np.testing.assert_array_equal(motion.camera_step([frame]), identity)
    blank = np.zeros_like(frame)
    np.testing.assert_array_equal(motion.camera_step([blank] * 3), identity)


def test_velocity_change_is_zero_for_steady_motion_and_the_speed_for_a_stop() -> None:
    frames = [motion.grey(f) for f in pan(texture(), [2.0] * 8 + [0.0] * 8)]
    steady = motion.velocity_change(frames[0], frames[4], frames[8], 4)
    stop = motion.velocity_change(frames[4], frames[8], frames[12], 4)
    assert steady is not None and steady < 0.05
    assert stop == pytest.approx(2.0, abs=0.1)
    blank = np.zeros_like(frames[0])
    assert motion.velocity_change(blank, blank, blank, 4) is None


# ------------------------------------------------------------------------------- draft backend


def segment(n: int, seed: int = 5) -> SegmentRequest:
    return SegmentRequest(0, 0, "m", "", WIDTH, HEIGHT, n, Fraction(16), seed)


def test_draft_carries_on_the_camera_motion_of_its_context(tmp_path: Path) -> None:
    context = pan(texture(), [3.0] * 4)
    clip = list(DraftVideo(frames=17).generate(segment(17), context[-1], None, ctx(tmp_path),
                                               context=context))  # fmt: skip
    assert np.array_equal(clip[0], context[-1])
    step = motion.camera_step(clip[:9])
    np.testing.assert_allclose(step, [[1, 0, 3.0], [0, 1, 0]], atol=0.05)


def test_draft_with_one_frame_restarts_and_keeps_its_bytes(tmp_path: Path) -> None:
    """The outputs before context existed (commit f1e0d79), for a frame alone, `context=None`
    and `context=[start]`."""
    ramp = np.linspace(0, 255, 64, dtype=np.uint8)
    start = np.stack(
        [
            np.tile(ramp, (48, 1)),
            np.tile(ramp[:48, None], (1, 64)),
            np.full((48, 64), 90, np.uint8),
        ],
        axis=-1,
    )
    expected = {
        False: "630c71de88d7083272cca101569d6571bbd983f63a8ec37ea516bac062065f5d",
        True: "9c8f34ded6158d4b3c9dbd1efbcbd5efc6987e303c66f576bb9ff2bb52e567ce",
    }
    backend = DraftVideo(frames=17, drift={"color": 0.1, "jump": 0.02})
    request = SegmentRequest(0, 0, "m", "", 64, 48, 17, Fraction(16), 5)
    for with_end, digest in expected.items():
        end = start[::-1].copy() if with_end else None
        for context in ({}, {"context": None}, {"context": [start]}):
            frames = backend.generate(request, start, end, ctx(tmp_path), **context)
            assert hashlib.sha256(b"".join(f.tobytes() for f in frames)).hexdigest() == digest


# ---------------------------------------------------------------------------- the seam figure


def measured(clips: list[list[np.ndarray]]) -> SeamMeter:
    """Clips fed as the assembler does with no shared frames: clip k's frame 0 is dropped."""
    meter = SeamMeter(len(clips))
    for label, clip in enumerate(clips):
        for frame in clip[1:] if label else clip:
            meter.add(frame, label, True)
    return meter


def test_a_steady_pan_across_a_join_scores_about_one() -> None:
    frames = pan(texture(), [2.0] * 80)
    meter = measured([frames[:41], frames[40:]])
    assert meter.motion.internal[0] and meter.motion.internal[1]
    assert meter.motion.ratio(1) <= 1.5


def test_a_pan_that_stops_at_the_join_scores_far_worse() -> None:
    frames = pan(texture(), [2.0] * 40 + [0.0] * 40)
    meter = measured([frames[:41], frames[40:]])
    assert meter.motion.ratio(1) >= 20


def test_a_pan_that_turns_at_the_join_scores_worse_and_a_crossfade_is_the_join() -> None:
    image = texture()
    there = pan(image, [2.0] * 40)
    back = pan(image, [2.0] * 40 + [-2.0] * 40)[40:]
    assert measured([there, back]).motion.ratio(1) >= 20
    meter = SeamMeter(2)
    frames = pan(image, [2.0] * 80)
    for i, frame in enumerate(frames):
        label, pure = (0, True) if i <= 40 else (1, i > 44)
        meter.add(frame, label, pure)
    assert meter.motion.ratio(1) <= 1.5
    assert len(meter.motion._window) == 2 * MOTION_SPAN + 1
