"""`audio=native`: the clips' own sound laid where their frames play, crossed over at seams;
refused with a video backend that makes none; and a whole LTX-2 job through the real CLI."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import Cli, ok, tiny_job
from test_ltx2 import _cli_args, _job, ltx2  # noqa: F401 (the session fixture)

from orchestrator.media.audio import write_audio
from orchestrator.media.video import probe_video
from orchestrator.plan.job import plan_job
from stages.audio.native import NativeAudio
from stages.video.draft import DraftVideo

RATE = 8000


def _timeline(make_config, **job):
    shots = [
        {"prompt": "a", "seconds": 2.0},
        {"prompt": "b", "seconds": 1.0},
    ]
    cfg = make_config("assemble.overlap_frames=3", job=tiny_job(shots=shots, **job))
    return plan_job(cfg, DraftVideo(frames=17, fps=16.0))


def _sounds(timeline, directory: Path) -> list[Path]:
    """Clip k sounds a constant k + 1 for as long as its clip (mono)."""
    paths = []
    for k, segment in enumerate(timeline.segments):
        length = round(segment.num_frames / timeline.fps * RATE)
        path = directory / f"clip{k}.wav"
        write_audio(path, np.full((1, length), 0.1 * (k + 1), np.float32), RATE)
        paths.append(path)
    return paths


def test_clips_play_where_their_frames_do_and_cross_over_at_seams(make_config, tmp_path):
    """A chained shot (three shared frames a seam) then a cut: inside a clip the track is that
    clip's sound; over shared frames the gains are equal-power (cos² + sin² = 1); at the cut a
    50 ms crossover; the track is the video's length."""
    timeline = _timeline(make_config, transition="cut")
    audio = NativeAudio(rate=RATE, channels=1, lufs=None)
    track = audio.stitched(timeline, _sounds(timeline, tmp_path))[0]
    assert track.shape[0] == round(timeline.duration * RATE)
    starts = timeline.clip_starts()
    segments = timeline.segments
    assert len(segments) >= 3 and segments[1].head == 3 and segments[-1].head == 0
    seconds = [float(s / timeline.fps) for s in starts]
    # The middle of the first clip's own frames, and of the last clip's.
    mid = round((seconds[0] + float(segments[1].head / timeline.fps)) / 2 * RATE)
    assert track[mid] == pytest.approx(0.1, abs=1e-3)
    assert track[-RATE // 10] == pytest.approx(0.1 * len(segments), abs=1e-3)
    # Over the three shared frames: 0.1 cos + 0.2 sin, with cos² + sin² = 1.
    a = round(seconds[1] * RATE)
    length = round((starts[0] + segments[0].keep) / timeline.fps * RATE) - a
    assert length == round(3 / 16 * RATE)
    angle = (np.arange(length) + 0.5) / length * (np.pi / 2)
    np.testing.assert_allclose(
        track[a : a + length], 0.1 * np.cos(angle) + 0.2 * np.sin(angle), atol=1e-3
    )
    # The cut: the last clip's sound rises over 50 ms from its first frame.
    cut = round(seconds[-1] * RATE)
    rise = track[cut : cut + round(0.05 * RATE)]
    assert rise[0] < rise[-1] and np.all(np.diff(rise) >= -0.1 * 0.1)


def test_a_speech_driven_clip_leaves_the_speech_to_the_mix(make_config, tmp_path):
    """A shot with speech: its clips' (vocoded) sound is left out; the speech itself is mixed."""
    speech = tmp_path / "line.wav"
    write_audio(speech, np.full((1, RATE // 2), 0.3, np.float32), RATE)
    shots = [
        {"prompt": "a", "seconds": 2.0},
        {"prompt": "b", "seconds": 1.0, "speech": str(speech)},
    ]
    cfg = make_config("assemble.overlap_frames=3", job=tiny_job(shots=shots, transition="cut"))
    timeline = plan_job(cfg, DraftVideo(frames=17, fps=16.0))
    track = NativeAudio(rate=RATE, channels=1, lufs=None).stitched(
        timeline, _sounds(timeline, tmp_path)
    )[0]
    cut = round(2.0 * RATE)
    assert np.all(track[cut + RATE // 10 :] == 0.0)
    assert track[RATE // 2] != 0.0


def test_native_sound_needs_a_video_model_that_makes_it(cli: Cli, offline_env):
    args = ("keyframes=draft", "video=draft", "audio=native")
    result = cli(*args, job=tiny_job(), env=offline_env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().startswith("error: audio: native plays the clips' own sound")
    assert not (result.run_dir / "final.mp4").exists()


@pytest.mark.slow
def test_an_ltx2_job_plays_its_clips_sound_through_the_cli(cli: Cli, ltx2, offline_env):  # noqa: F811
    """Shot 0 is two clips chained by their last frames (continuation=motion), shot 1 one;
    the final video carries the stitched sound of all three, as long as the picture."""
    import av

    args = _cli_args(ltx2, "audio=native", "video.continuation=motion", "video.motion_frames=9")
    result = ok(cli(*args, job=_job(), env=offline_env))
    final = result.run_dir / "final.mp4"
    info = probe_video(final)
    assert (info.frames, info.fps, info.width, info.height) == (20, Fraction(24), 32, 32)
    with av.open(str(final)) as container:
        (stream,) = container.streams.audio
        seconds = float(stream.duration * stream.time_base)
    assert seconds == pytest.approx(20 / 24, abs=0.05)
    run = cli.run_json(result)
    nodes = {n["id"]: n for n in run["nodes"]}
    assert nodes["audio"]["metrics"]["clips_with_sound"] == 3
    assert nodes["segment/0.1"]["metrics"]["context_frames"] == 9
