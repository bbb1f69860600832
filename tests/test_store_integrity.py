"""Store integrity through the real CLI on draft backends: 64 flipped bytes in any stage's entry
are found where they would spread, the entry is set aside and rebuilt, and the published video
is byte for byte the one a clean store renders; `renga store verify` and `renga store gc`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from conftest import ROOT, Cli, ok, tiny_job

from orchestrator.cli.store import _size
from orchestrator.engine.store import Store

FAST = ("preset=draft", "video.frames=17")
# Downstream changes: the mux runs again (reads assemble + audio), the assemble runs again
# (reads every segment and keyframe); neither changes the key of what they read.
NEW_MUX = ("mux.crf=20",)
NEW_ASSEMBLE = ("assemble.crossfade=linear",)
WARNING = "warning: corrupt store entry"


def flip(path: Path, count: int = 64) -> None:
    """Invert `count` bytes in the middle of a file, in place: same size, new content."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + count] = bytes(b ^ 0xFF for b in data[middle : middle + count])
    with open(path, "r+b") as f:
        f.write(data)


def entry_file(cache: Path, stage: str, name: str) -> Path:
    return sorted(cache.glob(f"{stage}/[!.]*/{name}"))[0]


def store_cli(cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`renga store ARGS cache_dir=CACHE`, the real CLI."""
    argv = [sys.executable, "-m", "orchestrator", "store", *args, f"cache_dir={cache}"]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def renders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A rendered store, and the bytes clean stores publish for each config the tests use."""
    cli = Cli(tmp_path_factory.mktemp("integrity"))
    base = ok(cli(*FAST, job=tiny_job()))
    result: dict[str, object] = {
        "cache": cli.cache,
        "base": (base.run_dir / "final.mp4").read_bytes(),
        "keyframes": [p.read_bytes() for p in sorted((base.run_dir / "keyframes").iterdir())],
    }
    for name, overrides in (("mux", NEW_MUX), ("assemble", NEW_ASSEMBLE)):
        cli.cache = cli.tmp / f"clean-{name}"
        clean = ok(cli(*FAST, *overrides, job=tiny_job()))
        result[name] = (clean.run_dir / "final.mp4").read_bytes()
    return result


@pytest.fixture
def copied(renders: dict[str, object], tmp_path: Path) -> Cli:
    """A Cli on a private copy of the rendered store."""
    cli = Cli(tmp_path)
    shutil.copytree(renders["cache"], cli.cache)  # type: ignore[arg-type]
    return cli


@pytest.mark.parametrize(
    ("stage", "name", "overrides", "reference"),
    [
        ("keyframe", "keyframe.png", (), "base"),  # published: hashed on every run
        ("mux", "final.mp4", (), "base"),  # published
        ("audio", "audio.wav", NEW_MUX, "mux"),  # feeds the mux, which runs
        ("assemble", "video.mkv", NEW_MUX, "mux"),
        ("segment", "clip.mkv", NEW_ASSEMBLE, "assemble"),  # feeds the assemble, which runs
    ],
)
def test_flipped_bytes_are_found_set_aside_and_rebuilt(
    copied: Cli, renders: dict, stage: str, name: str, overrides: tuple, reference: str
):
    file = entry_file(copied.cache, stage, name)
    key = file.parent.name
    clean = file.read_bytes()
    flip(file)
    result = ok(copied(*FAST, *overrides, job=tiny_job()))
    warnings = [line for line in result.stderr.splitlines() if line.startswith(WARNING)]
    assert len(warnings) == 1, result.stderr
    assert warnings[0].startswith(
        f"{WARNING} {stage} {key} {name}: sha256 does not match the manifest; "
        f"moved to {copied.cache / stage}/.corrupt-{key}-"
    )
    assert warnings[0].endswith("; rebuilding it")
    aside = list((copied.cache / stage).glob(f".corrupt-{key}-*"))
    assert len(aside) == 1 and (aside[0] / name).read_bytes() != clean
    assert Store(copied.cache).check(stage, key) is None, "rebuilt, and sound"
    nodes = copied.run_json(result)["nodes"]
    assert any(n["stage"] == stage and n["key"] == key and n["status"] == "ran" for n in nodes)
    assert (result.run_dir / "final.mp4").read_bytes() == renders[reference]
    keyframes = sorted((result.run_dir / "keyframes").iterdir())
    assert [p.read_bytes() for p in keyframes] == renders["keyframes"]


@pytest.mark.slow
def test_ray_executor_rebuilds_a_corrupt_segment(copied: Cli, renders: dict):
    pytest.importorskip("ray")
    from test_ray import RAY

    file = entry_file(copied.cache, "segment", "clip.mkv")
    flip(file)
    result = ok(copied(*FAST, *NEW_ASSEMBLE, *RAY, job=tiny_job()))
    assert f"{WARNING} segment {file.parent.name} clip.mkv" in result.stderr
    assert (result.run_dir / "final.mp4").read_bytes() == renders["assemble"]


@pytest.mark.slow
def test_store_verify_names_every_bad_entry_and_moves_them_aside(copied: Cli):
    segment = entry_file(copied.cache, "segment", "clip.mkv")
    video = entry_file(copied.cache, "assemble", "video.mkv")
    audio = entry_file(copied.cache, "audio", "audio.wav")
    flip(segment)
    flip(video)
    # A no-op rerun hashes only what it publishes: the bad entries feed nothing that runs.
    rerun = ok(copied(*FAST, job=tiny_job()))
    assert WARNING not in rerun.stderr
    assert {n["status"] for n in copied.run_json(rerun)["nodes"]} == {"cached"}
    audio.unlink()
    entries = len(list(copied.cache.glob("*/[!.]*/manifest.json")))

    result = store_cli(copied.cache, "verify")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        f"corrupt: assemble {video.parent.name} video.mkv: sha256 does not match the manifest",
        f"incomplete: audio {audio.parent.name} audio.wav: missing",
        f"corrupt: segment {segment.parent.name} clip.mkv: sha256 does not match the manifest",
    ]
    assert lines[3].startswith(
        f"{copied.cache}: {entries} entries: {entries - 3} ok, 2 corrupt, 1 incomplete ("
    )

    moved = store_cli(copied.cache, "verify", "--move-aside")
    assert moved.returncode == 1
    assert f"; moved to {copied.cache}/segment/.corrupt-{segment.parent.name}-" in moved.stdout
    assert not segment.parent.exists() and not audio.parent.exists()
    again = store_cli(copied.cache, "verify")
    assert again.returncode == 0, again.stdout
    assert f": {entries - 3} entries: {entries - 3} ok, 0 corrupt, 0 incomplete" in again.stdout


@pytest.mark.slow
def test_store_gc_removes_entries_no_run_used_since_the_date(copied: Cli):
    old = datetime(2020, 1, 1).timestamp()
    for manifest in copied.cache.glob("*/*/manifest.json"):
        os.utime(manifest, (old, old))
    mux_key = entry_file(copied.cache, "mux", "final.mp4").parent.name
    mux_size = sum(f.stat().st_size for f in (copied.cache / "mux" / mux_key).iterdir())
    aside = copied.cache / "segment" / ".corrupt-0123456789abcdef0123-20200101T000000-abcd"
    aside.mkdir()
    (aside / "clip.mkv").write_bytes(b"x" * 1000)
    # This run references every entry but the first mux (its own mux is new).
    ok(copied(*FAST, *NEW_MUX, job=tiny_job()))
    before = sorted(p for p in copied.cache.rglob("*") if ".locks" not in p.parts)

    dry = store_cli(copied.cache, "gc", "--unused-since", "2021-01-01", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == [
        f"{_size(mux_size):>10}  mux {mux_key}  last used 2020-01-01 00:00",
        f"{'1.0 KB':>10}  segment {aside.name}  last used 2020-01-01 00:00",
        f"would remove 2 entries unused since 2021-01-01 00:00: {_size(mux_size + 1000)}",
    ]
    assert sorted(p for p in copied.cache.rglob("*") if ".locks" not in p.parts) == before

    real = store_cli(copied.cache, "gc", "--unused-since", "2021-01-01")
    assert real.returncode == 0, real.stderr
    assert real.stdout.splitlines()[-1].startswith("removed 2 entries unused since 2021-01-01")
    assert not (copied.cache / "mux" / mux_key).exists() and not aside.exists()
    nothing = store_cli(copied.cache, "gc", "--unused-since", "1d")
    assert nothing.stdout.splitlines() == [nothing.stdout.splitlines()[0]]
    assert nothing.stdout.startswith("removed 0 entries unused since ")
    rerun = copied.run_json(ok(copied(*FAST, job=tiny_job())))
    assert [n["id"] for n in rerun["nodes"] if n["status"] == "ran"] == ["mux"]


def test_store_cli_usage(tmp_path: Path):
    shown = subprocess.run(
        [sys.executable, "-m", "orchestrator", "store", "--help"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert shown.returncode == 0 and shown.stdout.startswith("usage: renga store")
    assert "verify" in shown.stdout and "gc" in shown.stdout
    bad = store_cli(tmp_path, "gc", "--unused-since", "last week")
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "error: --unused-since: 'last week' is not a date (2026-01-31), a time "
        "(2026-01-31T18:00) or an age (12h, 30d, 4w)"
    )
    missing = store_cli(tmp_path / "nowhere", "verify")
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"error: cache_dir: no store at {tmp_path / 'nowhere'}"
