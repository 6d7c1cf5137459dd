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

**Rewritten published files** (format 4). When a run resumes, its compaction merges the new
hidden files into the run's last published file by *rewriting it under its own name* (one
PUT, or os.replace: an engine without mediastore sees the old rows or all of them, never a
row twice), with ``mediastore.replaces`` growing by the merged names. So a published file
has versions: the catalog keys what it knows of one (its metadata, its cached copy) by the
version its listing showed (the ETag; a local file's mtime and size), and the runs index and
project files record, for each published file they stand for, the version they read
(`ident`); a run whose file changed since is read from its own files. On a local store a
reader reads such a file's footer and rows from one hard link (`_pin`), so a rewrite between
the two cannot make it read the new rows twice. Deletes (delete.py) and dedup (dedup.py)
rewrite published files the same way, at any time, so a local reader hands DuckDB a pin of
every published run file it reads (`local_copies`).

**Run directory stamps** (local folders). A runs index row also records its run directory's
stamp (mtime and inode) when the directory had not changed for 2 s before it was stat-ed,
which was before it was listed. Every write in a run directory is a create or a rename in it
(storage.write_bytes), which changes the directory's mtime, and a change made after the stat
gets an mtime at least 2 s newer than the one recorded (git's rule for racily clean files).
So a reader of the runs view that finds a run directory with the stamp a live index row
recorded knows its files are the ones the row stands for without listing it
(`runs_view_listing`): at 10,000 runs one stat per run instead of a directory read and a stat
per file.
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import shutil
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ._lazy import pa, pq
from .storage import StoreLocation, partition_of

__all__ = ["Catalog", "CompactedInfo", "RunsListing", "TableListing", "is_compacted_name", "ident", "compacted_metadata", "INDEX_DIR"]

#: The runs index's directory inside ``runs/project=<p>/``, and the project files' inside
#: ``<table>/project=<p>/``.
INDEX_DIR = "_index"
#: A run directory's stamp is recorded only if it had not changed for this long (module docstring).
_STAMP_SETTLED_NS = 2_000_000_000
#: Parallel reads when no local cache is at hand (an object store with the cache off).
_READ_WORKERS = 16

#: What footers said, shared by every `Catalog` of a store in this process, by store URI: (the
#: compaction metadata of published files, the top-level columns of files), each path -> (the
#: version read, what it said). An entry is used only for the version a catalog's own listing
#: shows, so sharing it is as safe as one catalog keeping it: a store opened again (a notebook
#: cell run again, a script's loop) does not read every run's footer again (200 runs: 25 ms).
_FOOTERS: dict[str, tuple[dict, dict]] = {}
_FOOTERS_MOST = 500_000  # entries of one store kept; past that, both are emptied and filled again


def _footer_caches(uri: str) -> tuple[dict, dict]:
    caches = _FOOTERS.get(uri)
    if caches is None or len(caches[0]) + len(caches[1]) > _FOOTERS_MOST:
        caches = _FOOTERS[uri] = ({}, {})
    return caches

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


def compacted_name(low: int, high: int, token: str, part: int) -> str:
    """The name of part ``part`` of a compaction output by writer ``token`` holding steps
    ``low``..``high`` (``is_compacted_name`` knows it by the ``m`` of its third field)."""
    return f"{low:012d}-{high:012d}-m{token}-{part:06d}.parquet"


def is_compacted_name(name: str) -> bool:
    parts = name.split("-")
    return len(parts) >= 4 and parts[2].startswith("m")


def ident(name: str, size: str | None) -> str:
    """What a runs index or project file records of a file it stands for: the name, and for a
    published (compacted) name, which a resume, a delete or a dedup may rewrite, its size in
    bytes as its listing showed (``?`` when an index of format 3 recorded none: it then matches
    nothing). The size, not the ETag or mtime, so that a store copied by ``mediastore sync``
    keeps its indexes; every rewrite changes a file's size (compact.rewrite_published)."""
    return f"{name}@{size or '?'}" if is_compacted_name(name) else name


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

    def copy(self) -> "TableListing":
        return TableListing(list(self.index), list(self.files), list(self.uncovered),
                            {k: list(v) for k, v in self.skip.items()}, {k: list(v) for k, v in self.taken.items()})


def project_of_index(path: str) -> str:
    """The project of a file in an ``_index`` directory (``<table>/project=<p>/_index/<name>``)."""
    return path.rsplit("/", 3)[1].split("=", 1)[1]


def _is_index(path: str) -> bool:
    return f"/{INDEX_DIR}/" in path


def _walk_local(prefix: str, known: dict[str, tuple[str, dict]] | None = None
                ) -> dict[str, dict[str, tuple[int, int] | None]]:
    """The Parquet files below a local directory, as {directory: {name: (size, mtime_ns) of a
    published (compacted) name, the files that a resume may rewrite, else None}}: os.scandir,
    and a stat only for the published names.

    ``known``: a listing kept from earlier walks, directory -> (`dir_stamp`, its names), updated
    here. A directory without subdirectories (a run's) that had not changed for 2 s when stat-ed
    is kept with the stamp of that stat, taken before it was read; a directory found later with
    that stamp is not read again (the module docstring's rule for run directory stamps): a
    store's query lists one stat per run instead of a directory read and a stat per file."""
    out: dict[str, dict[str, tuple[int, int] | None]] = {}
    now = time.time_ns()
    stack: list[tuple[str, str | None]] = [(prefix, None)]
    while stack:
        directory, stamp = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError):
            if known is not None:
                known.pop(directory, None)
            continue
        names: dict[str, tuple[int, int] | None] = {}
        leaf = True
        for entry in entries:
            name = entry.name
            if entry.is_dir(follow_symlinks=False):
                leaf = False
                sub_stamp = None
                if known is not None:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    sub_stamp = settled_stamp(st, now)
                    if sub_stamp is not None:
                        kept = known.get(entry.path)
                        if kept is not None and kept[0] == sub_stamp:
                            if kept[1] and "/project=" in entry.path + "/":
                                out[entry.path] = kept[1]
                            continue
                stack.append((entry.path, sub_stamp))
            elif name.endswith(".parquet") and name[0] != ".":
                if is_compacted_name(name):
                    try:
                        st = entry.stat()
                    except FileNotFoundError:
                        continue
                    names[name] = (st.st_size, st.st_mtime_ns)
                else:
                    names[name] = None
        if known is not None and leaf and stamp is not None:
            known[directory] = (stamp, names)
        if names and "/project=" in directory + "/":
            out[directory] = names
    return out


def _sizes(found: dict[str, dict[str, tuple[int, int] | None]]) -> dict[str, dict[str, int | None]]:
    """A `_walk_local` listing as `Catalog._apply_compactions` takes it: each published name's size."""
    return {d: {n: None if stat is None else stat[0] for n, stat in names.items()} for d, names in found.items()}


def dir_stamp(st: os.stat_result) -> str:
    """A local run directory's stamp (module docstring): its mtime and inode."""
    return f"{st.st_mtime_ns:x}-{st.st_ino:x}"


def settled_stamp(st: os.stat_result, now: int) -> str | None:
    """`dir_stamp` of a directory stat-ed before it is read, if it had not changed for 2 s by
    ``now`` (time.time_ns() taken before the stat); None if it may still change within its
    mtime tick (the module docstring's rule)."""
    return dir_stamp(st) if now - st.st_mtime_ns > _STAMP_SETTLED_NS else None


def settled_dir_stamps(project_dir: str) -> dict[str, str]:
    """run_id -> `dir_stamp` of each run directory in a local ``runs/project=<p>`` directory
    that had not changed for 2 s (the others get none). Taken before the runs are listed."""
    now = time.time_ns()
    out = {}
    try:
        entries = list(os.scandir(project_dir))
    except FileNotFoundError:
        return out
    for entry in entries:
        if entry.name.startswith("run=") and entry.is_dir(follow_symlinks=False):
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            stamp = settled_stamp(st, now)
            if stamp is not None:
                out[entry.name[4:]] = stamp
    return out


def _local_version(st: os.stat_result) -> str:
    return f"{st.st_mtime_ns:x}-{st.st_size:x}"


# Pins (Catalog._pin) outlive the catalog that made them: `ms.open(s).sql(q)` returns a relation
# that reads them after its Store is gone. They are this process's, shared by its catalogs, and
# removed when it exits; what a killed process left is removed by the next one after a day.
_pins: dict[str, tuple[int, str, str]] = {}  # path -> (inode, link, version)
_pin_dirs: dict[str, str] = {}  # store root -> this process's pin folder in it
_pin_lock = threading.Lock()
_pin_count = itertools.count()
_pin_folders: set[str] = set()  # <table>/project=/run= folders made in this process's pin folders
_pin_touched: dict[str, float] = {}  # pin folder -> when this process last set its mtime
_PIN_STALE_SECONDS = 86400.0
#: A process that pins keeps its folder's mtime newer than this, far inside _PIN_STALE_SECONDS:
#: pins go into folders made once per run, so pinning no longer changes the top folder itself.
_PIN_TOUCH_SECONDS = 3600.0


def _pin_local(root: str, path: str, listed: str | None = None) -> tuple[str, str] | None:
    """(link, version) pinning the current version of ``path``; None if it is gone. ``listed``:
    the version a listing just saw; a pin of that version is taken as it is (one syscall)."""
    with _pin_lock:
        known = _pins.get(path)
    if known is not None and listed and known[2] == listed and os.path.exists(known[1]):
        return known[1], listed
    try:
        current = os.stat(path)
    except FileNotFoundError:
        return None
    with _pin_lock:
        known = _pins.get(path)
        if known is not None and known[0] == current.st_ino and os.path.exists(known[1]):
            return known[1], _local_version(os.stat(known[1]))
        folder = _pin_dirs.get(root)
        if folder is None:
            _remove_stale_pins(os.path.join(root, ".pins"))
            folder = _pin_dirs[root] = os.path.join(root, ".pins", f"{os.getpid()}-{uuid.uuid4().hex[:8]}")
            atexit.register(shutil.rmtree, folder, True)
        # <table>/project=/run= kept (DuckDB reads the partition from them), the name made unique
        # by a count: a folder per pin (the count's, then these three) made the first query of
        # a 200-run store spend 212 ms of its 300 in 800 mkdirs on this project's disk.
        directory, name = os.path.split(path[len(root) + 1 :])
        target_dir = os.path.join(folder, directory)
        target = os.path.join(target_dir, f"{next(_pin_count)}-{name}")
        made = target_dir in _pin_folders
    for attempt in range(2):
        if not made:
            os.makedirs(target_dir, exist_ok=True)
            with _pin_lock:
                _pin_folders.add(target_dir)
        try:
            os.link(path, target)
            break
        except FileNotFoundError:
            if attempt or os.path.isdir(target_dir):
                return None  # the file is gone
            made = False  # the pin folder was removed meanwhile: made again
        except OSError:  # a filesystem without hard links: a copy, read through one open file
            shutil.copyfile(path, target)
            break
    pinned = os.stat(target)
    now = time.time()
    with _pin_lock:
        _pins[path] = (pinned.st_ino, target, _local_version(pinned))
        touch = now - _pin_touched.get(folder, 0.0) > _PIN_TOUCH_SECONDS
        if touch:
            _pin_touched[folder] = now
    if touch:
        os.utime(folder)  # in use: another process's _remove_stale_pins leaves it
    return target, _local_version(pinned)


def _remove_stale_pins(folder: str) -> None:
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return
    for entry in entries:
        try:
            if time.time() - entry.stat().st_mtime > _PIN_STALE_SECONDS:
                shutil.rmtree(entry.path, ignore_errors=True)
        except FileNotFoundError:
            pass


class Catalog:
    """Live-file lists for the tables of one store; caches what never changes (footers)."""

    def __init__(self, location: StoreLocation, retries: int = 6):
        self.location = location
        self.retries = retries
        self._info: dict[str, tuple[str, CompactedInfo]]  # path -> (version read, its metadata)
        self._columns: dict[str, tuple[str, frozenset[str]]]  # path -> (version read, its top-level columns)
        self._info, self._columns = _footer_caches(location.uri)  # shared: see _FOOTERS
        self._versions: dict[str, str] = {}  # published files: path -> version (ETag, mtime) in the last listing
        self._sizes: dict[str, int] = {}  # published files: path -> size in the last listing
        self._lazy_infos: dict[str, tuple] = {}  # run directory -> its runs index row's compactions, unparsed
        self._pins: dict[str, str] = {}  # local stores: path -> a hard link to the version being read
        self._covers: dict[str, set[tuple[str, str, str]]] = {}  # index file -> (project, run, name)
        self._coverage: dict[str, dict[str, tuple[str, ...]]] = {}  # project file -> run -> names
        self._dir_idents: dict[str, dict[str, tuple]] = {}  # runs index file -> `_index_dirs`
        self._seen: dict[str, set[str]] = {}
        self._stamps: dict[str, tuple] = {}  # object stores: path -> (size, ETag) from the last LIST
        self._dirs: dict[str, tuple[str, dict]] = {}  # local stores: settled run directories listed (`_walk_local`)
        self._live_memo: dict[str, tuple] = {}  # local stores: prefix -> (listing, live, covered, token)
        self._table_memo: dict[tuple, tuple] = {}  # local stores: (table, project) -> (token, TableListing)
        self._lock = threading.Lock()
        self._dirs_lock = threading.Lock()

    def _list(self, prefix: str) -> list[str]:
        if self.location.is_local:
            return [f"{d}/{n}" for d, names in self._list_local(prefix).items() for n in names]
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
                etag = info.get("ETag") or info.get("etag")
                self._stamps[path] = (info.get("size"), etag)
                if is_compacted_name(path.rsplit("/", 1)[1]):
                    self._versions[path] = str(etag or info.get("created") or info.get("LastModified") or info.get("size"))
                    self._sizes[path] = int(info.get("size") or 0)
                out.append(path)
        return out

    def _list_local(self, prefix: str) -> dict[str, dict[str, tuple[int, int] | None]]:
        """`_walk_local`, noting the version and size of every published file listed."""
        with self._dirs_lock:
            found = _walk_local(prefix, self._dirs)
        with self._lock:
            for directory, names in found.items():
                for name, stat in names.items():
                    if stat is not None:
                        path = f"{directory}/{name}"
                        version = f"{stat[1]:x}-{stat[0]:x}"  # as _local_version
                        if self._versions.get(path) != version:
                            self._pins.pop(path, None)  # pinned again if still needed (_live_names)
                        self._versions[path] = version
                        self._sizes[path] = stat[0]
        return found

    def version(self, path: str) -> str:
        """Which version of a published file the last listing showed ("" for a writer's hidden
        file, which is never rewritten)."""
        return self._versions.get(path, "")

    def size_version(self, path: str) -> str:
        """A published file's size in the last listing, as an index records it ("" for others)."""
        return str(self._sizes[path]) if path in self._sizes else ""

    def listed_size(self, path: str) -> int | None:
        """A published file's size in the last listing (None for others): what a rewrite of it
        would otherwise ask for (`compact.rewrite_published`'s ``old_size``, a HEAD on a bucket)."""
        return self._sizes.get(path)

    def ident(self, path: str) -> str:
        """`ident` of a listed file: its name, with its size if it is published."""
        return ident(path.rsplit("/", 1)[1], self.size_version(path))

    # -- local pins -----------------------------------------------------------------------
    def _pin(self, path: str) -> None:
        """Local stores: a hard link to the current version of a published file that a resume
        may rewrite (os.replace) while this reader uses it. Its footer decides which hidden
        files are live, so the footer read now and the rows DuckDB reads later must be one
        version: both are read from the link, which no rewrite changes."""
        pinned = _pin_local(self.location.root, path, self._versions.get(path))
        if pinned is not None:
            with self._lock:
                self._pins[path], self._versions[path] = pinned
                self._sizes[path] = int(pinned[1].rsplit("-", 1)[1], 16)

    def has_files(self, directory: str) -> bool:
        """Whether a directory holds any Parquet file (one LIST, no file read)."""
        return bool(self._list(directory))

    # -- reading files (through the cache on object stores) --------------------------------
    def local_copies(self, paths: list[str]) -> list[str]:
        """Paths a local reader (DuckDB, pyarrow) can open for ``paths``: the files themselves on
        a local store, else their copies in the store's cache (the missing ones fetched at once,
        in parallel). Without a cache (memory stores, or the cache off) the paths themselves."""
        if self.location.is_local:
            # A published file may be rewritten under its name at any moment (a resume's
            # compaction, a delete, a dedup), and DuckDB opens a file more than once per query:
            # what it reads is a pin of one version (`_pin`; reused while the version listed is
            # the one pinned). Only the files read are pinned, not every file listed.
            for path in paths:
                if is_compacted_name(path.rsplit("/", 1)[1]) and not _is_index(path):
                    self._pin(path)
            return [self._pins.get(p, p) for p in paths]
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
            info = self._info.get(other, (None, None))[1]
            if info and name in info.replaces and other.rsplit("/", 1)[0] == directory:
                return True
        return False

    def _load_infos(self, paths: list[str]) -> None:
        """Read the compaction metadata of many compacted files at once (a query over many runs
        would otherwise read one footer after another)."""
        for directory in {p.rsplit("/", 1)[0] for p in paths} & self._lazy_infos.keys():
            self._learn_lazy(directory)  # what a runs index recorded: no read
        unknown = [p for p in paths if (cached := self._info.get(p)) is None or cached[0] != self.version(p)]
        if len(unknown) < 2:
            return
        if self.location.cache is not None:
            self.local_copies(unknown)
        elif not self.location.is_local and self.location.protocol != "memory":
            with ThreadPoolExecutor(min(_READ_WORKERS, len(unknown))) as pool:
                list(pool.map(self.info, unknown))

    def footer(self, path: str) -> pq.FileMetaData:
        """A file's Parquet footer (a pinned version on a local store, the cached copy on an
        object store)."""
        version = self.version(path)
        if self.location.is_local:
            meta = pq.read_metadata(self._pins.get(path, path))
        elif self.location.cache is not None:
            meta = pq.read_metadata(self.local_copies([path])[0])
        else:
            with self.location.fs.open(path, "rb") as fh:
                meta = pq.read_metadata(fh)
        self._note_columns(path, version, meta)
        return meta

    def _note_columns(self, path: str, version: str, meta: pq.FileMetaData) -> None:
        names = frozenset(meta.schema.to_arrow_schema().names)
        with self._lock:
            self._columns[path] = (version, names)

    def file_columns(self, paths: list[str], readable: list[str] | None = None) -> list[frozenset[str] | None]:
        """The columns each file holds (None: not known). Known from every footer the catalog
        read (compacted files, project files); the others' footers are read now only where
        ``readable`` (the paths a local reader opens, `local_copies`) are local files, a local
        store's or the cache's copies: never a request to an object store. A file written before
        a schema gained a column lacks it; a query reads it with that column as NULL."""
        local = readable is not None and (self.location.is_local or self.location.cache is not None)
        out = []
        for i, path in enumerate(paths):
            version = self.version(path)
            known = self._columns.get(path)
            if (known is None or known[0] != version) and local:
                self._note_columns(path, version, pq.read_metadata(readable[i]))
                known = self._columns[path]
            out.append(known[1] if known is not None and known[0] == version else None)
        return out

    def _footer(self, path: str) -> dict[bytes, bytes]:
        return self.footer(path).metadata or {}

    def info(self, path: str) -> CompactedInfo:
        """The compaction metadata of a compacted file (read once per version: a published file
        changes only when a resume rewrites it, and then its listed version changes)."""
        version = self.version(path)
        cached = self._info.get(path)
        if cached is not None and cached[0] == version:
            return cached[1]
        if self._learn_lazy(path.rsplit("/", 1)[0]):  # a runs index recorded this run's compactions
            return self.info(path)
        meta = self._footer(path)
        info = CompactedInfo(
            tuple(json.loads(meta.get(REPLACES_KEY, b"[]"))),
            tuple(json.loads(meta.get(GROUP_KEY, b"[]"))),
            float(meta.get(COMPACTED_AT_KEY, b"0")),
        )
        with self._lock:
            self._info[path] = (version, info)
        return info

    def _learn_lazy(self, directory: str) -> bool:
        """Learn the compaction metadata a runs index row recorded for a run directory
        (`covers` keeps it unparsed); False if there was none."""
        lazy = self._lazy_infos.pop(directory, None)
        if lazy is None:
            return False
        column, i, names, sizes = lazy
        sizes = dict(zip(names or (), sizes or ()))
        for c in column[i].as_py() or ():
            self._learn(f"{directory}/{c['name']}", sizes.get(c["name"]),
                        CompactedInfo(tuple(c["replaces"]), tuple(c["group"]), c["compacted_at"]))
        return True

    def _learn(self, path: str, size: str | None, info: CompactedInfo) -> None:
        """Metadata an index recorded for a file: kept if it is of the size listed."""
        if size and self.size_version(path) == size:
            with self._lock:
                self._info[path] = (self.version(path), info)

    def live_files(self, table: str, project: str | None = None, run_id: str | None = None, *,
                   listed: set[str] | None = None) -> list[str]:
        """The live Parquet files of ``table`` (optionally of one project / run), sorted. For
        ``runs``, the record files (the index is `runs_listing`'s).

        ``listed``: the files of an object store's listing of one run's folder, just made
        (`run_files`), which saves listing it again (a request); a local folder is walked anew."""
        return sorted(f for f in self._live_detail(table, project, run_id, listed)[0] if not _is_index(f))

    def files_by_run(self, table: str, project: str) -> dict[str, set[str]]:
        """The Parquet files of every run of ``project`` in ``table``, by run, from one listing
        of the project's folder (a request per 1,000 files on a bucket)."""
        runs: dict[str, set[str]] = {}
        for path in self._list(self.location.path(table, f"project={project}")):
            directory = path.rsplit("/", 1)[0]
            if directory.rsplit("/", 1)[1].startswith("run="):
                runs.setdefault(partition_of(directory)[1], set()).add(path)
        return runs

    def run_files(self, table: str, project: str, run_id: str) -> set[str]:
        """The Parquet files in one run's folder of ``table``: one listing, for `replaced_files`
        and then `live_files` (without the files deleted in between)."""
        return self._listing(self.location.partition_dir(table, project, run_id), f"{table}/project={project}/run={run_id}")

    def _live(self, table: str, project: str | None = None, run_id: str | None = None) -> set[str]:
        return self._live_detail(table, project, run_id)[0]

    def _live_detail(self, table: str, project: str | None = None, run_id: str | None = None,
                     listed: set[str] | None = None) -> tuple[set[str], set[str]]:
        """The live files, and the run directories of ``runs`` whose every file a live runs
        index stands for."""
        return self._live_detail_token(table, project, run_id, listed)[:2]

    def _live_detail_token(self, table: str, project: str | None = None, run_id: str | None = None,
                           listed: set[str] | None = None) -> tuple[set[str], set[str], object | None]:
        """`_live_detail`, and on a local store a token that is the same object as long as the
        listing is: what follows from a listing (the rule at the top) is worked out once per
        listing, which names every file with its version (200 runs: 0.7 ms a query)."""
        parts = [table]
        if project is not None:
            parts.append(f"project={project}")
            if run_id is not None:
                parts.append(f"run={run_id}")
        prefix = self.location.path(*parts)
        key = "/".join(parts)
        token = None
        # A table's or a project's listing only: one run's is small, and a long-lived reader
        # would keep one per run it ever listed.
        memoize = self.location.is_local and run_id is None
        if self.location.is_local:
            found = self._list_local(prefix)
            memo = self._live_memo.get(key) if memoize else None
            if memo is not None and memo[0] == found:
                return set(memo[1]), set(memo[2]), memo[3]
            by_dir = _sizes(found)
        else:
            by_dir = {}
            for f in self._listing(prefix, key) if listed is None else listed:
                d, n = f.rsplit("/", 1)
                by_dir.setdefault(d, {})[n] = self._sizes.get(f)
        live, covered_dirs = self._apply_compactions(by_dir)
        with self._lock:
            self._seen[key] = live
            if memoize:
                token = object()
                self._live_memo[key] = (found, frozenset(live), frozenset(covered_dirs), token)
        return live, covered_dirs, token

    def runs_listing(self, project: str | None = None) -> RunsListing:
        """The runs table from one listing: live index files, live record files, and the record
        files no live index row covers (the module docstring's rule)."""
        live, covered_dirs = self._live_detail("runs", project)
        index = sorted(f for f in live if _is_index(f))
        records = sorted(f for f in live if not _is_index(f))
        return RunsListing(index, records, self._uncovered(live, covered_dirs, index))

    def _uncovered(self, live: set[str], covered_dirs: set[str], index: list[str]) -> list[str]:
        """The live record files, sorted, that no runs index file among ``index`` stands for
        (``covered_dirs``: run directories `_apply_compactions` found wholly stood for)."""
        maybe = sorted(f for f in live if not _is_index(f) and f.rsplit("/", 1)[0] not in covered_dirs)
        if not maybe:
            return []
        idents = self._covered_dirs(index)
        return [f for f in maybe if self.ident(f) not in idents.get(f.rsplit("/", 1)[0], ())]

    def runs_view_listing(self, project: str | None = None) -> tuple[list[str], list[str]]:
        """(live runs index files, record files no live index row covers): what the runs view
        reads. On a local folder, a run directory with the stamp a live index row recorded is
        not listed (module docstring); elsewhere `runs_listing`."""
        if not self.location.is_local:
            listing = self.runs_listing(project)
            return listing.index, listing.uncovered
        runs_dir = self.location.path("runs")
        if project is not None:
            project_dirs = [f"{runs_dir}/project={project}"]
        else:
            try:
                project_dirs = sorted(e.path for e in os.scandir(runs_dir)
                                      if e.name.startswith("project=") and e.is_dir(follow_symlinks=False))
            except FileNotFoundError:
                project_dirs = []
        index, uncovered = [], []
        for project_dir in project_dirs:
            index_dir = f"{project_dir}/{INDEX_DIR}"
            by_dir = _sizes(self._list_local(index_dir))
            live_index = sorted(self._apply_compactions(dict(by_dir))[0]) if by_dir else []
            stamps = {}
            for path in live_index:
                for directory, (_, _, _, stamp) in self._index_dirs(path).items():
                    if stamp is not None:
                        stamps.setdefault(directory, set()).add(stamp)
            try:
                entries = list(os.scandir(project_dir))
            except FileNotFoundError:
                continue
            for entry in entries:
                if not (entry.name.startswith("run=") and entry.is_dir(follow_symlinks=False)):
                    continue
                known = stamps.get(entry.path)
                try:
                    if known is not None and dir_stamp(entry.stat(follow_symlinks=False)) in known:
                        continue  # as the index row recorded it: not listed
                except FileNotFoundError:
                    continue  # deleted since the scandir
                by_dir.update(_sizes(self._list_local(entry.path)))
            live, covered_dirs = self._apply_compactions(by_dir)
            index += live_index
            uncovered += self._uncovered(live, covered_dirs, live_index)
        return sorted(index), sorted(uncovered)

    def table_listing(self, table: str, project: str | None = None) -> TableListing:
        """A data table from one listing: live project files, live run files, the run files no
        project file stands for, and the runs each project file must leave out (the module
        docstring's rule)."""
        live, _, token = self._live_detail_token(table, project)
        memo = self._table_memo.get((table, project))
        if token is not None and memo is not None and memo[0] is token:
            return memo[1].copy()
        index = sorted(f for f in live if _is_index(f))
        files = sorted(f for f in live if not _is_index(f))
        names: dict[tuple[str, str], set[str]] = {}
        for f in files:
            names.setdefault(partition_of(f), set()).add(self.ident(f))
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
        if token is not None:
            with self._lock:
                self._table_memo[(table, project)] = (token, listing.copy())
        return listing

    def coverage(self, project_file: str) -> dict[str, tuple[str, ...]]:
        """run_id -> the `ident` of each of that run's live files a project file stands for. Also
        learns the compaction metadata of those files, so deciding they are live reads no footer."""
        found = self._coverage.get(project_file)
        if found is None:
            meta = self._footer(project_file)
            covers = json.loads(meta.get(COVERS_KEY, b"{}"))
            project_dir = project_file.rsplit("/", 2)[0]  # <root>/<table>/project=<p>
            found = {}
            for run, files in covers.items():
                idents = []
                for name, info in files.items():
                    version = info[3] if info is not None and len(info) > 3 else None  # format 3 recorded none
                    idents.append(ident(name, version))
                    if info is not None:
                        self._learn(f"{project_dir}/run={run}/{name}", version, CompactedInfo(tuple(info[0]), tuple(info[1]), info[2]))
                found[run] = tuple(sorted(idents))
            with self._lock:
                self._coverage[project_file] = found
        return found

    def covers(self, index_path: str) -> set[tuple[str, str, str]]:
        """(project, run_id, `ident` of a record file) of every record file an index file
        stands for."""
        found = self._covers.get(index_path)
        if found is None:
            found = {(p, r, x) for p, r, idents, _ in self._index_dirs(index_path).values() for x in idents}
            with self._lock:
                self._covers[index_path] = found
        return found

    def _index_dirs(self, index_path: str) -> dict[str, tuple[str, str, frozenset[str], str | None]]:
        """Run directory -> (project, run_id, the `ident` of every record file in it, the
        directory's stamp or None) that a runs index file stands for."""
        found = self._dir_idents.get(index_path)
        if found is None:
            table = self.read_tables([index_path])[0]
            n = table.num_rows
            columns = [table.column(c).to_pylist() for c in ("project", "run_id", "record_files")]
            for optional in ("record_versions", "record_dir_stamp"):  # formats 4 and 5.1
                columns.append(table.column(optional).to_pylist() if optional in table.column_names else [None] * n)
            runs_dir = index_path.rsplit("/", 2)[0]  # <root>/runs/project=<p>
            compactions = table.column("record_compactions")
            found, lazy = {}, {}
            for i, (p, r, names, sizes, stamp) in enumerate(zip(*columns)):
                # A size is recorded for a published name only; format 3 indexes recorded none.
                idents = frozenset(f"{name}@{size}" if size else ident(name, None)
                                   for name, size in zip(names or (), sizes or [None] * len(names or ())))
                directory = f"{runs_dir}/run={r}"
                found[directory] = (p, r, idents, stamp)
                # Their compaction metadata is parsed when asked for (`info`): a run whose files
                # are all covered needs none, and 10,000 rows of structs cost a tenth of a second.
                lazy[directory] = (compactions, i, names, sizes)
            with self._lock:
                self._dir_idents[index_path] = found
                self._lazy_infos.update(lazy)
        return found

    def _apply_compactions(self, by_dir: dict[str, dict[str, int | None]]) -> tuple[set[str], set[str]]:
        """The live files of a listing ({directory: {name: size of a published name, else
        None}}), and the run directories of ``runs`` that a live runs index fully stands for."""
        live = set()
        # The runs index first: it holds the compaction metadata of the record files it covers,
        # so their footers need no reading (a GET per run on a bucket).
        for directory in [d for d in by_dir if d.endswith("/" + INDEX_DIR)]:
            names = set(by_dir.pop(directory))
            self._load_infos([f"{directory}/{n}" for n in names if is_compacted_name(n)])
            runs_table = directory.rsplit("/", 3)[-3] == "runs"  # <root>/<table>/project=<p>/_index
            for name in self._live_names(directory, names):
                live.add(f"{directory}/{name}")
                if runs_table:
                    self._index_dirs(f"{directory}/{name}")
                else:
                    self.coverage(f"{directory}/{name}")
        covered_dirs: set[str] = set()
        by_run_dir = self._covered_dirs(live)
        if by_run_dir:
            # A run directory whose every file a live runs index stands for, in the version it
            # recorded, holds exactly what was live when the index was written: no footer needed.
            for directory, idents in by_run_dir.items():
                names = by_dir.get(directory)
                if names and all((n if size is None else f"{n}@{size}") in idents for n, size in names.items()):
                    live.update(f"{directory}/{n}" for n in by_dir.pop(directory))
                    covered_dirs.add(directory)
        self._load_infos([f"{d}/{n}" for d, names in by_dir.items() for n in names if is_compacted_name(n)])
        for directory, names in by_dir.items():
            live.update(f"{directory}/{n}" for n in self._live_names(directory, set(names)))
        return live, covered_dirs

    def _covered_dirs(self, paths) -> dict[str, set[str]]:
        """Run directory -> the `ident` of every record file in it that the runs index files
        among ``paths`` stand for."""
        out: dict[str, set[str]] = {}
        for path in paths:
            if _is_index(path) and path.split("/")[-4] == "runs":
                for directory, (_, _, idents, _) in self._index_dirs(path).items():
                    if directory in out:
                        out[directory] = out[directory] | idents
                    else:
                        out[directory] = idents
        return out

    def _live_names(self, directory: str, names: set[str]) -> set[str]:
        """The rule at the top, for the files of one directory."""
        dead = self._dead_names(directory, names)
        if self.location.is_local and any(n.startswith("_") and n not in dead for n in names):
            published = [n for n in names if is_compacted_name(n)]
            if published:
                # Live hidden files beside published ones: a resume's, which the run's compaction
                # may merge into a published file by rewriting it right now. The footer that
                # decides and the rows DuckDB reads must then be one version: a pin (`_pin`),
                # taken before the footer is read again.
                for name in published:
                    self._pin(f"{directory}/{name}")
                dead = self._dead_names(directory, names)
        return names - dead

    def _dead_names(self, directory: str, names: set[str]) -> set[str]:
        dead: set[str] = set()
        for name in names:
            if is_compacted_name(name):
                info = self.info(f"{directory}/{name}")
                if set(info.group) <= names:
                    dead.update(info.replaces)
                else:
                    dead.add(name)  # an output of a compaction not yet complete: not committed
        return dead

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

    def replaced_files(self, table: str, project: str, run_id: str | None, *,
                       listed: set[str] | None = None) -> list[tuple[str, float]]:
        """Files of one run (or with ``run_id=None``, of a project's runs index or project files) that a committed
        compaction replaced, with when it committed. ``listed``: the run's `run_files`."""
        last = f"run={run_id}" if run_id is not None else INDEX_DIR
        prefix = self.location.path(table, f"project={project}", last)
        files = set(self._list(prefix)) if listed is None else listed
        names = {f.rsplit("/", 1)[1] for f in files}
        out = []
        for f in sorted(files):
            name = f.rsplit("/", 1)[1]
            if is_compacted_name(name):
                info = self.info(f)
                if set(info.group) <= names:
                    out.extend((f"{prefix}/{r}", info.compacted_at) for r in info.replaces if r in names)
        return out
