"""Security invariants of the product code, checked on its source: no shell, safe torch.load,
no downloads unless asked."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PRODUCT = [p for d in ("orchestrator", "stages") for p in (ROOT / d).rglob("*.py")]


def _calls(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node, ast.unparse(node.func)


def test_product_code_exists():
    assert len(PRODUCT) > 20


def test_no_shell_anywhere():
    for path in PRODUCT:
        for call, name in _calls(path):
            where = f"{path.relative_to(ROOT)}:{call.lineno}"
            assert name not in ("os.system", "os.popen", "subprocess.getoutput"), where
            for keyword in call.keywords:
                if keyword.arg == "shell":
                    assert isinstance(keyword.value, ast.Constant), where
                    assert keyword.value.value is False, where
            if name.startswith("subprocess.") and call.args:
                assert not isinstance(call.args[0], ast.Constant | ast.JoinedStr), (
                    f"{where}: commands are argument lists, not strings"
                )


def test_torch_load_only_with_weights_only():
    for path in PRODUCT:
        for call, name in _calls(path):
            if name == "torch.load":
                flags = {k.arg: k.value for k in call.keywords}
                where = f"{path.relative_to(ROOT)}:{call.lineno}"
                assert "weights_only" in flags, where
                assert isinstance(flags["weights_only"], ast.Constant), where
                assert flags["weights_only"].value is True, where
