"""Wan 2.2 image-to-video segments: the A14B two-expert model and the TI2V-5B model.

A14B denoises the noisy steps with `transformer` (high-noise expert) and the rest with
`transformer_2`, switching at `boundary_ratio`; it can end a clip on a given frame
(`last_image`), which morph and closure need. TI2V-5B has one transformer and ignores
`last_image`, so those modes are refused at plan time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from typing import Any

import numpy as np
from PIL import Image

from orchestrator.engine.context import NodeContext
from orchestrator.engine.errors import UserError
from orchestrator.plan.timeline import Timeline
from orchestrator.stage import CONTINUATION_KEYS, LATENTS_FILE, LatentContext, SegmentRequest
from stages.diffusion import model_folders
from stages.diffusion.backend import DiffusersBackend, step_callback
from stages.diffusion.files import offline
from stages.diffusion.rng import node_rng
from stages.diffusion.spec import RUNTIME_KEYS
from stages.diffusion.step_caches import (
    count_calls,
    count_mag_skips,
    mag_calibration,
    reset_step_caches,
)
from stages.video.recipes import WAN_NEGATIVE_PROMPT
from stages.video.wan_amplitude import amplified
from stages.video.wan_latent import (
    TEMPORAL,
    check_latent_chain,
    conditioned_on_latents,
    conditioned_on_svi,
    handed_over,
    save_latents,
)
from stages.video.wan_motion import conditioned_on, motion_usable


class Wan22I2V(DiffusersBackend):
    # 2: prompts encoded without autograd, as the pipeline encodes them (UMT5 differed by 8e-7)
    version = "2"
    group = "wan"
    config_group = "video"
    pipeline = "WanImageToVideoPipeline"
    transformer_class = "WanTransformer3DModel"
    denoisers: tuple[str, ...] = ("transformer", "transformer_2")
    step_caches = ("none", "first_block", "taylorseer", "magcache")
    supports_last_image = True
    continuations: tuple[str, ...] = ("frame", "motion", "latent")
    # Only chained clips read them, and the negative prompt a clip uses is its request's: the
    # segment node keys them (orchestrator/render/segments.py).
    cache_exclude = RUNTIME_KEYS + CONTINUATION_KEYS + ("negative_prompt",)
    key_defaults: Mapping[str, Any] = {
        "latent_layout": "handover",
        "lora_sets": {},
        "motion_amplitude": 1.0,
    }
    latent_layouts = ("handover", "svi")
    size_multiple = 16
    holds = model_folders.A14B

    def __init__(
        self,
        model: str = "Wan-AI/Wan2.2-I2V-A14B-Diffusers",
        transformer_2: str | None = None,
        frames: int = 81,
        fps: float = 16.0,
        steps: int = 40,
        guidance_scale: float = 3.5,
        guidance_scale_2: float | None = 3.5,
        boundary_ratio: float | None = 0.9,
        shift: float = 5.0,
        max_sequence_length: int = 512,
        negative_prompt: str = WAN_NEGATIVE_PROMPT,
        continuation: str = "frame",
        motion_frames: int = 5,
        motion_latents: int = 1,
        latent_layout: str = "handover",
        motion_amplitude: float = 1.0,
        **settings: Any,
    ) -> None:
        super().__init__(model, single_files={"transformer_2": transformer_2}, **settings)
        self.continuation = continuation
        self.latent_layout = latent_layout
        self.motion_frames = motion_frames
        self.motion_latents = motion_latents
        self.motion_amplitude = motion_amplitude
        self.clip_frames = frames
        self.fps = fps
        self.steps = steps
        self.guidance_scale = guidance_scale
        self.guidance_scale_2 = guidance_scale_2
        self.boundary_ratio = boundary_ratio
        self.shift = shift
        self.max_sequence_length = max_sequence_length
        self.negative_prompt = negative_prompt

    def validate(self, timeline: Timeline) -> None:
        if self.steps < 1:
            raise UserError("video.steps", f"must be at least 1, got {self.steps}")
        if self.shift <= 0:
            raise UserError("video.shift", f"must be positive, got {self.shift}")
        if self.guidance_scale <= 1.0 and (self.guidance_scale_2 or 0.0) > 1.0:
            raise UserError(
                "video.guidance_scale_2",
                "CFG runs only when video.guidance_scale > 1, so the low-noise expert would "
                "ignore this; raise guidance_scale or set guidance_scale_2 to 1.0",
            )
        if (
            self.continuation == "motion"
            and motion_usable(self.motion_frames) != self.motion_frames
        ):
            raise UserError(
                "video.motion_frames",
                f"Wan conditions on 4k+1 frames (5, 9, 13, ...), got {self.motion_frames}",
            )
        self.check_layout(timeline)
        self.check_mag_ratios()
        self.check_experts()
        super().validate(timeline)

    def fit_frames(self, frames: int, chained: bool, context: int) -> int:
        """SVI: a chained clip's pipeline call holds the anchor's and the handed-over latents'
        frames too; capped so the call is `frames` long, as in SVI's own workflows (81 for
        81-frame clips: 77 new frames after the anchor and one handed-over latent)."""
        if not (chained and self.latent_anchor):
            return frames
        return min(frames, self.clip_frames - TEMPORAL * self.motion_latents)

    @property
    def latent_anchor(self) -> bool:
        return self.continuation == "latent" and self.latent_layout == "svi"

    def check_layout(self, timeline: Timeline) -> None:
        if self.latent_layout not in self.latent_layouts:
            raise UserError(
                "video.latent_layout",
                f"unknown value {self.latent_layout!r}; expected one of "
                f"{', '.join(self.latent_layouts)}",
            )
        if self.latent_layout == "svi" and self.continuation != "latent":
            raise UserError(
                "video.latent_layout",
                f"svi hands over stored latents, which needs video.continuation=latent, not "
                f"{self.continuation} (preset=svi sets both)",
            )
        if self.latent_anchor and self.motion_amplitude != 1.0:
            raise UserError(
                "video.motion_amplitude",
                "SVI's condition holds the handed-over latent among the unknown ones, which "
                "the amplitude would distort; set it to 1.0 with latent_layout=svi",
            )
        if self.continuation == "latent":
            check_latent_chain(timeline, anchored=self.latent_anchor)

    def check_mag_ratios(self) -> None:
        """MagCache's ratios are measured per step of one schedule; stretching them to another
        step count would move each expert's ratios across the switch between experts."""
        ratios = self.runtime.mag_ratios
        if self.runtime.step_cache != "magcache" or self.runtime.mag_calibrate or not ratios:
            return
        if len(ratios) != self.steps:
            raise UserError(
                "video.mag_ratios",
                f"has {len(ratios)} ratios but video.steps is {self.steps}; calibrate at "
                f"{self.steps} steps (video.step_cache=magcache video.mag_calibrate=true) "
                f"or set video.steps={len(ratios)}",
            )

    def check_experts(self) -> None:
        ratio = self.boundary_ratio
        if ratio is None or not 0.0 < ratio < 1.0:
            raise UserError(
                "video.boundary_ratio",
                f"must be between 0 and 1 for the two-expert model, got {ratio}",
            )

    def prepare(self, pipe: Any) -> Any:
        """The configured scheduler shift and expert boundary, whatever the folder says."""
        pipe.scheduler = self.shifted(type(pipe.scheduler), pipe.scheduler.config)
        pipe.register_to_config(boundary_ratio=self.boundary_ratio)
        return pipe

    def shifted(self, cls: Any, config: Mapping[str, Any]) -> Any:
        shift = {"flow_shift": self.shift} if "flow_shift" in config else {"shift": self.shift}
        return cls.from_config(dict(config), **shift)

    def expert_steps(self, source: str) -> tuple[int, ...]:
        """The high-noise expert's steps, then the low-noise one's, from the model's own
        scheduler with the configured shift (plan time, for MagCache's split)."""
        if self.boundary_ratio is None:
            return (self.steps,)
        import diffusers

        local = not self.allow_download or offline()
        index = diffusers.DiffusionPipeline.load_config(source, local_files_only=local)
        cls = getattr(diffusers, index["scheduler"][1])
        loaded = cls.from_pretrained(source, subfolder="scheduler", local_files_only=local)
        scheduler = self.shifted(cls, loaded.config)
        high = high_noise_steps(scheduler, self.steps, self.boundary_ratio)
        return (high, self.steps - high)

    def generate(
        self,
        request: SegmentRequest,
        start: np.ndarray,
        end: np.ndarray | None,
        ctx: NodeContext,
        *,
        context: Sequence[np.ndarray] | None = None,
        latents: LatentContext | None = None,
    ) -> Iterator[np.ndarray]:
        """With `context` the clip is made from its last 4k+1 frames, masked as known; with
        `latents` from the clip before's last stored latents (`wan_latent`). The frames before
        `start` come back first and are dropped."""
        import torch

        known = list(context[-motion_usable(len(context)) :]) if context else [start]
        handed = None
        extra = len(known) - 1
        if latents is not None:
            handed = handed_over(latents.file, latents.start_frame, self.motion_latents)
            # The first handed-over latent stands for one frame in slot 0, each further one for
            # 4; behind SVI's anchor (slot 0) every handed-over latent stands for 4.
            slots = handed.shape[2] if self.latent_anchor else handed.shape[2] - 1
            extra = TEMPORAL * slots

        pipe = self.pipe(ctx)
        cfg = self.guidance_scale > 1.0
        embeds, negative_embeds = self.umt5_encoded(
            ctx, pipe, request, cfg, self.max_sequence_length
        )
        counts: dict[str, int] = {}
        handles = count_calls(pipe, self.denoisers, counts)
        skipped: dict[str, int] = {}
        if self.runtime.step_cache == "magcache" and not self.runtime.mag_calibrate:
            handles += count_mag_skips(pipe, self.denoisers, skipped)
        measured: list[float] = []
        final: list[Any] = []
        reset_step_caches(pipe, self.denoisers)
        condition: Any = nullcontext()
        if self.latent_anchor:
            anchor = latents.anchor if latents is not None else start
            condition = conditioned_on_svi(pipe, anchor, handed)
        elif handed is not None:
            condition = conditioned_on_latents(pipe, handed)
        elif len(known) > 1:
            condition = conditioned_on(pipe, known)
        spread: Any = nullcontext()
        if self.motion_amplitude > 1.0:
            spread = amplified(pipe, self.motion_amplitude)  # wraps `condition`'s replacement
        try:
            with condition, spread, node_rng(request.seed, pipe._execution_device):
                output = pipe(
                    image=Image.fromarray(start),
                    last_image=self.last_image(end),
                    prompt_embeds=embeds,
                    negative_prompt_embeds=negative_embeds if cfg else None,
                    height=request.height,
                    width=request.width,
                    num_frames=request.num_frames + extra,
                    num_inference_steps=self.steps,
                    guidance_scale=self.guidance_scale,
                    guidance_scale_2=self.guidance_scale_2 if self.boundary_ratio else None,
                    generator=torch.Generator("cpu").manual_seed(request.seed),
                    output_type="np",
                    callback_on_step_end=self.step_end(ctx, measured, final),
                )
        finally:
            for handle in handles:
                handle.remove()
        ctx.metrics["denoiser_calls"] = counts
        if skipped:
            ctx.metrics["mag_skipped"] = skipped
        if self.runtime.mag_calibrate:
            self.report_calibration(measured, ctx)
        if self.continuation == "latent":
            save_latents(ctx.out_dir / LATENTS_FILE, final[0], first=extra // TEMPORAL)
        for frame in output.frames[0][extra:]:
            yield (np.clip(frame, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)

    def step_end(
        self, ctx: NodeContext, measured: list[float], final: list[Any]
    ) -> Callable[..., dict[str, Any]]:
        """Steps to the progress bar; after the last step the latents the pipeline is about to
        decode (continuation=latent stores them) and, when calibrating, MagCache's ratios
        (the pipeline resets its hooks before it returns)."""
        progress = step_callback(ctx, self.steps)

        def callback(pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            if step + 1 == self.steps:
                final[:] = [kwargs["latents"]]
            if self.runtime.mag_calibrate and step + 1 == self.steps:
                measured[:] = mag_calibration(pipe, self.denoisers)
            return progress(pipe, step, timestep, kwargs)

        return callback

    def report_calibration(self, measured: list[float], ctx: NodeContext) -> None:
        """The clip's measured ratios go to run.json and, as an override ready to paste, to the
        end-of-run summary."""
        ratios = [round(r, 5) for r in measured]
        if len(ratios) != self.steps:
            raise RuntimeError(f"MagCache measured {len(ratios)} steps of {self.steps}")
        ctx.metrics["mag_ratios"] = ratios
        line = f"'video.mag_ratios=[{','.join(repr(float(r)) for r in ratios)}]'"
        ctx.metrics["summary"] = {"magcache ratios (paste as an override)": line}

    def last_image(self, end: np.ndarray | None) -> Image.Image | None:
        return Image.fromarray(end) if end is not None else None


def high_noise_steps(scheduler: Any, steps: int, boundary_ratio: float) -> int:
    """How many of `steps` the high-noise expert takes: the pipeline gives it every timestep at
    or above `boundary_ratio * num_train_timesteps`, which are the first ones."""
    scheduler.set_timesteps(steps, device="cpu")
    high = scheduler.timesteps >= boundary_ratio * scheduler.config.num_train_timesteps
    count = int(high.sum())
    if not bool(high[:count].all()):
        raise RuntimeError("the high-noise expert's steps are not the first ones")
    return count


class Wan22TI2V(Wan22I2V):
    """TI2V-5B: one transformer, 121 frames at 24 fps, sizes on a 32-pixel grid."""

    denoisers = ("transformer",)
    supports_last_image = False
    # Its start frame's latent replaces the video's first at timestep 0 (expand_timesteps);
    # with motion the context frames' latents replace the first ones. No stored-latent handover.
    continuations = ("frame", "motion")
    size_multiple = 32
    holds = model_folders.TI2V

    def __init__(
        self,
        model: str = "Wan-AI/Wan2.2-TI2V-5B-Diffusers",
        frames: int = 121,
        fps: float = 24.0,
        steps: int = 50,
        guidance_scale: float = 5.0,
        guidance_scale_2: float | None = None,
        boundary_ratio: float | None = None,
        shift: float = 5.0,
        **settings: Any,
    ) -> None:
        super().__init__(
            model, frames=frames, fps=fps, steps=steps, guidance_scale=guidance_scale,
            guidance_scale_2=guidance_scale_2, boundary_ratio=boundary_ratio, shift=shift,
            **settings,
        )  # fmt: skip

    def validate(self, timeline: Timeline) -> None:
        if self.motion_amplitude != 1.0:
            raise UserError(
                "video.motion_amplitude",
                "TI2V-5B's condition is the start frame's latent alone, with no placeholder "
                "latents to amplify; set it to 1.0 (A14B only)",
            )
        super().validate(timeline)

    def check_experts(self) -> None:
        if "transformer_2" in self.single_files:
            raise UserError("video.transformer_2", "TI2V-5B has one transformer; remove it")
        if self.boundary_ratio is not None or self.guidance_scale_2 is not None:
            key = (
                "video.boundary_ratio"
                if self.boundary_ratio is not None
                else "video.guidance_scale_2"
            )
            raise UserError(key, "TI2V-5B has one transformer; set it to null")

    def last_image(self, end: np.ndarray | None) -> Image.Image | None:
        return None
