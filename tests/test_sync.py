"""sync: offline logging, then uploading what is missing — blobs before rows, resumable, idempotent."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import uuid

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import mediastore as ms
from mediastore.storage import FORMAT_VERSION, StoreLocation
from mediastore.sync import (
    FormatVersionError,
    InvalidSyncError,
    InvalidSyncTypeError,
    NotAStoreError,
    SyncReport,
    _cmd_sync,
    add_parser,
    main,
    sync,
)

VIEWS = ("scalars", "images", "runs", "tables", "media")


@pytest.fixture
def make_store(request, tmp_path):
    """make_store(kind) -> a fresh, empty store URI of that kind: local, memory or s3."""
    memory: list[str] = []

    def make(kind: str) -> str:
        name = uuid.uuid4().hex[:12]
        if kind == "local":
            return str(tmp_path / f"store-{name}")
        if kind == "s3":
            return f"s3://{request.getfixturevalue('s3_bucket')}/sync-{name}"
        assert kind == "memory"
        memory.append(f"memory://sync-{name}")
        return memory[-1]

    yield make
    fs = fsspec.filesystem("memory")
    for uri in memory:
        if fs.exists(uri):
            fs.rm(uri, recursive=True)


def mask_for(step: int) -> np.ndarray:
    mask = np.zeros((24, 32), np.uint8)
    mask[step : step + 8, 4:20] = 1
    mask[0:4, :] = 2
    return mask


def image_for(rgb: np.ndarray, run_index: int, step: int) -> ms.Image:
    return ms.Image(
        np.roll(rgb, 3 * run_index + step, axis=1),
        caption=f"run {run_index} step {step}",
        masks={"pred": {"mask_data": mask_for(step), "class_labels": {1: "car", 2: "sky"}}},
    )


def log_runs(uri: str, rgb: np.ndarray, run_ids=("r1", "r2"), steps: int = 3, project: str = "p",
             settings: ms.Settings | None = None) -> None:
    """Runs with scalars, images with masks (a new blob per image and step) and, in the first
    run, a table with an image cell (its rows are a Parquet blob)."""
    for i, run_id in enumerate(run_ids):
        with ms.init(project=project, store=uri, run_id=run_id, config={"lr": 0.1 * (i + 1)}, settings=settings) as run:
            for step in range(steps):
                run.log({"loss": 1.0 / (step + 1 + i), "acc": step / 10, "val": image_for(rgb, i, step)})
            if i == 0:
                table = ms.Table(columns=["id", "image", "label"])
                table.add_data(0, image_for(rgb, i, 0), "car")
                run.log({"preds": table})


def tree(uri: str) -> dict[str, bytes]:
    """Every object of a store, by path relative to its root (fresh listing, no cache), but a
    local reader's pins (``.pins/``: hard links to what it read, not the store's content, which
    sync leaves out)."""
    loc = StoreLocation(uri)
    root = loc.root + "/"
    return {path[len(root):]: loc.fs.cat_file(path) for path in loc.fs.find(loc.root) if not path[len(root):].startswith(".pins/")}


def blob_paths(files) -> set[str]:
    return {rel for rel in files if rel.startswith("blobs/")}


def view_rows(uri: str, view: str) -> list[tuple]:
    return ms.open(uri).sql(f"SELECT * FROM {view} ORDER BY ALL").fetchall()


def referenced_blobs(uri: str) -> set[str]:
    """Every blob a row at ``uri`` points at: media blobs and mask blobs."""
    store = ms.open(uri)
    uris = store.sql("SELECT blob.uri FROM media UNION SELECT m.blob.uri FROM images, unnest(masks) AS t(m)").fetchall()
    return {u for (u,) in uris}


def assert_same_store(src: str, dst: str) -> None:
    """The destination holds exactly the source's objects, byte for byte, and reads the same."""
    src_tree, dst_tree = tree(src), tree(dst)
    assert sorted(dst_tree) == sorted(src_tree)
    assert dst_tree == src_tree
    for view in VIEWS:
        assert view_rows(dst, view) == view_rows(src, view), view
    src_store, dst_store = ms.open(src), ms.open(dst)
    images = dst_store.sql("SELECT * FROM images ORDER BY run_id, step").df()
    originals = src_store.sql("SELECT * FROM images ORDER BY run_id, step").df()
    assert len(images) == 6
    for (_, row), (_, original) in zip(images.iterrows(), originals.iterrows()):
        decoded, expected = dst_store.decode(row), src_store.decode(original)
        np.testing.assert_array_equal(decoded.to_numpy(), expected.to_numpy())
        assert decoded.caption == expected.caption
        np.testing.assert_array_equal(decoded.masks["pred"]["mask_data"], mask_for(int(row["step"])))
    assert dst_store.table("r1", "preds")["label"].tolist() == ["car"]


# -- the whole job, between every kind of store ----------------------------------------------
@pytest.mark.parametrize(
    ("src_kind", "dst_kind"), [("local", "s3"), ("local", "local"), ("memory", "local")], ids=lambda k: k
)
def test_sync_copies_everything_then_nothing(make_store, rgb, src_kind, dst_kind):
    src, dst = make_store(src_kind), make_store(dst_kind)
    log_runs(src, rgb)
    source = tree(src)
    blobs = blob_paths(source)
    files = set(source) - blobs - {"_mediastore.json"}

    report = sync(src, dst, progress=False)

    assert (report.blobs_copied, report.blobs_skipped) == (len(blobs), 0)
    assert (report.files_copied, report.files_skipped) == (len(files), 0)
    assert report.bytes_copied == sum(len(source[rel]) for rel in blobs | files)
    assert not report.dry_run and report.seconds > 0
    assert_same_store(src, dst)

    again = sync(src, dst, progress=False)
    assert (again.blobs_copied, again.files_copied, again.bytes_copied) == (0, 0, 0)
    assert (again.blobs_skipped, again.files_skipped) == (len(blobs), len(files))
    assert_same_store(src, dst)


def test_sync_after_more_logging_copies_only_the_new_objects(make_store, rgb):
    src, dst = make_store("local"), make_store("local")
    log_runs(src, rgb, run_ids=("r1",))
    sync(src, dst, progress=False)
    before = tree(src)
    log_runs(src, rgb, run_ids=("r1", "r2"), project="q")  # new project: new rows, some new blobs
    new = {rel for rel in tree(src) if rel not in before}
    assert new and blob_paths(new)

    report = sync(src, dst, progress=False)

    assert report.blobs_copied == len(blob_paths(new))
    assert report.files_copied == len(new - blob_paths(new))
    assert tree(dst) == tree(src)
    assert view_rows(dst, "scalars") == view_rows(src, "scalars")


def test_blobs_already_at_the_destination_are_not_copied_again(make_store, rgb):
    src, dst = make_store("local"), make_store("s3")
    alone = ms.Settings(pack_max_blob=1)  # every blob stored alone, content-addressed (packs have per-writer names)
    log_runs(src, rgb, settings=alone)
    with ms.init(project="p", store=dst, run_id="theirs", settings=alone) as run:  # a teammate logged the same image
        run.log({"val": image_for(rgb, 0, 0)})
    shared = blob_paths(tree(src)) & blob_paths(tree(dst))
    assert len(shared) == 2  # the image and its mask
    src_blobs = blob_paths(tree(src))

    report = sync(src, dst, progress=False)

    assert report.blobs_skipped == len(shared)
    assert report.blobs_copied == len(src_blobs) - len(shared)
    dst_runs = {r for (r,) in ms.open(dst).sql("SELECT run_id FROM runs").fetchall()}
    assert dst_runs == {"r1", "r2", "theirs"}
    src_rows = view_rows(src, "images")
    dst_rows = ms.open(dst).sql("SELECT * FROM images WHERE run_id <> 'theirs' ORDER BY ALL").fetchall()
    assert dst_rows == src_rows


# -- interruptions ----------------------------------------------------------------------------
class Interrupted(Exception):
    pass


def interrupt_after(n: int):
    calls: list[tuple[int, int, int]] = []

    def progress(done: int, total: int, nbytes: int) -> None:
        calls.append((done, total, nbytes))
        if done >= n:
            raise Interrupted(f"stopped after {done} of {total}")

    return progress, calls


@pytest.mark.parametrize("dst_kind", ["local", "s3"])
@pytest.mark.parametrize("phase", ["blobs", "rows"])
def test_an_interrupted_sync_leaves_a_readable_destination_and_a_rerun_finishes(make_store, rgb, dst_kind, phase):
    src, dst = make_store("local"), make_store(dst_kind)
    log_runs(src, rgb)
    source = tree(src)
    n_blobs = len(blob_paths(source))
    stop_after = 3 if phase == "blobs" else n_blobs + 2
    progress, calls = interrupt_after(stop_after)

    with pytest.raises(Interrupted):
        sync(src, dst, progress=progress, workers=1)

    partial = tree(dst)
    assert calls[0] == (0, len(source) - 1, 0)  # every object but the marker is to copy
    assert {rel: source[rel] for rel in partial} == partial  # whole objects only, no temporary files
    assert len(partial) == stop_after + 1  # the marker and what was copied
    if phase == "blobs":
        assert set(partial) - {"_mediastore.json"} <= blob_paths(source)  # no row before every blob is there
    else:
        assert blob_paths(partial) == blob_paths(source)
    assert referenced_blobs(dst) <= set(partial)  # a reader never meets a row without its blob

    report = sync(src, dst, progress=False)

    assert report.blobs_skipped + report.files_skipped == stop_after
    assert report.blobs_copied + report.files_copied == len(source) - 1 - stop_after
    assert_same_store(src, dst)


def test_an_interrupt_stops_pending_copies_and_writes_nothing_partial(make_store, rgb):
    src, dst = make_store("local"), make_store("local")
    log_runs(src, rgb)
    progress, _ = interrupt_after(1)

    with pytest.raises(Interrupted):
        sync(src, dst, progress=progress, workers=4)

    copied = tree(dst)
    assert len(copied) < len(tree(src))  # the queued copies were cancelled
    assert not [rel for rel in copied if ".tmp-" in rel]
    sync(src, dst, progress=False)
    assert tree(dst) == tree(src)


# -- what is copied ---------------------------------------------------------------------------
def test_dry_run_reports_and_writes_nothing(make_store, rgb):
    src, dst = make_store("memory"), make_store("local")
    log_runs(src, rgb)
    source = tree(src)

    report = sync(src, dst, progress=False, dry_run=True)

    assert report.dry_run
    assert report.blobs_copied == len(blob_paths(source))
    assert report.files_copied == len(source) - len(blob_paths(source)) - 1
    assert report.bytes_copied == sum(len(v) for k, v in source.items() if k != "_mediastore.json")
    assert not os.path.exists(dst)
    assert report.summary().startswith(f"dry run: would copy {report.blobs_copied} blobs and {report.files_copied} files")
    real = sync(src, dst, progress=False)
    assert (real.blobs_copied, real.files_copied, real.bytes_copied) == (
        report.blobs_copied,
        report.files_copied,
        report.bytes_copied,
    )


def test_temporary_files_of_interrupted_writes_are_not_copied(make_store, rgb):
    src, dst = make_store("local"), make_store("local")
    log_runs(src, rgb, run_ids=("r1",))
    scalars = next(rel for rel in sorted(tree(src)) if rel.startswith("scalars/"))
    leftover = os.path.join(src, f"{scalars}.tmp-0123abcd")
    with open(leftover, "wb") as fh:
        fh.write(b"PAR1 half a file")

    sync(src, dst, progress=False)

    assert f"{scalars}.tmp-0123abcd" not in tree(dst)
    assert view_rows(dst, "scalars") == view_rows(src, "scalars")


def test_every_row_file_is_copied_including_files_a_compaction_replaced(make_store, rgb):
    """Sync copies files, not rows: a merged file and the files it replaces all arrive, so the
    destination's reader decides what is live exactly as the source's does."""
    src, dst = make_store("local"), make_store("local")
    with ms.init(project="p", store=src, run_id="r1", settings=ms.Settings(flush_rows=4)) as run:
        for step in range(8):
            run.log({"loss": float(step)})  # two files of 4 rows
    loc = StoreLocation(src)
    directory = loc.partition_dir("scalars", "p", "r1")

    def metadata(path: str) -> dict:
        return pq.read_metadata(path).metadata or {}

    files = loc.list_files(directory)
    if not any(b"mediastore.replaces" in metadata(f) for f in files):  # finish() did not compact: do it here
        merged = pa.concat_tables([pq.read_table(f) for f in files])
        name = "000000000000-000000000007-mfeedbeef-000000.parquet"
        extra = {
            b"mediastore.replaces": json.dumps([f.rsplit("/", 1)[1] for f in files]).encode(),
            b"mediastore.group": json.dumps([name]).encode(),
            b"mediastore.compacted_at": b"0",
        }
        loc.write_parquet(f"{directory}/{name}", merged.replace_schema_metadata({**(merged.schema.metadata or {}), **extra}))
        files = loc.list_files(directory)
    replaced = {r for f in files for r in json.loads(metadata(f).get(b"mediastore.replaces", b"[]"))}
    assert len(replaced) == 2 and replaced < {f.rsplit("/", 1)[1] for f in files}

    sync(src, dst, progress=False)

    copied = {rel.rsplit("/", 1)[1] for rel in tree(dst) if rel.startswith("scalars/")}
    assert copied == {f.rsplit("/", 1)[1] for f in files}
    assert view_rows(dst, "scalars") == view_rows(src, "scalars")
    assert ms.open(dst).sql("SELECT count(*) FROM scalars").fetchall() == [(8,)]


def test_files_that_vanish_and_appear_during_a_sync_are_handled(make_store, rgb):
    """A compaction deleting replaced files while sync runs: the vanished file is skipped and a
    second listing pass copies the file that arrived meanwhile."""
    src, dst = make_store("local"), make_store("local")
    log_runs(src, rgb)
    rows = sorted(rel for rel in tree(src) if rel.startswith("scalars/"))
    doomed = os.path.join(src, rows[-1])
    newcomer = os.path.join(src, "scalars", "project=p", "run=r1", "000000000099-000000000099-late0000-000000.parquet")

    def progress(done: int, total: int, nbytes: int) -> None:
        if done == 1 and os.path.exists(doomed):
            os.remove(doomed)
            pq.write_table(pa.table({"step": [99]}), newcomer)

    report = sync(src, dst, progress=progress, workers=1)

    assert tree(dst) == tree(src)
    assert os.path.relpath(newcomer, src).replace(os.sep, "/") in tree(dst)
    assert report.files_copied == len(tree(src)) - len(blob_paths(tree(src))) - 1


def test_a_heartbeat_rewritten_in_place_is_copied_again(make_store, rgb):
    """Row files never change, but a running writer rewrites its heartbeat record under one name,
    usually with the same size: sync compares those bytes, so the destination's run stays current."""
    import pyarrow.compute as pc

    src, dst = make_store("local"), make_store("s3")
    log_runs(src, rgb, run_ids=("r1",))
    loc = StoreLocation(src)
    directory = loc.partition_dir("runs", "p", "r1")
    record = pq.read_table(loc.list_files(directory)[-1])
    heartbeat = f"{directory}/_heartbeat-feedbeef.parquet"
    rel = heartbeat[len(loc.root) + 1 :]

    def beat(seconds: int) -> None:
        i = record.schema.get_field_index("updated_at")
        later = pc.add(record.column(i), pa.scalar(seconds * 10**6, pa.duration("us")))
        loc.write_parquet(heartbeat, record.set_column(i, record.schema.field(i), later))

    beat(1)
    first = sync(src, dst, progress=False)
    size = len(tree(dst)[rel])
    beat(2)
    assert len(tree(src)[rel]) == size  # same name, same size, other content

    again = sync(src, dst, progress=False)

    assert (again.blobs_copied, again.files_copied) == (0, 1)
    assert again.files_skipped == first.files_copied - 1
    assert tree(dst) == tree(src)
    assert view_rows(dst, "runs") == view_rows(src, "runs")
    assert sync(src, dst, progress=False).files_copied == 0


# -- progress ---------------------------------------------------------------------------------
def test_progress_callback_sees_every_object_and_the_bytes(make_store, rgb):
    src, dst = make_store("memory"), make_store("memory")
    log_runs(src, rgb, run_ids=("r1",))
    calls: list[tuple[int, int, int]] = []

    report = sync(src, dst, progress=lambda *a: calls.append(a))

    total = report.blobs_copied + report.files_copied
    assert [c[0] for c in calls] == list(range(total + 1))
    assert {c[1] for c in calls} == {total}
    assert calls[-1][2] == report.bytes_copied
    assert [c[2] for c in calls] == sorted(c[2] for c in calls)
    calls.clear()
    sync(src, dst, progress=lambda *a: calls.append(a))
    assert calls == []  # nothing to copy, nothing to report


def test_default_progress_bar_goes_to_stderr(make_store, rgb, capsys):
    src, dst = make_store("local"), make_store("local")
    log_runs(src, rgb, run_ids=("r1",))

    report = sync(src, dst)

    out, err = capsys.readouterr()
    total = report.blobs_copied + report.files_copied
    assert out == ""
    assert f"{total}/{total} objects" in err.splitlines()[-1]
    sync(src, make_store("local"), progress=False)
    assert capsys.readouterr() == ("", "")


# -- refusals ---------------------------------------------------------------------------------
def test_a_destination_with_a_newer_format_is_refused_before_anything_is_copied(make_store, rgb):
    src, dst = make_store("local"), make_store("s3")
    log_runs(src, rgb, run_ids=("r1",))
    loc = StoreLocation(dst)
    loc.write_bytes(loc.path("_mediastore.json"), json.dumps({"format_version": FORMAT_VERSION + 1}).encode())

    with pytest.raises(FormatVersionError, match=rf"destination .* has store format version {FORMAT_VERSION + 1}, newer than the source's \({FORMAT_VERSION}\); .*sync into another destination"):
        sync(src, dst, progress=False)
    assert list(tree(dst)) == ["_mediastore.json"]


def test_a_source_with_a_newer_format_is_refused(make_store):
    src, dst = make_store("local"), make_store("local")
    loc = StoreLocation(src)
    loc.write_bytes(loc.path("_mediastore.json"), json.dumps({"format_version": FORMAT_VERSION + 1}).encode())
    with pytest.raises(FormatVersionError, match=r"newer than this mediastore understands .*pip install -U mediastore"):
        sync(src, dst, progress=False)
    assert not os.path.exists(dst)


def test_a_missing_destination_marker_is_written(make_store, rgb):
    src, dst = make_store("local"), make_store("memory")
    log_runs(src, rgb, run_ids=("r1",))
    sync(src, dst, progress=False)
    loc = StoreLocation(dst)
    assert json.loads(loc.fs.cat_file(loc.path("_mediastore.json"))) == {"format_version": FORMAT_VERSION}


@pytest.mark.parametrize("content", [None, b"not json"])
def test_a_source_that_is_not_a_store_is_refused(make_store, tmp_path, content):
    src = str(tmp_path / "not-a-store")
    os.makedirs(src)
    if content is not None:
        with open(os.path.join(src, "_mediastore.json"), "wb") as fh:
            fh.write(content)
    with pytest.raises(NotAStoreError, match=r"not a mediastore store: it has no _mediastore.json; pass the folder|damaged _mediastore.json"):
        sync(src, make_store("local"), progress=False)
    assert issubclass(NotAStoreError, FileNotFoundError) and issubclass(NotAStoreError, ms.MediaStoreError)


def test_same_or_nested_stores_are_refused(make_store, rgb):
    src = make_store("local")
    log_runs(src, rgb, run_ids=("r1",))
    with pytest.raises(InvalidSyncError, match=r"are the same store; pass another destination"):
        sync(src, src, progress=False)
    with pytest.raises(InvalidSyncError, match=r"inside one another.*pass a destination outside the source store"):
        sync(src, os.path.join(src, "backup"), progress=False)
    with pytest.raises(InvalidSyncError, match=r"inside one another"):
        sync(src, os.path.dirname(src), progress=False)


def test_bad_arguments_are_refused(make_store, rgb):
    src, dst = make_store("memory"), make_store("memory")
    log_runs(src, rgb, run_ids=("r1",))
    with pytest.raises(InvalidSyncTypeError, match=r"progress='yes' \(str\) is not allowed: pass True"):
        sync(src, dst, progress="yes")
    with pytest.raises(InvalidSyncError, match=r"workers=0 is not allowed: pass an int >= 1"):
        sync(src, dst, progress=False, workers=0)
    assert tree(dst) == {}


# -- the command line -------------------------------------------------------------------------
def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mediastore")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_cmd_sync_as_registered_in_the_cli(make_store, rgb, capsys):
    src, dst = make_store("local"), make_store("s3")
    log_runs(src, rgb)

    dry = parse(["sync", src, dst, "--dry-run", "--no-progress"])
    assert dry.func is _cmd_sync
    assert dry.func(dry) == 0
    assert capsys.readouterr().out.startswith("dry run: would copy ")
    assert tree(dst) == {}

    args = parse(["sync", src, dst, "--no-progress", "--destination-options", "{}", "--workers", "3"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"copied {len(blob_paths(tree(src)))} blobs and ")
    assert_same_store(src, dst)


def test_cmd_sync_refuses_options_that_are_not_a_json_object(make_store, capsys):
    src, dst = make_store("local"), make_store("local")
    args = parse(["sync", src, dst, "--source-options", "[1]"])
    with pytest.raises(InvalidSyncError, match=r"--source-options '\[1\]' is not a JSON object; pass fsspec options as one"):
        _cmd_sync(args)
    assert main([src, dst, "--destination-options", "{oops"]) == 2
    assert "mediastore: --destination-options '{oops' is not a JSON object" in capsys.readouterr().err


def test_python_m_mediastore_sync_in_a_subprocess(make_store, rgb):
    src, dst = make_store("local"), make_store("local")
    log_runs(src, rgb)

    done = subprocess.run([sys.executable, "-m", "mediastore.sync", src, dst], capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("copied ")
    assert "objects" in done.stderr  # the progress bar, one line per update in a log
    assert_same_store(src, dst)
    again = subprocess.run(
        [sys.executable, "-m", "mediastore.sync", src, dst, "--no-progress"], capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0 and again.stderr == ""
    assert again.stdout.startswith("copied 0 blobs and 0 files (0 B)")
    missing = subprocess.run(
        [sys.executable, "-m", "mediastore.sync", dst + "-nope", src], capture_output=True, text=True, timeout=120
    )
    assert missing.returncode == 2
    assert "is not a mediastore store: it has no _mediastore.json" in missing.stderr


def test_report_summary_reads_as_a_sentence():
    report = SyncReport(blobs_copied=3, blobs_skipped=1, files_copied=2, files_skipped=0, bytes_copied=3 * 1024 * 1024, seconds=1.25)
    assert report.summary() == "copied 3 blobs and 2 files (3.0 MiB) in 1.2 s; 1 blobs and 0 files were already there"
