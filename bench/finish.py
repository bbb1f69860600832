"""Finishing nodes against a plain loop doing the same work: RIFE interpolation and model
upscaling, real-size random-weight networks, frames/s and peak memory at two video lengths.

For each network the renga node (`RifeInterpolator.run`, `ModelUpscaler.run`: read the
lossless video, stream it through, write the lossless video) is timed beside a direct loop
that decodes the same video, calls the same network on the same frames (RIFE: one timestep per
call; upscale: the whole frame in one call) and encodes the result. Each measurement runs in its
own process, so `ru_maxrss` is that run's peak; flat memory means the longer video peaks where
the shorter one does. Prints `ours/direct fps` per network (goal >= 1.0) and the peak-memory
ratio long/short (goal ~1.0).

    python bench/finish.py                      # CPU: 256x144, 9 and 33 frames
    python bench/finish.py --size 832x480 --frames 17 65 --device cuda
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def _source(path: Path, frames: int, width: int, height: int) -> None:
    from orchestrator.media.encode import LOSSLESS, write_video

    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (height, width + 4 * frames, 3), dtype=np.uint8)
    clip = (np.ascontiguousarray(base[:, 4 * i : 4 * i + width]) for i in range(frames))
    write_video(path, clip, fps=16, codec=LOSSLESS)


def _models(directory: Path) -> dict[str, Path]:
    """A RIFE 4.7 layout at its real widths and a Real-ESRGAN Compact x4 (general-x4v3's
    size), random weights."""
    import torch
    from spandrel.architectures.Compact import Compact

    from stages.interpolate.rife_net import IFNet, Layout

    torch.manual_seed(0)
    rife = IFNet(Layout((192, 128, 96, 64), 6, "pair", 4), encoder_width=16)
    paths = {"rife": directory / "rife47.pth", "upscale": directory / "compact4x.pth"}
    torch.save(rife.state_dict(), paths["rife"])
    compact = Compact(num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=32, upscale=4)
    torch.save(compact.state_dict(), paths["upscale"])
    return paths


def _one(what: str, how: str, model: Path, source: Path, out: Path, device: str) -> dict[str, Any]:
    import torch

    from orchestrator.engine.context import NodeContext, NoModels
    from orchestrator.media.encode import LOSSLESS, write_video
    from orchestrator.media.video import probe_video, read_frames

    info = probe_video(source)
    precision = "fp16" if device.startswith("cuda") else "fp32"
    if what == "rife":
        from stages.interpolate.rife import RifeInterpolator, load_state_dict
        from stages.interpolate.rife_net import build

        node: Any = RifeInterpolator(str(model), factor=2, precision=precision, device=device)
    else:
        from spandrel import ModelLoader

        from stages.upscale import ModelUpscaler

        node = ModelUpscaler(str(model), tile=512, precision=precision, device=device)
    dtype = torch.float16 if precision == "fp16" else torch.float32
    started = time.perf_counter()
    if how == "ours":
        ctx = NodeContext(what, out.parent, {}, NoModels())
        if what == "rife":
            node.run(source, False, out, ctx)
        else:
            node.run(source, out, ctx)
        written = ctx.metrics["frames"]
    else:
        if what == "rife":
            net = build(load_state_dict(model)).to(device=device, dtype=dtype)
            call = lambda a, b: net(a, b, torch.tensor([0.5], device=device))  # noqa: E731
        else:
            upscaler = ModelLoader().load_from_file(model).eval().to(device).to(dtype)
            call = lambda a, b: upscaler(a)  # noqa: E731
        written = write_video(
            out,
            _direct(what, call, read_frames(source), device, dtype),
            fps=info.fps * (2 if what == "rife" else 1),
            codec=LOSSLESS,
        )
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    gpu = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None
    return {"frames": written, "seconds": seconds, "peak_mib": peak_kib / 1024, "gpu_gib": gpu}


def _direct(what: str, call: Any, frames: Any, device: str, dtype: Any) -> Any:
    """The plain loop: each frame to a tensor, the network, back to bytes."""
    import torch
    import torch.nn.functional as F

    def tensor(frame: Any) -> Any:
        x = torch.from_numpy(np.asarray(frame)).to(device).permute(2, 0, 1)[None]
        return x.contiguous().float().div(255).to(dtype)

    def pixels(y: Any) -> np.ndarray:
        return (y[0].float() * 255).round().clamp(0, 255).byte().permute(1, 2, 0).cpu().numpy()

    previous = None
    with torch.inference_mode():
        for frame in frames:
            x = tensor(frame)
            if what == "upscale":
                yield pixels(call(x, None))
                continue
            h, w = x.shape[2:]
            x = F.pad(x, (0, -w % 64, 0, -h % 64))
            if previous is not None:
                yield pixels(call(previous[0], x)[:, :, :h, :w])
            yield np.asarray(frame)
            previous = (x,)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="256x144")
    parser.add_argument("--frames", type=int, nargs=2, default=(9, 33))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", choices=("rife", "upscale"))
    parser.add_argument("--_run", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._run:
        what, how, model, source, out = args._run
        print(json.dumps(_one(what, how, Path(model), Path(source), Path(out), args.device)))
        return
    width, height = map(int, args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        models = _models(work)
        results: dict[tuple[str, str, int], dict[str, Any]] = {}
        for frames in args.frames:
            source = work / f"source{frames}.mkv"
            _source(source, frames, width, height)
            for what in [args.only] if args.only else ["rife", "upscale"]:
                for how in ("direct", "ours"):
                    out = work / f"{what}-{how}-{frames}.mkv"
                    argv = [sys.executable, __file__, "--device", args.device, "--_run", what, how,
                            str(models[what]), str(source), str(out)]  # fmt: skip
                    line = subprocess.run(argv, check=True, capture_output=True, text=True)
                    result = json.loads(line.stdout.strip().splitlines()[-1])
                    results[what, how, frames] = result
                    fps = result["frames"] / result["seconds"]
                    gpu = f", GPU {result['gpu_gib']:.2f} GiB" if result["gpu_gib"] else ""
                    print(f"{what:<7} {how:<6} {frames:>3} frames in: {result['frames']} out in "
                          f"{result['seconds']:.2f} s, {fps:.2f} fps, peak RSS "
                          f"{result['peak_mib']:.0f} MiB{gpu}")  # fmt: skip
        short, long = args.frames
        for what in [args.only] if args.only else ["rife", "upscale"]:
            ours, direct = results[what, "ours", long], results[what, "direct", long]
            ratio = (ours["frames"] / ours["seconds"]) / (direct["frames"] / direct["seconds"])
            growth = ours["peak_mib"] / results[what, "ours", short]["peak_mib"]
            print(f"{what}: ours/direct fps {ratio:.3f} ({long} frames, {args.size}, "
                  f"{args.device}); peak RSS {long}/{short} frames {growth:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
