"""Faults inside nodes: clear messages, finished nodes kept, the store left consistent."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, Cli, ok, patch_node_run, tiny_job

from orchestrator.media.video import read_frames

FAST = ("preset=draft", "video.frames=17")


def _with_fault(cli: Cli, monkeypatch: pytest.MonkeyPatch, node_id: str, exception: str):
    """Run the CLI with `exception` raised inside `node_id`'s work, after it wrote a file."""
    body = f"(ctx.out_dir / 'partial.bin').write_bytes(b'half')\nraise {exception}"
    patch_node_run(monkeypatch, cli.tmp / "hook", node_id, body)
    return cli(*FAST, job=tiny_job())


@pytest.mark.parametrize(
    ("exception", "expected"),
    [
        ("MemoryError()", "out of memory; try preset=low_vram"),
        ("type('OutOfMemoryError', (RuntimeError,), {})('CUDA out of memory')",
         "out of memory; try preset=low_vram"),
        ("OSError(errno.ENOSPC, 'No space left on device', '/store/x/clip.mkv')",
         "disk full while writing /store/x/clip.mkv"),
        ("PermissionError(errno.EACCES, 'Permission denied', '/store/x')",
         "permission denied writing /store/x"),
    ],
)  # fmt: skip
def test_fault_in_a_node_is_named_and_the_store_stays_consistent(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, exception: str, expected: str
):
    result = _with_fault(cli, monkeypatch, "segment/1.0", exception)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1
    assert lines[0].startswith(f"error: node segment/1.0 failed: {expected}")
    assert lines[0].endswith("Finished nodes are kept; run the same command again to resume.")
    assert "Traceback" not in result.stderr
    assert not list(cli.cache.glob("*/.tmp-*")), "the failed node's temporary entry is gone"
    assert not list(cli.cache.glob("segment/*/partial.bin"))
    finished = {json.loads(p.read_text())["node"] for p in cli.cache.glob("*/*/manifest.json")}
    assert {"keyframe/0", "keyframe/1", "segment/0.0"} <= finished
    assert "segment/1.0" not in finished
    monkeypatch.delenv("PYTHONPATH")
    resumed = cli.run_json(ok(cli(*FAST, job=tiny_job())))
    ran = {n["id"] for n in resumed["nodes"] if n["status"] == "ran"}
    assert ran & finished == set()
    assert "segment/1.0" in ran


def test_two_processes_share_one_store(cli: Cli):
    from conftest import write_job

    write_job(cli.jobs, tiny_job())
    argv = [sys.executable, "-m", "orchestrator", "--config-dir", str(cli.jobs), "job=tiny",
            *FAST, f"cache_dir={cli.cache}"]  # fmt: skip
    runs = [
        subprocess.Popen([*argv, f"hydra.run.dir={cli.tmp / f'par{i}'}"], cwd=ROOT,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for i in range(2)
    ]  # fmt: skip
    for process in runs:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    outputs = [list(read_frames(cli.tmp / f"par{i}" / "final.mp4")) for i in range(2)]
    assert len(outputs[0]) == len(outputs[1]) == 32
    for a, b in zip(*outputs, strict=True):
        np.testing.assert_array_equal(a, b)
    reports = [json.loads((cli.tmp / f"par{i}" / "run.json").read_text()) for i in range(2)]
    ran = [{n["id"] for n in r["nodes"] if n["status"] == "ran"} for r in reports]
    assert not ran[0] & ran[1], "no node was built twice"
    assert ran[0] | ran[1] == {n["id"] for n in reports[0]["nodes"]}
    from orchestrator.engine.store import Store

    store = Store(cli.cache, verify=True)
    for manifest in cli.cache.glob("*/*/manifest.json"):
        assert store.lookup(manifest.parent.parent.name, manifest.parent.name) is not None
    assert not list(cli.cache.glob("*/.tmp-*"))


def test_a_failed_nodes_full_traceback_is_in_the_run_log(cli: Cli, monkeypatch: pytest.MonkeyPatch):
    body = (
        "def inner_step_of_the_node(depth):\n"
        "    if depth == 0:\n"
        "        raise ValueError('latent shape (1, 16, 3) does not match (1, 16, 4)')\n"
        "    inner_step_of_the_node(depth - 1)\n"
        "inner_step_of_the_node(2)"
    )
    patch_node_run(monkeypatch, cli.tmp / "hook", "segment/1.0", body)
    result = cli(*FAST, job=tiny_job())
    assert result.returncode == 1
    log = result.run_dir / "renga.log"
    line = result.stderr.strip().splitlines()[-1]
    assert line == (
        "error: node segment/1.0 failed: ValueError: latent shape (1, 16, 3) does not match "
        f"(1, 16, 4). Full traceback in {log}. Finished nodes are kept; run the same command "
        "again to resume."
    )
    assert "Traceback" not in result.stderr
    text = log.read_text()
    assert "segment/0.0: ran in" in text and "segment/1.0: running" in text
    trace = text[text.index("Traceback (most recent call last)") :]
    assert trace.count("in inner_step_of_the_node\n    inner_step_of_the_node(depth - 1)") == 2
    assert "ValueError: latent shape (1, 16, 3) does not match (1, 16, 4)" in trace
    assert "The above exception was the direct cause of the following exception" in trace
    assert "orchestrator.engine.errors.NodeError: node segment/1.0 failed" in trace


def test_an_unexpected_error_is_one_line_and_a_traceback_in_the_log(cli: Cli, monkeypatch):
    """A bug outside any node (here: in publishing) still leaves its traceback behind."""
    hook = cli.tmp / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "import orchestrator.render.run as run\n"
        "def publish(*args, error=None):\n"
        "    raise KeyError('no such output')\n"
        "run.publish = publish\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(hook))
    result = cli(*FAST, job=tiny_job())
    assert result.returncode == 1
    log = result.run_dir / "renga.log"
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: unexpected KeyError: 'no such output' (a bug in renga; full traceback in {log})"
    )
    assert "Traceback" not in result.stderr
    text = log.read_text()
    assert "Traceback (most recent call last)" in text
    assert "raise KeyError('no such output')" in text
