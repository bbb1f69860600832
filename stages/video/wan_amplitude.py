"""Wan 2.2 A14B's condition with its placeholder latents pushed away from the start frame
(`video.motion_amplitude`, PainterI2V's remedy for the slow motion of 4-step Lightning LoRAs).

The I2V condition is the VAE encoding of the known frames followed by grey placeholders. The
model reads how far a placeholder latent sits from the start frame's latent as a hint of how
much may change; distilled 4-step LoRAs under-move, so PainterI2V (princepainter/
ComfyUI-PainterNodes: PainterI2V.py, PainterLongVideo.py) widens that distance: per placeholder
latent, the difference from the start latent loses its mean over channels and space, is scaled
by the amplitude, gets the mean back, and the result is clamped to +-6. It does this on
ComfyUI's `concat_latent_image`, the VAE's raw output (ComfyUI normalises it later, in
`WAN21.concat_cond`), so here the condition is taken out of diffusers' normalised space, changed
and clamped there, and put back: the numbers mean what they mean upstream.

What generalises it to renga's continuations: the latents the mask marks known (one for
`frame`, several for `motion` and `latent`) are kept exactly and the last of them, the one that
ends on the start frame, is the base; only latents the mask leaves wholly unknown move, so a
given end frame (morph, closure: its latent is partly known) is kept as encoded. Upstream never
amplifies with an end frame (PainterLongVideo skips it); here its placeholders still move.

diffusers gives both experts one condition (`torch.cat([latents, condition])` for either), so
both see the amplified one, as with PainterI2V's single output; PainterI2VAdvanced's option of
the original condition for the low-noise expert is not offered.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# Mask channels in front of the latent channels of diffusers' Wan I2V condition.
MASK_CHANNELS = 4
# Upstream's clamp, in the VAE's raw latent space.
CLAMP = 6.0


def amplify(condition: Any, amplitude: float, mean: Any, std: Any) -> Any:
    """`condition` (B, 4 mask + C latent channels, T, h, w; latents normalised as
    `(raw - mean) / std`) with every wholly unknown latent after the known ones moved
    `amplitude` times as far from the last known latent (its per-latent mean offset kept),
    clamped to +-6 in the raw space. Everything else is returned exactly; as upstream, an
    amplitude of 1.0 or less changes nothing."""
    import torch

    mask = condition[:, :MASK_CHANNELS].flatten(3).amax(dim=(0, 3))  # (4, T): any pixel known
    known = int(mask.eq(1).all(dim=0).int().cumprod(0).sum())
    moved = [t for t in range(known, condition.shape[2]) if not mask[:, t].any()]
    if amplitude <= 1.0 or known == 0 or not moved:
        return condition
    shape = (1, -1, 1, 1, 1)
    mean = torch.as_tensor(mean).to(condition).view(shape)
    std = torch.as_tensor(std).to(condition).view(shape)
    raw = condition[:, MASK_CHANNELS:] * std + mean
    base = raw[:, :, known - 1 : known]
    diff = raw[:, :, moved] - base
    offset = diff.mean(dim=(1, 3, 4), keepdim=True)  # per latent (upstream's dims 1, 3, 4)
    spread = (base + (diff - offset) * amplitude + offset).clamp(-CLAMP, CLAMP)
    out = condition.clone()
    out[:, MASK_CHANNELS:, moved] = (spread - mean) / std
    return out


@contextmanager
def amplified(pipe: Any, amplitude: float) -> Iterator[None]:
    """While open, the condition whatever `pipe.prepare_latents` is installed now builds
    (diffusers' own, or `wan_motion.condition_replaced`'s for motion and latent) goes through
    `amplify`; the noise is untouched. Enter it inside the context that installs a
    replacement, so it wraps that one."""
    if pipe.config.expand_timesteps:
        raise RuntimeError("motion_amplitude needs the A14B condition (expand_timesteps off)")
    installed = pipe.prepare_latents
    own = "prepare_latents" in vars(pipe)
    config = pipe.vae.config

    def prepare_latents(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        noise, condition = installed(*args, **kwargs)
        return noise, amplify(condition, amplitude, config.latents_mean, config.latents_std)

    pipe.prepare_latents = prepare_latents
    try:
        yield
    finally:
        if own:
            pipe.prepare_latents = installed
        else:
            del pipe.prepare_latents
