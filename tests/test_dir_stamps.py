"""Run directory stamps (catalog.py): on a local folder the runs index records each settled run
directory's mtime and inode, and the runs view does not list a directory whose stamp is the
one recorded. Any change in the directory (a resume, a deletion of replaced files) changes the
stamp, so the view reads the run's files again; a directory changed within 2 s of the index
gets no stamp (it could change again within the same mtime tick)."""

from __future__ import annotations

import json
import os

import pyarrow.parquet as pq
import pytest

import mediastore as ms
from mediastore.catalog import INDEX_DIR, Catalog
from mediastore.compact import compact_store
from mediastore.storage import StoreLocation

RUNS = 4


def log(uri: str, run_id: str, *, resume: bool = False, loss: float = 1.0) -> None:
    with ms.init(project="p", store=uri, run_id=run_id, resume=resume) as run:
        run.log({"loss": loss})
        run.summary["last"] = loss


def settle(root: str, seconds: float = 10.0) -> None:
    """Make every run directory look last changed ``seconds`` ago (what waiting would do)."""
    project_dir = os.path.join(root, "runs", "project=p")
    for name in os.listdir(project_dir):
        if name.startswith("run="):
            path = os.path.join(project_dir, name)
            then = os.stat(path).st_mtime_ns - int(seconds * 1e9)
            os.utime(path, ns=(then, then))


def index_stamps(root: str) -> dict[str, str | None]:
    index_dir = os.path.join(root, "runs", "project=p", INDEX_DIR)
    catalog = Catalog(StoreLocation(root))
    live = catalog.runs_listing("p").index
    assert len(live) == 1
    table = pq.read_table(live[0], columns=["run_id", "record_dir_stamp"])
    assert live[0].startswith(index_dir)
    return dict(zip(table.column("run_id").to_pylist(), table.column("record_dir_stamp").to_pylist()))


@pytest.fixture
def settled_store(tmp_path):
    root = str(tmp_path / "store")
    for i in range(RUNS):
        log(root, f"r{i}", loss=float(i))
    compact_store(StoreLocation(root))
    settle(root)
    compact_store(StoreLocation(root))  # the settled stamps are new: the index is written again
    return root


def listed_dirs(catalog: Catalog, monkeypatch) -> list[str]:
    listed = []
    original = catalog._list_local

    def counting(prefix):
        listed.append(prefix.rsplit("/", 1)[1])
        return original(prefix)

    monkeypatch.setattr(catalog, "_list_local", counting)
    catalog.runs_view_listing()
    return listed


def test_the_index_records_a_stamp_only_for_settled_directories(tmp_path):
    root = str(tmp_path / "store")
    for i in range(RUNS):
        log(root, f"r{i}")
    compact_store(StoreLocation(root))
    assert set(index_stamps(root).values()) == {None}  # just written: not settled
    settle(root)
    report = compact_store(StoreLocation(root))
    assert report.indexed == RUNS
    stamps = index_stamps(root)
    for i in range(RUNS):
        st = os.stat(os.path.join(root, "runs", "project=p", f"run=r{i}"))
        assert stamps[f"r{i}"] == f"{st.st_mtime_ns:x}-{st.st_ino:x}"
    assert compact_store(StoreLocation(root)).indexed == 0  # nothing new: not written again


def test_the_runs_view_does_not_list_a_directory_with_its_recorded_stamp(settled_store, monkeypatch):
    catalog = Catalog(StoreLocation(settled_store))
    assert listed_dirs(catalog, monkeypatch) == [INDEX_DIR]
    frame = ms.open(settled_store).runs()
    assert list(frame.run_id) == [f"r{i}" for i in range(RUNS)]
    assert set(frame.state) == {"finished"}


def test_a_resume_after_the_index_is_seen_and_its_directory_listed(settled_store, monkeypatch):
    log(settled_store, "r1", resume=True, loss=42.0)
    catalog = Catalog(StoreLocation(settled_store))
    assert sorted(listed_dirs(catalog, monkeypatch)) == [INDEX_DIR, "run=r1"]
    frame = ms.open(settled_store).runs().set_index("run_id")
    assert json.loads(frame.loc["r1", "summary"])["last"] == 42.0
    assert json.loads(frame.loc["r0", "summary"])["last"] == 0.0
    history = ms.open(settled_store).history("r1")
    assert history["loss"].tolist() == [1.0, 42.0]


def test_a_resumed_run_that_is_running_shows_running(settled_store):
    run = ms.init(project="p", store=settled_store, run_id="r2", resume=True)
    try:
        frame = ms.open(settled_store).runs().set_index("run_id")
        assert frame.loc["r2", "state"] == "running"
    finally:
        run.finish()
    assert ms.open(settled_store).runs().set_index("run_id").loc["r2", "state"] == "finished"


def test_a_run_deleted_and_logged_again_under_its_id_is_seen(settled_store):
    ms.open(settled_store).delete_run("r3")
    log(settled_store, "r3", loss=7.0)
    frame = ms.open(settled_store).runs().set_index("run_id")
    assert json.loads(frame.loc["r3", "summary"])["last"] == 7.0


def test_a_new_run_after_the_index_is_listed(settled_store):
    log(settled_store, "new", loss=5.0)
    frame = ms.open(settled_store).runs()
    assert sorted(frame.run_id) == sorted([f"r{i}" for i in range(RUNS)] + ["new"])


def test_an_index_without_stamps_still_reads_every_run(tmp_path, monkeypatch):
    root = str(tmp_path / "store")
    for i in range(RUNS):
        log(root, f"r{i}")
    compact_store(StoreLocation(root))  # nothing settled: an index without stamps
    catalog = Catalog(StoreLocation(root))
    assert len(listed_dirs(catalog, monkeypatch)) == RUNS + 1
    assert len(ms.open(root).runs()) == RUNS


# -- a store's own listing of the data tables: settled run directories are not read again --------

def settle_all(root: str, seconds: float = 10.0) -> None:
    """Every directory of the store looks last changed ``seconds`` ago (what waiting would do)."""
    for dirpath, _dirs, _files in os.walk(root):
        then = os.stat(dirpath).st_mtime_ns - int(seconds * 1e9)
        os.utime(dirpath, ns=(then, then))


def scalars_read(store: ms.Store, monkeypatch) -> tuple[list, list[str]]:
    """The query's rows, and the run directories of ``scalars`` read (os.scandir) to answer it."""
    read = []
    original = os.scandir

    def counting(path):
        if "/scalars/" in str(path) and "run=" in str(path):
            read.append(str(path).rsplit("/", 1)[1])
        return original(path)

    monkeypatch.setattr(os, "scandir", counting)
    try:
        rows = sorted(store.sql("SELECT run_id, step, value FROM scalars WHERE key = 'loss'").fetchall())
    finally:
        monkeypatch.setattr(os, "scandir", original)
    return rows, read


def test_a_query_does_not_read_a_settled_run_directory_again(tmp_path, monkeypatch):
    root = str(tmp_path / "store")
    for i in range(RUNS):
        log(root, f"r{i}", loss=float(i))
    store = ms.open(root)
    every = [f"run=r{i}" for i in range(RUNS)]
    rows, read = scalars_read(store, monkeypatch)
    assert len(rows) == RUNS and sorted(read) == every
    rows_again, read = scalars_read(store, monkeypatch)
    assert rows_again == rows and sorted(read) == every  # changed within 2 s: read again
    settle_all(root)
    rows_again, read = scalars_read(store, monkeypatch)
    assert rows_again == rows and sorted(read) == every  # read once more, now with their stamps
    rows_again, read = scalars_read(store, monkeypatch)
    assert rows_again == rows and read == []  # one stat per run, no directory read


def test_changes_in_settled_run_directories_are_seen(tmp_path, monkeypatch):
    root = str(tmp_path / "store")
    for i in range(RUNS):
        log(root, f"r{i}", loss=float(i))
    settle_all(root)
    store = ms.open(root)
    rows, _ = scalars_read(store, monkeypatch)
    rows, read = scalars_read(store, monkeypatch)
    assert read == [] and [r[2] for r in rows] == [0.0, 1.0, 2.0, 3.0]

    log(root, "r1", resume=True, loss=42.0)  # a resume: new files, the published one rewritten
    rows, read = scalars_read(store, monkeypatch)
    assert read == ["run=r1"]
    assert sorted(r[2] for r in rows if r[0] == "r1") == [1.0, 42.0]

    store.delete("scalars", where="run_id = 'r2'")  # the published file rewritten under its name
    rows, read = scalars_read(store, monkeypatch)
    assert sorted(read) == ["run=r1", "run=r2"]  # r1 changed within 2 s: still read each time
    assert not [r for r in rows if r[0] == "r2"]

    store.delete_run("r3")
    log(root, "r4", loss=4.0)
    rows, _ = scalars_read(store, monkeypatch)
    assert sorted({r[0] for r in rows}) == ["r0", "r1", "r4"]
    # A fresh catalog agrees with the one that kept its listing.
    assert scalars_read(ms.open(root), monkeypatch)[0] == rows
