"""Official flow checkpoints (`mmaudio_<variant>.pth`) to a strict-loaded `FlowNetwork`.

The official file is the upstream module's state dict. Our module keeps the same names and
Sequential indices (v2's extra SiLU shifts `clip_input_proj`/`text_input_proj` from `.1` to
`.2`), so conversion only drops the derived tables some files carry and checks every key.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from stages.audio.mmaudio.checkpoint import check_state, expected_shapes, read_official
from stages.audio.mmaudio.network import FlowNetwork
from stages.audio.mmaudio.variants import NetworkConfig

# Recomputed from the config on every build; upstream's `load_weights` drops them too.
DERIVED_KEYS = ("t_embed.freqs", "latent_rot", "clip_rot")
WHAT = "MMAudio flow network"


def flow_shapes(cfg: NetworkConfig) -> dict[str, tuple[int, ...]]:
    """Every key of a `FlowNetwork` for `cfg`, with its shape, without allocating weights."""
    with torch.device("meta"):
        return expected_shapes(FlowNetwork(cfg))


def convert_flow(official_path: Path | str, cfg: NetworkConfig) -> dict[str, Tensor]:
    """The official checkpoint's tensors under our key names, checked strictly against `cfg`.

    Raises CheckpointMismatch naming every missing, unexpected or mis-shaped key."""
    state = read_official(official_path)
    for key in DERIVED_KEYS:
        state.pop(key, None)
    check_state(flow_shapes(cfg), state, WHAT, official_path)
    return {key: value.contiguous() for key, value in state.items()}


def build_flow(
    state: Mapping[str, Tensor], cfg: NetworkConfig, source: Path | str = "converted state"
) -> FlowNetwork:
    """A `FlowNetwork` in eval mode holding `state` (from `convert_flow` or its safetensors).

    Built on the meta device and loaded with `assign`, so no memory or time goes to a random
    init; the tensors keep their dtype and device. Call `set_lengths` before use."""
    with torch.device("meta"):
        net = FlowNetwork(cfg)
    check_state(expected_shapes(net), state, WHAT, source)
    net.load_state_dict(dict(state), strict=True, assign=True)
    net.requires_grad_(False)
    return net.eval()
