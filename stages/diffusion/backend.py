"""What every diffusers-backed backend shares: model settings, plan-time checks, the pooled pipe.

Subclasses say which pipeline class they drive, which of its modules are denoisers (experts)
and which step caches the model supports; this class turns their config into a PipelineSpec,
checks it at plan time and fetches the pipeline from the run's pool.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from orchestrator.engine.context import NodeContext
from orchestrator.engine.errors import UserError
from orchestrator.plan.timeline import Lora
from stages.diffusion import model_folders
from stages.diffusion.files import check_single_file, locate
from stages.diffusion.loading import import_pipeline, load_pipeline
from stages.diffusion.spec import (
    DTYPES,
    RUNTIME_KEYS,
    PipelineSpec,
    Runtime,
    check_loras,
    check_runtime,
)


class DiffusersBackend:
    group: str = ""
    config_group: str = ""
    pipeline: str = ""
    transformer_class: str = ""
    denoisers: tuple[str, ...] = ("transformer",)
    step_caches: tuple[str, ...] = ("none",)
    cache_exclude = RUNTIME_KEYS
    # The model this backend drives, checked against the folder at plan time.
    holds: model_folders.Holds | None = None

    def __init__(
        self,
        model: str,
        transformer: str | None = None,
        dtype: str = "auto",
        device: str = "auto",
        allow_download: bool = False,
        loras: Sequence[Mapping[str, Any]] = (),
        lora_sets: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
        offload: str = "none",
        vae_tiling: bool = False,
        fp8: bool = False,
        attention: str | None = None,
        compile: bool = False,
        step_cache: str = "none",
        cache_threshold: float | None = None,
        mag_ratios: Sequence[float] = (),
        mag_calibrate: bool = False,
        single_files: Mapping[str, str | None] | None = None,
        transformer_config: str | None = None,
    ) -> None:
        self.model = model
        self.dtype = dtype
        self.device = device
        self.allow_download = allow_download
        # Presets add named sets, which merge (`preset=[lightning,svi]` loads both); they load
        # first, in name order, then the user's own list.
        sets = lora_sets or {}
        keyed = [
            (f"lora_sets.{name}[{i}]", lora)
            for name in sorted(sets)
            for i, lora in enumerate(sets[name])
        ]
        keyed += [(f"loras[{i}]", lora) for i, lora in enumerate(loras)]
        self.lora_keys = tuple(key for key, _ in keyed)
        self.loras = tuple(Lora(**dict(lora)) for _, lora in keyed)
        self.runtime = Runtime(
            offload=offload,
            vae_tiling=vae_tiling,
            fp8=fp8,
            attention=attention,
            compile=compile,
            step_cache=step_cache,
            cache_threshold=cache_threshold,
            mag_ratios=tuple(mag_ratios),
            mag_calibrate=mag_calibrate,
        )
        files = {"transformer": transformer, **(single_files or {})}
        self.single_files = {name: path for name, path in files.items() if path}
        self.transformer_config = transformer_config
        self._spec: PipelineSpec | None = None
        self.model_group = self.group

    def validate(self, timeline: Any) -> None:
        self.spec()

    def spec(self) -> PipelineSpec:
        """The checked pipeline spec; every missing file or bad setting is a UserError here."""
        if self._spec is not None:
            return self._spec
        prefix = self.config_group
        if self.dtype != "auto" and self.dtype not in DTYPES:
            raise UserError(
                f"{prefix}.dtype",
                f"unknown value {self.dtype!r}; expected auto or {', '.join(DTYPES)}",
            )
        source = locate(self.model, f"{prefix}.model", self.allow_download)
        config = None
        if self.single_files:
            ref = self.transformer_config or self.model
            key = f"{prefix}.transformer_config" if self.transformer_config else f"{prefix}.model"
            name = next(iter(self.single_files))
            config = locate(ref, key, self.allow_download, marker=f"{name}/config.json")
        single = tuple(
            (name, self.transformer_class, check_single_file(path, f"{prefix}.{name}"))
            for name, path in self.single_files.items()
        )
        self.check_model(source, config, single)
        for name, _, _ in single:
            if name not in self.denoisers:
                raise ValueError(f"{name} is not a transformer of {self.pipeline}")
        check_runtime(self.runtime, self.device, self.step_caches, prefix)
        runtime = self.runtime
        if runtime.step_cache == "magcache" and not runtime.mag_calibrate:
            runtime = replace(runtime, mag_steps=self.expert_steps(source))
        check_loras(
            self.loras,
            [f"{prefix}.{key}" for key in self.lora_keys],
            experts=len(self.denoisers) > 1,
        )
        self._spec = PipelineSpec(
            pipeline=self.pipeline,
            source=source,
            key=prefix,
            dtype=self.dtype,
            device=self.device,
            allow_download=self.allow_download,
            single_files=single,
            single_file_config=config,
            runtime=runtime,
            loras=self.loras,
            denoisers=self.denoisers,
            step_caches=self.step_caches,
        )
        return self._spec

    def check_model(
        self, source: str, config: str | None, single: tuple[tuple[str, str, str], ...]
    ) -> None:
        """The folder, the single files' config and the single files hold this backend's model."""
        if self.holds is None or self.holds.option is None:
            return
        prefix, expected = self.config_group, (self.holds.option, self.holds.label)
        model_folders.check_folder(source, f"{prefix}.model", *expected)
        if config is not None and config != source:
            model_folders.check_folder(config, f"{prefix}.transformer_config", *expected)
        for name, _, path in single:
            model_folders.check_single_file(path, f"{prefix}.{name}", *expected)

    def pipe(self, ctx: NodeContext) -> Any:
        spec = self.spec()
        import_pipeline(spec)
        return ctx.models.get(repr(spec), lambda: self.prepare(load_pipeline(spec)))

    def expert_steps(self, source: str) -> tuple[int, ...]:
        """How many steps each denoiser takes (MagCache splits its ratios by them)."""
        return (len(self.runtime.mag_ratios),)

    def prepare(self, pipe: Any) -> Any:
        """Adjust a freshly loaded pipeline (scheduler, boundaries) before first use."""
        return pipe

    def cached(self, ctx: NodeContext, kind: str, text: str, make: Callable[[], Any]) -> Any:
        """A per-run value keyed by text, e.g. prompt embeddings computed once per prompt."""
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        return ctx.models.get(f"{repr(self.spec())}/{kind}/{digest}", make)

    def encoded(self, ctx: NodeContext, text: str, encode: Callable[[], Any]) -> Any:
        """Prompt embeddings, once per run and prompt, computed without autograd as the
        pipeline's own call computes them (under no_grad): with autograd on they carry the
        text encoder's graph for the whole run, and UMT5's differ by ~8e-7 (other kernels)."""

        def make() -> Any:
            import torch

            with torch.inference_mode():
                return encode()

        return self.cached(ctx, "prompt", text, make)

    def umt5_encoded(
        self, ctx: NodeContext, pipe: Any, request: Any, cfg: bool, max_length: int
    ) -> Any:
        """`encoded` for the UMT5 pipelines (Wan 2.2, SkyReels-V2): (embeds, negative embeds),
        the negative only with classifier-free guidance (`cfg`)."""
        prompt, negative = request.prompt, request.negative_prompt
        return self.encoded(
            ctx,
            f"{cfg}\0{prompt}\0{negative}",
            lambda: pipe.encode_prompt(
                prompt=prompt,
                negative_prompt=negative,
                do_classifier_free_guidance=cfg,
                max_sequence_length=max_length,
                device=pipe._execution_device,
            ),
        )


def step_callback(ctx: NodeContext, total: int, done: int = 0) -> Callable[..., dict[str, Any]]:
    """A diffusers `callback_on_step_end` that reports steps to the node's progress bar (a
    call after `done` steps of the node's `total` counts on from them)."""

    def callback(pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        ctx.steps(done + step + 1, total)
        return {}

    return callback
