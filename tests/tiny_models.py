"""Tiny random Z-Image Turbo and Wan 2.2 pipelines built in code, saved as users' folders are.

Tokenizers are trained in-process and every component is seeded, so the folders are the same
on every machine and nothing touches the network. Output is noise; shapes and plumbing are real.
The Wan and SkyReels builders take size overrides per component, so `bench/gpu_models.py`
builds the same folders at the real models' widths without a second copy of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

Sizes = Mapping[str, Any] | None

CORPUS = [
    "a red kite over a field",
    "a lighthouse at night, the beam sweeps",
    "# Dusk over the hills\n- wide shot, the sun sits low",
    "the camera glides towards the city lights",
    "blurry, low quality, watermark",
] * 20

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}"
    "<think>\n\n</think>\n\n{% endif %}{% endif %}"
)


def qwen_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS, trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<|endoftext|>",
        eos_token="<|im_end|>",
        model_max_length=512,
        padding_side="right",
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def t5_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<pad>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS, trainer=trainer)
    eos = tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", eos)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=512,
    )


def zit_transformer(seed: int = 0):
    from diffusers import ZImageTransformer2DModel

    torch.manual_seed(seed)
    transformer = ZImageTransformer2DModel(
        all_patch_size=(2,), all_f_patch_size=(1,), in_channels=16, dim=32, n_layers=2,
        n_refiner_layers=1, n_heads=2, n_kv_heads=2, norm_eps=1e-5, qk_norm=True,
        cap_feat_dim=16, rope_theta=256.0, t_scale=1000.0, axes_dims=[8, 4, 4],
        axes_lens=[256, 32, 32],
    )  # fmt: skip
    with torch.no_grad():
        transformer.x_pad_token.fill_(1.0)
        transformer.cap_pad_token.fill_(1.0)
    return transformer


def zit(path: Path) -> Path:
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, ZImagePipeline
    from transformers import Qwen3Config, Qwen3Model

    tokenizer = qwen_tokenizer()
    torch.manual_seed(0)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2, block_out_channels=[32, 64],
        layers_per_block=1, latent_channels=16, norm_num_groups=32, sample_size=32,
        scaling_factor=0.3611, shift_factor=0.1159,
    )  # fmt: skip
    torch.manual_seed(0)
    text_encoder = Qwen3Model(
        Qwen3Config(
            hidden_size=16,
            intermediate_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=2,
            head_dim=8,
            vocab_size=len(tokenizer),
            max_position_embeddings=512,
        )  # fmt: skip
    ).eval()
    pipe = ZImagePipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=zit_transformer(),
    )
    pipe.save_pretrained(path)
    return path


def wan_transformer(seed: int, channels: tuple[int, int] = (36, 16), sizes: Sizes = None):
    """`sizes` overrides the tiny config (heads, widths, layers)."""
    from diffusers import WanTransformer3DModel

    torch.manual_seed(seed)
    config = {
        "patch_size": (1, 2, 2), "num_attention_heads": 2, "attention_head_dim": 12,
        "in_channels": channels[0], "out_channels": channels[1], "text_dim": 32,
        "freq_dim": 256, "ffn_dim": 32, "num_layers": 2, "cross_attn_norm": True,
        "qk_norm": "rms_norm_across_heads", "rope_max_seq_len": 32,
    }  # fmt: skip
    return WanTransformer3DModel(**{**config, **(sizes or {})})


def umt5(tokenizer, sizes: Sizes = None):
    """The Wan text encoder; `sizes` overrides the tiny UMT5 config."""
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(0)
    config = {
        "vocab_size": len(tokenizer), "d_model": 32, "d_kv": 8, "d_ff": 37, "num_layers": 2,
        "num_heads": 4, "relative_attention_num_buckets": 8,
    }  # fmt: skip
    return UMT5EncoderModel(
        UMT5Config(
            **{**config, **(sizes or {})},
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    ).eval()


def wan21_vae(sizes: Sizes = None):
    """The 16-channel Wan 2.1 VAE of A14B and SkyReels-V2; `sizes` overrides the tiny config."""
    from diffusers import AutoencoderKLWan

    torch.manual_seed(0)
    config = {"base_dim": 3, "z_dim": 16, "dim_mult": [1, 1, 1, 1], "num_res_blocks": 1,
              "temperal_downsample": [False, True, True]}  # fmt: skip
    return AutoencoderKLWan(**{**config, **(sizes or {})})


def _saved(pipe, path: Path, dtype: torch.dtype | None) -> Path:
    if dtype is not None:
        pipe.to(dtype=dtype)
    pipe.save_pretrained(path)
    return path


def wan_a14b(
    path: Path, transformer: Sizes = None, vae: Sizes = None, dtype: torch.dtype | None = None
) -> Path:
    """Wan 2.2 A14B shape: two experts (high noise `transformer`, low noise `transformer_2`).
    `transformer` and `vae` override the tiny sizes (both experts alike); the text encoder stays
    tiny (a benchmark links its own in); `dtype` casts everything before saving."""
    from diffusers import UniPCMultistepScheduler, WanImageToVideoPipeline

    tokenizer = t5_tokenizer()
    pipe = WanImageToVideoPipeline(
        tokenizer=tokenizer,
        text_encoder=umt5(tokenizer),
        vae=wan21_vae(vae),
        scheduler=UniPCMultistepScheduler(
            prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0
        ),
        image_processor=None,
        image_encoder=None,
        transformer=wan_transformer(0, sizes=transformer),
        transformer_2=wan_transformer(1, sizes=transformer),
        boundary_ratio=0.9,
    )
    return _saved(pipe, path, dtype)


def wan_ti2v(
    path: Path, transformer: Sizes = None, vae: Sizes = None, dtype: torch.dtype | None = None
) -> Path:
    """Wan 2.2 TI2V-5B shape: one transformer, 48-channel VAE, `expand_timesteps`; sizes and
    dtype as `wan_a14b`."""
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanImageToVideoPipeline

    tokenizer = t5_tokenizer()
    torch.manual_seed(0)
    vae_config = {
        "base_dim": 3, "z_dim": 48, "in_channels": 12, "out_channels": 12, "is_residual": True,
        "patch_size": 2, "latents_mean": [0.0] * 48, "latents_std": [1.0] * 48,
        "dim_mult": [1, 1, 1, 1], "num_res_blocks": 1, "scale_factor_spatial": 16,
        "scale_factor_temporal": 4, "temperal_downsample": [False, True, True],
    }  # fmt: skip
    built_vae = AutoencoderKLWan(**{**vae_config, **(vae or {})})
    pipe = WanImageToVideoPipeline(
        tokenizer=tokenizer,
        text_encoder=umt5(tokenizer),
        vae=built_vae,
        scheduler=UniPCMultistepScheduler(
            prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=5.0
        ),
        image_processor=None,
        image_encoder=None,
        transformer=wan_transformer(0, (48, 48), transformer),
        transformer_2=None,
        boundary_ratio=None,
        expand_timesteps=True,
    )
    return _saved(pipe, path, dtype)


def skyreels_df(
    path: Path, transformer: Sizes = None, vae: Sizes = None, dtype: torch.dtype | None = None
) -> Path:
    """SkyReels-V2 diffusion forcing: a 16-channel transformer with the tiny Wan VAE, saved as
    the I2V pipeline (the V2V pipeline takes the same modules); sizes and dtype as `wan_a14b`."""
    from diffusers import (
        SkyReelsV2DiffusionForcingImageToVideoPipeline,
        SkyReelsV2Transformer3DModel,
        UniPCMultistepScheduler,
    )

    tokenizer = t5_tokenizer()
    built_vae = wan21_vae(vae)
    torch.manual_seed(0)
    config = {
        "patch_size": (1, 2, 2), "num_attention_heads": 2, "attention_head_dim": 12,
        "in_channels": 16, "out_channels": 16, "text_dim": 32, "freq_dim": 256, "ffn_dim": 32,
        "num_layers": 2, "cross_attn_norm": True, "qk_norm": "rms_norm_across_heads",
        "rope_max_seq_len": 32,
    }  # fmt: skip
    built = SkyReelsV2Transformer3DModel(**{**config, **(transformer or {})})
    pipe = SkyReelsV2DiffusionForcingImageToVideoPipeline(
        tokenizer=tokenizer,
        text_encoder=umt5(tokenizer),
        vae=built_vae,
        scheduler=UniPCMultistepScheduler(
            prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=5.0
        ),
        transformer=built,
    )
    return _saved(pipe, path, dtype)


def lora(path: Path, transformer, seed: int = 0) -> Path:
    """A small LoRA file for `transformer`, with non-zero weights so it changes the output."""
    from diffusers import WanImageToVideoPipeline
    from peft import LoraConfig, get_peft_model_state_dict

    torch.manual_seed(seed)
    transformer.add_adapter(
        LoraConfig(
            r=4,
            lora_alpha=4,
            target_modules=["to_q", "to_k", "to_v", "to_out.0"],
            init_lora_weights=False,
        )  # fmt: skip
    )
    with torch.no_grad():
        for name, param in transformer.named_parameters():
            if "lora_B" in name:
                param.mul_(20.0)
    layers = get_peft_model_state_dict(transformer)
    WanImageToVideoPipeline.save_lora_weights(path, transformer_lora_layers=layers)
    return path / "pytorch_lora_weights.safetensors"


def build_all(root: Path) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    models = {
        "zit": zit(root / "zit"),
        "a14b": wan_a14b(root / "wan22_a14b"),
        "ti2v": wan_ti2v(root / "wan22_ti2v"),
        "skyreels": skyreels_df(root / "skyreels_v2_df"),
    }
    models["wan_lora"] = lora(root / "wan_lora", wan_transformer(0))
    models["zit_lora"] = lora(root / "zit_lora", zit_transformer())
    return models
