"""Per-node LoRAs on a pipeline that stays loaded: a cast's character LoRAs come and go by shot.

The base model loads once per run (the pool's key names only the backend's own LoRAs); a node
asking for other files loads each as a named adapter the first time and then only switches which
adapters are active and at what scale, which costs milliseconds where reloading costs the model.
Adapters a node does not ask for stay in memory, inactive, for the next shot that names them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from stages.diffusion.loading import lora_adapters
from stages.diffusion.spec import PipelineSpec, resolve_device, resolve_dtype


def adapter_name(path: str) -> str:
    """A stable adapter name for a file (diffusers names must be unique per pipeline)."""
    return "cast_" + hashlib.sha256(path.encode()).hexdigest()[:12]


def use_loras(pipe: Any, loras: Sequence[Sequence[Any]], spec: PipelineSpec) -> list[str]:
    """Make exactly the backend's own LoRAs plus `loras` ((file, scale) pairs) active on `pipe`;
    returns the active adapter names."""
    own = [(name, scale) for name, _, _, scale in lora_adapters(spec.loras, spec.denoisers)]
    loaded = {name for names in pipe.get_list_adapters().values() for name in names}
    wanted = list(own)
    for path, scale in loras:
        name = adapter_name(str(path))
        if name not in loaded:
            pipe.load_lora_weights(str(path), adapter_name=name)
            loaded.add(name)
            if spec.runtime.fp8:
                cast_like_the_model(pipe, spec, name)
        wanted.append((name, float(scale)))
    if not loaded:
        return []
    if not wanted:
        pipe.disable_lora()
        return []
    pipe.enable_lora()
    pipe.set_adapters([n for n, _ in wanted], adapter_weights=[s for _, s in wanted])
    return [n for n, _ in wanted]


def cast_like_the_model(pipe: Any, spec: PipelineSpec, name: str) -> None:
    """fp8 storage: diffusers hooks the layers there when layerwise casting is enabled, so a
    LoRA loaded later would compute in fp8 (and fail). Its layers get the same hooks (stored
    fp8, run in the model's dtype), and peft's cast of their input is turned off as diffusers
    does for LoRAs loaded first."""
    import torch
    from diffusers.hooks import HookRegistry, apply_layerwise_casting
    from diffusers.hooks.layerwise_casting import PeftInputAutocastDisableHook
    from peft.tuners.tuners_utils import BaseTunerLayer

    compute = resolve_dtype(spec.dtype, resolve_device(spec.device))
    for denoiser in spec.denoisers:
        for layer in getattr(pipe, denoiser).modules():
            if not isinstance(layer, BaseTunerLayer) or name not in layer.lora_A:
                continue
            for module in (layer.lora_A[name], layer.lora_B[name]):
                apply_layerwise_casting(
                    module, torch.float8_e4m3fn, compute, skip_modules_pattern=None
                )
            registry = HookRegistry.check_if_exists_or_initialize(layer)
            if registry.get_hook("peft_autocast_disable") is None:
                registry.register_hook(PeftInputAutocastDisableHook(), "peft_autocast_disable")
