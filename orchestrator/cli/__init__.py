"""The command line: the Hydra app and everything it reaches before (and around) a render.

Lives here: the app and its one-line errors (`app`, `startup`, `compose`, `compose_errors`),
renga's `--help` and `--version` (`usage`), the task a launcher pickles (`task`), subcommands
(`commands`, `dryrun`, `reproduce`, `store`), the batch summary (`batch`), the checks of job
files and received files (`jobfile`, `received`), the run directory (`rundir`), the run's log
and network switch (`runlog`, `offline`) and the fast exit (`fastexit`).

May import: every other part of `orchestrator`. Nothing imports `cli`; stages are reached only
through config (`_target_`, and the executor config's `pool` for `--version`'s device).
"""
