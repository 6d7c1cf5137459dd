"""_plain_parquet.py: run records written without pyarrow read back, by pyarrow and by DuckDB,
as the same table pyarrow writes from them."""

import io

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mediastore._plain_parquet import plain_parquet
from mediastore.records import records_table
from mediastore.schema import schema_for

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
    with pytest.raises(ValueError, match="not {'list': 'string'}"):
        plain_parquet([{"name": "tags", "type": {"list": "string"}}], [], {})
