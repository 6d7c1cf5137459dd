"""Blob garbage collection (mediastore/blobgc.py): it frees exactly the blobs no row points at,
and never one a writer is about to point a row at, also while another process logs the same
bytes (content addressing makes them the same objects)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import mediastore as ms
from mediastore.blobgc import _list_blobs, references
from mediastore.cli import main
from mediastore.compact import compact_store
from mediastore.storage import FORMAT_VERSION, StoreLocation

STANDALONE = {"pack_max_blob": 1}  # every image stands alone, content-addressed: the shared case


def images(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (12, 16, 3), dtype=np.uint8) for _ in range(n)]


def log_run(uri: str, run_id: str, pixels: list[np.ndarray], **settings) -> None:
    with ms.init(project="p", store=uri, run_id=run_id, settings=ms.Settings(**settings)) as run:
        for p in pixels:
            run.log({"img": ms.Image(p)})


def uris(store, where: str = "true") -> set[str]:
    return {u for (u,) in store.sql(f"SELECT DISTINCT blob.uri FROM images WHERE {where}").fetchall()}


def blobs(uri: str) -> dict[str, int]:
    return _list_blobs(StoreLocation(uri))


def assert_every_row_reads(uri: str) -> int:
    """Every row's blob is there and matches its sha256 (get_blob checks it); how many rows."""
    store = ms.open(uri)
    frame = store.sql("SELECT * FROM images").df()
    for _, row in frame.iterrows():
        data = store.location.get_blob(row["blob"])
        assert hashlib.sha256(data).hexdigest() == row["blob"]["sha256"]
        assert store.decode(row).to_numpy().shape == (12, 16, 3)
    return len(frame)


def test_gc_frees_exactly_the_unreferenced_blobs(store_uri):
    a, b = images(30, 1), images(10, 2)
    log_run(store_uri, "a", a, **STANDALONE)
    log_run(store_uri, "b", a[:10] + b, **STANDALONE)  # shares a's first 10 blobs
    log_run(store_uri, "c", images(5, 3))  # packed: one pack, c's alone
    log_run(store_uri, "d", images(6, 4))  # packed; half its rows are deleted below
    compact_store(StoreLocation(store_uri))  # project files hold every run's rows a second time
    store = ms.open(store_uri)
    before = blobs(store_uri)
    gone = (uris(store, "run_id = 'a'") - uris(store, "run_id <> 'a'")) | uris(store, "run_id = 'c'")
    assert len(gone) == 20 + 1 and all(u in before for u in gone)
    store.delete_run("a")
    store.delete_run("c")
    store.delete("images", where="run_id = 'd' AND step >= 3")

    first = store.gc()  # marks only: the grace period has not passed
    assert (first.marked_objects, first.marked_bytes) == (len(gone), sum(before[u] for u in gone))
    assert first.freed_objects == 0 and blobs(store_uri) == before
    dry = store.gc(grace_seconds=0, dry_run=True)
    assert (dry.freed_objects, dry.freed_bytes, dry.marked_objects) == (len(gone), sum(before[u] for u in gone), 0)
    assert blobs(store_uri) == before

    report = store.gc(grace_seconds=0)

    assert (report.freed_objects, report.freed_bytes) == (len(gone), sum(before[u] for u in gone))
    assert blobs(store_uri) == {u: n for u, n in before.items() if u not in gone}  # d's pack, partly pointed at, stays
    assert assert_every_row_reads(store_uri) == 20 + 3
    again = store.gc(grace_seconds=0)
    assert (again.freed_objects, again.marked_objects, again.pending) == (0, 0, [])


def test_blobs_inside_a_logged_table_count_as_referenced(local_store):
    pixels = images(3, 5)
    with ms.init(project="p", store=local_store, run_id="t", settings=ms.Settings(**STANDALONE)) as run:
        run.log({"table": ms.Table(columns=["name", "img"], data=[[f"i{k}", ms.Image(p)] for k, p in enumerate(pixels)])})
    location = StoreLocation(local_store)
    assert set(blobs(local_store)) == references(location)  # the table's Parquet and its 3 images
    assert len(blobs(local_store)) == 4
    assert ms.open(local_store).gc(grace_seconds=0).freed_objects == 0
    assert len(ms.open(local_store).table("t", "table")) == 3


def test_a_mark_waits_for_the_runs_running_when_it_was_made(local_store):
    log_run(local_store, "a", images(8, 1), **STANDALONE)
    store = ms.open(local_store)
    store.delete_run("a")
    live = ms.init(project="p", store=local_store, run_id="w")
    try:
        report = store.gc(grace_seconds=0)
        assert report.marked_objects == 8 and report.freed_objects == 0
        assert any("p/w" in p and "freed once they finish" in p for p in report.pending), report.pending
        assert len(blobs(local_store)) == 8
        # A writer of format 4 would not read the marks: the store now refuses it.
        assert json.loads(StoreLocation(local_store).read_marker()) == {"format_version": FORMAT_VERSION} and FORMAT_VERSION >= 5
    finally:
        live.finish()
    assert store.gc(grace_seconds=0).freed_objects == 8
    assert blobs(local_store) == {}


WRITER = textwrap.dedent(
    """
    import sys, time, pathlib
    import numpy as np
    import mediastore as ms
    store, run_id, seed, n, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    rng = np.random.default_rng(seed)
    pixels = [rng.integers(0, 255, (12, 16, 3), dtype=np.uint8) for _ in range(n)]
    run = ms.init(project="p", store=store, run_id=run_id,
                  settings=ms.Settings(pack_max_blob=1, flush_seconds=3600, heartbeat_seconds=3600))
    for p in pixels:
        run.log({"img": ms.Image(p)})
    for buf in list(run.writer._buffers.values()):  # every image encoded: its blob handed to the packer
        for *_, encoded in buf.media:
            if hasattr(encoded, "result"):
                encoded.result()
    run.writer.packer.durable()  # the blobs are stored (or found there): the rows wait in memory
    print("logged", flush=True)
    while go != "-" and not pathlib.Path(go).exists():
        time.sleep(0.05)
    run.finish()
    """
)


def _writer(uri: str, run_id: str, seed: int, n: int, go: str, tmp_path) -> subprocess.Popen:
    env = {**os.environ, "MEDIASTORE_SPOOL": str(tmp_path / "spool")}
    return subprocess.Popen([sys.executable, "-c", WRITER, uri, run_id, str(seed), str(n), go], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_gc_never_frees_a_blob_another_process_is_about_to_point_at(shared_store_uri, tmp_path):
    """The subtle race: run a's rows are deleted, so its content-addressed blobs are unreferenced;
    a writer in another process logs the same bytes, finds the blobs there (create-only PUT
    refused) and holds its rows in memory while gc passes run. Nothing may be freed under it."""
    uri = shared_store_uri
    log_run(uri, "a", images(12, 7), **STANDALONE)
    ms.open(uri).delete_run("a")
    before = blobs(uri)
    go = tmp_path / "go"
    writer = _writer(uri, "w", 7, 12, str(go), tmp_path)  # the same 12 images
    assert writer.stdout.readline().strip() == "logged", writer.stderr.read()
    assert blobs(uri) == before  # the writer stored nothing new: it points at a's blobs
    store = ms.open(uri)
    first = store.gc(grace_seconds=0)
    second = store.gc(grace_seconds=0)
    assert first.marked_objects == 12  # no row points at them yet
    assert first.freed_objects == second.freed_objects == 0
    assert any("p/w" in p for p in second.pending)
    go.touch()
    _, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err
    third = store.gc(grace_seconds=0)
    assert third.freed_objects == 0 and third.pending == []  # the mark is swept: every candidate has a row now
    assert blobs(uri) == before
    assert assert_every_row_reads(uri) == 12


def test_a_writer_after_the_mark_stores_its_own_copy(shared_store_uri, tmp_path):
    uri = shared_store_uri
    log_run(uri, "a", images(6, 8), **STANDALONE)
    store = ms.open(uri)
    store.delete_run("a")
    marked = store.gc()  # the default grace: marked, not freed
    assert marked.marked_objects == 6 and marked.freed_objects == 0
    writer = _writer(uri, "w", 8, 6, "-", tmp_path)  # the same bytes, after the mark
    out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err
    assert {u.split("/")[1] for u in uris(ms.open(uri))} == {"packs"}  # not a's condemned blobs
    report = store.gc(grace_seconds=0)
    assert report.freed_objects == 6
    assert assert_every_row_reads(uri) == 6


STRESS_WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    import mediastore as ms
    store, runs = sys.argv[1], int(sys.argv[2])
    rng = np.random.default_rng(9)
    pixels = [rng.integers(0, 255, (12, 16, 3), dtype=np.uint8) for _ in range(8)]
    for r in range(runs):
        with ms.init(project="p", store=store, run_id=f"s{r}", settings=ms.Settings(pack_max_blob=1, flush_rows=3)) as run:
            for p in pixels:  # the same bytes in every run: the same content-addressed blobs
                run.log({"img": ms.Image(p)})
    """
)


def test_gc_and_deletes_in_a_loop_while_another_process_logs_the_same_bytes(shared_store_uri, tmp_path):
    uri = shared_store_uri
    runs = 6
    env = {**os.environ, "MEDIASTORE_SPOOL": str(tmp_path / "spool")}
    writer = subprocess.Popen([sys.executable, "-c", STRESS_WRITER, uri, str(runs)], env=env, stderr=subprocess.PIPE, text=True)
    passes, deleted, freed = 0, set(), 0
    store = ms.open(uri)
    while writer.poll() is None or passes < 3:
        time.sleep(0.1)
        finished = sorted(r for r, state in store.runs()[["run_id", "state"]].itertuples(index=False) if state == "finished")
        for run_id in finished[:-1]:  # keep the newest finished run: its rows point at the blobs
            if run_id not in deleted:
                store.delete_run(run_id)
                deleted.add(run_id)
        freed += store.gc(grace_seconds=0).freed_objects
        passes += 1
    _, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err
    assert passes >= 3 and deleted
    left = sorted(set(f"s{r}" for r in range(runs)) - deleted)
    assert sorted(ms.open(uri).runs().run_id) == left
    assert assert_every_row_reads(uri) == 8 * len(left)
    assert set(blobs(uri)) == references(StoreLocation(uri))  # what is left is referenced, eventually all of it
    print(json.dumps({"passes": passes, "deleted": len(deleted), "freed": freed}))


def test_cli_gc(local_store, capsys):
    log_run(local_store, "a", images(4, 1), **STANDALONE)
    ms.open(local_store).delete_run("a")
    size = sum(blobs(local_store).values())
    assert main(["gc", "--store", local_store, "--dry-run"]) == 0
    assert "marked 4 unreferenced blobs" in capsys.readouterr().out and len(blobs(local_store)) == 4
    assert main(["gc", "--store", local_store]) == 0
    assert "freed 0 blobs" in capsys.readouterr().out and len(blobs(local_store)) == 4
    assert main(["gc", "--store", local_store, "--grace-seconds", "0"]) == 0
    assert f"freed 4 blobs ({size} bytes)" in capsys.readouterr().out
    assert blobs(local_store) == {}


@pytest.mark.parametrize("grace", [0.0])
def test_gc_on_an_empty_store(local_store, grace):
    ms.init(project="p", store=local_store, run_id="x").finish()
    report = ms.open(local_store).gc(grace_seconds=grace)
    assert (report.freed_objects, report.marked_objects, report.referenced_objects) == (0, 0, 0)
