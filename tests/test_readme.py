"""Every command in README.md's bash blocks, run the way a reader would paste it, so the README
cannot rot.

The commands run in README order in one temporary directory (the reader's), with `renga` on
PATH as this checkout's CLI and an isolated store. What runs:
- `renga ... preset=draft` renders, and the commands that need no weights (`plan`, `inspect`,
  `reproduce`, `--cfg`, `--help`, `--version`), for real, at a small frame size;
- every other `renga ...` (it needs model weights) is checked to compose, with `--cfg job`
  (a sweep `-m a=1,2` as its first job);
- `mkdir`, `cp`: as written;
- a ```yaml block whose first line is `# path/to/file.yaml` is written to that path first.
Commands that install, download or clone (network), run the tests or the benchmarks are
skipped by name; a command of any other kind fails the test until it is classified here.
Placeholder inputs (`my_song.mp3`, `songs/*.mp3`, `outputs/.../final.mp4`, a job's pictures
and sounds) are made from renga's sample assets and first render.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

README = ROOT / "README.md"
SKIP = {
    "git": "clones from the network",
    "pip": "installs from the network",
    "hf": "downloads weights",
    "python3": "makes the virtualenv the test already runs in",
    ".": "activates the virtualenv",
    "cd": "enters the clone",
    "python": "runs the tests or a benchmark (minutes)",
}
SHELL = ("mkdir", "cp")
# Small frames keep ~25 renders in about a minute; every key the README sets still applies.
SMALL = ("job.width=128", "job.height=80")
RUNNABLE = ("preset=draft",)
NO_WEIGHTS = ("plan", "inspect", "reproduce", "store", "--cfg", "--help", "-h", "--version")
IMAGE = ROOT / "assets" / "keyframes" / "dusk_hills.png"
SONG = ROOT / "assets" / "music" / "loop_120bpm.flac"

# `renga` for the reader: this checkout's CLI, renders at SMALL size, and a command that needs
# weights composed with --cfg job instead (a sweep as its first job).
SHIM = f"""#!{sys.executable}
import os, re, subprocess, sys
args = sys.argv[1:]
command = [sys.executable, "-m", "orchestrator"]
no_weights = {NO_WEIGHTS!r}
if any(a in {RUNNABLE!r} for a in args) or (args and args[0] in no_weights) or any(
        a in no_weights[4:] for a in args):
    if args and args[0] == "store":
        # The README's shared store is the reader's own; this one is the test's, isolated.
        args = [a for a in args if not a.startswith("cache_dir=")]
    bare = args and args[0] in ("inspect", "store") or "--cfg" in args
    extra = [] if bare else list({SMALL!r})
    sys.exit(subprocess.call([*command, *args, *extra]))
def first(arg):
    key, sep, value = arg.partition("=")
    if sep and not arg.startswith("-") and "," in value and value[:1] not in "[{{'\\"":
        return f"{{key}}={{value.split(',')[0]}}"
    return arg
args = [first(a) for a in args if a not in ("-m", "--multirun")]
sys.exit(subprocess.call([*command, *args, "--cfg", "job"], stdout=subprocess.DEVNULL))
"""


def blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced block, in order."""
    return [(m[1], m[2]) for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M)]


def commands(body: str) -> list[str]:
    """A bash block's commands: continuation lines joined, comments and blank lines dropped."""
    joined = re.sub(r"\\\n\s*", " ", body)
    lines = [_uncommented(line) for line in joined.splitlines()]
    return [line for line in lines if line]


def _uncommented(line: str) -> str:
    """The line without a shell comment (a `#` that starts a word, outside quotes)."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].strip()
    return line.strip()


def test_readme_commands_are_parsed_as_a_reader_would():
    text = README.read_text()
    bash = [c for lang, body in blocks(text) if lang == "bash" for c in commands(body)]
    assert "renga preset=draft" in bash
    assert any(c.startswith("renga plan --config-dir my_film job=first") for c in bash)
    # Every command is of a kind this test knows how to run or why it skips.
    for command in bash:
        word = command.split()[0]
        assert word == "renga" or word in SKIP or word in SHELL, f"unclassified: {command}"
    # The job files "Your own job" shows are complete, named files.
    names = [body.splitlines()[0] for lang, body in blocks(text) if lang == "yaml"]
    assert "# my_film/job/first.yaml" in names and "# my_film/job/clip.yaml" in names


@pytest.mark.slow
def test_every_readme_command_runs(tmp_path: Path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "renga").write_text(SHIM)
    (bin_dir / "renga").chmod(0o755)
    home = tmp_path / "reader"
    home.mkdir()
    (home / "conf").symlink_to(ROOT / "conf")  # `cp conf/job/example.yaml ...` from a clone
    for song in ("my_song.mp3", "songs/a.mp3", "songs/b.mp3", "a.mp3", "b.mp3"):
        (home / song).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SONG, home / song)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        "COLUMNS": "120",
    }
    ran, composed, skipped = [], [], []
    for lang, body in blocks(README.read_text()):
        first = body.splitlines()[0] if body.strip() else ""
        if lang == "yaml" and re.fullmatch(r"# [\w./-]+\.yaml", first):
            _write_job(home, first[2:], body)
            continue
        if lang != "bash":
            continue
        for command in commands(body):
            word = command.split()[0]
            if word in SKIP:
                skipped.append(command)
                continue
            if "..." in command.replace("outputs/...", ""):
                skipped.append(command)  # an elided example (`[1.0,1.017,...]`)
                continue
            _placeholders(home, command)
            result = subprocess.run(
                ["bash", "-c", command], cwd=home, env=env, capture_output=True, text=True,
                timeout=600,
            )  # fmt: skip
            assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr[-3000:]}"
            runs = any(a in command for a in RUNNABLE) or command.split()[1:2] in (
                [w] for w in NO_WEIGHTS
            )
            (ran if runs else composed).append(command)
    assert any(c == "renga preset=draft" for c in ran)
    assert any("reproduce" in c for c in ran) and any("job=first preset=draft" in c for c in ran)
    assert any(c.startswith("renga executor=ray") for c in composed)
    assert len(list(home.glob("outputs/*/*/final.mp4"))) >= 5


def _write_job(home: Path, name: str, body: str) -> None:
    """A job file from the README, with the pictures and sounds it names made from assets."""
    path = home / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    for kind, value in re.findall(r"(image|soundtrack|speech|vocals):\s*(\S+)", body):
        media = home / value
        if media.exists():
            continue
        media.parent.mkdir(parents=True, exist_ok=True)
        if kind == "speech":
            _speech(media)
        else:
            shutil.copyfile(IMAGE if kind == "image" else SONG, media)


def _speech(path: Path, seconds: float = 1.0, rate: int = 16000) -> None:
    """A short spoken-length line (a tone): speech must fit its shot."""
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())


def _placeholders(home: Path, command: str) -> None:
    """`outputs/2026-11-23/17-05-12/...` and `outputs/.../...` are the first render's run."""
    for name in re.findall(r"outputs/(\.\.\.|[^/\s]+/[^/\s]+)/", command):
        link = home / "outputs" / name
        if link.exists():
            continue
        runs = sorted(p.parent for p in home.glob("outputs/*/*/final.mp4"))
        assert runs, f"{command}: no render before it to stand for {link}"
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(runs[0])
