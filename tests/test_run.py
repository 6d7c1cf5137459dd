"""Runs: ids, state, config, summary, resume, and W&B's step semantics through run.log."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import mediastore as ms
from mediastore.run import new_run_id


def scalars(uri):
    return ms.open(uri).sql("SELECT step, key, value FROM scalars ORDER BY step, key").fetchall()


def test_auto_increment_and_explicit_steps(store_uri):
    with ms.init(project="p", store=store_uri) as run:
        run.log({"a": 1})
        run.log({"a": 2})
        run.log({"a": 3}, step=10)
        run.log({"b": 4}, step=10)  # same step: accumulates
        run.log({"c": 5})  # W&B: lands at the current step (10), then commits
        run.log({"a": 6})
    assert scalars(store_uri) == [(0, "a", 1.0), (1, "a", 2.0), (10, "a", 3.0), (10, "b", 4.0), (10, "c", 5.0), (11, "a", 6.0)]


def test_commit_false_accumulates_and_last_value_wins(store_uri):
    with ms.init(project="p", store=store_uri) as run:
        run.log({"a": 1}, commit=False)
        run.log({"b": 2}, commit=False)
        run.log({"a": 3}, commit=False)  # same key at the same step: the later value
        run.log({"c": 4})
        run.log({"d": 5})
    assert scalars(store_uri) == [(0, "a", 3.0), (0, "b", 2.0), (0, "c", 4.0), (1, "d", 5.0)]


def test_lower_step_is_stored_not_dropped(store_uri):
    with ms.init(project="p", store=store_uri) as run:
        for _ in range(5):
            run.log({"loss": 1.0})
        run.log({"val": 0.5}, step=2)  # W&B would drop this with a warning
        assert run.step == 5  # the current step does not move back
        run.log({"loss": 2.0})
    rows = scalars(store_uri)
    assert (2, "val", 0.5) in rows
    assert rows[-1] == (5, "loss", 2.0)


def test_bools_ints_numpy_and_nested_dicts(store_uri):
    with ms.init(project="p", store=store_uri) as run:
        run.log({"flag": True, "n": 3, "f32": np.float32(0.5), "zero_d": np.array(7), "train": {"loss": 0.25, "acc": 0.75}})
    assert scalars(store_uri) == [(0, "f32", 0.5), (0, "flag", 1.0), (0, "n", 3.0), (0, "train.acc", 0.75), (0, "train.loss", 0.25), (0, "zero_d", 7.0)]


def test_strings_go_to_texts(store_uri):
    with ms.init(project="p", store=store_uri) as run:
        run.log({"note": "hello", "loss": 1.0})
    store = ms.open(store_uri)
    assert store.sql("SELECT step, key, text FROM texts").fetchall() == [(0, "note", "hello")]
    assert store.sql("SELECT key FROM scalars").fetchall() == [("loss",)]


def test_nan_and_inf_scalars_are_data(store_uri):
    with ms.init(project="p", store=store_uri) as run:
        run.log({"loss": float("nan"), "grad": float("inf")})
    values = dict((k, v) for _, k, v in scalars(store_uri))
    assert np.isnan(values["loss"]) and values["grad"] == np.inf
    summary = json.loads(ms.open(store_uri).runs()["summary"][0])
    assert summary["loss"] == "nan"  # JSON has no NaN: kept as text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([("a", 1)], r"run.log takes a dict of str keys to values, got list"),
        ({1: 2.0}, r"run.log keys must be str, got int 1; use str\(key\)"),
        ({"a": 1.0, ("x",): 2.0}, r"run.log keys must be str, got tuple"),
        ({"a": None}, r"value for 'a' is a NoneType None; log a number"),
        ({"a": [1, 2, 3]}, r"value for 'a' is a list .*for many numbers use ms.Histogram"),
        ({"a": object()}, r"value for 'a' is a object"),
        ({"": 1.0}, r"empty key"),
    ],
)
def test_bad_log_calls_store_nothing(store_uri, rgb, data, message):
    # A wrong type is an InvalidLogError (a TypeError); an empty key a bad value (a ValueError).
    error = ms.InvalidLogValueError if data == {"": 1.0} else ms.InvalidLogError
    with ms.init(project="p", store=store_uri) as run:
        bad = dict(data) if isinstance(data, dict) else data
        if isinstance(bad, dict):
            bad = {"img": ms.Image(rgb), "good": 1.0, **bad}  # valid values beside the bad one
        with pytest.raises(error, match=message):
            run.log(bad)
        assert run.step == 0
    store = ms.open(store_uri)
    assert store.sql("SELECT count(*) FROM media").fetchall() == [(0,)]
    assert store.sql("SELECT count(*) FROM scalars").fetchall() == [(0,)]


@pytest.mark.parametrize(("step", "error"), [(-1, ValueError), (1.5, TypeError), ("3", TypeError), (True, TypeError)])
def test_bad_step(store_uri, step, error):
    with ms.init(project="p", store=store_uri) as run:
        with pytest.raises(error, match=r"step must be an int >= 0"):
            run.log({"a": 1.0}, step=step)
    assert scalars(store_uri) == []


def test_log_after_finish_is_refused(store_uri):
    run = ms.init(project="p", store=store_uri)
    run.log({"a": 1})
    run.finish()
    with pytest.raises(ms.RunFinishedError, match=r"is finished; start a new one"):
        run.log({"a": 2})
    run.finish()  # a second finish is harmless
    assert scalars(store_uri) == [(0, "a", 1.0)]


def test_state_config_summary(store_uri):
    with ms.init(project="p", store=store_uri, name="my run", config={"lr": 0.1, "layers": [64, 32]}) as run:
        assert ms.open(store_uri).runs()["state"].tolist() == ["running"]
        run.log({"acc": 0.5})
        run.log({"acc": 0.7, "note": "x"})
        run.summary["best_acc"] = 0.93
    runs = ms.open(store_uri).runs()
    assert len(runs) == 1
    row = runs.iloc[0]
    assert (row["project"], row["run_id"], row["name"], row["state"]) == ("p", run.run_id, "my run", "finished")
    assert json.loads(row["config"]) == {"lr": 0.1, "layers": [64, 32]}
    assert json.loads(row["summary"]) == {"acc": 0.7, "note": "x", "best_acc": 0.93}
    assert row["finished_at"] >= row["started_at"]


def test_exception_in_with_block_marks_crashed(store_uri):
    with pytest.raises(ZeroDivisionError):
        with ms.init(project="p", store=store_uri) as run:
            run.log({"a": 1})
            1 / 0
    runs = ms.open(store_uri).runs()
    assert runs["state"].tolist() == ["crashed"]
    assert scalars(store_uri) == [(0, "a", 1.0)]  # what was logged before the crash is kept


def test_generated_run_ids_are_short_and_url_safe():
    ids = {new_run_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"[a-z0-9]{8}", i) for i in ids)


def test_resume_continues_steps_and_keeps_config(store_uri):
    with ms.init(project="p", store=store_uri, run_id="r1", config={"lr": 0.1}, name="first") as run:
        run.log({"a": 1})
        run.log({"a": 2})
    with pytest.raises(ms.RunExistsError, match=r"run 'r1' exists already in project 'p' .*pass resume=True"):
        ms.init(project="p", store=store_uri, run_id="r1")
    with ms.init(project="p", store=store_uri, run_id="r1", resume=True) as run:
        assert run.step == 2
        assert run.config == {"lr": 0.1}
        run.log({"a": 3})
    assert scalars(store_uri) == [(0, "a", 1.0), (1, "a", 2.0), (2, "a", 3.0)]
    runs = ms.open(store_uri).runs()
    assert runs[["run_id", "name", "state", "last_step"]].values.tolist() == [["r1", "first", "finished", 2]]


def test_same_run_id_in_other_project_is_another_run(store_uri):
    for project in ("a", "b"):
        with ms.init(project=project, store=store_uri, run_id="same") as run:
            run.log({"x": 1})
    assert sorted(ms.open(store_uri).runs()["project"]) == ["a", "b"]


@pytest.mark.parametrize("name", ["", "..", "a/b", "a\\b", "../x", "/abs", ".hidden", "a=b", "a b", "x" * 129, "tab\t", "é"])
@pytest.mark.parametrize("what", ["project", "run_id"])
def test_invalid_names_are_refused(store_uri, name, what):
    with pytest.raises(ms.InvalidNameError, match=rf"{what} .* is not allowed: use 1 to 128 letters"):
        ms.init(store=store_uri, **{what: name})
    assert ms.open(store_uri).runs().empty


def test_non_str_name_is_refused(store_uri):
    with pytest.raises(ms.InvalidNameError, match=r"project must be a str, got int 5"):
        ms.init(project=5, store=store_uri)


def test_summary_keeps_the_last_value_through_every_path(store_uri):
    """run.log's fast path keeps a loop's last call aside and merges it when the keys change;
    the summary must still be the last value of every key, whichever path logged it."""
    with ms.init(project="p", store=store_uri) as run:
        for i in range(5):
            run.log({"loss": 1.0 / (i + 1), "acc": i / 10})  # the fast path, one key pattern
        run.log({"loss": 0.05, "lr": 3})  # a new pattern: the previous one's values are merged
        run.log({"acc": 0.9, "note": "slow"})  # a str: the general path
        run.log({"loss": 0.01})
        run.log({"lr": 1, "flag": True}, commit=False)
        run.log({"acc": 0.95})
        heartbeat = json.loads(run._record(None)["summary"])  # what the heartbeat thread writes
        run.log({"loss": 0.001})
    expected = {"loss": 0.001, "acc": 0.95, "lr": 1, "flag": True, "note": "slow"}
    assert heartbeat == {**expected, "loss": 0.01}
    assert json.loads(ms.open(store_uri).runs().iloc[0]["summary"]) == expected
    rows = scalars(store_uri)
    assert (0, "loss", 1.0) in rows and (5, "lr", 3.0) in rows and (8, "flag", 1.0) in rows
    assert len(rows) == 5 * 2 + 2 + 1 + 1 + 3 + 1


def test_a_loop_with_one_key_pattern_stores_every_value_under_its_key(store_uri):
    """One key tuple is shared by the calls of a loop; each row still has its own key and value."""
    keys = ("loss", "acc", "lr", "grad_norm", "throughput")
    values = np.random.default_rng(5).random((3000, len(keys)))
    with ms.init(project="p", store=store_uri, settings=ms.Settings(flush_rows=1000, publish_rows=2000)) as run:
        for row in values.tolist():
            run.log(dict(zip(keys, row)))
        run.log({"loss": -1.0})  # another pattern at the end
    got = ms.open(store_uri).sql("SELECT step, key, value FROM scalars ORDER BY step, key").fetchall()
    expected = sorted((step, key, value) for step, row in enumerate(values.tolist()) for key, value in zip(keys, row))
    assert got == expected + [(3000, "loss", -1.0)]
