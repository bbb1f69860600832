"""interpolate=rife: the layouts of users' RIFE files load from the state dict, renga's frames
equal upstream's computation on the same frames, bad files are refused at plan time."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import Cli, ok, tiny_job
from safetensors.torch import save_file
from tiny_rife import LAYOUTS, reference_frame, rife_state_dict

from orchestrator.engine.errors import UserError
from orchestrator.media.video import read_frames
from stages.interpolate.rife import RifeInterpolator
from stages.interpolate.stream import output_frames

# How users have each layout: Practical-RIFE's DataParallel pickle, ComfyUI's .pth, ...
FILES = {"4.6": "flownet.pkl", "4.7": "rife49.pth", "4.10": "rife410.safetensors",
         "4.17": "rife417.pth"}  # fmt: skip


def save_rife(directory: Path, version: str, seed: int = 0) -> Path:
    sd = rife_state_dict(version, seed)
    path = directory / FILES[version]
    if path.suffix == ".safetensors":
        save_file(sd, path)
    elif path.name == "flownet.pkl":
        torch.save({f"module.{k}": v for k, v in sd.items()}, path)
    else:
        torch.save(sd, path)
    return path


def _frames(n: int, h: int = 40, w: int = 72) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    base = rng.integers(0, 256, (h, w + 4 * n, 3), dtype=np.uint8)
    return [np.ascontiguousarray(base[:, 4 * i : 4 * i + w]) for i in range(n)]


def _reference(sd: dict, version: str, a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    img0, img1 = (
        torch.from_numpy(x).permute(2, 0, 1)[None].contiguous().float() / 255 for x in (a, b)
    )
    with torch.no_grad():
        out = reference_frame(sd, version, img0, img1, t)
    return (out[0] * 255).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()


def _assert_close(ours: np.ndarray, theirs: np.ndarray) -> None:
    """One timestep per call, as upstream runs it: the same floats, so the same bytes."""
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("version", list(LAYOUTS))
@pytest.mark.parametrize("factor", [2, 4])
def test_inbetweens_equal_upstreams_computation(tmp_path: Path, version: str, factor: int):
    path = save_rife(tmp_path, version)
    rife = RifeInterpolator(model=str(path), factor=factor, precision="fp32", device="cpu")
    rife.validate(None)  # type: ignore[arg-type]
    frames = _frames(3)
    out = list(rife.frames(frames, loop=False))
    assert len(out) == output_frames(3, factor, False)
    sd = rife_state_dict(version)
    for pair in range(2):
        np.testing.assert_array_equal(out[pair * factor], frames[pair])
        for j in range(1, factor):
            theirs = _reference(sd, version, frames[pair], frames[pair + 1], j / factor)
            _assert_close(out[pair * factor + j], theirs)


def _refused(tmp_path: Path, state: object, words: str, name: str = "bad.pth") -> None:
    path = tmp_path / name
    torch.save(state, path)
    with pytest.raises(UserError) as caught:
        RifeInterpolator(model=str(path), device="cpu").validate(None)  # type: ignore[arg-type]
    assert caught.value.key == "interpolate.model"
    assert words in caught.value.message, caught.value.message


def test_layouts_it_does_not_build_are_named(tmp_path: Path):
    sd = rife_state_dict("4.6")
    old = {k.replace("convblock.0.conv.", "convblock.0.0."): v for k, v in sd.items()}
    _refused(tmp_path, old, "RIFE 4.0-4.4")
    five = {**sd, **{k.replace("block3", "block4"): v for k, v in sd.items() if "block3" in k}}
    _refused(tmp_path, five, "5 IFNet blocks")
    _refused(tmp_path, {"conv1.weight": torch.zeros(3)}, "not a RIFE model")
    missing = {k: v for k, v in sd.items() if "block2.convblock.7" not in k}
    _refused(tmp_path, missing, "weights do not fit RIFE 4.5/4.6")
    wrong = {**rife_state_dict("4.7"), "block0.conv0.0.0.weight": sd["block0.conv0.0.0.weight"]}
    _refused(tmp_path, wrong, "block0 takes 7 channels, not the 15")


class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_a_pickle_that_holds_code_is_refused_unrun(tmp_path: Path, capsys):
    path = tmp_path / "flownet.pkl"
    path.write_bytes(pickle.dumps({"block0.x": _Payload()}))
    with pytest.raises(UserError, match="holds no plain state dict"):
        RifeInterpolator(model=str(path), device="cpu").validate(None)  # type: ignore[arg-type]
    assert "must never run" not in capsys.readouterr().out


def test_missing_file_and_option_name_the_key(tmp_path: Path):
    for model, words in ((None, "needs the RIFE file"), (str(tmp_path / "no.pkl"), "not found")):
        with pytest.raises(UserError, match=words):
            RifeInterpolator(model=model).validate(None)  # type: ignore[arg-type]


def _entry(run: dict, node_id: str) -> Path:
    node = next(n for n in run["nodes"] if n["id"] == node_id)
    return Path(run["store"]) / node["stage"] / node["key"] / "video.mkv"


@pytest.mark.slow
def test_cli_node_equals_upstream_on_the_assembled_frames_and_holds_cuts(cli: Cli, tmp_path: Path):
    path = save_rife(tmp_path, "4.7", seed=3)
    result = ok(cli("preset=draft", "interpolate=rife", f"interpolate.model={path}",
                    job=tiny_job()))  # fmt: skip
    run = cli.run_json(result)
    assembled = [np.asarray(f) for f in read_frames(_entry(run, "assemble"))]
    out = [np.asarray(f) for f in read_frames(_entry(run, "interpolate"))]
    assert len(out) == 2 * len(assembled) - 1 and run["fps"] == 32.0
    sd = rife_state_dict("4.7", seed=3)
    cut = len(assembled) // 2
    for i in (0, 5, cut - 1):
        theirs = _reference(sd, "4.7", assembled[i], assembled[i + 1], 0.5)
        if i == cut - 1:
            np.testing.assert_array_equal(out[2 * i + 1], assembled[i])
        else:
            _assert_close(out[2 * i + 1], theirs)
    # The file's bytes are the key, not its path: a copy elsewhere renders nothing new.
    moved = tmp_path / "elsewhere" / "rife49.pth"
    moved.parent.mkdir()
    moved.write_bytes(path.read_bytes())
    again = cli.run_json(ok(cli("preset=draft", "interpolate=rife", f"interpolate.model={moved}",
                                job=tiny_job())))  # fmt: skip
    node = next(n for n in again["nodes"] if n["id"] == "interpolate")
    assert node["status"] == "cached", node


@pytest.mark.slow
def test_cli_refuses_a_file_that_is_not_rife_in_one_line(cli: Cli, tmp_path: Path):
    path = tmp_path / "esrgan.pth"
    torch.save({"model.0.weight": torch.zeros(4, 3, 3, 3)}, path)
    result = cli("preset=draft", "interpolate=rife", f"interpolate.model={path}", job=tiny_job())
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [f"error: interpolate.model: {path}: no IFNet blocks (block0.*) in the state "
                     "dict: not a RIFE model"], lines  # fmt: skip
