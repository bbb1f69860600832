"""Lip-sync through an external program, driven for real with a fake tool in tests/tools."""

from __future__ import annotations

import json
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ROOT, Cli, ok, tiny_job

from orchestrator.media.audio import read_audio, write_audio
from orchestrator.media.video import probe_video, read_frames

FAKE_TOOL = ROOT / "tests" / "tools" / "fake_lipsync.py"
FAST = ("preset=draft", "video.frames=17")


def speech_file(path: Path, seconds: float = 0.75, rate: int = 22050) -> Path:
    """A voice-like burst: silence, then a wobbling tone, then silence."""
    t = np.arange(round(seconds * rate)) / rate
    envelope = ((t > 0.2) & (t < 0.6)) * (0.5 + 0.5 * np.sin(2 * np.pi * 6 * t))
    voice = 0.6 * envelope * np.sin(2 * np.pi * 220 * t)
    write_audio(path, voice[None, :].astype(np.float32), rate)
    return path


def use_fake_tool(cli: Cli, mode: str = "ok", **settings) -> None:
    """A user-defined tool in the job folder: `lipsync=fake` extends the bundled external."""
    (cli.jobs / "lipsync").mkdir(parents=True, exist_ok=True)
    config = {
        "defaults": ["external", "_self_"],
        "tool": "fake",
        "root": str(cli.tmp),
        "python": sys.executable,
        "tools": {
            "fake": {
                "argv": ["{python}", str(FAKE_TOOL), "--video", "{video}", "--audio", "{audio}",
                         "--out", "{output}"],
                "env": {"FAKE_LIPSYNC_MODE": mode},
                "fps": 25,
                "sample_rate": 16000,
            }
        },
        **settings,
    }  # fmt: skip
    (cli.jobs / "lipsync" / "fake.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def job_with_speech(cli: Cli) -> dict:
    job = tiny_job()
    job["shots"][1]["speech"] = str(speech_file(cli.tmp / "line.wav"))
    return job


def entry(run: dict, node_id: str) -> Path:
    node = next(n for n in run["nodes"] if n["id"] == node_id)
    return Path(run["store"]) / node["stage"] / node["key"]


def test_only_shots_with_speech_are_redubbed_where_the_speech_is(cli: Cli):
    use_fake_tool(cli)
    job = job_with_speech(cli)
    run = cli.run_json(ok(cli(*FAST, "lipsync=fake", job=job)))
    statuses = {n["id"]: n["status"] for n in run["nodes"]}
    assert "lipsync/1" in statuses and "lipsync/0" not in statuses
    before = list(read_frames(entry(run, "assemble") / "video.mkv"))
    after = list(read_frames(entry(run, "dub") / "video.mkv"))
    assert len(after) == len(before) == run["frames"] == 32
    # The tool's own encode adds a little noise everywhere; the mouth changes a frame a lot.
    difference = [np.abs(a.astype(int) - b).mean() for a, b in zip(before, after, strict=True)]
    assert max(difference[:16]) == 0, "shot 0 has no speech and is untouched"
    assert max(difference[28:]) == 0, "after the 0.75 s of speech the shot is as rendered"
    changed = [i for i, d in enumerate(difference) if d > 6]
    # Shot 1 starts at frame 16; the voice is heard from 0.2 s to 0.6 s into it (frames 19-25).
    assert changed and min(changed) >= 16 + 3 and max(changed) <= 16 + 10
    assert probe_video(Path(run["store"]) / "dub" / run_key(run, "dub") / "video.mkv").frames == 32
    final = cli.tmp / "run1" / "final.mp4"
    audio = read_audio(final, rate=48000, channels=1)[0]
    speech_part = np.abs(audio[round(1.25 * 48000) : round(1.5 * 48000)]).max()
    assert speech_part > 0.3, "the speech is in the mix"


def run_key(run: dict, node_id: str) -> str:
    return next(n["key"] for n in run["nodes"] if n["id"] == node_id)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mode", "settings", "message"),
    [
        ("fail", {}, "exit code 3; last stderr: fake lipsync starting"),
        ("nooutput", {}, "no output at"),
        ("short", {}, "output lasts 0.40 s, the speech 0.75 s"),
        ("hang", {"timeout": 2}, "timed out after 2 s"),
    ],
)
def test_tool_failures_name_the_node_and_keep_finished_work(cli: Cli, mode, settings, message):
    use_fake_tool(cli, mode, **settings)
    result = cli(*FAST, "lipsync=fake", job=job_with_speech(cli))
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].startswith("error: node lipsync/1 failed: LipsyncFailure: fake on shot 1: ")
    assert message in errors[0]
    assert "run the same command again to resume" in errors[0]
    done = {json.loads(p.read_text())["node"] for p in cli.cache.glob("*/*/manifest.json")}
    assert {"assemble", "segment/0.0", "segment/1.0"} <= done
    assert not list(cli.cache.glob("*/.tmp-*"))


def test_skip_policy_keeps_the_shot_and_warns(cli: Cli):
    use_fake_tool(cli, "noface", on_failure="skip")
    result = ok(cli(*FAST, "lipsync=fake", job=job_with_speech(cli)))
    assert "warning: lipsync/1 skipped: fake on shot 1: exit code 1" in result.stderr
    assert "Face not detected" in result.stderr
    run = cli.run_json(result)
    node = next(n for n in run["nodes"] if n["id"] == "lipsync/1")
    assert "Face not detected" in node["metrics"]["skipped"]
    before = list(read_frames(entry(run, "assemble") / "video.mkv"))
    after = list(read_frames(entry(run, "dub") / "video.mkv"))
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))


def test_paths_with_shell_metacharacters_run_nothing(cli: Cli, tmp_path: Path):
    use_fake_tool(cli)
    hostile = tmp_path / "store; touch PWNED1 && $(touch PWNED2) `touch PWNED3`"
    result = ok(cli(*FAST, "lipsync=fake", f"cache_dir='{hostile}'", job=job_with_speech(cli)))
    run = cli.run_json(result)
    assert run["store"] == str(hostile)
    for where in (ROOT, tmp_path, cli.tmp, Path.cwd()):
        assert not list(where.glob("PWNED*"))


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (("lipsync.tool=wav3lip",), "lipsync.tool"),
        (("lipsync.root=/no/such/checkout",), "lipsync.root"),
        (("lipsync.python=/no/such/python",), "lipsync.python"),
        (("lipsync.on_failure=retry",), "lipsync.on_failure"),
        (("job.loop=pingpong",), "job.loop"),
    ],
)
def test_lipsync_mistakes_are_caught_at_plan_time(cli: Cli, overrides, key):
    use_fake_tool(cli)
    result = cli(*FAST, "lipsync=fake", *overrides, job=job_with_speech(cli))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().startswith(f"error: {key}:")
    assert "\n" not in result.stderr.strip()


def test_speech_longer_than_its_shot_is_rejected(cli: Cli):
    use_fake_tool(cli)
    job = tiny_job()
    job["shots"][1]["speech"] = str(speech_file(cli.tmp / "long.wav", seconds=2.5))
    result = cli(*FAST, "lipsync=fake", job=job)
    assert result.returncode == 2
    assert result.stderr.startswith("error: job.shots[1].speech: 2.50 s of speech does not fit")


def test_bundled_tools_are_argument_lists_with_known_placeholders():
    from hydra import compose, initialize_config_dir

    from orchestrator.config import CONF_DIR
    from stages.lipsync import PLACEHOLDER

    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose("config", overrides=["lipsync=external"])
    assert set(cfg.lipsync.tools) == {"latentsync", "musetalk", "infinitetalk"}
    for name, tool in cfg.lipsync.tools.items():
        assert tool.argv[0] == "{python}", name
        for arg in tool.argv:
            for placeholder in __import__("re").findall(r"\{\w+\}", arg):
                assert PLACEHOLDER.fullmatch(placeholder), (name, placeholder)
    assert Fraction(cfg.lipsync.tools.latentsync.fps) == 25


def test_a_global_vocal_track_redubs_the_shots_where_it_speaks(cli: Cli):
    use_fake_tool(cli)
    rate = 22050
    vocals = np.zeros(2 * rate, np.float32)
    t = np.arange(round(0.4 * rate)) / rate
    vocals[round(1.2 * rate) : round(1.2 * rate) + t.size] = 0.6 * np.sin(2 * np.pi * 220 * t)
    write_audio(cli.tmp / "vocals.wav", vocals[None, :], rate)
    job = tiny_job(vocals=str(cli.tmp / "vocals.wav"))
    result = ok(cli(*FAST, "lipsync=fake", job=job))
    run = cli.run_json(result)
    metrics = {n["id"]: n.get("metrics", {}) for n in run["nodes"]}
    assert metrics["lipsync/0"]["skipped"] == "no speech in this shot"
    assert metrics["lipsync/1"]["dubbed_frames"] == 16
    assert metrics["dub"]["dubbed_shots"] == [16]
