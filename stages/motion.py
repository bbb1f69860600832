"""Motion read from frames: how the picture moves, for the seam metrics and the draft backend.

Motion is measured by tracking a grid of points (pyramidal Lucas-Kanade) on grey frames, not
with a dense flow field: on frames with large flat areas (the draft's storyboard cards, skies,
walls) a dense field such as Farneback's reports no motion on the flat pixels and read a sixth
of the true zoom of a draft clip, while a tracked point lands within a hundredth of a pixel.
Points where the picture has no texture are dropped by the tracker. Two uses:

- `velocity_change`: how much the motion of the picture changes at a frame (the velocity over
  the frames before it against the velocity over the frames after it, per tracked point), on
  frames downscaled to `FLOW_WIDTH`. The seam metrics compare it across a join with inside
  clips; every point that tracks counts (soft, blurred content tracks a few percent short, which
  a ratio cancels).
- `camera_step`: the per-frame camera motion (zoom, rotation, pan: a similarity transform) seen
  over a few context frames, so the draft backend can carry it on. Strongly textured points are
  used alone when there are enough of them, for the full speed.

Everything is deterministic: plain least squares, no random sampling (RANSAC would make the
draft's frames depend on OpenCV's global random state).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

FLOW_WIDTH = 256
GRID = 24  # points across the frame
MIN_TRACKS = 8
# Texture a point needs (OpenCV's minimum-eigenvalue test): strong first, then soft content.
STRONG, SOFT = 1e-4, 1e-5
_WINDOW = 21
_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.001)


def grey(frame: np.ndarray, width: int | None = FLOW_WIDTH) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> grey uint8, area-downscaled to `width` if it is wider."""
    image = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
    if width is None or image.shape[1] <= width:
        return image
    height = max(1, round(image.shape[0] * width / image.shape[1]))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def grid_points(shape: tuple[int, ...]) -> np.ndarray:
    """(N, 1, 2) float32 points on a grid, half a tracking window in from the borders, where
    content entering or leaving the frame cannot break a track."""
    height, width = shape[:2]
    margin = min(_WINDOW // 2 + 1, width // 4, height // 4)
    rows = max(2, round(GRID * height / width))
    xs = np.linspace(margin, width - 1 - margin, GRID)
    ys = np.linspace(margin, height - 1 - margin, rows)
    return np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 1, 2).astype(np.float32)


def track(
    source: np.ndarray, target: np.ndarray, points: np.ndarray, texture: float = SOFT
) -> tuple[np.ndarray, np.ndarray]:
    """Where `points` of `source` are in `target`, and which were found (bool per point)."""
    moved, status, _ = cv2.calcOpticalFlowPyrLK(
        source, target, points, None, winSize=(_WINDOW, _WINDOW), maxLevel=3,
        criteria=_CRITERIA, minEigThreshold=texture,
    )  # fmt: skip
    return moved, status.ravel() == 1


def track_through(images: Sequence[np.ndarray]) -> np.ndarray | None:
    """Grid points of the first image followed frame by frame: (N, len(images), 2) positions of
    the points found in every image, strongly textured ones if there are enough; else None."""
    start = grid_points(images[0].shape)
    for texture in (STRONG, SOFT):
        path, alive = [start], np.ones(len(start), bool)
        for source, target in zip(images, images[1:], strict=False):
            moved, found = track(source, target, path[-1], texture)
            path.append(moved)
            alive &= found
        if alive.sum() >= MIN_TRACKS:
            return np.concatenate(path, axis=1)[alive]
    return None


def velocity_change(
    before: np.ndarray, middle: np.ndarray, after: np.ndarray, span: int
) -> float | None:
    """Median over points of `middle` of |velocity out - velocity in|, velocities measured over
    `span` frames each way (`before` and `after` are that far off), in pixels of these frames
    per frame: 0 for steady motion of any speed, large where the motion stops, starts or turns.
    None when too little can be tracked (a flat or blank frame)."""
    points = grid_points(middle.shape)
    back, found_back = track(middle, before, points)
    ahead, found_ahead = track(middle, after, points)
    found = found_back & found_ahead
    if found.sum() < MIN_TRACKS:
        return None
    change = (ahead - points) - (points - back)
    return float(np.median(np.linalg.norm(change[found].reshape(-1, 2), axis=1))) / span


def _fit_similarity(source: np.ndarray, target: np.ndarray) -> tuple[complex, complex]:
    """Least-squares z' = c z + t over point pairs (complex: c = zoom and rotation, t = pan),
    refitted once without the points that disagree most (a moving object, a lost track)."""
    z, w = source[:, 0] + 1j * source[:, 1], target[:, 0] + 1j * target[:, 1]
    keep = np.ones(len(z), bool)
    c, t = 1 + 0j, 0j
    for _ in range(2):
        design = np.stack([z[keep], np.ones(keep.sum())], axis=1)
        (c, t), *_ = np.linalg.lstsq(design, w[keep], rcond=None)
        residual = np.abs(c * z + t - w)
        keep = residual <= max(3 * float(np.median(residual)), 0.05)
        if keep.sum() < MIN_TRACKS:
            break
    return complex(c), complex(t)


def camera_step(context: Sequence[np.ndarray]) -> np.ndarray:
    """The camera's per-frame motion over `context` (frames oldest first, at least two) as a
    2x3 forward affine (pixel coordinates of one frame -> the next): the similarity between the
    first and last frame, points tracked frame by frame, split into equal steps. The identity
    when nothing can be tracked."""
    identity = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    if len(context) < 2:
        return identity
    images = [grey(frame, None) for frame in context]
    paths = track_through(images)
    if paths is None:
        return identity
    height, width = images[0].shape
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    c, t = _fit_similarity(paths[:, 0] - centre, paths[:, -1] - centre)
    steps = len(context) - 1
    c1 = c ** (1 / steps)
    t1 = t / steps if abs(c - 1) < 1e-9 else t * (c1 - 1) / (c - 1)
    return to_affine(c1, t1, centre)


def to_affine(c: complex, t: complex, centre: np.ndarray) -> np.ndarray:
    """z' = c z + t about `centre` as a 2x3 affine in pixel coordinates."""
    a, b = c.real, c.imag
    shift = np.array([t.real, t.imag]) + centre - np.array([[a, -b], [b, a]]) @ centre
    return np.array([[a, -b, shift[0]], [b, a, shift[1]]])


def power(step: np.ndarray, n: int) -> np.ndarray:
    """`step` (2x3 affine) applied n times."""
    full = np.vstack([step, [0.0, 0.0, 1.0]])
    return np.linalg.matrix_power(full, n)[:2]
