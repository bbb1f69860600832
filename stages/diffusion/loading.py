"""Model pool and diffusers loading: where weights are, how they load, how they fit in memory.

The pool loads each model once per run and releases a group (emptying the CUDA cache) before
another loads. Loading reads a local diffusers folder or the Hugging Face cache, never the
network unless `allow_download=true`; memory and speed settings are applied here, once, so
every stage gets them the same way.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.engine.errors import UserError

OFFLOADS = ("none", "model", "sequential", "group")
STEP_CACHES = ("none", "first_block", "taylorseer", "magcache")
EXPERTS = ("high", "low", "both")
DTYPES = {"bf16": "bfloat16", "bfloat16": "bfloat16", "fp16": "float16", "float16": "float16"}
DTYPES |= {"fp32": "float32", "float32": "float32"}
SINGLE_FILE_SUFFIXES = (".safetensors", ".gguf")


class ModelPool:
    def __init__(self) -> None:
        self._models: dict[str, Any] = {}
        self.group: str | None = None
        self.loads = 0

    def __enter__(self) -> ModelPool:
        """For one run: everything alive before it is set aside from garbage collection, so
        releasing a model group scans only what the run created (a full scan of a process
        holding torch and diffusers takes a quarter of a second)."""
        gc.freeze()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        gc.unfreeze()

    def get(self, name: str, loader: Callable[[], Any]) -> Any:
        """The model called `name`, loading it with `loader` the first time it is asked for."""
        if name not in self._models:
            if not self._models:
                # No model is alive: set aside all that is (the libraries imported since the
                # run began, above all), so a release scans only what the group's loads create.
                gc.freeze()
            self._models[name] = loader()
            self.loads += 1
        return self._models[name]

    def switch(self, group: str | None) -> None:
        """Make room for `group`: release every model of the previous group."""
        if group is not None and group != self.group:
            self.release()
            self.group = group

    def release(self) -> None:
        """Drop every model and collect the cycles that would keep their weights alive."""
        self.group = None
        if not self._models:
            return
        self._models.clear()
        gc.collect()
        if cuda := _cuda():
            cuda.empty_cache()


@dataclass(frozen=True)
class Lora:
    """A LoRA file as users download it; `expert` routes it to Wan's high/low-noise transformer."""

    path: str
    scale: float = 1.0
    expert: str = "both"


@dataclass(frozen=True)
class Runtime:
    """Memory and speed settings: none of them changes what a model computes, only how."""

    offload: str = "none"
    vae_tiling: bool = False
    fp8: bool = False
    attention: str | None = None
    compile: bool = False
    step_cache: str = "none"
    cache_threshold: float | None = None
    mag_ratios: tuple[float, ...] = ()
    # Render without skipping and measure the ratios (MagCache's calibration run).
    mag_calibrate: bool = False
    # How many of the run's steps each denoiser takes, in order (each counts its own from 0).
    mag_steps: tuple[int, ...] = ()


# Settings that never change a result; backends leave them out of cache keys.
RUNTIME_KEYS = ("offload", "vae_tiling", "fp8", "attention", "compile", "device")
RUNTIME_KEYS += ("allow_download",)


@dataclass(frozen=True)
class PipelineSpec:
    """Everything needed to build one pipeline; its repr names the model in the pool."""

    pipeline: str
    source: str
    key: str
    dtype: str = "auto"
    device: str = "auto"
    allow_download: bool = False
    single_files: tuple[tuple[str, str, str], ...] = ()
    single_file_config: str | None = None
    runtime: Runtime = field(default_factory=Runtime)
    loras: tuple[Lora, ...] = ()
    denoisers: tuple[str, ...] = ("transformer",)
    step_caches: tuple[str, ...] = ("none",)


def _cuda() -> Any | None:
    """torch.cuda when a run has imported torch and has a GPU; renga never imports torch itself
    just to ask."""
    torch = sys.modules.get("torch")
    return torch.cuda if torch is not None and torch.cuda.is_available() else None


def reset_peak_memory() -> None:
    if cuda := _cuda():
        cuda.reset_peak_memory_stats()


def peak_memory_gib() -> float | None:
    """The most GPU memory tensors held since the last reset, in GiB (None without a GPU)."""
    cuda = _cuda()
    return round(cuda.max_memory_allocated() / 2**30, 2) if cuda else None


def resolve_device(name: str) -> str:
    if name != "auto":
        return name
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def resolve_dtype(name: str, device: str) -> Any:
    import torch

    if name == "auto":
        return torch.bfloat16 if device != "cpu" else torch.float32
    return getattr(torch, DTYPES[name])


def download_command(repo: str, local_dir: str | None = None) -> str:
    target = local_dir or f"models/{repo.split('/')[-1]}"
    return f"hf download {repo} --local-dir {target}"


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _looks_like_repo(ref: str) -> bool:
    parts = ref.split("/")
    return len(parts) == 2 and all(parts) and not ref.startswith((".", "~", "/"))


def _in_hf_cache(repo: str, filename: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo, filename)
    return isinstance(found, str)


def locate(ref: str, key: str, allow_download: bool, marker: str = "model_index.json") -> str:
    """Plan time: the local folder or cached repo `ref` names, else one line with the fix.

    `marker` is the file the folder must hold (a pipeline's `model_index.json`, or
    `<subfolder>/config.json` for a single-file component's config).
    """
    path = Path(os.path.expanduser(ref))
    if path.is_dir():
        if not (path / marker).is_file():
            raise UserError(key, f"{path} is not a diffusers model folder (no {marker})")
        return str(path)
    if _looks_like_repo(ref) and not path.exists():
        if _in_hf_cache(ref, marker):
            return ref
        if allow_download and not offline():
            return ref
        how = (
            "HF_HUB_OFFLINE is set, so nothing is downloaded"
            if allow_download
            else "or set allow_download=true"
        )
        raise UserError(
            key,
            f"model {ref} is not in the Hugging Face cache; download it with "
            f"`{download_command(ref)}` and set {key}=models/{ref.split('/')[-1]} ({how})",
        )
    raise UserError(key, f"model folder not found: {path}")


def check_single_file(path: str, key: str) -> str:
    file = Path(os.path.expanduser(path)).absolute()
    if not file.is_file():
        raise UserError(key, f"file not found: {file}")
    if file.suffix not in SINGLE_FILE_SUFFIXES:
        raise UserError(key, f"expected a .safetensors or .gguf file, got {file.name}")
    if file.suffix == ".gguf" and importlib.util.find_spec("gguf") is None:
        raise UserError(key, "GGUF files need the gguf package: pip install gguf")
    return str(file)


def check_runtime(runtime: Runtime, device: str, step_caches: Sequence[str], prefix: str) -> None:
    """Plan time: reject settings this machine or this model cannot honour."""
    _one_of(runtime.offload, OFFLOADS, f"{prefix}.offload")
    if runtime.offload in ("model", "sequential") and resolve_device(device) == "cpu":
        raise UserError(
            f"{prefix}.offload",
            f"{runtime.offload} offload moves weights to an accelerator and none was found; "
            "use offload=group or offload=none on CPU",
        )
    _one_of(runtime.step_cache, STEP_CACHES, f"{prefix}.step_cache")
    if runtime.step_cache not in step_caches:
        raise UserError(
            f"{prefix}.step_cache",
            f"{runtime.step_cache} is not supported by this model; use one of "
            f"{', '.join(step_caches)}",
        )
    if runtime.mag_calibrate and runtime.step_cache != "magcache":
        raise UserError(
            f"{prefix}.mag_calibrate",
            f"calibration measures MagCache's ratios; set {prefix}.step_cache=magcache too",
        )
    if runtime.step_cache == "magcache" and not runtime.mag_ratios and not runtime.mag_calibrate:
        raise UserError(
            f"{prefix}.mag_ratios",
            "magcache needs this model's magnitude ratios; measure them with one render with "
            f"{prefix}.step_cache=magcache {prefix}.mag_calibrate=true and paste the "
            f"{prefix}.mag_ratios=[...] line it prints",
        )
    if runtime.attention:
        from diffusers.models.attention_dispatch import AttentionBackendName

        _one_of(runtime.attention, [b.value for b in AttentionBackendName], f"{prefix}.attention")


def check_loras(loras: Sequence[Lora], prefix: str, experts: bool) -> None:
    for i, lora in enumerate(loras):
        key = f"{prefix}.loras[{i}]"
        check = Path(os.path.expanduser(lora.path))
        if not check.is_file():
            raise UserError(f"{key}.path", f"file not found: {check.absolute()}")
        _one_of(lora.expert, EXPERTS, f"{key}.expert")
        if not experts and lora.expert != "both":
            raise UserError(f"{key}.expert", "this model has one transformer; use expert=both")


def _one_of(value: str, allowed: Sequence[str], key: str) -> None:
    if value not in allowed:
        raise UserError(key, f"unknown value {value!r}; expected one of {', '.join(allowed)}")


def import_pipeline(spec: PipelineSpec) -> None:
    """Import the pipeline's modules (diffusers loads them on first use) before the pool loads
    it, so the pool sets them aside from garbage collection with the rest of the libraries."""
    import diffusers

    getattr(diffusers, spec.pipeline)


def load_pipeline(spec: PipelineSpec) -> Any:
    """Build the pipeline `spec` describes, on its device, with its settings and LoRAs applied."""
    import diffusers

    from orchestrator.engine.progress import status

    _quiet()
    _prime_device_constructors()
    device = resolve_device(spec.device)
    status(f"loading {spec.pipeline} ({spec.key}) from {source_words(spec.source)} onto {device}")
    for name, _, path in spec.single_files:
        status(f"  {name} from {path}")
    dtype = resolve_dtype(spec.dtype, device)
    local_only = not spec.allow_download or offline()
    components = {
        name: _single_file(getattr(diffusers, cls), path, spec, name, dtype)
        for name, cls, path in spec.single_files
    }
    pipeline_cls = getattr(diffusers, spec.pipeline)
    pipe = pipeline_cls.from_pretrained(
        spec.source, dtype=dtype, local_files_only=local_only, **components
    )
    pipe.set_progress_bar_config(disable=True)
    _apply_loras(pipe, spec.loras, spec.denoisers)
    _apply_runtime(pipe, spec, device, dtype)
    return pipe


def source_words(source: str) -> str:
    """Where a model's weights come from, as a user would look for them."""
    if Path(os.path.expanduser(source)).is_dir():
        return str(Path(os.path.expanduser(source)).absolute())
    return f"the Hugging Face cache ({source})"


def _prime_device_constructors() -> None:
    """torch lists the tensor constructors a `with torch.device(...)` block redirects the first
    time such a block runs. transformers loads models in a meta-device block with `torch.linspace`
    swapped for a wrapper; were that the first block, the list would keep the wrapper, and every
    later meta block (MMAudio's weight conversion) would make its linspace tensors on the CPU."""
    import torch

    with torch.device("meta"):
        torch.empty(0)


def _quiet() -> None:
    """Loading bars and library warnings would tear through renga's own progress display."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()


def _single_file(cls: Any, path: str, spec: PipelineSpec, name: str, dtype: Any) -> Any:
    """A component from one file; its config always comes from the model, never a guess."""
    kwargs: dict[str, Any] = {}
    if path.endswith(".gguf"):
        from diffusers import GGUFQuantizationConfig

        kwargs["quantization_config"] = GGUFQuantizationConfig(compute_dtype=dtype)
    return cls.from_single_file(
        path,
        config=spec.single_file_config or spec.source,
        subfolder=name,
        dtype=dtype,
        local_files_only=not spec.allow_download or offline(),
        **kwargs,
    )


def _apply_loras(pipe: Any, loras: Sequence[Lora], denoisers: Sequence[str]) -> None:
    if not loras:
        return
    adapters = lora_adapters(loras, denoisers)
    for name, path, target, _ in adapters:
        extra = {"load_into_transformer_2": True} if target == "transformer_2" else {}
        pipe.load_lora_weights(path, adapter_name=name, **extra)
    pipe.set_adapters([a[0] for a in adapters], adapter_weights=[a[3] for a in adapters])


def lora_adapters(
    loras: Sequence[Lora], denoisers: Sequence[str]
) -> list[tuple[str, str, str, float]]:
    """(adapter name, file, target denoiser, scale) of the backend's own LoRAs, as loaded."""
    adapters = []
    for i, lora in enumerate(loras):
        path = os.path.expanduser(lora.path)
        targets = denoisers if lora.expert == "both" else (_expert(lora.expert, denoisers),)
        adapters += [(f"lora{i}_{target}", path, target, lora.scale) for target in targets]
    return adapters


def _expert(expert: str, denoisers: Sequence[str]) -> str:
    return denoisers[0] if expert == "high" else denoisers[-1]


def _apply_runtime(pipe: Any, spec: PipelineSpec, device: str, dtype: Any) -> None:
    import torch

    runtime = spec.runtime
    present = [name for name in spec.denoisers if getattr(pipe, name, None)]
    denoisers = [getattr(pipe, name) for name in present]
    for name, model in zip(present, denoisers, strict=True):
        if runtime.fp8:
            model.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=dtype)
        if runtime.attention:
            model.set_attention_backend(runtime.attention)
        apply_step_cache(model, runtime, spec.denoisers.index(name))
    if runtime.vae_tiling:
        pipe.vae.enable_tiling()
    if runtime.offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif runtime.offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
    elif runtime.offload == "group":
        pipe.enable_group_offload(
            onload_device=torch.device(device),
            offload_device=torch.device("cpu"),
            offload_type="block_level",
            num_blocks_per_group=1,
            use_stream=device == "cuda",
        )
    elif device != "cpu":
        # from_pretrained already built every component on the CPU; moving it there again
        # only walks every module (8 ms a pipeline).
        pipe.to(device)
    if runtime.compile:
        for model in denoisers:
            model.compile_repeated_blocks(fullgraph=False)


def apply_step_cache(model: Any, runtime: Runtime, index: int) -> None:
    """Enable the step cache on the denoiser that is `index`th in the pipeline's list."""
    from diffusers import hooks

    threshold = {} if runtime.cache_threshold is None else {"threshold": runtime.cache_threshold}
    if runtime.step_cache == "first_block":
        model.enable_cache(hooks.FirstBlockCacheConfig(**threshold))
    elif runtime.step_cache == "magcache":
        config = _mag_cache_config(runtime, index, threshold)
        if config is not None:
            model.enable_cache(config)
    elif runtime.step_cache == "taylorseer":
        import torch

        config = hooks.TaylorSeerCacheConfig(taylor_factors_dtype=torch.float32)
        if hasattr(model, "enable_cache"):
            model.enable_cache(config)
        else:
            hooks.apply_taylorseer_cache(model, config)


# A calibrating hook resets (and prints) its ratios once it has counted this many steps;
# it never gets there, so the measured ratios stay readable after the run.
CALIBRATION_STEPS = 2**31


def _mag_cache_config(runtime: Runtime, index: int, threshold: dict[str, float]) -> Any:
    """Each expert's hook counts its own steps from 0, so it gets its own slice of the run's
    ratios; None for an expert that takes no step."""
    from diffusers import hooks

    if runtime.mag_calibrate:
        return hooks.MagCacheConfig(calibrate=True, num_inference_steps=CALIBRATION_STEPS)
    steps = runtime.mag_steps or (len(runtime.mag_ratios),)
    start = sum(steps[:index])
    if steps[index] == 0:
        return None
    return hooks.MagCacheConfig(
        **threshold,
        mag_ratios=list(runtime.mag_ratios[start : start + steps[index]]),
        num_inference_steps=steps[index],
    )


def mag_calibration(pipe: Any, denoisers: Sequence[str]) -> list[float]:
    """The ratios the calibrating hooks measured this clip, in the run's step order: each
    expert's own steps in turn, each step the mean over the guidance passes (cond, uncond),
    which share one list when the ratios are used."""
    from diffusers.hooks.hooks import CacheContext

    ratios: list[float] = []
    for name in denoisers:
        model = getattr(pipe, name, None)
        if model is None:
            continue
        manager = _mag_head_hook(model).state_manager
        passes = []
        for context in ("cond", "uncond", "inference"):
            manager.set_context(CacheContext(context))
            passes.append(list(manager.get_state().calibration_ratios))
        manager.set_context(None)
        measured = [p for p in passes if p]
        if measured and len({len(p) for p in measured}) != 1:
            raise RuntimeError(f"{name}: MagCache passes measured different step counts")
        ratios += [sum(step) / len(step) for step in zip(*measured, strict=True)]
    return ratios


def count_mag_skips(pipe: Any, denoisers: Sequence[str], counts: dict[str, int]) -> list[Any]:
    """Count the passes MagCache skipped into `counts`, read after each denoiser call from its
    head hook's decision (the denoiser itself is never compiled, so hooking it costs nothing)."""
    handles = []
    for name in denoisers:
        model = getattr(pipe, name, None)
        block = _mag_head_block(model) if model is not None else None
        if block is None:
            continue
        manager = _mag_head(block._diffusers_hook).state_manager
        counts[name] = 0

        def hook(
            module: Any, args: Any, out: Any, name: str = name, manager: Any = manager
        ) -> None:
            counts[name] += not manager.get_state().should_compute

        handles.append(model.register_forward_hook(hook))
    return handles


def _mag_head_block(model: Any) -> Any:
    for module in model.modules():
        registry = getattr(module, "_diffusers_hook", None)
        if registry is not None and _mag_head(registry) is not None:
            return module
    return None


def _mag_head_hook(model: Any) -> Any:
    block = _mag_head_block(model)
    if block is None:
        raise RuntimeError(f"{type(model).__name__} has no MagCache hook")
    return _mag_head(block._diffusers_hook)


def _mag_head(registry: Any) -> Any:
    from diffusers.hooks.mag_cache import MagCacheHeadHook

    return next((h for h in registry.hooks.values() if isinstance(h, MagCacheHeadHook)), None)


def reset_step_caches(pipe: Any, denoisers: Sequence[str]) -> None:
    """Step caches keep state between calls; each keyframe or clip starts from none."""
    from diffusers.hooks import HookRegistry

    for name in denoisers:
        model = getattr(pipe, name, None)
        if model is not None:
            HookRegistry.check_if_exists_or_initialize(model).reset_stateful_hooks()


def count_calls(pipe: Any, denoisers: Sequence[str], counts: dict[str, int]) -> list[Any]:
    """Count each denoiser's forward calls into `counts` (which expert ran how often)."""
    handles = []
    for name in denoisers:
        model = getattr(pipe, name, None)
        if model is None:
            continue

        def hook(module: Any, args: Any, name: str = name) -> None:
            counts[name] = counts.get(name, 0) + 1

        handles.append(model.register_forward_pre_hook(hook))
    return handles
