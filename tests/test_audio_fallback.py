"""Songs FFmpeg refuses and libsndfile plays: decoded, probed and beat-analysed the same way."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import soundfile
from conftest import ROOT, Cli, ok, tiny_job, write_job
from music_tracks import RATE, synth_track, write_track
from refused_audio import write_refused_vorbis

from orchestrator.cli.batch import summarise
from orchestrator.media.audio import probe_audio, read_audio
from orchestrator.media.container import MediaError
from orchestrator.media.encode import LOSSLESS, write_video
from orchestrator.media.video import probe_video, read_frames


@pytest.fixture(scope="module")
def songs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, np.ndarray]:
    """The same 120 bpm song as a refused Ogg Vorbis and as a plain one, and its beat times."""
    folder = tmp_path_factory.mktemp("songs")
    y, times = synth_track(120, 8.0, seed=3)
    stereo = np.stack([y, 0.5 * y])
    refused = write_refused_vorbis(folder / "refused.ogg", stereo, RATE)
    plain = folder / "plain.ogg"
    soundfile.write(plain, stereo.T, RATE, format="OGG", subtype="VORBIS")
    return refused, plain, times


def test_refused_vorbis_reads_like_the_same_song_ffmpeg_opens(songs) -> None:
    refused, plain, _ = songs
    assert probe_audio(refused) == probe_audio(plain)
    info = probe_audio(refused)
    assert (info.rate, info.channels) == (RATE, 2) and info.duration == pytest.approx(8.0)
    for kwargs in ({}, {"start": 2.5, "duration": 1.25}, {"start": 7.9}):
        mine = read_audio(refused, rate=48000, channels=2, **kwargs)
        theirs = read_audio(plain, rate=48000, channels=2, **kwargs)
        assert mine.shape == theirs.shape
        # FFmpeg's own Vorbis decoder and libvorbis agree to float rounding.
        np.testing.assert_allclose(mine, theirs, atol=1e-5)
    left, right = read_audio(refused, rate=RATE, channels=2)
    assert np.corrcoef(left, right)[0, 1] > 0.99
    assert np.abs(right).max() / np.abs(left).max() == pytest.approx(0.5, abs=0.02)
    mono = read_audio(refused, rate=RATE, channels=1)[0]
    np.testing.assert_allclose(mono, (left + right) / 2, atol=1e-6)


def test_refused_vorbis_muxes_under_a_video(songs, tmp_path: Path) -> None:
    refused, plain, _ = songs
    frames = [np.full((32, 32, 3), 90, np.uint8)] * 48
    outputs = []
    for song in (refused, plain):
        out = tmp_path / f"{song.stem}.mkv"
        write_video(out, frames, fps=Fraction(24), codec=LOSSLESS, audio=song)
        outputs.append(read_audio(out, rate=48000, channels=2))
    assert outputs[0].shape == (2, 96000)
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-4)


def test_a_file_neither_decoder_reads_names_both_reasons(tmp_path: Path, cli: Cli) -> None:
    bad = tmp_path / "song.ogg"
    bad.write_bytes(b"OggS" + bytes(range(256)) * 4)
    with pytest.raises(MediaError) as caught:
        probe_audio(bad)
    message = str(caught.value)
    assert message.startswith(f"{bad}: cannot read as audio: FFmpeg: ")
    assert "; libsndfile: " in message and "\n" not in message
    with pytest.raises(MediaError, match="libsndfile"):
        read_audio(bad, rate=8000, channels=1)
    result = cli("preset=draft", job=tiny_job(soundtrack=str(bad)))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: job.soundtrack: ")
    assert "FFmpeg: " in lines[0] and "libsndfile: " in lines[0]
    assert not (result.run_dir / "final.mp4").exists()


def cut_frames(video: Path, threshold: float = 20.0) -> list[int]:
    """Frames where the picture changes at once (a new draft card), not by Ken-Burns motion."""
    cuts, previous = [], None
    for index, frame in enumerate(read_frames(video)):
        if previous is not None and np.abs(frame.astype(np.int16) - previous).mean() > threshold:
            cuts.append(index)
        previous = frame
    return cuts


@pytest.mark.slow
def test_music_video_from_a_song_only_libsndfile_reads(songs, cli: Cli) -> None:
    refused, _, times = songs
    fps = 16
    shots = [{"prompt": "neon dancer"}, {"prompt": "rainy street"}, {"prompt": "crowd"}]
    job = tiny_job(soundtrack=str(refused), shots=shots, fps=fps,
                   music={"enabled": True, "cut": {"unit": "beats", "every": 4}})  # fmt: skip
    result = ok(cli("preset=draft", "video.frames=17", job=job))
    run = cli.run_json(result)
    assert run["frames"] == 8 * fps
    assert abs(run["music"]["tempo"] - 120) < 2
    starts = [shot["start"] for shot in run["shots"]]
    assert len(starts) > 2
    for frame in starts[1:]:
        assert np.min(np.abs(times - frame / fps)) <= 1 / fps, f"cut at frame {frame} off beat"
    # The cuts are in the picture where the plan put them, and the song is the sound.
    final = result.run_dir / "final.mp4"
    assert cut_frames(final) == starts[1:]
    sound = read_audio(final, rate=8000, channels=1)[0]
    song = read_audio(refused, rate=8000, channels=1)[0]
    n = min(len(sound), len(song)) - 8000
    assert np.corrcoef(sound[4000:n], song[4000:n])[0, 1] > 0.95


@pytest.mark.slow
def test_sweep_over_a_folder_where_one_song_needs_libsndfile(songs, tmp_path: Path) -> None:
    refused, _, _ = songs
    folder = tmp_path / "songs"
    folder.mkdir()
    write_track(folder / "a.wav", 120, 4.0, seed=1)
    (folder / "b.ogg").write_bytes(refused.read_bytes())
    job = tiny_job(shots=[{"prompt": "neon dancer"}, {"prompt": "rainy street"}],
                   music={"enabled": True, "max_seconds": 4.0})  # fmt: skip
    write_job(tmp_path / "jobs", job, name="song")
    sweep = tmp_path / "sweep"
    argv = [
        sys.executable, "-m", "orchestrator", "-m", "--config-dir", str(tmp_path / "jobs"),
        "job=song", "preset=draft", "video.frames=17",
        f"job.soundtrack={folder / 'a.wav'},{folder / 'b.ogg'}",
        f"cache_dir={tmp_path / 'cache'}", f"hydra.sweep.dir={sweep}",
    ]  # fmt: skip
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    summary = json.loads((sweep / "batch.json").read_text())
    assert summary == summarise(sweep)
    assert (summary["ok"], summary["failed"]) == (2, 0)
    for record in summary["jobs"]:
        final = Path(record["output"])
        assert probe_video(final).frames == 4 * 16
        assert probe_audio(final).duration == pytest.approx(4.0, abs=0.05)
