"""Project files (catalog.py): after ``mediastore compact``, a query over every run reads one
file per project and table instead of one per run, and sees exactly the rows it saw before:
the same columns and types, every row once, also for runs resumed after the compaction and
for readers querying while compactions write and replace project files."""

from __future__ import annotations

import time
import uuid

import numpy as np
import pytest

import mediastore as ms
from mediastore.catalog import INDEX_DIR, Catalog
from mediastore.compact import compact_store
from mediastore.schema import table_names
from mediastore.storage import StoreLocation

NO_COMPACT = ms.Settings(flush_rows=4, compact_on_finish=False)
DATA_TABLES = [t for t in table_names() if t != "runs"]


def log_run(uri: str, run_id: str, steps: range, *, project: str = "p", resume: bool = False, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    with ms.init(project=project, store=uri, run_id=run_id, resume=resume, settings=NO_COMPACT) as run:
        for step in steps:
            values = {"loss": 1.0 / (step + 1), "acc": float(step), "note": f"{run_id}@{step}"}
            if step % 3 == 0:
                values["img"] = ms.Image(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8), caption=run_id)
                values["grads"] = ms.Histogram(rng.normal(size=20), num_bins=4)
            run.log(values, step=step)


def views(uri: str, tmp_path, *, cache: bool = True) -> dict[str, tuple]:
    """Every data table's view: its columns and types, and all its rows in one order."""
    store = ms.open(uri, cache=tmp_path / f"cache-{uuid.uuid4().hex[:6]}" if cache else False)
    out = {}
    for table in DATA_TABLES:
        rel = store.sql(f'SELECT * FROM "{table}"')
        out[table] = (rel.columns, [str(t) for t in rel.types], store.sql(f'SELECT * FROM "{table}" ORDER BY ALL').fetchall())
    return out


def counts(store: ms.Store) -> tuple:
    return store.sql("SELECT count(*), sum(step), count(DISTINCT (project, run_id, step, key)) FROM scalars").fetchall()[0]


def project_files(uri: str, table: str = "scalars") -> list[str]:
    loc = StoreLocation(uri)
    return sorted(p for p in loc.fs.find(loc.path(table)) if f"/{INDEX_DIR}/" in p)


def test_views_are_the_same_with_project_files(shared_store_uri, tmp_path):
    uri = shared_store_uri
    for i, run_id in enumerate(["a", "b", "c"]):
        log_run(uri, run_id, range(7), seed=i)
    log_run(uri, "d", range(4), project="q", seed=9)
    running = ms.init(project="p", store=uri, run_id="live", settings=NO_COMPACT)
    for step in range(5):
        running.log({"loss": float(step), "note": "live"}, step=step)
    running.writer.flush()
    try:
        before = views(uri, tmp_path)
        report = compact_store(StoreLocation(uri))
        assert report.project_files == 2 * 4  # projects p and q x scalars, texts, images, histograms
        assert len(project_files(uri)) == 2  # one of a part each
        listing = Catalog(StoreLocation(uri)).table_listing("scalars")
        assert {f.split("/run=")[1].split("/")[0] for f in listing.uncovered} == {"live"}  # the running run, on top
        assert views(uri, tmp_path) == before
        assert views(uri, tmp_path, cache=False) == before  # object stores: pyarrow datasets, no cache
        assert sum(len(rows) for _, _, rows in before.values()) > 0
        assert len(before["scalars"][2]) == 3 * 7 * 2 + 4 * 2 + 4  # the live run's step 4 is not committed yet
    finally:
        running.finish()
    after_finish = views(uri, tmp_path)
    compact_store(StoreLocation(uri))  # the finished run joins the project file
    assert Catalog(StoreLocation(uri)).table_listing("scalars").uncovered == []
    assert views(uri, tmp_path) == after_finish


def test_a_run_resumed_after_compact_is_read_once(shared_store_uri, tmp_path):
    uri = shared_store_uri
    for i, run_id in enumerate(["a", "b"]):
        log_run(uri, run_id, range(6), seed=i)
    compact_store(StoreLocation(uri))
    log_run(uri, "a", range(6, 10), resume=True, seed=5)
    store = ms.open(uri, cache=tmp_path / "cache")
    steps = store.sql("SELECT run_id, list(step ORDER BY step) FROM scalars WHERE key = 'loss' GROUP BY 1 ORDER BY 1").fetchall()
    assert steps == [("a", list(range(10))), ("b", list(range(6)))]
    listing = Catalog(StoreLocation(uri)).table_listing("scalars")
    assert [r for skip in listing.skip.values() for r in skip] == ["a"]  # its rows in the project file are left out
    before = views(uri, tmp_path)
    compact_store(StoreLocation(uri))  # the resumed run's new files join a new project file
    listing = Catalog(StoreLocation(uri)).table_listing("scalars")
    assert listing.uncovered == [] and len(listing.index) == 1
    assert views(uri, tmp_path) == before


def test_readers_see_every_row_once_while_project_files_are_written_and_replaced(shared_store_uri, reading_in_a_loop):
    uri = shared_store_uri
    for i, run_id in enumerate(["a", "b", "c"]):
        log_run(uri, run_id, range(8), seed=i)
    compact_store(StoreLocation(uri))  # project files written
    log_run(uri, "a", range(8, 12), resume=True)  # now not covered: read from its own files
    log_run(uri, "d", range(5))
    expected = counts(ms.open(uri))
    assert expected[0] == (3 * 8 + 4 + 5) * 2
    with reading_in_a_loop(uri, counts) as seen:
        first = project_files(uri)
        time.sleep(0.2)
        compact_store(StoreLocation(uri))  # a new project file replaces the first
        assert project_files(uri) != first
        time.sleep(1.5)  # longer than any query of the reader
        compact_store(StoreLocation(uri), grace_seconds=1.0)  # the replaced project file is deleted
        assert len(project_files(uri)) == 1
        time.sleep(0.3)
    assert len(seen) >= 3
    assert set(seen) == {expected}


def test_dask_and_pyarrow_skip_project_files(local_store):
    """Engines without mediastore see each run's own files once: ``_index`` is hidden."""
    import pyarrow.dataset as ds

    for run_id in ("a", "b"):
        log_run(local_store, run_id, range(5))
    compact_store(StoreLocation(local_store))
    assert project_files(local_store)
    table = ds.dataset(f"{local_store}/scalars", format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 2 * 5 * 2


@pytest.mark.parametrize("runs", [3, 9])
def test_a_cold_aggregate_after_compact_costs_a_list_and_a_get(runs, s3_server, proxied_s3, tmp_path):
    """Requests counted by the delay proxy: the same whatever the number of runs."""
    import boto3

    bucket = "mediastore-project-files"
    client = boto3.client("s3", endpoint_url=s3_server)
    if bucket not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=bucket)
    uri = f"s3://{bucket}/{uuid.uuid4().hex[:12]}"
    direct = {"endpoint_url": s3_server}
    for r in range(runs):
        with ms.init(project="p", store=uri, run_id=f"run{r}", storage_options=direct) as run:
            for step in range(10):
                run.log({"loss": 1.0 / (step + 1), "acc": float(step)})
    compact_store(StoreLocation(uri, direct))
    store = ms.open(uri, storage_options={"endpoint_url": proxied_s3.endpoint}, cache=tmp_path / "cache")
    proxied_s3.reset()
    with proxied_s3.measure() as cold:
        rows = store.sql("SELECT run_id, avg(value) FROM scalars WHERE key = 'loss' GROUP BY 1").fetchall()
    assert len(rows) == runs
    assert dict(cold) == {"LIST": 1, "GET": 1}  # the listing of scalars/, the project file
    with proxied_s3.measure() as warm:
        store.sql("SELECT run_id, avg(value) FROM scalars WHERE key = 'loss' GROUP BY 1").fetchall()
    assert dict(warm) == {"LIST": 1}
