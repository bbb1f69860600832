"""Keyframe nodes (and their candidates) and the contact sheet."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from orchestrator.engine.context import NodeContext
from orchestrator.engine.graph import Node
from orchestrator.entries import (
    CONTACT_SHEET_FILE,
    KEYFRAME_FILE,
    candidate_id,
    keyframe_id,
)
from orchestrator.media.images import load_image, save_png
from orchestrator.plan.timeline import ShotPlan, Timeline, derive_seed
from orchestrator.render.nodes import stage_node
from orchestrator.render.stages import Stages, job_metadata, portable
from orchestrator.stage import KeyframeRequest


def candidate_seed(shot: ShotPlan, candidate: int) -> int:
    """Candidate 0 is the shot's own seed, so asking for more candidates changes none of them."""
    return shot.seed if candidate == 0 else derive_seed(shot.seed, "candidate", candidate)


def candidate_node(shot: ShotPlan, timeline: Timeline, stages: Stages, candidate: int) -> Node:
    request = KeyframeRequest(
        shot=shot.index,
        shots=len(timeline.shots),
        prompt=shot.prompt,
        negative_prompt=shot.negative_prompt or "",
        width=timeline.width,
        height=timeline.height,
        seed=candidate_seed(shot, candidate),
        loras=tuple((lora.path, lora.scale) for lora in shot.loras),
    )
    return keyframe_node(
        stages.keyframes,
        stages.params("keyframes"),
        request,
        shot.image,
        node_id=candidate_id(shot, candidate),
        notes={"motion": shot.motion},
    )


def keyframe_node(
    backend: Any,
    backend_params: dict[str, Any],
    request: KeyframeRequest,
    image: Path | None,
    node_id: str | None = None,
    notes: dict[str, Any] | None = None,
) -> Node:
    """One keyframe; its PNG carries the node's params (and its image's path) for `reproduce`,
    and `notes` (the shot's video prompt) that do not change the picture."""
    params = {"backend": backend_params, "request": asdict(request)}
    if not request.loras:
        # Keys of keyframes without a cast stay what they were before casts existed.
        del params["request"]["loras"]
    files: dict[str, Path] = {"image": image} if image else {}
    # A LoRA file's content, not only its path, is part of the key.
    files |= {f"lora{i}": Path(path) for i, (path, _) in enumerate(request.loras)}

    def run(ctx: NodeContext) -> None:
        picture = load_image(image) if image else None
        result = backend.render(request, picture, ctx).convert("RGB")
        if result.size != (request.width, request.height):
            raise ValueError(f"backend returned {result.size}, expected the job size")
        embedded = {"node": ctx.node_id, **params}
        if notes:
            embedded["notes"] = notes
        if files:
            embedded["files"] = portable({k: str(v) for k, v in files.items()})
        meta = {"renga": json.dumps(embedded, sort_keys=True)}
        save_png(ctx.out_dir / KEYFRAME_FILE, result, meta)

    node_id = node_id or keyframe_id(request.shot)
    return stage_node(backend, node_id, run, params, stage="keyframe", files=files, models=True)


def contact_sheet_node(timeline: Timeline, stages: Stages, candidates: int) -> Node:
    shots = [timeline.shots[i] for i in timeline.keyframes]
    # A shot that continues the user's clip has one keyframe: the clip's last frame.
    ranges = [(s, range(1 if s.footage else candidates)) for s in shots]
    deps = tuple(candidate_id(s, k) for s, picks in ranges for k in picks)
    labels = [
        f"shot {s.index}" + (" (your clip)" if s.footage else "")
        if len(picks) == 1
        else f"shot {s.index} #{k}" + (" *" if k == s.pick else "")
        for s, picks in ranges
        for k in picks
    ]
    metadata = job_metadata(stages.cfg)

    def run(ctx: NodeContext) -> None:
        images = [load_image(ctx.inputs[d] / KEYFRAME_FILE) for d in deps]
        sheet = stages.contact_sheet.render(images, labels)
        embedded = {"renga": json.dumps({"renga": metadata}, sort_keys=True)}
        save_png(ctx.out_dir / CONTACT_SHEET_FILE, sheet, embedded)

    params = {"sheet": stages.params("contact_sheet"), "labels": labels, "metadata": metadata}
    return stage_node(stages.contact_sheet, "contact_sheet", run, params, deps=deps)
