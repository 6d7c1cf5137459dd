"""What reading a store on S3 costs, in requests counted at the client (tests/s3_count.py):
runs() reads the runs index and a query over every run the project file, not a file per run
(both written by ``mediastore compact``); a query asked again costs only its LIST; a
decoded image is one GET per blob cold and none again. Counts are exact where the code
decides them and upper bounds where moto's listing retries may add one."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

import mediastore as ms
from mediastore.compact import compact_store
from mediastore.storage import StoreLocation
from s3_count import count_requests

RUNS = 12
AGGREGATE = "SELECT run_id, avg(value) FROM scalars WHERE key = 'loss' GROUP BY 1 ORDER BY 1"


@pytest.fixture(scope="module")
def bucket_store(s3_server, tmp_path_factory):
    uri = f"s3://mediastore-test/{uuid.uuid4().hex[:12]}"
    for i in range(RUNS):
        with ms.init(project="p", store=uri, run_id=f"r{i:02d}", config={"i": i}) as run:
            for step in range(5):
                run.log({"loss": 1.0 / (step + 1), "acc": step / 10})
            if i == 0:
                mask = np.zeros((8, 8), np.uint8)
                mask[2:5] = 1
                run.log({"img": ms.Image(np.full((8, 8, 3), 7, np.uint8), masks={"m": {"mask_data": mask}})})
    compact_store(StoreLocation(uri))
    return uri


def opened(uri, tmp_path):
    return ms.open(uri, cache=tmp_path / "cache")


def test_runs_reads_the_index_not_a_file_per_run(bucket_store, tmp_path):
    with count_requests() as cold:
        runs = opened(bucket_store, tmp_path).runs()
    assert runs["run_id"].tolist() == [f"r{i:02d}" for i in range(RUNS)]
    assert cold["GetObject"] == 1  # the project's index
    assert cold["ListObjectsV2"] <= 2 and "HeadObject" not in cold
    with count_requests() as warm:
        assert opened(bucket_store, tmp_path).runs().equals(runs)
    assert dict(warm) in ({"ListObjectsV2": 1}, {"ListObjectsV2": 2})


def test_a_run_finished_after_the_index_is_read_on_top(bucket_store, tmp_path):
    uri = f"s3://mediastore-test/{uuid.uuid4().hex[:12]}"
    for run_id in ("a", "b"):
        with ms.init(project="p", store=uri, run_id=run_id):
            pass
    compact_store(StoreLocation(uri))
    with ms.init(project="p", store=uri, run_id="a", resume=True) as run:
        run.log({"x": 1.0})
    with ms.init(project="p", store=uri, run_id="c"):
        pass
    runs = opened(uri, tmp_path).runs()
    assert runs["run_id"].tolist() == ["a", "b", "c"]
    assert runs.set_index("run_id").loc["a", "last_step"] == 0  # the resume, newer than the index row


def test_history_cold_is_a_listing_or_two_and_one_get(bucket_store, tmp_path):
    with count_requests() as c:
        history = opened(bucket_store, tmp_path).history("r03")
    assert history["loss"].tolist() == [1.0 / (s + 1) for s in range(5)]
    assert c["GetObject"] == 1 and c["ListObjectsV2"] <= 3 and "HeadObject" not in c


def test_aggregate_cold_gets_the_project_file_once_and_warm_only_lists(bucket_store, tmp_path):
    store = opened(bucket_store, tmp_path)
    with count_requests() as cold:
        rows = store.sql(AGGREGATE).fetchall()
    assert len(rows) == RUNS
    # compact_store wrote the project's scalars project file: it stands for every run's file
    assert cold["GetObject"] == 1 and "HeadObject" not in cold and cold["ListObjectsV2"] <= 2
    with count_requests() as warm:
        assert store.sql(AGGREGATE).fetchall() == rows
    assert set(warm) == {"ListObjectsV2"} and warm["ListObjectsV2"] <= 2
    with count_requests() as reopened:
        assert opened(bucket_store, tmp_path).sql(AGGREGATE).fetchall() == rows
    assert set(reopened) == {"ListObjectsV2"}


def test_decode_is_a_get_per_blob_cold_and_none_again(bucket_store, tmp_path):
    store = opened(bucket_store, tmp_path)
    row = store.sql("SELECT * FROM images").df().iloc[0]
    with count_requests() as cold:
        image = store.decode(row)
    assert set(cold) == {"GetObject"} and cold["GetObject"] <= 2  # the image and its mask
    with count_requests() as warm:
        again = store.decode(row)
    assert dict(warm) == {}
    assert np.array_equal(image.to_numpy(), again.to_numpy())


def test_cache_off_reads_the_bucket(bucket_store, tmp_path, monkeypatch):
    monkeypatch.setenv("MEDIASTORE_CACHE", "off")
    store = ms.open(bucket_store)
    assert store.location.cache is None
    assert len(store.sql(AGGREGATE).fetchall()) == RUNS
    assert len(store.runs()) == RUNS
    assert ms.open(bucket_store, cache=False).location.cache is None


def test_a_damaged_cached_blob_is_read_again(bucket_store, tmp_path):
    store = opened(bucket_store, tmp_path)
    row = store.sql("SELECT * FROM images").df().iloc[0]
    expected = store.decode(row).to_numpy()
    for path in (tmp_path / "cache").rglob("_ranges/*/*"):
        path.write_bytes(b"garbage")
    with count_requests() as c:
        assert np.array_equal(opened(bucket_store, tmp_path).decode(row).to_numpy(), expected)
    assert c["GetObject"] >= 1


def test_the_cache_stays_within_its_bound(bucket_store, tmp_path):
    import os
    import time

    from mediastore.cache import FileCache

    store = opened(bucket_store, tmp_path)
    store.location._cache = FileCache(store.location.fs, store.location.root, "s3", tmp_path / "small", max_bytes=8_000)
    store._catalog = type(store._catalog)(store.location)
    files = lambda: [p for p in (tmp_path / "small").rglob("*.parquet")]  # noqa: E731
    # The runs' own files (a query reads the project file instead): one read past the bound, kept
    assert len(store._catalog.local_copies(store._catalog.live_files("scalars"))) == RUNS
    scalars = files()
    assert len(scalars) == RUNS + 1  # and the project file, whose footer says which files are live
    for path in scalars:  # make them old, then fetch something else
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    assert len(store.sql("SELECT * FROM images").fetchall()) == 1
    left = sum(p.stat().st_size for p in files() if "scalars" in p.parts)
    assert left <= 8_000 * 0.9
