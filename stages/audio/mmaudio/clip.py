"""MMAudio's CLIP conditioner: DFN5B ViT-H-14-384 image and text features, offline.

Images: [0, 1] frames normalised with the OpenAI CLIP mean/std (MMAudio's constants, not the
model card's), `encode_image` L2-normalised -> (N, 1024). Text: the per-token last hidden state
after `ln_final`, without pooling or projection, L2-normalised -> (B, 77, 1024); this is what
MMAudio's flow network was trained on. The model loads from a local open_clip folder
(`open_clip_config.json` + weights) or from the Hugging Face cache, never from the network.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from orchestrator.engine.errors import UserError

REPO = "apple/DFN5B-CLIP-ViT-H-14-384"
CONFIG = "open_clip_config.json"
TOKENIZER = "ViT-H-14-378-quickgelu"  # MMAudio's choice; the plain 77-token CLIP BPE
WEIGHTS = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
    "open_clip_pytorch_model.pth",
)
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


def clip_folder(source: str | Path, key: str) -> Path:
    """The local open_clip folder for `source` (a folder, or a Hub repo id already in the HF
    cache); a one-line UserError naming `key` if it is missing or lacks config/weights."""
    from stages.diffusion.files import locate

    folder = Path(os.path.expanduser(str(source)))
    if not folder.is_dir():
        repo = locate(str(source), key, allow_download=False, marker=CONFIG)
        from huggingface_hub import try_to_load_from_cache

        folder = Path(str(try_to_load_from_cache(repo, CONFIG))).parent
    if not (folder / CONFIG).is_file():
        raise UserError(key, f"{folder} has no {CONFIG}; it is not an open_clip model folder")
    if not any((folder / name).is_file() for name in WEIGHTS):
        raise UserError(key, f"{folder} has {CONFIG} but no weights file ({' / '.join(WEIGHTS)})")
    return folder


class ClipEncoder(nn.Module):
    """An open_clip CLIP model with MMAudio's image and text feature paths."""

    def __init__(self, model: nn.Module, tokenizer: Any) -> None:
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer

    @classmethod
    def load(cls, source: str | Path = REPO, key: str = "audio.clip") -> ClipEncoder:
        """From a local folder or the HF cache, offline; errors name the config `key`."""
        import open_clip

        folder = clip_folder(source, key)
        name = f"local-dir:{folder}"
        try:
            model = open_clip.create_model_from_pretrained(name, return_transform=False)
        except (RuntimeError, ValueError, OSError) as exc:
            raise UserError(key, f"cannot load CLIP from {folder}: {exc}") from exc
        if not hasattr(model, "token_embedding"):
            raise UserError(
                key, f"{folder}: MMAudio needs an open_clip CLIP with its own text tower"
            )
        tokenizer = open_clip.get_tokenizer(TOKENIZER)
        if model.context_length != tokenizer.context_length:
            raise UserError(
                key,
                f"{folder}: text context {model.context_length} != MMAudio's "
                f"{tokenizer.context_length} tokens",
            )
        return cls(model, tokenizer)

    @property
    def image_size(self) -> int:
        size = self.model.visual.image_size
        return int(size[0] if isinstance(size, tuple | list) else size)

    @property
    def context_length(self) -> int:
        return int(self.model.context_length)

    @torch.inference_mode()
    def encode_images(self, frames: torch.Tensor, batch_size: int = 0) -> torch.Tensor:
        """(B, N, 3, S, S) frames in [0, 1] -> (B, N, embed_dim), unit length; at most
        `batch_size` images per forward pass (0: all)."""
        batch, count, channels, height, width = frames.shape
        size = self.image_size
        if (channels, height, width) != (3, size, size):
            raise ValueError(f"CLIP takes (B, N, 3, {size}, {size}), got {tuple(frames.shape)}")
        parameter = next(self.model.parameters())
        flat = frames.flatten(0, 1)
        step = batch_size or flat.shape[0]
        mean = torch.tensor(MEAN, device=parameter.device).view(3, 1, 1)
        std = torch.tensor(STD, device=parameter.device).view(3, 1, 1)
        outputs = []
        for i in range(0, flat.shape[0], step):
            chunk = flat[i : i + step].to(parameter.device, torch.float32)
            chunk = ((chunk - mean) / std).to(parameter.dtype)
            outputs.append(self.model.encode_image(chunk, normalize=True))
        return torch.cat(outputs).view(batch, count, -1)

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        return self.tokenizer(list(texts))

    @torch.inference_mode()
    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """Prompts -> (B, context_length, text_width): every token's final hidden state after
        `ln_final`, unit length (MMAudio's text condition; no pooling, no projection)."""
        model = self.model
        tokens = self.tokenize(texts).to(next(model.parameters()).device)
        dtype = model.transformer.get_cast_dtype()
        x = model.token_embedding(tokens).to(dtype) + model.positional_embedding.to(dtype)
        x = model.ln_final(model.transformer(x, attn_mask=model.attn_mask))
        return F.normalize(x, dim=-1)
