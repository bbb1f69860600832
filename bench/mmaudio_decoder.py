"""Seconds to decode one MMAudio window (latents -> waveform) at the real sizes.

Builds the real-size VAE decoder and BigVGAN vocoder (random weights: speed does not depend on
them) exactly as `build_decoder` does, decodes windows of `--seconds`, and prints the seconds
per window for each half and the real-time factor (audio seconds per second of compute). Run
from the repository root:

    python bench/mmaudio_decoder.py [--rate 44k] [--seconds 8] [--device cpu] [--dtype float32]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from stages.audio.mmaudio.decoder import (  # noqa: E402
    DECODERS,
    AudioDecoder,
    vae_module,
    vocoder_module,
)


def timed(fn, arg: torch.Tensor, device: str) -> tuple[float, torch.Tensor]:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn(arg).sample
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", choices=sorted(DECODERS), default="44k")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default=None, help="float32 (CPU default) or bfloat16")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    cfg = DECODERS[args.rate]
    dtype = getattr(torch, args.dtype or ("float32" if args.device == "cpu" else "bfloat16"))
    decoder = AudioDecoder(vae_module(cfg).eval(), vocoder_module(cfg).eval(), cfg)
    decoder.to(args.device, dtype)
    latent_len = math.ceil(args.seconds * cfg.sample_rate / cfg.latent_hop)
    z = torch.randn(1, cfg.latent_dim, latent_len, device=args.device, dtype=dtype)
    print(f"{args.rate} {args.device} {dtype}: {latent_len} latents -> "
          f"{cfg.samples(latent_len)} samples ({args.seconds:g} s)")  # fmt: skip
    print(f"{'run':>4} {'vae s':>8} {'vocoder s':>10} {'total s':>8} {'x realtime':>11}")
    with torch.inference_mode():
        for run in range(args.repeats + 1):
            vae_s, mel = timed(decoder.vae.decode, z, args.device)
            voc_s, _ = timed(decoder.vocoder, mel, args.device)
            label, total = ("warm" if run == 0 else str(run)), vae_s + voc_s
            rtf = args.seconds / total
            print(f"{label:>4} {vae_s:8.2f} {voc_s:10.2f} {total:8.2f} {rtf:11.2f}")


if __name__ == "__main__":
    main()
