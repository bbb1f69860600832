"""Cache keys: what changes a node's key, and what must not."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import tiny_job

from orchestrator.engine.graph import Graph, Node
from orchestrator.plan.job import plan_job
from orchestrator.render.graph import build_graph
from orchestrator.render.stages import Stages


def keys(make_config, *overrides: str, job=None) -> dict[str, str]:
    cfg = make_config("preset=draft", "video.frames=17", *overrides, job=job or tiny_job())
    stages = Stages.from_config(cfg)
    graph = build_graph(plan_job(cfg, stages.video), stages)
    return {node.id: node.key for node in graph}


def changed(a: dict[str, str], b: dict[str, str]) -> set[str]:
    return {node for node in a if a[node] != b.get(node)}


def test_keys_are_stable(make_config):
    assert keys(make_config) == keys(make_config)


def test_machine_settings_do_not_change_keys(make_config, tmp_path):
    assert keys(make_config) == keys(make_config, f"cache_dir={tmp_path}")


def test_a_shots_prompt_changes_only_that_shot_and_what_follows(make_config):
    job = tiny_job()
    job["shots"][0]["motion"] = "the kite dives"
    assert changed(keys(make_config), keys(make_config, job=job)) == {
        "segment/0.0", "assemble", "mux",
    }  # fmt: skip


def test_global_seed_changes_every_generated_node_but_not_the_audio(make_config):
    different = changed(keys(make_config), keys(make_config, "seed=1"))
    assert "audio" not in different
    assert {"keyframe/0", "keyframe/1", "segment/0.0", "segment/1.0"} <= different


def test_mux_settings_change_only_the_mux(make_config):
    assert changed(keys(make_config), keys(make_config, "mux.crf=23")) == {"mux"}


def test_external_file_content_is_part_of_the_key(make_config, tmp_path: Path):
    from PIL import Image

    picture = tmp_path / "k.png"
    Image.new("RGB", (64, 48), (1, 2, 3)).save(picture)
    job = tiny_job()
    job["shots"][0]["image"] = str(picture)
    before = keys(make_config, job=job)
    Image.new("RGB", (64, 48), (3, 2, 1)).save(picture)
    assert "keyframe/0" in changed(before, keys(make_config, job=job))


def test_stage_version_is_part_of_the_key():
    def node(version: str) -> Graph:
        graph = Graph()
        graph.add(Node("a", "stage", lambda ctx: None, {"x": 1}, version))
        graph.assign_keys()
        return graph

    assert node("1")["a"].key != node("2")["a"].key


def test_graph_rejects_unknown_dependencies_and_duplicates():
    graph = Graph()
    graph.add(Node("a", "s", lambda ctx: None, {}, "1"))
    with pytest.raises(ValueError, match="duplicate"):
        graph.add(Node("a", "s", lambda ctx: None, {}, "1"))
    with pytest.raises(ValueError, match="unknown"):
        graph.add(Node("b", "s", lambda ctx: None, {}, "1", deps=("zzz",)))
