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
from stages.diffusion.spec import PipelineSpec


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
        wanted.append((name, float(scale)))
    if not loaded:
        return []
    if not wanted:
        pipe.disable_lora()
        return []
    pipe.enable_lora()
    pipe.set_adapters([n for n, _ in wanted], adapter_weights=[s for _, s in wanted])
    return [n for n, _ in wanted]
