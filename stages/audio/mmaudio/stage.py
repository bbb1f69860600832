"""`audio=mmaudio` and `audio=mix`: sound generated from the finished video, window by window.

The engine gives each window its own node (resumable, parallel on Ray): the frames of that
stretch of the final video, the prompt of the shot it mostly covers and a seed of its own go
through CLIP + Synchformer + the flow network + the VAE and vocoder; the audio node joins the
windows with equal-power crossfades to exactly the video's duration and mixes in the
soundtrack and speech. The official weight files are converted once into safetensors by their
own node, so later runs (and other workers) load plain tensors.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.engine.context import NodeContext
from orchestrator.engine.errors import UserError, status
from orchestrator.media.audio import write_audio
from orchestrator.plan.timeline import Timeline
from stages.audio.mmaudio.clip import clip_folder
from stages.audio.mmaudio.decoder_weights import convert_vae, convert_vocoder
from stages.audio.mmaudio.files import CONVERTED, HF_REPO, SUBDIRS, SYNCHFORMER_FILE, WeightFiles
from stages.audio.mmaudio.windows import (
    AudioWindow,
    equal_power_join,
    plan_windows,
    read_windows,
    shot_at,
)
from stages.audio.track import (
    SoundtrackAudio,
    duck,
    limit_peak,
    normalise_loudness,
    speech_track,
)
from stages.diffusion.spec import DTYPES, resolve_device, resolve_dtype

# Synchformer needs 16 frames at 25 fps: windows shorter than this are generated this long and cut.
MIN_WINDOW_SECONDS = 1.0


class MMAudioAudio:
    """`audio=mmaudio`: effects and ambience for the video (plus the job's speech, ducking them)."""

    version = "2"
    weights_version = "1"
    model_group = "mmaudio"

    def __init__(
        self,
        variant: str = "large_44k_v2",
        weights_dir: str = "models/mmaudio",
        model: str | None = None,
        vae: str | None = None,
        synchformer: str | None = None,
        clip: str = "apple/DFN5B-CLIP-ViT-H-14-384",
        vocoder: str | None = None,
        steps: int = 25,
        cfg_strength: float = 4.5,
        negative_prompt: str = "",
        mask_away_clip: bool = False,
        window: float = 8.0,
        overlap: float = 1.0,
        device: str = "auto",
        dtype: str = "auto",
        duck_db: float = 12.0,
        shapes: dict[str, Any] | None = None,
    ) -> None:
        self.variant = variant
        self.shapes = shapes
        self.weights_dir = weights_dir
        self.files = {"model": model, "vae": vae, "synchformer": synchformer}
        self.clip = clip
        self.vocoder = vocoder
        self.steps = steps
        self.cfg_strength = cfg_strength
        self.negative_prompt = negative_prompt
        self.mask_away_clip = mask_away_clip
        self.window = window
        self.overlap = overlap
        self.device = device
        self.dtype = dtype
        self.duck_db = duck_db
        self._weights: WeightFiles | None = None

    # -- plan time ---------------------------------------------------------------------------

    def validate(self, timeline: Timeline) -> None:
        from stages.audio.mmaudio.variants import VARIANTS

        if self.variant not in VARIANTS:
            raise UserError("audio.variant", f"must be one of {', '.join(VARIANTS)}")
        if self.steps < 1:
            raise UserError("audio.steps", f"must be at least 1, got {self.steps}")
        if self.cfg_strength < 0:
            raise UserError("audio.cfg_strength", f"must be 0 or more, got {self.cfg_strength}")
        if not 1.0 <= self.window <= 30.0:
            raise UserError("audio.window", f"must be between 1 and 30 s, got {self.window}")
        if not 0.0 <= self.overlap <= self.window / 2:
            raise UserError(
                "audio.overlap", f"must be between 0 and half the window, got {self.overlap}"
            )
        if self.dtype != "auto" and self.dtype not in DTYPES:
            raise UserError("audio.dtype", f"must be auto or one of {', '.join(DTYPES)}")
        self._check_soundtrack(timeline)
        self._shapes()
        self._weights = self._locate_weights()

    def _check_soundtrack(self, timeline: Timeline) -> None:
        if timeline.soundtrack is not None:
            raise UserError(
                "job.soundtrack",
                "audio=mmaudio makes the sound from the video and would drop this soundtrack; "
                "use audio=mix to keep it with the effects under it, or set job.soundtrack=null",
            )

    def _locate_weights(self) -> WeightFiles:
        from stages.audio.mmaudio.variants import VARIANTS

        variant = VARIANTS[self.variant]
        names = {
            "model": variant.file,
            "vae": variant.vae_file,
            "synchformer": SYNCHFORMER_FILE,
        }
        found = {key: self._official_file(key, name) for key, name in names.items()}
        missing = [f"{SUBDIRS[key]}/{names[key]}" for key, path in found.items() if path is None]
        if missing:
            folder = Path(os.path.expanduser(self.weights_dir))
            raise UserError(
                "audio.weights_dir",
                f"MMAudio weights missing in {folder}: {', '.join(missing)}; download them with "
                f"`hf download {HF_REPO} {' '.join(missing)} --local-dir {folder}` "
                "(CC-BY-NC 4.0: non-commercial use only)",
            )
        return WeightFiles(
            model=found["model"],
            vae=found["vae"],
            synchformer=found["synchformer"],
            clip=str(clip_folder(self.clip, "audio.clip")),
            vocoder=str(self._vocoder()),
        )

    def _vocoder(self) -> Path:
        """The 44.1 kHz variants use NVIDIA's BigVGAN v2 (a folder or cached repo); small_16k
        its own `best_netG.pt`, found with the other official files."""
        from stages.audio.mmaudio.decoder import BIGVGAN_V2_44K, decoder_config
        from stages.audio.mmaudio.decoder_weights import locate_vocoder

        cfg = decoder_config(self.variant)
        ref = self.vocoder
        if ref is None and cfg.vocoder_ref == BIGVGAN_V2_44K:
            ref = BIGVGAN_V2_44K
        if ref is None:
            found = self._official_file("vocoder", cfg.vocoder_ref)
            if found is None:
                folder = Path(os.path.expanduser(self.weights_dir))
                wanted = f"{SUBDIRS['vocoder']}/{cfg.vocoder_ref}"
                raise UserError(
                    "audio.vocoder",
                    f"{self.variant} needs {wanted} in {folder}; download it with "
                    f"`hf download {HF_REPO} {wanted} --local-dir {folder}`",
                )
            return found
        return locate_vocoder(ref, "audio.vocoder", cfg)

    def _official_file(self, key: str, name: str) -> Path | None:
        explicit = self.files.get(key)
        if explicit is not None:
            path = Path(os.path.expanduser(explicit)).absolute()
            if not path.is_file():
                raise UserError(f"audio.{key}", f"file not found: {path}")
            return path
        folder = Path(os.path.expanduser(self.weights_dir)).absolute()
        for candidate in (folder / name, folder / SUBDIRS[key] / name):
            if candidate.is_file():
                return candidate
        return None

    def weights(self) -> WeightFiles:
        if self._weights is None:
            self._weights = self._locate_weights()
        return self._weights

    # -- graph -------------------------------------------------------------------------------

    @property
    def sample_rate(self) -> int:
        from stages.audio.mmaudio.variants import VARIANTS

        return VARIANTS[self.variant].sample_rate

    def effect_windows(self, timeline: Timeline) -> list[AudioWindow]:
        total = round(timeline.duration * self.sample_rate)
        return plan_windows(total, self.sample_rate, self.window, self.overlap)

    def window_prompt(self, timeline: Timeline, window: AudioWindow) -> str:
        """The sound prompt of the shot that covers most of the window (ping-pong loops play
        the shots back in reverse, so the way back maps onto the same shots)."""
        fps = float(timeline.fps)
        forward = timeline.forward_frames
        cover: dict[int, int] = {}
        first = int(window.start_seconds * fps)
        last = max(first + 1, int(np.ceil((window.end / window.rate) * fps)))
        for frame in range(first, min(last, timeline.frames)):
            source = frame if frame < forward else 2 * forward - 2 - frame
            shot = shot_at(timeline, source)
            cover[shot] = cover.get(shot, 0) + 1
        best = max(cover, key=lambda s: (cover[s], -s)) if cover else 0
        return timeline.shots[best].sound or timeline.shots[best].motion

    def weights_params(self) -> dict[str, Any]:
        """The official files (by path, size and modification time: hashing gigabytes at every
        plan would cost more than the conversion it saves) and the variant they are for."""
        from stages.audio.mmaudio.decoder_weights import generator_files

        files = self.weights()
        params: dict[str, Any] = {"variant": self.variant, "shapes": self.shapes}
        paths = {key: getattr(files, key) for key in ("model", "vae", "synchformer")}
        paths["vocoder"] = generator_files(files.vocoder)[0]
        for key, path in paths.items():
            stat = path.stat()
            params[key] = [str(path), stat.st_size, stat.st_mtime_ns]
        return params

    def effects_params(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "clip": self.weights().clip,
            "steps": self.steps,
            "cfg_strength": self.cfg_strength,
            "negative_prompt": self.negative_prompt,
            "mask_away_clip": self.mask_away_clip,
            "shapes": self.shapes,
            "device": self.device,
            "dtype": self.dtype,
        }

    # -- nodes -------------------------------------------------------------------------------

    def convert_weights(self, out_dir: Path, ctx: NodeContext) -> None:
        """The official files as safetensors under our module names, checked strictly."""
        from safetensors.torch import save_file

        from stages.audio.mmaudio import flow_weights, synchformer

        shapes = self._shapes()
        files = self.weights()
        steps = [
            ("model", lambda: flow_weights.convert_flow(files.model, shapes.network)),
            ("vae", lambda: convert_vae(files.vae, shapes.decoder)),
            ("vocoder", lambda: convert_vocoder(files.vocoder, shapes.decoder)),
            (
                "synchformer",
                lambda: synchformer.convert_synchformer(files.synchformer, shapes.synchformer),
            ),
        ]
        for done, (key, convert) in enumerate(steps):
            state = {k: v.contiguous() for k, v in convert().items()}
            save_file(state, str(out_dir / CONVERTED[key]))
            del state
            ctx.steps(done + 1, len(steps))

    def generate(
        self,
        window: AudioWindow,
        prompt: str,
        seed: int,
        video: Path,
        weights: Path,
        ctx: NodeContext,
    ) -> np.ndarray:
        """(1, window.length) float32 samples for the window's stretch of `video`."""
        pipeline = ctx.models.get(f"mmaudio:{weights}", lambda: self._load(weights))
        seconds = max(Fraction(window.length, window.rate), Fraction(MIN_WINDOW_SECONDS))
        timings: dict[str, float] = {}
        samples = pipeline.generate(
            video=video,
            start=Fraction(window.start, window.rate),
            seconds=seconds,
            samples=window.length,
            prompt=prompt,
            negative_prompt=self.negative_prompt,
            seed=seed,
            steps=self.steps,
            cfg_strength=self.cfg_strength,
            mask_away_clip=self.mask_away_clip,
            progress=ctx.steps,
            timings=timings,
        )
        ctx.metrics["seconds"] = timings
        return samples

    def _load(self, weights: Path) -> Any:
        from stages.audio.mmaudio.pipeline import MMAudioPipeline
        from stages.audio.mmaudio.variants import VARIANTS

        device = resolve_device(self.device)
        status(f"loading MMAudio {self.variant} from {weights} onto {device}")
        return MMAudioPipeline.load(
            VARIANTS[self.variant],
            self._shapes(),
            {key: weights / name for key, name in CONVERTED.items()},
            clip=self.weights().clip,
            device=device,
            dtype=resolve_dtype(self.dtype, device),
        )

    def _shapes(self) -> Any:
        from stages.audio.mmaudio.pipeline import Shapes
        from stages.audio.mmaudio.variants import VARIANTS

        try:
            return Shapes.of(VARIANTS[self.variant], self.shapes)
        except (TypeError, ValueError) as exc:
            raise UserError("audio.shapes", str(exc)) from None

    def mix(self, timeline: Timeline, effects: list[Path], out: Path, ctx: NodeContext) -> None:
        rate = self.sample_rate
        windows = self.effect_windows(timeline)
        total = windows[-1].end
        speech = speech_track(timeline, rate, 1, total)
        joined = equal_power_join(windows, read_windows(effects, rate, 1))
        if speech is None:
            write_audio(out, joined, rate)
            return
        track = np.concatenate(list(joined), axis=1)
        write_audio(out, limit_peak(duck(track, speech, rate, self.duck_db) + speech, 1.0), rate)


class MixAudio(MMAudioAudio):
    """`audio=mix`: the soundtrack (levelled as `audio=track` does), the effects under it and
    speech over both."""

    def __init__(
        self,
        rate: int = 48000,
        channels: int = 2,
        lufs: float | None = -14.0,
        fade_in: float = 0.02,
        fade_out: float = 0.5,
        effects_db: float = -6.0,
        effects_duck_db: float = 9.0,
        **mmaudio: Any,
    ) -> None:
        super().__init__(**mmaudio)
        self.soundtrack = SoundtrackAudio(
            rate, channels, lufs, fade_in, fade_out, duck_db=self.duck_db
        )
        self.effects_db = effects_db
        self.effects_duck_db = effects_duck_db

    def validate(self, timeline: Timeline) -> None:
        self.soundtrack.validate(timeline)
        super().validate(timeline)

    def _check_soundtrack(self, timeline: Timeline) -> None:
        if timeline.soundtrack is None:
            raise UserError("job.soundtrack", "audio=mix needs a soundtrack (or use audio=mmaudio)")

    def mix(self, timeline: Timeline, effects: list[Path], out: Path, ctx: NodeContext) -> None:
        import librosa

        music = self.soundtrack.music(timeline)
        rate, (channels, total) = self.soundtrack.rate, music.shape
        windows = self.effect_windows(timeline)
        joined = equal_power_join(windows, read_windows(effects, self.sample_rate, 1))
        effect = librosa.resample(
            np.concatenate(list(joined), axis=1)[0], orig_sr=self.sample_rate, target_sr=rate
        )
        fx = np.zeros((channels, total), np.float32)
        fx[:, : min(total, effect.shape[0])] = effect[:total]
        if self.soundtrack.lufs is not None:
            fx = normalise_loudness(fx, rate, self.soundtrack.lufs + self.effects_db)
        else:
            fx *= np.float32(10 ** (self.effects_db / 20))
        mixed = music + duck(fx, music, rate, self.effects_duck_db)
        speech = speech_track(timeline, rate, channels, total)
        if speech is not None:
            mixed = duck(mixed, speech, rate, self.duck_db) + speech
        write_audio(out, limit_peak(mixed, 1.0), rate)
