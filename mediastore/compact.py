"""Compaction: merge a run's many small Parquet files into few large ones, safely under
concurrent readers (the protocol is in catalog.py), and delete what earlier compactions
replaced once no query can still be reading it.

Writers name their files with a leading ``_`` (hidden from Dask, Spark and Trino, which do
not know the catalog); compaction merges only those, and publishes them under plain names:
a run's first compaction as new files; a resumed run's, into the run's last published file,
rewritten under its own name with one atomic PUT (format 4; catalog.py has how readers
handle the versions). Adding the new rows to a published file, never moving rows between
published files, is what keeps an engine without mediastore from seeing a row twice or
missing one at any moment: it sees a run's published file before the rewrite or after it.
Only when the merged file would pass ``TARGET_FILE_BYTES`` does a resume get a file of its
own. A run resumed five times thus ends with one file per table.

``compact_store`` then writes, per project and data table, a *project file* (catalog.py has
the reading rule): the rows of every finished or crashed run in one hidden ``_index/`` file
set, so that a query over many runs reads a few files instead of one per run. It stores
those rows a second time.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field

from ._lazy import np, pa
from .catalog import (COVERS_KEY, INDEX_DIR, REPLACES_KEY, Catalog, compacted_metadata, compacted_name, is_compacted_name,
                      project_of_index)
from .records import INDEX_DONE_STATES, index_runs, read_run_record
from .schema import schema_for, table_names
from .storage import StoreLocation, parquet_bytes, partition_of, validate_name

__all__ = ["compact_run", "compact_store", "write_project_file", "CompactionReport", "TARGET_FILE_BYTES", "GRACE_SECONDS"]

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
    project_files: int = 0  # project files (one per project and table, of one or more parts) written
    deduplicated: int = 0  # packed blobs of finished runs pointed at the canonical copy of their bytes (dedup.py)
    garbage_bytes: int = 0  # bytes of the copies no row points at any more since (`mediastore gc` frees them)

    def __iadd__(self, other: "CompactionReport") -> "CompactionReport":
        for k, v in other.merged.items():
            self.merged[k] = self.merged.get(k, 0) + v
        self.deleted += other.deleted
        self.indexed += other.indexed
        self.project_files += other.project_files
        self.deduplicated += other.deduplicated
        self.garbage_bytes += other.garbage_bytes
        return self


def _delete_replaced(location: StoreLocation, catalog: Catalog, table: str, project: str, run_id: str | None,
                     grace_seconds: float, now: float, listed: set[str] | None = None) -> set[str]:
    """Delete the files of one run (or, with ``run_id`` None, of the project's ``_index``) that
    a committed compaction replaced more than ``grace_seconds`` before ``now``; which.
    ``listed``: the run's files, from `Catalog.run_files`."""
    deleted = set()
    for path, committed_at in catalog.replaced_files(table, project, run_id, listed=listed):
        if now - committed_at >= grace_seconds:
            location.fs.rm(path)
            deleted.add(path)
    return deleted


def _split(merged: pa.Table, target_bytes: int) -> list[tuple[int, pa.Table]]:
    """(first row, part) slices of ``merged`` of at most about ``target_bytes`` each; one empty
    part for an empty table."""
    rows_per_part = max(1, int(merged.num_rows * target_bytes / max(merged.nbytes, 1)))
    return [(start, merged.slice(start, rows_per_part)) for start in range(0, merged.num_rows, rows_per_part) or [0]]


def compact_run(
    location: StoreLocation,
    project: str,
    run_id: str,
    *,
    tables: list[str] | None = None,
    catalog: Catalog | None = None,
    grace_seconds: float = GRACE_SECONDS,
    target_bytes: int = TARGET_FILE_BYTES,
    writer: str | None = None,
) -> CompactionReport:
    """Compact every table of one run: delete files replaced more than ``grace_seconds`` ago,
    then merge the writers' hidden files of each table: into the run's last published file,
    rewritten under its name, when the two fit in ``target_bytes``; else into new published
    files (the module docstring has why).

    ``writer``: only that writer's hidden files, into its own published files (a process of a
    shared run finishing while others write on: no two compactions then touch one file).

    Safe while readers query; not while a writer writes the same run (the writer compacts its
    own run when it finishes; ``mediastore compact`` skips runs whose state is running).
    """
    catalog = catalog or Catalog(location)
    report = CompactionReport()
    now = time.time()
    for table in tables if tables is not None else table_names():
        # One listing of the run's folder for both steps (on a bucket, a request each): between
        # them its files change only by the deletes made here (the writer compacts its own run
        # at finish, `writer` its own files only: others' new files are not its to merge).
        listed = None if location.is_local else catalog.run_files(table, project, run_id)
        deleted = _delete_replaced(location, catalog, table, project, run_id, grace_seconds, now, listed)
        report.deleted += len(deleted)
        live = catalog.live_files(table, project, run_id, listed=None if listed is None else listed - deleted)
        if writer is not None:
            live = [f for f in live if _writer_of(f.rsplit("/", 1)[1]) == writer]
        hidden = [f for f in live if f.rsplit("/", 1)[1].startswith("_")]
        if not hidden:
            continue
        published = [f for f in live if not f.rsplit("/", 1)[1].startswith("_")]
        last = max(published, key=lambda f: f.rsplit("/", 1)[1]) if published else None
        read = catalog.read_tables(([last] if last else []) + hidden)
        hidden_names = [f.rsplit("/", 1)[1] for f in hidden]
        if last is not None and sum(t.nbytes for t in read) <= target_bytes:
            _rewrite(location, table, last, read[0], read[1:], hidden_names, catalog.listed_size(last))  # the version just read
        else:
            _write_outputs(location, table, project, run_id, _merged(read[1:] if last else read), hidden_names, target_bytes,
                           token=writer)
        report.merged[table] = len(hidden)
    return report


def _needs_work(catalog: Catalog, table: str, project: str, run_id: str, files: set[str], grace_seconds: float, now: float) -> bool:
    """Whether `compact_run` would do anything to one run's folder of ``table`` holding ``files``:
    a replaced file past its grace period to delete, or a writer's hidden file to merge."""
    if len(files) == 1 and is_compacted_name(next(iter(files)).rsplit("/", 1)[1]):
        return False  # one published file: nothing to read to know
    if any(now - at >= grace_seconds for _, at in catalog.replaced_files(table, project, run_id, listed=files)):
        return True
    return any(f.rsplit("/", 1)[1].startswith("_") for f in catalog.live_files(table, project, run_id, listed=files))


def _writer_of(name: str) -> str:
    """The writer token in a file name: ``_<first>-<last>-<token>-<batch>``, ``<first>-<last>-
    m<token>-<part>``, a record's ``_<updated_at>-<token>`` or ``_heartbeat-<token>``."""
    parts = name[: -len(".parquet")].split("-")
    if len(parts) >= 4:
        return parts[2][1:] if is_compacted_name(name) else parts[2]
    return parts[-1]


def _merged(tables: list[pa.Table]) -> pa.Table:
    """Rows of several files of one run in one table sorted by step (stable: rows of one step
    keep their order), without the files' Parquet metadata."""
    merged = pa.concat_tables([t.replace_schema_metadata(None) for t in tables], promote_options="default")
    key = "step" if "step" in merged.column_names else "updated_at"
    return merged if _is_sorted(merged.column(key)) else merged.sort_by(key)


def _rewrite(location: StoreLocation, table: str, path: str, published: pa.Table, hidden: list[pa.Table], hidden_names: list[str],
             old_size: int | None = None) -> None:
    """Merge hidden files into a published file by writing it anew under its own name: one
    atomic PUT (os.replace on a local folder), so an engine without the catalog reads its old
    rows or all of them. Its ``replaces`` keeps what it replaced before (still dead for the
    grace period) and adds ``hidden_names``. The old ``replaces`` come from the version just
    read, so a compaction of the same run racing this one can only leave files live whose rows
    its own output lacks."""
    merged = _merged([published, *hidden]).replace_schema_metadata(published.schema.metadata)
    rewrite_published(location, table, path, merged, also_replaces=hidden_names, old_size=old_size)


def rewrite_published(location: StoreLocation, table: str, path: str, rows: pa.Table, *, also_replaces: list[str] = (),
                      old_size: int | None = None) -> None:
    """Write the published file ``path`` anew under its own name with ``rows``: one atomic PUT
    (os.replace on a folder), so every reader, with or without mediastore, reads the old
    version or the new one (catalog.py: readers key a published file by its version). ``rows``
    carry the Parquet metadata of the version they were read from: its ``replaces`` are kept
    (those files stay dead for their grace period), plus ``also_replaces``. ``old_size``: the
    size of that version when the caller's listing gave it (else it is asked for: a HEAD)."""
    before = json.loads((rows.schema.metadata or {}).get(REPLACES_KEY, b"[]"))
    rows = _conform(rows.replace_schema_metadata(None), schema_for(table).file_schema.remove_metadata())
    name = path.rsplit("/", 1)[1]
    metadata = {**schema_for(table).metadata, **compacted_metadata(sorted(set(before) | set(also_replaces)), [name])}
    if old_size is None:
        try:
            old_size = int(location.fs.info(path)["size"])
        except FileNotFoundError:
            old_size = -1
    data = parquet_bytes(rows.replace_schema_metadata(metadata))
    if len(data) == old_size:
        # The indexes tell versions of a published file by its size (catalog.ident): a rewrite
        # must change it. A byte of padding in the metadata does.
        data = parquet_bytes(rows.replace_schema_metadata({**metadata, b"mediastore.pad": b" "}))
    location.raise_format_version()
    location.write_bytes(path, data)


def _is_sorted(column: pa.ChunkedArray) -> bool:
    values = column.to_numpy()
    return bool(np.all(values[1:] >= values[:-1])) if column.null_count == 0 else False


def _step_bounds(column: pa.ChunkedArray) -> tuple[int, int]:
    """Lowest and highest step of a column, NULLs left out (0 for none), without
    pyarrow.compute (about 30 ms to import, and every run's finish comes here) or a
    conversion that imports pandas: chunks without NULLs as numpy views, the rest (the few
    run records, whose last_step may be NULL) as Python ints."""
    lows, highs = [], []
    for chunk in column.chunks:
        if chunk.null_count == 0:
            values = chunk.to_numpy()
            if values.size:
                lows.append(int(values.min()))
                highs.append(int(values.max()))
        else:
            values = [v for v in chunk.to_pylist() if v is not None]
            if values:
                lows.append(min(values))
                highs.append(max(values))
    return (min(lows), max(highs)) if lows else (0, 0)


def _write_outputs(location, table, project, run_id, merged: pa.Table, replaces: list[str], target_bytes: int = TARGET_FILE_BYTES,
                   token: str | None = None) -> None:
    token = token or uuid.uuid4().hex[:8]
    # The newest schema's columns (NULL where older files lacked them): the metadata names it.
    merged = _conform(merged.replace_schema_metadata(None), schema_for(table).file_schema.remove_metadata())
    parts = [part for _, part in _split(merged, target_bytes)]
    step_column = "step" if "step" in merged.column_names else "last_step"
    names = []
    for i, part in enumerate(parts):
        low, high = _step_bounds(part.column(step_column))
        names.append(compacted_name(low, high, token, i))
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
    since the last one (records.index_runs), and each project's project file of every data
    table anew where its finished or crashed runs' files changed (`write_project_file`), and
    delete index and project files replaced longer than ``grace_seconds`` ago."""
    catalog = Catalog(location)
    listing = catalog.runs_listing(validate_name(project, "project") if project else None)
    runs = {partition_of(path) for path in listing.records}
    if run_id is not None:
        runs = {(p, r) for p, r in runs if r == validate_name(run_id, "run_id")}
    report = CompactionReport()
    done: dict[str, set[str]] = {}
    # A run whose every record file a live runs index row stands for has that row as its
    # record (the row is the combined newest record of those files): no file read per run.
    uncovered = {partition_of(path) for path in listing.uncovered}
    indexed = {}
    for table in catalog.read_tables(listing.index, columns=["project", "run_id", "state"]):
        for key, state in zip(zip(table.column("project").to_pylist(), table.column("run_id").to_pylist()),
                              table.column("state").to_pylist()):
            indexed[key] = None if key in indexed else {"state": state}  # in two index files: read the run
    # On a bucket, which runs' folders need work: one listing of each table's project folder
    # instead of one of each run's (at 20 ms a request, 10,000 runs' folders of 13 tables took
    # 43 minutes to list one by one). A run that needs work lists its folder again, as it is
    # now: this listing may be minutes old when the run's turn comes.
    to_do: dict[tuple[str, str], list[str]] | None = None
    if not location.is_local and len(runs) > 1:
        to_do, now = {}, time.time()
        for p in sorted({p for p, _ in runs}):
            for table in table_names():
                for r, files in catalog.files_by_run(table, p).items():
                    if _needs_work(catalog, table, p, r, files, grace_seconds, now):
                        to_do.setdefault((p, r), []).append(table)
    for p, r in sorted(runs):
        if indexed.get((p, r)) is not None and (p, r) not in uncovered:
            record = indexed[(p, r)]
        else:
            record = read_run_record(location, p, r, catalog=catalog)
        if record is not None and record["state"] in INDEX_DONE_STATES:
            done.setdefault(p, set()).add(r)
        if record is not None and record["state"] == "running" and not include_running:
            continue
        tables = None if to_do is None else to_do.get((p, r), [])
        if tables is None or tables:
            report += compact_run(location, p, r, tables=tables, catalog=catalog, grace_seconds=grace_seconds)
    if run_id is None:
        # Blobs logged by several runs: one copy (dedup.py), before the project files read the rows.
        from .dedup import dedup_project

        for p in sorted(done):
            found = dedup_project(location, p, done[p], catalog=catalog)
            report.deduplicated += found.blobs
            report.garbage_bytes += found.bytes
        # The runs index, after the records were compacted, so that it names their outputs.
        now = time.time()
        for p in sorted({p for p, _ in runs} | {project_of_index(path) for path in listing.index}):
            report.deleted += len(_delete_replaced(location, catalog, "runs", p, None, grace_seconds, now))
            report.indexed += index_runs(location, p, catalog=catalog)
            for table in table_names():
                if table == "runs":
                    continue
                report.deleted += len(_delete_replaced(location, catalog, table, p, None, grace_seconds, now))
                report.project_files += write_project_file(location, p, table, done.get(p, set()), catalog=catalog)
    return report


def project_file_schema(table: str) -> pa.Schema:
    """A project file's columns: ``run_id``, then the table's file columns."""
    schema = schema_for(table).file_schema
    return pa.schema([pa.field("run_id", pa.string(), nullable=False), *schema.remove_metadata()], metadata=schema.metadata)


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A run file's rows in ``schema``'s columns: a file of an older schema version lacks the
    newer columns, which become NULL, as the views read them."""
    if table.schema.remove_metadata() == schema:
        return table  # already so (no cast: it would import pyarrow.compute at every run's finish)
    columns = []
    for f in schema:
        if f.name not in table.column_names:
            columns.append(pa.nulls(table.num_rows, f.type))
        else:
            column = table.column(f.name)
            columns.append(column if column.type == f.type else column.cast(f.type))
    return pa.Table.from_arrays(columns, schema=schema)


def write_project_file(
    location: StoreLocation,
    project: str,
    table: str,
    done_runs: set[str],
    *,
    catalog: Catalog | None = None,
    target_bytes: int = TARGET_FILE_BYTES,
) -> int:
    """Write ``project``'s project file of ``table`` anew if the live files of its finished or
    crashed runs (``done_runs``) differ from what the live project file covers: their rows,
    sorted by (run_id, step), in parts of at most ``target_bytes``, naming the live project
    files they replace. Rows of runs the live project file stands for and that did not change
    are carried over from it without reading the runs' files. Returns 1 if written, else 0."""
    catalog = catalog or Catalog(location)
    listing = catalog.table_listing(table, project)
    names: dict[str, list[str]] = {}  # run -> the catalog.ident of each live file
    paths: dict[str, list[str]] = {}
    for path in listing.files:
        run = partition_of(path)[1]
        names.setdefault(run, []).append(catalog.ident(path))
        paths.setdefault(run, []).append(path)
    wanted = {run: sorted(n) for run, n in names.items() if run in done_runs}
    current: dict[str, list[str]] = {}
    for path in listing.index:
        for run in listing.taken[path]:
            current[run] = sorted(catalog.coverage(path)[run])
    groups = {catalog.info(path).group for path in listing.index}
    if wanted == current and len(groups) <= 1 and all(not s for s in listing.skip.values()):
        return 0  # the live project file stands for every done run, and for nothing else
    schema = project_file_schema(table)
    pieces = []
    carried: set[str] = set()
    for path in listing.index:
        keep = [r for r in listing.taken[path] if r in wanted]
        if keep:
            old = catalog.read_tables([path])[0]
            import pyarrow.compute as pc

            pieces.append(_conform(old.filter(pc.is_in(old.column("run_id"), pa.array(keep))), schema))
            carried.update(keep)
    fresh = [run for run in sorted(wanted) if run not in carried]
    tables = iter(catalog.read_tables([p for run in fresh for p in paths[run]]))
    for run in fresh:
        for _ in paths[run]:
            rows = next(tables)
            rows = rows.append_column(pa.field("run_id", pa.string(), nullable=False), pa.array([run] * rows.num_rows, pa.string()))
            pieces.append(_conform(rows, schema))
    merged = pa.concat_tables(pieces) if pieces else schema.empty_table()
    merged = merged.sort_by([("run_id", "ascending"), ("step", "ascending")]) if merged.num_rows else merged
    covers = {}
    for run in wanted:
        covers[run] = {}
        for path in paths[run]:
            name = path.rsplit("/", 1)[1]
            if is_compacted_name(name):
                info = catalog.info(path)
                covers[run][name] = [list(info.replaces), list(info.group), info.compacted_at, catalog.size_version(path)]
            else:
                covers[run][name] = None
    token = uuid.uuid4().hex[:8]
    split = _split(merged, target_bytes)
    parts = [part for _, part in split]
    part_names = [compacted_name(start, max(start + part.num_rows - 1, 0), token, i) for i, (start, part) in enumerate(split)]
    replaces = [path.rsplit("/", 1)[1] for path in listing.index]
    metadata = {**schema.metadata, **compacted_metadata(replaces, part_names), COVERS_KEY: json.dumps(covers).encode()}
    location.raise_format_version()
    directory = location.path(table, f"project={project}", INDEX_DIR)
    for name, part in zip(part_names, parts):
        location.write_parquet(f"{directory}/{name}", part.replace_schema_metadata(metadata))
    return 1

