"""End-to-end runs of the real CLI on draft backends: outputs, caching, resume and errors."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import imageio_ffmpeg
import numpy as np
import pytest
from conftest import ROOT, Cli, ok, patch_node_run, tiny_job

from orchestrator.media.audio import read_audio
from orchestrator.media.encode import h264, write_video
from orchestrator.media.images import load_image
from orchestrator.media.video import probe_video, read_frames
from stages.mux import embedded_config

FAST = ("preset=draft", "video.frames=17")


def _assembled(run: dict) -> Path:
    """The lossless assembled video of a run, from the store."""
    node = next(n for n in run["nodes"] if n["id"] == "assemble")
    return Path(run["store"]) / "assemble" / node["key"] / "video.mkv"


def _decode_errors(path: Path) -> str:
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    result = subprocess.run(
        [exe, "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True, text=True
    )
    return result.stderr.strip()


@pytest.mark.slow
def test_readme_quick_start_renders_the_example(cli: Cli):
    result = ok(cli("preset=draft"))
    run = cli.run_json(result)
    final = result.run_dir / "final.mp4"
    assert run["frames"] == 256 and run["fps"] == 16.0
    assert _decode_errors(final) == ""
    info = probe_video(final)
    assert (info.frames, info.fps, info.width, info.height) == (256, 16, 832, 480)
    with av.open(str(final)) as container:
        audio = container.streams.audio[0]
        assert audio.codec_context.name == "aac"
        audio_seconds = float(audio.duration * audio.time_base)
    assert abs(audio_seconds - 16.0) <= 1 / 16
    assert sorted(p.name for p in (result.run_dir / "keyframes").iterdir()) == [
        "shot_000.png", "shot_001.png", "shot_002.png",
    ]  # fmt: skip
    assert {n["status"] for n in run["nodes"]} == {"ran"}
    embedded = embedded_config(final)
    assert embedded["job"]["shots"][2]["seconds"] == 6.0
    assert "cache_dir" not in embedded

    again = ok(cli("preset=draft"))
    assert {n["status"] for n in cli.run_json(again)["nodes"]} == {"cached"}
    assert "nothing to do" in again.stderr
    assert (again.run_dir / "final.mp4").read_bytes() == final.read_bytes()


def test_changing_one_prompt_reruns_only_what_depends_on_it(cli: Cli):
    ok(cli(*FAST, job=tiny_job(soundtrack=None)))
    job = tiny_job()
    job["shots"][1]["prompt"] = "a lighthouse in a storm"
    run = cli.run_json(ok(cli(*FAST, job=job)))
    ran = {n["id"] for n in run["nodes"] if n["status"] == "ran"}
    assert ran == {"keyframe/1", "segment/1.0", "assemble", "mux"}


@pytest.mark.slow
@pytest.mark.parametrize("transition", ["cut", "continue", "morph"])
@pytest.mark.parametrize("loop", ["none", "pingpong", "closure"])
def test_every_transition_and_loop_renders_the_planned_frames(cli: Cli, transition, loop):
    job = tiny_job(transition=transition, loop=loop)
    job["shots"][0]["seconds"] = 1.5  # two clips in the first shot: chaining inside a shot
    # With drift and its correction on, so every mode exercises the corrected chaining too.
    correct = ("assemble.color_match=reinhard_lab", "video.drift.color=0.05")
    result = ok(cli(*FAST, "assemble.overlap_frames=2", *correct, job=job))
    run = cli.run_json(result)
    forward = 24 + 16
    assert run["frames"] == (2 * forward - 2 if loop == "pingpong" else forward)
    assert probe_video(result.run_dir / "final.mp4").frames == run["frames"]
    frames = list(read_frames(_assembled(run)))
    assert len(frames) == run["frames"]
    metrics = next(n for n in run["nodes"] if n["id"] == "assemble")["metrics"]
    assert len(metrics["drift"]) == sum(n["stage"] == "segment" for n in run["nodes"])
    assert (metrics.get("loop_seam") is not None) == (loop != "none")
    if loop == "pingpong":
        np.testing.assert_array_equal(frames[1], frames[-1])
        np.testing.assert_array_equal(frames[forward - 2], frames[forward])
    if loop == "closure":
        first = np.asarray(load_image(result.run_dir / "keyframes" / "shot_000.png"))
        # The last frame leads straight back into the first: it is one step of the way there.
        assert np.abs(frames[-1].astype(int) - first).mean() < 20


def test_stills_mode_writes_keyframes_and_a_contact_sheet(cli: Cli):
    result = ok(cli(*FAST, "mode=stills", job=tiny_job()))
    run = cli.run_json(result)
    assert run["output"] == "contact_sheet.png"
    assert not (result.run_dir / "final.mp4").exists()
    assert len(list((result.run_dir / "keyframes").iterdir())) == 2
    assert {n["stage"] for n in run["nodes"]} == {"keyframe", "contact_sheet"}
    sheet = load_image(result.run_dir / "contact_sheet.png")
    assert sheet.width > sheet.height


@pytest.mark.parametrize("video", [(), ("video=ltx2", "preset=ltx2_two_stage")])
def test_stills_need_no_video_model(cli: Cli, tmp_path: Path, video: tuple[str, ...]):
    """Keyframes only: the video backend's model (Wan's, or LTX-2's with its upsampler) need
    not be on the machine, and neither settle nor validate asks for it."""
    args = ("keyframes=draft", *video, f"video.model={tmp_path / 'nowhere'}", "audio=none",
            "mode=stills")  # fmt: skip
    result = ok(cli(*args, job=tiny_job(width=64, height=64)))
    assert cli.run_json(result)["output"] == "contact_sheet.png"


def test_user_keyframe_image_is_fitted_and_prores_mux(cli: Cli, tmp_path: Path):
    from PIL import Image

    picture = tmp_path / "mine.jpg"
    Image.new("RGB", (300, 100), (200, 30, 30)).save(picture)
    job = tiny_job()
    job["shots"][0]["image"] = str(picture)
    result = ok(cli(*FAST, "mux=prores", job=job))
    keyframe = np.asarray(load_image(result.run_dir / "keyframes" / "shot_000.png"))
    assert keyframe.shape == (48, 64, 3)
    assert np.abs(keyframe.astype(int) - (200, 30, 30)).max() <= 2
    final = result.run_dir / "final.mov"
    with av.open(str(final)) as container:
        assert container.streams.video[0].codec_context.name == "prores"
        assert container.streams.audio[0].codec_context.name == "pcm_s16le"
    assert probe_video(final).frames == 32


def test_soundtrack_is_the_audio_and_matches_the_video(cli: Cli):
    job = tiny_job(soundtrack=str(ROOT / "assets" / "music" / "loop_120bpm.flac"))
    result = ok(cli(*FAST, job=job))
    final = result.run_dir / "final.mp4"
    samples = read_audio(final, rate=48000, channels=2)
    assert abs(samples.shape[1] / 48000 - 2.0) <= 1 / 16
    assert np.abs(samples).max() > 0.05


@pytest.mark.slow
@pytest.mark.parametrize("after_nodes", [0, 2, 5])
def test_sigkill_at_any_point_resumes_to_identical_output(cli: Cli, after_nodes: int):
    job = tiny_job()
    job["shots"][0]["seconds"] = 4.0
    reference = ok(cli(*FAST, "cache_dir=" + str(cli.tmp / "reference-cache"), job=job))
    expected = list(read_frames(reference.run_dir / "final.mp4"))

    finished = cli.kill_after(after_nodes, *FAST, job=job)

    resumed = ok(cli(*FAST, job=job))
    run = cli.run_json(resumed)
    ran_again = {n["id"] for n in run["nodes"] if n["status"] == "ran"} & finished
    assert ran_again == set()
    frames = list(read_frames(resumed.run_dir / "final.mp4"))
    assert len(frames) == len(expected)
    for got, want in zip(frames, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    assert not list(cli.cache.glob("*/.tmp-*"))


def _one_line_error(result: subprocess.CompletedProcess[str], key: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {key}"), lines[0]
    assert "Traceback" not in result.stderr
    assert not (result.run_dir / "final.mp4").exists()  # type: ignore[attr-defined]
    assert not (result.run_dir / "run.json").exists()  # type: ignore[attr-defined]


def _bad_files(tmp: Path) -> dict[str, Path]:
    files = {
        "text": tmp / "notes.png",
        "empty_audio": tmp / "empty.wav",
        "fake_audio": tmp / "fake.mp3",
        "silent_video": tmp / "silent.mp4",
    }
    files["text"].write_text("this is not an image")
    files["empty_audio"].write_bytes(b"")
    files["fake_audio"].write_text("ID3 but not really")
    write_video(
        files["silent_video"],
        (np.zeros((16, 16, 3), np.uint8) for _ in range(4)),
        fps=Fraction(8),
        codec=h264(),
    )
    return files


# A file, a job value and the run directory in the quick subset; every case in the full suite.
QUICK_BAD = ("image_undecodable", "transition_unknown", "run_dir_unwritable")
BAD_INPUT = [
    ("image_missing", "job.shots[0].image"),
    ("image_undecodable", "job.shots[0].image"),
    ("soundtrack_missing", "job.soundtrack"),
    ("soundtrack_empty", "job.soundtrack"),
    ("soundtrack_undecodable", "job.soundtrack"),
    ("soundtrack_no_audio", "job.soundtrack"),
    ("seconds_zero", "job.shots[1].seconds"),
    ("frames_negative", "job.shots[1].frames"),
    ("fps_zero", "job.fps"),
    ("size_off_grid", "job.width"),
    ("no_shots", "job.shots"),
    ("transition_unknown", "job.transition"),
    ("loop_unknown", "job.loop"),
    ("mode_unknown", "mode"),
    ("wrong_type", "job.height"),
    ("unknown_key", "job.colour"),
    ("mux_incompatible", "mux.container"),
    ("cache_unwritable", "cache_dir"),
    ("run_dir_unwritable", "hydra.run.dir"),
]


@pytest.mark.parametrize(
    ("case", "key"),
    [
        (case, key) if case in QUICK_BAD else pytest.param(case, key, marks=pytest.mark.slow)
        for case, key in BAD_INPUT
    ],
)
def test_bad_input_fails_in_one_line_before_anything_renders(cli: Cli, case: str, key: str):
    files = _bad_files(cli.tmp)
    job = tiny_job()
    args: list[str] = ["preset=draft"]
    run_dir = None
    match case:
        case "image_missing":
            job["shots"][0]["image"] = str(cli.tmp / "nowhere.png")
        case "image_undecodable":
            job["shots"][0]["image"] = str(files["text"])
        case "soundtrack_missing":
            job["soundtrack"] = str(cli.tmp / "nowhere.wav")
        case "soundtrack_empty":
            job["soundtrack"] = str(files["empty_audio"])
        case "soundtrack_undecodable":
            job["soundtrack"] = str(files["fake_audio"])
        case "soundtrack_no_audio":
            job["soundtrack"] = str(files["silent_video"])
        case "seconds_zero":
            job["shots"][1]["seconds"] = 0
        case "frames_negative":
            job["shots"][1] = {"prompt": "x", "frames": -3}
        case "fps_zero":
            job["fps"] = 0
        case "size_off_grid":
            job["width"] = 70
        case "no_shots":
            job["shots"] = []
        case "transition_unknown":
            job["transition"] = "wipe"
        case "loop_unknown":
            job["loop"] = "forever"
        case "mode_unknown":
            args.append("mode=film")
        case "wrong_type":
            args.append("job.height=tall")
        case "unknown_key":
            args.append("job.colour=red")
        case "mux_incompatible":
            args += ["mux=prores", "mux.container=mp4"]
        case "cache_unwritable":
            blocker = cli.tmp / "blocker"
            blocker.write_text("a file, not a directory")
            args.append(f"cache_dir={blocker / 'store'}")
        case "run_dir_unwritable":
            blocker = cli.tmp / "blocker"
            blocker.write_text("a file, not a directory")
            run_dir = blocker / "run"
    result = cli(*args, job=job, run_dir=run_dir)
    _one_line_error(result, key)
    assert not list(cli.cache.glob("*/*/manifest.json"))


def test_failure_inside_a_node_names_it_and_keeps_finished_nodes(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    job = tiny_job()
    broken = tmp_path / "vanishing.png"
    from PIL import Image

    Image.new("RGB", (64, 48)).save(broken)
    job["shots"][1]["image"] = str(broken)
    # The image disappears after planning, when its keyframe is about to render.
    path = repr(str(broken))
    gone = f"os.remove({path})\nraise FileNotFoundError(errno.ENOENT, 'gone', {path})"
    patch_node_run(monkeypatch, tmp_path / "hook", "keyframe/1", gone)
    result = cli(*FAST, job=job)
    assert result.returncode == 1
    assert "node keyframe/1 failed" in result.stderr
    assert "run the same command again to resume" in result.stderr
    assert "Traceback" not in result.stderr
    run = cli.run_json(result)
    assert run["complete"] is False
    assert [n["id"] for n in run["nodes"]] == ["keyframe/0"]
    assert len(list(cli.cache.glob("keyframe/*/manifest.json"))) == 1
