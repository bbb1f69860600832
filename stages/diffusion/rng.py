"""The global RNG, seeded from the node's own seed for the length of one pipeline call.

A pipeline draws its noise from the generator renga passes, but not every draw takes it:
diffusers' SkyReels-V2 diffusion-forcing pipelines add `addnoise_condition` noise to the clean
history with `torch.randn_like` (the I2V one at every step that touches the start frame's
latent, the V2V one on the history). Those draws then depend on whatever the process drew
before, so a clip rendered after another, or alone after a resume, or on a Ray worker, came
out different. Under `node_rng` they come from the node's seed, and the process's own RNG state
is put back afterwards.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def library_seed(seed: int) -> int:
    """The global RNG's seed for a node: derived from its seed, not equal to it, so the draws a
    library makes without a generator do not repeat the generator's own noise."""
    digest = hashlib.sha256(f"renga/global-rng/{seed}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


@contextmanager
def node_rng(seed: int, device: Any) -> Iterator[None]:
    """The CPU RNG and, on a CUDA device, that device's (where the pipeline draws), seeded from
    `seed` inside, and as they were outside."""
    import torch

    where = torch.device(device)
    cuda = [where.index if where.index is not None else 0] if where.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda, device_type="cuda"):
        value = library_seed(seed)
        torch.random.default_generator.manual_seed(value)
        for index in cuda:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(value)
        yield
