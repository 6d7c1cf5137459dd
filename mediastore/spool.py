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
A killed process's spool is recovered by the next ``ms.init`` on the same machine and store,
or by ``mediastore recover``; so is the spool of a run whose ``finish()`` gave up waiting for
an unreachable store (``final.json``): recovery uploads its blobs, then its rows, then gives
the run its final state. The spool survives a killed process, not a lost disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import socket
from pathlib import Path
from typing import Any

__all__ = ["spool_root", "store_key", "RunSpool", "recover"]


def spool_root() -> Path:
    """``$MEDIASTORE_SPOOL``, else ``$XDG_CACHE_HOME/mediastore/spool``, else ``~/.cache/...``."""
    if os.environ.get("MEDIASTORE_SPOOL"):
        return Path(os.environ["MEDIASTORE_SPOOL"])
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "mediastore" / "spool"


def store_key(location) -> str:
    """Which store a spool belongs to: a hash of the store's canonical URI."""
    canonical = location.root if location.is_local else f"{location.protocol}://{location.root.lstrip('/')}"
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _process_start(pid: int) -> str | None:
    """The start time of a process (field 22 of /proc/<pid>/stat), to tell a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


class RunSpool:
    """The spool directory of one writer."""

    def __init__(self, location, project: str, run_id: str, token: str):
        self.dir = spool_root() / store_key(location) / project / run_id / token
        self.dir.mkdir(parents=True, exist_ok=True)
        pid = os.getpid()
        owner = {"pid": pid, "host": socket.gethostname(), "start": _process_start(pid), "store": location.uri}
        self._write(self.dir / "owner.json", json.dumps(owner).encode())
        self._parts: dict[tuple[str, int], int] = {}

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)

    def append(self, table: str, batch: int, kind: str, items: list[Any]) -> None:
        """Keep ``items`` (value calls or encoded media rows) of one batch."""
        part = self._parts.get((table, batch), 0)
        self._parts[(table, batch)] = part + 1
        payload = pickle.dumps((kind, items), protocol=pickle.HIGHEST_PROTOCOL)
        self._write(self.dir / f"{table}-{batch:06d}-{part:06d}.pkl", payload)

    @property
    def blob_dir(self) -> Path:
        return self.dir / "blobs"

    def abandon(self, final_record: dict) -> None:
        """The writer stops waiting for the store: leave everything for recovery, which then
        writes ``final_record`` (the run's finished or crashed state) once the rows are in."""
        self._write(self.dir / "final.json", json.dumps(final_record).encode())
        owner = json.loads((self.dir / "owner.json").read_text())
        self._write(self.dir / "owner.json", json.dumps({**owner, "abandoned": True}).encode())

    def written(self, table: str, batch: int) -> None:
        """The batch is in the store as Parquet: its spool parts can go."""
        for path in self.dir.glob(f"{table}-{batch:06d}-*.pkl"):
            path.unlink(missing_ok=True)

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _owner_alive(owner: dict) -> bool:
    if owner.get("abandoned"):
        return False  # its writer finished without the store: nobody writes it any more
    if owner.get("host") != socket.gethostname():
        return True  # another machine's spool on a shared disk: not ours to judge
    start = _process_start(int(owner["pid"]))
    return start is not None and start == owner.get("start")


def recover(location) -> list[tuple[str, str]]:
    """Write the spooled blobs and rows of every dead (or finished but unuploaded) writer of
    this store on this machine, give their runs their final state (crashed, unless the writer
    had finished), and remove their spools. Returns the (project, run_id) recovered. A spool
    the store does not take now (an outage) is left for the next try, with a warning."""
    import warnings

    from .catalog import Catalog
    from .errors import StorageUnavailableWarning
    from .packer import is_transient

    root = spool_root() / store_key(location)
    if not root.is_dir():
        return []
    recovered = []
    catalog = Catalog(location)
    for owner_file in sorted(root.glob("*/*/*/owner.json")):
        try:
            owner = json.loads(owner_file.read_text())
        except FileNotFoundError:
            continue  # its writer finished, or another process recovered it, since the listing
        if _owner_alive(owner):
            continue
        # Claim the spool by renaming it: of several processes recovering at once, one wins.
        token = owner_file.parent.name.split(".")[0]
        directory = owner_file.parent.with_name(f"{token}.recovering-{os.getpid()}")
        try:
            owner_file.parent.rename(directory)
        except OSError:
            continue
        run_id, project = directory.parent.name, directory.parent.parent.name
        try:
            _recover_one(location, catalog, directory, project, run_id, token)
        except Exception as exc:
            if not is_transient(exc):
                raise
            directory.rename(directory.with_name(token))  # for the next try
            warnings.warn(
                f"could not recover run {project}/{run_id} from the spool now ({type(exc).__name__}: {exc}); "
                "it stays in the spool for the next ms.init or `mediastore recover`",
                StorageUnavailableWarning,
                stacklevel=2,
            )
            continue
        shutil.rmtree(directory, ignore_errors=True)
        recovered.append((project, run_id))
    return recovered


def _recover_one(location, catalog, directory: Path, project: str, run_id: str, token: str) -> None:
    from .compact import compact_run
    from .packer import upload_spooled_blobs
    from .writer import Batch, write_batch

    upload_spooled_blobs(location, directory / "blobs")  # blobs before the rows that point at them
    batches: dict[tuple[str, int], Batch] = {}
    for part in sorted(directory.glob("*.pkl")):
        table, batch, _ = part.stem.rsplit("-", 2)
        kind, items = pickle.loads(part.read_bytes())
        b = batches.setdefault((table, int(batch)), Batch(int(batch)))
        b.extend(kind, items)
    last_step = None
    for (table, batch), b in sorted(batches.items()):
        names = catalog.names_ever_written(table, project, run_id)
        if any(n.endswith(f"{token}-{batch:06d}.parquet") for n in names):
            continue  # the writer wrote this batch (hidden, or published as m<token>) before it died
        steps = write_batch(location, project, run_id, token, table, b)
        if steps is not None:
            last_step = max(last_step or 0, steps[1])
    final = directory / "final.json"
    if final.exists():
        from .records import write_run_record

        record = json.loads(final.read_text())
        record["updated_at"] = max(record["updated_at"], _now_us())
        write_run_record(location, project, run_id, token, record)
    else:
        _mark_crashed(location, project, run_id, token, last_step)
    compact_run(location, project, run_id, catalog=catalog)  # publish it for other engines


def _now_us() -> int:
    import time

    return time.time_ns() // 1000


def _mark_crashed(location, project: str, run_id: str, token: str, last_step: int | None) -> None:
    from .records import read_run_record, write_run_record

    record = read_run_record(location, project, run_id)
    if record is None or record["state"] != "running":
        return
    if last_step is not None:
        record["last_step"] = max(record["last_step"] or 0, last_step)
    record["state"] = "crashed"
    write_run_record(location, project, run_id, token, record)
