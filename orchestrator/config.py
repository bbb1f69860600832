"""Where the config tree and sample assets live, and the registrations Hydra needs first."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

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


def readable_dirname(override_dirname: str) -> str:
    """Hydra's `key=value,...` sweep subdir with each path value cut to its file name, so
    `job.soundtrack=/music/a.mp3` makes one folder `job.soundtrack=a.mp3`, not nested ones."""
    items = []
    for item in override_dirname.split(","):
        key, sep, value = item.partition("=")
        if sep and "/" in value:
            value = Path(value.rstrip("/")).name or value.replace("/", "_")
        items.append(f"{key}{sep}{value}")
    return ",".join(items)


register()
