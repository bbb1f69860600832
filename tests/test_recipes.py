"""The model authors' recipes, exactly: each video backend's default negative prompt is its
authors' own (a job's or shot's replaces it, "" means none) and is keyed and recorded; every
random draw of a pipeline call comes from the node's seed, whatever the process drew before.

The parity tests compare what renga hands the real pipelines (tiny random models) with the
values in the authors' scripts, written out here with the file each comes from."""

from __future__ import annotations

import hashlib
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from test_real_models import TINY, job

from orchestrator.engine.context import NodeContext
from orchestrator.render.run import prepare
from orchestrator.stage import SegmentRequest
from stages.diffusion.pool import ModelPool
from stages.video.recipes import WAN_NEGATIVE_PROMPT
from stages.video.skyreels import SkyReelsV2DF

# Wan2.2 wan/configs/shared_config.py `sample_neg_prompt` (SkyReels-V2 generate_video_df.py
# passes the same string), copied here from the source rather than from renga.
UPSTREAM_NEGATIVE = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，"
    "低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，"
    "毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走"
)


@pytest.fixture(scope="module")
def skyreels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import tiny_models

    return tiny_models.skyreels_df(tmp_path_factory.mktemp("tiny-skyreels") / "skyreels")


def _models(tiny_models: dict[str, Path], skyreels: Path, video: str) -> tuple[str, ...]:
    folder = {"wan22_i2v_a14b": tiny_models["a14b"], "wan22_ti2v_5b": tiny_models["ti2v"]}
    return (
        f"keyframes.model={tiny_models['zit']}", f"video={video}",
        f"video.model={folder.get(video, skyreels)}", *TINY,
    )  # fmt: skip


def _requests(cfg: Any, tmp_path: Path) -> dict[str, dict[str, Any]]:
    _, graph, _, _ = prepare(cfg, tmp_path / "run")
    return {n.id: n.params for n in graph if n.stage == "segment"}


VIDEOS = ("wan22_i2v_a14b", "wan22_ti2v_5b", "skyreels_v2_df")


@pytest.mark.parametrize("video", VIDEOS)
def test_the_default_negative_prompt_is_the_authors(
    make_config, tiny_models, skyreels, tmp_path, video
):
    """A job that sets none: each clip's request (its node key) holds the authors' string."""
    plain = job(negative_prompt=None)  # as a job that leaves the key out
    cfg = make_config(*_models(tiny_models, skyreels, video), job=plain, draft=False)
    assert cfg.job.negative_prompt is None
    assert cfg.video.negative_prompt == UPSTREAM_NEGATIVE == WAN_NEGATIVE_PROMPT
    params = _requests(cfg, tmp_path)
    assert {p["request"]["negative_prompt"] for p in params.values()} == {UPSTREAM_NEGATIVE}
    # Only the request carries it: a job's own text keys the clip exactly once.
    assert all("negative_prompt" not in p["backend"] for p in params.values())


def test_a_jobs_or_shots_negative_prompt_replaces_it_and_empty_means_none(
    make_config, tiny_models, skyreels, tmp_path
):
    shots = job()["shots"]
    shots[1] = {**shots[1], "negative_prompt": ""}
    models = _models(tiny_models, skyreels, "wan22_i2v_a14b")
    cfg = make_config(*models, job=job(negative_prompt="blurry", shots=shots), draft=False)
    asked = {i: p["request"]["negative_prompt"] for i, p in _requests(cfg, tmp_path).items()}
    assert asked == {"segment/0.0": "blurry", "segment/0.1": "blurry", "segment/1.0": ""}
    # The keyframes keep the job's text (ZIT has no authors' default).
    shots[0] = {**shots[0], "negative_prompt": "grainy"}
    cfg = make_config(*models, job=job(negative_prompt=None, shots=shots), draft=False)
    asked = {i: p["request"]["negative_prompt"] for i, p in _requests(cfg, tmp_path).items()}
    assert asked["segment/0.0"] == "grainy" and asked["segment/1.0"] == ""
    assert asked["segment/0.1"] == "grainy"


def test_the_default_changes_the_key_and_an_explicit_text_does_not_see_the_default(
    make_config, tiny_models, skyreels, tmp_path
):
    """Changing `video.negative_prompt` re-renders the clips that use it, and only those."""
    models = _models(tiny_models, skyreels, "skyreels_v2_df")
    shots = job()["shots"]
    shots[1] = {**shots[1], "negative_prompt": "blurry"}
    keys = []
    for text in ("one", "two"):
        cfg = make_config(*models, f"video.negative_prompt={text}", job=job(
            negative_prompt=None, shots=shots), draft=False)  # fmt: skip
        _, graph, _, _ = prepare(cfg, tmp_path / "run")
        graph.assign_keys()
        keys.append({n.id: n.key for n in graph if n.stage == "segment"})
    assert keys[0]["segment/0.0"] != keys[1]["segment/0.0"]
    assert keys[0]["segment/1.0"] == keys[1]["segment/1.0"]


def _skyreels(folder: Path, **settings: Any) -> SkyReelsV2DF:
    values = {"model": str(folder), "steps": 2, "frames": 9, "max_sequence_length": 16}
    return SkyReelsV2DF(**{**values, "guidance_scale": 1.0, **settings})


def test_skyreels_history_noise_comes_from_the_node_seed(skyreels, tmp_path):
    """diffusers draws `addnoise_condition` noise with torch.randn_like (no generator): the same
    clip, rendered after different draws in the process, is the same, and the process's RNG is
    left where it was."""
    # Strong history noise, so that its draw shows in 8-bit frames of the tiny model.
    backend = _skyreels(skyreels, continuation="motion", motion_frames=5, addnoise_condition=500)
    pool = ModelPool()
    rng = np.random.default_rng(3)
    context = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(5)]
    request = SegmentRequest(0, 1, "the kite climbs", "", 32, 32, 9, Fraction(24), 7)
    backend.video_pipe(NodeContext("load", tmp_path, {}, pool))  # loading draws: not here
    clips, kept = [], []
    for state in (1, 2):
        torch.manual_seed(state)
        ctx = NodeContext("segment/0.1", tmp_path, {}, pool)
        frames = backend.generate(request, context[-1], None, ctx, context=context)
        clips.append(np.stack(list(frames)))
        after = torch.rand(1)
        torch.manual_seed(state)
        kept.append(torch.equal(after, torch.rand(1)))
    np.testing.assert_array_equal(clips[0], clips[1])
    assert kept == [True, True]


def _updated(latent_count: int, block: int) -> set[int]:
    """The latents diffusers' own step matrix ever steps in a window of `latent_count`."""
    from diffusers import SkyReelsV2DiffusionForcingImageToVideoPipeline as I2V

    steps = torch.linspace(999, 1, 4).long()
    _, _, mask, _ = I2V.generate_timestep_matrix(
        None, latent_count, steps, latent_count, 5, 1, block
    )
    return set(torch.nonzero(mask.any(0)).flatten().tolist())


def test_causal_blocks_leave_latents_undenoised_unless_the_windows_hold_whole_blocks():
    """73 frames at ar_step 5 / causal_block_size 5: one window of 19 latents, of which the
    pipeline's step matrix never touches the last 4; the planner's lengths leave none."""
    from stages.video.skyreels_blocks import Call, fitted

    call = Call(73, 1, 97, 17)
    assert call.windows() == [19]
    assert _updated(19, 5) == set(range(15))
    for frames, context in ((73, 1), (81, 17), (97, 1), (97, 17), (33, 1), (45, 17)):
        call = Call(fitted(Call(frames, context, 97, 17), 5, 97), context, 97, 17)
        assert call.whole(5), (frames, context)
        for count in call.windows():
            assert _updated(count, 5) == set(range(count))


def test_the_async_preset_plans_whole_blocks_and_says_so(
    make_config, tiny_models, skyreels, tmp_path, capsys
):
    """Upstream's recipe: 97-frame first clips, chained clips of 81 after 17 history frames
    (one 25-latent window each), the shot's last clip fitted to whole blocks."""
    shots = [{"prompt": "a red kite", "motion": "the kite climbs", "frames": 300}]
    models = (f"keyframes.model={tiny_models['zit']}", f"video.model={skyreels}")
    cfg = make_config("preset=skyreels_async", *models, job=job(fps=24, shots=shots))
    assert (cfg.video.ar_step, cfg.video.causal_block_size, cfg.video.frames) == (5, 5, 97)
    timeline, _, stages, _ = prepare(cfg, tmp_path / "run")
    plans = [(s.num_frames, s.start_frame) for s in timeline.segments]
    assert plans == [(97, 0), (81, 96), (81, 80), (61, 80)]
    assert "warning: video.causal_block_size" in capsys.readouterr().err
    assert stages.video.call(81, 17).windows() == [25]


def test_a_clip_that_cannot_hold_whole_blocks_is_refused_at_plan_time(cli, tiny_models, skyreels):
    """13-frame clips have 4 latents at most: no length up to video.frames fills a block of 5."""
    args = (
        f"keyframes.model={tiny_models['zit']}", "preset=skyreels_async",
        f"video.model={skyreels}", *TINY, "video.frames=13",
    )  # fmt: skip
    result = cli(*args, job=job())
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: video.causal_block_size: segment/0.0: ")
    assert "never be denoised" in line and "clips of none up to video.frames" in line
    assert not (result.run_dir / "final.mp4").exists()


def test_svi_chained_clips_call_the_pipeline_with_upstreams_81_frames(
    make_config, tiny_models, tmp_path
):
    """A chained SVI clip also carries the anchor's frame and the handed-over latent's: it is
    planned 4 frames shorter, so the pipeline gets 81 frames as in SVI's own workflows."""
    models = (f"keyframes.model={tiny_models['zit']}", f"video.model={tiny_models['a14b']}")
    shots = [{"prompt": "a red kite", "motion": "the kite climbs", "frames": 200}]
    cfg = make_config(
        "preset=svi", *models, "~video.lora_sets.svi", job=job(shots=shots), draft=False
    )
    timeline, _, stages, _ = prepare(cfg, tmp_path / "run")
    frames = [s.num_frames for s in timeline.segments]
    assert frames[0] == 81 and set(frames[1:-1]) == {77}
    assert all(n + 4 <= 81 for n in frames[1:])


@pytest.mark.slow
def test_a_chained_skyreels_clip_rerendered_alone_in_a_fresh_process_is_the_same_bytes(
    cli, tiny_models, skyreels, offline_env
):
    """The uninterrupted render draws clip 0.0's history noise before clip 0.1's; a resume
    after clip 0.1's entry is removed draws only 0.1's. Same key, same bytes."""
    import shutil

    from conftest import ok

    args = (
        f"keyframes.model={tiny_models['zit']}", "video=skyreels_v2_df",
        f"video.model={skyreels}", *TINY, "video.continuation=motion", "video.motion_frames=5",
        "video.addnoise_condition=500",
    )  # fmt: skip
    first = cli.run_json(ok(cli(*args, job=job(), env=offline_env)))
    entry = {n["id"]: n for n in first["nodes"]}["segment/0.1"]
    assert entry["metrics"]["negative_prompt"] == "blurry"  # the job's, in run.json
    folder = Path(first["store"]) / "segment" / entry["key"]
    clip = (folder / "clip.mkv").read_bytes()
    shutil.rmtree(folder)
    again = cli.run_json(ok(cli(*args, job=job(), env=offline_env)))
    status = {n["id"]: (n["status"], n["key"]) for n in again["nodes"]}
    assert status["segment/0.0"][0] == "cached"
    assert status["segment/0.1"] == ("ran", entry["key"])
    assert (folder / "clip.mkv").read_bytes() == clip


# Lightricks LTX-2 ltx_pipelines/utils/constants.py `DEFAULT_NEGATIVE_PROMPT`, copied from the
# source: its first and last words, and the sha256 of the whole text as upstream writes it.
LTX2_UPSTREAM_START = "has_subtitles, has_blurbox, transition from black, transition to black, "
LTX2_UPSTREAM_END = (
    "inconsistent tone, cinematic oversaturation, stylized filters, or AI artifacts."
)
LTX2_UPSTREAM_SHA256 = "5d3fc170ddbab647fd3baf4694dfcca44dd817fe489bc3ab0684e12505472be4"


def test_ltx2_default_negative_prompt_is_lightricks_own(make_config, tiny_models, tmp_path):
    from stages.video.recipes import LTX2_NEGATIVE_PROMPT

    cfg = make_config("video=ltx2", job=job(negative_prompt=None))
    assert cfg.video.negative_prompt == LTX2_NEGATIVE_PROMPT
    assert LTX2_NEGATIVE_PROMPT.startswith(LTX2_UPSTREAM_START)
    assert LTX2_NEGATIVE_PROMPT.endswith(LTX2_UPSTREAM_END)
    assert hashlib.sha256(LTX2_NEGATIVE_PROMPT.encode()).hexdigest() == LTX2_UPSTREAM_SHA256
    explicit = make_config("video=ltx2", job=job(negative_prompt=""))
    assert explicit.job.negative_prompt == ""
