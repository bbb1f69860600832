"""Subcommands in front of the Hydra app: `renga inspect FILE`, `renga reproduce FILE [overrides]`
and `renga plan [overrides]`.

`inspect` needs no config. `reproduce` and `plan` still compose through Hydra, so overrides,
`--config-dir` and the run directory behave as for a render: this module only rewrites the
argv Hydra sees and names the task the app runs instead of a render.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from orchestrator.cli import dryrun, received
from orchestrator.cli.reproduce import (
    REPRODUCE_CONFIG,
    REPRODUCE_OPTION,
    as_yaml,
    reproduce_keyframe,
    write_option,
    write_reproduce_tree,
)
from orchestrator.engine.errors import UserError
from orchestrator.media.metadata import is_job, read_embedded

COMMANDS = ("inspect", "reproduce", "plan", "store")
JSON_FLAG = "--json"


@dataclass(frozen=True)
class Task:
    """What the Hydra app does instead of a render."""

    kind: str
    options: dict[str, Any]


def inspect(args: list[str]) -> str:
    """`renga inspect FILE [--json]`: the config embedded in a PNG or video renga wrote."""
    as_json = JSON_FLAG in args
    files = [a for a in args if a != JSON_FLAG]
    if len(files) != 1:
        raise UserError("inspect", "usage: renga inspect FILE [--json]")
    path = Path(files[0])
    data = read_embedded(path)
    # Shown only if reproducing it would be safe: the same checks, so what you read is what runs.
    received.job_config(data, path) if is_job(data) else received.keyframe_params(data, path)
    if as_json:
        return json.dumps(data, indent=2, ensure_ascii=False)
    what = "job config" if is_job(data) else f"node {data.get('node', '?')}"
    header = f"# renga {what} embedded in {path.name}; re-run it: renga reproduce {path}\n"
    return header + as_yaml(data)


@contextmanager
def hydra_argv(command: str, args: list[str]) -> Iterator[tuple[list[str], Task | None]]:
    """The argv Hydra composes for `renga reproduce|plan ARGS`, and the task the app runs."""
    if command == "plan":
        with _plan_argv(args) as result:
            yield result
    else:
        with _reproduce_argv(args) as result:
            yield result


@contextmanager
def _plan_argv(args: list[str]) -> Iterator[tuple[list[str], Task | None]]:
    """A plan writes nothing: Hydra's run directory is a temporary one, removed afterwards."""
    as_json = JSON_FLAG in args
    overrides = [a for a in args if a != JSON_FLAG and not a.startswith("hydra.run.dir=")]
    scratch = Path(tempfile.mkdtemp(prefix="renga-plan-"))
    try:
        # Next to the user's overrides, which argparse takes as one run: flags may come before
        # them (`plan --config-dir d job=x`) or after (`plan job=x --config-dir d`).
        at = next((i for i, a in enumerate(overrides) if "=" in a and a[0] != "-"), None)
        at = len(overrides) if at is None else at
        ours = [f"hydra.run.dir={scratch}", "hydra.output_subdir=null"]
        argv = [*overrides[:at], *ours, *overrides[at:]]
        yield argv, Task("plan", {"json": as_json})
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextmanager
def _reproduce_argv(args: list[str]) -> Iterator[tuple[list[str], Task | None]]:
    files = [a for a in args if "=" not in a and not a.startswith("-")]
    if len(files) != 1:
        raise UserError("reproduce", "usage: renga reproduce FILE [overrides]")
    path, overrides = Path(files[0]), [a for a in args if a != files[0]]
    data = read_embedded(path)
    tree = Path(tempfile.mkdtemp(prefix="renga-reproduce-"))
    try:
        if is_job(data):
            write_reproduce_tree(received.job_config(data, path), tree)
            argv = ["--config-dir", str(tree), "--config-name", REPRODUCE_CONFIG]
            yield [*argv, *overrides], None
            return
        params = received.keyframe_params(data, path)
        chosen = any(a.lstrip("+~").startswith("keyframes=") for a in overrides)
        # The backend the keyframe was made with, so `keyframes.x=...` overrides its keys.
        write_option(tree, "keyframes", params["backend"])
        group = [] if chosen else [f"keyframes={REPRODUCE_OPTION}"]
        task = Task("keyframe", {"params": params, "source": path})
        yield ["--config-dir", str(tree), *group, *overrides], task
    finally:
        shutil.rmtree(tree, ignore_errors=True)


def run_task(task: Task, cfg: DictConfig, run_dir: Path) -> None:
    if task.kind == "plan":
        print(dryrun.show(cfg, run_dir, task.options["json"]))
    elif task.kind == "keyframe":
        reproduce_keyframe(cfg, run_dir, task.options)
