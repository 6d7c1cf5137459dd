"""The layout on disk: partitions, step-range files, batching, atomic visibility, blobs, schema metadata."""

from __future__ import annotations

import json
import re
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import mediastore as ms
from mediastore.schema import schema_for
from mediastore.storage import FORMAT_VERSION, StoreLocation


def parquet_files(uri, table):
    loc = StoreLocation(uri)
    return sorted(loc.fs.glob(loc.path(table, "**", "*.parquet")))


NO_COMPACTION = ms.Settings(compact_on_finish=False)


def test_layout_and_file_names(store_uri, rgb):
    with ms.init(project="proj", store=store_uri, run_id="r1", settings=NO_COMPACTION) as run:
        for step in range(5):
            run.log({"loss": 1.0 / (step + 1), "img": ms.Image(rgb)})
    loc = StoreLocation(store_uri)
    assert json.loads(loc.fs.cat_file(loc.path("_mediastore.json"))) == {"format_version": FORMAT_VERSION}
    for table in ("scalars", "images"):
        (path,) = parquet_files(store_uri, table)
        assert f"/{table}/project=proj/run=r1/" in path
        assert re.search(r"/_000000000000-000000000004-[0-9a-f]{8}-\d{6}\.parquet$", path)
    # The same image five times: one copy, in the run's one pack of small blobs.
    (blob,) = loc.fs.glob(loc.path("blobs", "*", "*"))
    assert re.search(r"/blobs/packs/[0-9a-f]{32}\.pack$", blob)
    assert loc.fs.size(blob) == ms.open(store_uri).sql("SELECT DISTINCT blob.length FROM images").fetchall()[0][0]


def test_files_carry_schema_version_and_are_step_sorted(store_uri):
    with ms.init(project="p", store=store_uri, settings=ms.Settings(flush_rows=10**6, compact_on_finish=False)) as run:
        for step in (5, 6, 7):
            run.log({"a": 1.0}, step=step, commit=True)
        run.log({"a": 2.0}, step=1)  # a lower step: stored, and the file stays sorted
    loc = StoreLocation(store_uri)
    (path,) = parquet_files(store_uri, "scalars")
    with loc.fs.open(path, "rb") as fh:
        table = pq.read_table(fh)
    meta = table.schema.metadata
    assert meta[b"mediastore.table"] == b"scalars" and meta[b"mediastore.schema_version"] == str(schema_for("scalars").version).encode()
    assert table.column("step").to_pylist() == [1, 5, 6, 7]
    assert "/_000000000001-000000000007-" in path


def test_batches_by_rows(store_uri):
    with ms.init(project="p", store=store_uri, settings=ms.Settings(flush_rows=100, compact_on_finish=False)) as run:
        for _ in range(250):
            run.log({"a": 1.0, "b": 2.0})  # 2 rows per step: a file every 50 steps
    files = parquet_files(store_uri, "scalars")
    assert len(files) == 5
    total = ms.open(store_uri).sql("SELECT count(*), count(DISTINCT step) FROM scalars").fetchall()
    assert total == [(500, 250)]


def test_batches_by_bytes(store_uri):
    with ms.init(project="p", store=store_uri, settings=ms.Settings(flush_bytes=10_000, compact_on_finish=False)) as run:
        for _ in range(10):
            run.log({"t": "x" * 4000})
    assert len(parquet_files(store_uri, "texts")) >= 3
    assert ms.open(store_uri).sql("SELECT count(*) FROM texts").fetchall() == [(10,)]


def test_batches_by_seconds_and_readers_see_rows_while_running(store_uri):
    run = ms.init(project="p", store=store_uri, settings=ms.Settings(flush_seconds=0.2))
    run.log({"a": 1.0})
    deadline = time.monotonic() + 10
    store = ms.open(store_uri)
    while store.sql("SELECT count(*) FROM scalars").fetchall() != [(1,)]:
        assert time.monotonic() < deadline, "the time-based flush never wrote the row"
        time.sleep(0.05)
    assert store.runs()["state"].tolist() == ["running"]
    run.finish()


def test_no_half_written_file_is_ever_visible(local_store):
    """Local writes go to a temporary name and are renamed: a reader's glob never matches a partial file."""
    with ms.init(project="p", store=local_store, settings=ms.Settings(flush_rows=50)) as run:
        store = ms.open(local_store)
        for step in range(2000):
            run.log({"a": float(step)})
            if step % 100 == 0:
                (count,) = store.sql("SELECT count(*) FROM scalars").fetchall()[0]
                assert count % 50 == 0  # whole files only
    loc = StoreLocation(local_store)
    assert not loc.fs.glob(loc.path("**", "*.tmp-*"))


def test_blobs_are_written_before_rows(store_uri, rgb):
    """Every blob a visible row points at exists, also mid-run."""
    with ms.init(project="p", store=store_uri, settings=ms.Settings(flush_rows=3)) as run:
        store = ms.open(store_uri)
        for step in range(12):
            run.log({"img": ms.Image(np.clip(rgb.astype(int) + step, 0, 255).astype(np.uint8))})
            for (blob,) in store.sql("SELECT blob FROM images").fetchall():
                assert store.location.fs.exists(store.location.path(blob["uri"]))


def test_blob_bytes_are_checked(store_uri, rgb):
    with ms.init(project="p", store=store_uri) as run:
        run.log({"img": ms.Image(rgb)})
    store = ms.open(store_uri)
    row = store.sql("SELECT * FROM images").df().iloc[0]
    store.location.fs.pipe_file(store.location.path(row["blob"]["uri"]), b"damaged")
    with pytest.raises(ms.BlobNotFoundError, match=r"does not match its sha256"):
        store.decode(row)
    store.location.fs.rm(store.location.path(row["blob"]["uri"]))
    with pytest.raises(ms.BlobNotFoundError, match=r"is not in the store"):
        store.decode(row)


def test_background_queue_is_bounded(store_uri, rgb):
    """With max_inflight=2 the caller waits for the encoders instead of queueing everything."""
    from mediastore.media.image import Image

    started = []

    class SlowImage(Image):
        def _encode(self, location):
            started.append(time.monotonic())
            time.sleep(0.05)
            return super()._encode(location)

    settings = ms.Settings(max_inflight=2, encode_workers=1)
    with ms.init(project="p", store=store_uri, settings=settings) as run:
        t0 = time.monotonic()
        for _ in range(6):
            run.log({"img": SlowImage(rgb)})
        elapsed = time.monotonic() - t0
    assert elapsed >= 0.15  # at least 4 of the 6 encodes had to finish before the last log returned
    assert ms.open(store_uri).sql("SELECT count(*) FROM images").fetchall() == [(6,)]


def test_store_format_newer_than_library_is_refused(local_store):
    loc = StoreLocation(local_store)
    loc.fs.makedirs(loc.root, exist_ok=True)
    loc.fs.pipe_file(loc.path("_mediastore.json"), b'{"format_version": 99}')
    with pytest.raises(ms.MediaStoreError, match=r"format version 99, newer than this mediastore understands"):
        ms.init(store=local_store)


def test_default_store_and_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with ms.init(project="p") as run:
        run.log({"a": 1})
    assert (tmp_path / "mediastore-data" / "_mediastore.json").exists()
    monkeypatch.setenv("MEDIASTORE_STORE", str(tmp_path / "elsewhere"))
    with ms.init(project="p") as run:
        run.log({"a": 1})
    assert len(ms.open().runs()) == 1


def test_parquet_files_dictionary_encode_strings_only(tmp_path):
    """write_parquet names every string leaf (nested ones too) for a dictionary and no number
    column: the names must be the column paths pyarrow writes, or the setting does nothing."""
    import io

    from mediastore.schema import table_names
    from mediastore.storage import dictionary_columns

    location = StoreLocation(str(tmp_path))
    for table in table_names():
        schema = schema_for(table).file_schema
        location.write_parquet(location.path(f"{table}.parquet"), schema.empty_table())
        meta = pq.ParquetFile(io.BytesIO(open(tmp_path / f"{table}.parquet", "rb").read())).schema
        paths = {meta.column(i).path: meta.column(i).physical_type for i in range(len(meta))}
        chosen = dictionary_columns(schema)
        assert set(chosen) <= set(paths), (table, sorted(set(chosen) - set(paths)))
        assert {p for p, kind in paths.items() if kind == "BYTE_ARRAY"} == set(chosen), table
    scalars = schema_for("scalars").file_schema
    assert "key" in dictionary_columns(scalars) and "value" not in dictionary_columns(scalars)


def test_integer_and_time_columns_are_delta_encoded_and_read_back(tmp_path):
    """Integer and timestamp columns (steps, times, a histogram's counts inside a list) are
    written DELTA_BINARY_PACKED, floats and strings as before; the values read back as written."""
    import io

    from mediastore.storage import SMALL_FILE_BYTES, delta_columns, parquet_bytes

    schema = schema_for("histograms").file_schema
    assert delta_columns(schema)["counts.list.element"] == "DELTA_BINARY_PACKED"
    assert set(delta_columns(schema_for("scalars").file_schema)) == {"step", "logged_at"}
    assert "bins.list.element" not in delta_columns(schema) and "blob.length" in delta_columns(schema_for("images").file_schema)
    table = pa.table({"step": pa.array([0, 1] * 100, pa.int64()), "counts": pa.array([[0, 5, 2**40], None] * 100, pa.list_(pa.int64())),
                      "bins": pa.array([[0.0, 0.5, 1.0, 1.5], [1.0]] * 100, pa.list_(pa.float64()))})
    assert table.nbytes >= SMALL_FILE_BYTES  # a small file is written plain (next test)
    data = parquet_bytes(table)
    meta = pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0)
    encodings = {meta.column(i).path_in_schema: meta.column(i).encodings for i in range(meta.num_columns)}
    assert "DELTA_BINARY_PACKED" in encodings["counts.list.element"]
    assert "DELTA_BINARY_PACKED" in encodings["step"] and "DELTA_BINARY_PACKED" not in encodings["bins.list.element"]
    assert pq.read_table(io.BytesIO(data)).equals(table)
    # A fixed-size list's elements are a leaf of the same name (a table's column of token ids).
    ids = pa.table({"ids": pa.FixedSizeListArray.from_arrays(pa.array(range(600), pa.int64()), 3)})
    assert delta_columns(ids.schema) == {"ids.list.element": "DELTA_BINARY_PACKED"}
    data = parquet_bytes(ids)
    assert "DELTA_BINARY_PACKED" in pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0).column(0).encodings
    assert pq.read_table(io.BytesIO(data)).equals(ids)


@pytest.mark.parametrize("rows", [3, 200])
def test_columns_inside_lists_and_maps_are_written_without_statistics(rows):
    """Min/max statistics are written for every column a reader can prune row groups by (top
    level and struct fields: step, blob.length), not for the elements of a list or a map (a
    histogram's edges and counts, a box's scores), whose range no reader prunes by."""
    import io

    from mediastore.storage import parquet_bytes, statistics_columns

    assert statistics_columns(schema_for("histograms").file_schema) == ["step", "key", "idx", "logged_at", "num_bins", "process"]
    assert statistics_columns(pa.schema([("bins", pa.list_(pa.float64()))])) is False
    assert statistics_columns(pa.schema([("step", pa.int64()), ("embedding", pa.list_(pa.float32(), 4)),
                                         ("ids", pa.large_list(pa.int64()))])) == ["step"]
    scores = pa.map_(pa.string(), pa.float64())
    table = pa.table({
        "step": pa.array(range(rows), pa.int64()),
        "blob": pa.array([{"uri": f"u{i}", "length": i} for i in range(rows)], pa.struct([("uri", pa.string()), ("length", pa.int64())])),
        "bins": pa.array([[0.0, 0.5 + i] for i in range(rows)], pa.list_(pa.float64())),
        "scores": pa.array([[("a", float(i))] for i in range(rows)], scores),
    })
    data = parquet_bytes(table)
    meta = pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0)
    stats = {meta.column(i).path_in_schema: meta.column(i).statistics for i in range(meta.num_columns)}
    assert (stats["step"].min, stats["step"].max) == (0, rows - 1)
    assert (stats["blob.length"].min, stats["blob.length"].max) == (0, rows - 1) and stats["blob.uri"].has_min_max
    assert stats["bins.list.element"] is None
    assert stats["scores.key_value.key"] is None and stats["scores.key_value.value"] is None
    assert pq.read_table(io.BytesIO(data)).equals(table)


def test_small_files_are_written_plain_and_larger_ones_compressed():
    """A table of under SMALL_FILE_BYTES (a logged table's one row) is written without zstd and
    without dictionaries, which cost more than they save at that size; a larger one with both.
    Both read back as written, statistics included."""
    import io

    from mediastore.storage import SMALL_FILE_BYTES, parquet_bytes

    def written(rows: int):
        table = pa.table({"step": pa.array(range(rows), pa.int64()), "key": pa.array(["loss"] * rows),
                          "value": pa.array([0.5] * rows, pa.float64())})
        data = parquet_bytes(table)
        assert pq.read_table(io.BytesIO(data)).equals(table)
        column = pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0).column(1)
        assert column.statistics.min == "loss" and column.statistics.max == "loss"
        return table.nbytes, column

    nbytes, small = written(3)
    assert nbytes < SMALL_FILE_BYTES
    assert small.compression == "UNCOMPRESSED" and not small.has_dictionary_page
    nbytes, large = written(200)
    assert nbytes >= SMALL_FILE_BYTES
    assert large.compression == "ZSTD" and large.has_dictionary_page


@pytest.mark.parametrize("rows", [3, 5000])
def test_a_local_parquet_file_is_written_straight_to_its_temporary_name_as_parquet_bytes_would_be(tmp_path, rows):
    """On a local folder write_parquet writes the file itself (no bytes in memory first): the
    same bytes as parquet_bytes, plain or zstd by size, and nothing but the file is left."""
    from mediastore.storage import parquet_bytes

    table = pa.table({"step": pa.array(range(rows), pa.int64()), "key": pa.array([f"k{i % 7}" for i in range(rows)]),
                      "value": pa.array(np.linspace(0, 1, rows), pa.float64())})
    loc = StoreLocation(str(tmp_path / "store"))
    path = loc.path("scalars", "project=p", "run=r", "a.parquet")
    loc.write_parquet(path, table)
    assert (tmp_path / "store/scalars/project=p/run=r/a.parquet").read_bytes() == parquet_bytes(table)
    assert pq.read_table(path).equals(table)
    assert sorted(p.name for p in (tmp_path / "store/scalars/project=p/run=r").iterdir()) == ["a.parquet"]


def test_a_local_parquet_write_that_fails_leaves_neither_the_file_nor_its_temporary(tmp_path, monkeypatch):
    """A write that fails part-way (a full disk) raises the OSError, which the writer retries,
    and leaves nothing: no half file under the name, no temporary beside it."""
    from mediastore import storage

    def half_then_full(sink, table):
        sink.write(b"PAR1 and some of a page")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage, "_write_parquet", half_then_full)
    loc = StoreLocation(str(tmp_path / "store"))
    path = loc.path("scalars", "project=p", "run=r", "a.parquet")
    with pytest.raises(OSError, match="No space left"):
        loc.write_parquet(path, pa.table({"step": pa.array([1], pa.int64())}))
    assert list((tmp_path / "store/scalars/project=p/run=r").iterdir()) == []
