"""A pipeline load must not break later `with torch.device("meta")` blocks (MMAudio's weight
conversion runs in one after the video stage loaded Wan): a fresh process shows it."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT

CHECK = """
import sys, torch
from stages.diffusion.loading import load_pipeline
from stages.diffusion.spec import PipelineSpec
load_pipeline(PipelineSpec(pipeline="WanImageToVideoPipeline", source=sys.argv[1], key="video"))
with torch.device("meta"):
    print(torch.linspace(0, 1, 3).device)
"""


@pytest.mark.slow
def test_meta_device_blocks_still_work_after_a_pipeline_load(tiny_models):
    result = subprocess.run(
        [sys.executable, "-c", CHECK, str(tiny_models["a14b"])],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "meta"
