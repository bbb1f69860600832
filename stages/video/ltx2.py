"""LTX-2 (Lightricks; LTX-2.0 / 2.3 / 2.5 open weights): picture and sound from one model.

Every clip is one call of diffusers' `LTX2ConditionPipeline`. Its conditions are frames at a
latent index (`LTX2VideoCondition`): the keyframe at index 0, an end keyframe at the last
latent (so `morph` and `loop=closure` work), and with `continuation=motion` the last 8k+1
frames of the clip before at index 0, whose decodes come back first and are dropped. The clip's
own sound is written beside it (`SOUND_FILE`), for `audio=native`. A shot with `speech` drives
its clips: the line is encoded by the audio VAE and held clean (`ltx2_sound.held_audio`), so
lips and gestures follow it; with `song_driven` every other clip follows its slice of the
job's soundtrack the same way (a music video). With `refine.enabled` every clip is made in
two calls, small then refined at full size (`ltx2_refine`, Lightricks' two-stage recipe).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import nullcontext
from fractions import Fraction
from typing import Any

import numpy as np
from PIL import Image

from orchestrator.engine.context import NodeContext
from orchestrator.engine.errors import UserError
from orchestrator.media.audio import write_audio
from orchestrator.plan.timeline import Timeline
from orchestrator.stage import CONTINUATION_KEYS, SOUND_FILE, SegmentRequest
from stages.diffusion import model_folders
from stages.diffusion.backend import DiffusersBackend, step_callback
from stages.diffusion.spec import RUNTIME_KEYS
from stages.video.ltx2_refine import (
    CALL_MULTIPLE,
    STAGE_2_SIGMAS,
    Refine,
    Upsampler,
    check_refine,
    find_upsampler,
    load_upsampler,
    size_multiple,
    two_stage_call,
)
from stages.video.ltx2_sound import (
    audio_latent_count,
    clip_sound,
    held_audio,
    speech_latents,
    speech_window,
)
from stages.video.recipes import LTX2_NEGATIVE_PROMPT
from stages.video.wan_motion import motion_usable

# LTX-2's video VAE packs 8 frames into a latent (after the first) and 32 pixels a side.
TEMPORAL = 8


class LTX2Video(DiffusersBackend):
    version = "1"
    group = "ltx2"
    config_group = "video"
    pipeline = "LTX2ConditionPipeline"
    transformer_class = "LTX2VideoTransformer3DModel"
    supports_last_image = True
    continuations: tuple[str, ...] = ("frame", "motion")
    latent_anchor = False
    motion_latents = 1
    cache_exclude = RUNTIME_KEYS + CONTINUATION_KEYS + ("negative_prompt",)
    # The two-stage recipe came later: clips made without it keep their keys.
    key_defaults: Mapping[str, Any] = {
        "refine": {"enabled": False, "upsampler": None, "sigmas": list(STAGE_2_SIGMAS),
                   "loras": []},
    }  # fmt: skip
    frame_step = TEMPORAL
    # Each clip's entry holds its sound (`audio=native`); a shot's speech drives its clips.
    makes_sound = True
    speech_driven = True
    holds = model_folders.LTX2

    def __init__(
        self,
        model: str = "Lightricks/LTX-2",
        frames: int = 121,
        fps: float = 24.0,
        steps: int = 40,
        sigmas: Sequence[float] = (),
        guidance_scale: float = 4.0,
        stg_scale: float = 0.0,
        stg_blocks: Sequence[int] = (29,),
        modality_scale: float = 1.0,
        guidance_rescale: float = 0.0,
        audio_guidance_scale: float | None = None,
        audio_stg_scale: float | None = None,
        audio_modality_scale: float | None = None,
        audio_guidance_rescale: float | None = None,
        use_cross_timestep: bool = False,
        image_crf: int | None = None,
        decode_timestep: float = 0.0,
        decode_noise_scale: float | None = None,
        max_sequence_length: int = 1024,
        continuation: str = "frame",
        motion_frames: int = 9,
        song_driven: bool = False,
        negative_prompt: str = LTX2_NEGATIVE_PROMPT,
        refine: Mapping[str, Any] | None = None,
        **settings: Any,
    ) -> None:
        super().__init__(model, **settings)
        self.clip_frames = frames
        self.fps = fps
        self.steps = steps
        self.sigmas = tuple(sigmas)
        self.guidance_scale = guidance_scale
        self.stg_scale = stg_scale
        self.stg_blocks = tuple(stg_blocks)
        self.modality_scale = modality_scale
        self.guidance_rescale = guidance_rescale
        self.audio_guidance_scale = audio_guidance_scale
        self.audio_stg_scale = audio_stg_scale
        self.audio_modality_scale = audio_modality_scale
        self.audio_guidance_rescale = audio_guidance_rescale
        self.use_cross_timestep = use_cross_timestep
        self.image_crf = image_crf
        self.decode_timestep = decode_timestep
        self.decode_noise_scale = decode_noise_scale
        self.max_sequence_length = max_sequence_length
        self.continuation = continuation
        self.motion_frames = motion_frames
        self.song_driven = song_driven
        self.negative_prompt = negative_prompt
        self.refine = Refine.from_config(refine)
        self._upsampler: Upsampler | None = None

    @property
    def size_multiple(self) -> int:
        """32 (the pipeline's check); with the two-stage recipe, so that the first call's
        size (the job's over the upsampler's scale) is one too."""
        if not self.refine.enabled:
            return CALL_MULTIPLE
        try:
            scale = self.upsampler().scale
        except UserError:
            scale = Fraction(2)  # validate names what is wrong (stills need no video model)
        return size_multiple(scale)

    def upsampler(self) -> Upsampler:
        """Plan time: the refine upsampler, checked against the model folder."""
        if self._upsampler is None:
            source = self.spec().source
            self._upsampler = find_upsampler(self.refine, source, self.allow_download)
        return self._upsampler

    def validate(self, timeline: Timeline) -> None:
        if self.single_files:
            raise UserError("video.transformer", "LTX-2 loads from a diffusers folder")
        if self.sigmas and len(self.sigmas) != self.steps:
            raise UserError(
                "video.sigmas",
                f"has {len(self.sigmas)} values but video.steps is {self.steps}; give one per step",
            )
        motion = self.continuation == "motion"
        if motion and motion_usable(self.motion_frames, TEMPORAL) != self.motion_frames:
            raise UserError(
                "video.motion_frames",
                f"LTX-2 conditions on 8k+1 frames (9, 17, 25), got {self.motion_frames}",
            )
        if self.song_driven and timeline.soundtrack is None:
            raise UserError(
                "video.song_driven", "drives each clip with its slice of job.soundtrack: set one"
            )
        super().validate(timeline)
        self.check_stg_blocks()
        if self.refine.enabled:
            check_refine(self.refine)
            self.upsampler()

    def check_stg_blocks(self) -> None:
        """Spatio-temporal guidance skips the named transformer blocks; one past the model's
        last would be skipped silently (the guidance then does nothing)."""
        if not (self.stg_scale > 0 or (self.audio_stg_scale or 0) > 0):
            return
        if not self.stg_blocks:
            raise UserError("video.stg_blocks", "STG needs the blocks it perturbs (29 on LTX-2.0)")
        config = model_folders.read_json(self.spec().source, "transformer/config.json") or {}
        layers = config.get("num_layers")
        bad = [b for b in self.stg_blocks if layers is not None and not 0 <= b < layers]
        if bad:
            raise UserError(
                "video.stg_blocks",
                f"block {bad[0]} is not in the model's {layers} transformer blocks "
                f"(0-{layers - 1})",
            )

    def embeddings(self, ctx: NodeContext, pipe: Any, request: SegmentRequest) -> Any:
        """(embeds, mask, negative embeds, negative mask), once per run and prompt."""
        cfg = self.guidance_scale > 1.0
        prompt, negative = request.prompt, request.negative_prompt
        return self.encoded(
            ctx,
            f"{cfg}\0{self.max_sequence_length}\0{prompt}\0{negative}",
            lambda: pipe.encode_prompt(
                prompt=prompt,
                negative_prompt=negative,
                do_classifier_free_guidance=cfg,
                max_sequence_length=self.max_sequence_length,
                device=pipe._execution_device,
            ),
        )

    def conditions(
        self, pipe: Any, known: Sequence[np.ndarray], end: np.ndarray | None, total: int
    ) -> list[Any]:
        """The start frame (or the context frames) at latent 0; the end frame at the last
        (the pipeline reads a condition's index in latents)."""
        from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition

        frames: Any = [Image.fromarray(f) for f in known]
        if len(known) == 1:
            frames = frames[0]
        conditions = [LTX2VideoCondition(frames=frames, index=0, crf=self.image_crf)]
        if end is not None:
            last = (total - 1) // pipe.vae_temporal_compression_ratio
            conditions.append(
                LTX2VideoCondition(frames=Image.fromarray(end), index=last, crf=self.image_crf)
            )
        return conditions

    def call_args(self, request: SegmentRequest, total: int, ctx: NodeContext) -> dict[str, Any]:
        """Everything but the conditions, prompt and audio: the sampler and guidance settings."""
        import torch

        return {
            "height": request.height,
            "width": request.width,
            "num_frames": total,
            "frame_rate": float(request.fps),
            "num_inference_steps": self.steps,
            "sigmas": list(self.sigmas) or None,
            "guidance_scale": self.guidance_scale,
            "stg_scale": self.stg_scale,
            "modality_scale": self.modality_scale,
            "guidance_rescale": self.guidance_rescale,
            "audio_guidance_scale": self.audio_guidance_scale,
            "audio_stg_scale": self.audio_stg_scale,
            "audio_modality_scale": self.audio_modality_scale,
            "audio_guidance_rescale": self.audio_guidance_rescale,
            "spatio_temporal_guidance_blocks": list(self.stg_blocks),
            "use_cross_timestep": self.use_cross_timestep,
            "decode_timestep": self.decode_timestep,
            "decode_noise_scale": self.decode_noise_scale,
            "generator": torch.Generator("cpu").manual_seed(request.seed),
            "output_type": "np",
            "callback_on_step_end": step_callback(ctx, self.steps),
            "max_sequence_length": self.max_sequence_length,
        }

    def two_stages(self, ctx: NodeContext, pipe: Any, call: Any, kwargs: dict[str, Any]) -> Any:
        """The clip's two calls; the upsampler loads once per run, beside the pipeline."""
        upsampler = self.upsampler()
        model = self.cached(
            ctx,
            "upsampler",
            f"{upsampler.source}\0{upsampler.subfolder}",
            lambda: load_upsampler(upsampler, self.spec()),
        )
        return two_stage_call(
            call, kwargs, pipe=pipe, model=model, refine=self.refine, scale=upsampler.scale,
            spec=self.spec(), ctx=ctx,
        )  # fmt: skip

    def generate(
        self,
        request: SegmentRequest,
        start: np.ndarray,
        end: np.ndarray | None,
        ctx: NodeContext,
        *,
        context: Sequence[np.ndarray] | None = None,
    ) -> Iterator[np.ndarray]:
        """With `context` (its last 8k+1 frames) the clip continues them: the pipeline makes
        them again first, then the new frames; everything before the decoded `start` is
        dropped, and so is their stretch of the sound."""
        known = list(context[-motion_usable(len(context), TEMPORAL) :]) if context else [start]
        extra = len(known) - 1
        total = request.num_frames + extra
        pipe = self.pipe(ctx)
        embeds, mask, negative, negative_mask = self.embeddings(ctx, pipe, request)
        kwargs = self.call_args(request, total, ctx)
        held: Any = nullcontext()
        if request.speech is not None:
            rate, fps = pipe.audio_sampling_rate, float(request.fps)
            length = round(total / fps * rate)
            channels = pipe.audio_vae.config.in_channels
            begin = request.speech_at - extra / fps
            samples = speech_window(request.speech, rate, channels, begin, length)
            latents = speech_latents(pipe, samples, audio_latent_count(pipe, total, fps))
            kwargs["audio_latents"] = latents
            held = held_audio(pipe, latents)
            ctx.metrics["speech_latents"] = int(latents.shape[2])
        conditions = self.conditions(pipe, known, end, total)

        def call(**more: Any) -> Any:
            return pipe(
                conditions=conditions,
                prompt_embeds=embeds,
                prompt_attention_mask=mask,
                negative_prompt_embeds=negative,
                negative_prompt_attention_mask=negative_mask,
                **more,
            )

        with held:
            output = (
                self.two_stages(ctx, pipe, call, kwargs) if self.refine.enabled else call(**kwargs)
            )
        if extra:
            ctx.metrics["context_frames"] = len(known)
        frames = output.frames[0][extra:]
        if len(frames) != request.num_frames:
            raise RuntimeError(f"LTX-2 made {len(frames)} frames, {request.num_frames} asked")
        sound = clip_sound(output.audio)
        rate = int(pipe.vocoder.config.output_sampling_rate)
        skip = round(extra / float(request.fps) * rate)
        write_audio(ctx.out_dir / SOUND_FILE, sound[:, skip:] if skip else sound, rate)
        for frame in frames:
            yield (np.clip(frame, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
