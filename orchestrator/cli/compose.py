"""One composition per CLI run.

Hydra's `main` composes the config twice for a plain run: once in `Hydra.get_mode`, only to read
`hydra.mode`, and again in `Hydra.run`, after adding `hydra.mode=RUN` to the overrides. The two
results are the same config but for that one Hydra key, and each composition of renga's tree
costs 0.07-0.25 s of a fresh process. Here `get_mode` composes for a run, keeps the result,
and `Hydra.run`'s composition takes it, setting `hydra.mode` as the override would have.

Only the plain run path is shortened: a sweep (`-m`, sweep overrides), or a config whose own
`hydra.mode` is MULTIRUN, makes the kept config not match and Hydra composes as before.
Hydra is pinned below 1.4 (pyproject.toml); `tests/test_cli_face.py` checks one composition.
"""

from __future__ import annotations

import logging
from typing import Any

from hydra._internal import hydra as hydra_internal
from hydra.core.utils import configure_log
from hydra.types import RunMode
from omegaconf import DictConfig

MODE_RUN = "hydra.mode=RUN"

_original_get_mode = hydra_internal.Hydra.get_mode
_original_compose = hydra_internal.Hydra.compose_config
# (config_name, overrides, config) composed by get_mode, waiting for Hydra.run to take it.
_kept: list[tuple[str | None, list[str], DictConfig]] = []
# How many compositions this process ran (tests read it).
count = 0


def install() -> None:
    """Route Hydra's two compositions of a plain run through one (idempotent)."""
    hydra_internal.Hydra.get_mode = _get_mode  # type: ignore[method-assign]
    hydra_internal.Hydra.compose_config = _compose_config  # type: ignore[method-assign]


def _get_mode(self: Any, config_name: str | None, overrides: list[str]) -> Any:
    """`hydra.mode` from a composition for a run, kept for the run that follows."""
    _kept.clear()
    try:
        cfg = _compose_config(self, config_name, overrides, RunMode.RUN)
    except Exception:
        # Sweep overrides do not compose for a run: let Hydra decide as it always has.
        return _original_get_mode(self, config_name, overrides)
    mode = cfg.hydra.mode
    if mode in (None, RunMode.RUN):
        _kept.append((config_name, list(overrides), cfg))
    return mode


def _compose_config(
    self: Any,
    config_name: str | None,
    overrides: list[str],
    run_mode: RunMode,
    with_log_configuration: bool = False,
    from_shell: bool = True,
    validate_sweep_overrides: bool = True,
) -> DictConfig:
    global count
    cfg = _take(config_name, overrides, run_mode)
    if cfg is None:
        count += 1
        return _original_compose(
            self, config_name, overrides, run_mode, with_log_configuration, from_shell,
            validate_sweep_overrides,
        )  # fmt: skip
    if with_log_configuration:
        # What Hydra.compose_config does after loading the configuration.
        configure_log(cfg.hydra.hydra_logging, cfg.hydra.verbose)
        hydra_internal.log = logging.getLogger(hydra_internal.__name__)
        self._print_debug_info(config_name, overrides, run_mode)
    return cfg


def _take(config_name: str | None, overrides: list[str], run_mode: RunMode) -> DictConfig | None:
    """The kept config if this is the run's composition of it, with `hydra.mode` as Hydra's
    `hydra.mode=RUN` override sets it (last in the overrides, after the defaults list)."""
    if not _kept or run_mode != RunMode.RUN:
        _kept.clear()
        return None
    name, kept_overrides, cfg = _kept.pop()
    if name != config_name:
        return None
    if overrides == kept_overrides and cfg.hydra.mode == RunMode.RUN:
        return cfg
    if overrides == [*kept_overrides, MODE_RUN] and cfg.hydra.mode is None:
        cfg.hydra.mode = RunMode.RUN
        cfg.hydra.overrides.hydra.append(MODE_RUN)
        return cfg
    return None
