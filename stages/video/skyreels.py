"""SkyReels-V2 diffusion forcing: clips made by extending a video from its history.

The first clip of a chain comes from its keyframe (`SkyReelsV2DiffusionForcingImageToVideo`
pipeline); with `continuation=motion` a chained clip is the V2V pipeline's continuation of the
previous clip's last `motion_frames` frames (its `overlap_history`, kept as clean latents with
`addnoise_condition` noise), which is what the model was trained to do. Both pipelines share one
set of loaded modules (`from_pipe`). Neither can end a clip on a given frame: no morph, no
`loop=closure`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from PIL import Image

from orchestrator.engine.context import NodeContext
from orchestrator.engine.errors import UserError, warn
from orchestrator.plan.timeline import Timeline
from orchestrator.stage import CONTINUATION_KEYS, SegmentRequest
from stages.diffusion import model_folders
from stages.diffusion.backend import DiffusersBackend
from stages.diffusion.rng import node_rng
from stages.diffusion.spec import RUNTIME_KEYS
from stages.video.recipes import SKYREELS_NEGATIVE_PROMPT
from stages.video.skyreels_blocks import Call, fitted, fitting
from stages.video.wan_motion import motion_usable

V2V = "SkyReelsV2DiffusionForcingVideoToVideoPipeline"


class SkyReelsV2DF(DiffusersBackend):
    # 2: the history noise (`addnoise_condition`) is drawn from the node's seed (node_rng)
    version = "2"
    group = "skyreels"
    config_group = "video"
    pipeline = "SkyReelsV2DiffusionForcingImageToVideoPipeline"
    transformer_class = "SkyReelsV2Transformer3DModel"
    supports_last_image = False
    continuations: tuple[str, ...] = ("frame", "motion")
    latent_anchor = False
    # The negative prompt a clip uses is its request's, which the segment node keys.
    cache_exclude = RUNTIME_KEYS + CONTINUATION_KEYS + ("negative_prompt",)
    size_multiple = 16
    holds = model_folders.SKYREELS_DF

    def __init__(
        self,
        model: str = "Skywork/SkyReels-V2-DF-1.3B-540P-Diffusers",
        frames: int = 81,
        fps: float = 24.0,
        steps: int = 50,
        guidance_scale: float = 5.0,
        shift: float = 5.0,
        base_num_frames: int = 97,
        addnoise_condition: float = 20.0,
        ar_step: int = 0,
        causal_block_size: int | None = None,
        max_sequence_length: int = 512,
        negative_prompt: str = SKYREELS_NEGATIVE_PROMPT,
        continuation: str = "frame",
        motion_frames: int = 17,
        **settings: Any,
    ) -> None:
        super().__init__(model, **settings)
        self.clip_frames = frames
        self.fps = fps
        self.steps = steps
        self.guidance_scale = guidance_scale
        self.shift = shift
        self.base_num_frames = base_num_frames
        self.addnoise_condition = addnoise_condition
        self.ar_step = ar_step
        self.causal_block_size = causal_block_size
        self.max_sequence_length = max_sequence_length
        self.negative_prompt = negative_prompt
        self.continuation = continuation
        self.motion_frames = motion_frames

    def validate(self, timeline: Timeline) -> None:
        if self.single_files:
            raise UserError("video.transformer", "SkyReels-V2 DF loads from a diffusers folder")
        if (self.base_num_frames - 1) % 4:
            raise UserError(
                "video.base_num_frames", f"must be 4k+1 (97, 121), got {self.base_num_frames}"
            )
        if motion_usable(self.motion_frames) != self.motion_frames:
            raise UserError(
                "video.motion_frames",
                f"the history is 4k+1 frames (17, 37 upstream), got {self.motion_frames}",
            )
        if self.motion_frames >= self.base_num_frames:
            raise UserError(
                "video.motion_frames",
                f"must be below video.base_num_frames ({self.base_num_frames}), "
                f"got {self.motion_frames}",
            )
        self.check_blocks(timeline)
        super().validate(timeline)

    @property
    def block(self) -> int:
        """Latents a causal block holds (null: the model's own, 1 in the released models)."""
        return self.causal_block_size or 1

    def call(self, frames: int, context: int) -> Call:
        return Call(frames, context, self.base_num_frames, self.motion_frames)

    def fit_frames(self, frames: int, chained: bool, context: int) -> int:
        """The planner's clip length for a clip that needs `frames`: with causal blocks, the
        nearest one whose every window holds whole blocks (`skyreels_blocks`)."""
        if self.block <= 1:
            return frames
        return fitted(self.call(frames, context), self.block, self.clip_frames)

    def check_blocks(self, timeline: Timeline) -> None:
        """Every clip's windows hold whole causal blocks, or the rest is never denoised."""
        if self.block <= 1:
            return
        for segment in timeline.segments:
            context = 1
            if segment.start_segment is not None and self.continuation == "motion":
                context = min(self.motion_frames, segment.start_frame + 1)
            call = self.call(segment.num_frames, context)
            if call.whole(self.block):
                continue
            counts = call.windows()
            lengths = fitting(call, self.block, self.clip_frames)
            history = f" after {call.known} history frames" if call.known > 1 else ""
            works = ", ".join(map(str, lengths)) or "none up to video.frames"
            raise UserError(
                "video.causal_block_size",
                f"{segment.id}: {segment.num_frames} frames{history} make windows of "
                f"{'+'.join(map(str, counts))} latents, not whole blocks of {self.block}, and "
                f"the rest would never be denoised; clips of {works} frames work (set "
                f"video.frames, or video.causal_block_size=null)",
            )
        lengths = {segment.num_frames for segment in timeline.segments}
        warn(
            "video.causal_block_size",
            f"blocks of {self.block} latents: clips are planned at lengths whose windows "
            f"hold whole blocks ({', '.join(map(str, sorted(lengths)))} frames)",
        )

    def prepare(self, pipe: Any) -> Any:
        """The configured flow shift, whatever the folder's scheduler says."""
        config = dict(pipe.scheduler.config)
        pipe.scheduler = type(pipe.scheduler).from_config(config, flow_shift=self.shift)
        return pipe

    def video_pipe(self, ctx: NodeContext) -> Any:
        """The V2V pipeline on the I2V pipeline's modules: the model is loaded once."""
        pipe = self.pipe(ctx)

        def make() -> Any:
            import diffusers

            return getattr(diffusers, V2V).from_pipe(pipe)

        return ctx.models.get(f"{self.spec()!r}/v2v", make)

    def generate(
        self,
        request: SegmentRequest,
        start: np.ndarray,
        end: np.ndarray | None,
        ctx: NodeContext,
        *,
        context: Sequence[np.ndarray] | None = None,
    ) -> Iterator[np.ndarray]:
        """With `context` (its last 4k+1 frames) the clip continues them; the pipeline returns
        the history, then its own decode of the history and the new frames: everything before
        the decoded `start` is dropped."""
        import torch

        call = self.call(request.num_frames, len(context) if context else 1)
        known = list(context[-call.known :]) if context else [start]
        pipe = self.pipe(ctx)
        cfg = self.guidance_scale > 1.0
        embeds, negative_embeds = self.umt5_encoded(
            ctx, pipe, request, cfg, self.max_sequence_length
        )
        common = {
            "prompt_embeds": embeds,
            "negative_prompt_embeds": negative_embeds if cfg else None,
            "height": request.height,
            "width": request.width,
            "num_frames": call.total,
            "num_inference_steps": self.steps,
            "guidance_scale": self.guidance_scale,
            "generator": torch.Generator("cpu").manual_seed(request.seed),
            "output_type": "np",
            "callback_on_step_end": progress(ctx),
            "max_sequence_length": self.max_sequence_length,
            "base_num_frames": call.base,
            "addnoise_condition": self.addnoise_condition,
            "ar_step": self.ar_step,
            "causal_block_size": self.causal_block_size,
            "fps": round(self.fps),
        }
        if len(known) == 1:
            with node_rng(request.seed, pipe._execution_device):
                output = pipe(image=Image.fromarray(start), overlap_history=call.overlap, **common)
            frames = output.frames[0]
        else:
            video = [Image.fromarray(frame) for frame in known]
            with node_rng(request.seed, pipe._execution_device):
                output = self.video_pipe(ctx)(video=video, overlap_history=call.overlap, **common)
            ctx.metrics["history_frames"] = len(known)
            frames = output.frames[0][2 * len(known) - 1 :]
        if len(frames) != request.num_frames:
            raise RuntimeError(f"SkyReels-V2 made {len(frames)} frames, {request.num_frames} asked")
        for frame in frames:
            yield (np.clip(frame, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def progress(ctx: NodeContext) -> Callable[..., dict[str, Any]]:
    """Steps to the progress bar; diffusion forcing's step matrix (one row per step, more with
    `ar_step`, per window) is the pipeline's own count."""

    def callback(pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        ctx.steps(step + 1, max(int(getattr(pipe, "_num_timesteps", 0) or 0), step + 1))
        return {}

    return callback
