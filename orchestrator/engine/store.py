"""Content-addressed artifact store: `<root>/<stage>/<key>/` holds a node's files and its manifest.

An entry is built in a hidden temporary directory beside its final place and renamed into place
with `manifest.json` written last, so an entry either is complete or does not exist; a crash at
any moment loses at most the node in flight. A per-key file lock (released by the OS when its
holder dies) lets several processes share one store.

A lookup checks sizes only (a stat per file). `check` hashes an entry against its manifest; a
run calls it where a bad byte would spread (see `integrity`), and `set_aside` moves a corrupt
entry to a hidden name that is never looked up again. A run touches the manifest of every entry
it references, so the manifest's mtime is the entry's last use (what `renga store gc` reads).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

MANIFEST = "manifest.json"
TEMP_PREFIX = ".tmp-"
CORRUPT_PREFIX = ".corrupt-"
STALE_FOREIGN_TEMP_SECONDS = 24 * 3600
HASH_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def write_json_atomic(path: Path, value: Any) -> None:
    """Write JSON so that readers see either the old file or the whole new one."""
    write_text_atomic(path, json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


def write_text_atomic(path: Path, text: str) -> None:
    """Write text so that readers see either the old file or the whole new one."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class Damage:
    """Why an entry cannot be trusted: `corrupt` (bytes differ from the manifest) or
    `incomplete` (no readable manifest, or a file it lists is missing)."""

    stage: str
    key: str
    kind: str
    file: str
    reason: str

    def line(self) -> str:
        return f"{self.stage} {self.key} {self.file}: {self.reason}"


class Store:
    def __init__(self, root: Path, verify: bool = False) -> None:
        self.root = root
        self.verify = verify
        self._host = socket.gethostname()
        # Entries this process built or hashed: publishing them needs no second read.
        self._trusted: set[tuple[str, str]] = set()

    def entry(self, stage: str, key: str) -> Path:
        return self.root / stage / key

    def lookup(self, stage: str, key: str) -> dict[str, Any] | None:
        """The manifest of a complete entry whose files match it, else None."""
        path = self.entry(stage, key)
        try:
            manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        for name, info in manifest.get("outputs", {}).items():
            file = path / name
            try:
                if file.stat().st_size != info["size"]:
                    return None
            except OSError:
                return None
            if self.verify and sha256_file(file) != info["sha256"]:
                return None
        return manifest

    def check(self, stage: str, key: str) -> Damage | None:
        """Hash every file of an entry against its manifest: None when all match."""
        path = self.entry(stage, key)
        try:
            manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
            outputs = manifest["outputs"]
        except (OSError, ValueError, KeyError, TypeError):
            return Damage(stage, key, "incomplete", MANIFEST, "missing or unreadable")
        for name, info in sorted(outputs.items()):
            file = path / name
            try:
                size = file.stat().st_size
            except OSError:
                return Damage(stage, key, "incomplete", name, "missing")
            if size != info["size"]:
                return Damage(stage, key, "corrupt", name, f"{size} bytes, manifest says "
                              f"{info['size']}")  # fmt: skip
            if sha256_file(file) != info["sha256"]:
                return Damage(stage, key, "corrupt", name, "sha256 does not match the manifest")
        self._trusted.add((stage, key))
        return None

    def intact(self, stage: str, key: str) -> Damage | None:
        """`check`, skipped for an entry this process built or already hashed."""
        return None if (stage, key) in self._trusted else self.check(stage, key)

    def set_aside(self, stage: str, key: str) -> Path | None:
        """Move a damaged entry to `<stage>/.corrupt-<key>-<time>-<rand>`, where no lookup finds
        it; under the key's lock, and only if it is still damaged (another process may have
        rebuilt it meanwhile). Returns where it went, or None if it was left in place."""
        with self.lock(stage, key):
            if self.check(stage, key) is None or not self.entry(stage, key).exists():
                return None
            stamp = time.strftime("%Y%m%dT%H%M%S")
            aside = self.root / stage / f"{CORRUPT_PREFIX}{key}-{stamp}-{uuid.uuid4().hex[:4]}"
            os.replace(self.entry(stage, key), aside)
            self._trusted.discard((stage, key))
            return aside

    def touch(self, stage: str, key: str) -> None:
        """Record that a run used this entry now (the manifest's mtime); best effort."""
        with suppress(OSError):
            os.utime(self.entry(stage, key) / MANIFEST)

    @contextmanager
    def lock(self, stage: str, key: str) -> Iterator[None]:
        locks = self.root / ".locks"
        locks.mkdir(parents=True, exist_ok=True)
        with FileLock(str(locks / f"{stage}-{key}.lock")):
            yield

    @contextmanager
    def build(self, stage: str, key: str, manifest: dict[str, Any]) -> Iterator[Path]:
        """Yield an empty temporary directory; on success publish it as the entry.

        Call under `lock(stage, key)`. The manifest gets the outputs' sizes and sha256 added.
        """
        parent = self.root / stage
        parent.mkdir(parents=True, exist_ok=True)
        tmp = parent / f"{TEMP_PREFIX}{key}-{self._host}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            yield tmp
            outputs = {
                str(file.relative_to(tmp)): {
                    "size": file.stat().st_size,
                    "sha256": sha256_file(file),
                }
                for file in sorted(tmp.rglob("*"))
                if file.is_file()
            }
            write_json_atomic(tmp / MANIFEST, {**manifest, "outputs": outputs})
            final = self.entry(stage, key)
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
            self._trusted.add((stage, key))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def manifests(self) -> Iterator[dict[str, Any]]:
        """Every complete entry's manifest (past runs' params, metrics and timings)."""
        for path in sorted(self.root.glob(f"*/*/{MANIFEST}")):
            if path.parent.name.startswith("."):
                continue
            try:
                yield json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue

    def sweep(self) -> int:
        """Remove temporaries left by dead processes; returns how many were removed."""
        removed = 0
        if not self.root.exists():
            return 0
        for tmp in self.root.glob(f"*/{TEMP_PREFIX}*"):
            if self._is_stale(tmp):
                shutil.rmtree(tmp, ignore_errors=True)
                removed += 1
        return removed

    def discard_own(self) -> int:
        """Remove this process's temporaries: a stopped run has no node in flight, and a signal
        can land where no `except` of the build could remove its directory."""
        own = f"-{self._host}-{os.getpid()}-"
        removed = 0
        for tmp in self.root.glob(f"*/{TEMP_PREFIX}*"):
            if own in tmp.name:
                shutil.rmtree(tmp, ignore_errors=True)
                removed += 1
        return removed

    def _is_stale(self, tmp: Path) -> bool:
        parts = tmp.name[len(TEMP_PREFIX) :].split("-")
        try:
            host, pid = "-".join(parts[1:-2]), int(parts[-2])
        except (IndexError, ValueError):
            return True
        if host == self._host:
            return not _pid_alive(pid)
        try:
            return time.time() - tmp.stat().st_mtime > STALE_FOREIGN_TEMP_SECONDS
        except OSError:
            return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
