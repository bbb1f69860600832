"""Building a diffusers pipeline from its `PipelineSpec`: components, LoRAs, memory settings.

Loading reads a local diffusers folder or the Hugging Face cache, never the network unless
`allow_download=true`; memory and speed settings are applied here, once, so every stage gets
them the same way. The pool (`pool.py`) calls this once per model per run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orchestrator.plan.timeline import Lora
from stages.diffusion.files import offline
from stages.diffusion.spec import PipelineSpec, resolve_device, resolve_dtype
from stages.diffusion.step_caches import apply_step_cache


def import_pipeline(spec: PipelineSpec) -> None:
    """Import the pipeline's modules (diffusers loads them on first use) before the pool loads
    it, so the pool sets them aside from garbage collection with the rest of the libraries."""
    import diffusers

    getattr(diffusers, spec.pipeline)


def load_pipeline(spec: PipelineSpec) -> Any:
    """Build the pipeline `spec` describes, on its device, with its settings and LoRAs applied."""
    import diffusers

    from orchestrator.engine.errors import status

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
