"""Flow interpolation speed at 832x480, against a plain 50/50 blend doing the same job.

Interpolates a synthetic moving pattern (a textured square crossing a panning background)
with `interpolate=flow` and with a plain blend of neighbours, and prints output frames per
second for each and the PSNR of the in-between frames against the true ones. Last line:
`flow fps at 832x480 (factor 2): X.X`.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator

import cv2
import numpy as np

from stages.interpolate import FlowInterpolator

WIDTH, HEIGHT = 832, 480


def pattern(frames: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)

    def texture(h: int, w: int, sigma: float) -> np.ndarray:
        noise = cv2.GaussianBlur((rng.random((h, w, 3)) * 255).astype(np.float32), (0, 0), sigma)
        return cv2.normalize(noise, None, 0, 255, cv2.NORM_MINMAX)

    background = 0.6 * texture(HEIGHT, WIDTH * 2, 12) + 0.4 * texture(HEIGHT, WIDTH * 2, 3)
    square = 0.6 * texture(160, 160, 8) + 0.4 * texture(160, 160, 2)
    out = []
    for t in range(frames):
        frame = background[:, 3 * t : 3 * t + WIDTH].copy()
        x = 600 - 6 * t
        frame[160:320, x : x + 160] = square
        out.append(frame.astype(np.uint8))
    return out


def blended(frames: list[np.ndarray]) -> Iterator[np.ndarray]:
    for a, b in zip(frames, frames[1:], strict=False):
        yield a
        yield ((a.astype(np.uint16) + b + 1) // 2).astype(np.uint8)
    yield frames[-1]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255**2 / np.mean((a.astype(np.float64) - b) ** 2)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=33, help="input frames (16 fps)")
    parser.add_argument("--preset", default="fast")
    args = parser.parse_args()
    truth = pattern(2 * args.frames - 1)
    source = truth[::2]
    results = {}
    for name, make in (
        ("blend", lambda: blended(source)),
        ("flow", lambda: FlowInterpolator(2, args.preset).frames(source, loop=False)),
    ):
        started = time.perf_counter()
        out = list(make())
        seconds = time.perf_counter() - started
        middle = np.mean([psnr(out[i], truth[i]) for i in range(1, len(out), 2)])
        results[name] = len(out) / seconds
        print(f"{name:<5} {len(out)} frames in {seconds:.2f} s: {results[name]:.1f} fps, "
              f"in-between PSNR {middle:.2f} dB")  # fmt: skip
    print(f"flow/blend speed: {results['flow'] / results['blend']:.3f}")
    print(f"flow fps at {WIDTH}x{HEIGHT} (factor 2, preset {args.preset}): {results['flow']:.1f}")


if __name__ == "__main__":
    main()
