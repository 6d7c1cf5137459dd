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

**The runs index** (format 2). ``runs/project=<p>/_index/`` holds compacted files of the same
naming and metadata, written by ``mediastore compact`` (records.index_runs): one row per
finished or crashed run of the project (its newest record, with ``project`` and ``run_id``
as columns) plus ``record_files``, the names of that run's live record files it stands for,
and ``record_compactions``, the compaction metadata of those of them that are compacted
(so that deciding they are live needs no read of their footers).
The rule above decides which index files are live (a new index replaces the old one by
naming it). A run's record file named by a live index row is *covered*: readers take the
index row instead of reading the file. Record files not covered (live runs, runs finished
or resumed after the index was written, compaction outputs newer than the index) are read
as before, on top; the newest record of a run wins, so a row in the index and a newer
record never disagree about what a reader shows. The ``_`` prefix keeps the index hidden
from engines that read ``runs/`` without mediastore.

**Project files** (format 3). ``<table>/project=<p>/_index/`` of every data table (every
table but ``runs``) holds compacted files of the same naming and replace/group metadata,
written by ``mediastore compact`` (compact.write_project_file): the rows of every finished
or crashed run's live files of that table, concatenated with ``run_id`` as a column (the
project is the directory) and sorted by (run_id, step), plus ``mediastore.covers`` in each
part's Parquet metadata: per run, the names of the live files it stands for and the
compaction metadata of those that are compacted. For each run, the newest live project file
whose names equal *exactly* the run's live file names stands for the run: its rows are read
and the run's own files are not. Every other run (running, resumed or compacted after the
project file, or covered by an older group too) is read from its own files, and its rows in
any project file are left out, so a row is never read twice or not at all. The rows of
finished runs of these tables are thereby stored twice (the runs' own published files stay
for engines without mediastore, which the ``_`` keeps the project files hidden from).

On object stores the catalog keeps each listed file's size and ETag from its one LIST, and
reads files through the store's local cache (cache.py), fetching many at once in parallel.
"""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq

from .storage import StoreLocation, partition_of

__all__ = ["Catalog", "CompactedInfo", "RunsListing", "TableListing", "is_compacted_name", "compacted_metadata", "INDEX_DIR"]

#: The runs index's directory inside ``runs/project=<p>/``, and the project files' inside
#: ``<table>/project=<p>/``.
INDEX_DIR = "_index"
#: Parallel reads when no local cache is at hand (an object store with the cache off).
_READ_WORKERS = 16

REPLACES_KEY = b"mediastore.replaces"
GROUP_KEY = b"mediastore.group"
COMPACTED_AT_KEY = b"mediastore.compacted_at"
#: A project file's coverage: {run_id: {file name: [replaces, group, compacted_at] or null}}.
COVERS_KEY = b"mediastore.covers"


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


@dataclass
class RunsListing:
    """What one listing of ``runs/`` says is live: the runs index files, every live record file,
    and those of them no index row covers (the ones a reader still has to read)."""

    index: list[str] = field(default_factory=list)
    records: list[str] = field(default_factory=list)
    uncovered: list[str] = field(default_factory=list)


@dataclass
class TableListing:
    """What one listing of a data table says: the live project files, every live file of the
    runs, those a reader still has to read (``uncovered``), and for each project file the runs
    whose rows in it a reader must leave out (``skip``: read from their own files instead)."""

    index: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    uncovered: list[str] = field(default_factory=list)
    skip: dict[str, list[str]] = field(default_factory=dict)
    taken: dict[str, list[str]] = field(default_factory=dict)  # project file -> runs it stands for


def project_of_index(path: str) -> str:
    """The project of a file in an ``_index`` directory (``<table>/project=<p>/_index/<name>``)."""
    return path.rsplit("/", 3)[1].split("=", 1)[1]


def _is_index(path: str) -> bool:
    return f"/{INDEX_DIR}/" in path


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
        self._covers: dict[str, set[tuple[str, str, str]]] = {}  # index file -> (project, run, name)
        self._coverage: dict[str, dict[str, tuple[str, ...]]] = {}  # project file -> run -> names
        self._seen: dict[str, set[str]] = {}
        self._stamps: dict[str, tuple] = {}  # object stores: path -> (size, ETag) from the last LIST
        self._lock = threading.Lock()

    def _list(self, prefix: str) -> list[str]:
        if self.location.is_local:
            return _walk_local(prefix)
        fs = self.location.fs
        if self.location.protocol != "memory":
            fs.invalidate_cache(prefix)
        try:
            if self.location.protocol in ("s3", "s3a"):
                # find(parent, prefix=...): s3fs answers an empty find(prefix) with a HEAD more.
                parent, _, base = prefix.rpartition("/")
                found = fs.find(parent, prefix=base + "/", detail=True)
            else:
                found = fs.find(prefix, detail=True)
        except FileNotFoundError:
            return []
        out = []
        for path, info in found.items():
            if path.endswith(".parquet") and "/project=" in path and info.get("type", "file") != "directory":
                self._stamps[path] = (info.get("size"), info.get("ETag") or info.get("etag"))
                out.append(path)
        return out

    def has_files(self, directory: str) -> bool:
        """Whether a directory holds any Parquet file (one LIST, no file read)."""
        return bool(self._list(directory))

    # -- reading files (through the cache on object stores) --------------------------------
    def local_copies(self, paths: list[str]) -> list[str]:
        """Paths a local reader (DuckDB, pyarrow) can open for ``paths``: the files themselves on
        a local store, else their copies in the store's cache (the missing ones fetched at once,
        in parallel). Without a cache (memory stores, or the cache off) the paths themselves."""
        cache = self.location.cache
        return cache.files(paths, self._stamps) if cache is not None and paths else list(paths)

    def read_tables(self, paths: list[str], columns: list[str] | None = None) -> list[pa.Table]:
        """Whole Parquet files as Arrow tables, in order; object stores in parallel."""
        if self.location.is_local or self.location.cache is not None:
            return [pq.read_table(p, columns=columns) for p in self.local_copies(paths)]

        def one(path: str) -> pa.Table:
            with self.location.fs.open(path, "rb") as fh:
                return pq.read_table(fh, columns=columns)

        if len(paths) <= 1 or self.location.protocol == "memory":
            return [one(p) for p in paths]
        with ThreadPoolExecutor(min(_READ_WORKERS, len(paths))) as pool:
            return list(pool.map(one, paths))

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

    def _load_infos(self, paths: list[str]) -> None:
        """Read the compaction metadata of many compacted files at once (a query over many runs
        would otherwise read one footer after another)."""
        unknown = [p for p in paths if p not in self._info]
        if len(unknown) < 2:
            return
        if self.location.cache is not None:
            self.local_copies(unknown)
        elif not self.location.is_local and self.location.protocol != "memory":
            with ThreadPoolExecutor(min(_READ_WORKERS, len(unknown))) as pool:
                list(pool.map(self.info, unknown))

    def _footer(self, path: str) -> dict[bytes, bytes]:
        if self.location.cache is not None:
            return pq.read_metadata(self.local_copies([path])[0]).metadata or {}
        with self.location.fs.open(path, "rb") as fh:
            return pq.read_metadata(fh).metadata or {}

    def info(self, path: str) -> CompactedInfo:
        """The compaction metadata of a compacted file (read once: files never change)."""
        cached = self._info.get(path)
        if cached is None:
            meta = self._footer(path)
            cached = CompactedInfo(
                tuple(json.loads(meta.get(REPLACES_KEY, b"[]"))),
                tuple(json.loads(meta.get(GROUP_KEY, b"[]"))),
                float(meta.get(COMPACTED_AT_KEY, b"0")),
            )
            with self._lock:
                self._info[path] = cached
        return cached

    def live_files(self, table: str, project: str | None = None, run_id: str | None = None) -> list[str]:
        """The live Parquet files of ``table`` (optionally of one project / run), sorted. For
        ``runs``, the record files (the index is `runs_listing`'s)."""
        return sorted(f for f in self._live(table, project, run_id) if not _is_index(f))

    def _live(self, table: str, project: str | None = None, run_id: str | None = None) -> set[str]:
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
        return live

    def runs_listing(self, project: str | None = None) -> RunsListing:
        """The runs table from one listing: live index files, live record files, and the record
        files no live index row covers (the module docstring's rule)."""
        live = self._live("runs", project)
        index = sorted(f for f in live if _is_index(f))
        records = sorted(f for f in live if not _is_index(f))
        covered: set[tuple[str, str, str]] = set()
        for path in index:
            covered |= self.covers(path)
        uncovered = [f for f in records if (*partition_of(f), f.rsplit("/", 1)[1]) not in covered]
        return RunsListing(index, records, uncovered)

    def table_listing(self, table: str, project: str | None = None) -> TableListing:
        """A data table from one listing: live project files, live run files, the run files no
        project file stands for, and the runs each project file must leave out (the module
        docstring's rule)."""
        live = self._live(table, project)
        index = sorted(f for f in live if _is_index(f))
        files = sorted(f for f in live if not _is_index(f))
        names: dict[tuple[str, str], set[str]] = {}
        for f in files:
            names.setdefault(partition_of(f), set()).add(f.rsplit("/", 1)[1])
        chosen: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {}  # run -> (project dir, group)
        newest_first = sorted(index, key=lambda f: -self.info(f).compacted_at)
        for path in newest_first:
            p, group = project_of_index(path), self.info(path).group
            for run, covered in self.coverage(path).items():
                if (p, run) not in chosen and set(covered) == names.get((p, run), set()):
                    chosen[(p, run)] = (path.rsplit("/", 1)[0], group)
        listing = TableListing(index, files, [f for f in files if partition_of(f) not in chosen])
        for path in index:
            mine = (path.rsplit("/", 1)[0], self.info(path).group)
            p = project_of_index(path)
            runs = sorted(self.coverage(path))
            listing.taken[path] = [r for r in runs if chosen.get((p, r)) == mine]
            listing.skip[path] = [r for r in runs if chosen.get((p, r)) != mine]
        return listing

    def coverage(self, project_file: str) -> dict[str, tuple[str, ...]]:
        """run_id -> the names of that run's live files a project file stands for. Also learns
        the compaction metadata of those files, so deciding they are live reads no footer."""
        found = self._coverage.get(project_file)
        if found is None:
            meta = self._footer(project_file)
            covers = json.loads(meta.get(COVERS_KEY, b"{}"))
            project_dir = project_file.rsplit("/", 2)[0]  # <root>/<table>/project=<p>
            found = {}
            for run, files in covers.items():
                found[run] = tuple(sorted(files))
                for name, info in files.items():
                    if info is not None:
                        replaces, group, at = info
                        with self._lock:
                            self._info.setdefault(f"{project_dir}/run={run}/{name}", CompactedInfo(tuple(replaces), tuple(group), at))
            with self._lock:
                self._coverage[project_file] = found
        return found

    def covers(self, index_path: str) -> set[tuple[str, str, str]]:
        """(project, run_id, record file name) of every record file an index file stands for."""
        found = self._covers.get(index_path)
        if found is None:
            columns = ["project", "run_id", "record_files", "record_compactions"]
            table = self.read_tables([index_path], columns=columns)[0]
            found = set()
            runs_dir = index_path.rsplit("/", 2)[0]  # <root>/runs/project=<p>
            for p, r, names, compactions in zip(*(table.column(c).to_pylist() for c in columns)):
                found.update((p, r, name) for name in names or ())
                for c in compactions or ():
                    info = CompactedInfo(tuple(c["replaces"]), tuple(c["group"]), c["compacted_at"])
                    self._info.setdefault(f"{runs_dir}/run={r}/{c['name']}", info)
            with self._lock:
                self._covers[index_path] = found
        return found

    def _apply_compactions(self, files: set[str]) -> set[str]:
        by_dir: dict[str, set[str]] = {}
        for f in files:
            d, n = f.rsplit("/", 1)
            by_dir.setdefault(d, set()).add(n)
        live = set()
        # The runs index first: it holds the compaction metadata of the record files it covers,
        # so their footers need no reading (a GET per run on a bucket).
        for directory in [d for d in by_dir if d.endswith("/" + INDEX_DIR)]:
            names = by_dir.pop(directory)
            self._load_infos([f"{directory}/{n}" for n in names if is_compacted_name(n)])
            runs_table = directory.rsplit("/", 3)[-3] == "runs"  # <root>/<table>/project=<p>/_index
            for name in self._live_names(directory, names):
                live.add(f"{directory}/{name}")
                if runs_table:
                    self.covers(f"{directory}/{name}")
                else:
                    self.coverage(f"{directory}/{name}")
        self._load_infos([f"{d}/{n}" for d, names in by_dir.items() for n in names if is_compacted_name(n)])
        for directory, names in by_dir.items():
            live.update(f"{directory}/{n}" for n in self._live_names(directory, names))
        return live

    def _live_names(self, directory: str, names: set[str]) -> set[str]:
        """The rule at the top, for the files of one directory."""
        dead: set[str] = set()
        for name in names:
            if is_compacted_name(name):
                info = self.info(f"{directory}/{name}")
                if set(info.group) <= names:
                    dead.update(info.replaces)
                else:
                    dead.add(name)  # an output of a compaction not yet complete: not committed
        return names - dead

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

    def replaced_files(self, table: str, project: str, run_id: str | None) -> list[tuple[str, float]]:
        """Files of one run (or with ``run_id=None``, of a project's runs index or project files) that a committed
        compaction replaced, with when it committed."""
        last = f"run={run_id}" if run_id is not None else INDEX_DIR
        prefix = self.location.path(table, f"project={project}", last)
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
