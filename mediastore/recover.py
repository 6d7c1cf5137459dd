"""Recovery: what dead writers left in the local spool goes to the store.

A killed process's spool is recovered by the next ``ms.init`` on the same machine and store,
or by ``mediastore recover``; so is the spool of a run whose ``finish()`` gave up waiting for
an unreachable store (``final.json``). Recovery uploads the spooled blobs, then the rows (a
batch only when no file of that writer and batch exists, or was compacted away, so recovering
twice never doubles a row), then gives the run its final state: the one ``final.json`` holds,
else ``crashed``. It sits above the writer and compaction and uses them.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import socket
import time
import warnings
from pathlib import Path

from .catalog import Catalog
from .compact import compact_run
from .errors import StorageUnavailableWarning
from .packer import is_transient, upload_spooled_blobs
from .records import read_run_record, write_run_record
from .spool import process_start, spool_root, store_key
from .writer import Batch, write_batch

__all__ = ["recover"]


def _owner_alive(owner: dict) -> bool:
    if owner.get("abandoned"):
        return False  # its writer finished without the store: nobody writes it any more
    if owner.get("host") != socket.gethostname():
        return True  # another machine's spool on a shared disk: not ours to judge
    start = process_start(int(owner["pid"]))
    return start is not None and start == owner.get("start")


def recover(location) -> list[tuple[str, str]]:
    """Write the spooled blobs and rows of every dead (or finished but unuploaded) writer of
    this store on this machine, give their runs their final state (crashed, unless the writer
    had finished), and remove their spools. Returns the (project, run_id) recovered. A spool
    the store does not take now (an outage) is left for the next try, with a warning."""
    root = spool_root() / store_key(location)
    if not root.is_dir():
        return []
    recovered = []
    catalog = Catalog(location)
    for owner_file in _owner_files(root):
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
            _recover_one(location, catalog, directory, project, run_id, token, owner.get("process"))
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


def _owner_files(root: Path) -> list[Path]:
    """``<project>/<run>/<token>/owner.json`` of every writer's spool under ``root``, sorted.

    A finishing writer removes only its own ``<token>/`` folder: another writer of the run
    may be starting in ``<run>/``, and an ``rmdir`` costs up to 0.3 ms on a disk mounted with
    ``discard``. An empty ``<run>/`` folder is removed here instead, once: before, a walk over
    the folders 10,000 finished runs had left took 58-80 ms at every ``ms.init``. A writer
    starting at the same moment makes its folder again (`RunSpool`). ``<project>/`` folders
    stay: there are few, and the next run of the project would make its folder again."""
    found = []
    for project in _folders(root):
        for run in _folders(project):
            tokens = _folders(run)
            if not tokens:
                _remove_if_empty(run)
            found.extend(owner for owner in (token / "owner.json" for token in tokens) if owner.exists())
    return sorted(found)


def _folders(path: Path) -> list[Path]:
    try:
        with os.scandir(path) as entries:
            return [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False)]
    except OSError:  # removed since its parent was listed
        return []


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:  # a writer started in it, or another process removed it
        pass


def _recover_one(location, catalog, directory: Path, project: str, run_id: str, token: str, process: str | None) -> None:
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
        steps = write_batch(location, project, run_id, token, table, b, process=process)
        if steps is not None:
            last_step = max(last_step or 0, steps[1])
    final = directory / "final.json"
    if final.exists():
        record = json.loads(final.read_text())
        record["updated_at"] = max(record["updated_at"], _now_us())
        write_run_record(location, project, run_id, token, record)
    else:
        _mark_crashed(location, project, run_id, token, last_step, process)
    # Publish it for other engines: this writer's files only (a shared run's other processes may write on).
    compact_run(location, project, run_id, catalog=catalog, writer=token)


def _now_us() -> int:
    return time.time_ns() // 1000


def _mark_crashed(location, project: str, run_id: str, token: str, last_step: int | None, process: str | None = None) -> None:
    record = read_run_record(location, project, run_id, process=process)  # None: the run's record
    if record is None or record["state"] != "running":
        return
    if last_step is not None:
        record["last_step"] = max(record["last_step"] or 0, last_step)
    record["state"] = "crashed"
    write_run_record(location, project, run_id, token, record)
