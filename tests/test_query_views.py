"""How the views read their files: union_by_name (which opens every footer at every query)
only for files that lack a column of the newest schema or whose columns are unknown, so a
store written by this version reads without it, and a store mixing versions reads old rows
with NULL in the new columns; and ms.open makes no DuckDB connection until a query needs one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import mediastore as ms
from mediastore.compact import compact_store
from mediastore.storage import StoreLocation

V1 = Path(__file__).parent / "data" / "store-v1"


def view_sql(store, name: str) -> str:
    return store._con.sql("SELECT sql FROM duckdb_views() WHERE view_name = ?", params=[name]).fetchall()[0][0]


def log_runs(uri, runs=("a", "b"), steps=6, **settings):
    for run_id in runs:
        with ms.init(project="p", store=uri, run_id=run_id, settings=ms.Settings(**settings)) as run:
            for step in range(steps):
                run.log({"loss": float(step), "acc": step / 10}, step=step)


@pytest.mark.parametrize(
    ("settings", "compact"),
    [({}, False), ({"flush_rows": 4, "compact_on_finish": False}, False), ({"flush_rows": 4, "compact_on_finish": False}, True)],
    ids=["published", "hidden", "project-files"],
)
def test_a_store_of_this_version_reads_without_union_by_name(tmp_path, settings, compact):
    uri = str(tmp_path / "s")
    log_runs(uri, **settings)
    if compact:
        compact_store(StoreLocation(uri))
    store = ms.open(uri)
    rows = store.sql("SELECT run_id, count(*), sum(value) FROM scalars WHERE key = 'loss' GROUP BY 1 ORDER BY ALL").fetchall()
    assert rows == [("a", 6, 15.0), ("b", 6, 15.0)]
    assert store.sql("SELECT count(*) FROM scalars WHERE process IS NULL").fetchall() == [(24,)]
    sql = view_sql(store, "scalars")
    assert "read_parquet" in sql and "union_by_name" not in sql


def test_old_files_read_with_null_in_new_columns_beside_new_files(tmp_path):
    root = tmp_path / "s"
    shutil.copytree(V1, root)
    with ms.init(project="p", store=str(root), run_id="new", mode="shared", label="w0") as run:
        run.log({"loss": 0.5, "acc": 0.25}, step=0)
    store = ms.open(str(root))
    rows = store.sql("SELECT run_id, process, count(*) FROM scalars GROUP BY ALL ORDER BY ALL").fetchall()
    assert rows == [("new", "w0", 2), ("v1a", None, 12), ("v1b", None, 12)]
    sql = view_sql(store, "scalars")
    assert sql.count("read_parquet") == 2 and sql.count("union_by_name") == 1  # the old files alone padded


def test_open_makes_no_connection_until_a_query(tmp_path):
    uri = str(tmp_path / "s")
    log_runs(uri, runs=("a",))
    store = ms.open(uri)
    assert store.history("a")["loss"].tolist() == [float(s) for s in range(6)]
    assert store._connection is None
    shown = {name for (name,) in store.sql("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"runs", "scalars", "images", "media"} <= shown  # every view, as when they were made at open
    assert store.sql("SELECT count(*) FROM media").fetchall() == [(0,)]
    assert store.sql("SELECT count(*) FROM scalars").fetchall() == [(12,)]
    store.close()
    ms.open(uri).close()  # closing a store that never queried
