"""renga's own face on the command line: `--help` (Hydra's help template in
`conf/hydra/help/renga.yaml`, filled by the resolvers here), `--version`, and each command's help.

Nothing here imports torch: `version_text` asks the model pool (a stage) for the device.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

from orchestrator import __version__

# The groups a user picks from, in the order a job is usually built, with what each decides.
GROUPS = {
    "job": "what to make: shots, prompts, soundtrack (your own: --config-dir DIR job=NAME)",
    "preset": "several settings at once (draft: CPU, no weights, seconds)",
    "keyframes": "the first frame of each shot",
    "video": "the motion, segment by segment",
    "audio": "the sound",
    "lipsync": "re-dub shots that have speech",
    "upscale": "larger frames, from an upscale model",
    "interpolate": "more frames per second",
    "mux": "the final file",
    "executor": "where the nodes run",
}
# Config files that only carry the schema, not a choice a user makes.
_INTERNAL = ("schema_",)

COMMAND_HELP = {
    "plan": """\
usage: renga plan [GROUP=OPTION ...] [KEY=VALUE ...] [--json]

Lays out the job and prints what a render with the same overrides would do, rendering nothing:
the shots (frames, seconds, start, prompt), every node with its key, whether the store already
holds it (`cached`) or it would render (`to run`), and an estimate of the render time from the
durations past runs recorded in the store. Nothing is written to outputs/; a music video's beat
analysis is stored (it is what the cuts are planned from), so the render reuses it.

options:
  --json          the same plan as JSON
  -h, --help      this help

Overrides compose exactly as for a render (see `renga --help`), e.g.
  renga plan preset=draft
  renga plan preset=draft job=music_video job.soundtrack=song.mp3 --json
""",
    "inspect": """\
usage: renga inspect FILE [--json]

Prints the config renga embedded in FILE: the whole resolved job of a final.mp4 (.mov, .mkv) or
a stills run's contact_sheet.png, or one keyframe node's settings and seed from a keyframe PNG.
Reads the file only; nothing in it is run.

options:
  --json          print it as JSON instead of YAML
  -h, --help      this help

  renga inspect outputs/2026-11-23/17-05-12/final.mp4
  renga inspect outputs/2026-11-23/17-05-12/keyframes/shot_001.png --json
""",
    "reproduce": """\
usage: renga reproduce FILE [GROUP=OPTION ...] [KEY=VALUE ...]

Renders FILE again from the config embedded in it, into a new run directory
(outputs/<date>/<time>/): a final.mp4 (.mov, .mkv) re-runs its whole job, a keyframe PNG
re-renders that one keyframe. Unchanged, the node keys are the same, so a store that still holds
them answers at once and the file is identical. Overrides apply on top, as for a render
(a whole group such as mux=prores, or keyframes.* settings for a keyframe PNG).

options:
  -h, --help      this help

  renga reproduce outputs/2026-11-23/17-05-12/final.mp4
  renga reproduce outputs/2026-11-23/17-05-12/final.mp4 mux=prores seed=3
  renga reproduce outputs/2026-11-23/17-05-12/keyframes/shot_001.png
""",
}
HELP_FLAGS = ("--help", "-h")


def command_help(command: str) -> str | None:
    """The help page of a subcommand (None for one that brings its own)."""
    return COMMAND_HELP.get(command)


def groups_text(*, _root_: Any) -> str:
    """Resolver `${renga_groups:}`: each user-facing group with its options, the composed
    choice marked `*`. Options come from Hydra's config loader, so a `--config-dir` counts."""
    choices = _root_.hydra.runtime.choices
    width = max(map(len, GROUPS))
    lines = []
    for group, what in GROUPS.items():
        chosen = choices.get(group)
        marked = [f"{o}*" if o == chosen else o for o in _options(group)]
        lines.append(f"  {group:<{width}}  {', '.join(marked)}")
        lines.append(f"  {'':<{width}}    {what}")
    return "\n".join(lines)


def _options(group: str) -> list[str]:
    from hydra.core.global_hydra import GlobalHydra

    from orchestrator.config import CONF_DIR

    if GlobalHydra.instance().is_initialized():
        names = GlobalHydra.instance().config_loader().get_group_options(group)
    else:
        names = [p.stem for p in (CONF_DIR / group).glob("*.yaml")]
    return sorted(n for n in set(names) if not n.startswith(_INTERNAL))


def store_text(value: Any) -> str:
    """Resolver `${renga_store:${cache_dir}}`: where this config's store is."""
    from pathlib import Path

    from orchestrator.render.run import default_cache_dir

    return str(Path(str(value)).expanduser()) if value else str(default_cache_dir())


def version_text() -> str:
    """`renga --version`: renga and the libraries that shape its output, and the device."""
    lines = [f"renga {__version__}"]
    for name, dist in (("torch", "torch"), ("diffusers", "diffusers"), ("PyAV", "av"),
                       ("Hydra", "hydra-core")):  # fmt: skip
        try:
            lines.append(f"{name} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            lines.append(f"{name} not installed")
    lines.append(f"device: {_device()}")
    return "\n".join(lines)


def _device() -> str:
    """What `device: auto` picks on this machine, in words: asked of the model pool the executor
    config names, so the CLI imports neither torch nor a stage (`--version` alone loads torch)."""
    from hydra.utils import get_class

    from orchestrator.schema.executor import LocalExecutorConfig

    return get_class(LocalExecutorConfig().pool["_target_"]).device_text()


def register_resolvers() -> None:
    """The resolvers `renga --help` fills Hydra's help template with (conf/hydra/help)."""
    from omegaconf import OmegaConf

    for name, resolver in (("renga_groups", groups_text), ("renga_store", store_text),
                           ("renga_version", lambda: __version__)):  # fmt: skip
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver)
