"""`upscale=model`: every frame through a single-image upscale model from the user's file, as
ComfyUI loads them (spandrel: ESRGAN, Real-ESRGAN, Compact, SwinIR, HAT, DAT, ... in `.pth` or
`.safetensors`), in tiles so memory stays flat whatever the frame size, fp16 on a GPU.

Each tile is run with `overlap` pixels of picture around it and only its centre is kept, so the
result equals one call on the whole frame wherever the model's receptive field fits in the
overlap (convolutional models with a few dozen layers), with no blending to smear it. Frames
stream: one frame and one tile's output are all that is held. The model's bytes key the node,
not its path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from orchestrator.engine.context import NodeContext
from orchestrator.engine.errors import UserError
from orchestrator.media.encode import LOSSLESS, write_video
from orchestrator.media.video import probe_video, read_frames
from orchestrator.plan.timeline import Timeline
from stages.diffusion.spec import resolve_device
from stages.model_file import auto_precision, check_precision, model_path, reason, torch_dtype

PURPOSES = ("SR", "Restoration")


class ModelUpscaler:
    version = "1"
    model_group = None
    cache_exclude = ("model", "device")

    def __init__(
        self,
        model: str | None = None,
        tile: int = 512,
        overlap: int = 32,
        width: int | None = None,
        height: int | None = None,
        precision: str = "auto",
        device: str = "auto",
    ) -> None:
        self.model = model
        self.tile = tile
        self.overlap = overlap
        self.width = width
        self.height = height
        self.precision = precision
        self.device = device
        self._descriptor: Any = None
        self._ready = False

    @property
    def model_file(self) -> Path | None:
        return model_path(self.model)

    def settled(self, timeline: Timeline) -> dict[str, Any]:
        """`precision: auto` is fp16 on a GPU for a model that supports it, else fp32."""
        if self.precision != "auto":
            return {}
        precision = auto_precision(self.device)
        return {"precision": precision if self.descriptor().supports_half else "fp32"}

    def validate(self, timeline: Timeline) -> None:
        check_precision("upscale.precision", self.precision)
        if self.tile < 16:
            raise UserError("upscale.tile", f"must be at least 16 pixels, got {self.tile}")
        if self.overlap < 0:
            raise UserError("upscale.overlap", f"must be 0 or more pixels, got {self.overlap}")
        for key in ("width", "height"):
            value = getattr(self, key)
            if value is not None and (value < 16 or value % 2):
                raise UserError(
                    f"upscale.{key}",
                    f"must be an even number of at least 16 "
                    f"pixels (video encoders need even sizes), got {value}",
                )
        descriptor = self.descriptor()
        if descriptor.purpose not in PURPOSES or descriptor.input_channels != 3:
            raise UserError(
                "upscale.model",
                f"{self.model_file}: a {descriptor.architecture.name} "
                f"model for {descriptor.purpose} with {descriptor.input_channels} "
                "input channels; upscale needs an RGB image-to-image model",
            )

    def descriptor(self) -> Any:
        """The model spandrel finds in the file (read once per instance, tensors only)."""
        if self._descriptor is not None:
            return self._descriptor
        path = self.model_file
        if path is None:
            raise UserError("upscale.model", "upscale=model needs the model file: "
                            "upscale.model=PATH (.pth or .safetensors)")  # fmt: skip
        if not path.is_file():
            raise UserError("upscale.model", f"file not found: {path}")
        from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError

        try:
            descriptor = ModelLoader().load_from_file(path)
        except UnsupportedModelError:
            raise UserError("upscale.model", f"{path}: no upscale architecture spandrel knows "
                            "fits this state dict") from None  # fmt: skip
        except Exception as exc:  # pickle and format errors come in many classes
            raise UserError("upscale.model", f"{path}: cannot read it: {reason(exc)}") from None
        if not isinstance(descriptor, ImageModelDescriptor):
            raise UserError("upscale.model", f"{path}: a {descriptor.architecture.name} model "
                            "needs a mask; upscale takes single-image models")  # fmt: skip
        self._descriptor = descriptor
        return descriptor

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """Input x the model's scale, or the configured size (a missing side keeps the
        aspect, rounded to even)."""
        scale = self.descriptor().scale
        if self.width is None and self.height is None:
            return width * scale, height * scale
        if self.width is not None and self.height is not None:
            return self.width, self.height
        if self.width is not None:
            return self.width, 2 * round(self.width * height / width / 2)
        assert self.height is not None
        return 2 * round(self.height * width / height / 2), self.height

    def run(self, source: Path, out: Path, ctx: NodeContext) -> None:
        info = probe_video(source)
        size = self.output_size(info.width, info.height)
        frames = (self.upscale(np.asarray(f), size) for f in read_frames(source))
        written = write_video(
            out, frames, fps=info.fps, codec=LOSSLESS, progress=lambda n: ctx.steps(n, info.frames)
        )
        if written != info.frames:
            raise ValueError(f"upscaled {written} frames, expected {info.frames}")
        ctx.metrics.update(frames=written, width=size[0], height=size[1])
        ctx.metrics["scale"] = self.descriptor().scale

    def upscale(self, frame: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        """One RGB frame through the model, tile by tile, then resized to `size` if given."""
        import torch

        descriptor = self._prepared()
        param = next(descriptor.model.parameters())
        h, w = frame.shape[:2]
        s = descriptor.scale
        image = torch.from_numpy(frame).to(param.device).permute(2, 0, 1)[None]
        image = image.contiguous().to(param.dtype) / 255
        result = np.empty((h * s, w * s, 3), np.uint8)
        with torch.inference_mode():
            for y0 in range(0, h, self.tile):
                for x0 in range(0, w, self.tile):
                    y1, x1 = min(y0 + self.tile, h), min(x0 + self.tile, w)
                    ya, xa = max(y0 - self.overlap, 0), max(x0 - self.overlap, 0)
                    yb, xb = min(y1 + self.overlap, h), min(x1 + self.overlap, w)
                    tile = descriptor(image[:, :, ya:yb, xa:xb])
                    top, left = (y0 - ya) * s, (x0 - xa) * s
                    kept = tile[0, :, top : top + (y1 - y0) * s, left : left + (x1 - x0) * s]
                    pixels = (kept.float() * 255).round().clamp(0, 255).to(torch.uint8)
                    result[y0 * s : y1 * s, x0 * s : x1 * s] = pixels.permute(1, 2, 0).cpu()
        if size is None or size == (w * s, h * s):
            return result
        shrink = size[0] < w * s
        return cv2.resize(
            result, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LANCZOS4
        )

    def _prepared(self) -> Any:
        descriptor = self.descriptor()
        if not self._ready:
            descriptor.to(resolve_device(self.device)).to(torch_dtype(self.precision)).eval()
            self._ready = True
        return descriptor
