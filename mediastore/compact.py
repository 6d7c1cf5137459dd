"""Compaction: merge a run's many small Parquet files into few large ones, safely under
concurrent readers (the protocol is in catalog.py), and delete what earlier compactions
replaced once no query can still be reading it.

Writers name their files with a leading ``_`` (hidden from Dask, Spark and Trino, which do
not know the catalog); compaction merges only those and writes plain names, and never
replaces a published file. So an engine without mediastore sees each finished run exactly
once, also during the grace period in which mediastore keeps the replaced files for its own
readers; a resumed run gets one more published file per resume.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .catalog import Catalog, compacted_metadata
from .records import index_runs, read_run_record
from .schema import schema_for, table_names
from .storage import StoreLocation, partition_of, validate_name

__all__ = ["compact_run", "compact_store", "CompactionReport", "TARGET_FILE_BYTES", "GRACE_SECONDS"]

#: Largest output file (uncompressed Arrow bytes): big enough that a run is one file almost
#: always, small enough that one file is never a memory problem for a reader.
TARGET_FILE_BYTES = 128 * 1024 * 1024
#: How long replaced files stay after the compaction that replaced them: longer than any query
#: that listed them before the commit can take.
GRACE_SECONDS = 300.0


@dataclass
class CompactionReport:
    merged: dict[str, int] = field(default_factory=dict)  # table -> files merged
    deleted: int = 0
    indexed: int = 0  # runs in the runs indexes written

    def __iadd__(self, other: "CompactionReport") -> "CompactionReport":
        for k, v in other.merged.items():
            self.merged[k] = self.merged.get(k, 0) + v
        self.deleted += other.deleted
        self.indexed += other.indexed
        return self


def _read(location: StoreLocation, path: str) -> pa.Table:
    with location.fs.open(path, "rb") as fh:
        return pq.read_table(fh)


def compact_run(
    location: StoreLocation,
    project: str,
    run_id: str,
    *,
    tables: list[str] | None = None,
    catalog: Catalog | None = None,
    grace_seconds: float = GRACE_SECONDS,
    target_bytes: int = TARGET_FILE_BYTES,
) -> CompactionReport:
    """Compact every table of one run: delete files replaced more than ``grace_seconds`` ago,
    then merge the live files of each table that has more than one into step-sorted outputs.

    Safe while readers query; not while a writer writes the same run (the writer compacts its
    own run when it finishes; ``mediastore compact`` skips runs whose state is running).
    """
    catalog = catalog or Catalog(location)
    report = CompactionReport()
    now = time.time()
    for table in tables if tables is not None else table_names():
        for path, committed_at in catalog.replaced_files(table, project, run_id):
            if now - committed_at >= grace_seconds:
                location.fs.rm(path)
                report.deleted += 1
        # Only the writers' hidden files are merged: a published file is never replaced, so an
        # engine without the catalog never sees a row twice (a resumed run gains a second file).
        hidden = [f for f in catalog.live_files(table, project, run_id) if f.rsplit("/", 1)[1].startswith("_")]
        if not hidden:
            continue
        live = hidden
        merged = pa.concat_tables([_read(location, f) for f in live], promote_options="default")
        key = "step" if "step" in merged.column_names else "updated_at"
        if not _is_sorted(merged.column(key)):
            merged = merged.sort_by(key)  # stable: rows of one step keep their order
        _write_outputs(location, table, project, run_id, merged, [f.rsplit("/", 1)[1] for f in live], target_bytes)
        report.merged[table] = len(live)
    return report


def _is_sorted(column: pa.ChunkedArray) -> bool:
    values = column.to_numpy()
    return bool(np.all(values[1:] >= values[:-1])) if column.null_count == 0 else False


def _write_outputs(location, table, project, run_id, merged: pa.Table, replaces: list[str], target_bytes: int = TARGET_FILE_BYTES,
                   token: str | None = None) -> None:
    token = "m" + (token or uuid.uuid4().hex[:8])
    rows_per_part = max(1, int(merged.num_rows * target_bytes / max(merged.nbytes, 1)))
    parts = [merged.slice(start, rows_per_part) for start in range(0, merged.num_rows, rows_per_part)] or [merged]
    step_column = "step" if "step" in merged.column_names else "last_step"
    names = []
    for i, part in enumerate(parts):
        bounds = pc.min_max(part.column(step_column))
        low, high = bounds["min"].as_py() or 0, bounds["max"].as_py() or 0
        names.append(f"{low:012d}-{high:012d}-{token}-{i:06d}.parquet")
    schema = schema_for(table)
    metadata = {**schema.metadata, **compacted_metadata(replaces, names)}
    directory = location.partition_dir(table, project, run_id)
    for name, part in zip(names, parts):
        location.write_parquet(f"{directory}/{name}", part.replace_schema_metadata(metadata))


def compact_store(
    location: StoreLocation,
    *,
    project: str | None = None,
    run_id: str | None = None,
    grace_seconds: float = GRACE_SECONDS,
    include_running: bool = False,
) -> CompactionReport:
    """Compact every finished or crashed run of the store, or only ``project`` / ``run_id``.
    Running runs are skipped (their writer compacts them at finish) unless ``include_running``.
    Then (unless ``run_id`` is given) write each project's runs index anew where runs finished
    since the last one (records.index_runs), and delete index files replaced longer than
    ``grace_seconds`` ago."""
    catalog = Catalog(location)
    listing = catalog.runs_listing(validate_name(project, "project") if project else None)
    runs = {partition_of(path) for path in listing.records}
    if run_id is not None:
        runs = {(p, r) for p, r in runs if r == validate_name(run_id, "run_id")}
    report = CompactionReport()
    for p, r in sorted(runs):
        record = read_run_record(location, p, r, catalog=catalog)
        if record is not None and record["state"] == "running" and not include_running:
            continue
        report += compact_run(location, p, r, catalog=catalog, grace_seconds=grace_seconds)
    if run_id is None:
        # The runs index, after the records were compacted, so that it names their outputs.
        now = time.time()
        for p in sorted({p for p, _ in runs} | {partition_of_index(path) for path in listing.index}):
            for path, committed_at in catalog.replaced_files("runs", p, None):
                if now - committed_at >= grace_seconds:
                    location.fs.rm(path)
                    report.deleted += 1
            report.indexed += index_runs(location, p, catalog=catalog)
    return report


def partition_of_index(path: str) -> str:
    """The project of a runs index file (``runs/project=<p>/_index/<name>``)."""
    return path.rsplit("/", 3)[1].split("=", 1)[1]
