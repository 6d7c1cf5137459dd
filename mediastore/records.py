"""Run records: the rows of the ``runs`` table, one per state change or heartbeat of a run.

A record is a dict with the columns of ``schemas/runs.v1.json`` (times in microseconds since
the epoch). Each writer writes its records under ``runs/project=<p>/run=<r>/``:

- ``_<updated_at>-<writer token>.parquet``: one per state change, a new name each;
- ``_heartbeat-<writer token>.parquet``: the writer's latest heartbeat, rewritten in place
  under that one name (the only files of a store that ever change);

and a finishing writer publishes them as one compacted file (the commit protocol in
catalog.py). The newest record of a run (by ``updated_at``) is its state.

This module sits below the run, the writer, the spool and compaction, which all read or
write records; it imports only storage, schema and catalog.
"""

from __future__ import annotations

import io
import json

from ._lazy import pa
from ._plain_parquet import plain_parquet
from .catalog import Catalog, compacted_metadata, compacted_name
from .schema import schema_for
from .storage import StoreLocation

__all__ = ["write_run_record", "publish_records", "read_run_record", "records_table", "index_runs", "HEARTBEAT_PREFIX"]

#: Name prefix of the one record file a writer rewrites in place.
HEARTBEAT_PREFIX = "_heartbeat-"
_TIMES = ("started_at", "finished_at", "updated_at")


def records_table(records: list[dict], schema: pa.Schema) -> pa.Table:
    """Run records as an Arrow table through pyarrow's JSON reader: any Python-to-Arrow
    conversion makes pyarrow import pandas (about 0.15-0.4 s), which would double the time
    of ms.init for a process that never needs pandas."""
    import datetime as dt

    import pyarrow.json as pj

    def iso(us):
        return None if us is None else (dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=us)).isoformat(sep=" ")

    lines = []
    for record in records:
        row = dict(record)
        for field in _TIMES:
            row[field] = iso(row[field])
        lines.append(json.dumps(row))
    data = ("\n".join(lines) + "\n").encode()
    table = pj.read_json(io.BytesIO(data), parse_options=pj.ParseOptions(explicit_schema=schema)).select(schema.names)
    if all(a.type == b.type for a, b in zip(table.schema, schema)):
        # Only the fields' nullability differs: relabel. A cast would import pyarrow.compute
        # (about 30 ms, a third of ms.init) for nothing.
        return pa.Table.from_arrays(table.columns, schema=schema)
    return table.cast(schema)


def write_run_record(location: StoreLocation, project: str, run_id: str, token: str, record: dict, *, heartbeat: bool = False) -> str:
    """Write one record of a run (times in microseconds). A heartbeat replaces the writer's
    previous heartbeat (one fixed name); other records get a new name each. Returns the name."""
    schema = schema_for("runs")
    directory = location.partition_dir("runs", project, run_id)
    name = f"{HEARTBEAT_PREFIX}{token}.parquet" if heartbeat else f"_{record['updated_at']:016d}-{token}.parquet"
    location.write_bytes(f"{directory}/{name}", plain_parquet(schema.file_columns, [record], schema.metadata))
    return name


def publish_records(location: StoreLocation, project: str, run_id: str, token: str, records: list[dict], replaces: list[str]) -> str:
    """A writer's records of a run as one published file (a compaction output, catalog.py)
    that replaces the hidden record files ``replaces``; returns its name. Written without
    pyarrow, as compact._write_outputs would write them (one part: records are small)."""
    schema = schema_for("runs")
    steps = [r["last_step"] for r in records if r.get("last_step") is not None]
    name = compacted_name(min(steps, default=0), max(steps, default=0), token, 0)
    metadata = {**schema.metadata, **compacted_metadata(replaces, [name])}
    location.write_bytes(f"{location.partition_dir('runs', project, run_id)}/{name}",
                         plain_parquet(schema.file_columns, records, metadata))
    return name


def records_as_dicts(table: pa.Table) -> list[dict]:
    """Rows of a runs table as dicts, times as microseconds (no time zone guessing)."""
    for field in _TIMES:
        table = table.set_column(table.schema.get_field_index(field), field, table.column(field).cast(pa.int64()))
    return table.to_pylist()


def read_run_record(location: StoreLocation, project: str, run_id: str, *, catalog: Catalog | None = None,
                    process: str | None = None) -> dict | None:
    """A run as one record (times as microseconds; `combined_record`), or with ``process`` the
    newest record of that process of a shared run; None if there is none."""
    records = read_run_records(location, project, run_id, catalog=catalog)
    if not records:
        return None
    if process is not None:
        return newest_record_of(records, process)
    return combined_record(records)


def read_run_records(location: StoreLocation, project: str, run_id: str, *, catalog: Catalog | None = None) -> list[dict]:
    """Every live record of a run (times as microseconds); [] if the run does not exist."""
    catalog = catalog or Catalog(location)
    files = catalog.live_files("runs", project, run_id)
    if not files:
        return []
    return records_as_dicts(pa.concat_tables(catalog.read_tables(files), promote_options="default"))


def newest_record_of(records: list[dict], process: str | None) -> dict | None:
    """The newest of ``records`` written by ``process``."""
    mine = [r for r in records if r.get("process") == process]
    return max(mine, key=lambda r: r["updated_at"]) if mine else None


def combined_record(records: list[dict]) -> dict:
    """The newest record of a run, with the state of all its processes (a shared run has one
    writer per process, each with its own records; a run of one writer at a time has one,
    ``None``): ``running`` while any process's newest record is, else ``crashed`` if any
    is, else the newest's; ``last_step`` the highest. The runs view applies the same rule,
    after turning a running record whose heartbeat stopped into ``crashed``."""
    newest: dict = {}
    for record in records:
        key = record.get("process")
        if key not in newest or record["updated_at"] > newest[key]["updated_at"]:
            newest[key] = record
    out = dict(max(records, key=lambda r: r["updated_at"]))
    if len(newest) > 1:
        states = {r["state"] for r in newest.values()}
        out["state"] = "running" if "running" in states else "crashed" if "crashed" in states else out["state"]
        steps = [r["last_step"] for r in newest.values() if r.get("last_step") is not None]
        out["last_step"] = max(steps) if steps else None
        if out["state"] == "running":
            out["finished_at"] = None
    return out


# -- the runs index (format 2; the reading rule is in catalog.py) -----------------------------
INDEX_DONE_STATES = ("finished", "crashed")


def index_schema() -> pa.Schema:
    """An index file's columns: ``project``, ``run_id``, the record columns, ``record_files``."""
    schema = schema_for("runs")
    fields = [pa.field("project", pa.string(), nullable=False), pa.field("run_id", pa.string(), nullable=False)]
    fields += list(schema.file_schema.remove_metadata())
    fields.append(pa.field("record_files", pa.list_(pa.string())))
    # Format 4: the size of each record file as listed (catalog.ident), "" for hidden ones.
    fields.append(pa.field("record_versions", pa.list_(pa.string())))
    compaction = pa.struct([("name", pa.string()), ("replaces", pa.list_(pa.string())), ("group", pa.list_(pa.string())),
                            ("compacted_at", pa.float64())])
    fields.append(pa.field("record_compactions", pa.list_(compaction)))
    # Local folders: the run directory's stamp (catalog.py, "Run directory stamps"), or null.
    fields.append(pa.field("record_dir_stamp", pa.string()))
    return pa.schema(fields, metadata=schema.metadata)


def index_runs(location: StoreLocation, project: str, *, catalog: Catalog | None = None) -> int:
    """Write ``project``'s runs index anew if runs finished (or crashed, or changed) since the
    live one: the newest record of every such run, with the names of its live record files.
    Rows of runs the live index covers and that did not change are carried over without
    reading their records. Returns the runs the new index holds (0: nothing written).

    A running run is left out (its heartbeat changes); so is a run no record file is left of.
    """
    import uuid

    from .catalog import INDEX_DIR, compacted_metadata, ident, is_compacted_name, settled_dir_stamps
    from .storage import partition_of

    catalog = catalog or Catalog(location)
    # Before the listing: a stamp vouches for what was listed after it (catalog.py).
    stamps = settled_dir_stamps(location.path("runs", f"project={project}")) if location.is_local else {}
    listing = catalog.runs_listing(project)
    live_names: dict[str, set[str]] = {}
    versions: dict[tuple[str, str], str] = {}
    for path in listing.records:
        run, name = partition_of(path)[1], path.rsplit("/", 1)[1]
        live_names.setdefault(run, set()).add(name)
        versions[(run, name)] = catalog.size_version(path)
    uncovered: dict[str, list[str]] = {}
    for path in listing.uncovered:
        uncovered.setdefault(partition_of(path)[1], []).append(path)
    if (not uncovered and all(r in live_names for r in _index_runs(catalog, listing.index))
            and not _new_stamps(catalog, listing.index, stamps)):
        return 0  # the live index covers every done run already
    gathered: dict[str, list[dict]] = {}  # run -> its index row and its records on top
    for table in catalog.read_tables(listing.index):
        for row in records_as_dicts(table):
            gathered.setdefault(row["run_id"], []).append(row)
    fresh = catalog.read_tables([p for paths in uncovered.values() for p in paths])
    by_file = iter(fresh)
    for run_id, paths in uncovered.items():
        for _ in paths:
            for record in records_as_dicts(next(by_file)):
                gathered.setdefault(run_id, []).append({**record, "project": project, "run_id": run_id})
    rows = {run_id: combined_record(records) for run_id, records in gathered.items()}
    out = []
    for run_id in sorted(rows):
        row = rows[run_id]
        if run_id not in live_names or row["state"] not in INDEX_DONE_STATES:
            continue
        names = sorted(live_names[run_id])
        compactions = []
        for name in names:
            if is_compacted_name(name):
                info = catalog.info(location.path("runs", f"project={project}", f"run={run_id}", name))
                compactions.append({"name": name, "replaces": list(info.replaces), "group": list(info.group),
                                    "compacted_at": info.compacted_at})
        out.append({**row, "record_files": names, "record_versions": [versions[(run_id, n)] for n in names],
                    "record_compactions": compactions, "record_dir_stamp": stamps.get(run_id)})
    idents = {r["run_id"]: sorted(ident(n, v) for n, v in zip(r["record_files"], r["record_versions"])) for r in out}
    if idents == _coverage(catalog, listing.index) and not _new_stamps(catalog, listing.index, {r["run_id"]: r["record_dir_stamp"] for r in out}):
        return 0  # nothing finished or changed since the live index (running runs only)
    schema = index_schema()
    token = "m" + uuid.uuid4().hex[:8]
    name = f"{0:012d}-{max(len(out) - 1, 0):012d}-{token}-{0:06d}.parquet"
    replaces = [p.rsplit("/", 1)[1] for p in listing.index]
    table = _index_table(out, schema).replace_schema_metadata({**schema.metadata, **compacted_metadata(replaces, [name])})
    location.raise_format_version()
    location.write_parquet(location.path("runs", f"project={project}", INDEX_DIR, name), table)
    return len(out)


def _coverage(catalog: Catalog, index: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in index:
        for _, run, name in catalog.covers(path):
            out.setdefault(run, []).append(name)
    return {run: sorted(names) for run, names in out.items()}


def _new_stamps(catalog: Catalog, index: list[str], stamps: dict[str, str | None]) -> bool:
    """Whether a run the live index covers has a settled directory stamp (``stamps``) it does
    not record: the directory changed (say, replaced files were deleted) or had not settled
    when the index was written."""
    recorded = {r: stamp for path in index for _, r, _, stamp in catalog._index_dirs(path).values()}
    return any(stamps.get(r) is not None and stamps[r] != stamp for r, stamp in recorded.items())


def _index_runs(catalog: Catalog, index: list[str]) -> set[str]:
    return {run for path in index for _, run, _ in catalog.covers(path)}


def _index_table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    extra = ("record_files", "record_versions", "record_compactions", "record_dir_stamp")
    base = pa.schema([f for f in schema if f.name not in extra])
    table = records_table(rows, base) if rows else base.empty_table()
    for name in extra:
        table = table.append_column(schema.field(name), pa.array([row[name] for row in rows], schema.field(name).type))
    return table.cast(schema)
