"""A PNG or video someone sent you is data: crafted files that name importable callables, or
ask for interpolation, are refused with one line (exit 2) by `inspect` and `reproduce`, and
nothing in them ever runs. Legit outputs reproduce as before (tests/test_reproduce.py)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ROOT, Cli, ok, tiny_job
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from PIL import Image

from orchestrator.cli import received
from orchestrator.config import CONF_DIR
from orchestrator.engine.errors import UserError
from orchestrator.media.encode import h264, write_video
from orchestrator.media.images import save_png
from orchestrator.render.stages import job_metadata
from stages.mux import METADATA_KEY

Mutation = Callable[[dict[str, Any], str], None]


def _touch(sentinel: str) -> dict[str, Any]:
    """What an attacker would embed: `pathlib.Path.touch(sentinel)` when instantiated."""
    return {"_target_": "pathlib.Path.touch", "_args_": [sentinel]}


def _set(path: str, value: Callable[[str], Any]) -> Mutation:
    def mutate(config: dict[str, Any], sentinel: str) -> None:
        *parents, last = path.split(".")
        node = config
        for name in parents:
            node = node.setdefault(name, {})
        node[last] = value(sentinel)

    return mutate


def _lipsync_tool(config: dict[str, Any], sentinel: str) -> None:
    """Plain values that would run a program: the external lip-sync tool's argv."""
    config["lipsync"] = {
        "_target_": "stages.lipsync.ExternalLipsync",
        "tool": "mine",
        "tools": {"mine": {"argv": ["touch", sentinel]}},
    }


CRAFTED: dict[str, tuple[Mutation, str]] = {
    "backend target": (_set("video", _touch), "video._target_"),
    "backend args": (_set("video._args_", lambda s: [s]), "video._args_"),
    "partial": (_set("mux._partial_", lambda s: True), "mux._partial_"),
    "hydra callbacks": (_set("hydra.callbacks.x", _touch), "hydra"),
    "executor": (_set("executor", _touch), "executor"),
    "section target": (_set("assemble", _touch), "assemble._target_"),
    "nested target": (_set("video.drift", _touch), "video.drift._target_"),
    "env interpolation": (_set("mux.codec", lambda s: "${oc.env:HOME}"), "mux.codec"),
    "interpolated path": (_set("job.soundtrack", lambda s: "${oc.env:HOME}/a.flac"), "soundtrack"),
    "unknown key": (_set("video.evil", lambda s: 1), "video.evil"),
    "lipsync program": (_lipsync_tool, "lipsync.tools"),
}


@pytest.fixture(scope="module")
def legit() -> dict[str, Any]:
    """The job config renga embeds in a draft render's final.mp4, built in-process."""
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose("config", overrides=["preset=draft", "audio=none"])
    cfg.job = OmegaConf.merge(cfg.job, tiny_job())
    return job_metadata(cfg)


def write_png(path: Path, data: dict[str, Any]) -> Path:
    save_png(path, Image.new("RGB", (16, 16)), {"renga": json.dumps(data)})
    return path


def write_mp4(path: Path, data: dict[str, Any]) -> Path:
    frames = [np.zeros((16, 16, 3), np.uint8)] * 2
    metadata = {METADATA_KEY: json.dumps({"renga": data})}
    write_video(path, frames, fps=Fraction(8), codec=h264(), metadata=metadata)
    return path


def _refused(result: Any, key: str, path: Path, sentinel: Path) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {path}: "), lines[0]
    assert key in lines[0], lines[0]
    assert "Traceback" not in result.stderr
    assert not sentinel.exists(), "a callable named in a received file ran"


@pytest.mark.parametrize("case", CRAFTED)
def test_a_crafted_video_is_refused_and_nothing_in_it_runs(
    cli: Cli, tmp_path: Path, legit: dict[str, Any], case: str
):
    mutate, key = CRAFTED[case]
    sentinel = tmp_path / "SENTINEL"
    crafted = copy.deepcopy(legit)
    mutate(crafted, str(sentinel))
    video = write_mp4(tmp_path / "received.mp4", crafted)
    result = cli(str(video), command="reproduce")
    _refused(result, key, video, sentinel)
    assert not result.run_dir.exists()  # type: ignore[attr-defined]


@pytest.mark.parametrize("command", ["inspect", "reproduce"])
def test_a_crafted_png_is_refused_by_inspect_and_reproduce(
    cli: Cli, tmp_path: Path, legit: dict[str, Any], command: str
):
    sentinel = tmp_path / "SENTINEL"
    crafted = copy.deepcopy(legit)
    crafted["hydra"] = {"callbacks": {"x": _touch(str(sentinel))}}
    png = write_png(tmp_path / "contact_sheet.png", crafted)
    result = cli(str(png), command="reproduce") if command == "reproduce" else inspect(png)
    _refused(result, "hydra", png, sentinel)


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = [value]
    return value


HOSTILE: dict[str, tuple[Mutation, str]] = {
    "nested deep": (_set("job.style", lambda s: _nested(200)), "nests over 32 levels"),
    "NUL in a prompt": (_set("job.name", lambda s: "a\x00b"), "job.name: character 2 is a NUL"),
    "escape in a path": (_set("job.soundtrack", lambda s: "\x1b[2Ja.flac"), "U+001B (ESC)"),
    "half a surrogate": (_set("job.style", lambda s: "a\ud800"), "half of a surrogate pair"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_a_received_file_nested_deep_or_holding_control_characters_is_one_line(
    cli: Cli, tmp_path: Path, legit: dict[str, Any], case: str
):
    mutate, words = HOSTILE[case]
    crafted = copy.deepcopy(legit)
    mutate(crafted, "")
    png = write_png(tmp_path / "contact_sheet.png", crafted)
    for result in (inspect(png), cli(str(png), command="reproduce")):
        _refused(result, words, png, tmp_path / "SENTINEL")
    assert not cli.cache.exists() or not any(cli.cache.rglob("manifest.json"))


@pytest.mark.slow
def test_a_crafted_keyframe_png_is_refused(cli: Cli, tmp_path: Path):
    sentinel = tmp_path / "SENTINEL"
    request = {"shot": 0, "shots": 1, "prompt": "x", "negative_prompt": "", "width": 64}
    request |= {"height": 48, "seed": 1}
    draft = "stages.keyframes.draft.DraftKeyframes"
    for backend, key in [
        (_touch(str(sentinel)), "backend._target_"),
        ({"_target_": draft, "_partial_": True}, "backend._partial_"),
        ({"_target_": draft, "font": 3}, "backend.font"),
    ]:
        data = {"node": "keyframe/0", "request": request, "backend": backend}
        png = write_png(tmp_path / "shot_000.png", data)
        _refused(cli(str(png), command="reproduce"), key, png, sentinel)
        _refused(inspect(png), key, png, sentinel)


def test_renga_own_config_maps_to_its_options_by_name(legit: dict[str, Any], tmp_path: Path):
    """The embedded `_target_` only picks renga's own option; the file's values override it."""
    config = received.job_config(copy.deepcopy(legit), tmp_path / "f.mp4")
    assert config["video"]["defaults"] == ["draft", "_self_"]
    assert config["keyframes"]["defaults"] == ["draft", "_self_"]
    assert config["audio"] == {"defaults": ["none", "_self_"]}
    assert (
        config["mux"]["defaults"][0] in ("h264", "prores") and config["mux"]["codec"] == "libx264"
    )
    flat = json.dumps(config)
    assert "_target_" not in flat and "allow_download" not in flat
    prores = copy.deepcopy(legit)
    prores["mux"] |= {"codec": "prores_ks", "container": "mov"}
    assert received.job_config(prores, tmp_path / "f.mov")["mux"]["defaults"][0] == "prores"


def test_prompt_text_may_hold_dollar_braces_but_settings_may_not(
    legit: dict[str, Any], tmp_path: Path
):
    data = copy.deepcopy(legit)
    data["job"]["shots"][0]["prompt"] = "costs ${PRICE}, home ${oc.env:HOME}"
    data["job"]["soundtrack"] = "${asset:music/loop_120bpm.flac}"
    config = received.job_config(data, tmp_path / "f.mp4")
    assert config["job"]["shots"][0]["prompt"] == "costs ${PRICE}, home ${oc.env:HOME}"
    data["job"]["transition"] = "${oc.env:HOME}"
    with pytest.raises(UserError, match="job.transition"):
        received.job_config(data, tmp_path / "f.mp4")


def inspect(path: Path) -> subprocess.CompletedProcess[str]:
    """`renga inspect PATH` through the real CLI."""
    argv = [sys.executable, "-m", "orchestrator", "inspect", str(path)]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_a_legit_config_still_inspects(tmp_path: Path, legit: dict[str, Any]):
    video = write_mp4(tmp_path / "final.mp4", legit)
    assert "renga reproduce" in ok(inspect(video)).stdout


def test_every_renga_option_embedded_maps_back_to_itself(tmp_path: Path):
    """What any renga config embeds is accepted and names the option that made it."""
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        for group in received.BACKEND_GROUPS:
            for option in received.options(group):
                data = job_metadata(compose("config", overrides=[f"{group}={option.name}"]))
                config = received.job_config(data, tmp_path / "final.mp4")
                assert config[group]["defaults"] == [option.name, "_self_"], group
