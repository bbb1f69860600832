"""SIGINT and SIGTERM on a real CLI render: one line, exit 130 / 143, run.json and the report
written, the log told why, no temporary entry left, and the same command resumes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, Cli, ok, patch_node_run, tiny_job, write_job

FAST = ("preset=draft",)
SIGNALS = [signal.SIGINT, signal.SIGTERM]


def long_job() -> dict[str, Any]:
    """40 one-second shots: 83 draft nodes, long enough to stop half-way."""
    shots = [
        {"prompt": f"shot {i}", "motion": "the camera drifts", "seconds": 1.0} for i in range(40)
    ]
    return tiny_job(shots=shots)


def finished(store: Path) -> set[str]:
    """Ids of the nodes whose entries are published (not a `.tmp-*` being built)."""
    return {
        json.loads(path.read_text())["node"]
        for path in store.glob("*/*/manifest.json")
        if not path.parent.name.startswith(".")
    }


def interrupt(
    cli: Cli,
    signum: int,
    when: Callable[[], bool],
    job: dict[str, Any],
    args: tuple[str, ...] = (),
    limit: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Start a render, send `signum` as soon as `when()` holds, and wait for it to exit."""
    write_job(cli.jobs, job)
    run_dir = cli.tmp / "stopped"
    argv = [sys.executable, "-m", "orchestrator", "--config-dir", str(cli.jobs), "job=tiny",
            *FAST, *args, f"cache_dir={cli.cache}", f"hydra.run.dir={run_dir}"]  # fmt: skip
    out, err = cli.tmp / "stdout.txt", cli.tmp / "stderr.txt"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        process = subprocess.Popen(argv, cwd=ROOT, stdout=stdout, stderr=stderr)
        deadline = time.monotonic() + limit
        while not when():
            assert process.poll() is None, f"the render ended first:\n{err.read_text()}"
            assert time.monotonic() < deadline, "the render never got there"
            time.sleep(0.02)
        process.send_signal(signum)
        process.wait(timeout=60)
    result = subprocess.CompletedProcess(argv, process.returncode, out.read_text(), err.read_text())
    result.run_dir = run_dir  # type: ignore[attr-defined]
    return result


def assert_stopped(cli: Cli, result: subprocess.CompletedProcess[str], signum: int) -> set[str]:
    """The contract of a stop; returns the ids of the nodes it kept."""
    kept = finished(cli.cache)
    assert result.returncode == 128 + signum, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1] == (
        f"stopped; {len(kept)} finished nodes kept; run the same command again to resume"
    )
    assert not any(line.startswith("error") for line in lines)
    run = cli.run_json(result)
    assert run["complete"] is False and run["output"] is None
    assert {node["id"] for node in run["nodes"]} <= kept
    name = signal.Signals(signum).name
    assert f"stopped by {name}" in (result.run_dir / "report.html").read_text()
    assert f"stopped by {name}" in (result.run_dir / "renga.log").read_text()
    assert not list(cli.cache.glob("*/.tmp-*")), "a temporary entry was left in the store"
    assert not list(result.run_dir.glob(".*.tmp")), "a half-published file was left"
    return kept


@pytest.mark.slow
@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_a_stopped_render_keeps_its_nodes_and_resumes(cli: Cli, signum: int):
    job = long_job()
    result = interrupt(cli, signum, lambda: len(finished(cli.cache)) >= 10, job)
    kept = assert_stopped(cli, result, signum)
    assert 10 <= len(kept) < 83
    assert {node["id"] for node in cli.run_json(result)["nodes"]} == kept

    resumed = cli.run_json(ok(cli(*FAST, job=job)))
    assert resumed["complete"] is True and len(resumed["nodes"]) == 83
    ran = {node["id"] for node in resumed["nodes"] if node["status"] == "ran"}
    assert ran & kept == set(), "a finished node ran again"


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_a_node_stopped_mid_write_leaves_no_temporary_entry(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, signum: int
):
    marker = cli.tmp / "writing"
    body = (
        "(ctx.out_dir / 'clip.part').write_bytes(b'half a clip')\n"
        f"open({str(marker)!r}, 'w').close()\n"
        "import time\n"
        "time.sleep(60)"
    )
    patch_node_run(monkeypatch, cli.tmp / "hook", "segment/1.0", body)
    result = interrupt(cli, signum, marker.exists, tiny_job())
    kept = assert_stopped(cli, result, signum)
    assert {node["id"] for node in cli.run_json(result)["nodes"]} == kept
    assert {"keyframe/0", "keyframe/1", "segment/0.0"} <= kept
    assert "segment/1.0" not in kept
    assert not list(cli.cache.rglob("clip.part"))


@pytest.mark.slow
def test_a_render_stopped_while_a_model_loads_stops_cleanly(
    cli: Cli, tiny_models, monkeypatch: pytest.MonkeyPatch
):
    """The signal lands inside diffusers' `from_pretrained`: the library lets it through."""
    marker = cli.tmp / "loading"
    hook = cli.tmp / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import time\n"
        "import safetensors.torch\n"
        "_load_file = safetensors.torch.load_file\n"
        "def load_file(*args, **kwargs):\n"
        f"    open({str(marker)!r}, 'w').close()\n"
        "    time.sleep(60)\n"
        "    return _load_file(*args, **kwargs)\n"
        "safetensors.torch.load_file = load_file\n"
    )
    monkeypatch.setenv("PYTHONPATH", f"{hook}:{ROOT}")
    zit = ("keyframes=zit", f"keyframes.model={tiny_models['zit']}", "keyframes.steps=2",
           "keyframes.resolution=48", "keyframes.max_sequence_length=32", "audio=none")  # fmt: skip
    result = interrupt(cli, signal.SIGTERM, marker.exists, tiny_job(), args=zit)
    kept = assert_stopped(cli, result, signal.SIGTERM)
    assert not any(node.startswith("keyframe") for node in kept)


@pytest.mark.slow
def test_a_ray_render_stopped_mid_node_leaves_no_temporary_entry(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
):
    """The node in flight runs in a Ray worker, which the driver kills on its way out."""
    pytest.importorskip("ray")
    from test_ray import RAY

    marker = cli.tmp / "writing"
    body = (
        "(ctx.out_dir / 'clip.part').write_bytes(b'half a clip')\n"
        f"open({str(marker)!r}, 'w').close()\n"
        "import time\n"
        "time.sleep(60)"
    )
    patch_node_run(monkeypatch, cli.tmp / "hook", "segment/1.0", body)
    result = interrupt(cli, signal.SIGTERM, marker.exists, tiny_job(), args=RAY)
    kept = assert_stopped(cli, result, signal.SIGTERM)
    assert "segment/1.0" not in kept
