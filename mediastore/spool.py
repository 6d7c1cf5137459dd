"""The local write-ahead spool: what a run logged but has not yet written as Parquet, kept
on the machine's disk so that a killed process loses at most ``Settings.spool_seconds`` of it.

Object stores cannot append, so rows are batched in memory and written as whole Parquet
files; the spool covers the gap. Layout::

    <spool root>/<store key>/<project>/<run>/<writer token>/
        owner.json                        pid, host, process start time, store URI
        <table>-<batch>-<part>.pkl        rows of one batch, in order
        blobs/                            packs and blobs not yet uploaded (object stores)
        final.json                        the run's last record, when finish() gave up waiting

A batch becomes exactly one Parquet file named ``_<first>-<last>-<token>-<batch>.parquet``;
recovery writes a batch only when no file of that token and batch exists (or was compacted
away), so recovering twice, or after the writer managed to write, never duplicates a row.
Recovery (recover.py, above the writer) reads what this module writes. The spool survives a
killed process, not a lost disk.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import socket
from pathlib import Path
from typing import Any

from ._lazy import np
from . import cache

__all__ = ["spool_root", "store_key", "RunSpool", "process_start"]


def spool_root() -> Path:
    """``$MEDIASTORE_SPOOL``, else ``$XDG_CACHE_HOME/mediastore/spool``, else ``~/.cache/...``."""
    if os.environ.get("MEDIASTORE_SPOOL"):
        return Path(os.environ["MEDIASTORE_SPOOL"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mediastore" / "spool"


def store_key(location) -> str:
    """Which store a spool belongs to: a hash of the store's canonical URI."""
    return cache.store_key(location.protocol, location.root)


def process_start(pid: int) -> str | None:
    """The start time of a process (field 22 of /proc/<pid>/stat), to tell a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _array_from_bytes(data: bytes, dtype: str) -> np.ndarray:
    return np.frombuffer(data, dtype=dtype)


class _ArrayPickler(pickle.Pickler):
    """Pickles a 1-D numpy array as its bytes and dtype: numpy's own reduction costs about
    2 us an array, a third of what a histogram's row costs to log."""

    def reducer_override(self, obj):
        if type(obj) is np.ndarray and obj.ndim == 1 and obj.dtype.kind in "biuf":
            return _array_from_bytes, (obj.tobytes(), obj.dtype.str)
        return NotImplemented


class RunSpool:
    """The spool directory of one writer."""

    def __init__(self, location, project: str, run_id: str, token: str, process: str | None = None):
        self.dir = spool_root() / store_key(location) / project / run_id / token
        for attempt in range(10):
            try:
                self.dir.mkdir(parents=True, exist_ok=True)
                break
            except FileNotFoundError:  # ms.init of another process removed an empty parent (recover.py)
                if attempt == 9:
                    raise
        pid = os.getpid()
        owner = {"pid": pid, "host": socket.gethostname(), "start": process_start(pid), "store": location.uri, "process": process}
        cache.write_atomic(self.dir / "owner.json", json.dumps(owner).encode())
        self._parts: dict[tuple[str, int], int] = {}

    def append(self, table: str, batch: int, kind: str, items: list[Any]) -> None:
        """Keep ``items`` (value calls or encoded media rows) of one batch."""
        part = self._parts.get((table, batch), 0)
        self._parts[(table, batch)] = part + 1
        if kind == "media":  # rows may hold small arrays (histograms): pickled as their bytes
            sink = io.BytesIO()
            _ArrayPickler(sink, protocol=pickle.HIGHEST_PROTOCOL).dump((kind, items))
            payload = sink.getvalue()
        else:
            payload = pickle.dumps((kind, items), protocol=pickle.HIGHEST_PROTOCOL)
        cache.write_atomic(self.dir / f"{table}-{batch:06d}-{part:06d}.pkl", payload)

    @property
    def blob_dir(self) -> Path:
        return self.dir / "blobs"

    def abandon(self, final_record: dict) -> None:
        """The writer stops waiting for the store: leave everything for recovery, which then
        writes ``final_record`` (the run's finished or crashed state) once the rows are in."""
        cache.write_atomic(self.dir / "final.json", json.dumps(final_record).encode())
        owner = json.loads((self.dir / "owner.json").read_text())
        cache.write_atomic(self.dir / "owner.json", json.dumps({**owner, "abandoned": True}).encode())

    def written(self, table: str, batch: int) -> None:
        """The batch is in the store as Parquet: its spool parts can go."""
        for path in self.dir.glob(f"{table}-{batch:06d}-*.pkl"):
            path.unlink(missing_ok=True)

    def remove(self) -> None:
        """The folder goes. Once every batch is written only ``owner.json`` is left in it, so
        that file and the folder are removed by name (65 us here); ``shutil.rmtree``, which
        walks the folder first, took 165 us, at every run's finish. Anything else left (an
        object store's blobs folder) is walked as before."""
        folder = str(self.dir)
        try:
            os.unlink(os.path.join(folder, "owner.json"))
            os.rmdir(folder)
        except OSError:
            shutil.rmtree(folder, ignore_errors=True)
