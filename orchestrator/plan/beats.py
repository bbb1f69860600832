"""Beat analysis of a soundtrack: tempo, beats, bars and the onset envelope per video frame.

It runs at plan time, because the cut plan depends on it. The planner asks for it through
`BeatAnalysis` and never learns how it is answered: `analyse_with` computes it here, and a run
hands the planner the store's answer (`render/beats.py`: a node keyed by the track's content
and the settings), so a re-run or every job of a sweep over the same song reads the stored JSON
instead of analysing again, and run.json lists it as a node.

Only the music video's window is decoded, with `CONTEXT_SECONDS` either side for the tracker:
memory follows the window, not the file (an hour-long track with a 30 s window peaks like a
one-minute one; `bench/memory.py`).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import math
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.engine.progress import quiet_warnings
from orchestrator.media.audio import read_audio
from orchestrator.plan.timeline import Analysis

TRACKERS = ("beats", "plp")
RATE = 22050
HOP = 256
# Off-beat onsets this strong against the beats mean the tracker locked onto half the tempo
# (a kick-snare pattern at 174 BPM reads as 87 BPM kicks).
DOUBLE_RATIO = 0.6
MAX_TEMPO = 200.0
ENVELOPE_CEILING_PERCENTILE = 95
BACKTRACK_SECONDS = 0.05
# Track decoded either side of a window: the tempo estimate (8 s autocorrelation windows) and the
# tracker's dynamic programme settle within it, so beats at the window's edges are the same as
# in a whole-track analysis.
CONTEXT_SECONDS = 10.0

# The planner's one question about a soundtrack: its analysis under these settings (`params`).
BeatAnalysis = Callable[[Path, dict[str, Any]], Analysis]


def params(
    tracker: str,
    beats_per_bar: int,
    fps: Fraction,
    bpm: float | None,
    start: float = 0.0,
    stop: float | None = None,
) -> dict[str, Any]:
    """The analysis settings; `start`/`stop` bound the audio decoded (None: to the end)."""
    return {
        "tracker": tracker,
        "beats_per_bar": beats_per_bar,
        "fps": str(fps),
        "bpm": bpm,
        "rate": RATE,
        "hop": HOP,
        "start": start,
        "stop": stop,
    }


def region(start: float, window: float | None, fps: Fraction) -> tuple[float, float | None]:
    """The audio to decode for a window of the track: `CONTEXT_SECONDS` either side, the lead
    in whole video frames so the onset values stay on the window's frame grid."""
    lead = math.floor(min(start, CONTEXT_SECONDS) * fps) / fps
    stop = None if window is None else start + window + CONTEXT_SECONDS
    return start - float(lead), stop


def numba_cache_ready() -> bool:
    """Whether librosa's numba functions are compiled in the cache numba will read: in
    $NUMBA_CACHE_DIR, else beside librosa's sources or in the user-wide cache (numba names
    each directory `<parent>_<sha1 of the source directory>`)."""
    spec = importlib.util.find_spec("librosa")
    if spec is None or spec.origin is None:
        return True
    source = os.path.join(os.path.dirname(os.path.abspath(spec.origin)), "util")
    subdir = f"util_{hashlib.sha1(source.encode()).hexdigest()}"
    if custom := os.environ.get("NUMBA_CACHE_DIR"):
        places = [Path(custom) / subdir]
    else:
        user_cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
        places = [Path(source) / "__pycache__", Path(user_cache) / "numba" / subdir]
    return any(next(place.glob("*.nbi"), None) for place in places if place.is_dir())


def analyse_with(path: Path, settings: dict[str, Any]) -> Analysis:
    """The `BeatAnalysis` that computes, caching nothing."""
    # librosa's warnings (n_fft too large for a short bar, ...) are not the user's to act on.
    with quiet_warnings("renga.beats"):
        return analyse(
            path,
            tracker=settings["tracker"],
            beats_per_bar=settings["beats_per_bar"],
            fps=Fraction(settings["fps"]),
            bpm=settings["bpm"],
            start=settings.get("start", 0.0),
            stop=settings.get("stop"),
        )


def analyse(
    path: Path,
    *,
    tracker: str = "beats",
    beats_per_bar: int = 4,
    fps: Fraction = Fraction(16),
    bpm: float | None = None,
    start: float = 0.0,
    stop: float | None = None,
) -> Analysis:
    """Beats of the track between `start` and `stop` seconds (None: its end)."""
    librosa = _librosa()
    length = None if stop is None else stop - start
    y = read_audio(path, rate=RATE, channels=1, start=start, duration=length)[0]
    return _analyse(librosa, y, tracker, beats_per_bar, fps, bpm, start)


def _analyse(
    librosa: Any,
    y: np.ndarray,
    tracker: str,
    beats_per_bar: int,
    fps: Fraction,
    bpm: float | None,
    offset: float = 0.0,
) -> Analysis:
    duration = len(y) / RATE
    oenv = librosa.onset.onset_strength(y=y, sr=RATE, hop_length=HOP, aggregate=np.median)
    frames = _tracked_beats(oenv, bpm)
    if tracker == "plp":
        frames = _plp_beats(oenv, _tempo(frames * HOP / RATE) or bpm or 120.0)
    frames = _onset_starts(oenv, frames)
    times = librosa.frames_to_time(frames, sr=RATE, hop_length=HOP)
    return Analysis(
        tempo=_tempo(times),
        beats=tuple(round(float(t) + offset, 4) for t in times),
        downbeat=_downbeat(y, oenv, frames, beats_per_bar),
        beats_per_bar=beats_per_bar,
        duration=offset + duration,
        fps=str(fps),
        onset=_per_frame(oenv, duration, fps),
        offset=offset,
    )


@functools.cache
def _librosa() -> Any:
    """librosa, with its numba-cached functions compiled once, under a machine-wide lock.

    numba writes a gufunc's two cache files separately, so processes compiling at the same
    time (a fresh install running `renga -m` with parallel jobs) can pair files from different
    compilations and crash in the next process that loads them (numba issue #10128). Running
    the analysis once on a synthetic click track while holding the lock compiles (or loads)
    every function it uses before any real work."""
    import librosa
    from filelock import FileLock

    clicks = np.zeros(4 * RATE, np.float32)
    clicks[:: RATE // 2] = 1.0
    lock = FileLock(Path(tempfile.gettempdir()) / "renga-numba-compile.lock")
    # The click track is shorter than plp's window: librosa's warning would reach stderr.
    with lock, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for tracker in ("beats", "plp"):
            _analyse(librosa, clicks, tracker, 4, Fraction(16), None)
    return librosa


def _tracked_beats(oenv: np.ndarray, bpm: float | None) -> np.ndarray:
    import librosa

    start = bpm if bpm else 120.0
    _, frames = librosa.beat.beat_track(onset_envelope=oenv, sr=RATE, hop_length=HOP,
                                        start_bpm=start)  # fmt: skip
    if bpm is None and len(frames) > 2:
        tempo = _tempo(frames * HOP / RATE)
        if 2 * tempo <= MAX_TEMPO and _offbeat_ratio(oenv, frames) > DOUBLE_RATIO:
            _, frames = librosa.beat.beat_track(
                onset_envelope=oenv, sr=RATE, hop_length=HOP, bpm=2 * tempo
            )
    return np.asarray(frames, dtype=int)


def _plp_beats(oenv: np.ndarray, tempo: float) -> np.ndarray:
    """Peaks of the predominant local pulse, free to drift 30 % around the global tempo (so
    the pulse follows music whose tempo moves without jumping an octave), at most one per
    0.6 beat."""
    import librosa

    pulse = librosa.beat.plp(onset_envelope=oenv, sr=RATE, hop_length=HOP,
                             tempo_min=tempo / 1.3, tempo_max=tempo * 1.3)  # fmt: skip
    peaks = np.flatnonzero(librosa.util.localmax(pulse))
    gap = 0.6 * 60.0 / tempo * RATE / HOP
    kept = _spaced(peaks, pulse, gap)
    # The pulse is a sum of sinusoids whose peaks sit near, not on, the onsets: snap each to
    # the strongest onset within a quarter beat.
    reach = max(1, round(gap / 2.4))
    snapped = np.array([max(0, p - reach) + int(np.argmax(oenv[max(0, p - reach) : p + reach + 1]))
                        for p in kept], dtype=int)  # fmt: skip
    return _trim(oenv, _spaced(snapped, oenv, 1.25 * gap))


def _spaced(frames: np.ndarray, strength: np.ndarray, gap: float) -> np.ndarray:
    """At most one frame per `gap`: of two closer ones the stronger stays."""
    kept: list[int] = []
    for frame in frames:
        if kept and frame - kept[-1] < gap:
            if strength[frame] > strength[kept[-1]]:
                kept[-1] = int(frame)
            continue
        kept.append(int(frame))
    return np.asarray(kept, dtype=int)


def _trim(oenv: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Without the leading and trailing beats that fall on near-silence (the pulse goes on
    before the music starts and after it ends)."""
    if len(frames) == 0:
        return frames
    strength = np.array([_peak(oenv, f) for f in frames])
    strong = np.flatnonzero(strength >= 0.3 * np.median(strength))
    return frames[strong[0] : strong[-1] + 1] if len(strong) else frames[:0]


def _onset_starts(oenv: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Each beat moved back from the onset envelope's peak to where its attack starts (the
    preceding minimum, when it is within BACKTRACK_SECONDS): the peak trails the sound by
    ~20 ms, half a frame at 24 fps."""
    import librosa

    if len(frames) == 0:
        return frames
    starts = librosa.onset.onset_backtrack(frames, oenv)
    reach = round(BACKTRACK_SECONDS * RATE / HOP)
    return np.where(frames - starts <= reach, starts, frames)


def _offbeat_ratio(oenv: np.ndarray, frames: np.ndarray) -> float:
    """Median onset strength half-way between beats over that on the beats."""
    on = np.array([_peak(oenv, f) for f in frames])
    mids = (frames[:-1] + frames[1:]) // 2
    off = np.array([_peak(oenv, f) for f in mids])
    base = float(np.median(on))
    return float(np.median(off)) / base if base > 0 else 0.0


def _peak(oenv: np.ndarray, frame: int, reach: int = 2) -> float:
    return float(np.max(oenv[max(0, frame - reach) : frame + reach + 1], initial=0.0))


def _tempo(times: Sequence[float] | np.ndarray) -> float:
    """BPM from a line fitted through the beat times, counting a skipped beat as two, so the
    estimate is finer than the tracker's frame grid."""
    times = np.asarray(times, dtype=float)
    if len(times) < 2:
        return 0.0
    gaps = np.diff(times)
    period = float(np.median(gaps))
    index = np.concatenate([[0], np.cumsum(np.maximum(1, np.round(gaps / period)))])
    slope = float(np.polyfit(index, times, 1)[0])
    return 60.0 / slope if slope > 0 else 0.0


def _downbeat(y: np.ndarray, oenv: np.ndarray, frames: np.ndarray, beats_per_bar: int) -> int:
    """The bar phase where the harmony changes most, with the onset energy on the beat as a
    tie-breaker: chords and bass move on the downbeat, while on onset energy alone the snare
    on 2 and 4 outweighs the kick on 1."""
    if len(frames) < 2 * beats_per_bar or beats_per_bar <= 1:
        return 0
    import librosa

    chroma = librosa.feature.chroma_stft(y=y, sr=RATE, hop_length=HOP, n_fft=4096, tuning=0.0)
    synced = librosa.util.sync(chroma, frames, aggregate=np.median)[:, 1:]
    before, after = synced[:, :-1], synced[:, 1:]
    norms = np.linalg.norm(before, axis=0) * np.linalg.norm(after, axis=0) + 1e-9
    change = np.concatenate([[0.0], 1 - (before * after).sum(axis=0) / norms])[: len(frames)]
    strength = np.array([_peak(oenv, f) for f in frames])
    score = _phase_means(change, beats_per_bar) + 0.25 * _phase_means(strength, beats_per_bar)
    return int(np.argmax(score))


def _phase_means(values: np.ndarray, beats_per_bar: int) -> np.ndarray:
    means = np.array([float(np.mean(values[p::beats_per_bar])) for p in range(beats_per_bar)])
    top = float(np.max(means))
    return means / top if top > 0 else means


def _per_frame(oenv: np.ndarray, duration: float, fps: Fraction) -> tuple[float, ...]:
    """The strongest onset inside each video frame, scaled so loud passages reach 1."""
    count = max(1, int(np.ceil(duration * fps)))
    edges = np.round(np.arange(count + 1) / float(fps) * RATE / HOP).astype(int)
    values = np.array(
        [_peak(oenv, a, 0) if b <= a else float(np.max(oenv[a:b], initial=0.0))
         for a, b in zip(edges[:-1], edges[1:], strict=True)]
    )  # fmt: skip
    ceiling = float(np.percentile(values, ENVELOPE_CEILING_PERCENTILE)) if len(values) else 0.0
    if ceiling > 0:
        values = np.clip(values / ceiling, 0.0, 1.0)
    return tuple(round(float(v), 4) for v in values)
