"""renga: a Hydra config in, a long video out.

The rooms, and which way imports run (tests/test_architecture.py keeps it so):

    cli -> render -> {report, plan} -> engine        media and engine at the bottom

- `engine/`  the DAG and content-addressed store; imports nothing else of renga.
- `plan/`    job config -> Timeline; `plan/timeline.py` holds the types everyone reads.
- `render/`  Timeline -> graph of nodes -> run -> publish.
- `report/`  report.html from a run's summary and its store entries.
- `media/`   streaming PyAV I/O.
- `cli/`     the Hydra app and the subcommands.
- `schema/`, `config.py`  the structured config and where the shipped config lives.
- `stage.py` the contract stages implement; `entries.py` node ids and entry file names.

Nothing here imports torch, diffusers, transformers, open_clip or `stages`: backends are named
in config (`_target_`), and the model pool the executors use comes from the executor config.
"""

__version__ = "0.1.0"
