"""Your own footage: shots that continue a user's video, through the real CLI on draft backends.

The user's clip is 30 fps and 2.35:1 with an audio track; the job is 16 fps and 4:3, so every
check below also checks the resampling by timestamps and the fit to the job's size.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import Cli, ok, tiny_job
from PIL import Image

from orchestrator.engine.errors import UserError
from orchestrator.media.audio import read_audio, write_audio
from orchestrator.media.encode import h264, write_video
from orchestrator.media.images import fit_image, load_image
from orchestrator.media.video import probe_video, read_frame, read_frames
from orchestrator.plan.job import plan_job
from orchestrator.render.graph import build_graph
from orchestrator.render.stages import Stages
from stages.video.draft import DraftVideo

FAST = ("preset=draft", "video.frames=17")
SOURCE_FPS = 30
SOURCE_FRAMES = 60  # 2 s
JOB_FPS = 16


def user_frame(index: int, width: int = 94, height: int = 40) -> np.ndarray:
    """A frame whose content says which one it is: a bar that moves and a level per frame."""
    frame = np.zeros((height, width, 3), np.uint8)
    frame[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    frame[..., 1] = 40 + 3 * index
    x = index % (width - 8)
    frame[:, x : x + 8, 2] = 255
    return frame


def write_user_clip(path: Path, frames: int = SOURCE_FRAMES, audio: bool = True) -> Path:
    """A phone-like H.264 mp4 (yuv420p, AAC): lossy, so tests compare against its decode."""
    sound = None
    if audio:
        sound = path.with_suffix(".wav")
        t = np.arange(frames * 48000 // SOURCE_FPS) / 48000
        tone = (0.4 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        write_audio(sound, np.stack([tone, tone]), 48000)
    write_video(
        path,
        (user_frame(i) for i in range(frames)),
        fps=Fraction(SOURCE_FPS),
        codec=h264(crf=10),
        audio=sound,
    )
    return path


def fitted_source(path: Path, times: list[Fraction], width: int = 64, height: int = 48):
    """What the user's clip should look like in the output: the decoded source frame on screen
    at each time (constant 30 fps here, so index = floor(t * 30)), fitted as images are."""
    decoded = list(read_frames(path))
    return [
        np.asarray(fit_image(Image.fromarray(decoded[math.floor(t * SOURCE_FPS)]), width, height))
        for t in times
    ]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_user_clip(tmp_path_factory.mktemp("footage") / "phone.mp4")


def entry(cli: Cli, result: Any, node_id: str) -> Path:
    node = next(n for n in cli.run_json(result)["nodes"] if n["id"] == node_id)
    return cli.cache / node["stage"] / node["key"]


def footage_job(clip: Path, **shot0: Any) -> dict[str, Any]:
    job = tiny_job(fps=JOB_FPS)
    job["shots"][0] = {
        "prompt": "the bar keeps moving",
        "seconds": 1.0,
        "video": str(clip),
        **shot0,
    }
    return job


def test_a_shot_continues_the_users_last_frame(cli: Cli, clip: Path) -> None:
    result = ok(cli(*FAST, job=footage_job(clip)))
    run = cli.run_json(result)
    planned = 2 * JOB_FPS
    assert run["frames"] == planned
    assert probe_video(result.run_dir / "final.mp4").frames == planned
    # The clip at 16 fps has ceil(2 s * 16) = 32 frames; the last is on screen at 31/16 s.
    last = fitted_source(clip, [Fraction(31, JOB_FPS)])[0]
    keyframe = np.asarray(load_image(entry(cli, result, "keyframe/0") / "keyframe.png"))
    np.testing.assert_array_equal(keyframe, last)
    assembled = entry(cli, result, "assemble") / "video.mkv"
    np.testing.assert_array_equal(read_frame(assembled, 0), last)
    footage = next(n for n in run["nodes"] if n["id"] == "keyframe/0")
    assert footage["stage"] == "footage"
    assert "your clip" in (result.run_dir / "report.html").read_text()


@pytest.mark.slow
def test_include_plays_the_trimmed_clip_then_continues_it(cli: Cli, clip: Path) -> None:
    job = footage_job(clip, include=True, trim=[0.5, 1.5], keep_audio=True)
    result = ok(cli(*FAST, job=job))
    run = cli.run_json(result)
    lead = JOB_FPS  # 1 s of clip
    assert [s["frames"] for s in run["shots"]] == [lead + JOB_FPS, JOB_FPS]
    assert run["frames"] == lead + 2 * JOB_FPS
    final = result.run_dir / "final.mp4"
    assert probe_video(final).frames == run["frames"]
    times = [Fraction(1, 2) + Fraction(k, JOB_FPS) for k in range(lead)]
    expected = fitted_source(clip, times)
    assembled = list(read_frames(entry(cli, result, "assemble") / "video.mkv"))
    for k in range(lead):
        np.testing.assert_array_equal(assembled[k], expected[k])
    # The new frames start from the clip's last frame (shown once) and move on from it.
    segment = list(read_frames(entry(cli, result, "segment/0.0") / "clip.mkv"))
    np.testing.assert_array_equal(segment[0], expected[-1])
    np.testing.assert_array_equal(assembled[lead], segment[1])
    # The delivered mp4 starts with the user's frames, within H.264 4:2:0 loss.
    for k, frame in enumerate(read_frames(final, 0, lead)):
        assert np.abs(frame.astype(np.int16) - expected[k]).mean() < 4
    # keep_audio: the clip's tone plays with the clip, silence after (no soundtrack).
    sound = read_audio(final, rate=48000, channels=1)[0]
    assert np.sqrt(np.mean(sound[2400:45600] ** 2)) > 0.1
    assert np.abs(sound[50000:]).max() < 1e-3
    again = ok(cli(str(final), command="reproduce"))
    assert {n["status"] for n in cli.run_json(again)["nodes"]} == {"cached"}
    assert (again.run_dir / "final.mp4").read_bytes() == final.read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "shot0", "shot1"),
    [
        (("job.transition=continue", "job.loop=pingpong", "assemble.overlap_frames=2"),
         {"include": True}, {}),
        (("job.transition=morph", "job.loop=closure"), {}, {"video": True}),
        (("assemble.overlap_frames=3", "assemble.color_match=reinhard_lab"), {"include": True}, {}),
    ],
)  # fmt: skip
def test_transitions_and_loops_keep_the_planned_frame_count(
    cli: Cli, clip: Path, args: tuple[str, ...], shot0: dict, shot1: dict
) -> None:
    job = footage_job(clip, **shot0)
    if shot1.pop("video", False):
        job["shots"][1]["video"] = str(clip)
    result = ok(cli(*FAST, *args, job=job))
    run = cli.run_json(result)
    forward = sum(s["frames"] for s in run["shots"])
    expected = 2 * forward - 2 if "job.loop=pingpong" in args else forward
    assert run["frames"] == expected
    assembled = entry(cli, result, "assemble") / "video.mkv"
    assert probe_video(assembled).frames == expected
    assert probe_video(result.run_dir / "final.mp4").frames == expected
    if shot0.get("include"):
        first = fitted_source(clip, [Fraction(0)])[0]
        np.testing.assert_array_equal(read_frame(assembled, 0), first)


def test_the_store_keys_footage_on_the_files_content(make_config, tmp_path: Path) -> None:
    path = write_user_clip(tmp_path / "mine.mp4", audio=False)
    cfg = make_config(job=footage_job(path, include=True))
    stages = Stages.from_config(cfg)

    def keys() -> dict[str, str]:
        graph = build_graph(plan_job(cfg, stages.video), stages)
        return {node.id: node.key for node in graph}

    before = keys()
    write_user_clip(path, frames=SOURCE_FRAMES + 1, audio=False)
    after = keys()
    changed = {k for k in before if before[k] != after[k]}
    assert {"keyframe/0", "segment/0.0", "assemble", "mux"} <= changed
    assert "keyframe/1" not in changed and "segment/1.0" not in changed


@pytest.mark.parametrize(
    ("shot0", "args", "key", "message"),
    [
        ({"video": "nope.mp4"}, (), "job.shots[0].video", "file not found"),
        ({"video": "SONG"}, (), "job.shots[0].video", "no video stream"),
        ({"trim": [0, 3.0]}, (), "job.shots[0].trim", "lasts 2.000 s"),
        ({"trim": [1.0, 0.5]}, (), "job.shots[0].trim", "start < end"),
        ({"video": None, "include": True}, (), "job.shots[0].include", "needs a `video`"),
        ({"image": "IMAGE"}, (), "job.shots[0].video", "either image or video"),
        ({"keep_audio": True}, (), "job.shots[0].keep_audio", "needs include"),
        ({"include": True, "keep_audio": True, "video": "SILENT"}, (), "job.shots[0].keep_audio",
         "no audio stream"),
        ({"include": True}, ("job.loop=closure",), "job.shots[0].include", "loop=closure"),
        ({"include": True, "keep_audio": True}, ("job.loop=pingpong",),
         "job.shots[0].keep_audio", "backwards"),
    ],
)  # fmt: skip
def test_bad_footage_fails_at_plan_time(
    make_config, clip: Path, tmp_path: Path, shot0: dict, args: tuple, key: str, message: str
) -> None:
    song = tmp_path / "song.wav"
    write_audio(song, np.zeros((1, 4800), np.float32), 48000)
    image = tmp_path / "still.png"
    Image.new("RGB", (20, 10)).save(image)
    silent = write_user_clip(tmp_path / "silent.mp4", audio=False)
    names = {"SONG": str(song), "IMAGE": str(image), "SILENT": str(silent)}
    shot0 = {k: names.get(v, v) if isinstance(v, str) else v for k, v in shot0.items()}
    job = footage_job(clip, **shot0) | dict(arg.removeprefix("job.").split("=") for arg in args)
    with pytest.raises(UserError) as caught:
        plan_job(make_config(job=job), DraftVideo(frames=17))
    assert caught.value.key == key and message in str(caught.value)


@pytest.mark.parametrize(
    ("args", "shot", "key"),
    [
        (("job.transition=morph",), 1, "job.shots[1].include"),
        (("job.transition=continue",), 1, "job.shots[1].video"),
        (("audio=none",), 0, "job.shots[0].keep_audio"),
    ],
)
def test_modes_that_cannot_use_footage_are_refused_in_one_line(
    cli: Cli, clip: Path, args: tuple[str, ...], shot: int, key: str
) -> None:
    job = tiny_job(fps=JOB_FPS)
    job["shots"][shot] |= {"video": str(clip), "include": True, "keep_audio": shot == 0}
    result = cli(*FAST, *args, job=job)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {key}: ")
    assert not (result.run_dir / "final.mp4").exists()
