"""Z-Image Turbo keyframes: text-to-image, or image-to-image from a shot's own picture.

ZIT is trained around one megapixel; it renders at a size it likes that covers the job size
(or at the job size itself) and the result is fitted to the job. Prompts, Markdown included,
reach the text encoder unchanged.
"""

from __future__ import annotations

import math
from typing import Any

from PIL import Image

from orchestrator.engine.context import NodeContext
from orchestrator.engine.errors import UserError, warn
from orchestrator.media.images import fit_image
from orchestrator.plan.timeline import Timeline
from orchestrator.stage import KeyframeRequest
from stages.diffusion import model_folders
from stages.diffusion.adapters import use_loras
from stages.diffusion.backend import DiffusersBackend, step_callback
from stages.diffusion.rng import node_rng
from stages.diffusion.spec import RUNTIME_KEYS
from stages.diffusion.step_caches import reset_step_caches
from stages.keyframes import schedulers, tokens

RENDER_AT = ("model", "job")


class ZitKeyframes(DiffusersBackend):
    version = "1"
    group = "zit"
    config_group = "keyframes"
    pipeline = "ZImagePipeline"
    transformer_class = "ZImageTransformer2DModel"
    denoisers = ("transformer",)
    step_caches = ("none", "taylorseer")
    holds = model_folders.ZIT
    # Each candidate's seed is in its request: asking for more re-renders none of the others.
    runtime_exclude = (*RUNTIME_KEYS, "candidates")

    def __init__(
        self,
        model: str = "Tongyi-MAI/Z-Image-Turbo",
        steps: int = 8,
        guidance_scale: float = 0.0,
        render_at: str = "model",
        resolution: int = 1024,
        max_sequence_length: int = 512,
        candidates: int = 1,
        strength: float = 0.6,
        scheduler: str = "euler",
        sigmas: str = "simple",
        **settings: Any,
    ) -> None:
        super().__init__(model, **settings)
        self.steps = steps
        self.guidance_scale = guidance_scale
        self.render_at = render_at
        self.resolution = resolution
        self.max_sequence_length = max_sequence_length
        self.candidates = candidates
        self.strength = strength
        self.scheduler = scheduler
        self.sigmas = sigmas

    @property
    def cache_exclude(self) -> tuple[str, ...]:
        """ZIT's own sampler adds nothing to keys, so they stay what they were before a choice."""
        if schedulers.is_default(self.scheduler, self.sigmas):
            return (*self.runtime_exclude, "scheduler", "sigmas")
        return self.runtime_exclude

    def validate(self, timeline: Timeline) -> None:
        checks = (
            ("steps", self.steps >= 1, "must be at least 1"),
            ("candidates", self.candidates >= 1, "must be at least 1"),
            ("resolution", self.resolution >= 16, "must be at least 16"),
            ("strength", 0.0 < self.strength <= 1.0, "must be in (0, 1]"),
            ("guidance_scale", self.guidance_scale >= 0, "must be >= 0 (0 turns CFG off)"),
        )
        for key, good, message in checks:
            if not good:
                raise UserError(f"keyframes.{key}", f"{message}, got {getattr(self, key)}")
        if self.render_at not in RENDER_AT:
            raise UserError(
                "keyframes.render_at",
                f"unknown value {self.render_at!r}; expected one of {', '.join(RENDER_AT)}",
            )
        schedulers.check(self.scheduler, self.sigmas)
        super().validate(timeline)
        prompts = {f"job.shots[{s.index}].prompt": s.prompt for s in timeline.shots}
        for key, message in tokens.too_long(self.spec().source, prompts, self.max_sequence_length):
            warn(key, message)

    def prepare(self, pipe: Any) -> Any:
        if not schedulers.is_default(self.scheduler, self.sigmas):
            pipe.scheduler = schedulers.build(self.scheduler, self.sigmas, pipe.scheduler)
        return pipe

    def render(
        self, request: KeyframeRequest, image: Image.Image | None, ctx: NodeContext
    ) -> Image.Image:
        import torch

        pipe = self.pipe(ctx)
        use_loras(pipe, request.loras, self.spec())
        schedulers.seed(pipe.scheduler, request.seed)
        grid = pipe.vae_scale_factor * 2
        width, height = self.render_size(request.width, request.height, grid)
        cfg = self.guidance_scale > 0
        negative = request.negative_prompt if cfg else ""
        embeds, negative_embeds = self.encoded(
            ctx,
            f"{cfg}\0{request.prompt}\0{negative}",
            lambda: pipe.encode_prompt(
                prompt=request.prompt,
                negative_prompt=negative or None,
                do_classifier_free_guidance=cfg,
                device=pipe._execution_device,
                max_sequence_length=self.max_sequence_length,
            ),
        )
        args: dict[str, Any] = {
            "prompt_embeds": embeds,
            "negative_prompt_embeds": negative_embeds if cfg else None,
            "height": height,
            "width": width,
            "num_inference_steps": self.steps,
            "guidance_scale": self.guidance_scale,
            "generator": torch.Generator("cpu").manual_seed(request.seed),
            "output_type": "pil",
        }
        reset_step_caches(pipe, self.denoisers)
        if image is not None:
            total = max(1, int(self.steps * self.strength))
            img2img = ctx.models.get(f"{repr(self.spec())}/img2img", lambda: _img2img(pipe))
            schedulers.seed(img2img.scheduler, request.seed)
            with node_rng(request.seed, pipe._execution_device):
                result = img2img(
                    image=fit_image(image.convert("RGB"), width, height),
                    strength=self.strength,
                    callback_on_step_end=step_callback(ctx, total),
                    **args,
                )
        else:
            with node_rng(request.seed, pipe._execution_device):
                result = pipe(callback_on_step_end=step_callback(ctx, self.steps), **args)
        return fit_image(result.images[0], request.width, request.height)

    def render_size(self, width: int, height: int, grid: int) -> tuple[int, int]:
        """The size to render: the model's pixel budget in the job's aspect, covering the job."""
        if self.render_at == "job":
            scale = 1.0
        else:
            area = self.resolution * self.resolution
            scale = max(math.sqrt(area / (width * height)), 1.0)
        return _up(width * scale, grid), _up(height * scale, grid)


def _up(value: float, grid: int) -> int:
    return max(grid, math.ceil(round(value, 6) / grid) * grid)


def _img2img(pipe: Any) -> Any:
    from diffusers import ZImageImg2ImgPipeline

    return ZImageImg2ImgPipeline.from_pipe(pipe)
