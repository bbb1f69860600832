"""A tiny random LTX-2 pipeline built in code and saved as a user's folder is.

Every component LTX-2 ships (Gemma 3 text encoder with its tokenizer, text connectors,
transformer with its audio stream, video VAE, audio VAE, vocoder) at test size, seeded, so
the folder is the same on every machine and nothing touches the network. The tokenizer is
trained in-process on the shared corpus. Output is noise; shapes, frame and sample counts are
the real pipeline's.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tiny_models import CORPUS


def gemma_tokenizer():
    """A byte-level BPE tokenizer in Gemma's clothes (pad, bos, eos; left padding)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import GemmaTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<pad>", "<eos>", "<bos>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS, trainer=trainer)
    bos = tok.token_to_id("<bos>")
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A <bos> $B", special_tokens=[("<bos>", bos)]
    )
    return GemmaTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="<eos>",
        bos_token="<bos>",
        unk_token="<unk>",
        model_max_length=512,
        padding_side="left",
    )


def gemma3(vocab: int):
    """Gemma 3 with a two-layer text model and a one-layer vision tower (never run)."""
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    config = Gemma3Config(
        text_config={
            "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2,
            "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8,
            "vocab_size": vocab, "max_position_embeddings": 512, "sliding_window": 64,
        },
        vision_config={
            "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
            "num_attention_heads": 2, "image_size": 28, "patch_size": 14,
        },
        mm_tokens_per_image=4,
    )  # fmt: skip
    torch.manual_seed(0)
    return Gemma3ForConditionalGeneration(config).eval()


def ltx2(path: Path, dtype: torch.dtype | None = None) -> Path:
    """An LTX2ConditionPipeline folder: sizes multiple of 32, clips of 8k+1 frames, 16 kHz
    stereo sound, all at test size."""
    from diffusers import (
        AutoencoderKLLTX2Audio,
        AutoencoderKLLTX2Video,
        FlowMatchEulerDiscreteScheduler,
        LTX2ConditionPipeline,
        LTX2VideoTransformer3DModel,
    )
    from diffusers.pipelines.ltx2 import LTX2TextConnectors, LTX2Vocoder

    tokenizer = gemma_tokenizer()
    text_encoder = gemma3(len(tokenizer))
    hidden, layers = 16, 2
    torch.manual_seed(0)
    transformer = LTX2VideoTransformer3DModel(
        in_channels=4, out_channels=4, patch_size=1, patch_size_t=1, num_attention_heads=2,
        attention_head_dim=8, cross_attention_dim=16, audio_in_channels=4,
        audio_out_channels=4, audio_num_attention_heads=2, audio_attention_head_dim=4,
        audio_cross_attention_dim=8, num_layers=2, qk_norm="rms_norm_across_heads",
        caption_channels=hidden, rope_double_precision=False, rope_type="split",
    )  # fmt: skip
    torch.manual_seed(0)
    connectors = LTX2TextConnectors(
        caption_channels=hidden, text_proj_in_factor=layers + 1,
        video_connector_num_attention_heads=2, video_connector_attention_head_dim=8,
        video_connector_num_layers=1, video_connector_num_learnable_registers=None,
        audio_connector_num_attention_heads=2, audio_connector_attention_head_dim=8,
        audio_connector_num_layers=1, audio_connector_num_learnable_registers=None,
        connector_rope_base_seq_len=32, rope_theta=10000.0, rope_double_precision=False,
        causal_temporal_positioning=False, rope_type="split",
    )  # fmt: skip
    torch.manual_seed(0)
    vae = AutoencoderKLLTX2Video(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8,),
        decoder_block_out_channels=(8,), layers_per_block=(1,),
        decoder_layers_per_block=(1, 1), spatio_temporal_scaling=(True,),
        decoder_spatio_temporal_scaling=(True,), decoder_inject_noise=(False, False),
        downsample_type=("spatial",), upsample_residual=(False,), upsample_factor=(1,),
        timestep_conditioning=False, patch_size=1, patch_size_t=1, encoder_causal=True,
        decoder_causal=False,
    )  # fmt: skip
    torch.manual_seed(0)
    audio_vae = AutoencoderKLLTX2Audio(
        base_channels=4, output_channels=2, ch_mult=(1, 2, 4), num_res_blocks=1,
        attn_resolutions=None, in_channels=2, resolution=32, latent_channels=2,
        norm_type="pixel", causality_axis="height", dropout=0.0, mid_block_add_attention=False,
        sample_rate=16000, mel_hop_length=160, is_causal=True, mel_bins=8,
    )  # fmt: skip
    torch.manual_seed(0)
    vocoder = LTX2Vocoder(
        in_channels=2 * 8, hidden_channels=32, out_channels=2, upsample_kernel_sizes=[20, 8, 8],
        upsample_factors=[10, 4, 4], resnet_kernel_sizes=[3], resnet_dilations=[[1, 3, 5]],
        leaky_relu_negative_slope=0.1, output_sampling_rate=16000,
    )  # fmt: skip
    pipe = LTX2ConditionPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        audio_vae=audio_vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        connectors=connectors,
        transformer=transformer,
        vocoder=vocoder,
    )
    if dtype is not None:
        pipe.to(dtype=dtype)
    pipe.save_pretrained(path)
    return path


def latent_upsampler(
    path: Path, channels: int = 4, scale: float = 2.0, temporal: bool = False
) -> Path:
    """`LTX2LatentUpsamplerModel` at test size, saved as `path` (the model folder's
    `latent_upsampler/`, or a folder of its own)."""
    from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel

    torch.manual_seed(0)
    model = LTX2LatentUpsamplerModel(
        in_channels=channels, mid_channels=32, num_blocks_per_stage=1, dims=3,
        spatial_upsample=not temporal, temporal_upsample=temporal,
        rational_spatial_scale=scale,
    )  # fmt: skip
    model.save_pretrained(path)
    return path


def lightricks_lora(path: Path, transformer, seed: int, rank: int = 4) -> Path:
    """A LoRA as Lightricks ship theirs (`ltx-2-19b-distilled-lora-384.safetensors`): the
    original model's `diffusion_model.` names, `lora_A` / `lora_B`, on every attention's
    projections of the video stream."""
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for name, module in transformer.named_modules():
        if not isinstance(module, torch.nn.Linear) or ".attn1." not in f".{name}.":
            continue
        if not name.endswith(("to_q", "to_k", "to_v", "to_out.0")):
            continue
        key = f"diffusion_model.{name}"
        state[f"{key}.lora_A.weight"] = torch.randn(rank, module.in_features, generator=generator)
        state[f"{key}.lora_B.weight"] = torch.randn(module.out_features, rank, generator=generator)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, path)
    return path


def spoken_line(path: Path, rate: int = 16000):
    """A one-second stereo "line" (220 and 330 Hz tones) written as a WAV; returns its samples."""
    import numpy as np

    from orchestrator.media.audio import write_audio

    t = np.arange(rate) / rate
    line = np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 330 * t)]) * 0.5
    write_audio(path, line.astype(np.float32), rate)
    return line
