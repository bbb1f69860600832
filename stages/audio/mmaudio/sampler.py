"""Euler flow-matching sampling with classifier-free guidance, MMAudio's convention.

Time runs from t=0 (noise) to t=1 (data), the opposite of diffusers' sigmas. With
`cfg_strength >= 1` each step evaluates the network twice (conditional and unconditional,
v = cfg·v_c + (1−cfg)·v_u); below 1 guidance is off and the conditional branch runs alone,
as upstream's `ode_wrapper` does.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from stages.audio.mmaudio.network import Conditions, FlowNetwork

DEFAULT_STEPS = 25
DEFAULT_CFG = 4.5

StepCallback = Callable[[int, int], None]


def initial_noise(net: FlowNetwork, batch: int, generator: torch.Generator) -> Tensor:
    """x0 ~ N(0, I) of shape (B, latent_len, latent_dim), drawn in float32 on the generator's
    device and then moved, so a seed gives the same noise on any device and dtype."""
    shape = (batch, net.lengths[0], net.cfg.latent_dim)
    noise = torch.randn(shape, generator=generator, device=generator.device, dtype=torch.float32)
    return noise.to(net.latent_mean.device, net.latent_mean.dtype)


def guided_velocity(
    net: FlowNetwork,
    x: Tensor,
    t: float,
    conditions: Conditions,
    empty: Conditions,
    cfg_strength: float,
) -> Tensor:
    """The CFG-combined velocity at (x, t)."""
    cond = net.velocity(x, t, conditions)
    if cfg_strength < 1.0:
        return cond
    return cfg_strength * cond + (1 - cfg_strength) * net.velocity(x, t, empty)


@torch.inference_mode()
def sample(
    net: FlowNetwork,
    conditions: Conditions,
    empty: Conditions,
    generator: torch.Generator,
    *,
    steps: int = DEFAULT_STEPS,
    cfg_strength: float = DEFAULT_CFG,
    callback: StepCallback | None = None,
) -> Tensor:
    """Integrate noise to data in `steps` Euler steps; returns VAE latents (B, L, latent_dim).

    `empty` is `net.empty_conditions(B, negative_text)`; `callback(done, total)` runs after
    every step."""
    if steps < 1:
        raise ValueError(f"MMAudio sampling needs at least one step, got {steps}")
    x = initial_noise(net, conditions.batch, generator)
    times = torch.linspace(0, 1, steps + 1)
    for i in range(steps):
        t, dt = times[i].item(), (times[i + 1] - times[i]).item()
        x = x + dt * guided_velocity(net, x, t, conditions, empty, cfg_strength)
        if callback is not None:
            callback(i + 1, steps)
    return net.unnormalize(x)
