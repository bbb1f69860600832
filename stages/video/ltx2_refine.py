"""LTX-2's two-stage recipe: a clip made small, its latents upsampled, then refined at full size.

Lightricks' `ti2vid_two_stages` and diffusers' LTX-2 "Two-stages Generation" make each clip at
1/scale of the wanted size with the model's own steps and guidance, upsample its video latents
with Lightricks' latent upsampler (`LTX2LatentUpsamplerModel`, x2), and hand them, with the
clip's audio latents, to a second call at full size: renoised to the first of three stage-2
sigmas, three steps without guidance, with the distilled LoRA on the dev model. The keyframe
and context conditions are the same in both calls, each at its call's size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from orchestrator.engine.context import NodeContext
from orchestrator.engine.errors import UserError
from orchestrator.plan.timeline import Lora
from stages.diffusion import model_folders
from stages.diffusion.adapters import use_loras
from stages.diffusion.backend import step_callback
from stages.diffusion.files import locate, offline
from stages.diffusion.spec import PipelineSpec, check_loras, resolve_device, resolve_dtype

# diffusers.pipelines.ltx2.utils.STAGE_2_DISTILLED_SIGMA_VALUES (Lightricks ltx-pipelines
# `STAGE_2_DISTILLED_SIGMA_VALUES`): the stage-2 schedule, renoised to its first value.
STAGE_2_SIGMAS = (0.909375, 0.725, 0.421875)
UPSAMPLER = "LTX2LatentUpsamplerModel"
SUBFOLDER = "latent_upsampler"
# The pipeline's own size check: every call's width and height are multiples of 32.
CALL_MULTIPLE = 32
# What diffusers' rational resampler can scale by (latent_upsampler.py), upsampling ones only.
SCALES = (Fraction(3, 2), Fraction(2), Fraction(4))
# Stage 2 samples without guidance (Lightricks' stage 2 runs its plain denoiser).
UNGUIDED = {
    "guidance_scale": 1.0, "stg_scale": 0.0, "modality_scale": 1.0, "guidance_rescale": 0.0,
    "audio_guidance_scale": 1.0, "audio_stg_scale": 0.0, "audio_modality_scale": 1.0,
    "audio_guidance_rescale": 0.0,
}  # fmt: skip


@dataclass(frozen=True)
class Refine:
    """`video.refine`: off, or the upsampler (null: the model folder's `latent_upsampler/`),
    the stage-2 sigmas and the LoRAs active only in stage 2."""

    enabled: bool = False
    upsampler: str | None = None
    sigmas: tuple[float, ...] = STAGE_2_SIGMAS
    loras: tuple[Lora, ...] = field(default_factory=tuple)

    @classmethod
    def from_config(cls, values: Mapping[str, Any] | None) -> Refine:
        values = dict(values or {})
        loras = tuple(Lora(**dict(lora)) for lora in values.pop("loras", ()))
        sigmas = tuple(float(s) for s in values.pop("sigmas", STAGE_2_SIGMAS))
        return cls(sigmas=sigmas, loras=loras, **values)


@dataclass(frozen=True)
class Upsampler:
    """Where the latent upsampler's weights are, and the spatial scale it upsamples by."""

    source: str
    subfolder: str | None
    scale: Fraction


def check_refine(refine: Refine) -> None:
    """Plan time: a schedule the stage-2 call can take, LoRA files that are there."""
    sigmas = refine.sigmas
    if not sigmas:
        raise UserError("video.refine.sigmas", "is empty; stage 2 needs at least one step")
    if not all(0 < s <= 1 for s in sigmas):
        raise UserError("video.refine.sigmas", f"must lie in (0, 1], got {list(sigmas)}")
    if any(b >= a for a, b in zip(sigmas, sigmas[1:], strict=False)):
        raise UserError("video.refine.sigmas", f"must fall step by step, got {list(sigmas)}")
    keys = [f"video.refine.loras[{i}]" for i in range(len(refine.loras))]
    check_loras(refine.loras, keys, experts=False)


def find_upsampler(refine: Refine, model: str, allow_download: bool) -> Upsampler:
    """Plan time: the upsampler folder (or cached repo) holds an LTX-2 spatial latent upsampler
    for this model's latents; one line naming `video.refine.upsampler` when it does not."""
    key = "video.refine.upsampler"
    if refine.upsampler is None:
        if model_folders.read_json(model, f"{SUBFOLDER}/config.json") is None:
            raise UserError(
                key,
                f"{model} has no {SUBFOLDER}/ folder; set {key} to the folder of the LTX-2 "
                f"latent upsampler (Lightricks/LTX-2 ships one in {SUBFOLDER}/)",
            )
        source, subfolder = model, SUBFOLDER
    else:
        source, subfolder = _located(refine.upsampler, key, allow_download)
    marker = f"{subfolder}/config.json" if subfolder else "config.json"
    config = model_folders.read_json(source, marker)
    if config is None:  # a download the user allowed: checked when it loads
        return Upsampler(source, subfolder, Fraction(2))
    where = f"{source}/{marker}"
    if config.get("_class_name") != UPSAMPLER:
        raise UserError(key, f"{where} holds {config.get('_class_name')!r}, not {UPSAMPLER}")
    if config.get("temporal_upsample") or not config.get("spatial_upsample", True):
        raise UserError(key, f"{where} is not a spatial upsampler; stage 2 takes a spatial one")
    vae = model_folders.read_json(model, "vae/config.json") or {}
    channels, wanted = config.get("in_channels", 128), vae.get("latent_channels")
    if wanted is not None and channels != wanted:
        raise UserError(
            key,
            f"{where} takes {channels}-channel latents but the model's VAE makes {wanted} "
            f"(an upsampler of another LTX version?)",
        )
    scale = Fraction(2)
    if config.get("use_rational_resampler", True):
        scale = Fraction(config.get("rational_spatial_scale", 2.0)).limit_denominator(8)
    if scale not in SCALES:
        raise UserError(key, f"{where} scales by {float(scale)}; stage 2 takes 1.5, 2 or 4")
    return Upsampler(source, subfolder, scale)


def _located(ref: str, key: str, allow_download: bool) -> tuple[str, str | None]:
    """A pipeline folder with `latent_upsampler/`, or the model folder itself."""
    folder = Path(ref).expanduser()
    if folder.is_file():
        raise UserError(
            key,
            f"{folder} is one file; give the diffusers folder of an {UPSAMPLER} (a conversion "
            f"of Lightricks' spatial upscaler, or the model's {SUBFOLDER}/)",
        )
    if folder.is_dir():
        if (folder / SUBFOLDER / "config.json").is_file():
            return str(folder), SUBFOLDER
        if (folder / "config.json").is_file():
            return str(folder), None
        raise UserError(
            key, f"{folder} is not a latent upsampler folder (no config.json or {SUBFOLDER}/)"
        )
    source = locate(ref, key, allow_download, marker=f"{SUBFOLDER}/config.json")
    return source, SUBFOLDER


def first_size(width: int, height: int, scale: Fraction) -> tuple[int, int]:
    """Stage 1's size: the wanted one divided by the upsampler's scale."""
    return int(width / scale), int(height / scale)


def size_multiple(scale: Fraction) -> int:
    """What the wanted size must be a multiple of, so both calls' sizes are multiples of 32."""
    return CALL_MULTIPLE * scale.numerator


def load_upsampler(upsampler: Upsampler, spec: PipelineSpec) -> Any:
    """The upsampler in the pipeline's dtype: on its device, or on the CPU when the pipeline
    offloads (it moves to the device for its one call per clip)."""
    from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel

    device = resolve_device(spec.device)
    model = LTX2LatentUpsamplerModel.from_pretrained(
        upsampler.source,
        subfolder=upsampler.subfolder,
        dtype=resolve_dtype(spec.dtype, device),
        local_files_only=not spec.allow_download or offline(),
    )
    return model.to("cpu" if spec.runtime.offload != "none" else device).eval()


def upsampled(pipe: Any, model: Any, latents: Any) -> Any:
    """Stage 1's latents through diffusers' `LTX2LatentUpsamplePipeline` sharing the pipeline's
    VAE, as diffusers' recipe runs it (unnormalised latents in, no AdaIN, no tone mapping); the
    upsampler visits the pipeline's device for the call when the pipeline offloads."""
    from diffusers.pipelines.ltx2 import LTX2LatentUpsamplePipeline

    upsample = LTX2LatentUpsamplePipeline(vae=pipe.vae, latent_upsampler=model)
    upsample.set_progress_bar_config(disable=True)
    home = next(model.parameters()).device
    model.to(latents.device)
    try:
        return upsample(latents=latents, output_type="latent", return_dict=False)[0]
    finally:
        model.to(home)


@contextmanager
def stage_two(pipe: Any, loras: Sequence[Lora], spec: PipelineSpec) -> Iterator[None]:
    """While open, the pipeline takes the stage-2 sigmas as they are (no dynamic shift, as
    diffusers' recipe sets its scheduler; the same for a folder's own audio scheduler, but
    not for held speech's) and the refine LoRAs are active."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    def unshifted(scheduler: Any) -> Any:
        if not hasattr(scheduler, "config"):
            return scheduler
        return FlowMatchEulerDiscreteScheduler.from_config(
            scheduler.config, use_dynamic_shifting=False, shift_terminal=None
        )

    before = pipe.scheduler, pipe.audio_scheduler
    pipe.scheduler, pipe.audio_scheduler = (unshifted(s) for s in before)
    if loras:
        use_loras(pipe, [(lora.path, lora.scale) for lora in loras], spec)
    try:
        yield
    finally:
        pipe.scheduler, pipe.audio_scheduler = before
        if loras:
            use_loras(pipe, (), spec)


def two_stage_call(
    call: Callable[..., Any],
    kwargs: dict[str, Any],
    *,
    pipe: Any,
    model: Any,
    refine: Refine,
    scale: Fraction,
    spec: PipelineSpec,
    ctx: NodeContext,
) -> Any:
    """Both calls of one clip (`call` is the pipeline with its conditions and prompt bound):
    the output of the second, at the size `kwargs` asks for."""
    steps, sigmas = kwargs["num_inference_steps"], list(refine.sigmas)
    total = steps + len(sigmas)
    width, height = first_size(kwargs["width"], kwargs["height"], scale)
    progress = step_callback(ctx, total)
    first = call(**kwargs | {"width": width, "height": height, "output_type": "latent",
                             "callback_on_step_end": progress})  # fmt: skip
    ctx.metrics["first_stage_size"] = f"{width}x{height}"
    latents = upsampled(pipe, model, first.frames)
    second = (
        kwargs
        | UNGUIDED
        | {
            "num_inference_steps": len(sigmas),
            "sigmas": sigmas,
            "noise_scale": sigmas[0],
            "latents": latents,
            "audio_latents": first.audio,
            "callback_on_step_end": step_callback(ctx, total, done=steps),
        }
    )
    with stage_two(pipe, refine.loras, spec):
        return call(**second)
