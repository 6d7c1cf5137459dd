"""W&B's init arguments: run labels (tags, notes, group, job_type) stored in the runs view,
id= and W&B's resume and mode values, config_include/exclude_keys, and the arguments that mean
nothing for a store (a warning) or that mediastore does not do (NotImplementedError)."""

from __future__ import annotations

import json
import time
import uuid
import warnings

import fsspec
import pytest

import mediastore as ms


@pytest.fixture(autouse=True)
def no_current_run():
    ms.finish()
    yield
    ms.finish()


def labels(store, run_id="r"):
    return ms.open(store).sql('SELECT tags, notes, "group", job_type FROM runs WHERE run_id = ?', [run_id]).fetchall()


def test_tags_notes_group_and_job_type_are_kept_on_the_run_and_in_the_runs_view(tmp_path):
    with ms.init(project="p", store=tmp_path, run_id="r", tags=["baseline", "lr-sweep", "baseline"], notes="first try",
                 group="sweep-1", job_type="train") as run:
        assert run.tags == ("baseline", "lr-sweep")  # a tuple, as W&B's; a repeated tag is kept once
        assert (run.notes, run.group, run.job_type) == ("first try", "sweep-1", "train")
        run.log({"loss": 1.0})
    assert labels(tmp_path) == [('["baseline", "lr-sweep"]', "first try", "sweep-1", "train")]
    # The tags are JSON text, like config: DuckDB turns them into a list.
    found = ms.open(tmp_path).sql("""SELECT run_id FROM runs WHERE list_contains(from_json(tags, '["VARCHAR"]'), 'lr-sweep')""").fetchall()
    assert found == [("r",)]
    runs = ms.open(tmp_path).runs()
    assert json.loads(runs["tags"][0]) == ["baseline", "lr-sweep"] and runs["group"][0] == "sweep-1"


def test_a_run_without_labels_has_nulls(tmp_path):
    with ms.init(project="p", store=tmp_path, run_id="r") as run:
        assert (run.tags, run.notes, run.group, run.job_type) == ((), None, None, None)
    assert labels(tmp_path) == [(None, None, None, None)]


def test_tags_and_notes_set_while_the_run_runs_reach_the_view_before_finish(tmp_path):
    store = str(tmp_path)
    run = ms.init(project="p", store=store, run_id="r", tags=["a"])
    try:
        run.tags = run.tags + ("b",)
        run.notes = "diverged at step 40"
        deadline = time.monotonic() + 10  # written after CONFIG_WRITE_SECONDS (1 s), like a config change
        rows = []
        while time.monotonic() < deadline:
            rows = labels(store)
            if rows == [('["a", "b"]', "diverged at step 40", None, None)]:
                break
            time.sleep(0.1)
        assert rows == [('["a", "b"]', "diverged at step 40", None, None)]
    finally:
        run.finish()
    assert labels(store) == [('["a", "b"]', "diverged at step 40", None, None)]
    with pytest.raises(ms.RunFinishedError, match=r"run.tags needs a running run: run 'r' is finished"):
        run.tags = ["c"]
    with pytest.raises(AttributeError):
        run.group = "other"  # read-only, as in W&B


def test_resume_keeps_the_labels_it_is_not_given(tmp_path):
    with ms.init(project="p", store=tmp_path, run_id="r", tags=["a"], notes="n", group="g", job_type="train"):
        pass
    with ms.init(project="p", store=tmp_path, run_id="r", resume=True, job_type="eval") as run:
        assert (run.tags, run.notes, run.group, run.job_type) == (("a",), "n", "g", "eval")
    assert labels(tmp_path) == [('["a"]', "n", "g", "eval")]


@pytest.mark.parametrize("bad, message", [
    ({"tags": "baseline"}, r"tags='baseline' must be a list of str, e.g. tags=\['baseline'\]"),
    ({"tags": ["ok", 3]}, r"tag 3 is a int; tags must be str"),
    ({"tags": ["x" * 65]}, r"has 65 characters; a tag has 1 to 64 \(W&B's limit\)"),
    ({"tags": [""]}, r"tag '' has 0 characters"),
    ({"notes": 5}, r"notes=5 must be a str"),
    ({"group": ["g"]}, r"group=\['g'\] must be a str"),
    ({"config_include_keys": ["a"], "config_exclude_keys": ["b"]}, r"config_exclude_keys and config_include_keys were both given"),
    ({"config_include_keys": "lr"}, r"config_include_keys='lr' must be a list of str keys"),
    ({"resume": "sometimes"}, r"resume='sometimes' is not a resume mode"),
    ({"id": "a", "run_id": "b"}, r"run_id='b' and id='a' name two runs"),
    ({"mode": "fast"}, r"mode='fast' is not a mode of ms.init"),
])
def test_bad_arguments_raise_a_typed_error_and_store_no_run(tmp_path, bad, message):
    with pytest.raises(ms.InvalidArgumentError, match=message):
        ms.init(project="p", store=tmp_path, **bad)
    assert ms.run is None
    assert ms.open(tmp_path).sql("SELECT count(*) FROM runs").fetchall() == [(0,)]


def test_id_is_run_id(tmp_path):
    with ms.init(project="p", store=tmp_path, id="abc") as run:
        assert run.run_id == run.id == "abc"
    with ms.init(project="p", store=tmp_path, id="abc", run_id="abc", resume=True) as run:
        assert run.run_id == "abc"


def test_resume_takes_wandbs_values(tmp_path):
    with pytest.raises(ms.RunNotFoundError, match=r"resume='must': there is no run 'r' in project 'p' to resume"):
        ms.init(project="p", store=tmp_path, run_id="r", resume="must")
    assert ms.open(tmp_path).sql("SELECT count(*) FROM runs").fetchall() == [(0,)]
    with ms.init(project="p", store=tmp_path, run_id="r", resume="allow") as run:  # no such run: a new one
        run.log({"a": 1.0})
    for mode in ("must", "allow", "auto"):
        with ms.init(project="p", store=tmp_path, run_id="r", resume=mode) as run:
            run.log({"a": 1.0})
    with pytest.raises(ms.RunExistsError):
        ms.init(project="p", store=tmp_path, run_id="r", resume="never")
    assert ms.open(tmp_path).sql("SELECT count(*), max(step) FROM scalars").fetchall() == [(4, 3)]


@pytest.mark.parametrize("mode", ["online", "offline"])
def test_wandbs_online_and_offline_modes_log_into_the_store(tmp_path, mode):
    with ms.init(project="p", store=tmp_path, run_id="r", mode=mode) as run:
        run.log({"a": 1.0})
    assert ms.open(tmp_path).sql("SELECT run_id, state FROM runs").fetchall() == [("r", "finished")]


def test_a_disabled_run_takes_every_call_and_stores_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default store would be ./mediastore-data
    monkeypatch.delenv("MEDIASTORE_STORE", raising=False)
    memory = fsspec.filesystem("memory")
    before = set(memory.ls("/", detail=False))
    run = ms.init(project="p", mode="disabled", config={"lr": 0.1}, tags=["x"])
    assert ms.run is run
    ms.log({"loss": 0.5})
    run.log({"img": ms.Image(__import__("numpy").zeros((4, 4, 3), "uint8"))})
    ms.config.update({"steps": 3})
    ms.summary["best"] = 1.0
    ms.finish()
    assert ms.run is None and run.state == "finished"
    assert list(tmp_path.iterdir()) == []
    assert set(memory.ls("/", detail=False)) - before <= {"/mediastore-disabled"}
    assert not memory.exists(run.location.root)


def test_wandb_only_arguments_are_ignored_with_one_warning(tmp_path):
    with pytest.warns(ms.IgnoredArgumentWarning, match=r"ms.init ignores W&B's entity=, reinit=, save_code=: they have no meaning"):
        run = ms.init(project="p", store=tmp_path, entity="team", reinit=True, save_code=True, allow_val_change=True)
    run.finish()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ms.init(project="p", store=tmp_path, dir=None).finish()  # None means not given
    with pytest.raises(ms.UnknownArgumentError, match=r"init\(\) got an unexpected keyword argument 'colour'"):
        ms.init(project="p", store=tmp_path, colour="red")
    for name in ("resume_from", "fork_from"):
        with pytest.raises(NotImplementedError, match=rf"ms.init\({name}=...\): .* is not implemented"):
            ms.init(project="p", store=tmp_path, **{name: f"run?_step=3"})


def test_config_include_and_exclude_keys_filter_the_config_given_to_init(tmp_path):
    config = {"lr": 0.1, "batch": 32, "secret": "s"}
    with ms.init(project="p", store=tmp_path, run_id="a", config=config, config_exclude_keys=["secret"]) as run:
        assert run.config.as_dict() == {"lr": 0.1, "batch": 32}
    with ms.init(project="p", store=tmp_path, run_id="b", config=config, config_include_keys=["lr"]) as run:
        assert run.config.as_dict() == {"lr": 0.1}
    stored = dict(ms.open(tmp_path).sql("SELECT run_id, config FROM runs").fetchall())
    assert {k: json.loads(v) for k, v in stored.items()} == {"a": {"lr": 0.1, "batch": 32}, "b": {"lr": 0.1}}


def test_the_labels_of_a_shared_run_come_from_its_newest_record(tmp_path):
    run_id = f"job-{uuid.uuid4().hex[:6]}"
    first = ms.init(project="p", store=tmp_path, run_id=run_id, mode="shared", label="rank0", group="ddp", tags=["a"])
    second = ms.init(project="p", store=tmp_path, run_id=run_id, mode="shared", label="rank1", group="ddp", tags=["a"])
    first.finish()
    second.finish()
    assert labels(tmp_path, run_id) == [('["a"]', None, "ddp", None)]


def test_the_mode_environment_variable_disables_runs_that_give_no_mode(tmp_path, monkeypatch):
    """MEDIASTORE_MODE=disabled does for a ported test suite what WANDB_MODE=disabled did."""
    monkeypatch.setenv("MEDIASTORE_MODE", "disabled")
    with ms.init(project="p", store=tmp_path / "s", run_id="r") as run:
        run.log({"a": 1.0})
    assert not (tmp_path / "s").exists()
    with ms.init(project="p", store=tmp_path / "s", run_id="r", mode="online") as run:  # an argument wins
        run.log({"a": 1.0})
    assert ms.open(tmp_path / "s").sql("SELECT run_id FROM runs").fetchall() == [("r",)]
    monkeypatch.setenv("MEDIASTORE_MODE", "sometimes")
    with pytest.raises(ms.InvalidArgumentError, match=r"mode='sometimes' is not a mode of ms.init"):
        ms.init(project="p", store=tmp_path / "s")


def test_run_name_set_while_running_reaches_the_view_and_save_without_a_file_is_true(tmp_path):
    """Older W&B code renames a run and calls run.save() to keep the name."""
    store = str(tmp_path)
    run = ms.init(project="p", store=store, run_id="r", name="first")
    try:
        run.name = "renamed"
        assert run.save() is True
        deadline = time.monotonic() + 10  # within CONFIG_WRITE_SECONDS, like a config change
        rows = []
        while time.monotonic() < deadline:
            rows = ms.open(store).sql("SELECT name, state FROM runs").fetchall()
            if rows == [("renamed", "running")]:
                break
            time.sleep(0.1)
        assert rows == [("renamed", "running")]
        with pytest.raises(ms.InvalidLogError, match=r"name must be a str, got int 3"):
            run.name = 3
        with pytest.raises(ms.InvalidArgumentError, match=r"notes must be a str, got list \['x'\]"):
            run.notes = ["x"]
        assert (run.url, run.entity, run.path) == (None, None, "p/r")
    finally:
        run.finish()
    assert ms.open(store).sql("SELECT name FROM runs").fetchall() == [("renamed",)]


@pytest.mark.parametrize("exit_code, state", [(None, "finished"), (0, "finished"), (1, "crashed")])
def test_finish_takes_wandbs_exit_code(tmp_path, exit_code, state):
    run = ms.init(project="p", store=tmp_path, run_id="r")
    ms.finish(exit_code=exit_code, quiet=True)
    assert run.state == state
    assert ms.open(tmp_path).sql("SELECT state FROM runs").fetchall() == [(state,)]


def test_wandb_settings_fields_are_taken_with_a_warning(tmp_path):
    with pytest.warns(ms.IgnoredArgumentWarning, match=r"ms.Settings ignores W&B's start_method='thread', console='off': "):
        settings = ms.Settings(start_method="thread", console="off", flush_rows=10)
    assert settings.flush_rows == 10
    with pytest.warns(ms.IgnoredArgumentWarning, match=r"for a shared run: ms.init\(mode='shared', label=...\)"):
        ms.Settings(mode="shared", x_label="rank0")
    assert issubclass(ms.UnknownArgumentError, TypeError) and issubclass(ms.UnknownArgumentError, ms.MediaStoreError)
    with pytest.raises(ms.UnknownArgumentError, match=r"unexpected keyword argument 'flush_row'; its fields are flush_rows, "):
        ms.Settings(flush_row=10)  # a typo in mediastore's own knobs is not taken
    with ms.init(project="p", store=tmp_path, settings=settings) as run:
        run.log({"a": 1.0})
    assert ms.open(tmp_path).sql("SELECT count(*) FROM scalars").fetchall() == [(1,)]


def test_the_project_comes_from_the_environment_when_not_given(tmp_path, monkeypatch):
    monkeypatch.delenv("MEDIASTORE_PROJECT", raising=False)
    with ms.init(store=tmp_path, run_id="a"):
        pass
    monkeypatch.setenv("MEDIASTORE_PROJECT", "from-env")  # as WANDB_PROJECT for W&B
    with ms.init(store=tmp_path, run_id="b"):
        pass
    with ms.init(project="given", store=tmp_path, run_id="c"):
        pass
    rows = ms.open(tmp_path).sql("SELECT run_id, project FROM runs ORDER BY run_id").fetchall()
    assert rows == [("a", "uncategorized"), ("b", "from-env"), ("c", "given")]
