"""Strict checking of official weight files: every wrong key is named, nothing code-runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from stages.audio.mmaudio.checkpoint import (
    CheckpointMismatch,
    check_state,
    expected_shapes,
    read_official,
)


def test_matching_state_passes_and_mismatch_names_every_key(tmp_path: Path) -> None:
    module = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    expected = expected_shapes(module)
    state = dict(module.state_dict())
    check_state(expected, state, "tiny", tmp_path / "x.pth")

    state.pop("1.bias")
    state["2.weight"] = torch.zeros(1)
    state["0.weight"] = torch.zeros(5, 3)
    with pytest.raises(CheckpointMismatch) as caught:
        check_state(expected, state, "tiny", "x.pth")
    line = str(caught.value)
    assert "1 missing keys: 1.bias" in line
    assert "1 unexpected keys: 2.weight" in line
    assert "0.weight (5, 3) != (4, 3)" in line
    assert "\n" not in line


def test_read_official_unwraps_and_refuses_pickled_code(tmp_path: Path) -> None:
    path = tmp_path / "nested.pt"
    torch.save({"generator": {"w": torch.ones(2)}}, path)
    assert list(read_official(path, unwrap=("generator",))) == ["w"]

    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.pt"
    torch.save({"w": Payload()}, evil)
    with pytest.raises(Exception, match="[Ww]eights only"):
        read_official(evil)
