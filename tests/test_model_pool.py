"""The model pool frees a released group's weights even though it sets everything else aside
from garbage collection (which makes a release cost milliseconds instead of a full scan)."""

from __future__ import annotations

import gc
import weakref

import torch

from stages.diffusion.pool import ModelPool


class _Hooked(torch.nn.Module):
    """A model tied into a reference cycle, as diffusers' hook registry ties every transformer."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)
        self.registry = {"module": self}


def test_every_model_of_a_group_is_freed_on_release_despite_the_freeze():
    with ModelPool() as pool:
        pool.switch("a")
        first = weakref.ref(pool.get("first", _Hooked).linear.weight)
        second = weakref.ref(pool.get("second", _Hooked).linear.weight)
        assert first() is not None and second() is not None
        pool.switch("b")
        assert first() is None and second() is None
        third = weakref.ref(pool.get("third", _Hooked).linear.weight)
    assert third() is None
    assert gc.get_freeze_count() == 0


def test_what_a_run_imports_before_its_first_load_is_set_aside():
    with ModelPool() as pool:
        before = gc.get_freeze_count()
        imported = [[] for _ in range(50_000)]  # as a library's first import creates them
        pool.switch("a")
        pool.get("model", _Hooked)
        assert gc.get_freeze_count() >= before + len(imported)


def test_each_node_records_its_peak_gpu_memory(tmp_path, monkeypatch):
    from orchestrator.engine.executors import run_node
    from orchestrator.engine.graph import Node
    from orchestrator.engine.store import Store

    calls: list[str] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda: calls.append("reset"))
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda: 3 * 2**29)

    def run(ctx) -> None:
        calls.append("run")
        (ctx.out_dir / "out.txt").write_text("done")

    node = Node(id="segment/0.0", stage="segment", run=run, params={}, version="1", key="k")
    record = run_node(node, {}, Store(tmp_path), ModelPool(), lambda *_: None)
    assert calls == ["reset", "run"]
    assert record.metrics["peak_vram_gib"] == 1.5


def test_without_a_gpu_no_peak_is_recorded(tmp_path):
    from orchestrator.engine.executors import run_node
    from orchestrator.engine.graph import Node
    from orchestrator.engine.store import Store

    node = Node(id="n", stage="s", run=lambda ctx: None, params={}, version="1", key="k")
    record = run_node(node, {}, Store(tmp_path), ModelPool(), lambda *_: None)
    assert "peak_vram_gib" not in record.metrics


def test_the_summary_names_the_run_peak_and_its_node():
    from orchestrator.engine.progress import NodeRecord
    from orchestrator.render.run import _peak_memory

    records = [
        NodeRecord("keyframe/0", "keyframe", "a", "ran", 1.0, {"peak_vram_gib": 9.5}),
        NodeRecord("segment/0.0", "segment", "b", "cached", 0.0, {"peak_vram_gib": 11.25}),
        NodeRecord("mux", "mux", "c", "ran", 1.0, {}),
    ]
    assert _peak_memory(records) == {"peak GPU memory": "11.2 GiB (segment/0.0)"}
    assert _peak_memory(records[2:]) == {}
