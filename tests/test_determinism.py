"""Determinism by construction: encoders whose bytes depend only on their input frames, and
prompt embeddings that are the pipeline's own."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import torch
from conftest import ROOT
from PIL import Image
from test_real_models import _wan, _zit

from orchestrator.engine.context import NodeContext
from stages.diffusion.pool import ModelPool

# Encodes frames that made x264 (AVX-512, auto threads) give a different file per process
# condition, into both the delivery and the lossless codec, and prints their sha256.
ENCODE = """
import hashlib, os, sys
from fractions import Fraction
from pathlib import Path
import numpy as np
from orchestrator.media import encode as media
if sys.argv[1] == "one-cpu" and hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
rng = np.random.default_rng(0)
base = rng.integers(0, 256, (256, 32, 3), dtype=np.uint8)
frames = [np.roll(base, 2 * i, axis=1) // 2 + rng.integers(0, 40, base.shape, dtype=np.uint8)
          for i in range(24)]
for name, codec in (("final.mp4", media.h264()), ("clip.mkv", media.LOSSLESS)):
    path = Path(sys.argv[2]) / name
    media.write_video(path, frames, fps=Fraction(16), codec=codec)
    print(hashlib.sha256(path.read_bytes()).hexdigest())
"""


def test_encoded_bytes_do_not_depend_on_memory_or_cpus(tmp_path):
    """Measured before the fix on these frames: three conditions, three different files."""
    outputs = []
    for condition, perturb in (("all-cpus", "0"), ("one-cpu", "0"), ("all-cpus", "1")):
        out = tmp_path / f"{condition}-{perturb}"
        out.mkdir()
        result = subprocess.run(
            [sys.executable, "-c", ENCODE, condition, str(out)],
            cwd=ROOT,
            # glibc fills fresh heap memory with this byte: a read of uninitialised memory
            # then changes the output.
            env={**os.environ, "MALLOC_PERTURB_": perturb},
            capture_output=True,
            text=True,
            check=True,
        )
        outputs.append(result.stdout.split())
    assert len(outputs[0]) == 2
    assert outputs[1] == outputs[0] and outputs[2] == outputs[0]


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    return [t for item in value or () for t in _tensors(item)]


def _own_embeddings(pipe: Any, call: dict[str, Any]) -> list[torch.Tensor]:
    """The embeddings the pipeline's own call computes from the prompt text."""
    seen: list[Any] = []
    encode = pipe.encode_prompt

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(encode(*args, **kwargs))
        return seen[-1]

    pipe.encode_prompt = spy
    try:
        pipe(**call, num_inference_steps=1, output_type="latent")
    finally:
        del pipe.encode_prompt
    return _tensors(seen[0])


def _check(cached: Any, own: list[torch.Tensor]) -> None:
    ours = _tensors(cached)
    assert len(ours) == len(own) > 0
    for mine, theirs in zip(ours, own, strict=True):
        assert mine.grad_fn is None and not mine.requires_grad
        assert torch.equal(mine, theirs)


def test_prompt_embeddings_are_the_pipelines_own_bit_for_bit(tiny_models, tmp_path):
    """Encoded with autograd on, UMT5's embeddings carried a grad_fn and differed by ~8e-7."""
    wan = _wan(tiny_models)
    ctx = NodeContext("segment/0.0", tmp_path, {}, ModelPool())
    pipe = wan.pipe(ctx)
    prompt, negative = "the kite climbs", "blurry"
    cached = wan.encoded(
        ctx, "wan", lambda: pipe.encode_prompt(
            prompt=prompt, negative_prompt=negative, do_classifier_free_guidance=True,
            max_sequence_length=16, device=pipe._execution_device,
        ),
    )  # fmt: skip
    image = Image.new("RGB", (32, 32), (90, 120, 200))
    call = {
        "image": image, "prompt": prompt, "negative_prompt": negative, "height": 32, "width": 32,
        "num_frames": 5, "guidance_scale": 3.5, "max_sequence_length": 16,
    }  # fmt: skip
    _check(cached, _own_embeddings(pipe, call))

    zit = _zit(tiny_models)
    pipe = zit.pipe(ctx)
    prompt = "# A red kite\n- over a field"
    cached = zit.encoded(
        ctx, "zit", lambda: pipe.encode_prompt(
            prompt=prompt, negative_prompt=negative, do_classifier_free_guidance=True,
            device=pipe._execution_device, max_sequence_length=32,
        ),
    )  # fmt: skip
    call = {
        "prompt": prompt, "negative_prompt": negative, "height": 32, "width": 32,
        "guidance_scale": 2.0, "max_sequence_length": 32,
    }  # fmt: skip
    _check(cached, _own_embeddings(pipe, call))
