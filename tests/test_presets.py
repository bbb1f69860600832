"""Presets apply to the stages they can: memory settings reach every model stage and leave
image or draft stages alone, and a stage's own key still wins."""

from __future__ import annotations

import pytest


def test_low_vram_reaches_both_model_stages(make_config):
    cfg = make_config("preset=low_vram", draft=False)
    for group in ("keyframes", "video"):
        assert (cfg[group].offload, cfg[group].fp8, cfg[group].vae_tiling) == ("group", True, True)


@pytest.mark.parametrize(
    "overrides",
    [
        ("keyframes=images", "preset=low_vram"),
        ("preset=[draft,low_vram]",),
        ("video=wan22_ti2v_5b", "keyframes=draft", "preset=low_vram"),
    ],
)
def test_low_vram_with_stages_that_have_no_model(make_config, overrides):
    cfg = make_config(*overrides, draft=False)
    for group in ("keyframes", "video"):
        if "offload" in cfg[group]:
            assert (cfg[group].offload, cfg[group].fp8) == ("group", True)
    assert "offload" not in cfg.keyframes


def test_a_stage_key_wins_over_the_shared_memory_settings(make_config):
    cfg = make_config("preset=low_vram", "video.offload=none", "memory.fp8=false", draft=False)
    assert (cfg.keyframes.offload, cfg.keyframes.fp8) == ("group", False)
    assert (cfg.video.offload, cfg.video.fp8, cfg.video.vae_tiling) == ("none", False, True)


def test_memory_settings_are_checked_like_a_stage_key(make_config, tiny_models, tmp_path):
    from orchestrator.engine.errors import UserError
    from orchestrator.render.run import prepare

    models = (f"keyframes.model={tiny_models['zit']}", f"video.model={tiny_models['a14b']}")
    cfg = make_config("memory.offload=everywhere", *models, draft=False)
    with pytest.raises(UserError) as error:
        prepare(cfg, tmp_path / "run")
    assert error.value.key == "keyframes.offload"
