"""The model pool frees a released group's weights even though it sets everything else aside
from garbage collection (which makes a release cost milliseconds instead of a full scan)."""

from __future__ import annotations

import gc
import weakref

import torch

from orchestrator.models import ModelPool


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
