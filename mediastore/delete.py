"""Deleting rows by rule, and whole runs, through the commit protocol of catalog.py.

**Rows.** ``delete_rows`` deletes the rows of finished or crashed runs that a SQL predicate
matches. For each run it first compacts the run (compact.compact_run: the writers' hidden
files are merged into the run's published files, and are dead from then on), then rewrites
each published file that holds matching rows *under its own name*, without them, in one
atomic write (os.replace; one PUT), keeping its Parquet metadata (``mediastore.replaces``,
``mediastore.group``): the format-4 rewrite compaction does for a resumed run. A reader,
with mediastore or without (pyarrow, Spark, which read the published files), sees each file
before or after, never a row twice: the rows a rewrite drops are in no other live file. The
file's listed version changes, so the runs index and the project files no longer stand for
the run (catalog.py); readers read the run's own files until the next ``mediastore compact``.

**Runs.** ``delete_run`` compacts the run, then removes its files table by table (the data
tables first, the run records last); in each table the dead hidden files go before the
published ones (else a hidden file would come back to life). Then the project's runs index is
written anew without the run. README "Deleting rows and runs" says what a reader sees meanwhile.

Running runs are refused (`RunRunningError`): their writer may still write rows, and the
compaction that a delete needs is only safe when no writer writes the run. The blobs the
deleted rows pointed at stay until blob garbage collection (blobgc.py) frees them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from .catalog import Catalog, is_compacted_name
from .compact import compact_run
from .errors import InvalidArgumentError, InvalidQueryError, RunNotFoundError, RunRunningError
from .records import index_runs, read_run_record
from .schema import schema_for, table_names
from .storage import StoreLocation, partition_of, validate_name

__all__ = ["DeleteReport", "delete_rows", "delete_run", "check_rule", "blob_tables", "blob_structs", "blob_columns"]

#: The common columns of the ``media`` view (query.py), which ``where`` may name there.
_MEDIA_COLUMNS = ("kind", "project", "run_id", "step", "key", "idx", "logged_at", "blob")
_ROW = "__ms_row"


@dataclass
class DeleteReport:
    """What a delete removed (or, with ``dry_run``, would remove).

    Attributes
    ----------
    rows : dict
        Table -> rows deleted.
    blob_bytes : int
        Bytes of the distinct blobs the deleted rows point at (masks and a table's media cells
        included). Blob garbage collection frees those no other row points at.
    files : int
        Files rewritten (rows), or removed (runs: every file of the run, also the hidden files
        a compaction replaced and has not deleted yet).
    runs : list
        (project, run_id) of every run touched.
    dry_run : bool
        Nothing was changed.
    """

    rows: dict[str, int] = field(default_factory=dict)
    blob_bytes: int = 0
    files: int = 0
    runs: list[tuple[str, str]] = field(default_factory=list)
    dry_run: bool = False

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def summary(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        per_table = ", ".join(f"{t}: {n}" for t, n in sorted(self.rows.items()) if n) or "no rows"
        runs = ", ".join(f"{p}/{r}" for p, r in self.runs) or "none"
        return (f"{verb} {self.total_rows} rows ({per_table}) pointing at {self.blob_bytes} bytes of blobs, "
                f"in {self.files} files of runs {runs}")


# -- blob structs inside Arrow data ---------------------------------------------------------
def _is_blob_type(t: pa.DataType) -> bool:
    return pa.types.is_struct(t) and {"uri", "sha256"} <= {t.field(i).name for i in range(t.num_fields)}


def _holds_blobs(t: pa.DataType) -> bool:
    if _is_blob_type(t):
        return True
    if pa.types.is_struct(t):
        return any(_holds_blobs(t.field(i).type) for i in range(t.num_fields))
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _holds_blobs(t.value_type)
    return False


def blob_columns(schema: pa.Schema) -> list[str]:
    """The top-level columns of ``schema`` that hold blob structs (at any depth)."""
    return [f.name for f in schema if _holds_blobs(f.type)]


def blob_tables() -> list[str]:
    """The tables whose rows point at blobs."""
    return [t for t in table_names() if blob_columns(schema_for(t).file_schema)]


def _structs(array: pa.Array):
    t = array.type
    if _is_blob_type(t):
        yield array
    elif pa.types.is_struct(t):
        for child in array.flatten():
            yield from _structs(child)
    elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        yield from _structs(array.flatten())


def blob_structs(table: pa.Table) -> list[dict]:
    """Every non-null blob struct in ``table`` (columns, lists of structs, structs of lists), as
    dicts with ``uri``, ``offset``, ``length``, ``sha256``, ``mime``."""
    out = []
    for name in blob_columns(table.schema):
        for chunk in table.column(name).chunks:
            for structs in _structs(chunk):
                out.extend(s for s in structs.to_pylist() if s is not None and s.get("uri"))
    return out


def _distinct_bytes(structs: list[dict]) -> int:
    return sum(int(length or 0) for _, _, length in {(s["uri"], s.get("offset"), s.get("length")) for s in structs})


# -- the predicate -------------------------------------------------------------------------
def _view_columns(table: str, view: str) -> list[str]:
    file_columns = [c for c in schema_for(table).file_schema.names if c not in ("project", "run_id")]
    columns = ["project", "run_id", *file_columns] + (["kind"] if "kind" not in file_columns else [])
    return [c for c in columns if c in _MEDIA_COLUMNS] if view == "media" else columns


def _connect(con):
    """A DuckDB connection for evaluating rules: ``con`` if given (a Store's cursor: opening a
    new database costs about 15 ms), else a new in-memory one."""
    import duckdb

    return con if con is not None else duckdb.connect()


def _matching(rows: pa.Table, table: str, view: str, project: str, run_id: str, where: str, con) -> np.ndarray:
    """Which rows of one run file ``where`` matches, as the view ``view`` shows them."""
    import duckdb

    n = rows.num_rows
    columns = {c: rows.column(c) for c in rows.column_names if c not in ("project", "run_id")}
    columns.update(project=pa.array([project] * n, pa.string()), run_id=pa.array([run_id] * n, pa.string()),
                   kind=pa.array([table] * n, pa.string()))
    columns[_ROW] = pa.array(np.arange(n, dtype=np.int64))
    wanted = [c for c in _view_columns(table, view) if c in columns] + [_ROW]
    frame = pa.table({c: columns[c] for c in wanted})
    try:
        con.register("__ms_rows", frame)
        picked = con.execute(f'SELECT "{_ROW}" FROM __ms_rows WHERE ({where})').fetchnumpy()[_ROW]
    except duckdb.Error as exc:
        raise InvalidQueryError(
            f"the delete rule {where!r} does not apply to the {view} view ({str(exc).splitlines()[0]}); write a SQL condition over its "
            f"columns ({', '.join(c for c in wanted if c != _ROW)}), as in store.sql('SELECT * FROM {view} WHERE ...')"
        ) from None
    finally:
        con.unregister("__ms_rows")
    mask = np.zeros(n, dtype=bool)
    mask[np.asarray(picked, dtype=np.int64)] = True
    return mask


def _check_where(where: object, view: str) -> str:
    if not isinstance(where, str) or not where.strip():
        raise InvalidArgumentError(
            f"delete needs a rule: where={where!r}; pass a SQL condition over the {view} view, e.g. "
            "where=\"step % 10 <> 0 AND project = 'p'\" (delete_run deletes a whole run)"
        )
    if ";" in where:
        raise InvalidArgumentError(f"the delete rule {where!r} holds ';': pass one SQL condition, not statements")
    return where


def check_rule(view: str, where: str, con=None) -> list[str]:
    """The tables ``view`` covers, once ``where`` is checked: a probe of the rule on no rows
    makes a bad column or syntax an error before anything changes."""
    _check_where(where, view)
    tables = _tables_of(view)
    con = _connect(con)
    for table in tables:
        _matching(schema_for(table).file_schema.empty_table(), table, view, "", "", where, con)
    return tables


def _tables_of(view: str) -> list[str]:
    if view == "media":
        return blob_tables()
    if view == "runs":
        raise InvalidArgumentError("rows of the runs table are a run's records: delete the run with "
                                   "store.delete_run(run_id) or `mediastore delete --run RUN`")
    if view not in table_names():
        raise InvalidArgumentError(f"no table {view!r} to delete from; use one of "
                                   f"{', '.join(t for t in table_names() if t != 'runs')} or media")
    return [view]


def refuse_running(location: StoreLocation, project: str, run_id: str, catalog: Catalog) -> dict | None:
    """The run's newest record; raises `RunRunningError` if its state is running."""
    record = read_run_record(location, project, run_id, catalog=catalog)
    if record is not None and record["state"] == "running":
        age = (time.time_ns() // 1000 - record["updated_at"]) / 1e6
        raise RunRunningError(
            f"run {run_id!r} of project {project!r} is running (its last record is {age:.0f} s old): its rows cannot be "
            "deleted while a writer may still write them — wait until it finishes; if its writer died, run "
            "`mediastore recover` on that machine (or resume the run and finish it) first"
        )
    return record


# -- rows ----------------------------------------------------------------------------------
def delete_rows(
    location: StoreLocation,
    view: str,
    where: str,
    *,
    runs: list[tuple[str, str]] | None = None,
    dry_run: bool = False,
    catalog: Catalog | None = None,
    con=None,
) -> DeleteReport:
    """Delete the rows of ``view`` (a data table, or ``media``: every table with blobs) that
    ``where`` matches, in finished or crashed runs; the module docstring has how.

    ``runs``: the (project, run_id) that may hold matching rows (the Store finds them with
    one query); None looks at every run of the tables. Every run is checked before anything
    changes: one that is running raises `RunRunningError` and nothing is deleted. ``con``: a
    DuckDB connection to evaluate the rule with (default: a new one).
    """
    con = _connect(con)
    tables = check_rule(view, where, con)
    catalog = catalog or Catalog(location)
    by_table: dict[str, list[tuple[str, str]]] = {}
    for table in tables:
        found = sorted({partition_of(f) for f in catalog.table_listing(table).files})
        by_table[table] = [run for run in found if runs is None or run in set(runs)]
    touched = sorted({run for found in by_table.values() for run in found})
    for project, run_id in touched:
        refuse_running(location, project, run_id, catalog)
    report = DeleteReport(dry_run=dry_run)
    structs: list[dict] = []
    for table in tables:
        for project, run_id in by_table[table]:
            if not dry_run:
                compact_run(location, project, run_id, tables=[table], catalog=catalog)
            for path in catalog.live_files(table, project, run_id):
                rows = catalog.read_tables([path])[0]
                mask = _matching(rows, table, view, project, run_id, where, con)
                if not mask.any():
                    continue
                report.rows[table] = report.rows.get(table, 0) + int(mask.sum())
                structs.extend(blob_structs(rows.filter(pa.array(mask))))
                report.files += 1
                if (project, run_id) not in report.runs:
                    report.runs.append((project, run_id))
                if not dry_run:
                    _rewrite_without(location, path, rows, mask, catalog.listed_size(path))
    report.runs.sort()
    report.blob_bytes = _distinct_bytes(structs)
    return report


def _rewrite_without(location: StoreLocation, path: str, rows: pa.Table, mask: np.ndarray, old_size: int | None = None) -> None:
    """Write a published file anew under its own name without the masked rows, keeping its
    metadata (what it replaces, its group): one atomic write. ``old_size``: its size in the
    listing just made (`Catalog.listed_size`), which saves asking for it (a HEAD on a bucket)."""
    name = path.rsplit("/", 1)[1]
    if not is_compacted_name(name):  # compact_run merged the hidden files just before: another writer is at work
        raise RunRunningError(f"{path} is a writer's hidden file that the run's compaction did not merge: a writer "
                              "is writing the run again (a resume?) — delete once it has finished")
    from .compact import rewrite_published

    table = path.rsplit("/", 4)[-4]  # <root>/<table>/project=<p>/run=<r>/<name>
    rewrite_published(location, table, path, rows.filter(pa.array(~mask)),  # its size changes: catalog.ident
                      old_size=old_size)


# -- whole runs ----------------------------------------------------------------------------
def find_project(catalog: Catalog, run_id: str, project: str | None) -> str:
    """The project of ``run_id`` (checked against ``project`` when given)."""
    validate_name(run_id, "run_id")
    if project is not None:
        validate_name(project, "project")
    listing = catalog.runs_listing(project)
    projects = sorted({p for p, r in map(partition_of, listing.records) if r == run_id})
    if not projects:
        where = f" of project {project!r}" if project is not None else ""
        raise RunNotFoundError(f"no run {run_id!r}{where} in the store at {catalog.location.uri}; store.runs() lists the runs")
    if len(projects) > 1:
        raise InvalidArgumentError(f"run {run_id!r} exists in projects {projects}; pass project= (--project) to say which")
    return projects[0]


def delete_run(location: StoreLocation, run_id: str, *, project: str | None = None, dry_run: bool = False,
               catalog: Catalog | None = None) -> DeleteReport:
    """Delete every row of a finished or crashed run, of every table, and its records; the
    module docstring has the order. Raises `RunRunningError` for a running run,
    `RunNotFoundError` for an unknown one."""
    catalog = catalog or Catalog(location)
    project = find_project(catalog, run_id, project)
    refuse_running(location, project, run_id, catalog)
    report = DeleteReport(dry_run=dry_run, runs=[(project, run_id)])
    structs: list[dict] = []
    order = [t for t in table_names() if t != "runs"] + ["runs"]
    for table in order:
        live = catalog.live_files(table, project, run_id)
        if not live:
            continue
        report.rows[table] = sum(catalog.footer(f).num_rows for f in live)
        if table in blob_tables():
            for rows in catalog.read_tables(live, columns=blob_columns(schema_for(table).file_schema)):
                structs.extend(blob_structs(rows))
    report.blob_bytes = _distinct_bytes(structs)
    if dry_run:
        report.files = sum(len(catalog._list(location.partition_dir(t, project, run_id))) for t in order)
        return report
    compact_run(location, project, run_id, catalog=catalog)
    for table in order:
        directory = location.partition_dir(table, project, run_id)
        present = catalog._list(directory)
        # Dead hidden files first: without the published file that replaces them they would be live again.
        hidden = [p for p in present if not is_compacted_name(p.rsplit("/", 1)[1])]
        published = [p for p in present if is_compacted_name(p.rsplit("/", 1)[1])]
        for path in hidden + published:
            try:
                location.fs.rm_file(path)
            except FileNotFoundError:
                pass
            report.files += 1
        if location.is_local:
            import os

            try:
                os.rmdir(directory)
            except OSError:
                pass  # not empty (a file not ours to judge) or gone
    fresh = Catalog(location)
    if fresh.runs_listing(project).index:
        index_runs(location, project, catalog=fresh)  # the runs index anew, without the run
    return report
