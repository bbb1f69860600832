"""`python -m orchestrator ARGS`: the same program as `renga ARGS` (see `cli/app.py`)."""

from orchestrator.cli.app import main

if __name__ == "__main__":
    main()
