"""LTX-2's sound: a clip's own generated audio, and speech held clean while the picture follows.

LTX-2 denoises video and audio latents together, each stream cross-attending to the other.
Given a line of speech, renga encodes it as the model's audio VAE does in training (log-mel,
then `audio_vae.encode`) and holds those latents clean through every step (timestep 0, never
stepped), so lips and gestures follow the speech in one pass. diffusers'
`LTX2ConditionPipeline` noises whatever audio latents it is handed and steps them with its
scheduler; `held_audio` swaps in, for one call, a `prepare_audio_latents` that returns the
clean latents and an audio scheduler that keeps them: the pipeline's own `__call__` runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.media.audio import read_audio

# The STFT LTX-2's audio VAE was trained on (ltx-core AudioProcessor: n_fft = window = 1024,
# the VAE's hop, Slaney mel, magnitude, natural log clamped at 1e-5).
N_FFT = 1024
LOG_FLOOR = 1e-5


def audio_latent_count(pipe: Any, num_frames: int, fps: float) -> int:
    """Audio latents the pipeline makes for a clip, as its `__call__` computes them."""
    per_second = pipe.audio_sampling_rate / pipe.audio_hop_length
    per_second /= float(pipe.audio_vae_temporal_compression_ratio)
    return round(num_frames / fps * per_second)


def speech_window(path: Path, rate: int, channels: int, start: float, length: int) -> np.ndarray:
    """(channels, length) samples of the speech from `start` s (negative: silence first)."""
    out = np.zeros((channels, length), np.float32)
    skip = max(0, round(-start * rate))
    if skip >= length:
        return out
    samples = read_audio(
        path, rate=rate, channels=channels, start=max(start, 0.0), duration=(length - skip) / rate
    )
    take = min(samples.shape[1], length - skip)
    out[:, skip : skip + take] = samples[:, :take]
    return out


def log_mel(samples: np.ndarray, rate: int, hop: int, bins: int) -> np.ndarray:
    """(channels, frames, bins) log-mel of (channels, n) samples, the VAE's input layout."""
    import librosa

    mel = librosa.feature.melspectrogram(
        y=samples, sr=rate, n_fft=N_FFT, hop_length=hop, win_length=N_FFT, window="hann",
        center=True, pad_mode="reflect", power=1.0, n_mels=bins, fmin=0.0, fmax=rate / 2,
        htk=False, norm="slaney",
    )  # fmt: skip
    return np.log(np.maximum(mel, LOG_FLOOR)).transpose(0, 2, 1).astype(np.float32)


def speech_latents(pipe: Any, samples: np.ndarray, count: int) -> Any:
    """The audio VAE's latents (1, C, count, M) of the speech: its mean (no sampling), cut or
    padded with the encoding of silence to the `count` latents the clip holds."""
    import torch

    vae = pipe.audio_vae
    mel = log_mel(samples, pipe.audio_sampling_rate, pipe.audio_hop_length, pipe.audio_mel_bins)
    with torch.inference_mode():
        pixels = torch.from_numpy(mel)[None].to(vae.device, vae.dtype)
        latents = vae.encode(pixels).latent_dist.mode()
        if latents.shape[2] < count:
            silence = np.full((mel.shape[0], N_FFT // 2, mel.shape[2]), np.log(LOG_FLOOR))
            quiet = torch.from_numpy(silence.astype(np.float32))[None].to(vae.device, vae.dtype)
            pad = vae.encode(quiet).latent_dist.mode()[:, :, :1]
            latents = torch.cat([latents, pad.expand(-1, -1, count - latents.shape[2], -1)], 2)
    return latents[:, :, :count].float()


class HeldScheduler:
    """An audio scheduler that keeps the audio where it is: every timestep 0 (the transformer
    sees clean audio), every step returns the sample it was given. Its sigmas are ones only so
    the pipeline's x0/velocity conversions of the (discarded) audio prediction stay finite."""

    order = 1

    def __init__(self) -> None:
        self.timesteps: Any = None
        self.sigmas: Any = None

    def set_timesteps(
        self,
        num_inference_steps: int | None = None,
        device: Any = None,
        sigmas: Any = None,
        mu: float | None = None,
        timesteps: Any = None,
    ) -> None:
        import torch

        count = len(sigmas) if sigmas is not None else int(num_inference_steps or 0)
        self.timesteps = torch.zeros(count, device=device)
        self.sigmas = torch.ones(count + 1, device=device)

    def step(self, model_output: Any, timestep: Any, sample: Any, return_dict: bool = False):
        return (sample,)


@contextmanager
def held_audio(pipe: Any, latents: Any) -> Iterator[None]:
    """While open, the pipeline's audio stream starts from `latents` (unnormalised, as the VAE
    makes them) without noise and stays there: one call of the pipeline's own `__call__`."""
    vae = pipe.audio_vae
    packed = pipe._normalize_audio_latents(
        pipe._pack_audio_latents(latents), vae.latents_mean, vae.latents_std
    )

    def prepare_audio_latents(*args: Any, **kwargs: Any) -> Any:
        return packed.to(device=kwargs.get("device"), dtype=kwargs.get("dtype"))

    before = pipe.audio_scheduler
    pipe.prepare_audio_latents = prepare_audio_latents
    pipe.audio_scheduler = HeldScheduler()
    try:
        yield
    finally:
        del pipe.prepare_audio_latents
        pipe.audio_scheduler = before


def clip_sound(audio: Any) -> np.ndarray:
    """The pipeline's (1, channels, n) waveform as float32 (channels, n) in [-1, 1]."""
    samples = audio[0].detach().float().cpu().numpy()
    return np.clip(samples, -1.0, 1.0).astype(np.float32)
