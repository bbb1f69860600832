"""Schemas of the `video` group."""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import MISSING

from orchestrator.schema.bounds import bounded
from orchestrator.schema.models import LoraConfig, ModelSettings

# A clip of the video model: 4k+1 frames (checked at plan time), at most this many.
MAX_CLIP_FRAMES = 1025

GROUP = "video"
# `continuation=motion`: at most this many frames of the clip before condition the next.
MAX_MOTION_FRAMES = 33
# `continuation=latent`: at most this many latents (4 frames each) of the clip before.
MAX_MOTION_LATENTS = 8


@dataclass
class DriftConfig:
    """Synthetic drift per clip, as fractions: a warm colour cast, a brightness creep, and a
    jump of the picture right after the start frame (0 = off)."""

    color: float = bounded(0.0, 0, 1)
    brightness: float = bounded(0.0, 0, 1)
    jump: float = bounded(0.0, 0, 1)


@dataclass
class DraftVideoConfig:
    _target_: str = "stages.video.draft.DraftVideo"
    frames: int = bounded(81, 5, MAX_CLIP_FRAMES)
    fps: float = bounded(16.0, 0, 240, open_low=True)
    size_multiple: int = bounded(16, 1, 256)
    # Zoom gained over a clip (0: none; 1: twice as close) and the share of the frame panned.
    zoom: float = bounded(0.08, 0, 4)
    pan: float = bounded(0.05, 0, 1)
    drift: DriftConfig = field(default_factory=DriftConfig)
    # frame | motion: a chained clip starts from one frame, or carries on the camera motion of
    # the last `motion_frames` (2-33) frames of the clip before.
    continuation: str = "frame"
    motion_frames: int = bounded(5, 2, MAX_MOTION_FRAMES)


@dataclass
class WanVideoConfig(ModelSettings):
    _target_: str = "stages.video.wan.Wan22I2V"
    model: str = "Wan-AI/Wan2.2-I2V-A14B-Diffusers"
    # Single-file low-noise expert; `transformer` is the high-noise one.
    transformer_2: str | None = None
    # Folder or repo id whose transformer config describes the single files (default: model).
    transformer_config: str | None = None
    frames: int = bounded(81, 5, MAX_CLIP_FRAMES)
    fps: float = bounded(16.0, 0, 240, open_low=True)
    steps: int = bounded(40, 1, 1000)
    guidance_scale: float = bounded(3.5, 0, 100)
    guidance_scale_2: float | None = bounded(3.5, 0, 100)
    boundary_ratio: float | None = bounded(0.9, 0, 1)
    shift: float = bounded(5.0, 0, 100, open_low=True)
    max_sequence_length: int = bounded(512, 1, 8192)
    # The authors' (Wan2.2 shared_config.py `sample_neg_prompt`), written in the group's YAML;
    # a job's or shot's replaces it.
    negative_prompt: str = MISSING
    # frame | motion | latent: a chained clip is conditioned on one frame, or on the last
    # `motion_frames` (4k+1: 5-33) frames of the clip before, masked as known, or on its last
    # `motion_latents` stored latents, without a VAE round trip (latent: A14B only).
    continuation: str = "frame"
    motion_frames: int = bounded(5, 2, MAX_MOTION_FRAMES)
    motion_latents: int = bounded(1, 1, MAX_MOTION_LATENTS)
    # latent only: handover (the stored latents from slot 0) | svi (SVI 2.0 Pro: the chain's
    # first keyframe in slot 0, then the stored latents; for its LoRA pair, `preset=svi`).
    latent_layout: str = "handover"
    # LoRAs presets add, by name; sets merge across presets and load before `loras`.
    lora_sets: dict[str, list[LoraConfig]] = field(default_factory=dict)
    # Placeholder latents of the condition pushed this much further from the start frame's
    # (PainterI2V, against 4-step Lightning LoRAs' slow motion); 1.0: off. A14B only.
    motion_amplitude: float = bounded(1.0, 1.0, 2.0)


@dataclass
class SkyReelsVideoConfig(ModelSettings):
    _target_: str = "stages.video.skyreels.SkyReelsV2DF"
    model: str = "Skywork/SkyReels-V2-DF-1.3B-540P-Diffusers"
    # 81 + 16 more history frames = one 97-frame window per chained clip.
    frames: int = bounded(81, 5, MAX_CLIP_FRAMES)
    fps: float = bounded(24.0, 0, 240, open_low=True)
    steps: int = bounded(50, 1, 1000)
    guidance_scale: float = bounded(5.0, 0, 100)
    shift: float = bounded(5.0, 0, 100, open_low=True)
    # The model's window (97 at 540P, 121 at 720P); a longer clip is made in windows.
    base_num_frames: int = bounded(97, 5, MAX_CLIP_FRAMES)
    # Noise (timestep) put on the clean history; upstream: 20, not above 50.
    addnoise_condition: float = bounded(20.0, 0, 1000)
    ar_step: int = bounded(0, 0, 100)
    causal_block_size: int | None = bounded(None, 1, 100)
    max_sequence_length: int = bounded(512, 1, 8192)
    # The authors' (SkyReels-V2 generate_video_df.py), written in the group's YAML; a job's
    # or shot's replaces it.
    negative_prompt: str = MISSING
    # frame | motion: a chained clip starts from one frame, or continues the last
    # `motion_frames` (4k+1, upstream 17 or 37) frames of the clip before (overlap_history).
    continuation: str = "frame"
    motion_frames: int = bounded(17, 2, MAX_CLIP_FRAMES)


@dataclass
class LTX2RefineConfig:
    # The two-stage recipe: each clip made at 1/scale of the job's size, its latents upsampled
    # by the latent upsampler, then refined at full size in len(sigmas) unguided steps.
    enabled: bool = False
    # The upsampler's folder (or a pipeline folder holding latent_upsampler/); null: the
    # model folder's latent_upsampler/.
    upsampler: str | None = None
    # diffusers' STAGE_2_DISTILLED_SIGMA_VALUES; stage 2 is renoised to the first.
    sigmas: list[float] = bounded(low=0, high=1, factory=lambda: [0.909375, 0.725, 0.421875])
    # LoRAs active in stage 2 only (the distilled LoRA on the dev model).
    loras: list[LoraConfig] = field(default_factory=list)


@dataclass
class LTX2VideoConfig(ModelSettings):
    _target_: str = "stages.video.ltx2.LTX2Video"
    model: str = "Lightricks/LTX-2"
    negative_prompt: str = MISSING
    lora_sets: dict[str, list[LoraConfig]] = field(default_factory=dict)
    # 8k+1 frames (checked at plan time), sizes multiple of 32.
    frames: int = bounded(121, 9, MAX_CLIP_FRAMES)
    fps: float = bounded(24.0, 0, 240, open_low=True)
    steps: int = bounded(40, 1, 1000)
    # One sigma per step (the distilled schedule); empty: the pipeline's linear schedule.
    sigmas: list[float] = bounded(low=0, high=1, factory=list)
    guidance_scale: float = bounded(4.0, 0, 100)
    # Spatio-temporal guidance (0: off) and the transformer blocks it perturbs.
    stg_scale: float = bounded(0.0, 0, 100)
    stg_blocks: list[int] = bounded(low=0, high=1000, factory=lambda: [29])
    # Modality isolation guidance (1: off) and CFG rescale (0: off).
    modality_scale: float = bounded(1.0, 0, 100)
    guidance_rescale: float = bounded(0.0, 0, 1)
    # The audio stream's own guidance (null: the video's value).
    audio_guidance_scale: float | None = bounded(None, 0, 100)
    audio_stg_scale: float | None = bounded(None, 0, 100)
    audio_modality_scale: float | None = bounded(None, 0, 100)
    audio_guidance_rescale: float | None = bounded(None, 0, 1)
    # true: LTX-2.3 / 2.5 cross-modality timesteps; false: LTX-2.0.
    use_cross_timestep: bool = False
    # H.264 CRF a keyframe is re-compressed at before encoding (null: the model's, 0: none).
    image_crf: int | None = bounded(None, 0, 51)
    decode_timestep: float = bounded(0.0, 0, 1)
    decode_noise_scale: float | None = bounded(None, 0, 1)
    max_sequence_length: int = bounded(1024, 1, 8192)
    # frame | motion: a chained clip starts from one frame, or from the last `motion_frames`
    # (8k+1) frames of the clip before, as one multi-frame condition.
    continuation: str = "frame"
    motion_frames: int = bounded(9, 2, MAX_CLIP_FRAMES)
    # A music video: clips without a speech line follow their slice of job.soundtrack, held
    # clean as speech is.
    song_driven: bool = False
    refine: LTX2RefineConfig = field(default_factory=LTX2RefineConfig)


SCHEMAS = {
    "draft": DraftVideoConfig,
    "wan22_i2v_a14b": WanVideoConfig,
    "wan22_ti2v_5b": WanVideoConfig,
    "skyreels_v2_df": SkyReelsVideoConfig,
    "ltx2": LTX2VideoConfig,
}
