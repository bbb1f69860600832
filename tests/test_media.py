"""Media I/O on PyAV and the soundtrack stage, on small files built in each test."""

from __future__ import annotations

import struct
import wave
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pyloudnorm
import pytest
from PIL import Image

from orchestrator.media.audio import probe_audio, read_audio, write_audio
from orchestrator.media.container import MediaError
from orchestrator.media.encode import LOSSLESS, VideoCodec, h264, prores, write_video
from orchestrator.media.images import fit_image, load_image, save_png
from orchestrator.media.metadata import read_metadata, read_png_metadata
from orchestrator.media.video import probe_video, read_frame, read_frames, read_frames_reversed
from stages.audio.track import prepare_soundtrack

W, H = 64, 48


def random_frames(count: int, width: int = W, height: int = H, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(count)]


def flat_frames(count: int) -> Iterator[np.ndarray]:
    for i in range(count):
        yield np.full((H, W, 3), (i * 5) % 256, np.uint8)


def tone(seconds: float, rate: int, channels: int = 1, amp: float = 0.3) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    signal = (amp * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    return np.repeat(signal[None], channels, axis=0)


def encode_audio(path: Path, codec: str, samples: np.ndarray, rate: int) -> None:
    """Write mono float samples with any PyAV encoder (mp3, opus, aac, ...)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        for pos in range(0, samples.shape[1], 4096):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(samples[:, pos : pos + 4096]), format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts, frame.time_base = rate, pos, Fraction(1, rate)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def top_level_atoms(path: Path) -> list[str]:
    data = path.read_bytes()
    atoms, pos = [], 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
        atoms.append(kind.decode("latin-1"))
        if size == 0:
            break
        pos += size
    return atoms


@pytest.fixture
def clip(tmp_path: Path) -> tuple[Path, list[np.ndarray]]:
    frames = random_frames(40)
    path = tmp_path / "clip.mkv"
    write_video(path, iter(frames), fps=Fraction(24), codec=LOSSLESS)
    return path, frames


@pytest.fixture
def song(tmp_path: Path) -> Path:
    """3.0 s of 44.1 kHz mono: the shape of a typical user soundtrack, at a rate to convert."""
    path = tmp_path / "song.wav"
    write_audio(path, tone(3.0, 44100), 44100)
    return path


# ------------------------------------------------------------------ lossless video


@pytest.mark.parametrize("size", [(W, H), (33, 17)])
def test_lossless_round_trips_rgb_exactly(tmp_path: Path, size: tuple[int, int]) -> None:
    frames = random_frames(12, *size)
    path = tmp_path / "clip.mkv"
    assert write_video(path, iter(frames), fps=Fraction(24), codec=LOSSLESS) == 12
    back = list(read_frames(path))
    assert len(back) == 12
    for written, read in zip(frames, back, strict=True):
        assert read.dtype == np.uint8 and read.shape == (size[1], size[0], 3)
        np.testing.assert_array_equal(read, written)


def test_probe_video(clip: tuple[Path, list[np.ndarray]]) -> None:
    info = probe_video(clip[0])
    assert (info.frames, info.fps, info.width, info.height) == (40, Fraction(24), W, H)
    assert info.duration == pytest.approx(40 / 24)


@pytest.mark.parametrize("fps", [Fraction(30000, 1001), Fraction(16)])
def test_probe_video_counts_frames_at_awkward_rates(tmp_path: Path, fps: Fraction) -> None:
    path = tmp_path / "clip.mkv"
    write_video(path, flat_frames(57), fps=fps, codec=LOSSLESS)
    info = probe_video(path)
    assert (info.frames, info.fps) == (57, fps)
    assert read_frame(path, 33)[0, 0, 0] == (33 * 5) % 256


def test_read_frames_start_stop(clip: tuple[Path, list[np.ndarray]]) -> None:
    path, frames = clip
    for start, stop in [(0, 5), (7, 19), (35, None), (39, 40), (10, 10)]:
        got = list(read_frames(path, start, stop))
        want = frames[start:stop]
        assert len(got) == len(want)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("chunk", [1, 7, 16, 100])
def test_read_frames_reversed(clip: tuple[Path, list[np.ndarray]], chunk: int) -> None:
    path, _ = clip
    forward = list(read_frames(path))
    backward = list(read_frames_reversed(path, chunk=chunk))
    assert len(backward) == len(forward)
    for a, b in zip(backward, reversed(forward), strict=True):
        np.testing.assert_array_equal(a, b)


def test_read_frame_indices(clip: tuple[Path, list[np.ndarray]]) -> None:
    path, frames = clip
    np.testing.assert_array_equal(read_frame(path, -1), frames[-1])
    np.testing.assert_array_equal(read_frame(path, -40), frames[0])
    np.testing.assert_array_equal(read_frame(path, 17), frames[17])
    for index in (40, -41):
        with pytest.raises(IndexError):
            read_frame(path, index)


def test_write_video_reports_progress(tmp_path: Path) -> None:
    seen: list[int] = []
    path = tmp_path / "clip.mkv"
    write_video(path, flat_frames(5), fps=Fraction(24), codec=LOSSLESS, progress=seen.append)
    assert seen == [1, 2, 3, 4, 5]


def test_write_video_rejects_a_size_change_and_no_frames(tmp_path: Path) -> None:
    frames = [*random_frames(2), *random_frames(1, W + 2, H)]
    with pytest.raises(ValueError, match="differs"):
        write_video(tmp_path / "a.mkv", frames, fps=Fraction(24), codec=LOSSLESS)
    with pytest.raises(ValueError, match="no frames"):
        write_video(tmp_path / "b.mkv", [], fps=Fraction(24), codec=LOSSLESS)


def test_write_video_copies_frames_from_a_reused_buffer(tmp_path: Path) -> None:
    frames = random_frames(6)

    def reusing() -> Iterator[np.ndarray]:
        buffer = np.empty_like(frames[0])
        for frame in frames:
            buffer[...] = frame
            yield buffer

    path = tmp_path / "clip.mkv"
    write_video(path, reusing(), fps=Fraction(24), codec=LOSSLESS)
    for written, read in zip(frames, read_frames(path), strict=True):
        np.testing.assert_array_equal(read, written)


# ------------------------------------------------------------------ delivery codecs


def test_h264_mp4_is_tagged_bt709_and_faststart(tmp_path: Path) -> None:
    path = tmp_path / "final.mp4"
    write_video(path, flat_frames(48), fps=Fraction(24), codec=h264(crf=23))
    info = probe_video(path)
    assert (info.frames, info.fps, info.width, info.height) == (48, Fraction(24), W, H)
    assert sum(1 for _ in read_frames(path)) == 48
    with av.open(str(path)) as container:
        context = container.streams.video[0].codec_context
        assert context.name == "h264" and context.pix_fmt == "yuv420p"
        assert (context.colorspace, context.color_primaries, context.color_trc) == (1, 1, 1)
        assert context.color_range == 1
    atoms = top_level_atoms(path)
    assert atoms.index("moov") < atoms.index("mdat")


def test_h264_colours_survive(tmp_path: Path) -> None:
    path = tmp_path / "final.mp4"
    colour = np.array([200, 30, 40], np.uint8)
    frames = (np.broadcast_to(colour, (H, W, 3)).copy() for _ in range(3))
    write_video(path, frames, fps=Fraction(24), codec=h264(crf=10))
    decoded = read_frame(path, 1)[H // 2, W // 2].astype(int)
    assert np.abs(decoded - colour).max() <= 3


def test_odd_size_is_rejected_before_encoding(tmp_path: Path) -> None:
    path = tmp_path / "final.mp4"
    with pytest.raises(ValueError, match="divisible by 2"):
        write_video(path, random_frames(2, 63, 48), fps=Fraction(24), codec=h264())
    assert not path.exists()


def test_soundtrack_is_muxed_to_the_video_length(tmp_path: Path, song: Path) -> None:
    path = tmp_path / "final.mp4"
    write_video(path, flat_frames(48), fps=Fraction(24), codec=h264(), audio=song)
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert (audio.codec_context.name, audio.rate, audio.channels) == ("aac", 48000, 2)
        video_seconds = float(video.duration * video.time_base)
        audio_seconds = float(audio.duration * audio.time_base)
        decoded = np.concatenate([f.to_ndarray() for f in container.decode(audio)], axis=1)
    assert video_seconds == pytest.approx(2.0)
    assert abs(audio_seconds - video_seconds) <= 1 / 24
    assert abs(decoded.shape[1] / 48000 - video_seconds) <= 1 / 24
    middle = decoded[:, 24000:72000]
    assert np.sqrt(np.mean(middle**2)) == pytest.approx(0.3 / np.sqrt(2), rel=0.1)
    np.testing.assert_allclose(middle[0], middle[1], atol=1e-3)


def test_short_soundtrack_is_padded_with_silence(tmp_path: Path) -> None:
    short = tmp_path / "short.wav"
    write_audio(short, tone(0.5, 44100), 44100)
    path = tmp_path / "final.mov"
    write_video(path, flat_frames(48), fps=Fraction(24), codec=prores(), audio=short)
    samples = read_audio(path, rate=48000, channels=2)
    assert samples.shape == (2, 96000)
    assert np.abs(samples[:, 30000:]).max() == 0


def test_undecodable_soundtrack_fails_before_writing(tmp_path: Path) -> None:
    bad = tmp_path / "song.wav"
    bad.write_text("not audio\n" * 20)
    path = tmp_path / "final.mp4"
    with pytest.raises(MediaError, match="song.wav"):
        write_video(path, flat_frames(4), fps=Fraction(24), codec=h264(), audio=bad)
    assert not path.exists()


@pytest.mark.parametrize(
    ("name", "codec"),
    [("a.mp4", h264()), ("a.mov", prores()), ("a.mkv", LOSSLESS)],
)
def test_metadata_round_trip(tmp_path: Path, name: str, codec: VideoCodec) -> None:
    config = '{"renga": {"prompt": "café at dusk", "seed": 7}}\n' + "x" * 4000
    tags = {"comment": config, "renga_version": "0.1.0"}
    path = tmp_path / name
    write_video(path, flat_frames(2), fps=Fraction(24), codec=codec, metadata=tags)
    found = read_metadata(path)
    assert {key: found.get(key) for key in tags} == tags


def test_native_mp4_comment_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "a.mp4"
    tags = {"comment": "only a comment"}
    write_video(path, flat_frames(2), fps=Fraction(24), codec=h264(), metadata=tags)
    assert read_metadata(path)["comment"] == "only a comment"


# ------------------------------------------------------------------ audio


@pytest.mark.parametrize(
    ("name", "codec", "rate"),
    [
        ("a.wav", None, 44100),
        ("a.flac", None, 22050),
        ("a.mp3", "libmp3lame", 44100),
        ("a.ogg", "libopus", 48000),
        ("a.m4a", "aac", 44100),
    ],
)
def test_probe_audio_formats(tmp_path: Path, name: str, codec: str | None, rate: int) -> None:
    path = tmp_path / name
    if codec is None:
        write_audio(path, tone(1.5, rate), rate)
    else:
        encode_audio(path, codec, tone(1.5, rate), rate)
    info = probe_audio(path)
    assert (info.rate, info.channels) == (rate, 1)
    assert info.duration == pytest.approx(1.5, abs=0.06)


def _no_audio_video(path: Path) -> None:
    write_video(path, flat_frames(2), fps=Fraction(24), codec=LOSSLESS)


def _zero_sample_wav(path: Path) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(44100)


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("missing.wav", lambda p: None),
        ("empty.wav", lambda p: p.write_bytes(b"")),
        ("notes.wav", lambda p: p.write_text("not audio at all\n" * 50)),
        ("silent.mkv", _no_audio_video),
        ("zero.wav", _zero_sample_wav),
    ],
)
def test_probe_audio_rejects_unusable_files(
    tmp_path: Path, name: str, make: Callable[[Path], object]
) -> None:
    path = tmp_path / name
    make(path)
    with pytest.raises(MediaError) as caught:
        probe_audio(path)
    assert str(path) in str(caught.value)


def test_read_audio_resamples_to_exact_lengths(tmp_path: Path, song: Path) -> None:
    assert read_audio(song, rate=48000, channels=2).shape == (2, 144000)
    assert read_audio(song, rate=22050, channels=1).shape == (1, 66150)
    mono = read_audio(song, rate=44100, channels=1)
    stereo = read_audio(song, rate=44100, channels=2)
    np.testing.assert_array_equal(stereo[0], mono[0])
    np.testing.assert_array_equal(stereo[1], mono[0])
    assert np.abs(mono).max() == pytest.approx(0.3, abs=1e-3)


def test_read_audio_window(tmp_path: Path) -> None:
    rate = 44100
    ramp = (np.arange(3 * rate) / (3 * rate) - 0.5).astype(np.float32)
    path = tmp_path / "ramp.flac"
    write_audio(path, np.stack([ramp, -ramp]), rate)
    window = read_audio(path, rate=48000, channels=2, start=1.0, duration=0.5)
    assert window.shape == (2, 24000)
    expected = np.arange(24000) / 48000 / 3 + 1 / 3 - 0.5
    np.testing.assert_allclose(window[0, 100:-100], expected[100:-100], atol=2e-3)
    np.testing.assert_allclose(window[1], -window[0], atol=1e-4)
    assert read_audio(path, rate=48000, channels=1, start=1.0).shape == (1, 96000)
    assert read_audio(path, rate=48000, channels=2, start=2.5, duration=1.0).shape[1] == 24000


# ------------------------------------------------------------------ images


def test_png_metadata_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "kf.png"
    tags = {"renga": '{"seed": 3, "prompt": "neon koi, 夜"}', "long": "y" * 5000, "plain": "ok"}
    save_png(path, Image.new("RGB", (8, 8), (1, 2, 3)), tags)
    assert read_png_metadata(path) == tags
    assert load_image(path).getpixel((0, 0)) == (1, 2, 3)


def test_load_image_converts_and_rejects(tmp_path: Path) -> None:
    rgba = tmp_path / "a.webp"
    Image.new("RGBA", (10, 6), (9, 8, 7, 128)).save(rgba, lossless=True)
    assert load_image(rgba).mode == "RGB"
    jpeg = tmp_path / "b.jpg"
    Image.new("RGB", (10, 6), (200, 100, 50)).save(jpeg)
    assert load_image(jpeg).size == (10, 6)
    broken = tmp_path / "broken.png"
    broken.write_text("nope")
    for path in (broken, tmp_path / "missing.png"):
        with pytest.raises(MediaError, match="missing.png|broken.png"):
            load_image(path)


def test_fit_image_covers_and_centre_crops() -> None:
    image = Image.new("RGB", (200, 100), (255, 0, 0))
    image.paste((0, 255, 0), (50, 0, 150, 100))
    fitted = fit_image(image, 64, 64)
    assert fitted.size == (64, 64)
    pixels = np.asarray(fitted)
    assert (pixels[:, 2:-2, 1] > 250).all() and (pixels[:, 2:-2, 0] < 5).all()
    wide = fit_image(image, 80, 20)
    assert wide.size == (80, 20)


# ------------------------------------------------------------------ soundtrack


def noise(seconds: float, rate: int, level: float = 0.05, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (level * rng.standard_normal((2, round(seconds * rate)))).astype(np.float32)


def test_soundtrack_trims_to_exact_length(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    write_audio(path, noise(3.0, 44100), 44100)
    out = prepare_soundtrack(path, duration=2.0, start=0.5)
    assert out.shape == (2, 96000) and out.dtype == np.float32


def test_soundtrack_pads_and_fades_at_the_end_of_the_music(tmp_path: Path) -> None:
    path = tmp_path / "short.wav"
    write_audio(path, noise(1.0, 48000, level=0.2), 48000)
    out = prepare_soundtrack(path, duration=2.5, lufs=None)
    assert out.shape == (2, 120000)
    assert np.abs(out[:, 48000:]).max() == 0
    assert np.abs(out[:, 47990:48000]).max() < 0.01
    assert np.abs(out[:, 20000:24000]).max() > 0.3


def test_soundtrack_loudness_peak_and_fade_in(tmp_path: Path) -> None:
    path = tmp_path / "music.wav"
    write_audio(path, noise(3.0, 48000, level=0.02), 48000)
    out = prepare_soundtrack(path, duration=3.0, lufs=-16.0)
    loudness = pyloudnorm.Meter(48000).integrated_loudness(out.T.astype(np.float64))
    assert loudness == pytest.approx(-16.0, abs=0.5)
    assert np.abs(out).max() <= 10 ** (-1 / 20)
    assert np.abs(out[:, :5]).max() < 0.02
    assert np.abs(out[:, :10]).max() < np.abs(out[:, 2000:4000]).max()


def test_soundtrack_peak_ceiling_wins_over_loudness(tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    write_audio(path, tone(2.0, 48000, channels=2), 48000)
    out = prepare_soundtrack(path, duration=2.0, lufs=-2.0)
    assert 10 ** (-1.05 / 20) <= np.abs(out).max() <= 10 ** (-1 / 20)


def test_soundtrack_of_silence_and_tiny_clips(tmp_path: Path) -> None:
    silent = tmp_path / "silent.wav"
    write_audio(silent, np.zeros((2, 48000), np.float32), 48000)
    assert np.abs(prepare_soundtrack(silent, duration=1.0)).max() == 0
    tiny = tmp_path / "tiny.wav"
    write_audio(tiny, noise(0.2, 48000), 48000)
    assert prepare_soundtrack(tiny, duration=0.2).shape == (2, 9600)
