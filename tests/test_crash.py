"""Crash safety: a writer killed with SIGKILL at any moment loses at most ~the spool interval,
never leaves a store that fails to query, never doubles a row, and ends up crashed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import mediastore as ms
from mediastore.cli import main

CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    import mediastore as ms
    store, flush_rows, heartbeat = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    settings = ms.Settings(flush_rows=flush_rows, flush_seconds=3600, spool_seconds=0.5, heartbeat_seconds=heartbeat)
    run = ms.init(project="p", store=store, run_id="victim", settings=settings)
    print("ready", flush=True)
    step = 0
    while True:
        data = {"a": float(step), "b": 1.0}
        if step % 20 == 0:
            data["img"] = ms.Image(np.full((8, 8), step % 256, np.uint8))
        run.log(data)
        print(step, time.time(), flush=True)
        step += 1
        time.sleep(0.002)
    """
)


def start_child(store, flush_rows=10**6, heartbeat=30.0):
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, store, str(flush_rows), str(heartbeat)],
        stdout=subprocess.PIPE, text=True, env=os.environ.copy(),
    )
    assert proc.stdout.readline().strip() == "ready"
    return proc


def kill_after(proc, seconds):
    """SIGKILL after ``seconds``; returns the kill time and the (step, time) lines read."""
    lines = []
    deadline = time.time() + seconds
    while time.time() < deadline:
        line = proc.stdout.readline()
        if line:
            step, at = line.split()
            lines.append((int(step), float(at)))
    killed_at = time.time()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return killed_at, lines


@pytest.fixture
def spool(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDIASTORE_SPOOL", str(tmp_path / "spool"))
    return tmp_path / "spool"


@pytest.mark.parametrize(
    ("seconds", "flush_rows"),
    [(0.8, 10**6), (2.5, 10**6), (4.0, 10**6), (1.7, 40), (3.1, 7)],  # small flush_rows: killed mid-flush
)
def test_sigkill_loses_at_most_the_spool_interval(tmp_path, spool, seconds, flush_rows):
    store = str(tmp_path / "store")
    proc = start_child(store, flush_rows)
    killed_at, lines = kill_after(proc, seconds)
    must_have = [step for step, at in lines if at < killed_at - 2.0]
    assert main(["recover", "--store", store]) == 0
    s = ms.open(store)
    got = s.sql("SELECT step, count(*) FROM scalars WHERE key = 'a' GROUP BY step ORDER BY step").fetchall()
    steps = [step for step, _ in got]
    assert all(n == 1 for _, n in got), "a row was stored twice"
    assert set(must_have) <= set(steps), f"lost {sorted(set(must_have) - set(steps))[:5]}"
    assert steps == list(range(len(steps))), "rows are missing in the middle"
    # One log call spans tables that flush apart: an image may be kept whose scalars at the
    # same step were in the last moments before the kill. Each table must hold everything
    # older than the bound, exactly once, without gaps.
    image_steps = [st for (st,) in s.sql("SELECT step FROM images ORDER BY step").fetchall()]
    assert image_steps == list(range(0, 20 * len(image_steps), 20)), "an image row is missing or doubled"
    assert {st for st in must_have if st % 20 == 0} <= set(image_steps)
    for _, row in s.sql("SELECT * FROM images").df().iterrows():
        s.decode(row)  # every row's blob is there
    assert s.runs()["state"].tolist() == ["crashed"]
    assert not list(spool.glob("*/*/*/*/*.pkl"))


def test_next_init_recovers_and_resume_continues(tmp_path, spool):
    store = str(tmp_path / "store")
    proc = start_child(store)
    killed_at, lines = kill_after(proc, 1.5)
    with ms.init(project="p", store=store, run_id="victim", resume=True) as run:  # recovers first
        assert run.step > max(s for s, at in lines if at < killed_at - 2.0) if any(at < killed_at - 2.0 for _, at in lines) else True
        run.log({"a": -1.0})
    s = ms.open(store)
    assert s.sql("SELECT count(*) - count(DISTINCT step) FROM scalars WHERE key = 'a'").fetchall() == [(0,)]
    assert s.runs()["state"].tolist() == ["finished"]


def test_heartbeat_tells_a_dead_run_without_recovery(tmp_path, spool):
    store = str(tmp_path / "store")
    proc = start_child(store, heartbeat=0.2)
    kill_after(proc, 0.6)
    s = ms.open(store)
    deadline = time.time() + 5
    while s.runs()["state"].tolist() != ["crashed"]:
        assert time.time() < deadline, s.runs()["state"].tolist()
        time.sleep(0.1)
    assert s.sql("SELECT count(*) FROM scalars").fetchall()[0][0] >= 0  # queries without error


def test_a_live_writer_is_not_recovered(tmp_path, spool):
    store = str(tmp_path / "store")
    run = ms.init(project="p", store=store, run_id="alive", settings=ms.Settings(spool_seconds=0.1, flush_seconds=3600))
    run.log({"a": 1.0})
    time.sleep(0.3)
    assert main(["recover", "--store", store]) == 0
    assert ms.open(store).runs()["state"].tolist() == ["running"]
    run.finish()
    assert ms.open(store).sql("SELECT count(*) FROM scalars").fetchall() == [(1,)]


def test_spooled_histogram_rows_come_back_whole(tmp_path, spool):
    """Media rows in the spool keep their arrays (pickled as bytes): what recovery reads is what was logged."""
    import pickle

    import numpy as np

    from mediastore.spool import RunSpool
    from mediastore.storage import StoreLocation

    values = np.random.default_rng(2).standard_normal(500)
    encoded = [ms.Histogram(values, num_bins=n)._encode(None) for n in (3, 64)]
    encoded.append(ms.Histogram(np_histogram=np.histogram(values, density=True))._encode(None))
    rows = [(step, "h", 0, 1_000 + step, row) for step, row in enumerate(encoded)]
    part = RunSpool(StoreLocation(str(tmp_path / "store")), "p", "r", "t0k3n")
    part.append("histograms", 1, "media", rows)
    (file,) = spool.glob("*/p/r/t0k3n/histograms-*.pkl")
    kind, back = pickle.loads(file.read_bytes())
    assert kind == "media" and [r[:4] for r in back] == [r[:4] for r in rows]
    for (*_, got), (*_, want) in zip(back, rows):
        assert got.keys() == want.keys()
        for key, value in want.items():
            if isinstance(value, np.ndarray):
                assert got[key].dtype == value.dtype
                np.testing.assert_array_equal(got[key], value)
            else:
                assert got[key] == value


def test_the_next_init_removes_the_folders_finished_runs_leave_in_the_spool(tmp_path, spool):
    """A finished writer removes its own spool folder; the empty <run>/ folder above it goes at
    the next ms.init of the store (each walk of the spool lists what is left). A live writer's
    folders stay, and so does the spool of a dead one until it is recovered."""
    store = str(tmp_path / "store")
    for run_id in ("a", "b", "c"):
        ms.init(project="p", store=store, run_id=run_id).finish()
    ms.init(project="q", store=store, run_id="d").finish()
    (root,) = spool.iterdir()
    # Each ms.init removed the run folders the runs before it left; d's is left, empty: only
    # d's token folder went at its finish. Project folders stay.
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*")) == ["p", "q", "q/d"]
    live = ms.init(project="p", store=store, run_id="live")  # its ms.init walks the spool
    assert sorted(str(p.relative_to(root)) for p in root.glob("*/*")) == ["p/live"]
    proc = start_child(store)
    kill_after(proc, 0.5)
    ms.init(project="q", store=store, run_id="e").finish()  # recovers the victim, leaves e's empty folder
    assert ms.open(store).runs().set_index("run_id")["state"].to_dict() == {
        "a": "finished", "b": "finished", "c": "finished", "d": "finished", "e": "finished", "live": "running", "victim": "crashed"}
    ms.init(project="p", store=store, run_id="f").finish()
    assert sorted(str(p.relative_to(root)) for p in root.glob("*/*")) == ["p/f", "p/live"]
    assert len(list((root / "p" / "live").iterdir())) == 1  # the live writer's token folder
    live.finish()


def test_a_writer_makes_its_spool_folder_again_when_another_init_removed_it(tmp_path, spool, monkeypatch):
    """Another process's ms.init may remove an empty <run>/ folder between the writer making it
    and making its own folder inside (the race of the spool walk above): the writer makes it again."""
    from mediastore.spool import RunSpool
    from mediastore.storage import StoreLocation

    real_mkdir, raced = os.mkdir, []

    def mkdir_then_pruned(path, *args, **kwargs):
        real_mkdir(path, *args, **kwargs)
        if os.path.basename(path) == "r" and not raced:
            raced.append(path)
            os.rmdir(path)  # what recover's walk does to an empty <run>/ folder

    monkeypatch.setattr(os, "mkdir", mkdir_then_pruned)
    part = RunSpool(StoreLocation(str(tmp_path / "store")), "p", "r", "t0k3n")
    assert raced and (part.dir / "owner.json").is_file()


@pytest.mark.parametrize("left", [[], ["blobs/pack-1"], ["table-000001-000000.pkl"]])
def test_a_finished_writer_removes_its_spool_folder_whatever_is_left_in_it(tmp_path, spool, left):
    """Usually only owner.json is left at finish (removed by name); anything else (a blobs
    folder, a part) is walked and removed with it."""
    run = ms.init(project="p", store=str(tmp_path / "store"), run_id="r")
    folder = run.writer._spool.dir
    assert (folder / "owner.json").exists()
    for name in left:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"x")
    run.finish()
    assert not folder.exists()
    assert folder.parent.exists()  # the <run>/ folder goes at the next ms.init (above)


def test_rows_taken_for_the_spool_leave_it_once_their_batch_is_written(tmp_path, spool):
    """A batch's spool parts go when the batch is written, while the run goes on; a batch none
    of whose rows reached the spool has no parts to look for."""
    run = ms.init(project="p", store=str(tmp_path / "store"), run_id="r", settings=ms.Settings(spool_seconds=0.05))
    for step in range(10):
        run.log({"loss": float(step)})
    deadline = time.monotonic() + 10
    while not list(spool.rglob("scalars-*.pkl")) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert list(spool.rglob("scalars-*.pkl")), "the timer did not spool the rows"
    run.writer.flush("scalars")
    run.writer._io.submit(lambda: None).result(timeout=10)  # the I/O thread wrote the batch
    assert not list(spool.rglob("*.pkl"))
    assert ms.open(str(tmp_path / "store")).sql("SELECT count(*) FROM scalars").fetchall() == [(10,)]
    run.finish()
