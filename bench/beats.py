"""Beat-analysis accuracy on synthesised songs with a known grid (swung hats, bass line, kick,
snare on 2 and 4), and how far beat-cut plans land from the detected and the true beats.

For each tempo and tracker it prints the tempo error, the offset of detected beats from the true
ones, whether the bars start on true downbeats, and the worst cut in video frames. Run from the
repository root:

    python bench/beats.py [--seconds 30] [--fps 24]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

from orchestrator.plan.beats import TRACKERS, analyse

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from music_tracks import write_track  # noqa: E402

from orchestrator.plan.music import cut_frames  # noqa: E402

# (start, end) BPM; the last song speeds up as it plays.
TEMPI = ((90, 90), (120, 120), (128, 128), (140, 140), (174, 174), (100, 130))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--fps", type=int, default=24)
    args = parser.parse_args()
    fps = Fraction(args.fps)
    print(f"{'bpm':>7} {'tracker':>7} {'tempo':>8} {'err %':>6} {'beat ms med/max':>16} "
          f"{'downbeats':>9} {'cut frames vs detected/true':>28}")  # fmt: skip
    worst_tempo = worst_cut = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for bpm, bpm_end in TEMPI:
            path = Path(tmp) / f"{bpm}-{bpm_end}.wav"
            truth = write_track(path, bpm, args.seconds, seed=bpm, bpm_end=bpm_end)
            for tracker in TRACKERS:
                a = analyse(path, tracker=tracker, fps=fps)
                mean_bpm = 60 * (len(truth) - 1) / (truth[-1] - truth[0])
                err = abs(a.tempo - mean_bpm) / mean_bpm * 100
                found = np.array(a.beats)
                offset = found[:, None] - truth[None, :]
                nearest = offset[np.arange(len(found)), np.argmin(np.abs(offset), axis=1)]
                downbeats = truth[::4]
                on_bar = all(np.min(np.abs(downbeats - b)) < 0.05 for b in a.bars)
                total = round((a.duration - 1.0) * fps)
                bounds = cut_frames(a.beats, 1.0, total, fps, 1)[1:-1]
                at = 1.0 + np.array(bounds) / float(fps)
                to_detected = max(np.min(np.abs(found - t)) for t in at) * float(fps)
                to_true = max(np.min(np.abs(truth - t)) for t in at) * float(fps)
                median_ms, max_ms = np.median(nearest) * 1000, np.max(np.abs(nearest)) * 1000
                bars = "yes" if on_bar else "no"
                name = str(bpm) if bpm == bpm_end else f"{bpm}-{bpm_end}"
                print(f"{name:>7} {tracker:>7} {a.tempo:>8.3f} {err:>6.3f} "
                      f"{median_ms:>7.1f}/{max_ms:<8.1f} {bars:>9} "
                      f"{to_detected:>14.2f}/{to_true:<13.2f}")  # fmt: skip
                if tracker == "beats" and bpm == bpm_end:
                    worst_tempo = max(worst_tempo, err)
                    worst_cut = max(worst_cut, to_detected)
    print(f"beats tracker: worst tempo error {worst_tempo:.3f} % (limit 2 %), "
          f"worst cut {worst_cut:.2f} frames from a detected beat (limit 1)")  # fmt: skip


if __name__ == "__main__":
    main()
