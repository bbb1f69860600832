"""Step caches on a pipeline's denoisers (FirstBlockCache, TaylorSeer, MagCache): enabling,
resetting between nodes, MagCache calibration and skip counts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stages.diffusion.spec import Runtime


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
