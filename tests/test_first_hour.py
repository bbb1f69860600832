"""What a new user meets in the first hour: no silent minutes, honest summaries, readable drafts."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, Cli, ok, tiny_job
from rich.console import Console

from orchestrator.cli.dryrun import PROMPT_WIDTH, _first_line
from orchestrator.engine.context import NodeContext
from orchestrator.engine.progress import NodeRecord, Reporter
from orchestrator.render.run import _node_lines
from orchestrator.stage import KeyframeRequest, SegmentRequest
from stages.assemble import _summary
from stages.keyframes.draft import SAFE_MARGIN, DraftKeyframes
from stages.video.draft import DraftVideo

SONG = "${asset:music/loop_120bpm.flac}"


def music_job(**music) -> dict:
    shots = [{"prompt": "neon dancer"}, {"prompt": "rainy street"}]
    return tiny_job(soundtrack=SONG, shots=shots, music={"enabled": True, **music})


def test_first_music_video_says_what_it_is_doing_within_3_s(cli: Cli, tmp_path: Path):
    """A fresh numba cache (as after an install): the compile takes a minute on 2 cores, and
    the user hears about it at once, before renga waits on the machine-wide compile lock."""
    from conftest import write_job

    write_job(cli.jobs, music_job(max_seconds=2))
    argv = [
        sys.executable, "-m", "orchestrator", "--config-dir", str(cli.jobs), "job=tiny",
        "preset=draft", f"cache_dir={cli.cache}", f"hydra.run.dir={tmp_path / 'run'}",
    ]  # fmt: skip
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    started = time.monotonic()
    process = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    lines: list[tuple[float, str]] = []

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append((time.monotonic() - started, line.rstrip()))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("preparing" in t for _, t in lines):
            time.sleep(0.05)
    finally:
        process.kill()
        process.wait()
        reader.join(5)
    said = [(round(at, 2), text) for at, text in lines]
    first = next((at for at, text in lines if text.startswith("preparing beat analysis")), None)
    assert first is not None, said
    assert said[0][1] == "preparing beat analysis (first run after install, ~1 min)"
    assert first < 3.0, said


@pytest.mark.slow
def test_plan_time_analysis_counts_as_ran_and_library_warnings_go_to_the_log(cli: Cli):
    result = ok(cli("preset=draft", "video.frames=17", job=music_job(max_seconds=3)))
    assert "analysing the beats of loop_120bpm.flac" in result.stderr
    assert "Warning" not in result.stderr + result.stdout
    beats = next(n for n in cli.run_json(result)["nodes"] if n["id"] == "beats")
    assert beats["status"] == "ran" and beats["seconds"] > 0
    row = next(line for line in result.stderr.splitlines() if "beats" in line and "│" in line)
    assert row.split("│")[2:4] == ["   1 ", "      0 "]
    log = (result.run_dir / "renga.log").read_text()  # type: ignore[attr-defined]
    assert "analysing the beats of loop_120bpm.flac" in log
    # The same job again: the analysis comes from the store, silently.
    again = ok(cli("preset=draft", "video.frames=17", job=music_job(max_seconds=3)))
    assert "analysing" not in again.stderr
    beats = next(n for n in cli.run_json(again)["nodes"] if n["id"] == "beats")
    assert beats["status"] == "cached"


def test_summary_lines_read_right_for_one_and_keep_their_order():
    one = {"seams": [{"jump": 1.5}], "seam_jump_mean": 1.5, "seam_jump_max": 1.5,
           "drift_end": 0.5, "drift_max": 0.5}  # fmt: skip
    lines = _summary(one)
    assert lines["seams"].startswith("1 join, jump ratio mean 1.50")
    assert _summary({**one, "seams": [{"jump": 1}] * 3})["seams"].startswith("3 joins,")
    # A node from the store reports its lines in the manifest's sorted order: same output.
    ran = NodeRecord("assemble", "assemble", "k", "ran", 1.0, {"summary": lines})
    stored = NodeRecord("assemble", "assemble", "k", "cached", 0.0,
                        {"summary": dict(sorted(lines.items()))})  # fmt: skip
    assert list(_node_lines([ran])) == list(_node_lines([stored])) == ["seams", "colour drift"]
    out = io.StringIO()
    Reporter(Console(file=out, width=100)).summary([stored], "final.mp4", {})
    assert "nothing to do: the 1 node was cached" in out.getvalue()


def test_plan_prompt_column_is_one_line_of_one_width():
    assert _first_line("# Dusk over the hills\n- wide shot\n") == "Dusk over the hills"
    long = "a dancer spinning under neon lights in an empty warehouse, slow, gentle camera"
    cut = _first_line(long)
    assert len(cut) == PROMPT_WIDTH and cut.endswith("…") and long.startswith(cut[:-1])


def test_draft_motion_keeps_the_card_text_in_view(tmp_path: Path):
    """The text is inside the card's title-safe margin, and no clip's pan and zoom (at the
    highest music energy) cuts into that margin."""
    width, height = 208, 120
    ctx = NodeContext("n", tmp_path, {}, None)  # type: ignore[arg-type]
    request = KeyframeRequest(1, 3, "# Hot\n- a long prompt line " * 3, "", width, height, 5)
    card = np.asarray(DraftKeyframes().render(request, None, ctx))
    text = np.argwhere((card == 255).all(axis=2))
    assert len(text) > 0
    assert text[:, 0].min() >= SAFE_MARGIN * height and text[:, 1].min() >= SAFE_MARGIN * width
    assert text[:, 0].max() < (1 - SAFE_MARGIN) * height
    assert text[:, 1].max() < (1 - SAFE_MARGIN) * width
    # Marks just inside the margin's four corners must survive every clip's last frame.
    start = np.full((height, width, 3), 90, np.uint8)
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    y0, x0 = int(np.ceil(SAFE_MARGIN * height)), int(np.ceil(SAFE_MARGIN * width))
    right, bottom = width - x0 - 6, height - y0 - 6
    corners = [(y0, x0), (y0, right), (bottom, x0), (bottom, right)]
    for (y, x), colour in zip(corners, colours, strict=True):
        start[y : y + 6, x : x + 6] = colour
    for seed in range(12):
        clip = SegmentRequest(0, 0, "p", "", width, height, 81, Fraction(16), seed, 2.0)
        last = list(DraftVideo().generate(clip, start, None, ctx))[-1].astype(int)
        for colour in colours:
            distance = np.abs(last - np.array(colour)).sum(axis=2)
            assert distance.min() < 60, f"seed {seed}: mark {colour} was cropped"


def test_fast_exit_keeps_the_exit_code_output_and_exit_handlers(tmp_path: Path):
    """With torch loaded the CLI skips the interpreter's teardown, and nothing else."""
    mark = tmp_path / "handler-ran"
    script = (
        "import atexit, sys, torch\n"
        "from orchestrator.cli.fastexit import exits_fast\n"
        f"atexit.register(lambda: open({str(mark)!r}, 'w').write('yes'))\n"
        "@exits_fast\n"
        "def main():\n"
        "    print('done', end='')\n"
        "    sys.exit(int(sys.argv[1]))\n"
        "main()\n"
        "print('after main')\n"
    )
    for code in (0, 2):
        mark.unlink(missing_ok=True)
        result = subprocess.run(
            [sys.executable, "-c", script, str(code)], cwd=ROOT, capture_output=True, text=True
        )
        assert (result.returncode, result.stdout) == (code, "done")
        assert mark.read_text() == "yes"
