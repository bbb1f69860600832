"""Music videos: beat analysis on synthesised songs, beat-cut plans, the soundtrack window."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import Cli, ok, tiny_job
from music_tracks import write_track

from orchestrator.engine.context import NodeContext
from orchestrator.engine.errors import UserError
from orchestrator.engine.store import Store
from orchestrator.media.audio import probe_audio, read_audio, write_audio
from orchestrator.media.encode import h264, write_video
from orchestrator.media.video import probe_video
from orchestrator.plan.beats import analyse
from orchestrator.plan.job import plan_job
from orchestrator.plan.music import cut_frames, merge_short
from orchestrator.plan.timeline import Analysis
from orchestrator.render.beats import StoredBeats
from orchestrator.stage import SegmentRequest
from stages.video.draft import DraftVideo

TEMPI = (90, 120, 128, 174)
SECONDS = 20.0


@pytest.fixture(scope="module")
def tracks(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[Path, np.ndarray]]:
    folder = tmp_path_factory.mktemp("tracks")
    made = {}
    for bpm in TEMPI:
        path = folder / f"song_{bpm}.wav"
        made[bpm] = path, write_track(path, bpm, SECONDS, seed=bpm)
    return made


@pytest.fixture(scope="module")
def analyses(tracks) -> dict[int, Analysis]:
    return {bpm: analyse(path, fps=Fraction(24)) for bpm, (path, _) in tracks.items()}


def music_job(soundtrack: Path, **music) -> dict:
    shots = [{"prompt": "neon dancer"}, {"prompt": "rainy street"}, {"prompt": "crowd"}]
    return tiny_job(soundtrack=str(soundtrack), shots=shots, music={"enabled": True, **music})


@pytest.mark.parametrize("bpm", TEMPI)
def test_tempo_beats_and_downbeats_of_swung_songs(bpm, tracks, analyses):
    _, truth = tracks[bpm]
    analysis = analyses[bpm]
    assert abs(analysis.tempo - bpm) / bpm < 0.02
    found = np.array(analysis.beats)
    error = np.min(np.abs(found[:, None] - truth[None, :]), axis=1)
    assert np.all(error < 0.05), f"beats off by up to {error.max():.3f} s"
    assert len(found) >= 0.9 * len(truth)
    downbeats = truth[::4]
    for bar in analysis.bars:
        assert np.min(np.abs(downbeats - bar)) < 0.05
    assert len(analysis.onset) == int(np.ceil(analysis.duration * 24))
    assert min(analysis.onset) >= 0 and max(analysis.onset) == 1.0


def test_aac_in_mp4_is_analysed_like_the_wav(tracks, analyses, tmp_path):
    path, truth = tracks[128]
    mp4 = tmp_path / "song.mp4"
    frames = (np.zeros((16, 16, 3), np.uint8) for _ in range(int(SECONDS * 2)))
    write_video(mp4, frames, fps=Fraction(2), codec=h264(), audio=path)
    analysis = analyse(mp4, fps=Fraction(24))
    assert abs(analysis.tempo - 128) / 128 < 0.02
    found = np.array(analysis.beats)
    assert np.max(np.min(np.abs(found[:, None] - truth[None, :]), axis=1)) < 0.05


def test_plp_follows_a_song_whose_tempo_moves(tmp_path):
    path = tmp_path / "ramp.wav"
    truth = write_track(path, 100, SECONDS, bpm_end=130)
    found = np.array(analyse(path, tracker="plp").beats)
    error = np.min(np.abs(found[:, None] - truth[None, :]), axis=1)
    assert np.mean(error < 0.05) > 0.9
    assert len(found) >= 0.9 * len(truth)


@pytest.mark.parametrize("bpm", TEMPI)
@pytest.mark.parametrize(("fps", "unit", "every"), [(16, "bars", 1), (24, "beats", 2)])
def test_cuts_land_on_beats_and_frames_add_up(make_config, tracks, bpm, fps, unit, every):
    path, _ = tracks[bpm]
    start, seconds = 1.3, 12.7
    job = music_job(path, start=start, max_seconds=seconds, cut={"unit": unit, "every": every}) | {
        "fps": fps
    }
    timeline = plan_job(make_config(job=job), DraftVideo(frames=33, fps=16))
    assert timeline.frames == round(seconds * fps)
    assert timeline.soundtrack_start == start
    detected = np.array(timeline.music.analysis.beats)
    starts = [shot.start for shot in timeline.shots]
    assert starts[0] == 0
    for frame in starts[1:]:
        at = start + frame / fps
        assert np.min(np.abs(detected - at)) <= 1 / fps, f"cut at {at:.3f} s is off the beat"
    for shot in timeline.shots:
        made = sum(s.contributes for s in timeline.segments if s.shot == shot.index)
        assert made == shot.frames
        assert shot.frames >= round(0.5 * fps)
    assert [s.prompt for s in timeline.shots[:4]] == [
        "neon dancer", "rainy street", "crowd", "neon dancer"
    ]  # fmt: skip


def test_long_shots_are_chained_segments(make_config, tracks):
    path, _ = tracks[90]
    job = music_job(path, cut={"every": 4, "unit": "bars"})
    timeline = plan_job(make_config(job=job), DraftVideo(frames=33, fps=16))
    long_shot = max(timeline.shots, key=lambda s: s.frames)
    chain = [s for s in timeline.segments if s.shot == long_shot.index]
    assert long_shot.frames > 33 and len(chain) > 1
    assert all(s.start_segment is not None for s in chain[1:])
    assert timeline.frames == round(timeline.music.analysis.duration * 16)


def test_short_shots_merge_and_cuts_snap_to_the_grid():
    assert merge_short([0, 2, 30, 31, 60, 61], 5) == [0, 31, 61]
    assert merge_short([0, 3], 5) == [0, 3]
    assert cut_frames([0.49, 1.01, 1.52, 2.0], 0.5, 40, Fraction(16), 1) == [0, 8, 16, 24, 40]
    assert cut_frames([0.49, 1.01, 1.52, 2.0], 0.5, 40, Fraction(16), 2) == [0, 8, 24, 40]


def test_analysis_is_published_once_and_reused(make_config, tracks, tmp_path, monkeypatch):
    path, _ = tracks[128]
    store = Store(tmp_path / "store")
    cfg = make_config(job=music_job(path, max_seconds=4))
    first = plan_job(cfg, DraftVideo(), StoredBeats(store))
    assert len(list(store.root.glob("beats/*/beats.json"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("analysed again")

    monkeypatch.setattr("orchestrator.plan.beats.analyse", fail)
    again = plan_job(
        make_config("seed=7", job=music_job(path, max_seconds=4)), DraftVideo(), StoredBeats(store)
    )
    assert again.music.analysis == first.music.analysis


def test_sections_and_energy_shape_prompts_and_motion(make_config, tracks):
    path, _ = tracks[120]
    sections = [{"start": 0, "prompt": "intro fog"}, {"start": 10, "prompt": "chorus fire"}]
    job = music_job(path, sections=sections, energy={"enabled": True})
    timeline = plan_job(make_config(job=job), DraftVideo())
    for shot in timeline.shots:
        at = shot.start / timeline.fps
        assert shot.prompt == ("chorus fire" if at >= 10 - 1 / 16 else "intro fog")
        assert "camera movement" in shot.motion
        assert 0.5 <= shot.motion_scale <= 2.0
    assert all(s.motion_scale in {sh.motion_scale for sh in timeline.shots}
               for s in timeline.segments)  # fmt: skip


def test_draft_zoom_follows_the_motion_scale():
    start = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    ctx = NodeContext("n", Path("."), {}, None)  # type: ignore[arg-type]

    def last(scale: float) -> np.ndarray:
        request = SegmentRequest(0, 0, "p", "", 64, 48, 9, Fraction(16), 1, motion_scale=scale)
        return list(DraftVideo().generate(request, start, None, ctx))[-1].astype(float)

    assert np.abs(last(2.0) - start).mean() > np.abs(last(0.5) - start).mean()


@pytest.mark.parametrize(
    ("music", "shots", "key"),
    [
        ({"cut": {"unit": "phrases"}}, None, "job.music.cut.unit"),
        ({"cut": {"every": 0}}, None, "job.music.cut.every"),
        ({"start": 999}, None, "job.music.start"),
        ({"max_seconds": -1}, None, "job.music.max_seconds"),
        ({"tracker": "magic"}, None, "job.music.tracker"),
        ({}, [{"prompt": "a", "seconds": 2}], "job.shots[0].seconds"),
        ({}, [], "job.shots"),
    ],
)
def test_bad_music_jobs_fail_at_plan_time(make_config, tracks, music, shots, key):
    path, _ = tracks[120]
    job = music_job(path, **music)
    if shots is not None:
        job["shots"] = shots
    with pytest.raises(UserError) as error:
        plan_job(make_config(job=job), DraftVideo())
    assert error.value.key == key


def test_a_song_without_beats_is_one_chained_shot(make_config, tmp_path):
    path = tmp_path / "hum.wav"
    t = np.arange(int(6 * 22050)) / 22050
    hum = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    write_audio(path, np.stack([hum, hum]), 22050)
    timeline = plan_job(make_config(job=music_job(path)), DraftVideo(frames=33, fps=16))
    assert len(timeline.shots) == 1 and timeline.frames == 6 * 16
    assert len(timeline.segments) > 1


def test_music_settings_on_an_ordinary_job_are_an_error(make_config):
    with pytest.raises(UserError) as error:
        plan_job(make_config(job=tiny_job(music={"cut": {"every": 2}})), DraftVideo())
    assert error.value.key == "job.music.enabled"


def test_a_music_video_needs_a_soundtrack(make_config):
    job = tiny_job(shots=[{"prompt": "a"}], music={"enabled": True})
    with pytest.raises(UserError) as error:
        plan_job(make_config(job=job), DraftVideo())
    assert error.value.key == "job.soundtrack"


@pytest.mark.slow
def test_music_video_through_the_cli_keeps_picture_and_sound_together(cli: Cli, tracks):
    path, _ = tracks[128]
    start, seconds, fps = 2.0, 6.0, 24
    job = music_job(path, start=start, max_seconds=seconds, energy={"enabled": True})
    job["fps"] = fps
    result = ok(cli("preset=draft", "video.frames=33", job=job))
    run = cli.run_json(result)
    beats_node = next(n for n in run["nodes"] if n["id"] == "beats")
    # Analysed at plan time, in this run: it ran here.
    assert beats_node["status"] == "ran" and beats_node["metrics"]["beats"] > 0
    assert run["frames"] == round(seconds * fps)
    assert abs(run["music"]["tempo"] - 128) / 128 < 0.02
    final = result.run_dir / "final.mp4"
    video = probe_video(final)
    assert video.frames == round(seconds * fps)
    sound = probe_audio(final)
    assert abs(sound.duration - video.duration) <= 1 / fps
    # The video's first frame plays the window's first sample: find the lag by correlation.
    muxed = read_audio(final, rate=8000, channels=1)[0]
    source = read_audio(path, rate=8000, channels=1, start=start, duration=seconds)[0]
    reach = 800
    n = min(len(muxed), len(source)) - 2 * reach
    scores = [np.dot(muxed[reach + lag : reach + lag + n], source[reach : reach + n])
              for lag in range(-reach, reach + 1)]  # fmt: skip
    lag = (int(np.argmax(scores)) - reach) / 8000
    assert abs(lag) <= 1 / fps, f"audio is {lag * 1000:.1f} ms off the window start"
    assert (result.run_dir / "beats.json").is_file()
    again = ok(cli("preset=draft", "video.frames=33", job=job))
    assert all(n["status"] == "cached" for n in cli.run_json(again)["nodes"])


@pytest.mark.slow
def test_librosa_compiles_under_a_machine_wide_lock() -> None:
    """Parallel renders on a fresh install must not compile librosa's numba functions at the
    same time (mixed cache files crash the next process): a second process waits for the lock."""
    import subprocess
    import sys
    import tempfile
    import time

    from filelock import FileLock

    root = Path(__file__).resolve().parent.parent
    script = "from orchestrator.plan import beats; beats._librosa(); print('compiled')"
    with FileLock(Path(tempfile.gettempdir()) / "renga-numba-compile.lock"):
        process = subprocess.Popen(
            [sys.executable, "-c", script], cwd=root, stdout=subprocess.PIPE, text=True
        )
        time.sleep(8)  # the whole import and compile take ~5 s on 2 cores
        assert process.poll() is None, "the process compiled without the lock"
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0 and out.strip() == "compiled"
