"""Casts: the same people in every shot, written the way Z-Image Turbo follows a scene.

ZIT's text encoder is an LLM. Users measured that it follows a Markdown list, one item per place
and per person, details after `--` and the position last (10 of 10 images), where the same words
as a flat list work 1 time in 10; weights such as `(word:1.4)` mean nothing to it. A shot that
names its cast gets that list composed here, and its video prompt the same people in plain
words, so a character reads the same in every shot. Pure text: no model is loaded here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.engine.errors import UserError
from orchestrator.plan.timeline import Lora

POSITIONS = {
    "left": "on the left",
    "right": "on the right",
    "center": "in the centre",
    "centre": "in the centre",
    "middle": "in the centre",
    "foreground": "in the foreground",
    "background": "in the background",
}
CENTRED = ("", "center", "centre", "middle", "in the centre", "in the center")
# Character LoRAs active at once before identities start to bleed into each other, as ZIT
# users report it; renga warns above this, it does not refuse.
SANE_LORAS = 3
SHOT_KEYS = ("name", "position", "details")

# Syntax other UIs give meaning to and ZIT's (and Wan's) text encoders read as plain words.
HYGIENE = (
    (re.compile(r"\([^()]*:\s*\d+(?:\.\d+)?\s*\)|\(\([^()]+\)\)"), "weight syntax like "
     "{hit} does nothing for an LLM text encoder; say it in words (\"very\", \"strongly\")"),
    (re.compile(r"\bBREAK\b"), "BREAK is A1111 syntax; here it is just the word BREAK"),
    (re.compile(r"\bembedding:\S+|<(?:lora|lyco|hypernet):[^>]*>"), "{hit} is embedding/LoRA "
     "prompt syntax that renga does not read; use job.cast[].loras or keyframes.loras"),
)  # fmt: skip


@dataclass(frozen=True)
class Composed:
    """A shot's prompts as the models get them, and what the keyframe needs loaded for them."""

    prompt: str
    motion: str
    loras: tuple[Lora, ...] = ()
    # A lone, centred character's reference picture: the keyframe starts from it (img2img).
    image: str | None = None
    image_key: str | None = None
    # (key, message) pairs, each printed as one line by `warn`.
    warnings: tuple[tuple[str, str], ...] = ()


def with_style(prompt: str, style: str) -> str:
    prompt, style = prompt.strip(), style.strip()
    if not style:
        return prompt
    return f"{prompt}\n\n{style}" if "\n" in prompt else f"{prompt}, {style}"


def compose_shot(
    job: Any, shot: Any, index: int, global_loras: Sequence[Mapping[str, Any]] = ()
) -> Composed:
    """The keyframe and video prompts of `job.shots[index]`; a shot without `cast` keeps its own
    words (plus the style), as before casts existed."""
    key = f"job.shots[{index}]"
    members = [_member(job, entry, f"{key}.cast[{i}]") for i, entry in enumerate(shot.cast)]
    if not members:
        prompt = with_style(shot.prompt, job.style)
        motion = with_style(shot.motion or shot.prompt, job.style)
        return Composed(prompt, motion, warnings=_hygiene(key, prompt, motion))
    names = [m["name"] for m in members]
    if len(set(names)) != len(names):
        raise UserError(f"{key}.cast", f"names a character twice: {', '.join(names)}")
    scene = [_item(line) for line in shot.prompt.splitlines() if line.strip()]
    people = [_person_item(m) for m in members]
    body = "\n".join([*scene, *people])
    prompt = f"{body}\n\n{job.style.strip()}" if job.style.strip() else body
    action = shot.motion.strip() or ", ".join(_plain(line) for line in scene)
    motion = with_style(_sentence(action, members), job.style)
    loras = _loras(members, global_loras, key)
    image, image_key = None, None
    lone = members[0] if len(members) == 1 else None
    starts_here = job.transition != "continue" or not index
    own = shot.image is not None or shot.video is not None
    centred = lone is not None and lone["position"].strip().lower() in CENTRED
    if lone and lone["image"] and centred and starts_here and not own:
        image, image_key = lone["image"], f"job.cast.{lone['name']}.image"
    warnings = list(_hygiene(key, prompt, motion))
    if len(loras) + len(global_loras) > SANE_LORAS:
        warnings.append((
            f"{key}.cast",
            f"{len(loras) + len(global_loras)} LoRAs active at once (over {SANE_LORAS}, "
            "identities tend to blend); drop one or lower its scale",
        ))  # fmt: skip
    return Composed(prompt, motion, loras, image, image_key, tuple(warnings))


def _member(job: Any, entry: Any, key: str) -> dict[str, Any]:
    """One `cast` entry (`mia`, `{mia: left}` or `{name: mia, ...}`) merged with its character."""
    if isinstance(entry, str):
        fields: dict[str, Any] = {"name": entry}
    elif isinstance(entry, Mapping) and "name" in entry:
        fields = dict(entry)
        unknown = sorted(set(fields) - set(SHOT_KEYS))
        if unknown:
            raise UserError(f"{key}.{unknown[0]}", f"unknown key; expected {', '.join(SHOT_KEYS)}")
    elif isinstance(entry, Mapping) and len(entry) == 1:
        ((name, position),) = entry.items()
        fields = {"name": name, "position": position or ""}
    else:
        raise UserError(key, "expected a name, {name: position} or {name: ..., position: ...}")
    name = str(fields["name"])
    if name not in job.cast:
        known = ", ".join(job.cast) or "none (add job.cast)"
        raise UserError(f"{key}.name", f"unknown character {name!r}; job.cast has {known}")
    character = job.cast[name]
    details = ", ".join(d for d in (character.details, fields.get("details") or "") if d.strip())
    return {
        "name": name,
        "description": (character.description or name).strip(),
        "details": details.strip(),
        "position": str(fields.get("position") or character.position or ""),
        "image": character.image,
        "loras": list(character.loras),
    }


def _item(line: str) -> str:
    line = line.strip()
    return line if line.startswith(("#", "- ", "* ")) else f"- {line}"


def _plain(line: str) -> str:
    return re.sub(r"^(#+|[-*])\s*", "", line.strip())


def _where(position: str) -> str:
    return POSITIONS.get(position.strip().lower(), position.strip())


def _person_item(member: Mapping[str, Any]) -> str:
    parts = [member["description"], member["details"], _where(member["position"])]
    return "- " + " -- ".join(part for part in parts if part)


def _sentence(action: str, members: Sequence[Mapping[str, Any]]) -> str:
    """The same people in natural words: Wan's text encoder reads sentences, not lists."""
    people = []
    for m in members:
        text = m["description"]
        if m["details"]:
            text += f" with {m['details']}"
        if m["position"]:
            text += f", {_where(m['position'])}"
        people.append(text)
    who = people[0] if len(people) == 1 else ", ".join(people[:-1]) + f", and {people[-1]}"
    action = action.strip().rstrip(".")
    return f"{action}. In the shot: {who}" if action else f"In the shot: {who}"


def _loras(
    members: Sequence[Mapping[str, Any]], global_loras: Sequence[Mapping[str, Any]], key: str
) -> tuple[Lora, ...]:
    """The characters' LoRAs, once each; the same file at two scales cannot be one adapter."""
    scales: dict[str, tuple[float, str]] = {}
    for lora in global_loras:
        scales[_file(lora["path"])] = (float(lora.get("scale", 1.0)), "keyframes.loras")
    chosen: list[Lora] = []
    for member in members:
        for i, lora in enumerate(member["loras"]):
            where = f"job.cast.{member['name']}.loras[{i}]"
            path = _file(lora.path)
            if not Path(path).is_file():
                raise UserError(f"{where}.path", f"file not found: {path}")
            scale = float(lora.scale)
            if path in scales:
                if scales[path][0] != scale:
                    raise UserError(
                        f"{key}.cast",
                        f"{Path(path).name} is asked for at scale {scales[path][0]:g} "
                        f"({scales[path][1]}) and at {scale:g} ({where}); one file loads once, "
                        "at one scale",
                    )
                continue
            scales[path] = (scale, where)
            chosen.append(Lora(path=path, scale=scale))
    return tuple(chosen)


def _file(path: str) -> str:
    return str(Path(path).expanduser().absolute())


def _hygiene(key: str, prompt: str, motion: str) -> tuple[tuple[str, str], ...]:
    found: dict[str, str] = {}
    for text, which in ((prompt, "prompt"), (motion, "motion")):
        for pattern, message in HYGIENE:
            hit = pattern.search(text)
            if hit:
                found.setdefault(message.format(hit=hit.group(0)), which)
    return tuple((f"{key}.{which}", message) for message, which in found.items())


def prompt_lines(shots: Sequence[Mapping[str, Any]]) -> list[str]:
    """`renga plan`'s view of what each shot's models read (`plan --json` shots' fields)."""
    lines = ["", "shot  prompts (keyframe, then video)"]
    for shot in shots:
        keyframe = str(shot["keyframe_prompt"]).splitlines() or [""]
        lines.append(f"{shot['index']:>4}  {keyframe[0]}")
        lines += [f"      {line}".rstrip() for line in keyframe[1:]]
        lines.append(f"      video: {shot['video_prompt']}")
    return lines
