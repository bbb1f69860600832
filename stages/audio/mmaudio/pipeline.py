"""One MMAudio window end to end: frames by timestamp -> CLIP, Synchformer and text features ->
Euler/CFG sampling of the flow network -> VAE -> vocoder -> samples.

All parts are built from the converted safetensors of the `audio_weights` node (and the
open_clip folder), loaded once per run through the model pool.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from stages.audio.mmaudio.variants import NetworkConfig, Variant


@dataclass(frozen=True)
class Shapes:
    """The sizes of every part: the variant's own, unless `audio.shapes` overrides some (a
    fine-tuned model of another size, or the tiny models of the tests)."""

    network: NetworkConfig
    synchformer: Any
    decoder: Any

    @classmethod
    def of(cls, variant: Variant, overrides: dict[str, Any] | None) -> Shapes:
        from stages.audio.mmaudio.decoder import decoder_config
        from stages.audio.mmaudio.synchformer import SynchformerConfig

        overrides = dict(overrides or {})
        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(
                f"unknown parts {sorted(unknown)}; expected network, synchformer, decoder"
            )
        network = replace(variant.network, **overrides.get("network", {}))
        synchformer = SynchformerConfig(**overrides.get("synchformer", {}))
        decoder = decoder_config(variant.name)
        changes = dict(overrides.get("decoder", {}))
        if "vocoder" in changes:
            vocoder = {k: _tuples(v) for k, v in changes.pop("vocoder").items()}
            changes["vocoder"] = replace(decoder.vocoder, **vocoder)
        decoder = replace(decoder, **{k: _tuples(v) for k, v in changes.items()})
        if decoder.sample_rate != variant.sample_rate or decoder.latent_dim != network.latent_dim:
            raise ValueError("the decoder's sample_rate and latent_dim must match the network's")
        return cls(network, synchformer, decoder)


def _tuples(value: Any) -> Any:
    """Config lists as the tuples the frozen shape dataclasses hold."""
    if isinstance(value, list | tuple):
        return tuple(_tuples(v) for v in value)
    return value


class MMAudioPipeline:
    """The loaded parts of one variant on one device."""

    def __init__(
        self, variant: Variant, net: Any, clip: Any, synchformer: Any, decoder: Any, device: str
    ) -> None:
        self.variant = variant
        self.net = net
        self.clip = clip
        self.synchformer = synchformer
        self.decoder = decoder
        self.device = device

    @classmethod
    def load(
        cls,
        variant: Variant,
        shapes: Shapes,
        converted: dict[str, Path],
        *,
        clip: str,
        device: str,
        dtype: Any,
    ) -> MMAudioPipeline:
        from safetensors.torch import load_file

        from stages.audio.mmaudio.clip import ClipEncoder
        from stages.audio.mmaudio.decoder import build_decoder
        from stages.audio.mmaudio.flow_weights import build_flow
        from stages.audio.mmaudio.synchformer import build_synchformer

        def state(key: str) -> dict[str, Any]:
            return load_file(str(converted[key]), device="cpu")

        net = build_flow(state("model"), shapes.network, converted["model"])
        synchformer = build_synchformer(state("synchformer"), shapes.synchformer)
        decoder = build_decoder(state("vae"), state("vocoder"), shapes.decoder, device=device)
        encoder = ClipEncoder.load(clip)
        # The flow and the conditioners run in the working dtype; the decoder stays float32 as
        # upstream keeps its mel statistics and vocoder in full precision.
        return cls(
            variant,
            net.to(device, dtype),
            encoder.to(device, dtype),
            synchformer.to(device, dtype),
            decoder,
            device,
        )

    def generate(
        self,
        *,
        video: Path,
        start: float,
        seconds: float,
        samples: int,
        prompt: str,
        negative_prompt: str,
        seed: int,
        steps: int,
        cfg_strength: float,
        mask_away_clip: bool,
        progress: Any = None,
        timings: dict[str, float] | None = None,
    ) -> np.ndarray:
        """(1, samples) float32 audio for [start, start + seconds) of `video`; `timings` gets
        the seconds each part took (frames, clip, synchformer, sampling, decode)."""
        import torch

        clock = _Clock(timings)

        from stages.audio.mmaudio.frames import window_frames
        from stages.audio.mmaudio.sampler import sample

        sequence = self.variant.sequence(seconds)
        frames = window_frames(
            video,
            Fraction(start).limit_denominator(10**6),
            seconds,
            clip_size=self.clip.image_size,
            sync_size=self.synchformer.cfg.image_size,
        )
        clock.lap("frames")
        net = self.net
        net.set_lengths(sequence.latent_len, sequence.clip_len, sequence.sync_len)
        with torch.inference_mode():
            text = self.clip.encode_text([prompt])
            if mask_away_clip:
                clip = net.empty_clip(1)
            else:
                clip = self.clip.encode_images(frames.clip[None])
            clock.lap("clip")
            sync = self.synchformer.encode(frames.sync[None])
            clock.lap("synchformer")
            dtype = net.latent_mean.dtype
            conditions = net.conditions(clip.to(dtype), sync.to(dtype), text.to(dtype))
            # As MMAudio's demo: the unconditional text is the negative prompt's features, even
            # when it is empty (CLIP of "", not the learned empty-string feature).
            negative = self.clip.encode_text([negative_prompt]).to(dtype)
            empty = net.empty_conditions(1, negative)
            generator = torch.Generator("cpu").manual_seed(seed)
            latents = sample(
                net, conditions, empty, generator, steps=steps, cfg_strength=cfg_strength,
                callback=progress,
            )  # fmt: skip
            clock.lap("sampling")
            audio = self.decoder.decode(latents.float())
            clock.lap("decode")
        out = audio[:, :samples].float().cpu().numpy()
        if out.shape[1] < samples:
            raise ValueError(f"decoder gave {out.shape[1]} samples, the window needs {samples}")
        return out.astype(np.float32)


class _Clock:
    """Seconds per part into `timings` (synchronising the GPU so each part owns its time)."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        import time

        self.timings = timings
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        if self.timings is None:
            return
        import time

        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
        now = time.perf_counter()
        self.timings[name] = round(self.timings.get(name, 0.0) + now - self.last, 3)
        self.last = now
