"""Stores written before runs.v2 and tables.v2 stay readable: files of schema v1 (without the
metrics, log_mode, first_row and increment_of columns) read as NULL in those columns."""

from __future__ import annotations

import io
import json

import pyarrow.parquet as pq

import mediastore as ms
from mediastore.schema import schema_versions
from mediastore.storage import StoreLocation


def rewrite_as_v1(uri: str, table: str) -> int:
    """Rewrite every file of ``table`` as the v1 writer made it; returns how many."""
    loc = StoreLocation(uri)
    v1 = schema_versions(table)[0]
    assert v1.version == 1
    files = loc.fs.glob(loc.path(table, "**", "*.parquet"))
    for path in files:
        with loc.fs.open(path, "rb") as fh:
            arrow = pq.read_table(fh)
        old = arrow.select(v1.file_schema.names).cast(v1.file_schema.remove_metadata())
        metadata = {**(arrow.schema.metadata or {}), **v1.metadata}
        sink = io.BytesIO()
        pq.write_table(old.replace_schema_metadata(metadata), sink)
        with loc.fs.open(path, "wb") as fh:
            fh.write(sink.getvalue())
    return len(files)


def test_v1_files_read_beside_the_new_columns(store_uri):
    with ms.init(project="p", store=store_uri, run_id="old", config={"lr": 0.1}) as run:
        run.define_metric("train/*", step_metric="train/step")
        run.log({"t": ms.Table(columns=["a"], data=[[1], [2]])})
    assert rewrite_as_v1(store_uri, "runs") >= 1 and rewrite_as_v1(store_uri, "tables") >= 1
    with ms.init(project="p", store=store_uri, run_id="new") as run:
        run.log({"t": ms.Table(columns=["a"], data=[[3]], log_mode="INCREMENTAL")})
    store = ms.open(store_uri)
    assert store.sql("SELECT run_id, json_extract(config, '$.lr'), metrics, state FROM runs ORDER BY run_id").fetchall() == [
        ("new", None, None, "finished"), ("old", "0.1", None, "finished")
    ]
    assert store.sql("SELECT run_id, num_rows, log_mode, first_row, increment_of FROM tables ORDER BY run_id").fetchall() == [
        ("new", 1, "INCREMENTAL", 0, 0), ("old", 2, None, None, None)
    ]
    assert store.sql('SELECT run_id, "row", a FROM tables.t ORDER BY ALL').fetchall() == [("new", 0, 3), ("old", 0, 1), ("old", 1, 2)]
    assert store.table("old", "t")["a"].tolist() == [1, 2]
    with ms.init(project="p", store=store_uri, run_id="old", resume=True) as run:  # a v1 record resumes
        assert run.config.lr == 0.1 and run.metrics == {}
    assert json.loads(store.sql("SELECT config FROM runs WHERE run_id = 'old'").fetchall()[0][0]) == {"lr": 0.1}
