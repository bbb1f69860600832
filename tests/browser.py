"""Headless Chromium for tests: load a page from disk, check images and console, screenshot it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
# Added to a test copy of the page only: the report itself runs no script.
_PROBE = """<script>
document.querySelectorAll("video").forEach(v => {
  const done = () => document.body.setAttribute("data-probe-video", String(v.duration));
  if (v.readyState >= 1) done(); else v.addEventListener("loadedmetadata", done);
});
window.addEventListener("load", () => {
  const state = [...document.images].map(i => i.complete && i.naturalWidth > 0 ? "ok" : "bad");
  document.body.setAttribute("data-probe-images", state.join(","));
  document.body.setAttribute("data-probe-width", String(document.body.scrollWidth));
});
</script>"""


def chromium() -> str:
    """The Chromium executable, or skip the test saying how to get one."""
    found = os.environ.get("RENGA_CHROMIUM") or next(
        (path for name in CANDIDATES if (path := shutil.which(name))), None
    )
    if not found:
        pytest.skip(
            "headless Chromium not found: `apt-get install chromium` (.ci/run does this) "
            "or set RENGA_CHROMIUM to a Chrome/Chromium binary"
        )
    return found


@dataclass
class PageCheck:
    images: list[str]
    body_width: int
    console: list[str]
    dom: str
    video_seconds: float | None


def _run(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    argv = [chromium(), *FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def check_page(page: Path, width: int = 1200) -> PageCheck:
    """Load a copy of `page` with a probe script: which images decoded, what the console said."""
    probe = page.with_name(f".probe-{page.name}")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"))
    try:
        with tempfile.TemporaryDirectory() as profile:
            result = _run(
                [
                    "--enable-logging=stderr",
                    "--v=0",
                    f"--window-size={width},900",
                    "--virtual-time-budget=5000",
                    "--dump-dom",
                    probe.as_uri(),
                ],
                Path(profile),
            )
    finally:
        probe.unlink()
    assert result.returncode == 0, result.stderr[-2000:]
    images = re.search(r'data-probe-images="([^"]*)"', result.stdout)
    body = re.search(r'data-probe-width="(\d+)"', result.stdout)
    assert images is not None and body is not None, "the page never finished loading"
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    states = images.group(1).split(",") if images.group(1) else []
    video = re.search(r'data-probe-video="([^"]*)"', result.stdout)
    seconds = float(video.group(1)) if video else None
    return PageCheck(states, int(body.group(1)), console, result.stdout, seconds)


def screenshot(page: Path, out: Path, width: int = 1200, height: int = 2400) -> Path:
    with tempfile.TemporaryDirectory() as profile:
        result = _run(
            [f"--window-size={width},{height}", f"--screenshot={out}", page.as_uri()], Path(profile)
        )
    assert result.returncode == 0 and out.is_file(), result.stderr[-2000:]
    return out
