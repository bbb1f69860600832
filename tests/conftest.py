"""Shared fixtures: an isolated store per test, tiny job files, and the real CLI as a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from orchestrator.config import CONF_DIR

ROOT = Path(__file__).resolve().parent.parent

# One OpenMP thread per process (torch, OpenBLAS), inherited by every CLI subprocess: the tiny
# models gain nothing from a second thread, and where two processes share the 2 cores (pytest
# and its CLI child, two xdist workers, another session) each one's threads wait on the other's.
# Measured on 2 cores (test_cast, test_lipsync, test_continuation): 47 s -> 45 s wall and
# 56 s -> 44 s CPU alone; 58 s -> 46 s beside a busy process. Set before anything imports torch.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """No test reads or writes the user's real cache."""
    monkeypatch.setenv("RENGA_CACHE_DIR", str(tmp_path_factory.mktemp("default-cache")))


def tiny_job(**overrides: Any) -> dict[str, Any]:
    """A 64x48 job of two one-second shots: fast enough for end-to-end runs on a CPU."""
    job: dict[str, Any] = {
        "name": "tiny",
        "width": 64,
        "height": 48,
        "fps": None,
        "style": "",
        "negative_prompt": "",
        "transition": "cut",
        "loop": "none",
        "soundtrack": None,
        "shots": [
            {"prompt": "a red kite over a field", "motion": "the kite climbs", "seconds": 1.0},
            {"prompt": "a lighthouse at night", "motion": "the beam sweeps", "seconds": 1.0},
        ],
    }
    job.update(overrides)
    return job


def write_job(directory: Path, job: dict[str, Any], name: str = "tiny") -> Path:
    """Write a user job file as `<directory>/job/<name>.yaml` (use with --config-dir)."""
    (directory / "job").mkdir(parents=True, exist_ok=True)
    path = directory / "job" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(job, sort_keys=False))
    return path


class Cli:
    """Runs `python -m orchestrator` for real, with its own store and run directory."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.jobs = tmp_path / "jobs"
        self.cache = tmp_path / "cache"
        self.runs = 0

    def __call__(
        self,
        *args: str,
        job: dict[str, Any] | None = None,
        run_dir: Path | None = None,
        timeout: float = 300,
        command: str | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        if run_dir is None:
            self.runs += 1
            run_dir = self.tmp / f"run{self.runs}"
        argv = [sys.executable, "-m", "orchestrator"]
        if command is not None:
            argv.append(command)
        if job is not None:
            write_job(self.jobs, job)
            argv += ["--config-dir", str(self.jobs), "job=tiny"]
        argv += [f"cache_dir={self.cache}", f"hydra.run.dir={run_dir}", *args]
        result = subprocess.run(
            argv,
            cwd=ROOT,
            env={**os.environ, "COLUMNS": "120", **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        result.run_dir = run_dir  # type: ignore[attr-defined]
        return result

    def kill_after(
        self,
        manifests: int,
        *args: str,
        job: dict[str, Any],
        env: dict[str, str] | None = None,
        limit: float = 120,
    ) -> set[str]:
        """Start a render, SIGKILL it once the store holds `manifests` finished nodes (or at
        once for 0), and return the ids of the nodes that had finished."""
        write_job(self.jobs, job)
        argv = [
            sys.executable, "-m", "orchestrator", "--config-dir", str(self.jobs), "job=tiny",
            f"cache_dir={self.cache}", f"hydra.run.dir={self.tmp / 'killed'}", *args,
        ]  # fmt: skip
        process = subprocess.Popen(
            argv, cwd=ROOT, env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and process.poll() is None:
            if len(self.finished()) >= manifests:
                break
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait()
        return self.finished()

    def finished(self) -> set[str]:
        """Ids of the nodes published in the store: a `.tmp-*` entry still being built holds a
        manifest too (written last, before the rename), and is not finished."""
        manifests = (p for p in self.cache.glob("*/*/manifest.json") if p.parent.name[0] != ".")
        return {json.loads(p.read_text())["node"] for p in manifests}

    @staticmethod
    def run_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
        return json.loads((result.run_dir / "run.json").read_text())  # type: ignore[attr-defined]


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture
def make_config() -> Callable[..., DictConfig]:
    """Compose the real config tree, then put a tiny job in place of the example."""

    def make(*overrides: str, job: dict[str, Any] | None = None, draft: bool = True) -> DictConfig:
        """Draft backends unless `draft=False` or the overrides name a preset."""
        named = any(o.startswith("preset=") for o in overrides)
        preset = ["preset=draft"] if draft and not named else []
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
            cfg = compose("config", overrides=[*preset, *overrides])
        cfg.job = OmegaConf.merge(cfg.job, job or tiny_job())
        return cfg

    return make


def patch_node_run(
    monkeypatch: pytest.MonkeyPatch, hook_dir: Path, node_id: str, body: str
) -> None:
    """Make the CLI subprocesses run `body` (Python with `ctx` in scope) as `node_id`'s work.

    A sitecustomize module wraps `orchestrator.engine.executors.run_node`; it runs before `-m` puts
    the checkout first on sys.path, so it puts the checkout there itself.
    """
    hook_dir.mkdir(parents=True, exist_ok=True)
    indented = "\n".join(f"    {line}" for line in body.strip().splitlines())
    (hook_dir / "sitecustomize.py").write_text(
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "import errno, os\n"
        "import orchestrator.engine.executors as executors\n"
        "_run_node = executors.run_node\n"
        "def _replacement(ctx):\n"
        f"{indented}\n"
        "def run_node(node, *args, **kwargs):\n"
        f"    if node.id == {node_id!r}:\n"
        "        node.run = _replacement\n"
        "    return _run_node(node, *args, **kwargs)\n"
        "executors.run_node = run_node\n"
    )
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(hook_dir), str(ROOT)]))


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny random ZIT, Wan 2.2 A14B and TI2V-5B folders (+ LoRA files), built once per run."""
    import tiny_models as build

    return build.build_all(tmp_path_factory.mktemp("tiny-models"))


NO_NETWORK = """\
import os
import socket
import traceback

_LOG = os.environ["RENGA_TEST_NETWORK_LOG"]


def _refuse(what, target):
    # Libraries swallow the error (huggingface_hub's registry fetch does): the record is what
    # fails the test.
    with open(_LOG, "a") as f:
        f.write(f"{what} {target!r}\\n{''.join(traceback.format_stack(limit=12))}\\n")
    raise OSError(f"test guard: network access ({what} {target!r})")


def _connect(self, address, *args):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _refuse("connect", address)
    return _real_connect(self, address, *args)


_real_connect = socket.socket.connect
socket.socket.connect = _connect
socket.socket.connect_ex = _connect
socket.getaddrinfo = lambda host, *args, **kwargs: _refuse("getaddrinfo", host)
socket.create_connection = lambda address, *args, **kwargs: _refuse("create_connection", address)
"""


def guarded_env(directory: Path) -> tuple[dict[str, str], Path]:
    """An empty HF cache under `directory` and a socket/DNS guard loaded into the CLI process;
    returns the environment and the file the guard records every attempt in."""
    guard = directory / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(NO_NETWORK)
    hub = directory / "hf-cache"
    hub.mkdir()
    record = directory / "network.log"
    env = {
        "PYTHONPATH": os.pathsep.join([str(guard), str(ROOT)]),
        "HF_HUB_CACHE": str(hub),
        "HF_HOME": str(directory / "hf-home"),
        "RENGA_TEST_NETWORK_LOG": str(record),
    }
    return env, record


def assert_no_network(record: Path) -> None:
    attempts = record.read_text() if record.exists() else ""
    assert not attempts, f"the run tried the network:\n{attempts}"


@pytest.fixture
def offline_env(tmp_path: Path):
    """An empty HF cache, HF_HUB_OFFLINE, and the guard; fails the test on any attempt."""
    env, record = guarded_env(tmp_path)
    yield {**env, "HF_HUB_OFFLINE": "1"}
    assert_no_network(record)


def offline_environment(directory: Path) -> dict[str, str]:
    """`offline_env` in `directory`, for fixtures that live longer than one test (the guard
    still refuses every connection there; it only records nothing for a test to assert on)."""
    env, _ = guarded_env(directory)
    return {**env, "HF_HUB_OFFLINE": "1"}
