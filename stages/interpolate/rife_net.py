"""RIFE's IFNet (Huang et al., "Real-Time Intermediate Flow Estimation"), 4.5 and later, built
from the state dict users have: Practical-RIFE's `flownet.pkl` (keys under `module.`) and
ComfyUI-Frame-Interpolation's `rife4x.pth` files.

The network is four IFBlocks, coarse to fine (1/8, 1/4, 1/2, 1/1 of the padded frame): each
sees both frames (warped by the flow so far), the timestep and the mask, and refines the flow
from the in-between frame to each neighbour and a blend mask. From 4.7 a small encoder adds
per-frame features, warped with the frames. The layout (block widths, encoder) is read from
the state dict's shapes, so every release of these families loads without a version table;
the 4.0-4.4 layouts (plain-conv blocks and a refining U-Net) and 4.26's five blocks are refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

PAD = 64
SCALES = (8, 4, 2, 1)
_BLOCK = re.compile(r"^block(\d+)\.")


class RifeFileError(ValueError):
    """A state dict that is not one of the RIFE layouts this module builds."""


@dataclass(frozen=True)
class Layout:
    """What the state dict says the network is."""

    widths: tuple[int, ...]  # channels of each IFBlock
    outputs: int  # maps of each block's last layer: flow (4), mask (1) and unused ones
    encoder: str | None  # "pair" (4.7-4.9), "stack" (4.10-4.12), "head" (4.13 and later)
    features: int  # channels the encoder makes per frame

    @property
    def family(self) -> str:
        return "4.5/4.6" if self.encoder is None else f"4.7+ ({self.encoder} encoder)"


class _ResConv(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1)
        self.beta = nn.Parameter(torch.ones(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.conv(x) * self.beta + x, 0.2)


def _conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1), nn.LeakyReLU(0.2))


class IFBlock(nn.Module):
    def __init__(self, cin: int, width: int, outputs: int, depth: int = 8) -> None:
        super().__init__()
        self.conv0 = nn.Sequential(_conv(cin, width // 2), _conv(width // 2, width))
        self.convblock = nn.Sequential(*(_ResConv(width) for _ in range(depth)))
        self.lastconv = nn.Sequential(
            nn.ConvTranspose2d(width, 4 * outputs, 4, 2, 1), nn.PixelShuffle(2)
        )

    def forward(
        self, x: torch.Tensor, flow: torch.Tensor | None, scale: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The flow to both frames (4 maps, in pixels) and the mask, at the input's size."""
        x = _resize(x, 1 / scale)
        if flow is not None:
            x = torch.cat((x, _resize(flow, 1 / scale) / scale), 1)
        out = _resize(self.lastconv(self.convblock(self.conv0(x))), scale)
        return out[:, :4] * scale, out[:, 4:5]


class _Head(nn.Module):
    """4.13+'s encoder, its layers named."""

    def __init__(self, width: int, features: int) -> None:
        super().__init__()
        self.cnn0 = nn.Conv2d(3, width, 3, 2, 1)
        self.cnn1 = nn.Conv2d(width, width, 3, 1, 1)
        self.cnn2 = nn.Conv2d(width, width, 3, 1, 1)
        self.cnn3 = nn.ConvTranspose2d(width, features, 4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in (self.cnn0, self.cnn1, self.cnn2):
            x = F.leaky_relu(layer(x), 0.2)
        return self.cnn3(x)


class IFNet(nn.Module):
    def __init__(self, layout: Layout, encoder_width: int = 0) -> None:
        super().__init__()
        self.layout = layout
        extra = 2 * layout.features
        for i, width in enumerate(layout.widths):
            cin = 7 + extra if i == 0 else 12 + extra
            self.add_module(f"block{i}", IFBlock(cin, width, layout.outputs))
        if layout.encoder == "head":
            self.encode: nn.Module = _Head(encoder_width, layout.features)
        elif layout.encoder == "pair":
            self.encode = nn.Sequential(
                nn.Conv2d(3, encoder_width, 3, 2, 1),
                nn.ConvTranspose2d(encoder_width, layout.features, 4, 2, 1),
            )
        elif layout.encoder == "stack":
            w = encoder_width
            self.encode = nn.Sequential(
                nn.Conv2d(3, w, 3, 2, 1), nn.LeakyReLU(0.2),
                nn.Conv2d(w, w, 3, 1, 1), nn.LeakyReLU(0.2),
                nn.Conv2d(w, w, 3, 1, 1), nn.LeakyReLU(0.2),
                nn.ConvTranspose2d(w, layout.features, 4, 2, 1),
            )  # fmt: skip

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The frames at times `t` (shape [B]) between `img0` and `img1` ([B, 3, H, W] in 0..1,
        H and W multiples of 64)."""
        timestep = t.view(-1, 1, 1, 1).expand(-1, 1, *img0.shape[2:]).to(img0.dtype)
        features = self.layout.encoder is not None
        f0 = self.encode(img0) if features else None
        f1 = self.encode(img1) if features else None
        warped0, warped1 = img0, img1
        flow: torch.Tensor | None = None
        mask = torch.zeros_like(timestep)
        for i, scale in enumerate(SCALES):
            block = getattr(self, f"block{i}")
            if flow is None:
                inputs = (img0, img1, *((f0, f1) if features else ()), timestep)
                flow, mask = block(torch.cat(inputs, 1), None, scale)
            else:
                seen = (warp(f0, flow[:, :2]), warp(f1, flow[:, 2:4])) if features else ()
                inputs = (warped0, warped1, *seen, timestep, mask)
                delta, new_mask = block(torch.cat(inputs, 1), flow, scale)
                flow = flow + delta
                # 4.7+ replaces the mask at each block; 4.5/4.6 add to it.
                mask = new_mask if features else mask + new_mask
            warped0 = warp(img0, flow[:, :2])
            warped1 = warp(img1, flow[:, 2:4])
        weight = torch.sigmoid(mask)
        return warped0 * weight + warped1 * (1 - weight)


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """`image` sampled at each pixel plus `flow` (pixels), edges clamped."""
    n, _, h, w = flow.shape
    ys = torch.linspace(-1.0, 1.0, h, device=flow.device, dtype=torch.float32)
    xs = torch.linspace(-1.0, 1.0, w, device=flow.device, dtype=torch.float32)
    base = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1).expand(n, h, w, 2)
    scale = torch.tensor([(w - 1) / 2, (h - 1) / 2], device=flow.device)
    grid = (base + flow.permute(0, 2, 3, 1).float() / scale).to(image.dtype)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def _resize(x: torch.Tensor, factor: float) -> torch.Tensor:
    if factor == 1:
        return x
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


def clean_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Practical-RIFE saves from DataParallel (`module.` before every key)."""
    if not isinstance(state, Mapping) or not all(isinstance(k, str) for k in state):
        raise RifeFileError("the file holds no state dict (a mapping of tensor names)")
    return {k.removeprefix("module."): v for k, v in state.items()}


def layout_of(state: Mapping[str, torch.Tensor]) -> tuple[Layout, int]:
    """The layout and the encoder's width, from the state dict's key names and shapes."""
    blocks = sorted({int(m.group(1)) for k in state if (m := _BLOCK.match(k))})
    if not blocks:
        raise RifeFileError("no IFNet blocks (block0.*) in the state dict: not a RIFE model")
    if any(k.startswith(("contextnet.", "unet.")) for k in state) or any(
        k.startswith("block0.convblock.0.0.") for k in state
    ):
        raise RifeFileError("a RIFE 4.0-4.4 model (plain-conv blocks); use 4.6 or later")
    if blocks != list(range(len(SCALES))):
        raise RifeFileError(f"{len(blocks)} IFNet blocks (RIFE 4.26 has 5); expected 4")
    try:
        widths = tuple(state[f"block{i}.conv0.1.0.weight"].shape[0] for i in blocks)
        outputs = state["block0.lastconv.0.weight"].shape[1] // 4
    except KeyError as exc:
        raise RifeFileError(
            f"an IFNet block without {exc.args[0]}: not a RIFE 4.5+ layout"
        ) from None
    encoder, features, width = _encoder(state)
    if outputs > 6:
        raise RifeFileError(
            f"blocks that output {outputs} maps (RIFE 4.26's layout); expected 5 or 6"
        )
    cin = state["block0.conv0.0.0.weight"].shape[1]
    if cin != 7 + 2 * features:
        raise RifeFileError(
            f"block0 takes {cin} channels, not the {7 + 2 * features} its encoder gives"
        )
    return Layout(widths, outputs, encoder, features), width


def _encoder(state: Mapping[str, torch.Tensor]) -> tuple[str | None, int, int]:
    keys = {k for k in state if k.startswith("encode.")}
    if not keys:
        return None, 0, 0
    layers = {"head": "encode.cnn3.weight", "stack": "encode.6.weight", "pair": "encode.1.weight"}
    for name, last in layers.items():
        if last in keys:
            first = "encode.cnn0.weight" if name == "head" else "encode.0.weight"
            return name, state[last].shape[1], state[first].shape[0]
    raise RifeFileError(f"an encoder of unknown layout ({sorted(keys)[0]}, ...)")


def build(state: Mapping[str, torch.Tensor]) -> IFNet:
    """The network with the state dict's weights, or `RifeFileError` naming what differs."""
    state = clean_state_dict(state)
    layout, width = layout_of(state)
    net = IFNet(layout, width)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).split("\n")[1].strip() if "\n" in str(exc) else str(exc)
        raise RifeFileError(f"weights do not fit RIFE {layout.family}: {first}") from None
    return net.eval()
