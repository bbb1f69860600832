"""Images: loading (EXIF-orientated RGB), fitting to the job size the way every shot image is
fitted, thumbnails for the report, PNGs with renga's metadata."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

from PIL import Image, ImageOps, PngImagePlugin

from orchestrator.media.container import Frame, MediaError


def load_image(path: Path) -> Image.Image:
    """An RGB image, turned upright by its EXIF orientation as photo viewers show it."""
    if not Path(path).is_file():
        raise MediaError(f"{path}: file not found")
    try:
        with Image.open(path) as image:
            return ImageOps.exif_transpose(image).convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise MediaError(f"{path}: cannot read as an image: {exc}") from exc


def fit_image(image: Image.Image, width: int, height: int) -> Image.Image:
    """Scale to cover width x height and centre-crop, so no bars appear and the aspect holds."""
    if width < 1 or height < 1:
        raise ValueError(f"bad target size {width}x{height}")
    return ImageOps.fit(image, (width, height), method=Image.Resampling.LANCZOS)


def thumbnail_jpeg(image: Image.Image | Frame, width: int, quality: int = 80) -> bytes:
    """A small JPEG of an image or frame, `width` pixels wide, for pages that embed previews."""
    picture = image if isinstance(image, Image.Image) else Image.fromarray(image)
    width = min(width, picture.width)
    height = max(1, round(width * picture.height / picture.width))
    small = picture.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


def save_png(path: Path, image: Image.Image, metadata: Mapping[str, str] | None = None) -> None:
    """PNG with metadata as text chunks (long values compressed, non-Latin-1 ones as iTXt)."""
    info = PngImagePlugin.PngInfo()
    for key, value in (metadata or {}).items():
        info.add_text(key, value, zip=len(value) > 1024)
    image.save(path, format="PNG", pnginfo=info)
