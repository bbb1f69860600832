"""Wan 2.2 I2V conditioned on the previous clip's latents (`video.continuation=latent`).

With `frame` or `motion` a chained clip's condition is the VAE encoding of pixels that were
themselves decoded from the clip before: a decode/encode round trip per seam, where colour
creeps. Here each clip stores its final latents (denoised, before the decode, in the
pipeline's normalised latent space) and the next clip's condition starts with the last
`motion_latents` of them, untouched; the encoder is not called.

The Wan VAE packs 4 frames per latent after a first latent that holds one frame. The last
latent of a clip packs its last 4 frames, ending on the last one, so a chained clip must start
on a frame 4k of the clip before (checked at plan time). In the new clip the first handed-over
latent sits in slot 0, which the decoder reads as one frame: the clip's frame 0 reproduces the
start frame; each further latent adds 4 known frames, which are made and then dropped like
`motion`'s context frames. The padding after them is zeros in the normalised latent space (as
SVI 2.0 Pro's layout, `svi_condition`), not the encoding of grey frames diffusers uses: that
would need the encoder, and its causal convolutions make it depend on the frames before.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.engine.errors import UserError
from orchestrator.plan.timeline import Timeline
from orchestrator.stage import LATENT_FRAMES
from stages.video.wan_motion import (
    Grid,
    condition_frames,
    condition_replaced,
    encoded_condition,
    known_mask,
)

TEMPORAL = LATENT_FRAMES
KEY = "latents"
# The latent index whose last pixel frame is the clip's frame 0 (> 0 when the clip was made
# after handed-over latents, whose frames it dropped).
FIRST = "first"


def save_latents(path: Path, latents: Any, first: int) -> None:
    """One clip's final latents, (1, C, T, h, w), as they left the last denoising step."""
    from safetensors.torch import save_file

    tensor = latents[:1].detach().to("cpu").contiguous()
    save_file({KEY: tensor}, str(path), metadata={FIRST: str(first)})


def handed_over(path: Path, start_frame: int, count: int) -> Any:
    """The last `count` stored latents up to the one ending on `start_frame` (fewer when the
    clip has fewer): exactly the stored values, (1, C, n, h, w)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as stored:
        first = int(stored.metadata()[FIRST])
        latents = stored.get_tensor(KEY)
    if start_frame % TEMPORAL:
        raise RuntimeError(f"frame {start_frame} does not end a latent (every {TEMPORAL}th does)")
    last = first + start_frame // TEMPORAL
    if last >= latents.shape[2]:
        raise RuntimeError(f"frame {start_frame} is past the {latents.shape[2]} stored latents")
    return latents[:, :, max(last + 1 - count, 0) : last + 1]


def conditioned_on_latents(pipe: Any, known: Any) -> AbstractContextManager[None]:
    """While open, `pipe`'s condition is `known` (normalised latents, slot 0 on) followed by
    zeros, its mask marking the pixel frames they stand for as known. The pipeline must be
    asked for `4 * (n - 1)` frames more than the clip; they come back first."""
    if pipe.config.expand_timesteps:
        raise RuntimeError("latent continuation needs the A14B condition (expand_timesteps off)")

    def condition(grid: Grid, image: Any, last_image: Any) -> Any:
        if last_image is not None:
            raise RuntimeError("latent continuation cannot end a clip on a given frame")
        cond = latent_condition(known, grid.latent_frames).to(device=grid.device, dtype=grid.dtype)
        cond = cond.repeat(grid.batch, 1, 1, 1, 1)
        count = 1 + grid.temporal * (known.shape[2] - 1)
        mask = known_mask(
            grid.batch, grid.num_frames, count, 0, grid.temporal, grid.lat_h, grid.lat_w
        )
        return torch_cat([mask.to(cond.device, cond.dtype), cond])

    return condition_replaced(pipe, condition)


def conditioned_on_svi(
    pipe: Any, anchor: np.ndarray, previous: Any | None
) -> AbstractContextManager[None]:
    """While open, `pipe`'s condition is SVI 2.0 Pro's (`svi_condition`): `anchor` (the chain's
    first keyframe) encoded alone in slot 0, then `previous` (stored latents of the clip
    before, none for a chain's first clip), then zeros; only the anchor's frame is known. For
    a chained clip the pipeline must be asked for `4 * n` frames more than the clip (the
    anchor's frame and the handed-over latents' frames), which come back first."""
    if pipe.config.expand_timesteps:
        raise RuntimeError("the SVI layout needs the A14B condition (expand_timesteps off)")

    def condition(grid: Grid, image: Any, last_image: Any) -> Any:
        if last_image is not None:
            raise RuntimeError("the SVI layout cannot end a clip on a given frame")
        pixels = condition_frames(pipe, [anchor], grid.height, grid.width)
        encoded = encoded_condition(pipe, pixels.to(image.device, image.dtype), grid)
        moved = None if previous is None else previous.to(device=grid.device, dtype=grid.dtype)
        count = 0 if moved is None else moved.shape[2]
        cond = svi_condition(encoded, moved, count, grid.latent_frames)
        mask = svi_mask(grid.batch, grid.num_frames, grid.lat_h, grid.lat_w)
        return torch_cat([mask.to(cond.device, cond.dtype), cond])

    return condition_replaced(pipe, condition)


def latent_condition(known: Any, frames: int) -> Any:
    """`known` in the first slots of a `frames`-latent condition, zeros after."""
    import torch

    pad = known.new_zeros(*known.shape[:2], frames - known.shape[2], *known.shape[3:])
    return torch.cat([known, pad], dim=2)


def svi_condition(anchor: Any, previous: Any | None, motion_latents: int, frames: int) -> Any:
    """SVI 2.0 Pro's condition, in the normalised latent space: slot 0 (and on, if it has more)
    the anchor (the shot's keyframe encoded as one image), then the last `motion_latents`
    latents of the previous clip (none for a shot's first clip), then zeros up to `frames`
    latents. Its mask marks only the first pixel frame known (`svi_mask`). Layout as kijai's
    WanVideoSVIProEmbeds and KJNodes' WanImageToVideoSVIPro build it; their padding is zeros
    taken out of the normalised space, i.e. zeros in it."""
    parts = [anchor]
    if previous is not None and motion_latents:
        tail = previous[:, :, previous.shape[2] - motion_latents :]
        parts.append(tail.expand(anchor.shape[0], *tail.shape[1:]))
    return latent_condition(torch_cat(parts, dim=2), frames)


def svi_mask(batch: int, num_frames: int, lat_h: int, lat_w: int) -> Any:
    """SVI 2.0 Pro's mask: only the anchor's frame known, whatever follows it."""
    return known_mask(batch, num_frames, 1, 0, TEMPORAL, lat_h, lat_w)


def torch_cat(parts: list[Any], dim: int = 1) -> Any:
    import torch

    return torch.cat(parts, dim=dim)


def check_latent_chain(timeline: Timeline, anchored: bool) -> None:
    """A chained clip takes over whole latents, so it starts on a frame that ends one (4k) and
    cannot also end on a keyframe (that would need the encoder for the end frame). SVI's
    layout has no slot for an end frame in any clip."""
    for segment in timeline.segments:
        if anchored and segment.end_keyframe is not None:
            raise UserError(
                "video.latent_layout",
                f"svi cannot end {segment.id} on a keyframe (morph or loop=closure); use "
                "job.transition=cut|continue and loop=none|pingpong, or continuation=motion",
            )
        if segment.start_segment is None:
            continue
        if segment.end_keyframe is not None:
            raise UserError(
                "video.continuation",
                f"latent cannot chain {segment.id}, which ends on a keyframe (morph or "
                "loop=closure); use motion",
            )
        if segment.start_frame % TEMPORAL:
            raise UserError(
                "video.continuation",
                f"latent hands over whole latents ({TEMPORAL} frames each), but {segment.id} "
                f"starts at frame {segment.start_frame} of the clip before (overlap_frames 0, 5, "
                "9, ... and shots whose clips keep 4k+1 frames align them); or use motion",
            )
