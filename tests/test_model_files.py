"""Expert files as users download them load through renga's real path: the original Wan key
layout as safetensors (with or without ComfyUI's prefix) and as a GGUF with Q8_0 tensors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tiny_files
from test_real_models import _segment, _wan

from orchestrator.engine.errors import UserError
from stages.diffusion.pool import ModelPool

EXPERTS = ("transformer", "transformer_2")


def _experts(models: dict[str, Path]) -> dict[str, object]:
    from diffusers import WanTransformer3DModel

    return {n: WanTransformer3DModel.from_pretrained(models["a14b"], subfolder=n) for n in EXPERTS}


def _folder_without_experts(models: dict[str, Path], tmp_path: Path) -> dict[str, Path]:
    """A model folder holding everything but the transformers, as users pair it with files."""
    plain = tmp_path / "plain"
    shutil.copytree(models["a14b"], plain, ignore=shutil.ignore_patterns("transformer*"))
    return {"a14b": plain}


@pytest.mark.parametrize(
    ("layout", "prefix"),
    [("diffusers", ""), ("original", ""), ("original", "model.diffusion_model.")],
)
def test_safetensors_experts_give_the_folders_frames(tiny_models, tmp_path, layout, prefix):
    files = {
        name: tiny_files.write_safetensors(model, tmp_path / f"{name}.safetensors", layout, prefix)
        for name, model in _experts(tiny_models).items()
    }
    first_key = {"diffusers": b"blocks.0.attn1.to_q", "original": b"blocks.0.self_attn.q"}
    with open(files["transformer"], "rb") as raw:
        assert first_key[layout] in raw.read(4096)
    backend = _wan(
        _folder_without_experts(tiny_models, tmp_path),
        transformer=str(files["transformer"]),
        transformer_2=str(files["transformer_2"]),
        transformer_config=str(tiny_models["a14b"]),
    )
    single, _, _ = _segment(backend, ModelPool(), tmp_path)
    folder, _, _ = _segment(_wan(tiny_models), ModelPool(), tmp_path)
    assert np.array_equal(single, folder)


def test_gguf_experts_load_quantized_and_stay_close_to_the_folder(tiny_models, tmp_path):
    from diffusers.quantizers.gguf.utils import GGUFParameter

    files, quantized = {}, {}
    for name, model in _experts(tiny_models).items():
        files[name], quantized[name] = tiny_files.write_gguf(model, tmp_path / f"{name}.gguf")
    assert all(count > 0 for count in quantized.values())
    backend = _wan(
        _folder_without_experts(tiny_models, tmp_path),
        transformer=str(files["transformer"]),
        transformer_2=str(files["transformer_2"]),
        transformer_config=str(tiny_models["a14b"]),
    )
    backend.validate(None)
    pool = ModelPool()
    gguf_frames, _, ctx = _segment(backend, pool, tmp_path)
    pipe = next(iter(pool._models.values()))
    for name in EXPERTS:
        params = [p for p in getattr(pipe, name).parameters() if isinstance(p, GGUFParameter)]
        # diffusers dequantizes the few modules Wan keeps in fp32 (the time embedder).
        assert 0 < len(params) <= quantized[name]
    assert ctx.metrics["denoiser_calls"] == {"transformer": 2, "transformer_2": 2}
    folder, _, _ = _segment(_wan(tiny_models), ModelPool(), tmp_path)
    assert gguf_frames.shape == folder.shape
    # Q8_0 keeps ~8 bits per weight: frames move by a level or two, never by a visible amount.
    difference = np.abs(gguf_frames.astype(int) - folder.astype(int))
    assert difference.mean() < 2.0 and difference.max() <= 16


def test_a_gguf_file_without_the_gguf_package_fails_at_plan_time(
    tiny_models, tmp_path, monkeypatch
):
    import importlib.util

    path = tmp_path / "expert.gguf"
    path.write_bytes(b"GGUF")
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "gguf" else real(name, *a)
    )
    with pytest.raises(UserError, match="pip install gguf") as error:
        _wan(tiny_models, transformer=str(path)).validate(None)
    assert error.value.key == "video.transformer"


def test_lightx2v_loras_load_and_go_to_the_expert_each_names(tiny_models, tmp_path):
    from stages.diffusion.loading import load_pipeline

    experts = _experts(tiny_models)
    high = tiny_files.write_lightx2v_lora(experts["transformer"], tmp_path / "HIGH.safetensors", 1)
    low = tiny_files.write_lightx2v_lora(experts["transformer_2"], tmp_path / "LOW.safetensors", 2)
    loras = [
        {"path": str(high), "scale": 1.0, "expert": "high"},
        {"path": str(low), "scale": 1.0, "expert": "low"},
    ]
    backend = _wan(tiny_models, loras=loras)
    backend.validate(None)
    pipe = load_pipeline(backend.spec())
    assert pipe.get_list_adapters() == {
        "transformer": ["lora0_transformer"],
        "transformer_2": ["lora1_transformer_2"],
    }
    layer = pipe.transformer.blocks[0].attn1.to_q
    assert layer.lora_A["lora0_transformer"].weight.shape[0] == 4
    base, _, _ = _segment(_wan(tiny_models), ModelPool(), tmp_path)
    lit, _, _ = _segment(backend, ModelPool(), tmp_path)
    swapped_loras = [{**loras[0], "path": str(low)}, {**loras[1], "path": str(high)}]
    swapped, _, _ = _segment(_wan(tiny_models, loras=swapped_loras), ModelPool(), tmp_path)
    assert not np.array_equal(lit, base)
    assert not np.array_equal(lit, swapped)
