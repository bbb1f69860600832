"""`renga reproduce`: a received file's config turned back into a Hydra config tree (each
backend group an option file on top of renga's own), and a keyframe PNG re-rendered from its
node params."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from orchestrator.cli.received import BACKEND_GROUPS
from orchestrator.config import asset
from orchestrator.engine import integrity
from orchestrator.engine.graph import Graph
from orchestrator.engine.progress import NodeRecord, Reporter
from orchestrator.engine.store import Store, write_json_atomic
from orchestrator.entries import KEYFRAME_FILE
from orchestrator.plan.job import resolve_path
from orchestrator.render.keyframes import keyframe_node
from orchestrator.render.publish import RUN_JSON, place
from orchestrator.render.run import cache_dir, writable_dir
from orchestrator.stage import KeyframeRequest

REPRODUCE_CONFIG = "reproduce"
REPRODUCE_OPTION = "_reproduce"


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (Markdown prompts) as `|` blocks, as a user would write them."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and value == value.rstrip(" ") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)


def as_yaml(data: dict[str, Any]) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def write_reproduce_tree(config: dict[str, Any], directory: Path) -> None:
    """A config tree whose primary config `reproduce` is the stock one with `config` on top.

    `config` is what `received.job_config` checked: each group's section is a group option
    file `_reproduce` (renga's own option by name, then plain values) chosen by the defaults
    list, so `renga reproduce FILE mux=prores` still swaps a whole group, and `key=value`
    overrides apply last as always."""
    groups = [g for g in ("job", *BACKEND_GROUPS) if isinstance(config.get(g), dict)]
    for group in groups:
        write_option(directory, group, config[group])
    defaults: list[Any] = ["config"]
    defaults += [{f"override {g}": REPRODUCE_OPTION} for g in groups]
    defaults.append("_self_")
    rest = {k: v for k, v in config.items() if k not in groups}
    (directory / f"{REPRODUCE_CONFIG}.yaml").write_text(
        as_yaml({"defaults": defaults, **rest}), encoding="utf-8"
    )


def write_option(directory: Path, group: str, content: dict[str, Any]) -> None:
    """`<directory>/<group>/_reproduce.yaml`, the option `<group>=_reproduce` composes."""
    (directory / group).mkdir(parents=True, exist_ok=True)
    (directory / group / f"{REPRODUCE_OPTION}.yaml").write_text(as_yaml(content), encoding="utf-8")


def reproduce_keyframe(cfg: DictConfig, run_dir: Path, options: dict[str, Any]) -> None:
    """Re-render one keyframe from the params its PNG carries: the same node key, so a store
    that still holds it answers at once. `keyframes...` overrides swap the backend's settings."""
    embedded, source = options["params"], options["source"]
    fields = embedded["request"]
    loras = tuple((str(path), float(scale)) for path, scale in fields.get("loras", ()))
    request = KeyframeRequest(**{**fields, "loras": loras})
    # The backend is renga's own option, composed with the PNG's values (`keyframes=_reproduce`).
    section = OmegaConf.to_container(cfg.keyframes, resolve=True)
    assert isinstance(section, dict)
    backend = instantiate(section, _convert_="all")
    params = {k: v for k, v in section.items() if k not in getattr(backend, "cache_exclude", ())}
    image = _image(embedded["image"], source)
    graph = Graph()
    node = graph.add(keyframe_node(backend, params, request, image))
    graph.assign_keys()
    store = Store(writable_dir(cache_dir(cfg), "cache_dir"))
    integrity.check_before_run(graph, store, [node.id])
    records: list[NodeRecord] = []
    reporter = Reporter()
    instantiate(cfg.executor).run(graph, store, reporter, records)
    output = run_dir / "keyframes" / f"shot_{request.shot:03d}.png"
    output.parent.mkdir(parents=True, exist_ok=True)
    place(store.entry(node.stage, node.key) / KEYFRAME_FILE, output)
    summary = {
        "mode": "keyframe",
        "source": str(source),
        "output": str(output.relative_to(run_dir)),
        "complete": True,
        "store": str(store.root),
        "nodes": [r.as_json() for r in records],
    }
    write_json_atomic(run_dir / RUN_JSON, summary)
    reporter.summary(records, str(output), {"keyframe": f"{node.id}, seed {request.seed}"})


def _image(value: str | None, source: Path) -> Path | None:
    """The user image a keyframe was made from (an `${asset:...}` is this install's asset)."""
    if value is None:
        return None
    if value.startswith("${asset:") and value.endswith("}"):
        value = asset(value[len("${asset:") : -1])
    return resolve_path(value, f"{source}: files.image")
