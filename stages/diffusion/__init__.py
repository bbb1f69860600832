"""Model loading for the diffusion backends: the pool, pipeline specs, weight files, LoRAs and
step caches.

Lives here: the model pool (`pool`, the engine's `Pool`, named by the executor config), what a
pipeline is built from and the checks of it (`spec`), where weights are (`files`) and which
model a folder holds (`model_folders`), building a pipeline (`loading`), per-shot LoRA adapters
(`adapters`), step caches (`step_caches`) and the backend base class (`backend`).

May import: torch, diffusers, transformers (lazily where a draft run must not pay for them),
and of renga what every stage may (the contract, the timeline types, `engine.context`,
`engine.errors`, `media`).
"""
