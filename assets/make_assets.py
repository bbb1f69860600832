"""Generate renga's sample job inputs: three keyframes and a 120 BPM music loop.

Everything is synthesised here from fixed seeds, so the project ships no third-party media and
running the script twice rewrites byte-identical files. Run ``python assets/make_assets.py``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
from PIL import Image
from scipy import ndimage, signal

FloatArray = npt.NDArray[np.float64]
Color = tuple[float, float, float]

# --------------------------------------------------------------------------------------------
# Image helpers. Canvases are float RGB arrays in [0, 1] of shape (height, width, 3); alpha
# masks are float arrays in [0, 1] of shape (height, width). Edges are computed as pixel
# coverage so shapes come out anti-aliased without supersampling.
# --------------------------------------------------------------------------------------------


def pixel_grid(height: int, width: int) -> tuple[FloatArray, FloatArray]:
    """Return per-pixel (y, x) centre coordinates, shared by every shape function."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    return ys + 0.5, xs + 0.5


def vertical_gradient(height: int, width: int, stops: Sequence[tuple[float, Color]]) -> FloatArray:
    """Fill a canvas with colour stops along y (0 = top, 1 = bottom); skies start this way."""
    pos = np.array([s[0] for s in stops])
    cols = np.array([s[1] for s in stops])
    t = (np.arange(height) + 0.5) / height
    column = np.stack([np.interp(t, pos, cols[:, c]) for c in range(3)], axis=-1)
    return np.repeat(column[:, None, :], width, axis=1)


def blend(canvas: FloatArray, color: Color | FloatArray, alpha: FloatArray) -> None:
    """Composite a colour (flat or per-pixel) over the canvas in place with a coverage mask."""
    a = np.clip(alpha, 0.0, 1.0)[..., None]
    canvas *= 1.0 - a
    canvas += np.asarray(color, dtype=np.float64) * a


def add_light(canvas: FloatArray, color: Color, amount: FloatArray) -> None:
    """Add light additively (glows, glitter) so bright areas saturate instead of going flat."""
    canvas += np.asarray(color, dtype=np.float64) * amount[..., None]


def disc(ys: FloatArray, xs: FloatArray, cy: float, cx: float, radius: float) -> FloatArray:
    """Anti-aliased filled circle coverage, used for suns, moons and craters."""
    dist = np.hypot(ys - cy, xs - cx)
    return np.clip(radius - dist + 0.5, 0.0, 1.0)


def glow(ys: FloatArray, xs: FloatArray, cy: float, cx: float, radius: float) -> FloatArray:
    """Soft gaussian falloff around a point, for halos that light up the sky."""
    d2 = (ys - cy) ** 2 + (xs - cx) ** 2
    return np.exp(-d2 / (2.0 * radius**2))


def ridge(width: int, rng: np.random.Generator, base: float, amps: Sequence[float]) -> FloatArray:
    """Build a hill profile (y of the top edge per column) from sines with seeded phases."""
    x = np.arange(width) + 0.5
    heights = np.full(width, base)
    for octave, amp in enumerate(amps):
        period = width / (0.6 + 1.7 * octave + rng.uniform(0.0, 0.8))
        heights += amp * np.sin(2.0 * np.pi * x / period + rng.uniform(0.0, 2.0 * np.pi))
    return heights


def below(ys: FloatArray, top: FloatArray) -> FloatArray:
    """Coverage of everything under a per-column top edge, with a one-pixel soft edge."""
    return np.clip(ys - top[None, :] + 0.5, 0.0, 1.0)


def smoothstep(edge0: float, edge1: float, x: FloatArray) -> FloatArray:
    """Hermite ramp between two edges, for soft cloud and haze boundaries."""
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def scatter_stars(
    canvas: FloatArray, rng: np.random.Generator, count: int, max_y: float, strength: float
) -> None:
    """Sprinkle single-pixel stars that fade out toward the horizon line ``max_y``."""
    height, width, _ = canvas.shape
    ys = rng.uniform(0.0, max_y, count).astype(int)
    xs = rng.integers(0, width, count)
    bright = rng.uniform(0.25, 1.0, count) ** 2 * strength * (1.0 - ys / max_y) ** 1.5
    np.add.at(canvas, (ys, xs), bright[:, None] * np.array([0.95, 0.95, 1.0]))


def to_image(canvas: FloatArray) -> Image.Image:
    """Quantise a float canvas to an 8-bit RGB PIL image."""
    return Image.fromarray(np.round(np.clip(canvas, 0.0, 1.0) * 255.0).astype(np.uint8), "RGB")


# --------------------------------------------------------------------------------------------
# Keyframe 1: dusk sky with a low sun and layered hills (PNG, 16:9).
# --------------------------------------------------------------------------------------------


def draw_dusk_hills(width: int = 1024, height: int = 576) -> Image.Image:
    """Paint a dusk landscape; smooth gradients and flat hills keep the PNG small."""
    rng = np.random.default_rng(1101)
    ys, xs = pixel_grid(height, width)
    canvas = vertical_gradient(
        height,
        width,
        [
            (0.00, (0.09, 0.07, 0.24)),
            (0.30, (0.30, 0.16, 0.40)),
            (0.50, (0.78, 0.36, 0.40)),
            (0.62, (0.99, 0.62, 0.38)),
            (0.75, (1.00, 0.80, 0.52)),
            (1.00, (1.00, 0.86, 0.60)),
        ],
    )
    scatter_stars(canvas, rng, 140, height * 0.35, 0.7)

    sun_y, sun_x = height * 0.60, width * 0.66
    add_light(canvas, (0.55, 0.30, 0.12), glow(ys, xs, sun_y, sun_x, 150.0))
    add_light(canvas, (0.45, 0.35, 0.20), glow(ys, xs, sun_y, sun_x, 45.0))
    blend(canvas, (1.0, 0.93, 0.72), disc(ys, xs, sun_y, sun_x, 34.0))

    # Thin wind-stretched clouds, lit pink from below.
    for _ in range(7):
        cy = rng.uniform(0.18, 0.50) * height
        cx = rng.uniform(0.0, 1.0) * width
        sx, sy = rng.uniform(120.0, 260.0), rng.uniform(3.0, 7.0)
        shape = np.exp(-(((xs - cx) / sx) ** 2) - ((ys - cy) / sy) ** 2)
        lit = np.clip((ys - cy) / (2.0 * sy) + 0.5, 0.0, 1.0)
        color = np.stack([0.55 + 0.45 * lit, 0.30 + 0.35 * lit, 0.45 + 0.10 * lit], axis=-1)
        blend(canvas, color, 0.65 * shape)

    # Hill layers from far (hazy, near the sky colour) to near (dark silhouette).
    layers: list[tuple[float, Sequence[float], Color]] = [
        (0.60, (18.0, 9.0, 4.0), (0.64, 0.40, 0.52)),
        (0.67, (24.0, 11.0, 5.0), (0.45, 0.27, 0.43)),
        (0.76, (30.0, 14.0, 6.0), (0.28, 0.17, 0.32)),
        (0.87, (36.0, 16.0, 7.0), (0.13, 0.08, 0.18)),
    ]
    for base, amps, color in layers:
        top = ridge(width, rng, base * height, amps)
        shade = np.clip((ys - top[None, :]) / (0.35 * height), 0.0, 1.0)[..., None]
        layer_color = np.asarray(color) * (1.0 - 0.35 * shade)
        blend(canvas, layer_color, below(ys, top))
    return to_image(canvas)


# --------------------------------------------------------------------------------------------
# Keyframe 2: night city skyline with lit windows, a moon and a river reflection (JPEG, 16:9).
# --------------------------------------------------------------------------------------------


def draw_buildings(
    canvas: FloatArray,
    rng: np.random.Generator,
    ground: int,
    heights: tuple[float, float],
    body: Color,
    window_p: float,
    window_gain: float,
) -> None:
    """Draw one row of pixel-aligned tower blocks with a seeded grid of lit windows."""
    height, width, _ = canvas.shape
    x = int(rng.integers(-30, 0))
    while x < width:
        w = int(rng.integers(40, 96))
        top = int(ground - rng.uniform(*heights) * height)
        x0, x1 = max(x, 0), min(x + w, width)
        canvas[top:ground, x0:x1] = body
        if rng.random() < 0.3:  # rooftop antenna with a red warning light
            ax = x + w // 2
            if 0 <= ax < width:
                canvas[top - 22 : top, ax] = body
                canvas[top - 24 : top - 21, max(ax - 1, 0) : ax + 2] = (0.9, 0.15, 0.1)
        cols, rows = max((w - 8) // 10, 1), max((ground - top - 10) // 14, 1)
        lit = rng.random((rows, cols)) < window_p
        warm = rng.random((rows, cols)) < 0.8
        level = rng.uniform(0.6, 1.0, (rows, cols)) * window_gain
        for r, c in zip(*np.nonzero(lit), strict=True):
            wy, wx = top + 8 + r * 14, x + 6 + c * 10
            if wx < 0 or wx + 5 > width:
                continue
            tint = (1.0, 0.78, 0.42) if warm[r, c] else (0.70, 0.85, 1.0)
            canvas[wy : wy + 7, wx : wx + 5] = np.asarray(tint) * level[r, c]
        x += w + int(rng.integers(0, 12))


def draw_night_city(width: int = 960, height: int = 540) -> Image.Image:
    """Paint a night skyline; window grids give the loader real high-frequency detail."""
    rng = np.random.default_rng(2202)
    ys, xs = pixel_grid(height, width)
    waterline = int(height * 0.78)
    canvas = vertical_gradient(
        height,
        width,
        [
            (0.00, (0.01, 0.02, 0.07)),
            (0.45, (0.05, 0.06, 0.17)),
            (0.78, (0.20, 0.13, 0.28)),
            (1.00, (0.20, 0.13, 0.28)),
        ],
    )
    scatter_stars(canvas, rng, 260, waterline * 0.8, 1.0)

    moon_y, moon_x = height * 0.20, width * 0.80
    add_light(canvas, (0.16, 0.17, 0.22), glow(ys, xs, moon_y, moon_x, 90.0))
    moon = disc(ys, xs, moon_y, moon_x, 34.0)
    blend(canvas, (0.96, 0.94, 0.84), moon)
    for dy, dx, r in [(-10.0, -8.0, 8.0), (9.0, 6.0, 6.0), (-2.0, 15.0, 4.0), (14.0, -12.0, 5.0)]:
        crater = disc(ys, xs, moon_y + dy, moon_x + dx, r) * moon
        blend(canvas, (0.78, 0.76, 0.70), 0.6 * crater)

    draw_buildings(canvas, rng, waterline, (0.25, 0.45), (0.07, 0.07, 0.16), 0.18, 0.55)
    draw_buildings(canvas, rng, waterline, (0.12, 0.33), (0.025, 0.025, 0.06), 0.35, 1.0)

    # River: mirror the scene, smear it into vertical streaks, ripple it and darken with depth.
    rows = np.arange(waterline, height)
    depth = ((rows - waterline) / (height - waterline))[:, None]
    source = np.clip(2 * waterline - rows - 1, 0, height - 1)
    shift = np.round(
        2.5 * np.sin(rows * 0.21) + 1.5 * np.sin(rows * 0.53 + 1.0) * (1 + depth[:, 0])
    )
    cols = (np.arange(width)[None, :] + shift.astype(int)[:, None]) % width
    reflection = canvas[source[:, None], cols]
    reflection = ndimage.uniform_filter1d(reflection, size=9, axis=0, mode="nearest")
    bands = 0.85 + 0.15 * np.sin(rows * 0.9 + 2.0 * np.sin(rows * 0.13))[:, None, None]
    water = np.array([0.02, 0.04, 0.10])
    fade = (0.75 - 0.35 * depth)[..., None] * bands
    canvas[waterline:] = reflection * fade + water * (0.6 + 0.4 * depth[..., None])
    canvas[waterline : waterline + 1] *= 0.6
    return to_image(canvas)


# --------------------------------------------------------------------------------------------
# Keyframe 3: daytime sea horizon with clouds and waves (WebP, 4:3 on purpose).
# --------------------------------------------------------------------------------------------


def cloud_density(
    ys: FloatArray, xs: FloatArray, rng: np.random.Generator, cy: float, cx: float, size: float
) -> FloatArray:
    """Sum gaussian puffs over a flat base so each cluster reads as a cumulus cloud."""
    density = np.zeros_like(ys)
    for puff in range(60):
        spread = rng.normal(0.0, 0.75)
        px = cx + spread * size
        py = cy - abs(rng.normal(0.0, 0.45)) * size * max(1.0 - 0.4 * abs(spread), 0.2)
        # A few big puffs give the body; many small ones give the cauliflower edge.
        r = size * (rng.uniform(0.22, 0.42) if puff < 20 else rng.uniform(0.07, 0.16))
        density += np.exp(-((xs - px) ** 2 + (ys - py) ** 2) / (2.0 * r**2))
    return density * smoothstep(cy + 0.25 * size, cy - 0.05 * size, ys)


def sea_waves(
    d: FloatArray, xs: FloatArray, width: int, rows: int, rng: np.random.Generator
) -> FloatArray:
    """Slope of a sum of wave trains seen in perspective, each faded before it would alias.

    ``d`` is 0 at the horizon and 1 at the bottom edge; distance into the scene is 1/d.
    """
    dist = 1.0 / d
    world_x = (xs - width * 0.5) * dist / width
    step_z = dist**2 / rows  # world units per pixel down the screen
    step_x = dist / width  # world units per pixel across
    slope = np.zeros_like(d)
    for _ in range(12):
        wavelength = rng.uniform(0.04, 0.9) ** 1.5
        angle = rng.normal(0.0, 0.35)
        kz, kx = 2.0 * np.pi / wavelength * np.cos(angle), 2.0 * np.pi / wavelength * np.sin(angle)
        per_pixel = np.abs(kz) * step_z + np.abs(kx) * step_x
        keep = np.clip(1.6 - per_pixel / 0.9, 0.0, 1.0)
        phase = kz * dist + kx * world_x + rng.uniform(0.0, 2.0 * np.pi)
        slope += keep * np.cos(phase) * wavelength**0.3
    return slope


def draw_sea_horizon(width: int = 800, height: int = 600) -> Image.Image:
    """Paint a sea view; perspective waves and soft clouds make a clearly different frame."""
    rng = np.random.default_rng(3303)
    ys, xs = pixel_grid(height, width)
    horizon = height * 0.56
    canvas = vertical_gradient(
        height,
        width,
        [
            (0.00, (0.16, 0.38, 0.74)),
            (0.40, (0.42, 0.64, 0.88)),
            (0.56, (0.82, 0.89, 0.95)),
            (1.00, (0.82, 0.89, 0.95)),
        ],
    )
    sun_y, sun_x = height * 0.22, width * 0.30
    add_light(canvas, (0.35, 0.30, 0.20), glow(ys, xs, sun_y, sun_x, 110.0))
    blend(canvas, (1.0, 0.98, 0.90), disc(ys, xs, sun_y, sun_x, 22.0))

    for cy, cx, size in [(0.38, 0.68, 62.0), (0.47, 0.14, 40.0), (0.27, 0.96, 36.0)]:
        base = cy * height
        density = cloud_density(ys, xs, rng, base, cx * width, size)
        alpha = smoothstep(0.45, 0.85, density)
        # Lit from the upper left: brighter tops, cooler grey undersides, a touch of core shadow.
        shade = np.clip((ys - (base - 1.2 * size)) / (1.4 * size), 0.0, 1.0)
        shade = np.clip(shade + 0.08 * np.clip(density - 1.5, 0.0, 2.0), 0.0, 1.0)[..., None]
        color = np.array([1.0, 0.99, 0.96]) * (1.0 - shade) + np.array([0.66, 0.71, 0.80]) * shade
        blend(canvas, color, 0.97 * alpha)

    # Sea below the horizon: deepening blue, shaded by the slope of perspective waves.
    sea = ys >= horizon
    d = np.clip((ys - horizon) / (height - horizon), 1e-3, 1.0)
    slope = sea_waves(d, xs, width, round(height - horizon), rng)
    t = np.sqrt(d)[..., None]
    sea_color = np.array([0.36, 0.56, 0.70]) * (1.0 - t) + np.array([0.02, 0.17, 0.32]) * t
    sea_color = sea_color * (1.0 + 0.09 * slope[..., None])
    canvas[sea] = np.clip(sea_color, 0.0, 1.0)[sea]

    # Sun glitter: sparkles on steep facets inside a path that widens toward the viewer.
    path = np.exp(-(((xs - sun_x) / (12.0 + 90.0 * d)) ** 2))
    sparkle = np.clip(slope - 1.4 - 0.6 * d, 0.0, None) * path * sea
    add_light(canvas, (1.0, 0.95, 0.80), np.clip(sparkle * 1.5, 0.0, 1.0))
    horizon_haze = np.exp(-(((ys - horizon) / 3.0) ** 2))
    blend(canvas, (0.85, 0.90, 0.95), 0.45 * horizon_haze)
    return to_image(canvas)


# --------------------------------------------------------------------------------------------
# Music: a 10-bar 4/4 loop at 120 BPM, built on a buffer that wraps around so it loops cleanly.
# --------------------------------------------------------------------------------------------

SAMPLE_RATE = 44100
BPM = 120
BEATS_PER_BAR = 4
BARS = 10
SWING = 0.55  # the off-beat 8th falls at 55% of the beat instead of 50%
PEAK_DBFS = -3.0
BEAT_SAMPLES = SAMPLE_RATE * 60 // BPM
LOOP_SAMPLES = BEAT_SAMPLES * BEATS_PER_BAR * BARS
TAIL_SAMPLES = 3 * SAMPLE_RATE

# Am - F - C - G twice, then F - G to lead back into Am at the loop point.
# Each chord: bass root (MIDI) and the pad voicing (MIDI), voice-led around middle C.
PROGRESSION: list[tuple[int, tuple[int, ...]]] = [
    (33, (57, 60, 64)),  # Am
    (29, (57, 60, 65)),  # F
    (36, (55, 60, 64)),  # C
    (31, (55, 59, 62)),  # G
] * 2 + [
    (29, (57, 60, 65)),  # F
    (31, (55, 59, 62)),  # G
]

# Bass rhythm per bar: (position in 8ths, length in beats, semitones above the root).
BASS_PATTERN: list[tuple[int, float, int]] = [
    (0, 0.8, 0),
    (3, 0.35, 0),
    (4, 0.8, 12),
    (6, 0.35, 7),
    (7, 0.35, 0),
]


def midi_hz(note: float) -> float:
    """Convert a MIDI note number to Hz (A4 = 440)."""
    return 440.0 * 2.0 ** ((note - 69) / 12.0)


def eighth_offset(index: int) -> int:
    """Sample offset of the n-th 8th note in a bar, with the off-beats swung late."""
    beat, half = divmod(index, 2)
    return beat * BEAT_SAMPLES + (round(SWING * BEAT_SAMPLES) if half else 0)


def times(seconds: float) -> FloatArray:
    """Time axis for a sound of the given length, so envelopes can be written as formulas."""
    return np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE


def filtered_noise(
    rng: np.random.Generator, seconds: float, band: tuple[float, float | None]
) -> FloatArray:
    """White noise through a Butterworth band (or high-pass when the top is None)."""
    noise = rng.standard_normal(round(seconds * SAMPLE_RATE))
    low, high = band
    if high is None:
        sos = signal.butter(4, low, "highpass", fs=SAMPLE_RATE, output="sos")
    else:
        sos = signal.butter(2, (low, high), "bandpass", fs=SAMPLE_RATE, output="sos")
    return signal.sosfilt(sos, noise)


def kick() -> FloatArray:
    """A pitch-swept sine thump with a soft click, the loop's main pulse."""
    t = times(0.45)
    freq = 48.0 + 115.0 * np.exp(-t / 0.035)
    phase = 2.0 * np.pi * np.cumsum(freq) / SAMPLE_RATE
    body = np.sin(phase) * np.exp(-t / 0.16) * (1.0 - np.exp(-t / 0.002))
    click = np.exp(-t / 0.004) * np.sin(2.0 * np.pi * 1800.0 * t) * 0.15
    return np.tanh(1.6 * (body + click)) / np.tanh(1.6)


def snare_clap(rng: np.random.Generator) -> FloatArray:
    """A snare body plus a three-burst clap, layered for beats 2 and 4."""
    t = times(0.4)
    tone = (np.sin(2 * np.pi * 185.0 * t) + 0.5 * np.sin(2 * np.pi * 330.0 * t)) * np.exp(-t / 0.05)
    rattle = filtered_noise(rng, 0.4, (1800.0, 8000.0)) * np.exp(-t / 0.11)
    clap_noise = filtered_noise(rng, 0.4, (900.0, 2600.0))
    bursts = sum(np.where(t >= s, np.exp(-(t - s) / 0.008), 0.0) for s in (0.0, 0.011, 0.022))
    clap = clap_noise * (0.6 * bursts + np.where(t >= 0.03, np.exp(-(t - 0.03) / 0.09), 0.0))
    mix = 0.5 * tone + 0.35 * rattle / np.abs(rattle).max() + 0.45 * clap / np.abs(clap).max()
    return mix * (1.0 - np.exp(-t / 0.001))


def hat(rng: np.random.Generator, decay: float) -> FloatArray:
    """A closed (short decay) or open (long decay) hi-hat from high-passed noise."""
    t = times(max(decay * 7.0, 0.05))
    noise = filtered_noise(rng, len(t) / SAMPLE_RATE, (7000.0, None))
    return noise / np.abs(noise).max() * np.exp(-t / decay) * (1.0 - np.exp(-t / 0.0005))


def adsr(
    n: int, gate: int, attack: float, decay: float, sustain: float, release: float
) -> FloatArray:
    """Piecewise envelope: rise, settle to sustain, hold until the gate closes, then fade."""
    t = np.arange(n) / SAMPLE_RATE
    rise = np.clip(t / attack, 0.0, 1.0)
    level = sustain + (1.0 - sustain) * np.exp(-np.maximum(t - attack, 0.0) / decay)
    gate_t = gate / SAMPLE_RATE
    fade = np.where(t > gate_t, np.exp(-(t - gate_t) / release), 1.0)
    return rise * level * fade


def additive(freq: float, n: int, harmonics: int, tilt: float, phases: FloatArray) -> FloatArray:
    """Band-limited saw-like tone from a few harmonics, so nothing aliases."""
    t = np.arange(n) / SAMPLE_RATE
    out = np.zeros(n)
    for k in range(1, harmonics + 1):
        if freq * k > 0.45 * SAMPLE_RATE:
            break
        out += np.sin(2.0 * np.pi * freq * k * t + phases[k - 1]) / k * np.exp(-(k - 1) / tilt)
    return out


def bass_note(midi: int, beats: float) -> FloatArray:
    """A round, slightly driven bass note: sine plus low harmonics through tanh."""
    gate = round(beats * BEAT_SAMPLES)
    n = gate + round(0.05 * SAMPLE_RATE)
    tone = additive(midi_hz(midi), n, 5, 1.2, np.zeros(5))
    env = adsr(n, gate, 0.004, 0.12, 0.7, 0.012)
    return np.tanh(1.8 * tone * env) / np.tanh(1.8)


def pad_chord(notes: Sequence[int], rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
    """A soft detuned chord, one detune per channel for width; lasts a bar plus release."""
    gate = BEAT_SAMPLES * BEATS_PER_BAR
    n = gate + round(1.2 * SAMPLE_RATE)
    env = adsr(n, gate, 0.35, 1.0, 0.85, 0.45)
    left, right = np.zeros(n), np.zeros(n)
    for note in notes:
        hz = midi_hz(note)
        for cents, side in ((-7.0, left), (7.0, right)):
            phases = rng.uniform(0.0, 2.0 * np.pi, 10)
            side += additive(hz * 2.0 ** (cents / 1200.0), n, 10, 2.5, phases)
    return left * env, right * env


def place(bus: FloatArray, sound: FloatArray, start: int, gain: float, pan: float = 0.0) -> None:
    """Mix a mono sound into a stereo bus at a sample offset with equal-power panning."""
    angle = (pan + 1.0) * np.pi / 4.0
    end = start + len(sound)
    bus[0, start:end] += sound * gain * np.cos(angle) * np.sqrt(2.0)
    bus[1, start:end] += sound * gain * np.sin(angle) * np.sqrt(2.0)


def wrap(bus: FloatArray) -> FloatArray:
    """Fold whatever rings past the loop end back onto its start, making the loop seamless."""
    out = bus[:, :LOOP_SAMPLES].copy()
    tail = bus[:, LOOP_SAMPLES:]
    out[:, : tail.shape[1]] += tail
    return out


def sidechain() -> FloatArray:
    """Per-beat gain dip keyed to the kick; periodic in the beat, so it loops too."""
    t = (np.arange(LOOP_SAMPLES) % BEAT_SAMPLES) / SAMPLE_RATE
    return 1.0 - 0.45 * np.exp(-t / 0.14) * (1.0 - np.exp(-t / 0.006))


def render_drums(rng: np.random.Generator) -> FloatArray:
    """Kick on every beat, snare/clap on 2 and 4, swung closed hats and an open hat every 2 bars."""
    bus = np.zeros((2, LOOP_SAMPLES + TAIL_SAMPLES))
    kick_sound = kick()
    for bar in range(BARS):
        bar_start = bar * BEATS_PER_BAR * BEAT_SAMPLES
        for beat in range(BEATS_PER_BAR):
            place(bus, kick_sound, bar_start + beat * BEAT_SAMPLES, 1.0)
            if beat in (1, 3):
                place(bus, snare_clap(rng), bar_start + beat * BEAT_SAMPLES, 0.55, 0.05)
        for eighth in range(2 * BEATS_PER_BAR):
            start = bar_start + eighth_offset(eighth)
            if eighth == 7 and bar % 2 == 1:
                place(bus, hat(rng, 0.09), start, 0.16, 0.3)
            else:
                gain = 0.13 if eighth % 2 == 0 else 0.09
                place(bus, hat(rng, 0.028), start, gain * rng.uniform(0.85, 1.0), 0.3)
    return wrap(bus)


def render_bass() -> FloatArray:
    """Bass line following the chord roots with the same swung 8th grid as the hats."""
    bus = np.zeros((2, LOOP_SAMPLES + TAIL_SAMPLES))
    for bar, (root, _) in enumerate(PROGRESSION):
        bar_start = bar * BEATS_PER_BAR * BEAT_SAMPLES
        for eighth, beats, interval in BASS_PATTERN:
            place(bus, bass_note(root + interval, beats), bar_start + eighth_offset(eighth), 0.42)
    return wrap(bus)


def render_pad(rng: np.random.Generator) -> FloatArray:
    """One sustained pad chord per bar, overlapping on the release for smooth changes."""
    bus = np.zeros((2, LOOP_SAMPLES + TAIL_SAMPLES))
    for bar, (_, voicing) in enumerate(PROGRESSION):
        left, right = pad_chord(voicing, rng)
        start = bar * BEATS_PER_BAR * BEAT_SAMPLES
        bus[0, start : start + len(left)] += left
        bus[1, start : start + len(right)] += right
    return wrap(bus)


def render_loop() -> FloatArray:
    """Mix the parts, duck bass and pad under the kick and normalise to the target peak."""
    rng = np.random.default_rng(4404)
    duck = sidechain()
    pad = render_pad(rng)
    pad *= 0.3 / np.abs(pad).max()
    mix = render_drums(rng) + (render_bass() + pad) * duck
    return mix * (10.0 ** (PEAK_DBFS / 20.0) / np.abs(mix).max())


def write_flac(path: Path, audio: FloatArray) -> None:
    """Encode stereo float audio as 16-bit FLAC with PyAV; bitexact keeps version tags out."""
    pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)
    interleaved = np.ascontiguousarray(pcm.T).reshape(1, -1)
    with av.open(str(path), "w", format="flac", options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream("flac", rate=SAMPLE_RATE)
        stream.layout = "stereo"
        stream.format = "s16"
        stream.codec_context.options = {"flags": "+bitexact", "compression_level": "12"}
        frame = av.AudioFrame.from_ndarray(interleaved, format="s16", layout="stereo")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = 0
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def beat_grid() -> dict[str, object]:
    """Ground-truth timing for beat-tracking tests, derived from the same constants."""
    beat_seconds = 60.0 / BPM
    beats = [round(i * beat_seconds, 6) for i in range(BARS * BEATS_PER_BAR)]
    return {
        "bpm": BPM,
        "beats_per_bar": BEATS_PER_BAR,
        "beats": beats,
        "downbeats": beats[::BEATS_PER_BAR],
        "duration": LOOP_SAMPLES / SAMPLE_RATE,
    }


# --------------------------------------------------------------------------------------------
# Entry point.
# --------------------------------------------------------------------------------------------


def write_keyframes(out: Path) -> list[Path]:
    """Save the three keyframes in three formats so the loader sees PNG, JPEG and WebP."""
    folder = out / "keyframes"
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "dusk_hills.png", folder / "night_city.jpg", folder / "sea_horizon.webp"]
    draw_dusk_hills().save(paths[0], format="PNG", optimize=True)
    draw_night_city().save(paths[1], format="JPEG", quality=90, optimize=True)
    draw_sea_horizon().save(paths[2], format="WEBP", quality=90, method=6)
    return paths


def write_music(out: Path) -> list[Path]:
    """Render the loop and its beat ground truth next to each other."""
    folder = out / "music"
    folder.mkdir(parents=True, exist_ok=True)
    audio_path, grid_path = folder / "loop_120bpm.flac", folder / "loop_120bpm.json"
    write_flac(audio_path, render_loop())
    grid_path.write_text(json.dumps(beat_grid(), indent=2) + "\n", encoding="utf-8")
    return [audio_path, grid_path]


def main(argv: Sequence[str] | None = None) -> None:
    """Parse arguments and (re)write every asset under ``--out``."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="folder to write keyframes/ and music/ into (default: this script's folder)",
    )
    args = parser.parse_args(argv)
    for path in write_keyframes(args.out) + write_music(args.out):
        print(f"{path.stat().st_size:>9}  {path}")


if __name__ == "__main__":
    main()
