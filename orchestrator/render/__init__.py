"""Rendering a Timeline: the graph of nodes, the run, the published results.

Lives here: the configured backends (`stages`), one module per node kind (`keyframes`,
`footage`, `segments`, `assemble`, `lipsync`, `audio`, `mux`, `beats`), each building its node
with `nodes.stage_node`; the graph that wires them (`graph`); the run (`run`) and publishing
(`publish`: results, run.json, report.html).

May import: `engine`, `plan`, `media`, `report`, `stage`, `entries`, `config`, Hydra. Never
`cli` or `stages` (backends are instantiated from config).
"""
