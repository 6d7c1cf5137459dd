"""Reading: ms.open, sql (pandas and Arrow agree), runs, history, decode from any media row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mediastore as ms


@pytest.fixture
def two_runs(store_uri, rgb):
    for run_no in range(2):
        with ms.init(project="p", store=store_uri, run_id=f"run{run_no}", name=f"n{run_no}") as run:
            for step in range(20):
                run.log({"loss": 1.0 / (step + 1 + run_no), "acc": step / 20})
                if step % 10 == 0:
                    run.log({"img": [ms.Image(rgb), ms.Image(255 - rgb)]}, commit=False)
                    run.log({"val_acc": 0.5 + step / 100}, step=run.step)  # sparse key
    return store_uri


def test_sql_pandas_and_arrow_agree(two_runs):
    store = ms.open(two_runs)
    query = "SELECT run_id, step, key, value FROM scalars ORDER BY ALL"
    frame = store.sql(query).df()
    arrow = store.sql(query).to_arrow_table().to_pandas()
    pd.testing.assert_frame_equal(frame, arrow, check_dtype=False)
    assert len(frame) == 2 * (20 * 2 + 2)


def test_runs_lists_each_run_once_with_newest_state(two_runs):
    runs = ms.open(two_runs).runs()
    assert runs[["run_id", "name", "state"]].values.tolist() == [["run0", "n0", "finished"], ["run1", "n1", "finished"]]
    assert ms.open(two_runs).runs(project="other").empty


def test_history_is_one_row_per_step(two_runs):
    store = ms.open(two_runs)
    history = store.history("run1")
    assert list(history.columns) == ["step", "acc", "loss", "val_acc"]
    assert history["step"].tolist() == list(range(20))
    expected = store.sql("SELECT step, value FROM scalars WHERE run_id = 'run1' AND key = 'loss' ORDER BY step").fetchall()
    got = history.dropna(subset=["loss"])[["step", "loss"]].itertuples(index=False)
    assert [tuple(r) for r in got] == expected
    assert history["val_acc"].notna().sum() == 2
    only = store.history("run1", keys=["val_acc", "missing"])
    assert list(only.columns) == ["step", "val_acc"]
    assert only["step"].tolist() == [1, 11]


def test_history_later_write_wins_for_a_repeated_step(store_uri):
    with ms.init(project="p", store=store_uri, run_id="r", settings=ms.Settings(flush_rows=2)) as run:
        for step in range(4):
            run.log({"a": float(step)})
        run.log({"a": 100.0}, step=1)  # a lower step, logged later, in a later file
    history = ms.open(store_uri).history("r")
    assert history["a"].tolist() == [0.0, 100.0, 2.0, 3.0]


def test_history_over_files_whose_keys_differ(store_uri):
    # Batches of 5 rows: 14 files, each with its own dictionary of keys (some with "b" first,
    # some without "b", "c" only at the end): history reads each file's key codes as they are.
    with ms.init(project="p", store=store_uri, run_id="r", settings=ms.Settings(flush_rows=5, compact_on_finish=False)) as run:
        for step in range(30):
            run.log({**({"b": -step} if step % 3 else {}), "a": step, **({"c": 0.5} if step > 25 else {})})
    store = ms.open(store_uri)
    assert len(store._catalog.live_files("scalars", "p", "r")) > 2
    history = store.history("r")
    rows = store.sql("SELECT step, key, value FROM scalars WHERE run_id = 'r'").df()
    expected = rows.pivot(index="step", columns="key", values="value").reset_index().rename_axis(columns=None)
    pd.testing.assert_frame_equal(history, expected[["step", "a", "b", "c"]], check_dtype=False)
    picked = store.history("r", keys=["c", "b"])
    assert list(picked.columns) == ["step", "c", "b"]
    assert picked.loc[picked["step"] == 28, ["c", "b"]].values.tolist() == [[0.5, -28.0]]
    history.loc[0, "a"] = 99.0  # the frame is the caller's: a later read is not changed by it
    assert store.history("r")["a"].iloc[0] == 0.0


def test_history_errors(two_runs):
    store = ms.open(two_runs)
    with pytest.raises(ms.RunNotFoundError, match=r"no run 'nope' in the store"):
        store.history("nope")
    with pytest.raises(ms.InvalidNameError, match=r"run_id '../x' is not allowed"):
        store.history("../x")


def test_history_ambiguous_run_id_needs_project(store_uri):
    for project in ("a", "b"):
        with ms.init(project=project, store=store_uri, run_id="same") as run:
            run.log({"x": 1.0 if project == "a" else 2.0})
    store = ms.open(store_uri)
    with pytest.raises(ms.RunNotFoundError, match=r"exists in projects \['a', 'b'\]; pass project="):
        store.history("same")
    assert store.history("same", project="b")["x"].tolist() == [2.0]


def test_decode_from_images_row_media_row_and_dict(two_runs, rgb):
    store = ms.open(two_runs)
    image_row = store.sql("SELECT * FROM images WHERE run_id = 'run1' AND idx = 1 ORDER BY step LIMIT 1").df().iloc[0]
    np.testing.assert_array_equal(store.decode(image_row).to_numpy(), 255 - rgb)
    media_row = store.sql("SELECT * FROM media WHERE run_id = 'run1' AND idx = 1 ORDER BY step LIMIT 1").df().iloc[0]
    assert media_row["kind"] == "images"
    np.testing.assert_array_equal(store.decode(media_row).to_numpy(), 255 - rgb)
    rel = store.sql("SELECT * FROM images ORDER BY run_id, step, idx LIMIT 1")
    as_dict = dict(zip(rel.columns, rel.fetchall()[0]))
    np.testing.assert_array_equal(store.decode(as_dict).to_numpy(), rgb)


def test_decode_errors(two_runs):
    store = ms.open(two_runs)
    with pytest.raises(ms.InvalidMediaError, match=r"decode needs the row's 'kind' column"):
        store.decode({"blob": {}})
    with pytest.raises(ms.InvalidMediaError, match=r"decode takes a row as a dict or pandas Series, got int"):
        store.decode(3)


def test_a_store_opened_before_logging_sees_new_rows(store_uri):
    store = ms.open(store_uri)
    assert store.sql("SELECT count(*) FROM scalars").fetchall() == [(0,)]
    with ms.init(project="p", store=store_uri) as run:
        run.log({"a": 1})
    assert store.sql("SELECT count(*) FROM scalars").fetchall() == [(1,)]
    with ms.init(project="p", store=store_uri) as run:
        run.log({"a": 1})
    assert store.sql("SELECT count(*) FROM scalars").fetchall() == [(2,)]


def test_other_readers_see_plain_hive_parquet(local_store):
    """Nothing needs mediastore to read the files: pyarrow's dataset API with hive partitioning."""
    import pyarrow.dataset as ds

    with ms.init(project="p", store=local_store, run_id="r") as run:
        run.log({"a": 1.0})
    table = ds.dataset(f"{local_store}/scalars", format="parquet", partitioning="hive").to_table()
    assert table.select(["project", "run", "step", "key", "value"]).to_pylist() == [{"project": "p", "run": "r", "step": 0, "key": "a", "value": 1.0}]


def test_readme_box_query_gives_the_rows_of_the_join_form(tmp_path, rgb):
    """The README's query over boxes (unnest in a subquery's select list, for speed) returns what
    the `FROM images, unnest(boxes)` form it names returns."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"SQL reaches inside overlays.*?```sql\n(.*?)```", readme, re.DOTALL)
    assert block, "the README's box query moved: point this test at it"
    query = block.group(1).strip().rstrip(";").replace("step > 1000", "step > 10")  # the steps this store has
    rng = np.random.default_rng(1)
    with ms.init(project="p", store=str(tmp_path / "s"), run_id="r") as run:
        for step in range(30):
            boxes = [{"position": {"minX": 0.1, "maxX": 0.5, "minY": 0.2, "maxY": 0.6}, "class_id": int(rng.integers(0, 3)),
                      "scores": {"score": float(rng.random())}} for _ in range(int(rng.integers(0, 4)))]
            run.log({"img": [ms.Image(rgb, boxes={"predictions": {"box_data": boxes, "class_labels": {0: "car", 1: "bus", 2: "cat"}}})
                             for _ in range(2)]})
    store = ms.open(str(tmp_path / "s"))
    join_form = query.replace("FROM (SELECT run_id, step, key, idx, unnest(boxes) AS b FROM images)", "FROM images, unnest(boxes) AS t(b)")
    assert join_form != query
    got, expected = sorted(store.sql(query).fetchall()), sorted(store.sql(join_form).fetchall())
    assert got == expected and len(got) > 3


def test_a_store_opened_again_reads_no_footer_it_read_before(tmp_path, monkeypatch):
    """What published files' footers said is kept for the process, by store and file version:
    a second ms.open reads none of them again, and a file rewritten since (a resumed run's
    compaction) is read again, with its new rows."""
    import importlib

    catalog = importlib.import_module("mediastore.catalog")
    uri = str(tmp_path / "s")
    for r in range(3):
        with ms.init(project="p", store=uri, run_id=f"r{r}") as run:
            for step in range(5):
                run.log({"a": float(step)})
    query = "SELECT run_id, count(*) FROM scalars GROUP BY run_id ORDER BY run_id"
    assert ms.open(uri).sql(query).fetchall() == [("r0", 5), ("r1", 5), ("r2", 5)]
    reads = []
    real = catalog.pq.read_metadata
    monkeypatch.setattr(catalog.pq, "read_metadata", lambda *a, **k: reads.append(a[0]) or real(*a, **k))
    assert ms.open(uri).sql(query).fetchall() == [("r0", 5), ("r1", 5), ("r2", 5)]
    assert reads == []
    with ms.init(project="p", store=uri, run_id="r1", resume=True) as run:
        run.log({"a": 9.0})  # finish rewrites r1's published file under its own name
    assert ms.open(uri).sql(query).fetchall() == [("r0", 5), ("r1", 6), ("r2", 5)]
    assert len(reads) >= 1 and all("run=r1" in str(path) for path in reads)


def test_history_of_some_keys_makes_columns_for_those_alone(store_uri, monkeypatch):
    """The files' key dictionaries name every key; a history of two keys grids those two."""
    with ms.init(project="p", store=store_uri, run_id="r") as run:
        for step in range(6):
            run.log({f"k{i:02d}": float(step * i) for i in range(40)})
    grids = []
    real_full = np.full
    monkeypatch.setattr(np, "full", lambda shape, *a, **k: grids.append(shape) or real_full(shape, *a, **k))
    picked = ms.open(store_uri).history("r", keys=["k07", "k31"])
    assert list(picked.columns) == ["step", "k07", "k31"]
    assert picked["k31"].tolist() == [31.0 * s for s in range(6)]
    assert [shape for shape in grids if isinstance(shape, tuple)] == [(6, 2)]  # the grid (np.full is used elsewhere too)


def test_a_process_that_pins_keeps_its_pin_folder_from_looking_stale(tmp_path, monkeypatch):
    """Pins go into folders made once per run, so pinning does not change the process's pin
    folder itself: its mtime is set again while it pins, and another process's sweep of folders
    older than a day leaves it."""
    import importlib
    import os
    import time

    catalog = importlib.import_module("mediastore.catalog")
    uri = str(tmp_path / "s")
    with ms.init(project="p", store=uri, run_id="r0") as run:
        run.log({"a": 1.0})
    store = ms.open(uri)
    assert store.sql("SELECT count(*) FROM scalars").fetchall() == [(1,)]
    folder = catalog._pin_dirs[store.location.root]
    two_days_ago = time.time() - 2 * 86400
    os.utime(folder, (two_days_ago, two_days_ago))
    monkeypatch.setitem(catalog._pin_touched, folder, 0.0)  # the last touch an hour and more ago
    with ms.init(project="p", store=uri, run_id="r1") as run:
        run.log({"a": 2.0})
    assert ms.open(uri).sql("SELECT count(*) FROM scalars").fetchall() == [(2,)]  # pins r1's file
    assert os.stat(folder).st_mtime > time.time() - 600
    catalog._remove_stale_pins(os.path.dirname(folder))
    assert os.path.isdir(folder)
