"""Deleting rows by rule and whole runs (mediastore/delete.py): counts, what readers see while
it happens (with mediastore and without), project files and the runs index, refusals."""

from __future__ import annotations

import threading
import time

import numpy as np
import pyarrow.dataset as ds
import pytest

import mediastore as ms
from mediastore.catalog import Catalog
from mediastore.cli import main
from mediastore.compact import compact_store
from mediastore.errors import InvalidArgumentError, InvalidQueryError, RunNotFoundError, RunRunningError
from mediastore.storage import StoreLocation

RULE = "kind = 'images' AND step % 10 <> 0 AND project = 'p'"


def images(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (12, 16, 3), dtype=np.uint8) for _ in range(n)]


def log_run(uri: str, run_id: str, steps: int = 40, *, project: str = "p", seed: int = 0, settings=None) -> None:
    pixels = images(steps, seed)
    with ms.init(project=project, store=uri, run_id=run_id, settings=settings) as run:
        for step in range(steps):
            run.log({"img": ms.Image(pixels[step]), "loss": float(step)})


def per_run(store, view: str = "images") -> dict[str, int]:
    return dict(store.sql(f"SELECT run_id, count(*) FROM {view} GROUP BY run_id").fetchall())


def expected_bytes(store, where: str) -> int:
    """Bytes of the distinct blobs the matching rows point at, by SQL."""
    (total,), = store.sql(
        f'SELECT coalesce(sum(length), 0) FROM (SELECT DISTINCT blob.uri, blob."offset", blob.length FROM media WHERE {where})'
    ).fetchall()
    return int(total)


def test_dry_run_counts_rows_and_bytes_exactly_and_changes_nothing(store_uri):
    log_run(store_uri, "a", seed=1)
    log_run(store_uri, "b", seed=2, settings=ms.Settings(flush_rows=7, compact_on_finish=False))  # hidden files
    log_run(store_uri, "c", project="q", seed=3)
    store = ms.open(store_uri)
    (matching,), = store.sql(f"SELECT count(*) FROM media WHERE {RULE}").fetchall()
    before = store.sql("SELECT * FROM images ORDER BY ALL").df()
    files = Catalog(StoreLocation(store_uri)).live_files("images")

    report = store.delete("media", where=RULE, dry_run=True)

    assert report.dry_run and report.rows == {"images": matching} and matching == 2 * 36
    assert report.blob_bytes == expected_bytes(store, RULE) > 0
    assert report.runs == [("p", "a"), ("p", "b")]
    assert Catalog(StoreLocation(store_uri)).live_files("images") == files  # b was not even compacted
    assert store.sql("SELECT * FROM images ORDER BY ALL").df().equals(before)


def test_delete_removes_exactly_the_matching_rows(store_uri):
    log_run(store_uri, "a", seed=1)
    log_run(store_uri, "b", seed=2, settings=ms.Settings(flush_rows=7, compact_on_finish=False))
    log_run(store_uri, "c", project="q", seed=3)
    store = ms.open(store_uri)
    keep = store.sql(f"SELECT project, run_id, step FROM images WHERE NOT ({RULE.replace('kind', chr(39) + 'images' + chr(39))}) "
                     "ORDER BY ALL").fetchall()
    scalars = store.sql("SELECT * FROM scalars ORDER BY ALL").df()
    dry = store.delete("media", where=RULE, dry_run=True)

    report = store.delete("media", where=RULE)

    assert (report.rows, report.blob_bytes, report.runs, report.dry_run) == (dry.rows, dry.blob_bytes, dry.runs, False)
    assert store.sql("SELECT project, run_id, step FROM images ORDER BY ALL").fetchall() == keep
    assert len(keep) == 4 + 4 + 40
    assert store.sql("SELECT * FROM scalars ORDER BY ALL").df().equals(scalars)  # another table: untouched
    for _, row in store.sql("SELECT * FROM images").df().iterrows():
        assert store.decode(row).to_numpy().shape == (12, 16, 3)
    # Deleting again finds nothing.
    assert store.delete("media", where=RULE).total_rows == 0


def test_a_table_view_and_its_own_columns(local_store):
    log_run(local_store, "a")
    store = ms.open(local_store)
    report = store.delete("images", where="width = 16 AND step >= 30")
    assert report.rows == {"images": 10}
    assert per_run(store) == {"a": 30}
    report = store.delete("scalars", where="value > 9")
    assert report.rows == {"scalars": 30} and per_run(store, "scalars") == {"a": 10}


def test_project_files_and_runs_index_stop_standing_for_a_changed_run(shared_store_uri):
    uri = shared_store_uri
    for r in "abc":
        log_run(uri, r, seed=ord(r))
    compact_store(StoreLocation(uri))  # project files and the runs index stand for a, b, c
    store = ms.open(uri)
    assert Catalog(StoreLocation(uri)).table_listing("images").uncovered == []

    store.delete("images", where="run_id = 'b' AND step < 25")

    listing = Catalog(StoreLocation(uri)).table_listing("images")
    assert [f.split("run=")[1].split("/")[0] for f in listing.uncovered] == ["b"]  # read from its own file now
    assert per_run(ms.open(uri)) == {"a": 40, "b": 15, "c": 40}
    compact_store(StoreLocation(uri))  # the next compaction writes the project file anew
    assert Catalog(StoreLocation(uri)).table_listing("images").uncovered == []
    assert per_run(ms.open(uri)) == {"a": 40, "b": 15, "c": 40}


def test_readers_see_each_file_before_or_after(shared_store_uri, reading_in_a_loop):
    uri = shared_store_uri
    log_run(uri, "a", steps=60, seed=1)
    log_run(uri, "b", steps=60, seed=2, settings=ms.Settings(flush_rows=9, compact_on_finish=False))
    compact_store(StoreLocation(uri), run_id="a")

    def read(store):
        total, distinct = store.sql("SELECT count(*), count(DISTINCT (run_id, step)) FROM images").fetchall()[0]
        return total, distinct, tuple(sorted(per_run(store).items()))

    with reading_in_a_loop(uri, read) as seen:
        time.sleep(0.3)
        ms.open(uri).delete("media", where=RULE)
        time.sleep(0.3)
    assert len(seen) >= 3
    assert all(total == distinct for total, distinct, _ in seen)  # never a row twice
    for run in "ab":
        counts = {dict(runs)[run] for _, _, runs in seen}
        assert counts <= {60, 6} and 6 in counts, (run, counts)  # before or after, never in between
    assert seen[-1][2] == (("a", 6), ("b", 6))


def test_an_engine_without_mediastore_sees_each_file_before_or_after(local_store):
    log_run(local_store, "a", steps=60)
    folder = f"{local_store}/images/project=p/run=a"
    seen, errors, stop = [], [], threading.Event()

    def reader():
        while not stop.is_set():
            try:
                seen.append(ds.dataset(folder, format="parquet").count_rows())  # skips "_" and "." files
            except Exception as exc:
                errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        time.sleep(0.2)
        ms.open(local_store).delete("images", where="step % 10 <> 0")
        time.sleep(0.2)
    finally:
        stop.set()
        thread.join()
    assert not errors, errors[:3]
    assert set(seen) == {60, 6}
    assert ds.dataset(folder, format="parquet").count_rows() == 6


def test_delete_a_whole_run(shared_store_uri):
    uri = shared_store_uri
    for r in "abc":
        log_run(uri, r, seed=ord(r))
    compact_store(StoreLocation(uri))  # the run is in the runs index and the project files too
    store = ms.open(uri)
    dry = store.delete_run("b", dry_run=True)
    assert dry.rows == {"images": 40, "scalars": 40, "runs": 2} and dry.runs == [("p", "b")]
    assert dry.blob_bytes == expected_bytes(store, "run_id = 'b'")
    assert sorted(store.runs().run_id) == ["a", "b", "c"]

    report = store.delete_run("b", project="p")

    assert report.rows == dry.rows and report.blob_bytes == dry.blob_bytes
    fresh = ms.open(uri)
    assert sorted(fresh.runs().run_id) == ["a", "c"]
    assert per_run(fresh) == {"a": 40, "c": 40} and per_run(fresh, "scalars") == {"a": 40, "c": 40}
    location = StoreLocation(uri)
    assert not any(Catalog(location).live_files(t, "p", "b") for t in ("images", "scalars", "runs"))
    with pytest.raises(RunNotFoundError, match="no run 'b'"):
        fresh.delete_run("b")
    compact_store(location)
    assert sorted(ms.open(uri).runs().run_id) == ["a", "c"] and per_run(ms.open(uri)) == {"a": 40, "c": 40}
    # The run id is free again.
    log_run(uri, "b", steps=3)
    assert per_run(ms.open(uri)) == {"a": 40, "b": 3, "c": 40}


def test_a_running_run_is_refused_and_nothing_is_deleted(local_store):
    log_run(local_store, "done")
    run = ms.init(project="p", store=local_store, run_id="live")
    for step, pixels in enumerate(images(12)):
        run.log({"img": ms.Image(pixels)})
    run.writer.flush()
    time.sleep(0.5)
    store = ms.open(local_store)
    before = per_run(store)
    try:
        with pytest.raises(RunRunningError, match=r"run 'live' of project 'p' is running .* wait until it finishes.*mediastore recover"):
            store.delete("media", where="step > 2")
        with pytest.raises(RunRunningError, match="run 'live' of project 'p' is running"):
            store.delete_run("live")
        assert per_run(ms.open(local_store)) == before
    finally:
        run.finish()
    assert store.delete("media", where="step > 2").rows == {"images": 37 + 9}


@pytest.mark.parametrize("where, error, match", [
    ("", InvalidArgumentError, "delete needs a rule"),
    ("step > 1; DROP VIEW images", InvalidArgumentError, "holds ';'"),
    ("no_such_column = 1", InvalidQueryError, "does not apply to the media view"),
    ("width > 3", InvalidQueryError, r"does not apply to the media view \(Binder Error: .*\"width\" not found.*columns \(project, run_id, step, key, idx, logged_at, blob, kind\)"),
])
def test_a_bad_rule_is_an_error_before_anything_changes(local_store, where, error, match):
    log_run(local_store, "a", steps=5)
    store = ms.open(local_store)
    with pytest.raises(error, match=match):
        store.delete("media", where=where)
    assert per_run(store) == {"a": 5}


def test_a_rule_the_view_does_not_take(local_store):
    log_run(local_store, "a", steps=3)
    with pytest.raises(InvalidQueryError, match=r"the delete rule \"kind = 'scalars'\" does not apply to the scalars view \(Binder Error"):
        ms.open(local_store).delete("scalars", where="kind = 'scalars'")  # the scalars view has no kind column


def test_tables_that_cannot_be_deleted_from(local_store):
    log_run(local_store, "a", steps=3)
    store = ms.open(local_store)
    with pytest.raises(InvalidArgumentError, match="delete the run with"):
        store.delete("runs", where="true")
    with pytest.raises(InvalidArgumentError, match="no table 'pictures'"):
        store.delete("pictures", where="true")


def test_cli_dry_run_by_default_then_yes(local_store, capsys):
    log_run(local_store, "a", seed=1)
    log_run(local_store, "b", seed=2)
    where = "kind = 'images' AND step % 10 <> 0 AND run_id = 'a'"
    expected = expected_bytes(ms.open(local_store), where)
    assert main(["delete", "--store", local_store, "--where", where]) == 0
    out = capsys.readouterr().out
    assert f"would delete 36 rows (images: 36) pointing at {expected} bytes" in out and "add --yes" in out
    assert per_run(ms.open(local_store)) == {"a": 40, "b": 40}
    assert main(["delete", "--store", local_store, "--where", where, "--yes", "--dry-run"]) == 0
    assert per_run(ms.open(local_store)) == {"a": 40, "b": 40}
    assert main(["delete", "--store", local_store, "--where", where, "--yes"]) == 0
    assert "deleted 36 rows" in capsys.readouterr().out
    assert per_run(ms.open(local_store)) == {"a": 4, "b": 40}
    assert main(["delete", "--store", local_store, "--run", "b", "--project", "p", "--yes"]) == 0
    assert per_run(ms.open(local_store)) == {"a": 4}
    assert main(["delete", "--store", local_store, "--where", "true", "--run", "a"]) == 2
    assert "one of --where RULE (rows) or --run RUN" in capsys.readouterr().err


SECTION = "Deleting rows and runs, and blob garbage collection"


def test_the_readme_python_snippet(local_store, capsys, monkeypatch):
    from readme_snippets import python_snippet, replace_once

    log_run(local_store, "r1", seed=1)
    log_run(local_store, "old-run", seed=2)
    with ms.init(project="p", store=local_store, run_id="r2") as run:
        run.log({"debug": 1.0, "loss": 2.0})
    snippet = replace_once(python_snippet(SECTION, "store.delete("), '"./mediastore-data"', repr(local_store))
    exec(compile(snippet, "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("would delete 72 rows (images: 72) pointing at ")  # r1 and old-run: 36 each
    assert out[0].endswith("in 2 files of runs p/old-run, p/r1")
    assert out[1].startswith("freed 0 blobs (0 bytes); marked 1 unreferenced blobs")  # old-run's pack: freed 300 s later
    store = ms.open(local_store)
    assert sorted(store.runs().run_id) == ["r1", "r2"]
    assert per_run(store) == {"r1": 4}


def test_the_readme_cli_lines(local_store, capsys):
    import re
    import shlex

    from readme_snippets import README

    body = README.read_text().split(f"\n## {SECTION}\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"^```bash\n(.*?)^```", body, re.DOTALL | re.MULTILINE).group(1)
    lines = [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]
    log_run(local_store, "r1", seed=1)
    log_run(local_store, "old-run", seed=2)
    for words in lines:
        assert words[0] == "mediastore"
        assert main([*words[1:], "--store", local_store]) == 0, words
    out = capsys.readouterr().out
    assert "would delete 72 rows (images: 72)" in out and "\ndeleted 72 rows (images: 72)" in out
    assert "marked 1 unreferenced blobs" in out and "waiting: 1 blobs marked 0 s ago (grace 300 s)" in out
    store = ms.open(local_store)
    assert sorted(store.runs().run_id) == ["r1"] and per_run(store) == {"r1": 4}
