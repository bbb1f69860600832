"""SkyReels-V2 causal blocks: which clip lengths the diffusion-forcing pipelines denoise whole.

With `causal_block_size` c > 1 (upstream's asynchronous recipe: `ar_step 5`, c = 5) the
pipelines' step matrix has `latents // c` blocks per window; the `latents % c` latents after
the last block are never stepped, and come out as noise (and, fed on as history, spoil the next
clip) while the call returns normally. Every window of every call must hold whole blocks. The
window arithmetic below is the pipelines' own (diffusers `SkyReelsV2DiffusionForcing*`
`__call__`/`prepare_latents`: the first window `base`, each later one `overlap` latents of
history plus the new ones, at most `base`).
"""

from __future__ import annotations

from dataclasses import dataclass

from stages.video.wan_motion import motion_usable

TEMPORAL = 4


def latents(frames: int) -> int:
    return (frames - 1) // TEMPORAL + 1


def windows(total: int, base: int, overlap: int | None) -> list[int]:
    """The latent count of each window of one pipeline call of `total` frames."""
    count, window = latents(total), latents(base)
    if overlap is None or total <= base:
        return [count]
    history = latents(overlap)
    steps = 1 + (count - window - 1) // (window - history) + 1
    done = [k * (window - history) + history for k in range(1, steps)]
    return [window] + [min(count - finished + history, window) for finished in done]


@dataclass(frozen=True)
class Call:
    """How `SkyReelsV2DF.generate` calls the pipelines for a clip of `frames` new frames after
    `context` frames of history (1: a keyframe or a single start frame, the I2V pipeline)."""

    frames: int
    context: int
    base_num_frames: int
    motion_frames: int

    @property
    def known(self) -> int:
        return motion_usable(self.context) if self.context > 1 else 1

    @property
    def total(self) -> int:
        return self.frames + self.known - 1

    @property
    def base(self) -> int:
        # Upstream computes zero windows when the clip is shorter than the base window.
        return min(self.base_num_frames, self.total)

    @property
    def overlap(self) -> int | None:
        if self.known > 1:
            return self.known
        return self.motion_frames if self.total > self.base_num_frames else None

    def windows(self) -> list[int]:
        return windows(self.total, self.base, self.overlap)

    def whole(self, block: int) -> bool:
        return all(count % block == 0 for count in self.windows())


def fitting(call: Call, block: int, longest: int) -> list[int]:
    """Clip lengths (4k+1, up to `longest`) whose every window holds whole blocks, for a clip
    with `call`'s history."""
    lengths = range(5, longest + 1, TEMPORAL)
    return [n for n in lengths if _with(call, n).whole(block)]


def fitted(call: Call, block: int, longest: int) -> int:
    """`call.frames` if it holds whole blocks, else the nearest length that does: the shortest
    longer one up to `longest`, or the longest shorter one; unchanged when none does."""
    if call.whole(block):
        return call.frames
    lengths = fitting(call, block, longest)
    longer = [n for n in lengths if n > call.frames]
    shorter = [n for n in lengths if n < call.frames]
    if longer:
        return longer[0]
    return shorter[-1] if shorter else call.frames


def _with(call: Call, frames: int) -> Call:
    return Call(frames, call.context, call.base_num_frames, call.motion_frames)
