"""ZIT samplers and sigma schedules by the names ComfyUI users give them, mapped to diffusers.

ZIT ships a flow-matching Euler scheduler and `ZImagePipeline` always hands it its own linear
sigmas (shifted by the model's `shift`). `euler` with `simple` leaves that untouched. The other
choices are diffusers schedulers configured for flow prediction; names diffusers cannot do
are refused with the nearest choice. Stochastic samplers draw their noise from the keyframe's
seed (the pipeline passes no generator to `step`), so a seed still fixes the picture.
"""

from __future__ import annotations

from typing import Any

from orchestrator.engine.errors import UserError

# name -> what it is in ComfyUI terms (README "Casts and prompts" repeats this table).
SCHEDULERS = {
    "euler": "euler (flow-match Euler, ZIT's own)",
    "euler_stochastic": "euler_ancestral-like: flow-match Euler re-noising each step",
    "dpmpp_2m": "dpmpp_2m (DPM-Solver++ 2M, flow prediction)",
    "dpmpp_2m_sde": "dpmpp_2m_sde (SDE DPM-Solver++ 2M, flow prediction)",
    "dpmpp_3m": "dpmpp_3m_sde without the noise (DPM-Solver++ 3M, flow prediction)",
}
SIGMAS = {
    "simple": "simple (ZIT's shifted linear schedule)",
    "karras": "karras",
    "exponential": "exponential",
    "beta": "beta (alpha = beta = 0.6)",
}
REFUSED = {
    "res_multistep": "diffusers has no RES multistep solver; dpmpp_2m is the nearest multistep one",
    "dpmpp_sde": "diffusers' DPMSolverSDEScheduler has no flow-matching mode; use dpmpp_2m_sde",
    "heun": "diffusers' flow-match Heun cannot take ZIT's sigmas; use euler or dpmpp_2m",
    "ddim_uniform": "diffusers' flow-match schedulers have no DDIM timestep table; use simple",
    "sgm_uniform": "use simple (evenly spaced steps on the shifted schedule)",
    "normal": "use simple (evenly spaced steps on the shifted schedule)",
}
DPM = {"dpmpp_2m": ("dpmsolver++", 2), "dpmpp_2m_sde": ("sde-dpmsolver++", 2)}
DPM |= {"dpmpp_3m": ("dpmsolver++", 3)}


def check(scheduler: str, sigmas: str) -> None:
    """Plan time: one line for a name diffusers cannot do, or a pairing it cannot."""
    for key, value, known in (("scheduler", scheduler, SCHEDULERS), ("sigmas", sigmas, SIGMAS)):
        if value in REFUSED:
            raise UserError(f"keyframes.{key}", f"{value} is not available: {REFUSED[value]}")
        if value not in known:
            raise UserError(
                f"keyframes.{key}",
                f"unknown value {value!r}; expected one of {', '.join(known)}",
            )
    if scheduler in DPM and sigmas != "simple":
        raise UserError(
            "keyframes.sigmas",
            f"{sigmas} works with scheduler euler or euler_stochastic; diffusers' DPM-Solver "
            "builds karras/exponential/beta sigmas from a non-flow noise table",
        )


def is_default(scheduler: str, sigmas: str) -> bool:
    return scheduler == "euler" and sigmas == "simple"


def build(scheduler: str, sigmas: str, current: Any) -> Any:
    """The scheduler to put on a loaded ZIT pipeline in place of `current` (its own)."""
    from diffusers import DPMSolverMultistepScheduler, FlowMatchEulerDiscreteScheduler

    config = dict(current.config)
    if scheduler in DPM:
        algorithm, order = DPM[scheduler]

        class FlowDPMSolver(_Seeded, DPMSolverMultistepScheduler):
            """Takes (and ignores) the linear sigmas ZImagePipeline passes: the solver spaces
            its own flow sigmas with the same shift."""

            def set_timesteps(self, num_inference_steps=None, device=None, sigmas=None, mu=None):
                steps = len(sigmas) if sigmas is not None else num_inference_steps
                super().set_timesteps(num_inference_steps=steps, device=device)

            def scale_noise(self, sample: Any, timestep: Any, noise: Any) -> Any:
                """img2img's start: the flow mix at the first step it runs."""
                sigma = self.sigmas[self.begin_index or 0].to(sample.dtype)
                return sigma * noise + (1.0 - sigma) * sample

        return FlowDPMSolver(
            num_train_timesteps=config.get("num_train_timesteps", 1000),
            prediction_type="flow_prediction",
            use_flow_sigmas=True,
            flow_shift=config.get("shift", 1.0),
            algorithm_type=algorithm,
            solver_order=order,
        )

    class SeededEuler(_Seeded, FlowMatchEulerDiscreteScheduler):
        pass

    flags = {f"use_{sigmas}_sigmas": True} if sigmas != "simple" else {}
    return SeededEuler.from_config(
        config, stochastic_sampling=scheduler == "euler_stochastic", **flags
    )


class _Seeded:
    """Stochastic steps draw from `generator` when the pipeline passes none."""

    generator: Any = None

    def step(self, *args: Any, **kwargs: Any) -> Any:
        if self.generator is not None and kwargs.get("generator") is None:
            kwargs["generator"] = self.generator
        return super().step(*args, **kwargs)  # type: ignore[misc]


def seed(scheduler: Any, value: int) -> None:
    """Fix the noise a stochastic scheduler adds for one keyframe."""
    if isinstance(scheduler, _Seeded):
        import torch

        scheduler.generator = torch.Generator("cpu").manual_seed(value)
