"""MMAudio flow network at real size on this machine: loading cost and per-step cost.

Loading: `build_flow(convert_flow(file))` (meta device + assign, no random init) against the
plain way (construct the module, `torch.load`, `load_state_dict`), each in a fresh process so
peak RSS is its own. Stepping: one `velocity` call with conditions computed once per window
against recomputing them every step as a plain `forward(x, clip, sync, text, t)` would. The
weights are random, written in the official layout. Run from the repository root:

    python bench/mmaudio_flow.py [--variant small_44k] [--seconds 8]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import torch  # noqa: E402

from stages.audio.mmaudio.flow_weights import build_flow, convert_flow  # noqa: E402
from stages.audio.mmaudio.network import FlowNetwork  # noqa: E402
from stages.audio.mmaudio.variants import VARIANTS  # noqa: E402


def load_once(how: str, path: Path, variant: str) -> None:
    """Load the file one way, then print seconds and peak RSS in MiB."""
    cfg = VARIANTS[variant].network
    start = time.perf_counter()
    if how == "ours":
        net = build_flow(convert_flow(path, cfg), cfg)
    else:
        net = FlowNetwork(cfg)
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    seconds = time.perf_counter() - start
    assert net.latent_std.isfinite().all()
    print(seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def measure_load(how: str, path: Path, variant: str) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--load", how, "--path", str(path), "--variant", variant],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(out[0]), float(out[1])


def measure_step(path: Path, variant: str, seconds: float) -> tuple[float, float]:
    cfg, seq = VARIANTS[variant].network, VARIANTS[variant].sequence(seconds)
    net = build_flow(convert_flow(path, cfg), cfg)
    net.set_lengths(seq.latent_len, seq.clip_len, seq.sync_len)
    clip = torch.randn(1, seq.clip_len, cfg.clip_dim)
    sync = torch.randn(1, seq.sync_len, cfg.sync_dim)
    text = torch.randn(1, cfg.text_len, cfg.text_dim)
    x = torch.randn(1, seq.latent_len, cfg.latent_dim)
    with torch.inference_mode():
        cond = net.conditions(clip, sync, text)
        net.velocity(x, 0.5, cond)
        start = time.perf_counter()
        net.velocity(x, 0.5, cond)
        cached = time.perf_counter() - start
        start = time.perf_counter()
        net.velocity(x, 0.5, net.conditions(clip, sync, text))
        plain = time.perf_counter() - start
    return cached, plain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="small_44k", choices=sorted(VARIANTS))
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--load", choices=("ours", "plain"), help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        load_once(args.load, args.path, args.variant)
        return

    from tiny_mmaudio_flow import write_official_flow

    cfg = VARIANTS[args.variant].network
    with tempfile.TemporaryDirectory() as tmp:
        path = write_official_flow(Path(tmp) / "flow.pth", cfg)
        ours_s, ours_mb = measure_load("ours", path, args.variant)
        plain_s, plain_mb = measure_load("plain", path, args.variant)
        cached, plain_step = measure_step(path, args.variant, args.seconds)
    print(f"{args.variant}, {args.seconds:g} s window, {torch.get_num_threads()} threads")
    print(f"{'':22} {'ours':>9} {'plain':>9} {'plain/ours':>10}")
    print(f"{'load seconds':22} {ours_s:9.2f} {plain_s:9.2f} {plain_s / ours_s:10.2f}")
    print(f"{'load peak RSS MiB':22} {ours_mb:9.0f} {plain_mb:9.0f} {plain_mb / ours_mb:10.2f}")
    print(f"{'step seconds':22} {cached:9.2f} {plain_step:9.2f} {plain_step / cached:10.2f}")
    print(f"ratio plain/ours load seconds: {plain_s / ours_s:.2f}")


if __name__ == "__main__":
    main()
