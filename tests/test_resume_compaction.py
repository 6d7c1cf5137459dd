"""A resumed run compacts to one file per table (format 4, compact.py): its compaction rewrites
the run's published file under its own name. An engine without mediastore (pyarrow's dataset
discovery, which skips ``_`` and ``.`` files) sees the run's rows of one finished resume or of
the next, never a row twice, also while the resumes run; mediastore's readers see every row
once throughout; a store of format 3 (checked in) reads and compacts."""

from __future__ import annotations

import json
import os
import threading
import uuid
from pathlib import Path

import numpy as np
import pyarrow.dataset as ds
import pytest

import mediastore as ms
from mediastore.catalog import Catalog, is_compacted_name
from mediastore.compact import compact_store
from mediastore.storage import FORMAT_VERSION, StoreLocation

V3 = Path(__file__).parent / "data" / "store-v3"
STEPS = 6  # per resume
TABLES = ("scalars", "images", "histograms", "runs")


def log_part(uri: str, part: int, *, settings: ms.Settings | None = None) -> None:
    """The first run of "r", or its ``part``-th resume: STEPS steps of two scalars, an image
    and a histogram every other step."""
    rng = np.random.default_rng(part)
    with ms.init(project="p", store=uri, run_id="r", resume=part > 0, settings=settings) as run:
        for _ in range(STEPS):
            values = {"loss": float(run.step), "acc": run.step / 100}
            if run.step % 2 == 0:
                values["img"] = ms.Image(rng.integers(0, 256, (4, 6, 3), dtype=np.uint8))
                values["grads"] = ms.Histogram(rng.normal(size=10), num_bins=3)
            run.log(values)


def published(uri: str, table: str) -> list[str]:
    """Names of the run's published files of ``table`` in the store (a fresh listing)."""
    loc = StoreLocation(uri)
    try:
        names = [p.rsplit("/", 1)[1] for p in loc.fs.find(loc.partition_dir(table, "p", "r"))]
    except FileNotFoundError:
        return []
    return sorted(n for n in names if n.endswith(".parquet") and not n.startswith(("_", ".")))


def steps_seen(store: ms.Store) -> tuple[int, int]:
    return store.sql("SELECT count(*), count(DISTINCT (step, key)) FROM scalars WHERE run_id = 'r'").fetchall()[0]


def test_a_run_resumed_five_times_ends_with_one_file_per_table(shared_store_uri, tmp_path):
    uri = shared_store_uri
    for part in range(6):
        log_part(uri, part)
        # Each finish compacts the run: the resume's rows join the published file.
        assert {t: len(published(uri, t)) for t in TABLES} == {t: 1 for t in TABLES}, part
    store = ms.open(uri, cache=tmp_path / "cache")
    assert steps_seen(store) == (6 * STEPS * 2, 6 * STEPS * 2)
    assert store.history("r")["step"].tolist() == list(range(6 * STEPS))
    assert store.sql("SELECT count(*) FROM images WHERE run_id = 'r'").fetchall() == [(6 * STEPS // 2,)]
    runs = store.runs()
    assert runs[["run_id", "state", "last_step"]].values.tolist() == [["r", "finished", 6 * STEPS - 1]]
    compact_store(StoreLocation(uri), grace_seconds=0)  # `mediastore compact`: the replaced hidden files go
    loc = StoreLocation(uri)
    for table in TABLES:
        names = [p.rsplit("/", 1)[1] for p in loc.fs.find(loc.partition_dir(table, "p", "r"))]
        assert len(names) == 1 and is_compacted_name(names[0]), (table, names)
    again = ms.open(uri, cache=tmp_path / "cache")  # the same cache: rewritten files are new entries
    assert steps_seen(again) == (6 * STEPS * 2, 6 * STEPS * 2)
    assert again.history("r")["step"].tolist() == list(range(6 * STEPS))
    frame = again.sql("SELECT * FROM images WHERE run_id = 'r' ORDER BY step").df()
    assert [again.decode(row).to_numpy().shape for _, row in frame.iterrows()] == [(4, 6, 3)] * (6 * STEPS // 2)
    assert json.loads(loc.read_marker()) == {"format_version": FORMAT_VERSION}


def test_a_resume_that_does_not_compact_at_finish_compacts_into_the_published_file(local_store):
    uri = local_store
    log_part(uri, 0)
    for part in range(1, 4):
        log_part(uri, part, settings=ms.Settings(compact_on_finish=False, flush_rows=4))
    assert len(published(uri, "scalars")) == 1  # the resumes' rows are in hidden files
    before = steps_seen(ms.open(uri))
    assert before == (4 * STEPS * 2, 4 * STEPS * 2)
    compact_store(StoreLocation(uri), grace_seconds=0)
    assert {t: len(published(uri, t)) for t in TABLES} == {t: 1 for t in TABLES}
    assert steps_seen(ms.open(uri)) == before


def read_without_mediastore(scalars_dir: str) -> list[int]:
    """What an engine without mediastore reads: pyarrow's discovery, which skips "_" and "."."""
    try:
        table = ds.dataset(scalars_dir, format="parquet", partitioning="hive").to_table(columns=["step", "key"])
    except FileNotFoundError:
        return []
    return sorted(table.column("step").to_pylist())


def test_an_engine_without_mediastore_never_sees_a_row_twice_while_a_run_resumes(local_store):
    uri = local_store
    log_part(uri, 0)
    seen, stop = [], threading.Event()
    scalars = str(Path(uri) / "scalars")

    def reader():
        while not stop.is_set():
            seen.append(read_without_mediastore(scalars))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for part in range(1, 6):
            log_part(uri, part)
    finally:
        stop.set()
        thread.join()
    # Every read is the rows of one finished part: each step twice (loss, acc), none missing.
    allowed = {tuple(sorted(list(range(n * STEPS)) * 2)) for n in range(1, 7)}
    assert len(seen) > 10
    assert all(tuple(steps) in allowed for steps in seen), [len(s) for s in seen if tuple(s) not in allowed][:5]
    assert tuple(read_without_mediastore(scalars)) == max(allowed, key=len)


def test_readers_see_every_row_once_while_a_run_resumes_and_compacts(shared_store_uri, reading_in_a_loop):
    uri = shared_store_uri
    log_part(uri, 0)
    with reading_in_a_loop(uri, steps_seen) as seen:
        for part in range(1, 4):
            log_part(uri, part, settings=ms.Settings(flush_rows=4))
        compact_store(StoreLocation(uri))
    assert seen and all(total == distinct for total, distinct in seen), [s for s in seen if s[0] != s[1]][:5]
    assert [total for total, _ in seen] == sorted(total for total, _ in seen)  # rows only ever appear
    assert steps_seen(ms.open(uri)) == (4 * STEPS * 2, 4 * STEPS * 2)


def test_a_project_file_does_not_stand_for_a_run_whose_file_was_rewritten(shared_store_uri, tmp_path):
    uri = shared_store_uri
    log_part(uri, 0)
    compact_store(StoreLocation(uri))  # the project file stands for "r" as it is now
    log_part(uri, 1)  # the finish rewrites r's published file: same name, a new version
    listing = Catalog(StoreLocation(uri)).table_listing("scalars")
    assert [f.rsplit("/", 1)[1] for f in listing.uncovered] == published(uri, "scalars")  # read from its own file
    store = ms.open(uri, cache=tmp_path / "cache")
    assert steps_seen(store) == (2 * STEPS * 2, 2 * STEPS * 2)
    assert store.runs()["last_step"].tolist() == [2 * STEPS - 1]  # the runs index no longer stands for it either
    compact_store(StoreLocation(uri))
    assert Catalog(StoreLocation(uri)).table_listing("scalars").uncovered == []
    assert steps_seen(ms.open(uri, cache=tmp_path / "cache")) == (2 * STEPS * 2, 2 * STEPS * 2)


# -- a store of format 3 --------------------------------------------------------------------
@pytest.fixture
def v3_uri(checked_in_store):
    return checked_in_store(V3)


def check_v3(uri: str, v3b_steps: int = 12) -> None:
    store = ms.open(uri, cache=False)
    runs = store.runs()
    assert runs[["run_id", "state"]].values.tolist() == [["v3a", "finished"], ["v3b", "finished"]]
    assert store.history("v3a")["loss"].tolist() == [1.0 / (s + 1) for s in range(5)]
    assert store.history("v3b")["loss"].tolist() == [float(s) for s in range(v3b_steps)]
    image = store.decode(store.sql("SELECT * FROM images").df().iloc[0])
    assert tuple(image.to_numpy()[2, 3]) == (10, 200, 30)


def test_a_format_3_store_reads_compacts_and_resumes(v3_uri):
    check_v3(v3_uri)
    compact_store(StoreLocation(v3_uri))  # its indexes record no versions: written anew
    assert json.loads(StoreLocation(v3_uri).read_marker()) == {"format_version": FORMAT_VERSION}
    assert Catalog(StoreLocation(v3_uri)).table_listing("scalars").uncovered == []
    check_v3(v3_uri)
    with ms.init(project="old", store=v3_uri, run_id="v3b", resume=True) as run:
        for _ in range(3):
            run.log({"loss": float(run.step)})
    check_v3(v3_uri, 15)
    loc = StoreLocation(v3_uri)
    names = [p.rsplit("/", 1)[1] for p in loc.fs.find(loc.partition_dir("scalars", "old", "v3b"))]
    # Format 3 gave each resume a published file; they stay, and the last one took the new rows.
    assert len([n for n in names if not n.startswith("_")]) == 3


def test_a_rewrite_always_changes_the_files_size(local_store):
    """The indexes tell versions of a published file by its size (survives `mediastore sync`,
    unlike an ETag or mtime): rewriting a file with the very rows it holds still changes it."""
    import pyarrow.parquet as pq

    from mediastore.compact import rewrite_published

    log_part(local_store, 0)
    (path,) = [str(p) for p in Path(local_store, "scalars").rglob("*.parquet")]
    sizes = [os.path.getsize(path)]
    for _ in range(4):
        rewrite_published(StoreLocation(local_store), "scalars", path, pq.read_table(path))
        sizes.append(os.path.getsize(path))
        assert sizes[-1] != sizes[-2], sizes
    assert steps_seen(ms.open(local_store)) == (STEPS * 2, STEPS * 2)


def test_a_store_compacted_then_synced_keeps_its_indexes(tmp_path, s3_bucket):
    """Compacted on a folder, copied to a bucket by `mediastore sync`: the copy's runs index and
    project files still stand for its runs (no file read per run)."""
    from mediastore.sync import sync

    local = str(tmp_path / "store")
    log_part(local, 0)
    log_part(local, 1)
    compact_store(StoreLocation(local), grace_seconds=0)
    for target in (str(tmp_path / "copy"), f"s3://{s3_bucket}/{uuid.uuid4().hex[:12]}"):
        sync(local, target, progress=False)
        catalog = Catalog(StoreLocation(target))
        assert catalog.runs_listing().uncovered == [] and catalog.table_listing("scalars").uncovered == []
        assert steps_seen(ms.open(target, cache=tmp_path / uuid.uuid4().hex[:6])) == (2 * STEPS * 2, 2 * STEPS * 2)
