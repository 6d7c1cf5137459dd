"""The writing path on a bucket (packer.py): few requests per logged image, few files on a
local disk, blobs before rows, and nothing lost while the store is down or throttling.

Request counts come from the delay proxy in front of the loopback S3 server (exact, so they
are asserted); outages are the proxy resetting every connection or answering 503 SlowDown.
"""

from __future__ import annotations

import os
import threading
import time
import warnings

import numpy as np
import pytest

import mediastore as ms
from mediastore.cli import main as cli_main
from mediastore import StorageUnavailableWarning


def images(n: int, size: int = 128) -> list[np.ndarray]:
    """Distinct 128x128 RGB images (a gradient shifted per image, with noise: ~20-50 KB as PNG)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size]
    base = np.stack([x * 2, y * 2, x + y], axis=-1)
    return [np.clip(np.roll(base, i, axis=1) + rng.integers(0, 24, base.shape), 0, 255).astype(np.uint8) for i in range(n)]


def test_1000_images_cost_at_most_30_requests(proxied_store_uri, s3_proxy):
    pixels = images(1000)
    run = ms.init(project="p", store=proxied_store_uri, run_id="r")
    s3_proxy.reset()  # the logging and the finish, not the store's set-up
    for step, array in enumerate(pixels):
        run.log({"img": ms.Image(array)}, step=step)
    run.finish()
    counts = s3_proxy.counts()
    print("requests for 1,000 images, logging and finish:", counts)
    assert sum(counts.values()) <= 30, counts
    store = ms.open(proxied_store_uri)
    assert store.sql("SELECT count(*), count(DISTINCT blob.sha256) FROM images").fetchall() == [(1000, 1000)]
    rows = store.sql("SELECT * FROM images WHERE step IN (0, 517, 999) ORDER BY step").df()
    for (_, row), step in zip(rows.iterrows(), (0, 517, 999)):
        assert np.array_equal(store.decode(row).to_numpy(), pixels[step])  # sha256 checked on read


def test_1000_images_make_at_most_10_files_on_local_disk(local_store):
    with ms.init(project="p", store=local_store) as run:
        for step, array in enumerate(images(1000)):
            run.log({"img": ms.Image(array), "loss": 1.0 / (step + 1)})
    files = [os.path.join(d, f) for d, _, fs in os.walk(local_store) for f in fs]
    data = [f for f in files if not f.endswith("_mediastore.json")]
    print(len(data), "files:", sorted(os.path.relpath(f, local_store) for f in data))
    assert len(data) <= 10, data
    assert ms.open(local_store).sql("SELECT count(*) FROM images").fetchall() == [(1000,)]


def test_a_damaged_pack_is_caught_by_the_sha256(local_store, rgb):
    with ms.init(project="p", store=local_store) as run:
        run.log({"a": ms.Image(rgb), "b": ms.Image(rgb[::-1].copy())})
    store = ms.open(local_store)
    row = store.sql("SELECT * FROM images WHERE key = 'b'").df().iloc[0]
    path = store.location.path(row["blob"]["uri"])
    data = bytearray(open(path, "rb").read())
    data[int(row["blob"]["offset"]) + 40] ^= 0xFF
    open(path, "wb").write(bytes(data))
    with pytest.raises(ms.BlobNotFoundError, match=r"does not match its sha256: the object is damaged"):
        store.decode(row)
    assert store.decode(store.sql("SELECT * FROM images WHERE key = 'a'").df().iloc[0]) is not None


@pytest.mark.parametrize("kind", ["outage", "throttle"])
def test_an_outage_or_throttling_loses_nothing(proxied_store_uri, s3_proxy, kind):
    """Connections cut for 60 s, or 30 s of 503 SlowDown, in the middle of a run that logs a
    scalar and an image every 50 ms: every row and blob arrives, run.log never raises or waits
    on the network, and the run ends finished (finish waits for the store to come back)."""
    seconds = 60.0 if kind == "outage" else 30.0

    def fault():  # returns at once; the proxy ends the fault by itself after `seconds`
        if kind == "outage":
            s3_proxy.cut(seconds)
        else:
            s3_proxy.throttle(seconds).__enter__()

    run = ms.init(project="p", store=proxied_store_uri, run_id="r", settings=ms.Settings(flush_seconds=1.0))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        timer = threading.Timer(3.0, fault)  # from 3 s in, for `seconds`
        timer.start()
        slowest = 0.0
        pixels = images(300, size=16)
        for step in range(300):
            t0 = time.monotonic()
            run.log({"loss": float(step), "img": ms.Image(pixels[step])})
            slowest = max(slowest, time.monotonic() - t0)
            time.sleep(0.05)
        run.finish()  # waits for the store: the fault is shorter than Settings.finish_timeout
        timer.join()
    if kind == "outage":
        # A minute without connections outlasts s3fs's own retries: the writer's retry took over.
        assert s3_proxy.dropped > 0
        assert any(issubclass(w.category, StorageUnavailableWarning) for w in caught), [str(w.message) for w in caught]
    # Under 503s s3fs's and botocore's own retries may absorb every failure: then no warning.
    assert slowest < 10.0, f"run.log blocked {slowest:.1f} s"  # it waited on s3fs's retries (32 s) before
    store = ms.open(proxied_store_uri)
    assert store.sql("SELECT count(*), count(DISTINCT step), min(step), max(step) FROM scalars").fetchall() == [(300, 300, 0, 299)]
    assert store.sql("SELECT count(*), count(DISTINCT step) FROM images").fetchall() == [(300, 300)]
    assert store.sql("SELECT state FROM runs").fetchall() == [("finished",)]
    rows = store.sql("SELECT * FROM images ORDER BY step").df()
    for (_, row), array in zip(rows.iterrows(), pixels):
        assert np.array_equal(store.decode(row).to_numpy(), array)


def test_finish_gives_up_then_recover_uploads_everything(proxied_store_uri, s3_proxy, tmp_path, monkeypatch):
    """The store stays down past Settings.finish_timeout: finish returns with a warning, the run
    is not shown finished, and once the store is back `mediastore recover` uploads the blobs
    and rows from the spool and marks the run finished."""
    monkeypatch.setenv("MEDIASTORE_SPOOL", str(tmp_path / "spool"))
    pixels = images(20, size=16)
    run = ms.init(project="p", store=proxied_store_uri, run_id="r", settings=ms.Settings(finish_timeout=2.0))
    with s3_proxy.outage():
        for step in range(20):
            run.log({"loss": float(step), "img": ms.Image(pixels[step])})
        with pytest.warns(StorageUnavailableWarning, match=r"run 'r' finished, but the store .* did not take everything within "
                                                           r"Settings.finish_timeout = 2.0 s; .*`mediastore recover`"):
            run.finish()
    store = ms.open(proxied_store_uri)
    assert store.sql("SELECT count(*) FROM scalars").fetchall() == [(0,)]
    assert store.sql("SELECT state FROM runs").fetchall() != [("finished",)]
    assert cli_main(["recover", "--store", proxied_store_uri]) == 0
    store = ms.open(proxied_store_uri)
    assert store.sql("SELECT count(*), count(DISTINCT step) FROM scalars").fetchall() == [(20, 20)]
    assert store.sql("SELECT state FROM runs").fetchall() == [("finished",)]
    rows = store.sql("SELECT * FROM images ORDER BY step").df()
    assert len(rows) == 20
    for (_, row), array in zip(rows.iterrows(), pixels):
        assert np.array_equal(store.decode(row).to_numpy(), array)
    assert not any((tmp_path / "spool").rglob("*.pkl"))


def test_without_the_spool_an_unreachable_store_is_an_error_at_finish(proxied_store_uri, s3_proxy):
    """With the spool off nothing can keep what the store did not take: finish says so."""
    run = ms.init(project="p", store=proxied_store_uri, run_id="r", settings=ms.Settings(spool_seconds=0, finish_timeout=1.0))
    with s3_proxy.outage():
        run.log({"loss": 1.0, "img": ms.Image(images(1, size=16)[0])})
        with pytest.raises(ms.StoreUnavailableError, match=r"did not take the last rows of run 'r' within 1.0 s and the spool "
                                                          r"is off \(Settings\(spool_seconds=0\)\): they are lost — keep the spool on"):
            run.finish()


def test_a_local_write_that_fails_leaves_the_blob_and_row_in_the_spool_until_it_succeeds(tmp_path, monkeypatch):
    """On a local folder a standalone blob (a logged table's file) and its row go to the spool
    only when the write fails (they used to be written there first, always): a failing disk
    keeps them there while the writer retries, and the run ends whole."""
    import pandas as pd

    from mediastore.storage import StoreLocation

    monkeypatch.setenv("MEDIASTORE_SPOOL", str(tmp_path / "spool"))
    original = StoreLocation.create_bytes
    failing, seen = threading.Event(), []
    failing.set()

    def create_bytes(self, path, data):
        if failing.is_set():
            spooled = sorted(p.name for p in (tmp_path / "spool").rglob("*") if p.is_file())
            seen.append(spooled)
            if len(seen) >= 2:
                failing.clear()  # the disk is back from the first retry on
            raise OSError(28, "No space left on device")
        return original(self, path, data)

    monkeypatch.setattr(StoreLocation, "create_bytes", create_bytes)
    frame = pd.DataFrame({"a": range(50), "b": [f"row {i}" for i in range(50)]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StorageUnavailableWarning)
        with ms.init(project="p", store=str(tmp_path / "store"), run_id="r") as run:
            run.log({"t": ms.Table(dataframe=frame)})
    assert not any(name.startswith("cas-") for name in seen[0]), seen  # not spooled before the first try
    assert any(name.startswith("cas-") for name in seen[1]), seen  # in the spool while the disk fails
    assert not (tmp_path / "spool").exists() or not any(p.is_file() for p in (tmp_path / "spool").rglob("*"))
    back = ms.open(str(tmp_path / "store")).table("r", "t")
    pd.testing.assert_frame_equal(back[["a", "b"]], frame, check_dtype=False)


def test_a_local_run_writes_its_last_rows_and_table_file_on_the_callers_thread_and_retries_a_failure_on_the_io_thread(tmp_path, monkeypatch):
    """On a local folder a run whose rows never went to the I/O thread writes its last batches
    at finish on the caller's thread, and a logged table's file when it is logged (no thread is
    started for them); a failing write is retried by the I/O thread, the rows waiting in the
    spool, and the run still ends whole."""
    import pandas as pd

    from mediastore.storage import StoreLocation

    monkeypatch.setenv("MEDIASTORE_SPOOL", str(tmp_path / "spool"))
    write_bytes, create_bytes, write_parquet = StoreLocation.write_bytes, StoreLocation.create_bytes, StoreLocation.write_parquet
    writes, failures = [], []

    def recorded(path, fail):
        writes.append((path.split("/store/", 1)[1], threading.current_thread().name))
        if fail and "/tables/" in path and len(failures) < 2:
            failures.append(sorted(p.name for p in (tmp_path / "spool").rglob("*.pkl")))
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(StoreLocation, "write_bytes", lambda self, path, data: recorded(path, True) or write_bytes(self, path, data))
    monkeypatch.setattr(StoreLocation, "create_bytes", lambda self, path, data: recorded(path, False) or create_bytes(self, path, data))
    # A local folder's row files are written by the Parquet writer, not as bytes.
    monkeypatch.setattr(StoreLocation, "write_parquet", lambda self, path, table: recorded(path, True) or write_parquet(self, path, table))
    frame = pd.DataFrame({"a": range(50), "b": [f"row {i}" for i in range(50)]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StorageUnavailableWarning)
        with ms.init(project="p", store=str(tmp_path / "store"), run_id="r") as run:
            run.log({"loss": 0.5})  # the scalars' batch first: the last batches are written in that order
            run.log({"t": ms.Table(dataframe=frame)})
    main = threading.current_thread().name
    table_file = [thread for path, thread in writes if path.startswith("blobs/")]
    assert table_file == [main], writes
    scalar_rows = [thread for path, thread in writes if path.startswith("scalars/")]
    assert scalar_rows == [main], writes  # written at finish, by the caller
    tables_rows = [thread for path, thread in writes if path.startswith("tables/")]
    assert tables_rows[0] == main and len(tables_rows) == 3 and all(t.startswith("mediastore-io") for t in tables_rows[1:]), writes
    assert failures[0] == [] and failures[1] != [], failures  # spooled after the caller's try failed, before the retry
    store = ms.open(str(tmp_path / "store"))
    assert store.history("r")["loss"].dropna().tolist() == [0.5]
    pd.testing.assert_frame_equal(store.table("r", "t")[["a", "b"]], frame, check_dtype=False)
    assert not any(p.is_file() for p in (tmp_path / "spool").rglob("*"))
