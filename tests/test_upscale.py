"""upscale=model: any single-image model spandrel loads, in tiles that equal one call on the
whole frame, streamed; bad files refused at plan time; the node after lip-sync, before
interpolation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import Cli, ok, tiny_job
from safetensors.torch import save_file
from spandrel import ModelLoader
from spandrel.architectures.Compact import Compact
from spandrel.architectures.ESRGAN import ESRGAN

from orchestrator.engine.errors import UserError
from orchestrator.media.video import probe_video, read_frames
from stages.upscale import ModelUpscaler


def tiny_upscaler(kind: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    if kind == "compact":
        return Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=2)
    return ESRGAN(in_nc=3, out_nc=3, num_filters=8, num_blocks=1, scale=4)


def save_upscaler(directory: Path, kind: str, suffix: str, seed: int = 0) -> Path:
    state = tiny_upscaler(kind, seed).state_dict()
    path = directory / f"{kind}{suffix}"
    if suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, path)
    else:
        torch.save(state, path)
    return path


def _frame(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _direct(path: Path, frame: np.ndarray) -> np.ndarray:
    """One call of the same network on the whole frame, as a script would make it."""
    descriptor = ModelLoader().load_from_file(path).eval()
    x = torch.from_numpy(frame).permute(2, 0, 1)[None].contiguous().float() / 255
    with torch.inference_mode():
        y = descriptor(x)[0]
    return (y * 255).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()


# Tiles of 16 and 24 cut a 64x48 frame into 12 and 6 (with edge tiles smaller than the rest);
# 512 is one tile, the whole frame with no context to add.
CASES = [
    ("compact", ".pth", 2, 16), ("compact", ".pth", 2, 512), ("esrgan", ".safetensors", 4, 24),
    ("esrgan", ".pth", 4, 16),
]  # fmt: skip


@pytest.mark.parametrize("kind,suffix,scale,tile", CASES)
def test_tiles_equal_one_call_on_the_whole_frame(tmp_path: Path, kind: str, suffix: str,
                                                  scale: int, tile: int):  # fmt: skip
    path = save_upscaler(tmp_path, kind, suffix)
    upscaler = ModelUpscaler(model=str(path), tile=tile, overlap=24 if kind == "esrgan" else 8,
                             precision="fp32", device="cpu")  # fmt: skip
    upscaler.validate(None)  # type: ignore[arg-type]
    frame = _frame()
    ours = upscaler.upscale(frame)
    assert ours.shape == (48 * scale, 64 * scale, 3)
    theirs = _direct(path, frame)
    diff = np.abs(ours.astype(int) - theirs)
    # Convolutions on a smaller input may sum in another order: a level, rarely.
    assert diff.max() <= 1 and (diff == 0).mean() > 0.999, (diff.max(), (diff == 0).mean())


def test_a_small_overlap_shows_at_the_tile_seams_only(tmp_path: Path):
    """The overlap is what makes tiles invisible: without it the seams differ, inside not."""
    path = save_upscaler(tmp_path, "esrgan", ".pth")
    frame = _frame()
    ours = ModelUpscaler(model=str(path), tile=32, overlap=0, device="cpu").upscale(frame)
    diff = np.abs(ours.astype(int) - _direct(path, frame)).max(axis=2)
    seam = diff[:, 4 * 32 - 8 : 4 * 32 + 8]
    inside = diff[: 4 * 32 - 80, : 4 * 32 - 80]  # away from both seams (x and y at 32)
    assert seam.max() > 10 and inside.max() <= 1


def test_output_size_follows_the_scale_or_the_target(tmp_path: Path):
    path = save_upscaler(tmp_path, "compact", ".pth")
    assert ModelUpscaler(model=str(path)).output_size(64, 48) == (128, 96)
    assert ModelUpscaler(model=str(path), width=100).output_size(64, 48) == (100, 76)
    assert ModelUpscaler(model=str(path), height=60).output_size(64, 48) == (80, 60)
    sized = ModelUpscaler(model=str(path), width=96, height=72, device="cpu")
    assert sized.upscale(_frame(), sized.output_size(64, 48)).shape == (72, 96, 3)


@pytest.mark.parametrize(
    "options,key,words",
    [
        ({"model": None}, "upscale.model", "needs the model file"),
        ({"model": "/nowhere/4x.pth"}, "upscale.model", "file not found"),
        ({"width": 101}, "upscale.width", "even number"),
        ({"tile": 8}, "upscale.tile", "at least 16 pixels"),
        ({"overlap": -1}, "upscale.overlap", "0 or more"),
        ({"precision": "int4"}, "upscale.precision", "unknown value"),
    ],
)
def test_bad_options_name_the_key(tmp_path: Path, options: dict, key: str, words: str):
    values = {"model": str(save_upscaler(tmp_path, "compact", ".pth")), **options}
    with pytest.raises(UserError) as caught:
        ModelUpscaler(**values).validate(None)  # type: ignore[arg-type]
    assert caught.value.key == key and words in caught.value.message, caught.value.line()


def test_a_file_spandrel_does_not_know_is_refused(tmp_path: Path):
    path = tmp_path / "flownet.pth"
    torch.save({"block0.conv0.0.0.weight": torch.zeros(4, 7, 3, 3)}, path)
    with pytest.raises(UserError, match="no upscale architecture spandrel knows"):
        ModelUpscaler(model=str(path)).validate(None)  # type: ignore[arg-type]


def _entry(run: dict, node_id: str) -> Path:
    node = next(n for n in run["nodes"] if n["id"] == node_id)
    return Path(run["store"]) / node["stage"] / node["key"] / "video.mkv"


@pytest.mark.slow
def test_cli_upscales_before_interpolating(cli: Cli, tmp_path: Path):
    path = save_upscaler(tmp_path, "compact", ".pth", seed=2)
    result = ok(cli("preset=draft", "upscale=model", f"upscale.model={path}", "upscale.tile=32",
                    "interpolate=flow", job=tiny_job()))  # fmt: skip
    run = cli.run_json(result)
    order = [n["id"] for n in run["nodes"]]
    assert order.index("assemble") < order.index("upscale") < order.index("interpolate")
    assembled = [np.asarray(f) for f in read_frames(_entry(run, "assemble"))]
    upscaled = [np.asarray(f) for f in read_frames(_entry(run, "upscale"))]
    assert len(upscaled) == len(assembled)
    for i in (0, len(assembled) - 1):
        diff = np.abs(upscaled[i].astype(int) - _direct(path, assembled[i]))
        assert diff.max() <= 1 and (diff == 0).mean() > 0.999
    final = probe_video(result.run_dir / "final.mp4")  # type: ignore[attr-defined]
    assert (final.width, final.height) == (128, 96) and (run["width"], run["height"]) == (128, 96)
    assert "128x96" in result.stderr


def test_cli_refuses_a_missing_model_in_one_line(cli: Cli):
    result = cli("preset=draft", "upscale=model", job=tiny_job())
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: upscale.model: upscale=model needs the model file: upscale.model=PATH (.pth or "
        ".safetensors)"
    ]
