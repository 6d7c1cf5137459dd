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

The copies no row points at any more are then garbage: ``mediastore gc`` removes a pack no
live row references. A canonical copy stays canonical at the next compaction (new runs log
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
        if any(f.rsplit("/", 1)[1].startswith("_") for f in chosen):
            chosen = [f for f in chosen if not any(g.rsplit("/", 1)[1].startswith("_") and partition_of(g) == partition_of(f)
                                                   for g in chosen)]  # a run not compacted yet waits
        files[table] = chosen
    # sha256 -> every copy, with when a row first pointed at it
    first_logged: dict[str, dict[tuple[str, int], tuple[int, dict]]] = {}
    read: dict[str, list[pa.Table]] = {}
    for table, paths in files.items():
        read[table] = catalog.read_tables(paths)
        for rows in read[table]:
            for row in rows.select([c for c in ("blob", "masks", "logged_at") if c in rows.column_names]).to_pylist():
                at = row["logged_at"].timestamp() if row.get("logged_at") is not None else 0.0
                for blob in _blobs_of(row):
                    if not blob["uri"].startswith(_PACKS) or not blob.get("sha256"):
                        continue
                    copies = first_logged.setdefault(blob["sha256"], {})
                    where = _where(blob)
                    if where not in copies or at < copies[where][0]:
                        copies[where] = (at, blob)
    canonical: dict[str, dict] = {}
    for digest, copies in first_logged.items():
        if len(copies) > 1:
            (_, best), *others = sorted(copies.items(), key=lambda item: (item[1][0], item[0]))
            canonical[digest] = best[1]
            report.bytes += sum(int(blob["length"] or 0) for _, (_, blob) in others)
    if not canonical:
        return report
    for table, paths in files.items():
        for path, rows in zip(paths, read[table]):
            data = rows.to_pylist()
            changed = 0
            for row in data:
                for blob in _blobs_of(row):
                    best = canonical.get(blob.get("sha256") or "")
                    if best is not None and _where(blob) != _where(best):
                        blob.update(uri=best["uri"], offset=best["offset"], length=best["length"])
                        changed += 1
            if changed:
                rewrite_published(location, table, path, pa.Table.from_pylist(data, schema=rows.schema))
                report.blobs += changed
                report.files += 1
    return report
