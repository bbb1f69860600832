"""renga's stages: what each node computes. Each backend is a small class named in config.

May import, of renga: the contract (`orchestrator.stage`), the timeline types
(`orchestrator.plan.timeline`), what a running node gets (`orchestrator.engine.context`), the
errors (`orchestrator.engine.errors`) and `orchestrator.media`; and each other. Never the
planner, the graph builder or the CLI. `_target_` names in conf/ and in embedded configs point
at these classes, so a backend class never moves.
"""
