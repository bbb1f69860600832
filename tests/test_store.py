"""Store: atomic publish, manifest, integrity checks, sweep of dead temporaries, per-key lock."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path

import pytest

from orchestrator.engine.store import MANIFEST, TEMP_PREFIX, Store


def test_build_publishes_files_and_manifest(tmp_path: Path):
    store = Store(tmp_path)
    with store.lock("segment", "abc"), store.build("segment", "abc", {"node": "n"}) as out:
        (out / "clip.mkv").write_bytes(b"x" * 100)
        assert store.lookup("segment", "abc") is None
    manifest = store.lookup("segment", "abc")
    assert manifest is not None
    assert manifest["node"] == "n"
    assert manifest["outputs"]["clip.mkv"]["size"] == 100
    assert len(manifest["outputs"]["clip.mkv"]["sha256"]) == 64
    assert json.loads((store.entry("segment", "abc") / MANIFEST).read_text()) == manifest


def test_failure_leaves_nothing(tmp_path: Path):
    store = Store(tmp_path)
    with pytest.raises(RuntimeError), store.build("segment", "abc", {}) as out:
        (out / "clip.mkv").write_bytes(b"partial")
        raise RuntimeError("boom")
    assert store.lookup("segment", "abc") is None
    assert list((tmp_path / "segment").iterdir()) == []


def test_entry_whose_files_do_not_match_is_not_trusted(tmp_path: Path):
    store = Store(tmp_path)
    with store.build("keyframe", "k", {}) as out:
        (out / "keyframe.png").write_bytes(b"12345")
    (store.entry("keyframe", "k") / "keyframe.png").write_bytes(b"1234")
    assert store.lookup("keyframe", "k") is None
    (store.entry("keyframe", "k") / "keyframe.png").write_bytes(b"54321")
    assert store.lookup("keyframe", "k") is not None
    assert Store(tmp_path, verify=True).lookup("keyframe", "k") is None


def test_rebuild_replaces_an_untrusted_entry(tmp_path: Path):
    store = Store(tmp_path)
    broken = store.entry("keyframe", "k")
    broken.mkdir(parents=True)
    (broken / "leftover").write_text("junk")
    with store.build("keyframe", "k", {}) as out:
        (out / "keyframe.png").write_bytes(b"ok")
    assert sorted(p.name for p in broken.iterdir()) == sorted([MANIFEST, "keyframe.png"])


def test_sweep_removes_temporaries_of_dead_processes_only(tmp_path: Path):
    store = Store(tmp_path)
    host = store._host
    dead = subprocess_pid_that_exited()
    stale = tmp_path / "segment" / f"{TEMP_PREFIX}abc-{host}-{dead}-0000"
    live = tmp_path / "segment" / f"{TEMP_PREFIX}abd-{host}-{os.getpid()}-0000"
    for path in (stale, live):
        path.mkdir(parents=True)
    assert store.sweep() == 1
    assert not stale.exists() and live.exists()


def subprocess_pid_that_exited() -> int:
    process = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(0,))
    process.start()
    process.join()
    return process.pid


def _hold_lock(root: str, ready, release) -> None:
    store = Store(Path(root))
    with store.lock("segment", "abc"):
        ready.set()
        release.wait(10)


def test_lock_excludes_other_processes_and_dies_with_its_holder(tmp_path: Path):
    from filelock import FileLock, Timeout

    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(tmp_path), ready, release))
    holder.start()
    assert ready.wait(20)
    lock_file = tmp_path / ".locks" / "segment-abc.lock"
    with pytest.raises(Timeout):
        FileLock(str(lock_file), timeout=0.2).acquire()
    holder.kill()
    holder.join()
    with FileLock(str(lock_file), timeout=2):
        pass


def test_check_finds_flipped_bytes_and_set_aside_hides_the_entry(tmp_path: Path):
    store = Store(tmp_path)
    with store.build("segment", "abc", {}) as out:
        (out / "clip.mkv").write_bytes(bytes(range(256)))
    assert store.check("segment", "abc") is None
    file = store.entry("segment", "abc") / "clip.mkv"
    file.write_bytes(bytes(range(255, -1, -1)))
    assert store.lookup("segment", "abc") is not None, "a lookup checks sizes only"
    assert store.intact("segment", "abc") is None, "built by this process: trusted"
    damage = Store(tmp_path).check("segment", "abc")
    assert damage is not None and damage.kind == "corrupt"
    assert damage.line() == "segment abc clip.mkv: sha256 does not match the manifest"
    aside = Store(tmp_path).set_aside("segment", "abc")
    assert aside is not None and aside.name.startswith(".corrupt-abc-")
    assert aside.parent == tmp_path / "segment" and (aside / "clip.mkv").exists()
    assert store.lookup("segment", "abc") is None
    assert list(store.manifests()) == [], "an entry set aside is never read again"


def test_set_aside_leaves_a_sound_entry_in_place(tmp_path: Path):
    store = Store(tmp_path)
    with store.build("audio", "k", {}) as out:
        (out / "audio.wav").write_bytes(b"RIFF")
    assert Store(tmp_path).set_aside("audio", "k") is None
    assert store.lookup("audio", "k") is not None


def test_touch_records_last_use_on_the_manifest(tmp_path: Path):
    store = Store(tmp_path)
    with store.build("keyframe", "k", {}) as out:
        (out / "keyframe.png").write_bytes(b"png")
    manifest = store.entry("keyframe", "k") / MANIFEST
    os.utime(manifest, (1, 1))
    store.touch("keyframe", "k")
    assert time.time() - manifest.stat().st_mtime < 60
    store.touch("keyframe", "missing")  # best effort: no error
