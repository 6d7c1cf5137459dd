"""W&B's module-level API: ms.init makes the current run; ms.log, ms.finish, ms.run, ms.config,
ms.summary and ms.define_metric act on it."""

from __future__ import annotations

import json

import pytest

import mediastore as ms


@pytest.fixture(autouse=True)
def no_current_run():
    """Each test starts and ends without a current run (a failing test must not leak one)."""
    ms.finish()
    yield
    ms.finish()


def test_init_makes_its_run_current_and_finish_clears_it(tmp_path):
    assert ms.run is None
    run = ms.init(project="p", store=tmp_path)
    assert ms.run is run
    ms.finish()
    assert ms.run is None
    assert run.state == "finished"


def test_the_newest_init_is_current_and_finishing_another_run_keeps_it(tmp_path):
    first = ms.init(project="p", store=tmp_path)
    second = ms.init(project="p", store=tmp_path)
    assert ms.run is second
    first.finish()
    assert ms.run is second
    second.finish()
    assert ms.run is None


def test_module_log_reaches_the_current_run(tmp_path):
    with ms.init(project="p", store=tmp_path, run_id="r"):
        ms.log({"loss": 0.5})
        ms.log({"loss": 0.25}, step=5)
        ms.log({"acc": 1.0}, commit=False)
        ms.log({"loss": 0.125})
    assert ms.open(tmp_path).sql("SELECT step, key, value FROM scalars ORDER BY ALL").fetchall() == [
        (0, "loss", 0.5), (5, "acc", 1.0), (5, "loss", 0.125)  # a key given twice in a step keeps the later value
    ]


def test_module_calls_without_a_run_raise_a_typed_error_naming_the_fix():
    for call, name in [(lambda: ms.log({"a": 1}), "ms.log"), (lambda: ms.define_metric("a"), "ms.define_metric")]:
        with pytest.raises(ms.NoRunError, match=rf"{name} was called with no current run; call ms.init\(\.\.\.\) first"):
            call()
    assert issubclass(ms.NoRunError, RuntimeError) and issubclass(ms.NoRunError, ms.MediaStoreError)


@pytest.mark.parametrize("name", ["config", "summary"])
def test_module_config_and_summary_without_a_run_raise_on_use(name):
    placeholder = getattr(ms, name)
    with pytest.raises(ms.NoRunError, match=rf"ms.{name} was used with no current run; call ms.init\(\.\.\.\) first"):
        placeholder["lr"] = 1
    with pytest.raises(ms.NoRunError, match=rf"ms.{name} was used with no current run"):
        placeholder.lr


def test_finish_without_a_run_does_nothing():
    ms.finish()
    assert ms.run is None


def test_module_config_and_summary_follow_the_current_run(tmp_path):
    with ms.init(project="p", store=tmp_path, run_id="a", config={"lr": 0.1}) as a:
        assert ms.config is a.config and ms.config.lr == 0.1
        ms.summary["best"] = 3
        assert a.summary == {"best": 3}
        with ms.init(project="p", store=tmp_path, run_id="b", config={"lr": 0.2}) as b:
            assert ms.config.lr == 0.2 and ms.summary is b.summary
    frame = ms.open(tmp_path).sql("SELECT run_id, json_extract(summary, '$.best') FROM runs ORDER BY run_id").fetchall()
    assert frame == [("a", "3"), ("b", None)]


def test_define_metric_is_stored_queryable_and_kept_on_the_run(tmp_path):
    with ms.init(project="p", store=tmp_path, run_id="r") as run:
        ms.define_metric("train/global_step")
        ms.define_metric("train/*", step_metric="train/global_step")
        run.define_metric("eval/loss", summary="min", goal="minimize")
        run.define_metric("eval/loss", hidden=True, overwrite=False)
        assert run.metrics["train/*"] == {"step_metric": "train/global_step"}
        assert run.metrics["eval/loss"] == {"summary": "min", "goal": "minimize", "hidden": True}
    found = ms.open(tmp_path).sql("""SELECT json_extract_string(metrics, '$."train/*".step_metric'), metrics FROM runs""").fetchall()
    assert found[0][0] == "train/global_step"
    assert json.loads(found[0][1]) == run.metrics


def test_define_metric_survives_resume(tmp_path):
    with ms.init(project="p", store=tmp_path, run_id="r") as run:
        run.define_metric("train/*", step_metric="train/global_step")
    with ms.init(project="p", store=tmp_path, run_id="r", resume=True) as run:
        assert run.metrics == {"train/*": {"step_metric": "train/global_step"}}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": ""}, r"define_metric name must be a non-empty str, got ''"),
        ({"name": 3}, r"define_metric name must be a non-empty str, got 3"),
        ({"name": "a", "step_metric": 3}, r"define_metric step_metric must be a metric name \(str\), got 3"),
        ({"name": "a", "summary": "max,median"}, r"define_metric summary 'max,median' has \['median'\]; use comma-separated"),
        ({"name": "a", "goal": "up"}, r"define_metric goal must be 'minimize' or 'maximize', got 'up'"),
    ],
)
def test_define_metric_errors(tmp_path, kwargs, message):
    # A wrong type is a TypeError (InvalidLogError); a str that is not allowed a ValueError.
    wrong_type = any(not isinstance(v, str) for v in kwargs.values())
    error = ms.InvalidLogError if wrong_type else ms.InvalidLogValueError
    with ms.init(project="p", store=tmp_path) as run:
        with pytest.raises(error, match=message):
            run.define_metric(**kwargs)


def test_the_run_submodule_stays_importable_by_its_full_name():
    from mediastore.run import new_run_id

    assert len(new_run_id()) == 8


#: Logged by both W&B (offline, in a child process) and mediastore; their summaries must agree.
SUMMARY_SCRIPT = """
run.define_metric("loss", summary="min")
run.define_metric("acc", summary="max")
run.define_metric("x", summary="mean")
run.define_metric("y", summary="none")
run.define_metric("w", summary="min,max,last")
run.define_metric("val/*", summary="max")
run.define_metric("val/exact", hidden=True)  # its own definition wins over the glob: no summary
run.define_metric("f", summary="first")
run.define_metric("n", summary="min,first")
for i, v in enumerate([3.0, 1.0, 2.0]):
    run.log({"loss": v, "acc": v, "x": v, "y": v, "w": v, "val/a": v, "val/exact": v, "f": v, "n": int(v) * 2, "plain": v})
"""


def test_define_metric_summaries_are_w_and_b_own(tmp_path):
    import os
    import subprocess
    import sys

    pytest.importorskip("wandb", reason="the comparison runs W&B itself (pip install 'mediastore[wandb]')")
    from mediastore.importers.wandb import _WandbRun

    env = {"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path), "WANDB_SILENT": "true", "WANDB_CONFIG_DIR": str(tmp_path / "c"),
           "WANDB_CACHE_DIR": str(tmp_path / "cc"), "WANDB_DATA_DIR": str(tmp_path / "d"), "WANDB_DISABLE_GIT": "true", "WANDB_CONSOLE": "off"}
    script = "import wandb\nrun = wandb.init(project='p')\n" + SUMMARY_SCRIPT + "run.finish()\n"
    subprocess.run([sys.executable, "-c", script], env={**os.environ, **env}, check=True, timeout=300, cwd=tmp_path)
    (folder,) = (tmp_path / "wandb").glob("offline-run-*")
    theirs = {k: v for k, v in _WandbRun(folder).summary.items() if not k.startswith("_")}
    with ms.init(project="p", store=tmp_path / "store", run_id="r") as run:
        exec(SUMMARY_SCRIPT, {"run": run})
    ours = json.loads(ms.open(tmp_path / "store").runs()["summary"][0])
    assert ours == theirs  # 1 == 1.0: numbers compare by value
    assert ours["loss"] == {"min": 1.0} and "y" not in ours and ours["val/exact"] == 2.0 and ours["n"] == {"min": 2, "first": 6}


def test_define_metric_summary_through_the_module_api_and_with_explicit_values(tmp_path):
    with ms.init(project="p", store=tmp_path, run_id="r") as run:
        ms.log({"loss": 5.0})  # before the definition: not in its aggregates
        ms.define_metric("loss", summary="min,mean")
        ms.define_metric("ok", summary="last")
        for v in (4.0, 2.0):
            ms.log({"loss": v, "ok": True, "best": v})
        ms.define_metric("best", summary="max")
        ms.summary["best"] = 99.0  # an explicit value wins, as in W&B
    summary = json.loads(ms.open(tmp_path).runs()["summary"][0])
    assert summary["loss"] == {"min": 2.0, "mean": 3.0} and summary["ok"] == {"last": True} and summary["best"] == 99.0


def test_define_metric_summary_survives_resume(tmp_path):
    with ms.init(project="p", store=tmp_path, run_id="r") as run:
        run.define_metric("loss", summary="max")
        run.log({"loss": 1.0})
    with ms.init(project="p", store=tmp_path, run_id="r", resume=True) as run:
        run.log({"loss": 0.5})
        run.log({"loss": 0.7})
    assert json.loads(ms.open(tmp_path).runs()["summary"][0])["loss"] == {"max": 0.7}  # over this process's values


def test_run_summary_reads_what_was_logged_as_w_and_b_does(tmp_path):
    with ms.init(project="p", store=tmp_path, run_id="r") as run:
        run.log({"loss": 2.0, "acc": 0.5, "phase": "train"})
        run.log({"loss": 1.0})
        assert run.summary["loss"] == 1.0 and ms.summary["acc"] == 0.5 and run.summary["phase"] == "train"
        assert dict(run.summary) == {"loss": 1.0, "acc": 0.5, "phase": "train"} and len(run.summary) == 3
        run.define_metric("acc", summary="max")
        run.log({"acc": 0.75})
        run.log({"acc": 0.25})
        assert run.summary["acc"] == {"max": 0.75}
        run.summary["best"] = max(run.summary.get("best", 0), 3)  # W&B's idiom
        run.summary.update({"loss": -1.0})  # a value set wins over the logged one
        del run.summary["phase"]
        assert "phase" not in run.summary and run.summary.get("phase") is None
        with pytest.raises(KeyError):
            del run.summary["nothing"]
        assert run.summary == {"loss": -1.0, "acc": {"max": 0.75}, "best": 3}
    stored = json.loads(ms.open(tmp_path).runs()["summary"][0])
    assert stored == {"loss": -1.0, "acc": {"max": 0.75}, "best": 3}


def test_w_and_b_process_calls_and_terminal_output(tmp_path, capsys):
    ms.setup()
    ms.require("core")
    ms.termsetup()
    ms.termlog("logging to ./store")
    ms.termlog("raw", prefix=False, newline=False)
    ms.termwarn("once", repeat=False)
    ms.termwarn("once", repeat=False)
    ms.termerror("bad")
    assert capsys.readouterr().err == "mediastore: logging to ./store\nrawmediastore: WARNING once\nmediastore: ERROR bad\n"
    with pytest.raises(ms.Error):  # W&B's base exception: every mediastore error
        ms.init(project="p", store=tmp_path, run_id="bad id")
    a = ms.init(project="p", store=tmp_path, run_id="a")
    b = ms.init(project="p", store=tmp_path, run_id="b")
    ms.teardown(exit_code=1)  # every open run finishes; a non-zero code marks them crashed
    assert ms.run is None
    assert dict(ms.open(tmp_path).sql("SELECT run_id, state FROM runs").fetchall()) == {"a": "crashed", "b": "crashed"}
    assert a.state == b.state == "crashed"


def test_w_and_b_run_attributes_read_as_in_an_offline_w_and_b_run(tmp_path):
    import time

    before = time.time()
    with ms.init(project="p", store=tmp_path, run_id="r") as run:
        assert before - 1 <= run.start_time <= time.time() and run.starting_step == 0 and run.resumed is False
        assert run.offline is True and run.disabled is False and run.sweep_id is None and run.project_name() == "p"
        assert run.get_url() is None and run.get_project_url() is None and run.project_url is None
        run.mark_preempting()
        run.log({"x": 1.0})
        run.log({"x": 2.0})
    with ms.init(project="p", store=tmp_path, run_id="r", resume=True) as again:
        assert again.resumed is True and again.starting_step == 2 and again.start_time == run.start_time
    with ms.init(mode="disabled") as off:
        assert off.disabled is True
    for name in ("restore", "link_artifact", "log_model", "use_model", "link_model"):
        with pytest.raises(NotImplementedError, match=rf"^run.{name}: .*\(README: Porting from W&B\)$"):
            getattr(again, name)("x")
