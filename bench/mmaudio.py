"""MMAudio at real size: seconds per 8-s window, part by part, and the real-time factor.

Random weights in the official layouts at the real shapes of a variant (default `small_44k`:
157M flow network, DFN5B ViT-H-14-384 CLIP, the Synchformer, the 44.1 kHz VAE and BigVGAN v2)
go through renga's own path: the `audio_weights` conversion, then `MMAudioPipeline` on one
window of a synthetic 24 fps 640x360 video, 25 steps with CFG 4.5 as MMAudio's defaults. Prints
the conversion time, each part's seconds and, last, the ratio of generation time to the audio's
duration (below 1: faster than real time). Run from the repository root:

    python bench/mmaudio.py [--variant small_44k] [--seconds 8] [--steps 25]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

from orchestrator.media.encode import LOSSLESS, write_video

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import numpy as np  # noqa: E402
import torch  # noqa: E402
from open_clip.factory import get_model_config  # noqa: E402
from tiny_mmaudio_cond import write_clip_folder, write_official_synchformer  # noqa: E402
from tiny_mmaudio_decoder import write_official_vae, write_official_vocoder  # noqa: E402
from tiny_mmaudio_flow import write_official_flow  # noqa: E402

from orchestrator.engine.context import NodeContext  # noqa: E402
from stages.audio.mmaudio.decoder import decoder_config  # noqa: E402
from stages.audio.mmaudio.stage import MMAudioAudio  # noqa: E402
from stages.audio.mmaudio.synchformer import SynchformerConfig  # noqa: E402
from stages.audio.mmaudio.variants import VARIANTS  # noqa: E402
from stages.audio.mmaudio.windows import AudioWindow  # noqa: E402
from stages.diffusion.pool import ModelPool  # noqa: E402
from stages.diffusion.spec import resolve_device, resolve_dtype  # noqa: E402


def write_install(root: Path, variant: str) -> dict[str, Path]:
    """The official files of `variant` at real size, random weights."""
    spec, decoder = VARIANTS[variant], decoder_config(variant)
    weights = root / "mmaudio"
    (weights / "ext_weights").mkdir(parents=True)
    torch.manual_seed(0)
    write_official_flow(weights / "weights" / spec.file, spec.network)
    write_official_vae(weights / "ext_weights" / spec.vae_file, decoder)
    write_official_synchformer(
        weights / "ext_weights" / "synchformer_state_dict.pth", SynchformerConfig()
    )
    if spec.vocoder_file:
        raise SystemExit(f"{variant}: pick a 44.1 kHz variant for this benchmark")
    write_official_vocoder(root / "bigvgan", decoder)
    clip = get_model_config("ViT-H-14-378-quickgelu")
    clip["vision_cfg"]["image_size"] = 384
    write_clip_folder(root / "clip", model_cfg=clip)
    return {"weights_dir": weights, "vocoder": root / "bigvgan", "clip": root / "clip"}


def synthetic_video(path: Path, seconds: float) -> Path:
    """A moving gradient with a bouncing square: 24 fps, 640x360."""
    frames = round(seconds * 24)
    y, x = np.mgrid[0:360, 0:640]

    def picture(i: int) -> np.ndarray:
        image = np.stack([(x + 4 * i) % 256, (y + 2 * i) % 256, (x + y) % 256], -1)
        left = int(300 + 250 * np.sin(i / 7))
        image[150:210, left : left + 60] = 255
        return image.astype(np.uint8)

    write_video(path, (picture(i) for i in range(frames)), fps=Fraction(24), codec=LOSSLESS)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="small_44k")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    name = (
        torch.cuda.get_device_name()
        if device == "cuda"
        else f"CPU, {torch.get_num_threads()} threads"
    )
    with tempfile.TemporaryDirectory(prefix="renga-mmaudio-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        files = write_install(root, args.variant)
        print(f"wrote random official files in {time.perf_counter() - started:.1f} s")
        video = synthetic_video(root / "video.mkv", args.seconds)
        backend = MMAudioAudio(
            variant=args.variant,
            weights_dir=str(files["weights_dir"]),
            clip=str(files["clip"]),
            vocoder=str(files["vocoder"]),
            steps=args.steps,
            device=args.device,
        )
        converted = root / "converted"
        converted.mkdir()
        with ModelPool() as pool:
            ctx = NodeContext("audio_weights", converted, {}, pool)
            started = time.perf_counter()
            backend.convert_weights(converted, ctx)
            print(f"convert official files -> safetensors: {time.perf_counter() - started:.1f} s")
            rate = VARIANTS[args.variant].sample_rate
            window = AudioWindow(0, 0, round(args.seconds * rate), rate)
            started = time.perf_counter()
            # The name the stage asks the pool for, so generate() finds the parts loaded.
            pool.get(f"mmaudio:{converted}", lambda: backend._load(converted))
            loaded = time.perf_counter() - started
            print(f"load ({device}, {resolve_dtype(backend.dtype, device)}): {loaded:.1f} s")
            ctx = NodeContext("effects/0", root, {}, pool)
            started = time.perf_counter()
            samples = backend.generate(window, "waves and wind", 0, video, converted, ctx)
            seconds = time.perf_counter() - started
        assert samples.shape == (1, window.length) and np.isfinite(samples).all()
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in ctx.metrics["seconds"].items())
        print(f"{args.variant} on {name}: one {args.seconds:g}-s window ({args.steps} steps, "
              f"cfg 4.5): {seconds:.1f} s ({parts})")  # fmt: skip
        print(f"ratio generation time / audio duration: {seconds / args.seconds:.2f}")


if __name__ == "__main__":
    main()
