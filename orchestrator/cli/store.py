"""`renga store verify` and `renga store gc`: check every entry of the store, and remove the
entries no run has used since a date.

Both read the store named by `cache_dir=DIR` (the same override a render takes), else the
default one. A run touches the manifest of every entry it references, so the manifest's mtime
is the entry's last use; entries set aside as corrupt count as last used when they were set
aside. Neither command composes the Hydra config: they need nothing from it but the store.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import NoReturn

from filelock import FileLock, Timeout

from orchestrator.engine.errors import UserError
from orchestrator.engine.store import CORRUPT_PREFIX, MANIFEST, Store
from orchestrator.render.run import default_cache_dir

CACHE_DIR = "cache_dir="
AGE = re.compile(r"(\d+)([hdw])")
AGE_UNITS = {"h": "hours", "d": "days", "w": "weeks"}


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake as renga's one line (exit 2), not two."""

    def error(self, message: str) -> NoReturn:
        raise UserError(self.prog, f"{message} (see {self.prog} --help)")


def parser() -> argparse.ArgumentParser:
    main = _Parser(
        prog="renga store",
        description="Check and prune the store. Add cache_dir=DIR to name a store other than "
        "the default ($RENGA_CACHE_DIR, else $XDG_CACHE_HOME/renga, else ~/.cache/renga).",
    )
    commands = main.add_subparsers(dest="command", required=True, metavar="{verify,gc}")
    verify = commands.add_parser(
        "verify",
        help="hash every entry against its manifest",
        description="Hash every entry against its manifest; name each corrupt or incomplete "
        "one. Exit 1 if any is bad.",
    )
    verify.add_argument(
        "--move-aside",
        action="store_true",
        help="move bad entries to <stage>/.corrupt-<key>-<time> so the next run rebuilds them",
    )
    gc = commands.add_parser(
        "gc",
        help="remove entries no run used since a date",
        description="Remove the entries no run has used since WHEN (and corrupt entries set "
        "aside before it). Entries whose lock another process holds are kept.",
    )
    gc.add_argument(
        "--unused-since",
        required=True,
        metavar="WHEN",
        help="a date or time (2026-01-31, 2026-01-31T18:00) or an age (12h, 30d, 4w)",
    )
    gc.add_argument("--dry-run", action="store_true", help="list what would go, with sizes")
    return main


def main(args: list[str]) -> int:
    """Run `renga store ARGS`; the exit status."""
    roots = [a[len(CACHE_DIR) :] for a in args if a.startswith(CACHE_DIR)]
    options = parser().parse_args([a for a in args if not a.startswith(CACHE_DIR)])
    root = Path(os.path.expanduser(roots[-1])) if roots else default_cache_dir()
    if not root.is_dir():
        raise UserError("cache_dir", f"no store at {root}")
    store = Store(root)
    if options.command == "verify":
        return verify(store, options.move_aside)
    return gc(store, since(options.unused_since), options.dry_run)


@dataclass(frozen=True)
class Entry:
    stage: str
    key: str
    path: Path
    aside: bool

    def size(self) -> int:
        return sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())

    def last_used(self) -> float:
        if self.aside:
            stamp = self.path.name[len(CORRUPT_PREFIX) :].split("-")[-2]
            try:
                return time.mktime(time.strptime(stamp, "%Y%m%dT%H%M%S"))
            except ValueError:
                return self.path.stat().st_mtime
        manifest = self.path / MANIFEST
        return (manifest if manifest.exists() else self.path).stat().st_mtime


def entries(store: Store, aside: bool = False) -> Iterator[Entry]:
    """Every entry directory, in order; with `aside`, the set-aside corrupt ones too."""
    for stage in sorted(p for p in store.root.iterdir() if p.is_dir()):
        if stage.name.startswith("."):
            continue
        for path in sorted(p for p in stage.iterdir() if p.is_dir()):
            if path.name.startswith(CORRUPT_PREFIX):
                if aside:
                    yield Entry(stage.name, path.name, path, True)
            elif not path.name.startswith("."):
                yield Entry(stage.name, path.name, path, False)


def verify(store: Store, move_aside: bool) -> int:
    counts = {"ok": 0, "corrupt": 0, "incomplete": 0}
    hashed = 0
    started = time.perf_counter()
    for entry in entries(store):
        hashed += entry.size()
        damage = store.check(entry.stage, entry.key)
        if damage is None:
            counts["ok"] += 1
            continue
        counts[damage.kind] += 1
        line = f"{damage.kind}: {damage.line()}"
        if move_aside:
            line += f"; moved to {store.set_aside(damage.stage, damage.key)}"
        print(line)
    seconds = time.perf_counter() - started
    total = sum(counts.values())
    print(
        f"{store.root}: {total} entries: {counts['ok']} ok, {counts['corrupt']} corrupt, "
        f"{counts['incomplete']} incomplete ({_size(hashed)} hashed in {seconds:.1f} s)"
    )
    bad = counts["corrupt"] + counts["incomplete"]
    if bad and not move_aside:
        print("rerun with --move-aside to set them aside; the next render rebuilds them")
    return 1 if bad else 0


def since(value: str) -> float:
    """`--unused-since` as a POSIX time: an ISO date/time (local time) or an age back from now."""
    if match := AGE.fullmatch(value.strip()):
        amount, unit = int(match.group(1)), AGE_UNITS[match.group(2)]
        return (datetime.now() - timedelta(**{unit: amount})).timestamp()
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise UserError(
            "--unused-since", f"{value!r} is not a date (2026-01-31), a time "
            "(2026-01-31T18:00) or an age (12h, 30d, 4w)"
        ) from None  # fmt: skip


def gc(store: Store, cutoff: float, dry_run: bool) -> int:
    when = datetime.fromtimestamp(cutoff).isoformat(sep=" ", timespec="minutes")
    count = total = 0
    for entry in entries(store, aside=True):
        if entry.last_used() >= cutoff:
            continue
        size, used = entry.size(), datetime.fromtimestamp(entry.last_used())
        if not dry_run and not _remove(store, entry, cutoff):
            print(f"kept (in use): {entry.stage} {entry.key}")
            continue
        print(f"{_size(size):>10}  {entry.stage} {entry.key}  last used {used:%Y-%m-%d %H:%M}")
        count += 1
        total += size
    verb = "would remove" if dry_run else "removed"
    print(f"{verb} {count} entries unused since {when}: {_size(total)}")
    return 0


def _remove(store: Store, entry: Entry, cutoff: float) -> bool:
    """Delete an entry unless a run holds its lock or used it since the check: the manifest
    first, so the entry reads as absent even if the rest is interrupted."""
    if entry.aside:
        shutil.rmtree(entry.path, ignore_errors=True)
        return True
    locks = store.root / ".locks"
    locks.mkdir(exist_ok=True)
    lock = FileLock(str(locks / f"{entry.stage}-{entry.key}.lock"), timeout=0)
    try:
        with lock:
            if entry.last_used() >= cutoff:
                return False
            (entry.path / MANIFEST).unlink(missing_ok=True)
            shutil.rmtree(entry.path, ignore_errors=True)
    except Timeout:
        return False
    return True


def _size(count: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")
