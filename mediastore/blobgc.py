"""Blob garbage collection: free the blobs no row points at any more, while others log.

Objects under ``blobs/`` are of two sorts (packer.py): *packs* (``blobs/packs/<32 hex>.pack``),
each written and pointed at by one writer only, and *standalone* blobs, content-addressed
(``blobs/<sha[:2]>/<sha[2:]><ext>``) and shared: a writer of any run that finds one there
already (its create-only PUT is refused) points its rows at it. A row is written after its
blob, and may wait in a writer's memory or spool for a while; so "no row points at it" is
only true of a blob if no writer can still write a row that does.

**Two phases.** A pass of `gc`:

1. *Sweeps* each pending mark (``.gc/mark-<time>-<token>.json``) that is ready: at least
   ``grace_seconds`` old, and every run that was running when it was made (its ``running``
   list) is running no more. Then the references are read anew (after those states), and
   every candidate of the mark still unreferenced is deleted; the mark is removed.
2. *Marks*: lists ``blobs/``, reads the references, and writes a mark naming every object no
   reference names (and no pending mark names yet), then reads which runs are running and
   records them in the mark. With ``grace_seconds=0`` and no run running, the next pass (or
   this one's sweep, which runs after) frees them.

The references are every blob struct in every live file of every table with blobs (hidden
files, published files, and the project files' rows of the runs they stand for), and inside
the Parquet blobs of logged tables (whose media cells point at blobs too).

**Why no row can point at a freed blob.** Let W be a writer whose row points at a candidate
X of mark M. W writes its run's ``running`` record (ms.init) before it puts any blob, and
reads the pending marks (packer.condemned_blobs) at its first standalone blob, after that.

- W's run was running when M's ``running`` list was read (after M was written): the sweep
  waits until that run is not running. A run leaves that state only by its writer's
  ``finish`` (after every row is written), by ``mediastore recover`` (after the spooled
  rows are written), or by a new writer resuming it. The sweep reads the states first and
  the references after, so it sees W's rows, and keeps X.
- Else W's record came after that read, so W read the marks after M was written: it saw X
  named, and a standalone blob whose address a mark names is stored in a pack of W's own
  (packer.py), so W points no row at X. A pack X is W's alone and was listed by M's pass, so
  W wrote it before M's ``running`` list was read: the first case.
- Else W's run was finished then: every row of W was written before, and the sweep sees it.

Readers are protected by time, as with compaction: a query that read a row before it was
deleted may fetch its blob until ``grace_seconds`` after the mark (default
compact.GRACE_SECONDS, longer than any query).

Packs partly referenced stay whole (a pack is freed only when no row points into it). A run
whose writer was killed stays ``running`` until ``mediastore recover`` writes what its spool
held: until then, marks made while it ran are not swept (safe, and said in the report).
"""

from __future__ import annotations

import io
import json
import time
import uuid
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .catalog import Catalog
from .compact import GRACE_SECONDS
from .delete import blob_columns, blob_structs, blob_tables
from .packer import GC_DIR
from .schema import schema_for
from .storage import StoreLocation, partition_of

__all__ = ["GcReport", "gc", "references", "running_runs"]

_PARQUET = "application/vnd.apache.parquet"


@dataclass
class GcReport:
    """What a pass of `gc` did (with ``dry_run``: would do).

    Attributes
    ----------
    freed_objects, freed_bytes : int
        Objects deleted (or ready to be) and their bytes.
    marked_objects, marked_bytes : int
        Unreferenced objects marked by this pass, freed by a later one.
    pending : list of str
        Why marks wait (their age, or the runs still running).
    referenced_objects : int
        Objects under ``blobs/`` some row points at (kept; a pack partly pointed at is kept whole).
    """

    freed_objects: int = 0
    freed_bytes: int = 0
    marked_objects: int = 0
    marked_bytes: int = 0
    pending: list[str] = field(default_factory=list)
    referenced_objects: int = 0
    dry_run: bool = False

    def summary(self) -> str:
        verb = "would free" if self.dry_run else "freed"
        text = (f"{verb} {self.freed_objects} blobs ({self.freed_bytes} bytes); marked {self.marked_objects} "
                f"unreferenced blobs ({self.marked_bytes} bytes) for a later pass; {self.referenced_objects} referenced")
        return text + "".join(f"\n  waiting: {p}" for p in self.pending)


def _list_blobs(location: StoreLocation) -> dict[str, int]:
    """Every object under ``blobs/`` (relative path -> size), temporary files left out."""
    root = location.path("blobs")
    if location.protocol != "memory" and not location.is_local:
        location.fs.invalidate_cache(root)
    try:
        found = location.fs.find(root, detail=True)
    except FileNotFoundError:
        return {}
    prefix = location.root.rstrip("/") + "/"
    out = {}
    for path, info in found.items():
        name = path.rsplit("/", 1)[-1]
        if info.get("type", "file") == "directory" or name.startswith("."):
            continue
        rel = path[len(prefix):] if path.startswith(prefix) else path.split(location.root.lstrip("/") + "/", 1)[-1]
        out[rel] = int(info.get("size") or 0)
    return out


def references(location: StoreLocation) -> set[str]:
    """The blob paths (relative) some row points at: every live file (hidden, published, and
    the project files) of every table with blobs, and the Parquet blobs of logged tables."""
    catalog = Catalog(location)
    refs: set[str] = set()
    nested: dict[tuple, dict] = {}
    for table in blob_tables():
        listing = catalog.table_listing(table)
        columns = blob_columns(schema_for(table).file_schema)
        found = catalog.read_tables(listing.files, columns=columns)
        for path, rows in zip(listing.index, catalog.read_tables(listing.index, columns=["run_id", *columns])):
            # A project file's rows of a run it no longer stands for (deleted, rewritten) are
            # read by no reader: the run's own files are (catalog.py), and they never match again.
            skip = listing.skip.get(path)
            found.append(rows.filter(pc.invert(pc.is_in(rows.column("run_id"), pa.array(skip, pa.string())))) if skip else rows)
        for rows in found:
            for s in blob_structs(rows):
                refs.add(s["uri"])
                if s.get("mime") == _PARQUET:
                    nested[(s["uri"], s.get("offset"), s.get("length"))] = s
    seen: set[tuple] = set()
    while nested:  # a logged table's media cells point at blobs from inside its Parquet blob
        key, struct = nested.popitem()
        if key in seen:
            continue
        seen.add(key)
        inner = pq.read_table(io.BytesIO(location.get_blob(struct)))
        for s in blob_structs(inner):
            refs.add(s["uri"])
            if s.get("mime") == _PARQUET:
                nested[(s["uri"], s.get("offset"), s.get("length"))] = s
    return refs


def running_runs(location: StoreLocation) -> set[tuple[str, str]]:
    """(project, run_id) of every run whose newest record says running (a killed writer's run
    too: its spool may still hold rows)."""
    catalog = Catalog(location)
    listing = catalog.runs_listing()
    newest: dict[tuple[str, str], dict] = {}

    def take(key, record):
        if key not in newest or record["updated_at"] > newest[key]["updated_at"]:
            newest[key] = record

    def rows(table):
        updated = table.column("updated_at").cast(pa.int64()).to_pylist()
        return [{"state": s, "updated_at": u} for s, u in zip(table.column("state").to_pylist(), updated)]

    for table in catalog.read_tables(listing.index, columns=["project", "run_id", "state", "updated_at"]):
        for key, record in zip(zip(table.column("project").to_pylist(), table.column("run_id").to_pylist()), rows(table)):
            take(key, record)
    for path, table in zip(listing.uncovered, catalog.read_tables(listing.uncovered, columns=["state", "updated_at"])):
        for record in rows(table):
            take(partition_of(path), record)
    return {key for key, record in newest.items() if record["state"] == "running"}


def _marks(location: StoreLocation) -> dict[str, dict]:
    directory = location.path(GC_DIR)
    try:
        found = sorted(location.fs.find(directory))
    except FileNotFoundError:
        return {}
    out = {}
    for path in found:
        name = path.rsplit("/", 1)[-1]
        if name.startswith("mark-") and name.endswith(".json"):
            try:
                out[path] = json.loads(location.read_bytes(path))
            except FileNotFoundError:
                continue  # swept by another pass since the listing
    return out


def _delete(location: StoreLocation, paths: list[str]) -> None:
    if not paths:
        return
    full = [location.path(p) for p in paths]
    if location.is_local:
        import os

        for path in full:
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
    else:
        for path in full:
            try:
                location.fs.rm_file(path)
            except FileNotFoundError:
                pass


def gc(location: StoreLocation, *, dry_run: bool = False, grace_seconds: float = GRACE_SECONDS) -> GcReport:
    """One pass of blob garbage collection: mark what no row points at, then sweep the marks
    that are ready (the module docstring has the rules and why they are safe).

    Parameters
    ----------
    location : StoreLocation
        The store.
    dry_run : bool
        Change nothing; report what the pass would mark, and free.
    grace_seconds : float
        Least time between marking a blob and deleting it (seconds; default 300, as for
        compaction: longer than any query that may still read a deleted row's blob).

    Returns
    -------
    GcReport
    """
    report = GcReport(dry_run=dry_run)
    marks = _marks(location)
    blobs = _list_blobs(location)
    refs = references(location)
    report.referenced_objects = sum(1 for rel in blobs if rel in refs)
    marked = {rel for mark in marks.values() for rel in mark["candidates"]}
    candidates = {rel: size for rel, size in blobs.items() if rel not in refs and rel not in marked}
    now = time.time()
    if candidates:
        report.marked_objects, report.marked_bytes = len(candidates), sum(candidates.values())
        mark = {"created": now, "candidates": candidates, "running": None}
        path = location.path(GC_DIR, f"mark-{int(now * 1000):015d}-{uuid.uuid4().hex[:8]}.json")
        if not dry_run:
            location.raise_format_version()  # writers of format 4 do not read marks: they must refuse the store
            location.write_bytes(path, json.dumps(mark).encode())
        marks[path] = mark
    for path, mark in sorted(marks.items()):
        if mark.get("running") is None:
            # Read after the mark is written (a pass that died before this is completed here).
            mark["running"] = sorted(map(list, running_runs(location)))
            if not dry_run:
                location.write_bytes(path, json.dumps(mark).encode())
        age = now - float(mark["created"])
        if age < grace_seconds:
            report.pending.append(f"{len(mark['candidates'])} blobs marked {age:.0f} s ago (grace {grace_seconds:.0f} s)")
            continue
        still = sorted(f"{p}/{r}" for p, r in running_runs(location) & {tuple(x) for x in mark["running"]})
        if still:
            report.pending.append(f"{len(mark['candidates'])} blobs marked while runs {', '.join(still)} were running; "
                                  "freed once they finish (a killed writer's run: after `mediastore recover`)")
            continue
        # After the states: the rows of every run that ended are in. Read twice, and a blob
        # either read names is kept: a listing that came back short (moto's server does that
        # under concurrent writes, FACTS.md) must not make a referenced blob look free.
        fresh = references(location) | references(location)
        free = {rel: size for rel, size in mark["candidates"].items() if rel not in fresh and rel in blobs}
        report.freed_objects += len(free)
        report.freed_bytes += sum(free.values())
        if not dry_run:
            _delete(location, sorted(free))
            try:
                location.fs.rm_file(path)
            except FileNotFoundError:
                pass  # another pass swept it at the same time
    return report
