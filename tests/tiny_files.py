"""Transformer files in the layouts users download: the original Wan key names (as Wan-AI,
Kijai and city96 publish them), as safetensors and as a GGUF with quantized tensors.

The key names are written from the original Wan module layout (`blocks.N.self_attn.q`,
`ffn.0`, `head.head`, ...), with its norm2/norm3 order, not by running a loader in reverse.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

# diffusers name -> the original Wan name, applied in order.
TO_ORIGINAL = [
    ("condition_embedder.time_embedder.linear_1", "time_embedding.0"),
    ("condition_embedder.time_embedder.linear_2", "time_embedding.2"),
    ("condition_embedder.text_embedder.linear_1", "text_embedding.0"),
    ("condition_embedder.text_embedder.linear_2", "text_embedding.2"),
    ("condition_embedder.time_proj", "time_projection.1"),
    ("attn1.", "self_attn."),
    ("attn2.", "cross_attn."),
    (".to_out.0.", ".o."),
    (".to_q.", ".q."),
    (".to_k.", ".k."),
    (".to_v.", ".v."),
    ("ffn.net.0.proj", "ffn.0"),
    ("ffn.net.2", "ffn.2"),
    ("proj_out", "head.head"),
]


def original_key(name: str) -> str:
    for diffusers_name, original in TO_ORIGINAL:
        name = name.replace(diffusers_name, original)
    if name == "scale_shift_table":
        return "head.modulation"
    name = re.sub(r"^(blocks\.\d+)\.scale_shift_table$", r"\1.modulation", name)
    # The original block applies norm1, norm3 (cross-attention), norm2 (feed-forward).
    return re.sub(r"\.norm([23])\.", lambda m: f".norm{5 - int(m.group(1))}.", name)


def original_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    state = {
        original_key(k): v.detach().clone().contiguous() for k, v in model.state_dict().items()
    }
    assert len(state) == len(model.state_dict()), "two keys map to one original name"
    return state


def write_safetensors(
    model: torch.nn.Module, path: Path, layout: str = "original", prefix: str = ""
) -> Path:
    """`layout` original (Wan's names) or diffusers; `prefix` e.g. ComfyUI's
    `model.diffusion_model.`."""
    from safetensors.torch import save_file

    state = original_state(model) if layout == "original" else model.state_dict()
    save_file({prefix + k: v.contiguous() for k, v in state.items()}, path)
    return path


def write_gguf(model: torch.nn.Module, path: Path) -> tuple[Path, int]:
    """The original layout as a city96-style GGUF: Q8_0 where a tensor's rows fit Q8_0 blocks,
    F16 for the other weights, F32 for 1-D tensors. Returns the path and how many are Q8_0."""
    import gguf

    writer = gguf.GGUFWriter(str(path), arch="wan")
    quantized = 0
    for name, tensor in original_state(model).items():
        data = tensor.float().numpy()
        if (
            data.ndim == 2
            and data.shape[-1] % gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.Q8_0][0] == 0
        ):
            q = gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0)
            writer.add_tensor(name, q, raw_shape=q.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
            quantized += 1
        elif data.ndim >= 2:
            writer.add_tensor(name, data.astype(np.float16))
        else:
            writer.add_tensor(name, data.astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path, quantized


LORA_TARGETS = {
    "self_attn.q": "attn1.to_q", "self_attn.k": "attn1.to_k", "self_attn.v": "attn1.to_v",
    "self_attn.o": "attn1.to_out.0", "cross_attn.q": "attn2.to_q", "cross_attn.k": "attn2.to_k",
    "cross_attn.v": "attn2.to_v", "cross_attn.o": "attn2.to_out.0",
    "ffn.0": "ffn.net.0.proj", "ffn.2": "ffn.net.2",
}  # fmt: skip


def write_lightx2v_lora(model: torch.nn.Module, path: Path, seed: int, rank: int = 4) -> Path:
    """A LoRA in the LightX2V / Kijai layout the Lightning files use: `diffusion_model.`
    prefix, original Wan names, `lora_down` / `lora_up` and an `alpha` per layer."""
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for index, block in enumerate(model.blocks):
        for original, diffusers_name in LORA_TARGETS.items():
            linear = block.get_submodule(diffusers_name)
            key = f"diffusion_model.blocks.{index}.{original}"
            down = torch.randn(rank, linear.in_features, generator=generator) * 0.5
            state[f"{key}.lora_down.weight"] = down
            state[f"{key}.lora_up.weight"] = (
                torch.randn(linear.out_features, rank, generator=generator) * 0.5
            )
            state[f"{key}.alpha"] = torch.tensor(float(rank))
    save_file(state, path)
    return path
