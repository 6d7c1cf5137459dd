"""Blobs logged by several runs, stored once: done by compaction (``compact_store``).

A writer packs the small blobs it logs (images, masks, audio clips, HTML) into packs of its
own (packer.py) and knows nothing of other runs' packs, so the same bytes logged by two runs
are in two packs. Compaction finds them: among the finished and crashed runs of a project,
every packed blob with the same sha256 gets one *canonical* copy, the one logged first (the
earliest ``logged_at`` of the rows pointing at it; then the smaller pack name and offset), and
the rows pointing at the other copies are rewritten to point at it. The rewrite is the one a
resumed run's compaction makes (compact.py): each of the run's published files written anew
under its own name in one atomic PUT, so a reader sees the old blob structs or the new ones,
and both name the same bytes (every read checks them against the row's sha256).

A pack left holding bytes no row points at any more, beside bytes rows do, is repacked: its
live blobs are copied into a new pack and their rows pointed at it. Every pack a copy was in
is then either fully used or pointed at by no row, and ``mediastore gc`` removes the latter:
after a compaction and gc passes, bytes logged by several runs are stored once. A canonical copy stays canonical at the next compaction (new runs log
later), so rows are rewritten once. Writers never point into another run's pack, so this
adds no race with them: only finished runs' rows move, to packs that are in the store.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from .catalog import Catalog
from .storage import StoreLocation, partition_of

__all__ = ["dedup_project", "DedupReport", "PACKED_TABLES"]

#: The tables whose blobs the packer may pack (images and their masks, audio, HTML).
PACKED_TABLES = ("images", "audio", "html")
_PACKS = "blobs/packs/"


@dataclass
class DedupReport:
    blobs: int = 0  # blob structs (a row's, a mask's) now pointing at the canonical copy
    files: int = 0  # published files rewritten
    bytes: int = 0  # bytes of the copies no row points at any more (freed by `mediastore gc`)


def _blobs_of(row: dict) -> list[dict]:
    """The blob structs of one row: its own and its masks'."""
    found = [row["blob"]] if row.get("blob") else []
    for mask in row.get("masks") or ():
        if mask.get("blob"):
            found.append(mask["blob"])
    return found


def _where(blob: dict) -> tuple[str, int]:
    return blob["uri"], int(blob.get("offset") or 0)


def dedup_project(location: StoreLocation, project: str, runs: set[str], *, catalog: Catalog | None = None) -> DedupReport:
    """Point every row of ``runs`` (finished or crashed runs of ``project``, compacted: only
    their published files are rewritten) at the canonical copy of each packed blob it names."""
    from .compact import rewrite_published

    catalog = catalog or Catalog(location)
    report = DedupReport()
    files: dict[str, list[str]] = {}
    for table in PACKED_TABLES:
        listing = catalog.table_listing(table, project)
        chosen = [f for f in listing.files if partition_of(f)[1] in runs]
        waiting = {partition_of(f) for f in chosen if f.rsplit("/", 1)[1].startswith("_")}  # not compacted yet
        files[table] = [f for f in chosen if partition_of(f) not in waiting]
    # sha256 -> every copy, with when a row first pointed at it
    copies_of: dict[str, dict[tuple[str, int], tuple[int, dict]]] = {}
    read: dict[str, list[pa.Table]] = {}
    for table, paths in files.items():
        read[table] = catalog.read_tables(paths)
        for rows in read[table]:
            for row in rows.select([c for c in ("blob", "masks", "logged_at") if c in rows.column_names]).to_pylist():
                at = row["logged_at"].timestamp() if row.get("logged_at") is not None else 0.0
                for blob in _blobs_of(row):
                    if not blob["uri"].startswith(_PACKS) or not blob.get("sha256"):
                        continue
                    copies = copies_of.setdefault(blob["sha256"], {})
                    where = _where(blob)
                    if where not in copies or at < copies[where][0]:
                        copies[where] = (at, blob)
    canonical: dict[str, dict] = {}
    for digest, copies in copies_of.items():
        if len(copies) > 1:
            (_, best), *others = sorted(copies.items(), key=lambda item: (item[1][0], item[0]))
            canonical[digest] = best[1]
            report.bytes += sum(int(blob["length"] or 0) for _, (_, blob) in others)
    if not canonical:
        return report
    # Every row as Python objects, its blobs pointed at the canonical copies.
    data = {table: [rows.to_pylist() for rows in read[table]] for table in files}
    moved: dict[tuple[str, int], int] = {}  # (table, file index) -> blob structs changed
    for table, per_file in data.items():
        for i, rows in enumerate(per_file):
            for row in rows:
                for blob in _blobs_of(row):
                    best = canonical.get(blob.get("sha256") or "")
                    if best is not None and _where(blob) != _where(best):
                        blob.update(uri=best["uri"], offset=best["offset"], length=best["length"])
                        moved[(table, i)] = moved.get((table, i), 0) + 1
    moved.update({key: moved.get(key, 0) for key in _repack(location, data, copies_of)})
    for (table, i), changed in sorted(moved.items()):
        rows, path = read[table][i], files[table][i]
        rewrite_published(location, table, path, pa.Table.from_pylist(data[table][i], schema=rows.schema),
                          old_size=catalog.listed_size(path))  # from the table's listing above: no HEAD
        report.blobs += changed
        report.files += 1
    return report


def _repack(location: StoreLocation, data: dict[str, list[list[dict]]], copies: dict[str, dict]) -> set[tuple[str, int]]:
    """Packs that held a copy no row points at any more, and still hold blobs rows point at:
    their live blobs are copied into a new pack (one GET of the old pack, one PUT of the new),
    and the rows pointed at it, so that no byte is kept twice once `mediastore gc` removes the
    old pack (a pack wholly unreferenced is left to it as it is). Only finished runs' rows
    point into a pack of a finished run (a writer points only into its own packs, and a
    resumed one starts with none), so moving them races no writer. Returns the (table, file
    index) of the files whose rows changed."""
    import uuid

    # The packs that held a copy of bytes stored more than once (canonical ones too: a pack may
    # hold the canonical copy of one blob and a dropped copy of another).
    wasteful = {where[0] for found in copies.values() if len(found) > 1 for where in found}
    live: dict[str, dict[tuple[int, int], str]] = {}  # pack -> (offset, length) -> sha256
    for per_file in data.values():
        for rows in per_file:
            for row in rows:
                for blob in _blobs_of(row):
                    if blob["uri"] in wasteful:
                        live.setdefault(blob["uri"], {})[(int(blob["offset"] or 0), int(blob["length"]))] = blob["sha256"]
    changed: set[tuple[str, int]] = set()
    for uri in sorted(live):
        size = location.fs.info(location.path(uri))["size"]
        ranges = sorted(live[uri])
        if sum(length for _, length in ranges) >= size:
            continue  # every byte is in use
        old = location.fs.cat_file(location.path(uri), start=0, end=int(size))  # the size is known: no HEAD
        new_uri = f"{_PACKS}{uuid.uuid4().hex}.pack"
        new_offsets, parts, at = {}, [], 0
        for offset, length in ranges:
            parts.append(old[offset : offset + length])
            new_offsets[(offset, length)] = at
            at += length
        location.write_bytes(location.path(new_uri), b"".join(parts))  # before any row points at it
        for table, per_file in data.items():
            for i, rows in enumerate(per_file):
                for row in rows:
                    for blob in _blobs_of(row):
                        if blob["uri"] == uri:
                            blob.update(uri=new_uri, offset=new_offsets[(int(blob["offset"] or 0), int(blob["length"]))])
                            changed.add((table, i))
    return changed
