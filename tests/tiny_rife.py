"""Tiny random-weight RIFE state dicts in the layouts users' files have, and a reference IFNet
forward written straight from the upstream inference code (functional, on the state dict), so
renga's network is checked against the published computation, not against itself."""

from __future__ import annotations

import torch
import torch.nn.functional as F

# (encoder, features per frame, encoder width): 4.6 none; 4.7-4.9 conv+deconv; 4.10+ a stack.
LAYOUTS = {
    "4.6": (None, 0, 0),
    "4.7": ("pair", 4, 16),
    "4.10": ("stack", 8, 32),
    "4.17": ("head", 8, 32),
}
WIDTHS = (24, 16, 12, 8)


def rife_state_dict(version: str, seed: int = 0, widths: tuple[int, ...] = WIDTHS) -> dict:
    encoder, features, ew = LAYOUTS[version]
    g = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}

    def conv(name: str, cout: int, cin: int, k: int = 3, transpose: bool = False) -> None:
        shape = (cin, cout, k, k) if transpose else (cout, cin, k, k)
        sd[f"{name}.weight"] = torch.randn(shape, generator=g) * (2.0 / (cin * k * k)) ** 0.5
        sd[f"{name}.bias"] = torch.randn(cout, generator=g) * 0.05

    outputs = 6
    for i, c in enumerate(widths):
        cin = (7 if i == 0 else 12) + 2 * features
        conv(f"block{i}.conv0.0.0", c // 2, cin)
        conv(f"block{i}.conv0.1.0", c, c // 2)
        for j in range(8):
            conv(f"block{i}.convblock.{j}.conv", c, c)
            sd[f"block{i}.convblock.{j}.beta"] = 0.5 + torch.rand(1, c, 1, 1, generator=g)
        conv(f"block{i}.lastconv.0", 4 * outputs, c, 4, transpose=True)
    if encoder == "pair":
        conv("encode.0", ew, 3)
        conv("encode.1", features, ew, 4, transpose=True)
    elif encoder in ("stack", "head"):
        names = ["0", "2", "4", "6"] if encoder == "stack" else ["cnn0", "cnn1", "cnn2", "cnn3"]
        conv(f"encode.{names[0]}", ew, 3)
        conv(f"encode.{names[1]}", ew, ew)
        conv(f"encode.{names[2]}", ew, ew)
        conv(f"encode.{names[3]}", features, ew, 4, transpose=True)
    return sd


def _warp(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    n, _, h, w = flow.shape
    horizontal = torch.linspace(-1.0, 1.0, w).view(1, 1, 1, w).expand(n, -1, h, -1)
    vertical = torch.linspace(-1.0, 1.0, h).view(1, 1, h, 1).expand(n, -1, -1, w)
    grid = torch.cat([horizontal, vertical], 1)
    flow = torch.cat([flow[:, 0:1] / ((img.shape[3] - 1.0) / 2.0),
                      flow[:, 1:2] / ((img.shape[2] - 1.0) / 2.0)], 1)  # fmt: skip
    g = (grid + flow).permute(0, 2, 3, 1)
    return F.grid_sample(img, g, mode="bilinear", padding_mode="border", align_corners=True)


def _block(sd: dict, i: int, x: torch.Tensor, flow: torch.Tensor | None, scale: float):
    p = f"block{i}."
    x = F.interpolate(x, scale_factor=1.0 / scale, mode="bilinear", align_corners=False)
    if flow is not None:
        small = F.interpolate(flow, scale_factor=1.0 / scale, mode="bilinear", align_corners=False)
        x = torch.cat((x, small * 1.0 / scale), 1)
    for name in ("conv0.0.0", "conv0.1.0"):
        x = F.leaky_relu(F.conv2d(x, sd[p + name + ".weight"], sd[p + name + ".bias"], 2, 1), 0.2)
    for j in range(8):
        q = f"{p}convblock.{j}."
        y = F.conv2d(x, sd[q + "conv.weight"], sd[q + "conv.bias"], 1, 1)
        x = F.leaky_relu(y * sd[q + "beta"] + x, 0.2)
    tmp = F.conv_transpose2d(x, sd[p + "lastconv.0.weight"], sd[p + "lastconv.0.bias"], 2, 1)
    tmp = F.interpolate(F.pixel_shuffle(tmp, 2), scale_factor=scale, mode="bilinear",
                        align_corners=False)  # fmt: skip
    return tmp[:, :4] * scale, tmp[:, 4:5]


def _encode(sd: dict, encoder: str, x: torch.Tensor) -> torch.Tensor:
    if encoder == "pair":
        x = F.conv2d(x, sd["encode.0.weight"], sd["encode.0.bias"], 2, 1)
        return F.conv_transpose2d(x, sd["encode.1.weight"], sd["encode.1.bias"], 2, 1)
    names = ["0", "2", "4", "6"] if encoder == "stack" else ["cnn0", "cnn1", "cnn2", "cnn3"]
    for k, name in enumerate(names[:3]):
        w, b = sd[f"encode.{name}.weight"], sd[f"encode.{name}.bias"]
        x = F.leaky_relu(F.conv2d(x, w, b, 2 if k == 0 else 1, 1), 0.2)
    return F.conv_transpose2d(
        x, sd[f"encode.{names[3]}.weight"], sd[f"encode.{names[3]}.bias"], 2, 1
    )


def reference_frame(sd: dict, version: str, img0: torch.Tensor, img1: torch.Tensor, t: float):
    """Upstream's inference forward (fast mode, no ensemble, scale 1) for one timestep: pad to
    64, four blocks at 1/8..1/1, warp, sigmoid mask, crop."""
    encoder = LAYOUTS[version][0]
    n, c, h, w = img0.shape
    ph, pw = ((h - 1) // 64 + 1) * 64, ((w - 1) // 64 + 1) * 64
    img0, img1 = (F.pad(x, (0, pw - w, 0, ph - h)) for x in (img0, img1))
    timestep = (img0[:, :1].clone() * 0 + 1) * t
    f0 = _encode(sd, encoder, img0) if encoder else None
    f1 = _encode(sd, encoder, img1) if encoder else None
    flow = mask = None
    warped0, warped1 = img0, img1
    for i, scale in enumerate([8, 4, 2, 1]):
        if flow is None:
            extra = (f0, f1) if encoder else ()
            flow, mask = _block(sd, i, torch.cat((img0, img1, *extra, timestep), 1), None, scale)
        elif encoder:
            x = torch.cat((warped0, warped1, _warp(f0, flow[:, :2]), _warp(f1, flow[:, 2:4]),
                           timestep, mask), 1)  # fmt: skip
            fd, mask = _block(sd, i, x, flow, scale)
            flow = flow + fd
        else:
            x = torch.cat((warped0, warped1, timestep, mask), 1)
            fd, m0 = _block(sd, i, x, flow, scale)
            flow, mask = flow + fd, mask + m0
        warped0, warped1 = _warp(img0, flow[:, :2]), _warp(img1, flow[:, 2:4])
    m = torch.sigmoid(mask)
    return (warped0 * m + warped1 * (1 - m))[:, :, :h, :w]
