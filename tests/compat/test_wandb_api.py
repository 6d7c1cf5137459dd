"""ms.Api as W&B analysis code uses wandb.Api: projects, runs filtered and ordered, one run's
config, summary, history and scan_history; the rest of W&B's API raises NotImplementedError."""

from __future__ import annotations

import re

import numpy as np
import pytest

import mediastore as ms


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    uri = str(tmp_path_factory.mktemp("api") / "store")
    ids = []
    with ms.init(project="p", store=uri, name="first", config={"lr": 0.1, "opt": {"name": "adam"}}, tags=["base", "cpu"], group="g1") as run:
        for step in range(10):
            run.log({"loss": 1.0 / (step + 1), **({"acc": step / 10} if step % 2 == 0 else {})})
        run.summary["best"] = 0.9
        ids.append(run.run_id)
    with ms.init(project="p", store=uri, name="second", config={"lr": 0.01}, tags=["gpu"], job_type="eval") as run:
        for step in range(5):
            run.log({"loss": 2.0 - step / 10})
        run.summary["best"] = 0.5
        ids.append(run.run_id)
    run = ms.init(project="p", store=uri, config={"lr": 0.001})
    run.log({"loss": 3.0})
    run.finish(crashed=True)
    ids.append(run.run_id)
    with ms.init(project="q", store=uri) as run:
        run.log({"x": 1.0})
    return uri, ids


def ids_of(runs) -> list[str]:
    return [r.id for r in runs]


def test_projects_and_runs_in_order(store):
    uri, (a, b, c) = store
    api = ms.Api(store=uri)
    assert [(p.name, p.run_count) for p in api.projects()] == [("p", 3), ("q", 1)]
    assert ids_of(api.runs("p")) == [a, b, c]
    assert ids_of(api.runs("my-team/p", order="-created_at")) == [c, b, a]  # the entity is ignored
    assert ids_of(ms.Api(overrides={"project": "p", "entity": "x"}, store=uri).runs()) == [a, b, c]
    assert ids_of(api.runs("p", order="-summary_metrics.best")) == [a, b, c]  # a run without it goes last
    assert ids_of(api.runs("p", order="+summary_metrics.best")) == [b, a, c]
    assert ids_of(api.runs("p", order="+config.lr")) == [c, b, a]


@pytest.mark.parametrize("filters, expected", [
    ({"config.lr": {"$gt": 0.005}}, [0, 1]),
    ({"config.opt.name": "adam"}, [0]),
    ({"config.lr.value": 0.1}, [0]),  # W&B's form of a config filter
    ({"tags": "base"}, [0]),  # a list field matches when one item does
    ({"tags": ["base", "cpu"]}, [0]),
    ({"tags": {"$in": ["gpu", "tpu"]}}, [1]),
    ({"tags": {"$nin": ["base"]}}, [1, 2]),
    ({"state": "crashed"}, [2]),
    ({"state": {"$ne": "crashed"}, "config.lr": {"$lte": 0.01}}, [1]),
    ({"$or": [{"group": "g1"}, {"jobType": "eval"}]}, [0, 1]),
    ({"$and": [{"state": "finished"}, {"display_name": {"$regex": "^sec"}}]}, [1]),
    ({"$nor": [{"state": "finished"}]}, [2]),
    ({"summary_metrics.best": {"$gte": 0.5, "$lt": 0.9}}, [1]),
    ({"config.missing": {"$exists": False}}, [0, 1, 2]),
    ({"summary_metrics.best": {"$exists": True}}, [0, 1]),
    ({"display_name": "first"}, [0]),
])
def test_runs_filtered_as_in_w_and_b(store, filters, expected):
    uri, ids = store
    assert ids_of(ms.Api(store=uri).runs("p", filters=filters)) == [ids[i] for i in expected]


def test_a_filter_by_run_id_and_by_creation_time(store):
    uri, (a, b, c) = store
    api = ms.Api(store=uri)
    assert ids_of(api.runs("p", {"name": b})) == [b]
    assert ids_of(api.runs("p", {"created_at": {"$gt": "2000-01-01T00:00:00Z"}})) == [a, b, c]  # ISO text compares in time order
    assert ids_of(api.runs("p", {"createdAt": {"$lt": "2000-01-01T00:00:00Z"}})) == []
    created = api.run(f"p/{a}").created_at
    assert a in ids_of(api.runs("p", {"created_at": {"$lte": created}})) and a not in ids_of(api.runs("p", {"created_at": {"$gt": created}}))


@pytest.mark.parametrize("call, match", [
    (lambda api: api.runs("p", {"colour": "red"}), r"filter field 'colour' is not one of .* or config.<key>, summary_metrics.<key>"),
    (lambda api: api.runs("p", {"state": {"$like": "f%"}}), r"filter operator '\$like' on 'state' is not one of"),
    (lambda api: api.runs("p", {"$where": "x"}), r"filter operator '\$where' at the top level"),
    (lambda api: api.runs("p", {"tags": {"$in": "base"}}), r"\$in takes a list, got 'base'"),
    (lambda api: api.runs("p", {"$or": {"state": "x"}}), r"\$or takes a list of filters"),
    (lambda api: api.runs("p", order="+heartbeat"), r"order='\+heartbeat'; use '\+' or '-' then created_at"),
    (lambda api: api.runs(), r"Api.runs: no project given"),
    (lambda api: api.run(""), r"Api.run: give 'project/run_id'"),
])
def test_bad_queries_name_the_fix(store, call, match):
    with pytest.raises(ms.InvalidArgumentError, match=match):
        call(ms.Api(store=store[0]))


def test_one_run_as_w_and_b_shows_it(store):
    uri, (a, b, c) = store
    api = ms.Api(store=uri)
    for path in (f"p/{a}", f"team/p/{a}", f"team/p/runs/{a}"):
        run = api.run(path)
        assert (run.id, run.name, run.state, run.project, run.path) == (a, "first", "finished", "p", ["p", a])
    assert run.config == {"lr": 0.1, "opt": {"name": "adam"}}
    assert run.summary["best"] == 0.9 and run.summary["loss"] == pytest.approx(0.1)
    assert (run.tags, run.group, run.job_type, run.notes) == (["base", "cpu"], "g1", None, None)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", run.created_at)
    assert api.run(f"p/{c}").name == c  # no display name: the id, as W&B's
    with pytest.raises(ms.RunNotFoundError, match=r"no run 'nope' in project 'p'"):
        api.run("p/nope")


def test_history_and_scan_history(store):
    uri, (a, *_) = store
    run = ms.Api(store=uri).run(f"p/{a}")
    history = run.history()
    assert list(history.columns) == ["_step", "acc", "loss", "_runtime", "_timestamp"] and history["_step"].tolist() == list(range(10))
    assert (history["_runtime"].diff().dropna() >= 0).all() and 0 <= history["_runtime"].iloc[0] < 60
    start = history["_timestamp"] - history["_runtime"]  # the run's start, the same on every row
    np.testing.assert_allclose(start, start.iloc[0], atol=1e-3)
    np.testing.assert_allclose(history["loss"], [1 / (s + 1) for s in range(10)])
    assert run.history(keys=["acc"])["_step"].tolist() == [0, 2, 4, 6, 8]  # the steps that logged it
    both = run.history(keys=["loss", "acc"])
    assert list(both.columns) == ["_step", "loss", "acc"] and both["_step"].tolist() == [0, 2, 4, 6, 8]  # steps with both
    assert run.history(samples=3)["_step"].tolist() == [0, 4, 9]  # evenly, first and last kept
    assert run.history(keys=["acc"], pandas=False)[:2] == [{"_step": 0, "acc": 0.0}, {"_step": 2, "acc": 0.2}]
    assert run.history(keys=["nothing"]).empty
    rows = [{k: v for k, v in r.items() if k not in ("_runtime", "_timestamp")} for r in run.scan_history()]
    assert rows[1] == {"_step": 1, "loss": 0.5} and rows[2] == {"_step": 2, "acc": 0.2, "loss": pytest.approx(1 / 3)}
    assert [r["_step"] for r in run.scan_history(keys=["acc"], min_step=3, max_step=8)] == [4, 6]


@pytest.mark.parametrize("call, error, match", [
    (lambda run: run.history(stream="system"), NotImplementedError, r"machine metrics are not recorded"),
    (lambda run: run.history(keys="loss"), ms.InvalidArgumentError, r"keys must be a list of str, got 'loss'"),
    (lambda run: run.history(x_axis="epoch"), ms.InvalidArgumentError, r"x_axis='epoch' is not a logged key"),
    (lambda run: run.files(), NotImplementedError, r"^ms.Api run.files: ms.Api reads runs .* \(README: Porting from W&B\)$"),
    (lambda run: run.update(), NotImplementedError, r"^ms.Api run.update: "),
])
def test_what_a_run_does_not_offer(store, call, error, match):
    uri, (a, *_) = store
    with pytest.raises(error, match=match):
        call(ms.Api(store=uri).run(f"p/{a}"))


def test_what_the_api_does_not_offer(store):
    api = ms.Api(store=store[0])
    with pytest.raises(NotImplementedError, match=r"^ms.Api\(\).artifact: ms.Api reads runs"):
        api.artifact("data:latest")
    assert not hasattr(api, "sweep") and not hasattr(api.run(f"p/{store[1][0]}"), "logged_artifacts")


def test_the_readme_snippet_runs_on_the_demo(tmp_path, capsys):
    import textwrap
    from pathlib import Path

    from mediastore.demo import run_demo

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = [b for b in re.findall(r"^( *)```python\n(.*?)^\1```", readme, re.DOTALL | re.MULTILINE) if "ms.Api(store=" in b[1]]
    assert len(blocks) == 1
    snippet = textwrap.dedent(blocks[0][1])
    assert snippet.count('"./mediastore-data"') == 1
    run_demo(str(tmp_path / "demo"), steps=20)
    capsys.readouterr()
    exec(snippet.replace('"./mediastore-data"', repr(str(tmp_path / "demo"))), {"ms": ms})
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("segnet-lr0.0003 0.0003 ")  # the one run with lr < 0.001


def test_history_holds_strings_and_w_and_b_times(tmp_path):
    import time

    with ms.init(project="p", store=tmp_path, run_id="r") as run:
        started = time.time()
        run.log({"loss": 1.0, "phase": "train"})
        run.log({"phase": "eval"})  # a step of strings alone
        run.log({"loss": 0.5})
    api_run = ms.Api(store=str(tmp_path)).run("p/r")
    history = api_run.history()
    assert list(history.columns) == ["_step", "loss", "phase", "_runtime", "_timestamp"]
    assert history["phase"].tolist()[:2] == ["train", "eval"] and history["loss"].isna().tolist() == [False, True, False]
    assert abs(history["_timestamp"].iloc[0] - started) < 5 and 0 <= history["_runtime"].iloc[0] < 5
    assert api_run.history(keys=["loss", "phase"]).values.tolist() == [[0, 1.0, "train"]]  # steps with both
    rows = list(api_run.scan_history(keys=["phase"]))
    assert [(r["_step"], r["phase"]) for r in rows] == [(0, "train"), (1, "eval")]


@pytest.mark.parametrize("version, runs", [("v1", {"v1a": 6, "v1b": 6}), ("v3", {"v3a": 5, "v3b": 12})])
def test_stores_of_earlier_formats_read_through_the_api(tmp_path, version, runs):
    import shutil
    from pathlib import Path

    shutil.copytree(Path(__file__).resolve().parents[1] / "data" / f"store-{version}", tmp_path / "s")
    api = ms.Api(store=str(tmp_path / "s"))
    found = {r.id: len(r.history()) for r in api.runs("old")}
    assert found == runs
    assert all(len(list(r.scan_history(keys=["loss"]))) == n for r, n in zip(api.runs("old"), runs.values()))
