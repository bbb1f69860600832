"""Where the config tree and sample assets live, and the registrations Hydra needs first."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from orchestrator.cli import usage
from orchestrator.cli.batch import readable_dirname
from orchestrator.schema import register_configs

_HERE = Path(__file__).resolve().parent


def _shipped(name: str) -> Path:
    """Inside the package when installed from a wheel, beside it in a source checkout."""
    inside = _HERE / name
    return inside if inside.is_dir() else _HERE.parent / name


CONF_DIR = _shipped("conf")
ASSETS_DIR = _shipped("assets")


def asset(name: str) -> str:
    """`${asset:music/loop_120bpm.flac}`: a sample input shipped with renga."""
    return str(ASSETS_DIR / name)


def register() -> None:
    register_configs()
    if not OmegaConf.has_resolver("asset"):
        OmegaConf.register_new_resolver("asset", asset)
    if not OmegaConf.has_resolver("readable_dirname"):
        OmegaConf.register_new_resolver("readable_dirname", readable_dirname)
    # `renga --help` (conf/hydra/help/renga.yaml).
    for name, resolver in (("renga_groups", usage.groups_text), ("renga_store", usage.store_text),
                           ("renga_version", lambda: usage.__version__)):  # fmt: skip
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver)


register()
