"""`interpolate=rife`: RIFE 4.5+ from the user's own file (`interpolate.model`), the in-betweens
of each pair of frames in one batch, fp16 on a GPU.

The file is read as tensors only (`torch.load(weights_only=True)` or safetensors): a `.pkl` or
`.pth` from elsewhere never runs code. Its layout is checked at plan time, before anything
renders, and its bytes are part of the node's key (the path is not, so a moved file is the same
model)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.engine.errors import UserError
from orchestrator.plan.timeline import Timeline
from stages.diffusion.spec import resolve_device
from stages.interpolate.stream import Interpolator
from stages.model_file import auto_precision, check_precision, model_path, reason, torch_dtype

SUFFIXES = (".pkl", ".pth", ".pt", ".ckpt", ".safetensors")


def load_state_dict(path: Path) -> dict[str, Any]:
    """The tensors of a RIFE file, without unpickling anything but tensors."""
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=False)
    except Exception as exc:  # pickle errors come in many classes
        raise UserError(
            "interpolate.model", f"{path} holds no plain state dict: {reason(exc)}"
        ) from None
    return state.get("state_dict", state) if isinstance(state, dict) else state


class RifeInterpolator(Interpolator):
    # The file's bytes are in the key (the node's `files`); where it lies and the device are not.
    cache_exclude = ("model", "device")

    def __init__(
        self,
        model: str | None = None,
        factor: int = 2,
        precision: str = "auto",
        device: str = "auto",
    ) -> None:
        self.model = model
        self.factor = factor
        self.precision = precision
        self.device = device
        self._net: Any = None

    @property
    def model_file(self) -> Path | None:
        return model_path(self.model)

    def settled(self, timeline: Timeline) -> dict[str, Any]:
        """`precision: auto` is fp16 where it runs on a GPU, fp32 on the CPU."""
        if self.precision != "auto":
            return {}
        return {"precision": auto_precision(self.device)}

    def validate(self, timeline: Timeline) -> None:
        super().validate(timeline)
        check_precision("interpolate.precision", self.precision)
        path = self.model_file
        if path is None:
            raise UserError("interpolate.model", "interpolate=rife needs the RIFE file: "
                            "interpolate.model=PATH (flownet.pkl, rife49.pth, ...)")  # fmt: skip
        if not path.is_file():
            raise UserError("interpolate.model", f"file not found: {path}")
        if path.suffix not in SUFFIXES:
            raise UserError("interpolate.model", f"expected one of {', '.join(SUFFIXES)}, "
                            f"got {path.name}")  # fmt: skip
        self._build(path)

    def _build(self, path: Path) -> Any:
        from stages.interpolate.rife_net import RifeFileError, build

        try:
            return build(load_state_dict(path))
        except RifeFileError as exc:
            raise UserError("interpolate.model", f"{path}: {exc}") from None

    def _network(self) -> Any:
        if self._net is None:
            assert self.model_file is not None
            device, dtype = resolve_device(self.device), torch_dtype(self.precision)
            self._net = self._build(self.model_file).to(device=device, dtype=dtype)
        return self._net

    def between(self, a: np.ndarray, b: np.ndarray) -> Iterator[np.ndarray]:
        """The factor-1 in-betweens of the pair, padded to multiples of 64 and cropped back.
        One call per timestep, as upstream runs it: a batched convolution sums in another
        order, and the frames would differ from theirs by a level here and there."""
        import torch
        import torch.nn.functional as F

        from stages.interpolate.rife_net import PAD

        net = self._network()
        param = next(net.parameters())
        h, w = a.shape[:2]
        pad = (0, -w % PAD, 0, -h % PAD)
        with torch.inference_mode():
            pair = torch.from_numpy(np.stack([a, b])).to(param.device)
            pair = pair.permute(0, 3, 1, 2).contiguous().float() / 255  # NCHW, as a model expects
            img0, img1 = F.pad(pair, pad).to(param.dtype).split(1)
            for j in range(1, self.factor):
                t = torch.tensor([j / self.factor], device=param.device)
                out = net(img0, img1, t)[0, :, :h, :w].float()
                pixels = (out * 255).round().clamp(0, 255).to(torch.uint8)
                yield pixels.permute(1, 2, 0).cpu().numpy()
