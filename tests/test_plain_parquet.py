"""_plain_parquet.py: run records and small media batches written without pyarrow read back,
by pyarrow and by DuckDB, as the same table pyarrow writes from them."""

import glob
import io
import struct

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import mediastore as ms
from mediastore._plain_parquet import plain_parquet, writes
from mediastore.records import records_table
from mediastore.schema import schema_for, table_names
from mediastore.writer import PLAIN_ROWS

RUNS = schema_for("runs")
RECORDS = [
    {"name": "r", "config": '{"lr": "é→∞"}', "summary": "{}", "state": "running", "started_at": 1_700_000_000_000_000,
     "finished_at": None, "updated_at": 1_700_000_000_000_001, "last_step": None, "heartbeat_seconds": 30.0,
     "metrics": None, "process": "host:1"},
    {"name": None, "config": None, "summary": "", "state": "finished", "started_at": -5, "finished_at": 17,
     "updated_at": 2**52, "last_step": -3, "heartbeat_seconds": -0.5, "metrics": "x" * 300, "process": None},
]


@pytest.mark.parametrize("rows", [RECORDS, RECORDS * 40, RECORDS[:1], []], ids=["two", "eighty", "one", "none"])
def test_records_read_back_as_pyarrow_writes_them(rows):
    got = pq.read_table(io.BytesIO(plain_parquet(RUNS.file_columns, rows, RUNS.metadata)))
    want = records_table(rows, RUNS.file_schema.remove_metadata()) if rows else RUNS.file_schema.remove_metadata().empty_table()
    assert got.schema.equals(RUNS.file_schema, check_metadata=True), got.schema
    assert got.equals(want.replace_schema_metadata(RUNS.metadata))


def test_duckdb_reads_the_same_rows(tmp_path):
    path = tmp_path / "r.parquet"
    path.write_bytes(plain_parquet(RUNS.file_columns, RECORDS * 3, RUNS.metadata))
    rows = duckdb.sql(f"SELECT config, state, epoch_us(started_at), finished_at IS NULL, last_step, heartbeat_seconds, process "
                      f"FROM '{path}'").fetchall()
    want = [(r["config"], r["state"], r["started_at"], r["finished_at"] is None, r["last_step"], r["heartbeat_seconds"], r["process"])
            for r in RECORDS * 3]
    assert rows == want


def test_more_than_fourteen_columns_and_nan():
    """Thrift's compact lists carry sizes under 15 in their header byte and larger ones after
    it; NaN is a value, not a NULL."""
    columns = [{"name": f"c{i}", "type": "float64"} for i in range(20)]
    rows = [{f"c{i}": float(i) for i in range(20)} | {"c3": float("nan"), "c4": None}]
    table = pq.read_table(io.BytesIO(plain_parquet(columns, rows, {})))
    assert table.column_names == [f"c{i}" for i in range(20)]
    assert table.column("c3").to_pylist()[0] != table.column("c3").to_pylist()[0]
    assert table.column("c4").null_count == 1 and table.column("c19").to_pylist() == [19.0]
    assert table.schema.field("c0").type == pa.float64()


def test_a_missing_required_value_and_other_types_are_refused():
    with pytest.raises(ValueError, match="'state' is not nullable"):
        plain_parquet(RUNS.file_columns, [{**RECORDS[0], "state": None}], RUNS.metadata)
    with pytest.raises(ValueError, match="not {'map': \\['string', 'string'\\]}"):
        plain_parquet([{"name": "tags", "type": {"map": ["string", "string"]}}], [], {})
    with pytest.raises(ValueError, match="not {'struct'"):
        plain_parquet([{"name": "boxes", "type": {"list": {"struct": [{"name": "x", "type": "int64"}]}}}], [], {})


# -- nested columns: a few media rows (writer.py writes small media batches this way) ---------

PLAIN_TABLES = [t for t in table_names() if writes(schema_for(t).file_columns)]


def _cell(rng, type_, nullable=True):
    """A random value of a schema type: NULLs, empty and NULL lists, extreme numbers, non-ASCII."""
    if nullable and rng.random() < 0.2:
        return None
    if isinstance(type_, dict) and "struct" in type_:
        return {c["name"]: _cell(rng, c["type"], c.get("nullable", True)) for c in type_["struct"]}
    if isinstance(type_, dict) and "list" in type_:
        return [_cell(rng, type_["list"]) for _ in range(int(rng.integers(0, 20)))]
    if type_ == "string":
        return rng.choice(["", "a", "é→∞", "blobs/ab/cd.parquet", "z" * 300, "Z"])
    if type_ in ("int64", "timestamp_us"):
        return int(rng.choice([0, -1, 1, 2**63 - 1, -(2**63), 1_700_000_000_000_000, int(rng.integers(-1000, 1000))]))
    if type_ == "int32":
        return int(rng.choice([0, -1, 2**31 - 1, -(2**31), int(rng.integers(-1000, 1000))]))
    if type_ == "float64":
        return float(rng.choice([0.0, -0.0, 1.5, -1e300, float("inf"), rng.random()]))
    assert type_ == "bool"
    return bool(rng.random() < 0.5)


def test_every_table_but_images_and_objects3d_is_written():
    """images (boxes: a list of structs) and objects3d (a list of structs) are left to pyarrow."""
    assert set(table_names()) - set(PLAIN_TABLES) == {"images", "objects3d"}


@pytest.mark.parametrize("table", PLAIN_TABLES)
@pytest.mark.parametrize("seed", range(6))
def test_nested_rows_read_back_as_pyarrow_writes_them(tmp_path, table, seed):
    schema = schema_for(table)
    rng = np.random.default_rng(seed)
    rows = [{c["name"]: _cell(rng, c["type"], c.get("nullable", True)) for c in schema.file_columns}
            for _ in range(int(rng.integers(1, 9)))]
    data = plain_parquet(schema.file_columns, rows, schema.metadata, statistics=True)
    (tmp_path / "mine.parquet").write_bytes(data)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema.file_schema), tmp_path / "theirs.parquet", compression="none", use_dictionary=False)
    got, want = pq.read_table(tmp_path / "mine.parquet"), pq.read_table(tmp_path / "theirs.parquet")
    assert got.schema.equals(want.schema, check_metadata=True), got.schema
    assert got.equals(want)
    assert got.cast(schema.file_schema).equals(pa.Table.from_pylist(rows, schema=schema.file_schema))
    # The same Parquet schema pyarrow writes, and the same statistics where it keeps them.
    mine, theirs = pq.ParquetFile(tmp_path / "mine.parquet").metadata, pq.ParquetFile(tmp_path / "theirs.parquet").metadata
    assert mine.schema.equals(theirs.schema)
    for i in range(mine.num_columns):
        ours, reference = mine.row_group(0).column(i), theirs.row_group(0).column(i)
        assert ours.path_in_schema == reference.path_in_schema and ours.num_values == reference.num_values
        if ".list." in ours.path_in_schema:
            assert not ours.is_stats_set
            continue
        assert ours.statistics.null_count == reference.statistics.null_count, ours.path_in_schema
        if ours.statistics.has_min_max:
            assert (ours.statistics.min_raw, ours.statistics.max_raw) == (reference.statistics.min_raw, reference.statistics.max_raw), ours.path_in_schema
        else:  # floats and bools, all-NULL columns, long strings: no min/max
            assert ours.physical_type in ("DOUBLE", "BOOLEAN") or ours.statistics.null_count == len(rows) or "z" * 300 in str(reference.statistics.max)
    # DuckDB reads the same rows from both.
    query = "SELECT * FROM read_parquet(?)"
    assert duckdb.execute(query, [str(tmp_path / "mine.parquet")]).fetchall() == duckdb.execute(query, [str(tmp_path / "theirs.parquet")]).fetchall()


def test_cells_of_the_wrong_type_are_refused():
    """writer.py falls back to pyarrow on these, which then says what is wrong."""
    tables = schema_for("tables")
    row = {"step": 1, "key": "t", "idx": 0, "logged_at": 5}
    with pytest.raises(struct.error):
        plain_parquet(tables.file_columns, [{**row, "step": 1.5}], {})
    with pytest.raises(TypeError, match="string column got int"):
        plain_parquet(tables.file_columns, [{**row, "key": 5}], {})
    with pytest.raises(TypeError, match="struct column 'blob' got str"):
        plain_parquet(tables.file_columns, [{**row, "blob": "x"}], {})
    with pytest.raises(TypeError, match="list column 'columns' got str"):
        plain_parquet(tables.file_columns, [{**row, "columns": "abc"}], {})
    with pytest.raises(struct.error):
        plain_parquet(tables.file_columns, [{**row, "idx": 2**31}], {})


# -- in a run: which batches are written this way ------------------------------------------


def _created_by(tmp_path, table):
    files = sorted(glob.glob(str(tmp_path / "store" / table / "project=p" / "run=*" / "*.parquet")))
    assert files, table
    return [pq.ParquetFile(f).metadata.created_by for f in files]


def test_a_run_writes_small_media_batches_without_pyarrow_and_resumes_after_them(tmp_path):
    assert PLAIN_ROWS + 4 + 8 < 30  # the table's step below is the last
    store = str(tmp_path / "store")
    with ms.init(project="p", store=store, run_id="r") as run:
        run.log({"h": ms.Histogram(np.arange(10.0))}, step=4)
        run.log({"img": ms.Image(np.zeros((4, 4, 3), np.uint8))}, step=7)  # boxes: a list of structs
        for step in range(PLAIN_ROWS + 4):  # more rows than the plain writer takes in one batch
            run.log({"html": ms.Html(f"<p>{step}</p>")}, step=8 + step)
        run.log({"t": ms.Table(columns=["a"], data=[[1], [2]])}, step=30)
    assert _created_by(tmp_path, "tables") == ["mediastore"]
    assert _created_by(tmp_path, "histograms") == ["mediastore"]  # its lists are numpy arrays
    assert _created_by(tmp_path, "images")[0].startswith("parquet-cpp-arrow")
    assert _created_by(tmp_path, "html")[0].startswith("parquet-cpp-arrow")
    store_ = ms.open(store)
    assert store_.table("r", "t")["a"].tolist() == [1, 2]
    (bins, counts), = store_.sql("SELECT bins, counts FROM histograms").fetchall()
    want_counts, want_bins = np.histogram(np.arange(10.0), bins=64)
    assert (bins, counts) == (want_bins.tolist(), want_counts.tolist())
    assert store_.sql("SELECT step, num_rows, columns FROM tables").fetchall() == [(30, 2, ["a"])]
    # A resumed run goes on after the last step in any table's files (here the tables file the
    # plain writer published), and its compaction rewrites that file.
    with ms.init(project="p", store=store, run_id="r", resume=True) as again:
        assert again.step == 31
        again.log({"t": ms.Table(columns=["a"], data=[[3]])})
    assert ms.open(store).sql("SELECT step, num_rows FROM tables ORDER BY step").fetchall() == [(30, 2), (31, 1)]
    with ms.init(project="p", store=store, run_id="r", resume=True) as again:
        assert again.step == 32
