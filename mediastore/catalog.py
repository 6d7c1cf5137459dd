"""Which Parquet files are live. Readers and the compactor ask here; nobody else lists.

A compacted file is named ``<first>-<last>-m<token>-<part>.parquet`` and its Parquet metadata
holds ``mediastore.replaces`` (the names it replaces, in its directory) and
``mediastore.group`` (the names of every output of that compaction). Its PUT is the commit:
once all outputs of a group are listed, the files they replace are dead to readers; before
that, the old files are live and the outputs are ignored. A reader therefore never sees a row
twice or not at all, and the replaced files are deleted only after a grace period, so a
query that listed them just before the commit can still read them.

Object-store listings can come back empty under concurrent writes (moto does; FACTS.md), so
a listing that lacks a file this catalog saw before, and that no compaction replaced, is
retried; files never vanish except by compaction.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass

import pyarrow.parquet as pq

from .storage import StoreLocation

__all__ = ["Catalog", "CompactedInfo", "is_compacted_name", "compacted_metadata"]

REPLACES_KEY = b"mediastore.replaces"
GROUP_KEY = b"mediastore.group"
COMPACTED_AT_KEY = b"mediastore.compacted_at"


def compacted_metadata(replaces: list[str], group: list[str]) -> dict[bytes, bytes]:
    """The Parquet metadata that makes a file a committed compaction output."""
    return {
        REPLACES_KEY: json.dumps(replaces).encode(),
        GROUP_KEY: json.dumps(group).encode(),
        COMPACTED_AT_KEY: repr(time.time()).encode(),
    }


def is_compacted_name(name: str) -> bool:
    parts = name.split("-")
    return len(parts) >= 4 and parts[2].startswith("m")


@dataclass(frozen=True)
class CompactedInfo:
    replaces: tuple[str, ...]
    group: tuple[str, ...]
    compacted_at: float


def _walk_local(prefix: str) -> list[str]:
    """Parquet files below a local directory: os.scandir, no stat per file (every query lists)."""
    out, stack = [], [prefix]
    while stack:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif entry.name.endswith(".parquet") and not entry.name.startswith("."):
                out.append(entry.path)
    return [p for p in out if "/project=" in p]


class Catalog:
    """Live-file lists for the tables of one store; caches what never changes (footers)."""

    def __init__(self, location: StoreLocation, retries: int = 6):
        self.location = location
        self.retries = retries
        self._info: dict[str, CompactedInfo] = {}
        self._seen: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def _list(self, prefix: str) -> list[str]:
        if self.location.is_local:
            return _walk_local(prefix)
        fs = self.location.fs
        if self.location.protocol != "memory":
            fs.invalidate_cache(prefix)
        try:
            found = fs.find(prefix)
        except FileNotFoundError:
            return []
        return [p for p in found if p.endswith(".parquet") and "/project=" in p]

    def _listing(self, prefix: str, key: str) -> set[str]:
        files = set(self._list(prefix))
        if self.location.is_local or self.location.protocol == "memory":
            return files
        expected = self._seen.get(key, set())
        for attempt in range(self.retries):
            missing = {f for f in expected - files if not self._known_dead(f, files)}
            if not missing and (files or not expected):
                break
            time.sleep(0.02 * (attempt + 1))
            files |= set(self._list(prefix))  # files appear, never vanish but by compaction
        return files

    def _known_dead(self, path: str, listed: set[str]) -> bool:
        directory, name = path.rsplit("/", 1)
        for other in listed:
            info = self._info.get(other)
            if info and name in info.replaces and other.rsplit("/", 1)[0] == directory:
                return True
        return False

    def info(self, path: str) -> CompactedInfo:
        """The compaction metadata of a compacted file (read once: files never change)."""
        cached = self._info.get(path)
        if cached is None:
            with self.location.fs.open(path, "rb") as fh:
                meta = pq.read_metadata(fh).metadata or {}
            cached = CompactedInfo(
                tuple(json.loads(meta.get(REPLACES_KEY, b"[]"))),
                tuple(json.loads(meta.get(GROUP_KEY, b"[]"))),
                float(meta.get(COMPACTED_AT_KEY, b"0")),
            )
            with self._lock:
                self._info[path] = cached
        return cached

    def live_files(self, table: str, project: str | None = None, run_id: str | None = None) -> list[str]:
        """The live Parquet files of ``table`` (optionally of one project / run), sorted."""
        parts = [table]
        if project is not None:
            parts.append(f"project={project}")
            if run_id is not None:
                parts.append(f"run={run_id}")
        prefix = self.location.path(*parts)
        key = "/".join(parts)
        files = self._listing(prefix, key)
        live = self._apply_compactions(files)
        with self._lock:
            self._seen[key] = live
        return sorted(live)

    def _apply_compactions(self, files: set[str]) -> set[str]:
        by_dir: dict[str, set[str]] = {}
        for f in files:
            d, n = f.rsplit("/", 1)
            by_dir.setdefault(d, set()).add(n)
        live = set()
        for directory, names in by_dir.items():
            dead: set[str] = set()
            for name in names:
                if is_compacted_name(name):
                    info = self.info(f"{directory}/{name}")
                    if set(info.group) <= names:
                        dead.update(info.replaces)
                    else:
                        dead.add(name)  # an output of a compaction not yet complete: not committed
            live.update(f"{directory}/{n}" for n in names - dead)
        return live

    def names_ever_written(self, table: str, project: str, run_id: str) -> set[str]:
        """Names of every file of one run, present or already compacted away (a compacted file
        names what it replaced): how recovery tells a batch that was written."""
        names = set()
        for path in self._list(self.location.partition_dir(table, project, run_id)):
            name = path.rsplit("/", 1)[1]
            names.add(name)
            if is_compacted_name(name):
                names.update(self.info(path).replaces)
        return names

    def replaced_files(self, table: str, project: str, run_id: str) -> list[tuple[str, float]]:
        """Files of one run that a committed compaction replaced, with when it committed."""
        prefix = self.location.path(table, f"project={project}", f"run={run_id}")
        files = set(self._list(prefix))
        names = {f.rsplit("/", 1)[1] for f in files}
        out = []
        for f in sorted(files):
            name = f.rsplit("/", 1)[1]
            if is_compacted_name(name):
                info = self.info(f)
                if set(info.group) <= names:
                    out.extend((f"{prefix}/{r}", info.compacted_at) for r in info.replaces if r in names)
        return out
