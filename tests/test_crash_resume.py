"""SIGKILL a render of the real pipelines (tiny random models) at several points: the same
command resumes, runs no finished node again, and gives the frames of an uninterrupted run."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import Cli, ok
from test_real_models import TINY, job, models_args

from orchestrator import media


@pytest.mark.slow
@pytest.mark.parametrize("after_nodes", [1, 3])
def test_killed_model_render_resumes_to_identical_frames(
    cli: Cli, tiny_models, offline_env, after_nodes: int
):
    args = (*models_args(tiny_models), *TINY)
    reference_cache = f"cache_dir={cli.tmp / 'reference'}"
    reference = ok(cli(*args, reference_cache, job=job(), env=offline_env))
    expected = list(media.read_frames(reference.run_dir / "final.mp4"))

    finished = cli.kill_after(after_nodes, *args, job=job(), env=offline_env)
    assert len(finished) >= after_nodes

    resumed = ok(cli(*args, job=job(), env=offline_env))
    run = cli.run_json(resumed)
    assert {n["id"] for n in run["nodes"] if n["status"] == "ran"} & finished == set()
    frames = list(media.read_frames(resumed.run_dir / "final.mp4"))
    assert len(frames) == len(expected) == 20
    for got, want in zip(frames, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    assert not list(cli.cache.glob("*/.tmp-*"))
