"""Same config, same bytes, on the real pipelines (tiny random models) through the real CLI.

A render SIGKILLed at several points resumes, runs no finished node again and publishes the
bytes of an uninterrupted run; the same job in five processes (fresh stores, two resumed after
SIGKILL at different nodes, one on the Ray executor) gives one final.mp4, the same keyframes
and the same run.json (times aside).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, Cli, offline_environment, ok
from test_real_models import TINY, job, models_args

from orchestrator.engine.store import sha256_file
from orchestrator.media.video import probe_video

RAY = (
    "executor=ray",
    "executor.workers=2",
    "executor.gpus_per_worker=0",
    "executor.num_cpus=2",
    "+executor.resources_per_worker.fake_gpu=1",
    "+executor.local_resources.fake_gpu=2",
)


@dataclass(frozen=True)
class Render:
    run_dir: Path
    store: Path
    run: dict[str, Any]
    # The nodes that had finished when the first process was killed (resumed renders).
    finished: frozenset[str] = frozenset()

    @property
    def final(self) -> str:
        return sha256_file(self.run_dir / "final.mp4")

    def keyframes(self) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted((self.run_dir / "keyframes").iterdir())}

    def content(self) -> dict[str, Any]:
        """run.json without what legitimately differs: times, ran/cached, the store's path."""
        run = {key: value for key, value in self.run.items() if key != "store"}
        skip = ("seconds", "status")
        run["nodes"] = [{k: v for k, v in n.items() if k not in skip} for n in run["nodes"]]
        return run


class Renders:
    """Each named render once per module, each in a fresh store: the crash-resume tests and the
    five-process test share them. "killed-N": SIGKILL once N nodes finished, then resume."""

    def __init__(self, tmp: Path, models: dict[str, Path]) -> None:
        self.cli = Cli(tmp)
        self.env = offline_environment(tmp)
        self.args = (*models_args(models), *TINY)
        self.done: dict[str, Render] = {}

    def __getitem__(self, name: str) -> Render:
        if name not in self.done:
            self.done[name] = self.render(name)
        return self.done[name]

    def render(self, name: str) -> Render:
        cli = self.cli
        cli.cache = cli.tmp / f"store-{name}"
        finished: set[str] = set()
        if name.startswith("killed-"):
            after = int(name.removeprefix("killed-"))
            finished = cli.kill_after(after, *self.args, job=job(), env=self.env)
            assert len(finished) >= after and "mux" not in finished
        extra, env = (), self.env
        if name == "ray":
            # Ray's own processes talk over loopback sockets and inherit PYTHONPATH, so the
            # socket guard stays out of this render (tests/test_offline.py covers the network).
            extra, env = RAY, {**self.env, "PYTHONPATH": str(ROOT)}
        result = ok(cli(*self.args, *extra, job=job(), env=env))
        run = json.loads((result.run_dir / "run.json").read_text())  # type: ignore[attr-defined]
        return Render(result.run_dir, cli.cache, run, frozenset(finished))  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def renders(tmp_path_factory: pytest.TempPathFactory, tiny_models) -> Renders:
    return Renders(tmp_path_factory.mktemp("renders"), tiny_models)


@pytest.mark.slow
@pytest.mark.parametrize("after_nodes", [1, 3])
def test_killed_model_render_resumes_to_identical_bytes(renders: Renders, after_nodes: int):
    reference = renders["reference"]
    resumed = renders[f"killed-{after_nodes}"]
    ran = {n["id"] for n in resumed.run["nodes"] if n["status"] == "ran"}
    assert ran & resumed.finished == set()
    assert probe_video(resumed.run_dir / "final.mp4").frames == 20
    assert resumed.final == reference.final
    assert resumed.keyframes() == reference.keyframes()
    assert not list(resumed.store.glob("*/.tmp-*"))


@pytest.mark.slow
def test_same_job_same_bytes_in_five_processes(renders: Renders):
    pytest.importorskip("ray")
    names = ("reference", "again", "killed-1", "killed-3", "ray")
    done = {name: renders[name] for name in names}
    assert done["killed-1"].finished != done["killed-3"].finished
    assert len({render.final for render in done.values()}) == 1
    reference = done["reference"]
    assert len(reference.keyframes()) == 2
    for name, render in done.items():
        assert render.keyframes() == reference.keyframes(), name
        assert render.content() == reference.content(), name
