"""`video.continuation=latent`: chained Wan A14B clips conditioned on the stored latents of the
clip before, with no VAE round trip.

On the tiny A14B model: every clip's entry holds its final latents; the chained clip's
condition starts with exactly the stored last latent (compared with the file) and the VAE
encoder is not called for it (counted); through the CLI the job has the planned frames, and
plan-time refusals are one line."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import Cli, ok
from diffusers import AutoencoderKLWan
from rich.console import Console
from safetensors import safe_open
from test_real_models import TINY, job, models_args

from orchestrator.engine.progress import Reporter
from orchestrator.media.video import probe_video
from orchestrator.render.run import execute
from stages.video import wan_latent

LATENT = "video.continuation=latent"


def _segments(run: dict[str, Any]) -> dict[str, str]:
    return {n["id"]: n["key"] for n in run["nodes"] if n["stage"] == "segment"}


def _stored(entry: Path) -> tuple[torch.Tensor, int]:
    with safe_open(str(entry / "latents.safetensors"), framework="pt") as f:
        return f.get_tensor("latents"), int(f.metadata()["first"])


def test_chained_clip_gets_the_stored_latents_bit_exact_without_the_encoder(
    make_config, tiny_models, tmp_path, monkeypatch
):
    """Shot 0 is two 9- and 5-frame clips; segment/0.1 starts on frame 8 of segment/0.0, which
    ends its 3rd latent. Its condition is that latent exactly, then zeros; the encoder runs
    once per clip made from a keyframe (segment/0.0 and segment/1.0), never for segment/0.1."""
    received: list[tuple[torch.Tensor, torch.Tensor]] = []
    condition = wan_latent.latent_condition

    def recorded(known: torch.Tensor, frames: int) -> torch.Tensor:
        built = condition(known, frames)
        received.append((known.clone(), built.clone()))
        return built

    monkeypatch.setattr(wan_latent, "latent_condition", recorded)
    encodes: list[str] = []
    encode = AutoencoderKLWan._encode

    def counted(self: Any, x: torch.Tensor) -> Any:
        encodes.append(tuple(x.shape))
        return encode(self, x)

    monkeypatch.setattr(AutoencoderKLWan, "_encode", counted)
    args = (*models_args(tiny_models), *TINY, LATENT)
    cfg = make_config(*args, f"cache_dir={tmp_path / 'cache'}", job=job(), draft=False)
    reporter = Reporter(Console(file=io.StringIO()))
    with reporter:
        run = execute(cfg, tmp_path / "run", reporter)
    store = Path(run["store"]) / "segment"
    keys = _segments(run)
    latents, first = _stored(store / keys["segment/0.0"])
    assert latents.shape == (1, 16, 3, 4, 4) and first == 0  # 9 frames: 1 + 2 latents
    ((known, built),) = received
    assert torch.equal(known, latents[:, :, 2:3])
    assert torch.equal(built[:, :, :1], latents[:, :, 2:3]) and not built[:, :, 1:].any()
    assert built.shape[2] == 2  # segment/0.1: 5 frames, 2 latents
    assert len(encodes) == 2, encodes
    chained, _ = _stored(store / keys["segment/0.1"])
    assert chained.shape == (1, 16, 2, 4, 4)
    assert probe_video(store / keys["segment/0.1"] / "clip.mkv").frames == 5


def test_two_handed_over_latents_add_four_known_frames(tiny_models, tmp_path):
    """motion_latents=2: the clip is made 4 frames longer (the frames the second latent stands
    for come first and are dropped), the mask marks latents 0-1 known, and the stored file
    says where the clip's frame 0 is."""
    from fractions import Fraction

    from orchestrator.engine.context import NodeContext
    from orchestrator.stage import LatentContext, SegmentRequest
    from stages.diffusion.pool import ModelPool
    from stages.video.wan import Wan22I2V

    backend = Wan22I2V(
        model=str(tiny_models["a14b"]), steps=2, frames=9, max_sequence_length=16,
        continuation="latent", motion_latents=2, guidance_scale=1.0, guidance_scale_2=1.0,
    )  # fmt: skip
    previous = tmp_path / "previous.safetensors"
    stored = torch.randn(1, 16, 3, 4, 4)
    wan_latent.save_latents(previous, stored, first=0)
    ctx = NodeContext("segment/0.1", tmp_path, {}, ModelPool())
    pipe = backend.pipe(ctx)
    seen: list[torch.Tensor] = []
    pipe.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["hidden_states"].detach().clone()),
        with_kwargs=True,
    )
    request = SegmentRequest(0, 1, "the kite climbs", "", 32, 32, 9, Fraction(16), 7)
    start = torch.zeros(32, 32, 3, dtype=torch.uint8).numpy()
    handed = LatentContext(previous, 8)
    frames = list(backend.generate(request, start, None, ctx, latents=handed))
    assert len(frames) == 9
    hidden = seen[0]
    assert hidden.shape[2] == 4  # 9 + 4 frames: 4 latents
    mask, condition = hidden[:, 16:20], hidden[:, 20:36]
    assert mask[:, :, :2].eq(1).all() and not mask[:, :, 2:].any()
    assert torch.equal(condition[:, :, :2], stored[:, :, 1:3]) and not condition[:, :, 2:].any()
    own, first = _stored(tmp_path)
    assert own.shape[2] == 4 and first == 1


@pytest.mark.slow
def test_latent_chain_renders_the_planned_frames_through_the_cli(
    cli: Cli, tiny_models, offline_env
):
    """Same frame count as frame mode; chained keys change with the mode, and so do first
    clips' (their entries also hold latents)."""
    runs = {}
    for mode in ("frame", "latent"):
        args = (*models_args(tiny_models), *TINY, f"video.continuation={mode}")
        result = ok(cli(*args, job=job(), env=offline_env))
        assert probe_video(result.run_dir / "final.mp4").frames == 20
        runs[mode] = _segments(cli.run_json(result))
    assert runs["frame"].keys() == runs["latent"].keys()
    assert all(runs["frame"][s] != runs["latent"][s] for s in runs["frame"])
    # Shot 1 continues shot 0, whose last clip keeps 4 frames (3 past the grid), and with an
    # overlap of 2 no chained clip would start on a latent: the planner moves each start back
    # to one, so the job is made, not refused.
    args = (*models_args(tiny_models), *TINY, LATENT, "assemble.overlap_frames=2")
    result = ok(cli(*args, job=job(transition="continue"), env=offline_env))
    assert probe_video(result.run_dir / "final.mp4").frames == 20


@pytest.mark.parametrize(
    ("video", "overrides", "job_overrides", "text"),
    [
        ("draft", (), {}, "DraftVideo cannot condition on the clip before's latents"),
        ("wan22_ti2v_5b", (), {}, "Wan22TI2V cannot condition on the clip before's latents"),
        ("wan22_i2v_a14b", (), {"transition": "morph"}, "segment/0.1, which ends on a keyframe"),
    ],
)
def test_latent_refusals_are_one_line(
    cli: Cli, tiny_models, offline_env, video, overrides, job_overrides, text
):
    args = (*models_args(tiny_models, video), *TINY, LATENT, *overrides)
    if video == "draft":
        args = ("preset=draft", LATENT)
    result = cli(*args, job=job(**job_overrides), env=offline_env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: video.continuation: "), result.stderr
    assert text in lines[0]
    assert not (result.run_dir / "final.mp4").exists()


def test_svi_condition_matches_a_hand_built_reference():
    """SVI 2.0 Pro for an 81-frame clip (21 latents): slot 0 the anchor, slots 1..M the last M
    latents of the previous clip, zeros after; the mask knows pixel frame 0 only."""
    anchor = torch.randn(1, 16, 1, 6, 10)
    previous = torch.randn(1, 16, 21, 6, 10)
    for motion in (0, 1, 2):
        reference = torch.zeros(1, 16, 21, 6, 10)
        reference[:, :, 0] = anchor[:, :, 0]
        for slot in range(motion):
            reference[:, :, 1 + slot] = previous[:, :, 21 - motion + slot]
        built = wan_latent.svi_condition(anchor, previous, motion, 21)
        assert torch.equal(built, reference), motion
    only_anchor = torch.zeros(1, 16, 21, 6, 10)
    only_anchor[:, :, 0] = anchor[:, :, 0]
    assert torch.equal(wan_latent.svi_condition(anchor, None, 1, 21), only_anchor)
    mask = wan_latent.svi_mask(1, 81, 6, 10)
    reference_mask = torch.zeros(1, 4, 21, 6, 10)
    reference_mask[:, :, 0] = 1
    assert torch.equal(mask, reference_mask)
