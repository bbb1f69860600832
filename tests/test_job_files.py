"""A job file is configuration of what to make: it may not set `hydra.*`, `executor` or
`cache_dir`, nor name code; and its text is literal (`${...}` in a prompt is not resolved),
through the real CLI with the draft backends."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import Cli, ok, tiny_job
from omegaconf import OmegaConf

from orchestrator.cli.jobfile import literal
from orchestrator.media.audio import probe_audio
from orchestrator.media.images import load_image
from orchestrator.media.metadata import read_embedded
from orchestrator.stage import KeyframeRequest
from stages.keyframes.draft import DraftKeyframes


def _touch(sentinel: Path) -> dict[str, Any]:
    return {"_target_": "pathlib.Path.touch", "_args_": [str(sentinel)]}


def _write(cli: Cli, text: str, name: str = "shared") -> None:
    (cli.jobs / "job").mkdir(parents=True, exist_ok=True)
    (cli.jobs / "job" / f"{name}.yaml").write_text(text)


def _global(extra: dict[str, Any]) -> str:
    return "# @package _global_\n" + json.dumps({"job": tiny_job(), **extra})


def _cases(sentinel: Path) -> dict[str, tuple[str, str]]:
    """Job file text and the key its error must name."""
    callbacks = {"hydra": {"callbacks": {"x": _touch(sentinel)}}}
    return {
        "hydra callbacks": (_global(callbacks), "hydra"),
        "executor": (_global({"executor": _touch(sentinel)}), "executor"),
        "cache_dir": (_global({"cache_dir": str(sentinel)}), "cache_dir"),
        "package hydra": (
            "# @package hydra.callbacks\n" + json.dumps({"x": _touch(sentinel)}),
            "hydra.callbacks",
        ),
        "target in job": (
            json.dumps({**tiny_job(), "music": _touch(sentinel)}),
            "job.music._target_",
        ),
        "target in a stage": (_global({"video": _touch(sentinel)}), "video._target_"),
        "defaults hydra": (
            json.dumps({"defaults": [{"override /hydra/launcher": "local"}], **tiny_job()}),
            "hydra/launcher",
        ),
        "defaults pull a file": (
            json.dumps({"defaults": ["extra"], **tiny_job()}),
            "hydra",
        ),
    }


CASES = list(_cases(Path("x")))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("sweep", [False, True], ids=["run", "sweep"])
def test_a_job_file_may_not_set_command_line_keys_or_name_code(
    cli: Cli, tmp_path: Path, case: str, sweep: bool
):
    sentinel = tmp_path / "SENTINEL"
    text, key = _cases(sentinel)[case]
    _write(cli, text)
    _write(cli, "# @package _global_\n" + json.dumps({"hydra": {"callbacks": {}}}), "extra")
    _write(cli, json.dumps(tiny_job()), "plain")
    sweep_dir = f"hydra.sweep.dir={tmp_path / 'sweep'}"
    job = ["job=plain,shared", sweep_dir] if sweep else ["job=shared"]
    # Flags after the overrides: Cli puts its own overrides first.
    flags = ["--config-dir", str(cli.jobs), *(["-m"] if sweep else [])]
    result = cli(*job, "preset=draft", *flags)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert re.match(rf"error: [^:]*{re.escape(key)}[^:]*: a job file may not", lines[0]), lines[0]
    assert str(cli.jobs / "job") in lines[0]
    assert not sentinel.exists(), "a callable named in a job file ran"
    assert not result.run_dir.exists()  # type: ignore[attr-defined]
    assert not (tmp_path / "sweep").exists()


def test_the_command_line_still_sets_executor_and_cache_dir(cli: Cli):
    """cli() passes cache_dir=...; executor=local is the user's own choice too."""
    result = ok(cli("preset=draft", "executor=local", "audio=none", job=tiny_job()))
    assert (result.run_dir / "final.mp4").is_file()  # type: ignore[attr-defined]


def test_dollar_braces_in_prompts_are_literal_in_the_card_and_the_metadata(cli: Cli):
    secret = "s3cret-token-value"
    job = tiny_job(
        name="price ${PRICE}",
        width=128,
        height=96,
        soundtrack="${asset:music/loop_120bpm.flac}",
    )
    job["shots"][0]["prompt"] = "costs ${PRICE} \\${X}"
    job["shots"][1]["prompt"] = "token ${oc.env:RENGA_TEST_SECRET}"
    job["shots"][1]["motion"] = "moves ${oc.env:RENGA_TEST_SECRET}"
    result = ok(cli("preset=draft", job=job, env={"RENGA_TEST_SECRET": secret}))
    run_dir: Path = result.run_dir  # type: ignore[attr-defined]

    card = read_embedded(run_dir / "keyframes" / "shot_001.png")
    assert card["request"]["prompt"] == "token ${oc.env:RENGA_TEST_SECRET}"
    assert read_embedded(run_dir / "keyframes" / "shot_000.png")["request"]["prompt"] == (
        "costs ${PRICE} \\${X}"
    )
    # The card shows exactly the literal prompt: the draft backend drawing it gives its pixels.
    request = KeyframeRequest(**card["request"])
    drawn = DraftKeyframes().render(request, None, None)  # type: ignore[arg-type]
    assert load_image(run_dir / "keyframes" / "shot_001.png").tobytes() == drawn.tobytes()

    embedded = read_embedded(run_dir / "final.mp4")
    assert embedded["job"]["name"] == "price ${PRICE}"
    assert embedded["job"]["shots"][1]["motion"] == "moves ${oc.env:RENGA_TEST_SECRET}"
    # renga's own `${asset:...}` in a path still resolves (and is written back portable).
    assert embedded["job"]["soundtrack"] == "${asset:music/loop_120bpm.flac}"
    assert probe_audio(run_dir / "final.mp4").channels == 2
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_a_number_written_as_an_interpolation_is_one_line(cli: Cli):
    result = cli("preset=draft", job=tiny_job(width="${oc.env:HOME}"))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: job.width: "), result.stderr


def test_literal_resolves_back_to_exactly_the_text():
    rng = random.Random(0)
    texts = ["${x}", "\\${x}", "\\\\${x}", "a\\b", "${oc.env:HOME}", "$${x}", "${", "x\\"]
    for _ in range(3000):
        texts.append("".join(rng.choice("${}\\a: ") for _ in range(rng.randint(0, 12))))
    for text in texts:
        assert OmegaConf.create({"v": literal(text)}).v == text, text
