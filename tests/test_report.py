"""report.html: written for every run (failed ones too), self-contained, and clean in a browser."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from browser import PageCheck, check_page, screenshot
from conftest import ROOT, Cli, ok, patch_node_run, tiny_job
from PIL import Image

from orchestrator.render.run import prepare
from orchestrator.report.charts import metric_series
from orchestrator.report.page import render
from orchestrator.report.timeline import beat_times

FAST = ("preset=draft", "video.frames=17")


def _assert_clean(page: Path, images: int) -> PageCheck:
    check = check_page(page)
    assert check.images == ["ok"] * images, check.images
    assert check.console == [], check.console
    assert check.body_width <= 1200, "the page scrolls sideways"
    return check


@pytest.mark.slow
def test_report_of_a_run_opens_cleanly_in_chromium(cli: Cli, tmp_path: Path):
    job = tiny_job(soundtrack=str(ROOT / "assets" / "music" / "loop_120bpm.flac"))
    job["shots"][0]["seconds"] = 1.5
    result = ok(cli(*FAST, job=job))
    page = result.run_dir / "report.html"
    text = page.read_text()
    assert "http://" not in text and "https://" not in text and "<script" not in text
    run = cli.run_json(result)
    segments = [n for n in run["nodes"] if n["stage"] == "segment"]
    assert len(segments) == 3
    for node in run["nodes"]:
        assert node["id"] in text and node["key"] in text
    assert 'class="badge complete"' in text
    assert 'href="final.mp4"' in text
    assert "a red kite over a field" in text  # the resolved config and the keyframe captions
    # Two keyframes and first / middle / last frames of every segment, all embedded.
    check = _assert_clean(page, images=2 + 3 * len(segments))
    assert check.video_seconds is not None, "the player beside the page did not load final.mp4"
    assert abs(check.video_seconds - run["duration"]) < 0.1
    shot = screenshot(page, tmp_path / "report.png")
    with Image.open(shot) as image:
        assert image.size == (1200, 2400)
        assert len(image.convert("L").getcolors(256) or []) > 20  # not a blank page
    if artifacts := os.environ.get("RENGA_TEST_ARTIFACTS"):
        shutil.copy(shot, Path(artifacts) / "report.png")


def test_cached_rerun_report_shows_cache_hits(cli: Cli):
    ok(cli(*FAST, job=tiny_job()))
    again = ok(cli(*FAST, job=tiny_job()))
    text = (again.run_dir / "report.html").read_text()
    assert text.count('<td><span class="st cached">') == len(cli.run_json(again)["nodes"])
    assert "built in" in text


def test_stills_report_shows_the_keyframes(cli: Cli):
    result = ok(cli(*FAST, "mode=stills", job=tiny_job()))
    page = result.run_dir / "report.html"
    text = page.read_text()
    assert 'href="contact_sheet.png"' in text and "Segments" not in text
    _assert_clean(page, images=2)


def test_failed_run_gets_a_report_of_what_finished(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    job = tiny_job()
    patch_node_run(
        monkeypatch, tmp_path / "hook", "segment/1.0", "raise RuntimeError('the GPU caught fire')"
    )
    result = cli(*FAST, job=job)
    assert result.returncode != 0
    page = result.run_dir / "report.html"
    text = page.read_text()
    assert 'class="badge failed"' in text
    assert "node segment/1.0 failed: RuntimeError: the GPU caught fire" in text
    assert '<td><span class="st failed">' in text
    finished = [n["id"] for n in cli.run_json(result)["nodes"]]
    assert "segment/0.0" in finished and "segment/1.0" not in finished
    assert text.count('<td><span class="st not-run">') == 2  # assemble, mux
    images = len(re.findall(r"<img ", text))
    _assert_clean(page, images=images)


def test_seam_metrics_and_beats_are_drawn_whatever_their_shape(make_config, tmp_path: Path):
    cfg = make_config("preset=draft", "video.frames=17", f"cache_dir={tmp_path / 'cache'}")
    timeline, graph, _, store = prepare(cfg, tmp_path / "run")
    metrics = {
        "frames": 32,
        "seams": [
            {"seam": 0, "ssim": 0.91, "delta_e": 2.5},
            {"seam": 1, "ssim": 0.88, "delta_e": 3},
        ],
        "drift": {"luma": [0.0, 0.4, 1.2]},
        "motion": [1, 2, 3],
        "label": "not a number",
    }
    summary = {
        "complete": False,
        "nodes": [{"id": "assemble", "stage": "assemble", "key": "k", "status": "ran",
                   "seconds": 1.0, "metrics": metrics}],
        "beats": [0.0, 0.5, 1.0, 1.5],
    }  # fmt: skip
    assert set(metric_series(metrics)) == {"seams.ssim", "seams.delta_e", "drift.luma", "motion"}
    assert beat_times(summary) == {"beats": [0.0, 0.5, 1.0, 1.5]}
    page = tmp_path / "report.html"
    page.write_text(render(summary, timeline, graph, store, cfg))
    text = page.read_text()
    # Three-point series are lines; the two-seam ones are bars labelled with their values.
    assert text.count("<polyline") == 2
    assert text.count('class="vbar"') == 4
    assert ">0.88</text>" in text and ">2.5</text>" in text
    assert text.count('class="beat') == 4
    assert "not rendered" in text
    _assert_clean(page, images=0)
