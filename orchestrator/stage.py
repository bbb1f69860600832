"""The contract between the engine and the stages: requests, the node context, backend protocols.

Stages implement these protocols and are named in config by `_target_`; the engine only ever
talks to them through this module's types.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from orchestrator.plan.timeline import Timeline
from orchestrator.engine.context import NodeContext


@dataclass(frozen=True)
class KeyframeRequest:
    shot: int
    shots: int
    prompt: str
    negative_prompt: str
    width: int
    height: int
    seed: int
    # The shot's cast LoRAs as (file, scale), loaded on top of the backend's own.
    loras: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class SegmentRequest:
    shot: int
    index: int
    prompt: str
    negative_prompt: str
    width: int
    height: int
    num_frames: int
    fps: Fraction
    seed: int
    # How much motion the music asks for (1: the backend's own); backends may ignore it.
    motion_scale: float = 1.0
    # Speech-driven backends (`speech_driven`): the shot's speech, and where in it (seconds,
    # negative before it starts) the clip's first frame falls; None for other backends.
    speech: Path | None = None
    speech_at: float = 0.0


@runtime_checkable
class Backend(Protocol):
    """Every backend: a code version for cache keys and the model group it needs loaded."""

    version: str
    model_group: str | None

    def validate(self, timeline: Timeline) -> None:
        """Raise UserError for anything this backend cannot do with the planned job."""


class KeyframeBackend(Backend, Protocol):
    def render(
        self, request: KeyframeRequest, image: Image.Image | None, ctx: NodeContext
    ) -> Image.Image:
        """One keyframe at the request's size; `image` is the shot's own picture, if any."""


# The config keys of a video backend's continuation: in a chained segment's key only when
# `continuation` is not `frame`, so first clips and `frame` jobs keep their keys.
CONTINUATION_KEYS = ("continuation", "motion_frames", "motion_latents")

# continuation=latent: a segment's store entry also holds its final (denoised, not yet decoded)
# latents, so the next clip is conditioned on them without a VAE round trip.
LATENTS_FILE = "latents.safetensors"
# ... each of which packs this many frames, so a chained clip starts on a multiple of it.
LATENT_FRAMES = 4

# Backends that make sound (`makes_sound`): a segment's store entry also holds the clip's own
# audio, as long as the clip, at the model's rate (`audio=native` stitches them).
SOUND_FILE = "sound.wav"


@dataclass(frozen=True)
class LatentContext:
    """The previous clip's stored latents and the frame of that clip the next one starts on."""

    file: Path
    start_frame: int
    # The keyframe the chain started from, for backends whose `latent_anchor` is set.
    anchor: np.ndarray | None = None


class VideoBackend(Backend, Protocol):
    clip_frames: int
    fps: float
    size_multiple: int
    supports_last_image: bool
    # How a chained clip starts (`frame`: from one frame; `motion`: from the last
    # `motion_frames` frames of the clip before), and the modes this backend can do.
    # `latent`: from the stored latents of the clip before, its last `motion_latents`.
    continuation: str
    motion_frames: int
    motion_latents: int
    continuations: tuple[str, ...]
    # continuation=latent: whether a chained clip is also conditioned on its chain's first
    # keyframe (SVI 2.0 Pro's anchor), which the segment node then reads.
    latent_anchor: bool
    # The unconditional text a clip gets when neither its job nor its shot sets one (the model
    # authors' own); None for a backend that reads no prompt.
    negative_prompt: str | None

    def generate(
        self,
        request: SegmentRequest,
        start: np.ndarray,
        end: np.ndarray | None,
        ctx: NodeContext,
        *,
        context: Sequence[np.ndarray] | None = None,
        latents: LatentContext | None = None,
    ) -> Iterator[np.ndarray]:
        """Yield `request.num_frames` RGB frames; the first reproduces `start`, and the last
        reproduces `end` when given. `context` (continuation=motion, chained clips only): the
        previous clip's last frames, oldest first, ending with `start`, read bit-exact from
        its lossless clip. `latents` (continuation=latent, chained clips only): the clip
        before's stored latents; with continuation=latent every clip writes its own to
        `ctx.out_dir / LATENTS_FILE`."""


class AudioBackend(Backend, Protocol):
    def render(self, timeline: Timeline, out: Path, ctx: NodeContext) -> None:
        """Write the job's audio track, exactly `timeline.duration` long, to `out`."""


class VideoToAudioBackend(AudioBackend, Protocol):
    """Audio made from the finished video, in windows the engine runs as nodes of their own.

    The engine adds one `audio_weights` node (`convert_weights` into its folder, once per set
    of weight files), one `effects/<i>` node per window (`generate`, reading the final video),
    and then the audio node, which calls `mix` with the windows' files in order."""

    weights_version: str

    def weights_params(self) -> dict[str, Any]: ...

    def convert_weights(self, out_dir: Path, ctx: NodeContext) -> None: ...

    def effect_windows(self, timeline: Timeline) -> list[Any]: ...

    def window_prompt(self, timeline: Timeline, window: Any) -> str: ...

    def effects_params(self) -> dict[str, Any]: ...

    def generate(
        self, window: Any, prompt: str, seed: int, video: Path, weights: Path, ctx: NodeContext
    ) -> np.ndarray:
        """(channels, window.length) float32 samples at `window.rate`."""

    def mix(self, timeline: Timeline, effects: list[Path], out: Path, ctx: NodeContext) -> None:
        """Join the windows (and whatever else the backend mixes in) into `out`, exactly
        `timeline.duration` long."""
