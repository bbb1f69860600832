"""Random-weight diffusers folders for the GPU bench: tests/tiny_models.py's builders given the
real models' sizes (or left tiny, for `--size tiny`).

Widths, from diffusers' conversion scripts (convert_wan_to_diffusers.py `Wan2.2-I2V-14B-720p`
and `Wan2.2-TI2V-5B`, convert_skyreelsv2_to_diffusers.py `SkyReels-V2-DF-1.3B-540P`) and the
installed diffusers' defaults (`AutoencoderKLWan()` is the Wan 2.1 VAE):
- Wan 2.2 I2V A14B: two experts of 40 heads x 128 (dim 5120), ffn 13824, in 36 / out 16
  channels, text_dim 4096, 40 layers each: at ~28 GB per expert in bf16 too big to build,
  write and load in a few minutes, so the bench keeps the width and builds `layers` blocks per
  expert. Per-step transformer time scales with the layer count (x10 from 4 to 40).
- SkyReels-V2 DF 1.3B: 12 heads x 128 (dim 1536), ffn 8960, 30 layers, inject_sample_info.
- TI2V-5B: 24 heads x 128 (dim 3072), ffn 14336, 30 layers, the 48-channel Wan 2.2 VAE.
- UMT5-XXL (the text encoder of all three), with its real 256k vocabulary: 11 GB in bf16. It
  is built and written once and linked into each folder as `text_encoder`; three copies would
  cost 23 GB of a 64 GB disk and half a minute of writing.
"""

from __future__ import annotations

import gc
import shutil
from pathlib import Path
from typing import Any

UMT5_XXL = {"vocab_size": 256384, "d_model": 4096, "d_kv": 64, "d_ff": 10240, "num_layers": 24,
            "num_heads": 64, "relative_attention_num_buckets": 32}  # fmt: skip
WAN21_VAE = {"base_dim": 96, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2}


def sizes(size: str, model: str, layers: int | None = None) -> dict[str, Any]:
    """Per-component overrides of the tiny configs ({} keeps a component tiny)."""
    if size == "tiny":
        # inject_sample_info: the real DF 1.3B has it, so the tiny one exercises it too.
        return {"transformer": {"inject_sample_info": True}} if model == "skyreels" else {}
    common = {"attention_head_dim": 128, "text_dim": 4096, "eps": 1e-6, "rope_max_seq_len": 1024}
    if model == "a14b":
        return {"transformer": {**common, "num_attention_heads": 40, "ffn_dim": 13824,
                                "num_layers": layers or 40}, "vae": WAN21_VAE}  # fmt: skip
    if model == "skyreels":
        return {"transformer": {**common, "num_attention_heads": 12, "ffn_dim": 8960,
                                "num_layers": layers or 30, "inject_sample_info": True},
                "vae": WAN21_VAE}  # fmt: skip
    return {"transformer": {**common, "num_attention_heads": 24, "ffn_dim": 14336,
                            "num_layers": 30},
            "vae": {"base_dim": 160, "decoder_base_dim": 256, "dim_mult": [1, 2, 4, 4],
                    "num_res_blocks": 2}}  # fmt: skip


# What each model renders per clip, as renga's video config runs it.
JOBS: dict[str, dict[str, dict[str, Any]]] = {
    "real": {
        "ti2v": {"width": 1280, "height": 704, "frames": 121},
        "a14b": {"width": 832, "height": 480, "frames": 81},
        "skyreels": {"width": 960, "height": 544, "frames": 97},
    },
    "tiny": {
        "ti2v": {"width": 64, "height": 32, "frames": 9},
        # 21 frames: the seam motion ratio needs 17 frames (8 each way) inside a clip.
        "a14b": {"width": 32, "height": 32, "frames": 21},
        "skyreels": {"width": 32, "height": 32, "frames": 21},
    },
}
VIDEO = {"ti2v": "wan22_ti2v_5b", "a14b": "wan22_i2v_a14b", "skyreels": "skyreels_v2_df"}
LABEL = {"ti2v": "Wan 2.2 TI2V-5B", "a14b": "Wan 2.2 I2V A14B",
         "skyreels": "SkyReels-V2 DF 1.3B"}  # fmt: skip


def folder_name(model: str, layers: int | None) -> str:
    return f"{model}-{layers}layers" if layers else model


def build(root: Path, model: str, size: str, device: str, layers: int | None = None) -> Path:
    """The folder for `model` under `root` (reused when it is there), saved in bf16 at real
    size, with the shared text encoder linked in."""
    import tiny_models
    import torch
    from diffusers.utils import logging

    folder = root / folder_name(model, layers)
    if (folder / "model_index.json").exists():
        return folder
    logging.set_verbosity_error()  # casting random weights to bf16 is what is wanted here
    builder = {"ti2v": tiny_models.wan_ti2v, "a14b": tiny_models.wan_a14b,
               "skyreels": tiny_models.skyreels_df}[model]  # fmt: skip
    dtype = torch.bfloat16 if size == "real" else None
    with torch.device(device):
        builder(folder, **sizes(size, model, layers), dtype=dtype)
    encoder = text_encoder(root, size, device)
    shutil.rmtree(folder / "text_encoder")
    (folder / "text_encoder").symlink_to(encoder.resolve(), target_is_directory=True)
    _release()
    return folder


def text_encoder(root: Path, size: str, device: str) -> Path:
    """The one UMT5 every folder links to, written on first use."""
    import tiny_models
    import torch

    path = root / "umt5"
    if not (path / "config.json").exists():
        with torch.device(device):
            model = tiny_models.umt5(
                tiny_models.t5_tokenizer(), UMT5_XXL if size == "real" else None
            )
        if size == "real":
            model.to(dtype=torch.bfloat16)
        model.save_pretrained(path)
        del model
        _release()
    return path


def lora_pair(root: Path, entries: list[dict[str, Any]], size: str, device: str,
              layers: int | None) -> list[dict[str, Any]]:  # fmt: skip
    """Random LoRA files in place of a preset's `video.loras` (same experts and scales), made
    for the bench's A14B transformer so they load into it."""
    import tiny_models
    import torch

    made = []
    for index, entry in enumerate(entries):
        with torch.device(device):
            transformer = tiny_models.wan_transformer(
                index, sizes=sizes(size, "a14b", layers).get("transformer")
            )
        path = tiny_models.lora(root / f"lora-{index}", transformer, seed=index)
        made.append({"path": str(path), "scale": entry.get("scale", 1.0),
                     "expert": entry.get("expert", "both")})  # fmt: skip
        del transformer
        _release()
    return made


def _release() -> None:
    """Give the builder's GPU memory back before the measured processes start."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
