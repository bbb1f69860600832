"""Beat analysis as a node of the store: the `BeatAnalysis` a run hands the planner.

The node is keyed by the soundtrack's content and the analysis settings, so a re-run, or every
job of a sweep over one song, reads the stored JSON; `build_graph` adds the same node, so
run.json lists it and the run publishes `beats.json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchestrator.engine import integrity
from orchestrator.engine.context import NodeContext, NoModels
from orchestrator.engine.errors import status
from orchestrator.engine.executors import run_node
from orchestrator.engine.graph import Node, node_key
from orchestrator.engine.progress import NodeRecord
from orchestrator.engine.store import Store
from orchestrator.plan.beats import analyse_with, numba_cache_ready
from orchestrator.plan.timeline import Analysis

STAGE = "beats"
VERSION = "3"
FILE = "beats.json"


def beats_node(soundtrack: Path, settings: dict[str, Any]) -> Node:
    """The analysis as a graph node; its key is the store key it is published under."""

    def run(ctx: NodeContext) -> None:
        result = analyse_with(soundtrack, settings)
        (ctx.out_dir / FILE).write_text(json.dumps(result.to_json()))
        ctx.metrics.update(
            tempo=round(result.tempo, 2), beats=len(result.beats), bars=len(result.bars)
        )

    made = Node(
        id=STAGE, stage=STAGE, run=run, params=settings, version=VERSION,
        files={"soundtrack": soundtrack},
    )  # fmt: skip
    made.key = node_key(made, {}, {})
    return made


class StoredBeats:
    """The planner's `BeatAnalysis` answered from the store: the stored analysis for a soundtrack
    and settings, analysed and published first if the store has none. `ran` is the node's record
    when it ran here, at plan time (the run counts it as ran although the executor finds it
    cached)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.ran: NodeRecord | None = None

    def __call__(self, soundtrack: Path, settings: dict[str, Any]) -> Analysis:
        made, store = beats_node(soundtrack, settings), self.store
        # The plan reads this entry, so it is hashed first like any entry that feeds a node.
        if store.lookup(made.stage, made.key) is not None and (
            damage := store.intact(made.stage, made.key)
        ):
            integrity.warn(damage, store.set_aside(made.stage, made.key))
        if store.lookup(made.stage, made.key) is None:
            if not numba_cache_ready():
                status("preparing beat analysis (first run after install, ~1 min)")
            status(f"analysing the beats of {soundtrack.name}")
        record = run_node(made, {}, store, NoModels(), lambda done, total: None)
        if record.status == "ran":
            self.ran = record
        entry = store.entry(made.stage, made.key)
        return Analysis.from_json(json.loads((entry / FILE).read_text()))
