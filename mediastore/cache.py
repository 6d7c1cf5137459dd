"""A local on-disk cache of a store's files, for object stores, where each request costs a
round trip of 10-50 ms.

Why caching is safe: a writer's hidden Parquet files and every blob are written once under a
new name and never changed. Two kinds of file are rewritten in place: a writer's heartbeat
record (``_heartbeat-<token>.parquet``, while its run is running) and a run's published
(compacted) files, which a resumed run's compaction rewrites (catalog.py). They are cached
under their name plus the size and ETag of the listing that found them, so a rewrite is a new
cache entry. Blob byte ranges are cached by their sha256, which is checked on every read.

Layout::

    <cache root>/<store key>/<path in the store>        whole files (project=/run= kept, so
                                                        DuckDB reads them hive-partitioned)
    <cache root>/<store key>/_ranges/<sha[:2]>/<sha>    blob byte ranges

The root is ``ms.open(uri, cache=<path>)``, else ``$MEDIASTORE_CACHE``, else
``$XDG_CACHE_HOME/mediastore/cache`` (``~/.cache/mediastore/cache``); ``cache=False`` or
``MEDIASTORE_CACHE=off`` turns it off. Local and ``memory://`` stores are never cached.

Bounded: once this process has added more than the free room it saw at its last scan, the
least recently used files (by mtime, which a hit refreshes) are deleted until the cache is at
90 % of ``max_bytes`` (``$MEDIASTORE_CACHE_BYTES``, default 2 GiB). Several processes may
share one cache: every file is written under a temporary name and renamed, so a reader sees
a whole file or none, and two processes fetching one file both end with the same bytes.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

__all__ = ["FileCache", "cache_root", "store_key", "write_atomic", "DEFAULT_MAX_BYTES", "FETCH_WORKERS"]

DEFAULT_MAX_BYTES = 2 * 1024**3
#: Requests in flight when fetching many files: enough to hide a 20-50 ms round trip behind
#: the next ones, few enough for one machine's sockets and memory (a file is held whole).
FETCH_WORKERS = 32
_OFF = {"off", "0", "false", "no", "none"}
# Files rewritten in place under one name (records.HEARTBEAT_PREFIX, and the compacted names of
# catalog.is_compacted_name): cached by name + ETag.
_MUTABLE = re.compile(r"^(_heartbeat-|\d+-\d+-m[^-]+-)")
_TOUCH_SECONDS = 600.0  # refresh a hit's mtime at most this often: LRU order, not a stat storm
_STALE_TMP_SECONDS = 3600.0


def _parse_bytes(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", text.lower())
    if not match:
        raise ValueError(f"MEDIASTORE_CACHE_BYTES={text!r} is not a size; write bytes or e.g. 500M, 2G")
    return int(float(match[1]) * 1024 ** " kmgt".index(match[2] or " "))


def cache_root(setting: bool | str | os.PathLike | None = None) -> Path | None:
    """Where the cache lives, or None when it is off.

    ``setting`` is ``ms.open``'s ``cache``: False turns it off, a path places it, None or True
    take ``$MEDIASTORE_CACHE`` (a path, or ``off``), else ``$XDG_CACHE_HOME/mediastore/cache``
    (the spool's convention, spool.spool_root).
    """
    if setting is False:
        return None
    if setting is not None and setting is not True:
        return Path(os.fspath(setting))
    env = os.environ.get("MEDIASTORE_CACHE")
    if env is not None and env.strip().lower() in _OFF:
        return None
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "mediastore" / "cache"


def store_key(protocol: str, root: str) -> str:
    """Which store a cache or spool directory belongs to: a hash of the store's canonical URI
    (a local store's absolute path; ``<protocol>://<root>`` else)."""
    canonical = root if protocol == "file" else f"{protocol}://{root.lstrip('/')}"
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def write_atomic(path: Path, data: bytes) -> None:
    """Write a local file so that no reader sees part of it: a dotted temporary name beside it,
    then a rename. The spool, the packer's spooled blobs and this cache all write this way."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


class FileCache:
    """The cache of one store's files on an fsspec filesystem.

    Parameters
    ----------
    fs : fsspec.AbstractFileSystem
        The store's filesystem.
    store_root : str
        The store's root path on ``fs``.
    protocol : str
        The store's protocol, part of the key that separates stores in one cache.
    root : path
        The cache root (`cache_root`).
    max_bytes : int, optional
        The bound. Default ``$MEDIASTORE_CACHE_BYTES`` or 2 GiB: a few thousand runs' rows and
        the media last looked at, on any laptop's disk.
    """

    def __init__(self, fs, store_root: str, protocol: str, root: Path, max_bytes: int | None = None):
        self.fs = fs
        self.store_root = store_root.rstrip("/")
        self.root = Path(root)
        self.dir = self.root / store_key(protocol, self.store_root)
        env = os.environ.get("MEDIASTORE_CACHE_BYTES")
        self.max_bytes = max_bytes if max_bytes is not None else (_parse_bytes(env) if env else DEFAULT_MAX_BYTES)
        self._room: int | None = None  # bytes this process may add before it scans again
        self._lock = threading.Lock()

    # -- whole files ----------------------------------------------------------------------
    def local_path(self, path: str, stamp: tuple | None = None) -> Path:
        """Where the file ``path`` of the store is (or would be) cached. ``stamp`` (size, ETag)
        is part of the name only for the files rewritten in place."""
        rel = path[len(self.store_root) + 1 :] if path.startswith(self.store_root + "/") else path.lstrip("/")
        directory, _, name = rel.rpartition("/")
        if _MUTABLE.match(name):
            tag = hashlib.sha256(repr(stamp).encode()).hexdigest()[:12]
            name = f"{name[:-len('.parquet')] if name.endswith('.parquet') else name}.{tag}.parquet"
        return self.dir / directory / name if directory else self.dir / name

    def files(self, paths: Sequence[str], stamps: dict[str, tuple] | None = None) -> list[str]:
        """Local copies of the store files ``paths`` (in order), fetching the missing ones in
        parallel, each with one GET. ``stamps`` maps a path to its (size, ETag) from a listing:
        the size makes the GET a plain ranged one (s3fs would HEAD first), the ETag tells
        versions of a heartbeat apart."""
        stamps = stamps or {}
        out, missing = [], []
        now = time.time()
        for path in paths:
            stamp = stamps.get(path)
            if stamp is None and _MUTABLE.match(path.rsplit("/", 1)[-1]):
                info = self.fs.info(path)  # a heartbeat nobody listed: its ETag decides
                stamp = stamps[path] = (info.get("size"), info.get("ETag") or info.get("etag") or info.get("mtime"))
            local = self.local_path(path, stamp)
            out.append(str(local))
            try:
                mtime = os.stat(local).st_mtime
            except FileNotFoundError:
                missing.append((path, local, stamp))
                continue
            if now - mtime > _TOUCH_SECONDS:
                try:
                    os.utime(local)
                except FileNotFoundError:
                    missing.append((path, local, stamp))
        if missing:
            self._fetch(missing)
        return out

    def _fetch(self, missing: list[tuple[str, Path, tuple | None]]) -> None:
        started = time.time() - 1.0  # mtime granularity: what this call fetches is newer

        def one(item) -> int:
            path, local, stamp = item
            size = stamp[0] if stamp else None
            data = self.fs.cat_file(path, start=0, end=int(size)) if size else self.fs.cat_file(path)
            write_atomic(local, data)
            return len(data)

        if len(missing) == 1:
            added = one(missing[0])
        else:
            with ThreadPoolExecutor(min(FETCH_WORKERS, len(missing))) as pool:
                added = sum(pool.map(one, missing))
        self._account(added, keep_since=started)

    # -- blob ranges ----------------------------------------------------------------------
    def blob(self, sha256: str | None) -> bytes | None:
        """A cached blob range's bytes, or None (the caller then reads the store and `put_blob`s).
        Keyed by the sha256 alone: equal digests are equal bytes, wherever they were packed,
        and the caller checks the digest on every read."""
        if not sha256:
            return None
        local = self.dir / "_ranges" / sha256[:2] / sha256
        try:
            data = local.read_bytes()
        except FileNotFoundError:
            return None
        if time.time() - os.stat(local).st_mtime > _TOUCH_SECONDS:
            os.utime(local)
        return data

    def put_blob(self, sha256: str, data: bytes) -> None:
        """Keep a blob range that matched its sha256."""
        write_atomic(self.dir / "_ranges" / sha256[:2] / sha256, data)
        self._account(len(data), keep_since=time.time() - 1.0)

    # -- the bound ------------------------------------------------------------------------
    def _account(self, added: int, keep_since: float) -> None:
        with self._lock:
            if self._room is None:
                self._room = self.max_bytes - self._evict(scan_only=True)
            self._room -= added
            if self._room < 0:
                self._room = self.max_bytes - self._evict(keep_since=keep_since)

    def _evict(self, scan_only: bool = False, keep_since: float = float("inf")) -> int:
        """Total bytes in the cache after deleting the least recently used files past 90 % of
        the bound (all stores of this cache root). Returns the total. Files written since
        ``keep_since`` stay: the query that fetched them is about to read them (so one query
        larger than the bound overshoots it until the next fetch)."""
        entries, total, stack, now = [], 0, [self.root], time.time()
        while stack:
            try:
                scanned = list(os.scandir(stack.pop()))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in scanned:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                        continue
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if ".tmp-" in entry.name and now - st.st_mtime > _STALE_TMP_SECONDS:
                    _unlink(entry.path)  # a fetch that a killed process left behind
                    continue
                entries.append((st.st_mtime, st.st_size, entry.path))
                total += st.st_size
        if scan_only or total <= self.max_bytes:
            return total
        entries.sort()
        goal = int(self.max_bytes * 0.9)
        for mtime, size, path in entries:
            if total <= goal or mtime >= keep_since:
                break
            if _unlink(path):
                total -= size
        return total


def _unlink(path: str) -> bool:
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False
