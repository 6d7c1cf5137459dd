"""How many S3 requests each operation makes today (issue 12: a team bucket as fast as a local
folder), counted exactly by the delay proxy (tests/conftest.py: ``proxied_s3``).

On a bucket each request costs 10-50 ms and these operations send theirs one after another, so
the counts are the cost. The numbers below are upper bounds set to what the engine sends today:
a change that saves requests lowers them here; one that adds requests fails with the counts it
sent. ``pytest tests/test_s3_requests.py -s`` prints the actual counts.
"""

from __future__ import annotations

import uuid

import numpy as np
import pytest

import mediastore as ms

pytest.importorskip("s3fs", reason="the S3 tests need s3fs (the s3 extra)")

#: The store every read below runs on: 5 runs x 20 steps x 5 scalars, plus 4 16x16 images per run.
RUNS, STEPS, IMAGE_STEPS = 5, 20, (0, 5, 10, 15)
QUERY_RUN = "run2"
AGGREGATE = "SELECT run_id, avg(value) FROM scalars WHERE key = 'loss' GROUP BY 1"
IMAGE_ROW = "SELECT * FROM images WHERE run_id = ? AND step = ?"
#: Images logged in the write test; the per-image cost is the difference between 2N and N.
N_IMAGES = 10

# Requests per operation by verb, measured 2026-11-30 at commit 9dff537 (s3fs 2026.9, DuckDB
# 2.0.1, pyarrow 26.0.1). Lower them as the engine improves; a verb left out must send nothing.
BOUNDS: dict[str, dict[str, int]] = {
    "ms.open": {},
    # Reads, lowered at s3-read (the local cache; this store has no runs index, so runs() reads a
    # record per run cold — after `mediastore compact` it is one GET, tests/test_s3_reads.py):
    "store.runs(), cold": {"GET": RUNS, "LIST": 1},
    "store.runs(), warm": {"LIST": 1},
    "store.history(run), cold": {"GET": 1, "LIST": 2},
    "aggregate over runs, cold": {"GET": RUNS, "LIST": 1},
    "aggregate over runs, warm": {"LIST": 1},
    "one image row by SQL, cold": {"GET": RUNS, "LIST": 1},
    "store.decode(image row)": {"GET": 1},
    # Writes, lowered with the packer: the images go in one pack, then the images' Parquet
    # and the run's published record: 3 PUTs whatever N is (up to a pack's 16 MiB).
    # ms.init of a new store: the marker's GET (404), a HEAD of the bucket, the marker's PUT, the
    # run's LIST and its first record's PUT. A whole small file is read with one GET: s3fs asked
    # for its size first (a HEAD, and for a missing file a LIST more) until StoreLocation.read_bytes
    # told it to read in one part.
    "ms.init": {"HEAD": 1, "GET": 1, "LIST": 1, "PUT": 2},
    # ms.init of an existing store in a new process: the marker's GET, the run's LIST, its first
    # record's PUT (before: a HEAD of the marker too).
    "ms.init, existing store, new process": {"GET": 1, "LIST": 1, "PUT": 1},
    f"log {N_IMAGES} images + finish": {"PUT": 3},
    "per logged image": {},
    # A resumed run's finish merges its new rows into each table's published file, rewritten
    # under its name: per table one LIST (for the files to delete and the live ones), the new
    # rows' GET (the runs table: both records), the rewrite's PUT. No HEAD: the old size comes
    # from the listing, the format from ms.init.
    "finish of a resumed run": {"GET": 3, "LIST": 2, "PUT": 4},
    # `mediastore compact` with nothing to do: a LIST of each table's project folder (13), its
    # _index folder (13) and the runs' records, whatever the number of runs (before: one LIST of
    # each table's folder of each run, 92 for 6 runs). The GETs: footers of the index and project
    # files the compaction before it wrote (then cached).
    "no-op compact": {"GET": 3, "LIST": 37},
    # Deleting rows of one run's scalars: LISTs of the table, the runs, the run's folders; GETs of
    # the file, the run's record and the store marker (ms.open reads nothing; a rewrite checks the
    # store's format first); the rewrite's PUT. No HEAD: the old size is in the listing just made.
    "store.delete(rows of one run)": {"GET": 3, "LIST": 5, "PUT": 1},
    # `mediastore sync` of a run (scalars, 3 images in one pack, records) from the bucket to a
    # folder: the listings, the source's marker and one GET per object copied (5), no HEAD
    # before each GET (before: 5 HEAD, 6 GET, 5 LIST).
    "sync from a bucket": {"GET": 6, "LIST": 5},
}


def check(name: str, counts: dict[str, int]) -> None:
    """Print the counts and hold them to the bound of ``name``, verb by verb and in total."""
    bound = BOUNDS[name]
    print(f"\n{name}: {counts or 'no requests'} (bound {bound or 'none'})")
    over = {verb: (n, bound.get(verb, 0)) for verb, n in counts.items() if n > bound.get(verb, 0)}
    assert not over, f"{name} sent more requests than its bound (verb: (sent, bound)): {over}; all sent: {counts}"
    assert sum(counts.values()) <= sum(bound.values())


@pytest.fixture(scope="module")
def small_store(s3_server, tmp_path_factory) -> str:
    """The store above, written straight to the loopback server (not through a proxy)."""
    import os

    import boto3

    bucket = "mediastore-requests"
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket=bucket)
    uri = f"s3://{bucket}/{uuid.uuid4().hex[:12]}"
    saved = os.environ.get("MEDIASTORE_SPOOL")
    os.environ["MEDIASTORE_SPOOL"] = str(tmp_path_factory.mktemp("spool"))
    rng = np.random.default_rng(0)
    try:
        for r in range(RUNS):
            with ms.init(project="p", store=uri, run_id=f"run{r}") as run:
                for step in range(STEPS):
                    values: dict = {"loss": 1.0 / (step + 1), "acc": step / STEPS, "lr": 0.1, "grad": 0.5, "epoch": float(r)}
                    if step in IMAGE_STEPS:
                        values["img"] = ms.Image(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
                    run.log(values)
    finally:
        if saved is None:
            os.environ.pop("MEDIASTORE_SPOOL", None)
        else:
            os.environ["MEDIASTORE_SPOOL"] = saved
    return uri


@pytest.fixture
def opened(small_store, proxied_s3, tmp_path):
    """``open()`` a fresh Store on the small store, every request through the proxy (counts reset),
    with an empty local cache of the test's own (so "cold" is cold)."""

    def open_store() -> ms.Store:
        store = ms.open(small_store, storage_options={"endpoint_url": proxied_s3.endpoint}, cache=tmp_path / "cache")
        proxied_s3.reset()
        return store

    return open_store


def test_open(small_store, proxied_s3):
    with proxied_s3.measure() as seen:
        ms.open(small_store, storage_options={"endpoint_url": proxied_s3.endpoint})
    check("ms.open", seen)


def test_runs(opened, proxied_s3):
    store = opened()
    with proxied_s3.measure() as cold:
        frame = store.runs()
    assert sorted(frame.run_id) == [f"run{r}" for r in range(RUNS)]
    with proxied_s3.measure() as warm:
        store.runs()
    assert cold and warm  # the proxy saw them: nothing went around it
    check("store.runs(), cold", cold)
    check("store.runs(), warm", warm)


def test_history(opened, proxied_s3):
    store = opened()
    with proxied_s3.measure() as seen:
        frame = store.history(QUERY_RUN)
    assert len(frame) == STEPS and frame["loss"].iloc[-1] == 1.0 / STEPS
    assert seen
    check("store.history(run), cold", seen)


def test_aggregate_over_runs(opened, proxied_s3):
    store = opened()
    with proxied_s3.measure() as cold:
        rows = store.sql(AGGREGATE).fetchall()
    assert len(rows) == RUNS
    with proxied_s3.measure() as warm:
        assert sorted(store.sql(AGGREGATE).fetchall()) == sorted(rows)
    assert cold and warm
    check("aggregate over runs, cold", cold)
    check("aggregate over runs, warm", warm)


def test_one_image_row_and_decode(opened, proxied_s3):
    store = opened()
    with proxied_s3.measure() as query:
        row = store.sql(IMAGE_ROW, [QUERY_RUN, IMAGE_STEPS[1]]).df().iloc[0]
    with proxied_s3.measure() as decode:
        image = store.decode(row)
    assert image.to_numpy().shape == (16, 16, 3)
    assert query and decode
    check("one image row by SQL, cold", query)
    check("store.decode(image row)", decode)


def _log_images(uri: str, endpoint: str, proxy, n: int, rng) -> tuple[dict, dict]:
    with proxy.measure() as init:
        run = ms.init(project="p", store=uri, storage_options={"endpoint_url": endpoint})
    with proxy.measure() as logged:
        for _ in range(n):
            run.log({"img": ms.Image(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))})
        run.finish()
    return init, logged


def test_logging_images(proxied_store_uri, proxied_s3, s3_bucket, tmp_path, monkeypatch):
    monkeypatch.setenv("MEDIASTORE_SPOOL", str(tmp_path / "spool"))
    rng = np.random.default_rng(1)
    init, logged = _log_images(proxied_store_uri, proxied_s3.endpoint, proxied_s3, N_IMAGES, rng)
    _, twice = _log_images(f"s3://{s3_bucket}/{uuid.uuid4().hex[:12]}", proxied_s3.endpoint, proxied_s3, 2 * N_IMAGES, rng)
    # N more images, N times each per-image request (whatever init and finish cost is in both).
    per_image = {verb: (n - logged.get(verb, 0)) / N_IMAGES for verb, n in twice.items() if n != logged.get(verb, 0)}
    assert init and logged  # per_image may be empty: packed images cost no request of their own
    assert ms.open(proxied_store_uri).sql("SELECT count(*) FROM images").fetchall() == [(N_IMAGES,)]
    check("ms.init", init)
    check(f"log {N_IMAGES} images + finish", logged)
    check("per logged image", per_image)


def test_finishing_a_resumed_run(proxied_store_uri, proxied_s3, tmp_path, monkeypatch):
    """The finish of a resumed run sends no HEAD: neither for the published file it rewrites
    (its size is in the listing) nor for the store's marker (ms.init read it)."""
    monkeypatch.setenv("MEDIASTORE_SPOOL", str(tmp_path / "spool"))
    with ms.init(project="p", store=proxied_store_uri, run_id="r") as run:
        for step in range(5):
            run.log({"loss": float(step)})
    run = ms.init(project="p", store=proxied_store_uri, run_id="r", resume=True)
    for step in range(5):
        run.log({"loss": float(step + 5)})
    with proxied_s3.measure() as finished:
        run.finish()
    store = ms.open(proxied_store_uri)
    assert store.history("r")["loss"].tolist() == [float(step) for step in range(10)]
    assert store.runs()["state"].tolist() == ["finished"]
    check("finish of a resumed run", finished)


def test_a_compaction_with_nothing_to_do_lists_per_table_not_per_run(s3_bucket, proxied_s3, tmp_path, monkeypatch):
    """`mediastore compact` of finished runs lists each table's project folder once, and each
    run's folder only where there is work: its requests do not grow with the number of runs."""
    from mediastore.compact import compact_store
    from mediastore.storage import StoreLocation

    monkeypatch.setenv("MEDIASTORE_SPOOL", str(tmp_path / "spool"))
    counts = {}
    for runs in (3, 6):
        uri = f"s3://{s3_bucket}/{uuid.uuid4().hex[:12]}"
        options = {"endpoint_url": proxied_s3.endpoint}
        for i in range(runs):
            with ms.init(project="p", store=uri, run_id=f"r{i}", storage_options=options) as run:
                for step in range(5):
                    run.log({"loss": float(step), "h": ms.Histogram([1, 2, 3])})
        # A run with work: hidden files of a writer that did not compact at finish.
        settings = ms.Settings(compact_on_finish=False, flush_rows=2)
        with ms.init(project="p", store=uri, run_id="late", storage_options=options, settings=settings) as run:
            for step in range(6):
                run.log({"loss": float(step)})
        location = StoreLocation(uri, options)
        report = compact_store(location)
        assert report.merged == {"scalars": 3, "runs": 2}, report  # the late run's files, and no other run's
        with proxied_s3.measure() as counts[runs]:
            report = compact_store(location)
        assert not report.merged and not report.deleted
        assert ms.open(uri, storage_options=options).sql("SELECT count(*) FROM scalars").fetchall() == [(5 * runs + 6,)]
    assert counts[3] == counts[6]
    check("no-op compact", counts[6])


def test_deleting_rows_sends_no_head(proxied_store_uri, proxied_s3, tmp_path, monkeypatch):
    """A delete rewrites a run's published file without asking for its size: the listing gave it."""
    monkeypatch.setenv("MEDIASTORE_SPOOL", str(tmp_path / "spool"))
    with ms.init(project="p", store=proxied_store_uri, run_id="r") as run:
        for step in range(10):
            run.log({"loss": float(step)})
    store = ms.open(proxied_store_uri)
    with proxied_s3.measure() as deleted:
        report = store.delete("scalars", where="step >= 5")
    assert report.rows == {"scalars": 5}
    assert ms.open(proxied_store_uri).history("r")["loss"].tolist() == [float(step) for step in range(5)]
    check("store.delete(rows of one run)", deleted)


def test_syncing_from_a_bucket_reads_each_object_with_one_get(proxied_store_uri, proxied_s3, tmp_path, monkeypatch):
    """`mediastore sync` from a bucket to a folder reads each object it copies with one GET."""
    from mediastore.sync import sync

    monkeypatch.setenv("MEDIASTORE_SPOOL", str(tmp_path / "spool"))
    rng = np.random.default_rng(3)
    with ms.init(project="p", store=proxied_store_uri, run_id="r") as run:
        for step in range(3):
            run.log({"loss": float(step), "img": ms.Image(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))})
    with proxied_s3.measure() as synced:
        report = sync(proxied_store_uri, str(tmp_path / "copy"), progress=False)
    assert report.blobs_copied + report.files_copied == synced["GET"] - 1  # and the source's marker
    copy = ms.open(str(tmp_path / "copy"))
    assert copy.history("r")["loss"].tolist() == [0.0, 1.0, 2.0]
    for _, row in copy.sql("SELECT * FROM images").df().iterrows():
        copy.decode(row)
    check("sync from a bucket", synced)


def test_init_of_an_existing_store_in_a_new_process(proxied_store_uri, proxied_s3, tmp_path, monkeypatch):
    """A new process's ms.init reads the store marker with one GET (no HEAD for its size first)."""
    import subprocess
    import sys

    monkeypatch.setenv("MEDIASTORE_SPOOL", str(tmp_path / "spool"))
    ms.init(project="p", store=proxied_store_uri, run_id="first").finish()
    code = (f"import mediastore as ms; run = ms.init(project='p', store={proxied_store_uri!r}, run_id='second'); "
            "print('ready', flush=True); input(); run.finish()")
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    with proxied_s3.measure() as init:
        assert child.stdout.readline().strip() == "ready"
    child.communicate("\n", timeout=60)
    assert child.returncode == 0
    assert ms.open(proxied_store_uri).runs().set_index("run_id")["state"].to_dict() == {"first": "finished", "second": "finished"}
    check("ms.init, existing store, new process", init)
