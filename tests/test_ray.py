"""Ray executor on a local CPU cluster (a custom resource stands in for GPUs): same output as the
local executor, independent nodes spread over workers, failures named."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import Cli, ok, tiny_job

from orchestrator.engine.store import sha256_file
from orchestrator.media.video import read_frames

pytest.importorskip("ray")

FAST = ("preset=draft", "video.frames=17")
RAY = (
    "executor=ray",
    "executor.workers=2",
    "executor.gpus_per_worker=0",
    "executor.num_cpus=2",
    "+executor.resources_per_worker.fake_gpu=1",
    "+executor.local_resources.fake_gpu=2",
)


def four_shots() -> dict:
    job = tiny_job()
    job["shots"] = [{"prompt": f"shot {i}", "motion": "drift", "seconds": 1.0} for i in range(4)]
    return job


@pytest.mark.slow
def test_ray_gives_the_local_executors_output(cli: Cli):
    local = ok(cli(*FAST, job=four_shots()))
    cli.cache = cli.tmp / "ray-cache"
    spread = ok(cli(*FAST, *RAY, job=four_shots()))
    a = list(read_frames(local.run_dir / "final.mp4"))
    b = list(read_frames(spread.run_dir / "final.mp4"))
    assert len(a) == len(b) == 64
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert sha256_file(local.run_dir / "final.mp4") == sha256_file(spread.run_dir / "final.mp4")
    run = cli.run_json(spread)
    assert {n["status"] for n in run["nodes"]} == {"ran"}
    assert [n["id"] for n in run["nodes"]][-1] == "mux"
    again = cli.run_json(ok(cli(*FAST, *RAY, job=four_shots())))
    assert {n["status"] for n in again["nodes"]} == {"cached"}
