"""Colour drift correction: a transform fitted once from a segment's colours to its anchor
keyframe's, then applied to every frame with a weight.

Every method is fitted from statistics that accumulate frame by frame (mean and covariance, or
per-channel histograms), so fitting streams. Transforms are linear in their output, so a partial
strength is a blend with the identity and costs no extra pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

METHODS = ("none", "mean_lab", "reinhard_lab", "mkl", "histogram")
REFERENCES = ("shot_keyframe", "first_keyframe")
# Statistics read every 2nd pixel each way: a quarter of the work, the same colours.
SAMPLE = 2
MAX_GAIN = 4.0
_LEVELS = np.arange(256, dtype=np.float32)


def to_lab(frame: np.ndarray) -> np.ndarray:
    """CIELAB (L 0..100) of an RGB uint8 frame, as float32."""
    return cv2.cvtColor(frame.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_RGB2Lab)


def from_lab(lab: np.ndarray) -> np.ndarray:
    """RGB 0..255 float32 (unclipped) of a CIELAB array."""
    return cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_Lab2RGB) * np.float32(255)


def space_of(method: str) -> str:
    """Reinhard works on CIELAB; MKL and histogram matching on RGB, as Pitie and Reinhard did."""
    return "lab" if method in ("mean_lab", "reinhard_lab") else "rgb"


@dataclass
class ColorStats:
    """Running colour statistics of the frames added so far."""

    space: str
    count: int = 0
    total: np.ndarray = field(default_factory=lambda: np.zeros(3))
    outer: np.ndarray = field(default_factory=lambda: np.zeros((3, 3)))
    hist: np.ndarray = field(default_factory=lambda: np.zeros((3, 256)))

    def add(self, frame: np.ndarray) -> ColorStats:
        pixels = np.ascontiguousarray(frame[::SAMPLE, ::SAMPLE])
        values = to_lab(pixels) if self.space == "lab" else pixels.astype(np.float32)
        flat = values.reshape(-1, 3).astype(np.float64)
        self.count += len(flat)
        self.total += flat.sum(axis=0)
        self.outer += flat.T @ flat
        if self.space == "rgb":
            for c in range(3):
                self.hist[c] += np.bincount(pixels[..., c].ravel(), minlength=256)
        return self

    @property
    def mean(self) -> np.ndarray:
        return self.total / max(self.count, 1)

    @property
    def cov(self) -> np.ndarray:
        mean = self.mean
        return self.outer / max(self.count, 1) - np.outer(mean, mean)


def stats_of(frames: list[np.ndarray] | np.ndarray, method: str) -> ColorStats:
    stats = ColorStats(space_of(method))
    for frame in [frames] if isinstance(frames, np.ndarray) else frames:
        stats.add(frame)
    return stats


@dataclass(frozen=True)
class Transform:
    """`y = matrix @ x + offset` in `space` ("lab" or "rgb"), or a per-channel lookup table."""

    space: str
    matrix: np.ndarray = field(default_factory=lambda: np.eye(3))
    offset: np.ndarray = field(default_factory=lambda: np.zeros(3))
    lut: np.ndarray | None = None

    @classmethod
    def identity(cls) -> Transform:
        return cls("rgb")

    def toward(self, weight: float) -> Transform:
        """This transform applied at `weight` (0: identity, 1: in full)."""
        w = float(weight)
        if self.lut is not None:
            return Transform(self.space, lut=(1 - w) * _LEVELS + w * self.lut)
        matrix = (1 - w) * np.eye(3) + w * self.matrix
        return Transform(self.space, matrix, w * self.offset)

    @property
    def is_identity(self) -> bool:
        if self.lut is not None:
            return bool(np.abs(self.lut - _LEVELS).max() < 1e-3)
        return bool(
            np.abs(self.matrix - np.eye(3)).max() < 1e-6 and np.abs(self.offset).max() < 1e-6
        )

    def apply(self, frame: np.ndarray) -> np.ndarray:
        if self.is_identity:
            return frame
        if self.lut is not None:
            table = np.clip(self.lut + 0.5, 0, 255).astype(np.uint8)
            return np.stack([table[c][frame[..., c]] for c in range(3)], axis=-1)
        values = to_lab(frame) if self.space == "lab" else frame.astype(np.float32)
        mapped = values @ self.matrix.T.astype(np.float32) + self.offset.astype(np.float32)
        rgb = from_lab(mapped) if self.space == "lab" else mapped
        return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def fit(method: str, source: ColorStats, reference: ColorStats) -> Transform:
    """The transform that gives `source`'s colours the statistics of `reference`'s."""
    if method == "none" or source.count == 0 or reference.count == 0:
        return Transform.identity()
    if method == "histogram":
        return Transform("rgb", lut=_histogram_lut(source.hist, reference.hist))
    if method == "mean_lab":
        # Reinhard's shift of the mean without his scaling of the spread: a cast and a
        # brightness creep go, contrast stays. A push-in or a pan legitimately narrows the
        # spread, which the scaling would blow back up to the whole keyframe's (bench/fidelity.py).
        matrix = np.eye(3)
    elif method == "reinhard_lab":
        spread_s = np.sqrt(np.maximum(np.diag(source.cov), 1e-6))
        spread_r = np.sqrt(np.maximum(np.diag(reference.cov), 1e-6))
        matrix = np.diag(np.clip(spread_r / spread_s, 1 / MAX_GAIN, MAX_GAIN))
    elif method == "mkl":
        matrix = _monge_kantorovich(source.cov, reference.cov)
    else:
        raise ValueError(f"unknown colour match method {method!r}")
    return Transform(source.space, matrix, reference.mean - matrix @ source.mean)


def _sqrt_psd(matrix: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Square root of a symmetric PSD matrix and its inverse, eigenvalues floored for stability."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    values = np.maximum(values, floor)
    root = (vectors * np.sqrt(values)) @ vectors.T
    inverse = (vectors / np.sqrt(values)) @ vectors.T
    return root, inverse


def _monge_kantorovich(source: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Pitie & Kokaram's linear Monge-Kantorovich map between two Gaussians: it moves colours
    the least while giving the source the reference's full covariance."""
    floor = 1e-2
    root_s, inv_root_s = _sqrt_psd(source, floor)
    middle, _ = _sqrt_psd(root_s @ reference @ root_s, floor)
    return inv_root_s @ middle @ inv_root_s


def _histogram_lut(source: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-channel lookup tables mapping each source level to the reference level with the same
    cumulative share of pixels."""
    lut = np.empty((3, 256), np.float32)
    for c in range(3):
        cdf_s = (np.cumsum(source[c]) - source[c] / 2) / max(source[c].sum(), 1)
        cdf_r = (np.cumsum(reference[c]) - reference[c] / 2) / max(reference[c].sum(), 1)
        present = reference[c] > 0
        lut[c] = np.interp(cdf_s, cdf_r[present], _LEVELS[present])
    return lut
