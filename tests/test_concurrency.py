"""A team on one bucket: several writer processes at once and a reader querying throughout, on
the loopback S3 server; no lock server, no query error, every row exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import mediastore as ms
from looping_reader import read_while_writing

WRITER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    import mediastore as ms
    store, run_id, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with ms.init(project="team", store=store, run_id=run_id, settings=ms.Settings(flush_rows=30, flush_seconds=0.3)) as run:
        for step in range(steps):
            data = {"loss": 1.0 / (step + 1), "acc": step / steps}
            if step % 10 == 0:
                data["img"] = ms.Image(np.full((8, 8, 3), (step * 7) % 256, np.uint8))
            run.log(data)
            time.sleep(0.005)  # a training step: the writes span seconds, the reader queries during them
    """
)


def test_four_writers_and_a_reader(shared_store_uri, tmp_path):
    store = shared_store_uri
    ms.init(project="team", store=store, run_id="setup").finish()  # the store exists before the race
    steps, writers = 300, 4
    report = read_while_writing(
        store, tmp_path,
        ["SELECT count(*), count(DISTINCT (run_id, step, key)) FROM scalars", "SELECT count(*) FROM images"],
        [[WRITER, store, f"w{i}", str(steps)] for i in range(writers)],
    )
    assert report["errors"] == []
    assert len(report["results"]) >= 5
    for total, distinct, images in report["results"]:
        assert total == distinct, "a reader saw a row twice"
        assert total <= writers * steps * 2 and images <= writers * steps // 10
    s = ms.open(store)
    assert s.sql("SELECT run_id, count(*), count(DISTINCT (step, key)) FROM scalars GROUP BY run_id ORDER BY run_id").fetchall() == [
        (f"w{i}", steps * 2, steps * 2) for i in range(writers)
    ]
    assert s.sql("SELECT count(*) FROM images").fetchall() == [(writers * steps // 10,)]
    states = dict(s.sql("SELECT run_id, state FROM runs").fetchall())
    assert states == {"setup": "finished", **{f"w{i}": "finished" for i in range(writers)}}


def test_second_writer_on_a_running_run_is_refused_even_with_resume(store_uri):
    first = ms.init(project="p", store=store_uri, run_id="r")
    first.log({"a": 1.0})
    with pytest.raises(ms.RunExistsError, match=r"run 'r' exists already"):
        ms.init(project="p", store=store_uri, run_id="r")
    with pytest.raises(ms.RunExistsError, match=r"run 'r' in project 'p' is running \(its writer beat \d+ s ago\); two writers must not write one run"):
        ms.init(project="p", store=store_uri, run_id="r", resume=True)
    first.finish()
    with ms.init(project="p", store=store_uri, run_id="r", resume=True) as second:
        second.log({"a": 2.0})
    assert ms.open(store_uri).sql("SELECT step, value FROM scalars ORDER BY step").fetchall() == [(0, 1.0), (1, 2.0)]


SHORT_RUNS = textwrap.dedent(
    """
    import sys
    import mediastore as ms
    store, runs = sys.argv[1], int(sys.argv[2])
    for r in range(runs):
        with ms.init(project="many", store=store) as run:
            run.log({"loss": float(r)})
    """
)


def test_many_short_runs_from_two_processes_on_one_machine(tmp_path):
    """Each ms.init looks through this machine's spool for dead writers while the other process's
    runs start and finish, so spool folders appear and vanish under it."""
    store = str(tmp_path / "store")
    env = {**os.environ, "MEDIASTORE_SPOOL": str(tmp_path / "spool")}
    procs = [subprocess.Popen([sys.executable, "-c", SHORT_RUNS, store, "60"], env=env, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    runs = ms.open(store).sql("SELECT state, count(*) FROM runs GROUP BY state").fetchall()
    assert runs == [("finished", 120)]
