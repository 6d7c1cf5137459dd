"""Compaction: many small files become few, rows stay exactly the same, and concurrent readers
never see a duplicate or a missing row."""

from __future__ import annotations

import time

import numpy as np

import mediastore as ms
from mediastore.catalog import Catalog
from mediastore.cli import main
from mediastore.compact import compact_store
from mediastore.storage import StoreLocation

SMALL = dict(flush_rows=20, compact_on_finish=False)


def log_runs(uri, runs=3, steps=100, **settings):
    for r in range(runs):
        with ms.init(project="p", store=uri, run_id=f"r{r}", settings=ms.Settings(**settings)) as run:
            for step in range(steps):
                run.log({"a": float(step), "b": float(r)})
                if step % 25 == 0:
                    run.log({"img": ms.Image(np.full((4, 4), step, np.uint8))}, commit=False)


def counts(store):
    return store.sql("SELECT count(*), sum(step), count(DISTINCT (run_id, step, key)) FROM scalars").fetchall()[0]


def live(uri, table="scalars"):
    return Catalog(StoreLocation(uri)).live_files(table)


def test_finish_compacts_each_table_into_one_file(store_uri):
    log_runs(store_uri, runs=1, flush_rows=20)
    assert len(live(store_uri)) == 1
    assert len(live(store_uri, "images")) == 1
    assert len(live(store_uri, "runs")) == 1
    store = ms.open(store_uri)
    assert counts(store) == (200, 2 * sum(range(100)), 200)
    assert store.runs()["state"].tolist() == ["finished"]
    history = store.history("r0")
    assert history["a"].tolist() == [float(s) for s in range(100)]


def test_compact_command_merges_and_later_deletes(store_uri, capsys):
    log_runs(store_uri, **SMALL)
    before = counts(ms.open(store_uri))
    loc = StoreLocation(store_uri)
    n_files = len(loc.fs.find(loc.path("scalars")))
    assert len(live(store_uri)) == n_files == 3 * 10
    assert main(["compact", "--store", store_uri]) == 0
    assert "scalars: 30 files" in capsys.readouterr().out
    assert len(live(store_uri)) == 3
    assert counts(ms.open(store_uri)) == before
    # replaced files stay for the grace period; the project's project file is one more
    assert len(loc.fs.find(loc.path("scalars"))) == 33 + 1
    assert main(["compact", "--store", store_uri, "--grace-seconds", "0"]) == 0
    assert "deleted 39 replaced files" in capsys.readouterr().out  # 30 scalar, 3 image, 2 x 3 run record files
    assert len(loc.fs.find(loc.path("scalars"))) == 3 + 1
    assert counts(ms.open(store_uri)) == before


def test_running_runs_are_left_alone(store_uri):
    run = ms.init(project="p", store=store_uri, run_id="live", settings=ms.Settings(flush_rows=2))
    for step in range(10):
        run.log({"a": 1.0})
    run.writer.flush()
    time.sleep(0.2)
    report = compact_store(StoreLocation(store_uri))
    assert report.merged == {}
    run.finish()


def test_compaction_output_not_yet_complete_is_ignored(local_store):
    """A crash between the outputs of one compaction: the old files stay live, nothing doubles."""
    import json

    import pyarrow.parquet as pq

    log_runs(local_store, runs=1, **SMALL)
    loc = StoreLocation(local_store)
    files = live(local_store)
    table = pq.read_table(files[0])
    meta = dict(table.schema.metadata)
    meta[b"mediastore.replaces"] = json.dumps([f.rsplit("/", 1)[1] for f in files]).encode()
    meta[b"mediastore.group"] = json.dumps(["000000000000-000000000099-mdeadbeef-000000.parquet", "000000000000-000000000099-mdeadbeef-000001.parquet"]).encode()
    meta[b"mediastore.compacted_at"] = b"0"
    directory = files[0].rsplit("/", 1)[0]
    loc.write_parquet(f"{directory}/000000000000-000000000099-mdeadbeef-000000.parquet", table.replace_schema_metadata(meta))
    assert live(local_store) == files
    assert counts(ms.open(local_store))[0] == 200


def test_readers_during_compaction_see_every_row_once(shared_store_uri, reading_in_a_loop):
    uri = shared_store_uri
    log_runs(uri, runs=4, steps=60, **SMALL)
    expected = counts(ms.open(uri))
    with reading_in_a_loop(uri, counts) as seen:
        compact_store(StoreLocation(uri))  # merge: replaced files stay
        time.sleep(1.5)  # longer than any query of the reader
        compact_store(StoreLocation(uri), grace_seconds=1.0)  # delete what was replaced
        time.sleep(0.3)
    assert len(seen) >= 3
    assert set(seen) == {expected}
    assert len(live(uri)) == 4


def test_a_compaction_reads_the_record_of_no_run_the_runs_index_covers(local_store, monkeypatch):
    """A periodic `mediastore compact` takes a covered run's state from its runs index row: at
    10,000 runs a compaction with nothing to do took 22 s reading every run's record, 6 s now.
    A run resumed since the index is read, and its new state counts."""
    import mediastore.compact as compact

    for r in ("a", "b", "c"):
        with ms.init(project="p", store=local_store, run_id=r) as run:
            run.log({"loss": 1.0})
    compact_store(StoreLocation(local_store))
    read = []
    original = compact.read_run_record
    monkeypatch.setattr(compact, "read_run_record", lambda location, p, r, **kw: read.append(r) or original(location, p, r, **kw))
    assert compact_store(StoreLocation(local_store)).indexed == 0
    assert read == []
    with ms.init(project="p", store=local_store, run_id="b", resume=True) as run:
        run.log({"loss": 2.0})
    report = compact_store(StoreLocation(local_store))
    assert read == ["b"] and report.indexed == 3
    runs = ms.open(local_store).runs().set_index("run_id")
    assert list(runs.state) == ["finished"] * 3
    assert ms.open(local_store).history("b")["loss"].tolist() == [1.0, 2.0]
