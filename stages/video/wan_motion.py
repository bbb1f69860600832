"""Wan 2.2 I2V conditioned on several frames (`video.continuation=motion`).

diffusers' `WanImageToVideoPipeline.prepare_latents` builds the condition video from one image
(first frame known, the rest zeros, optionally a known last frame) and a mask marking the known
frames. A model that sees one still restarts the motion at every seam; given the previous
clip's last frames, all masked as known (kijai's WanVideoWrapper does this with its batch of
start images), it carries the motion on. `conditioned_on` swaps in a `prepare_latents`
(`condition_replaced`, shared with `wan_latent`) that puts those frames at the start of the
condition video and marks them known, for one call of the pipeline: its `__call__` is
diffusers' own, not a fork.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image


def motion_usable(count: int, temporal: int = 4) -> int:
    """How many of `count` context frames Wan can condition on: 1 + a multiple of its VAE's
    temporal factor, so the clip it makes (context + new frames) is still 4k+1 long."""
    return (count - 1) // temporal * temporal + 1


@dataclass(frozen=True)
class Grid:
    """What a replaced `prepare_latents` is asked for: the clip in pixels and in latents."""

    batch: int
    num_frames: int
    height: int
    width: int
    temporal: int
    latent_frames: int
    lat_h: int
    lat_w: int
    device: Any
    dtype: Any


# The condition a pipeline's `prepare_latents` returns after the noise (a tuple: several).
Condition = Callable[[Grid, Any, Any], Any]


@contextmanager
def condition_replaced(pipe: Any, condition: Condition) -> Iterator[None]:
    """While open, `pipe.prepare_latents` draws the starting noise as diffusers' own does and
    takes the condition (mask and latents, joined on channels) from `condition(grid, image,
    last_image)`, for one call of the pipeline's own `__call__`."""

    def prepare_latents(
        image: Any,
        batch_size: int,
        num_channels_latents: int = 16,
        height: int = 480,
        width: int = 832,
        num_frames: int = 81,
        dtype: Any = None,
        device: Any = None,
        generator: Any = None,
        latents: Any = None,
        last_image: Any = None,
    ) -> tuple[Any, ...]:
        temporal, spatial = pipe.vae_scale_factor_temporal, pipe.vae_scale_factor_spatial
        grid = Grid(
            batch_size, num_frames, height, width, temporal, (num_frames - 1) // temporal + 1,
            height // spatial, width // spatial, device, dtype,
        )  # fmt: skip
        shape = (batch_size, num_channels_latents, grid.latent_frames, grid.lat_h, grid.lat_w)
        noise = initial_noise(shape, generator, device, dtype, latents)
        made = condition(grid, image, last_image)
        # TI2V-5B's pipeline (expand_timesteps) takes the condition and its first-frames mask.
        return (noise, *made) if isinstance(made, tuple) else (noise, made)

    pipe.prepare_latents = prepare_latents
    try:
        yield
    finally:
        del pipe.prepare_latents


def conditioned_on(pipe: Any, frames: Sequence[np.ndarray]) -> AbstractContextManager[None]:
    """While open, `pipe`'s condition video starts with `frames` (oldest first; the last is the
    `image` the pipeline is given) and its mask marks them known. The pipeline must then be
    asked for `len(frames) - 1` frames more than the clip: they come back as its first frames."""
    if pipe.config.expand_timesteps:
        return replaced_first_latents(pipe, frames)

    def condition(grid: Grid, image: Any, last_image: Any) -> Any:
        import torch

        known = condition_frames(pipe, frames, grid.height, grid.width)
        known = known.to(image.device, image.dtype)
        count = known.shape[2]
        tail = 0 if last_image is None else 1
        parts = [
            known,
            known.new_zeros(
                1, known.shape[1], grid.num_frames - count - tail, grid.height, grid.width
            ),
        ]
        if last_image is not None:
            parts.append(last_image.unsqueeze(2))
        encoded = encoded_condition(pipe, torch.cat(parts, dim=2), grid)
        mask = known_mask(
            grid.batch, grid.num_frames, count, tail, grid.temporal, grid.lat_h, grid.lat_w
        )
        return torch.concat([mask.to(encoded.device), encoded], dim=1)

    return condition_replaced(pipe, condition)


def replaced_first_latents(pipe: Any, frames: Sequence[np.ndarray]) -> AbstractContextManager[None]:
    """TI2V-5B's form of `conditioned_on`: that model takes no condition channels; the start
    frame's latent replaces the first latent of the video at timestep 0 (diffusers'
    `first_frame_mask`). Here the context frames' latents replace the first ones the same way,
    each at timestep 0, as the start frame's does."""

    def condition(grid: Grid, image: Any, last_image: Any) -> tuple[Any, Any]:
        import torch

        known = condition_frames(pipe, frames, grid.height, grid.width).to(
            image.device, image.dtype
        )
        encoded = encoded_condition(pipe, known, grid)
        count = encoded.shape[2]
        pad = encoded.new_zeros(*encoded.shape[:2], grid.latent_frames - count, *encoded.shape[3:])
        mask = torch.ones(
            1, 1, grid.latent_frames, grid.lat_h, grid.lat_w, dtype=grid.dtype, device=grid.device
        )
        mask[:, :, :count] = 0
        return torch.cat([encoded, pad], dim=2), mask

    return condition_replaced(pipe, condition)


def encoded_condition(pipe: Any, video: Any, grid: Grid) -> Any:
    """`video` ((1, C, N, H, W) in [-1, 1]) encoded as the pipeline's own `prepare_latents`
    encodes its condition video: the VAE's mode, normalised, once per batch item."""
    import torch
    from diffusers.pipelines.wan.pipeline_wan_i2v import retrieve_latents
    from diffusers.utils.torch_utils import get_module_execution_device

    video = video.to(device=get_module_execution_device(pipe.vae), dtype=pipe.vae.dtype)
    encoded = retrieve_latents(pipe.vae.encode(video), sample_mode="argmax")
    encoded = encoded.repeat(grid.batch, 1, 1, 1, 1).to(device=grid.device, dtype=grid.dtype)
    config = pipe.vae.config
    mean = torch.tensor(config.latents_mean).view(1, config.z_dim, 1, 1, 1)
    inv_std = 1.0 / torch.tensor(config.latents_std).view(1, config.z_dim, 1, 1, 1)
    return (encoded - mean.to(encoded)) * inv_std.to(encoded)


def initial_noise(shape: Any, generator: Any, device: Any, dtype: Any, latents: Any) -> Any:
    """The pipeline's starting noise, as its own `prepare_latents` draws it."""
    from diffusers.utils.torch_utils import randn_tensor

    if latents is None:
        return randn_tensor(shape, generator=generator, device=device, dtype=dtype)
    return latents.to(device=device, dtype=dtype)


def condition_frames(pipe: Any, frames: Sequence[np.ndarray], height: int, width: int) -> Any:
    """`frames` as the pipeline preprocesses its `image`: (1, C, N, H, W) in [-1, 1]."""
    images = [Image.fromarray(frame) for frame in frames]
    batch = pipe.video_processor.preprocess(images, height=height, width=width)
    return batch.float().transpose(0, 1).unsqueeze(0)


def known_mask(
    batch: int, frames: int, known: int, tail: int, temporal: int, lat_h: int, lat_w: int
) -> Any:
    """diffusers' mask layout, (B, temporal, latent frames, h, w): 1 on the first `known` frames
    (and the last `tail`), the first frame repeated `temporal` times as the VAE packs it."""
    import torch

    mask = torch.zeros(batch, 1, frames, lat_h, lat_w)
    mask[:, :, :known] = 1
    if tail:
        mask[:, :, frames - tail :] = 1
    first = torch.repeat_interleave(mask[:, :, 0:1], dim=2, repeats=temporal)
    mask = torch.concat([first, mask[:, :, 1:]], dim=2)
    return mask.view(batch, -1, temporal, lat_h, lat_w).transpose(1, 2)
