"""run.config as in W&B: attribute and item access, update from a dict or an argparse.Namespace,
setdefaults, and changes that reach the stored run record while the run runs."""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pytest

import mediastore as ms
from mediastore.storage import StoreLocation


def stored_config(store_uri: str) -> dict:
    (config,) = ms.open(store_uri).sql("SELECT config FROM runs").fetchall()[0]
    return json.loads(config)


def test_attribute_and_item_access(tmp_path):
    with ms.init(project="p", store=tmp_path, config={"lr": 0.1}) as run:
        run.config.steps = 10
        run.config["batch"] = 32
        assert run.config.lr == 0.1 and run.config["steps"] == 10 and run.config.batch == 32
        assert "steps" in run.config and "epochs" not in run.config
        assert run.config.keys() == ["lr", "steps", "batch"]
        assert run.config.items() == [("lr", 0.1), ("steps", 10), ("batch", 32)]
        assert run.config.get("epochs", 3) == 3 and run.config.get("lr") == 0.1
        assert run.config.as_dict() == {"lr": 0.1, "steps": 10, "batch": 32}
        assert run.config == {"lr": 0.1, "steps": 10, "batch": 32}
        assert dict(run.config) == run.config.as_dict() and len(run.config) == 3
        with pytest.raises(AttributeError, match=r"config has no key 'epochs'; its keys are \['batch', 'lr', 'steps'\]"):
            run.config.epochs
        with pytest.raises(KeyError):
            run.config["epochs"]
    assert stored_config(tmp_path) == {"lr": 0.1, "steps": 10, "batch": 32}


@pytest.mark.parametrize(
    "source",
    [
        {"lr": 0.1, "layers": [64, 64]},
        argparse.Namespace(lr=0.1, layers=[64, 64]),
    ],
    ids=["dict", "namespace"],
)
def test_update_and_init_from_a_dict_or_a_namespace(tmp_path, source):
    with ms.init(project="p", store=tmp_path, run_id="a", config=source) as run:
        assert run.config.as_dict() == {"lr": 0.1, "layers": [64, 64]}
    with ms.init(project="p", store=tmp_path, run_id="b") as run:
        run.config.update(source)
        run.config.update({"lr": 0.2}, allow_val_change=True)
        run.config.update(momentum=0.9)
    store = ms.open(tmp_path)
    rows = store.sql("SELECT run_id, json_extract(config, '$.lr'), json_extract(config, '$.layers') FROM runs ORDER BY run_id").fetchall()
    assert rows == [("a", "0.1", "[64,64]"), ("b", "0.2", "[64,64]")]


def test_setdefaults_sets_only_missing_keys(tmp_path):
    with ms.init(project="p", store=tmp_path, config={"lr": 0.1}) as run:
        run.config.setdefaults({"lr": 0.5, "batch": 32})
        run.config.setdefaults(argparse.Namespace(batch=64, epochs=2))
        assert run.config.as_dict() == {"lr": 0.1, "batch": 32, "epochs": 2}


def test_numpy_values_become_json_values(tmp_path):
    with ms.init(project="p", store=tmp_path) as run:
        run.config.update({"lr": np.float32(0.5), "shape": np.array([3, 4]), "seed": np.int64(7)})
        assert run.config.shape == [3, 4] and type(run.config.seed) is int
    assert stored_config(tmp_path) == {"lr": 0.5, "shape": [3, 4], "seed": 7}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.__setitem__(3, 1), r"config keys are non-empty str, got int 3; use str\(key\)"),
        (lambda c: c.update({"img": ms.Html("<b>x</b>")}), r"config\['img'\] is a media object \(Html\); config holds hyperparameters as JSON — log media with run.log"),
        (lambda c: c.update({"ok": 1, "f": object()}), r"config\['f'\] is a object, which cannot be stored as JSON"),
        (lambda c: c.update([1, 2]), r"config.update must be a dict or an argparse.Namespace, got list"),
    ],
)
def test_bad_keys_and_values_are_refused_at_the_change_and_change_nothing(tmp_path, change, message):
    with ms.init(project="p", store=tmp_path, config={"lr": 0.1}) as run:
        with pytest.raises(ms.InvalidConfigError, match=message):
            change(run.config)
        assert run.config.as_dict() == {"lr": 0.1}
    assert issubclass(ms.InvalidConfigError, TypeError)


def test_init_refuses_a_config_that_is_not_a_dict(tmp_path):
    with pytest.raises(ms.InvalidConfigError, match=r"config must be a dict or an argparse.Namespace, got int 3"):
        ms.init(project="p", store=tmp_path, config=3)


@pytest.mark.parametrize("backend", ["local", "memory"])
def test_a_reader_sees_a_config_change_before_finish(tmp_path, backend):
    uri = str(tmp_path / "s") if backend == "local" else f"memory://cfg-{time.time_ns()}"
    run = ms.init(project="p", store=uri, config={"steps": 1})
    try:
        run.config.steps = 10
        run.config.lr = 0.5  # within the same interval: one write for both
        deadline = time.monotonic() + 10  # the write is due after CONFIG_WRITE_SECONDS (1 s)
        rows = []
        while time.monotonic() < deadline:
            rows = ms.open(uri).sql("SELECT json_extract(config, '$.steps'), json_extract(config, '$.lr'), state FROM runs").fetchall()
            if rows == [("10", "0.5", "running")]:
                break
            time.sleep(0.1)
        assert rows == [("10", "0.5", "running")]
        # The change rewrote the writer's one heartbeat record: no new file per change.
        loc = StoreLocation(uri)
        names = [p.rsplit("/", 1)[-1] for p in loc.list_files(loc.partition_dir("runs", "p", run.run_id))]
        assert len(names) == 2 and sum(n.startswith("_heartbeat-") for n in names) == 1
    finally:
        run.finish()
    assert stored_config(uri) == {"steps": 10, "lr": 0.5}


def test_config_and_runs_view_after_resume_keep_earlier_keys(tmp_path):
    with ms.init(project="p", store=tmp_path, run_id="r", config={"lr": 0.1}) as run:
        run.config.steps = 10
    with ms.init(project="p", store=tmp_path, run_id="r", resume=True, config={"lr": 0.2}) as run:
        assert run.config.as_dict() == {"lr": 0.2, "steps": 10}
    assert stored_config(tmp_path) == {"lr": 0.2, "steps": 10}


# -- W&B's config files ----------------------------------------------------------------------------


def test_init_reads_a_yaml_config_file_as_w_and_b(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("wandb_version: 1\nlr:\n  desc: learning rate\n  value: 0.1\nepochs: 3\nopt: {name: adam}\n")
    with ms.init(project="p", store=tmp_path / "s", config=str(path)) as run:  # W&B's {value: ...} form, and plain values
        assert run.config.as_dict() == {"lr": 0.1, "epochs": 3, "opt": {"name": "adam"}}
    with ms.init(project="p", store=tmp_path / "s", config=path, config_exclude_keys=["opt"]) as run:  # a Path too
        assert run.config.as_dict() == {"lr": 0.1, "epochs": 3}
    with ms.init(project="p", store=tmp_path / "s", config={"lr": 9}) as run:
        run.config.update(str(path))  # config.update takes a file too, as W&B's
        assert run.config.as_dict() == {"lr": 0.1, "epochs": 3, "opt": {"name": "adam"}}


@pytest.mark.parametrize("text, match", [
    (None, r"the config file '.*missing.yaml' does not exist; pass a dict, or the path of a YAML file"),
    ("- a\n- b\n", r"holds a list; a config file maps keys to values"),
    ("wandb_version: 2\nlr: 1\n", r"has wandb_version 2; W&B's config files are version 1"),
    ("lr: [1\n", r"is not valid YAML"),
])
def test_a_bad_config_file_is_refused_with_the_fix(tmp_path, text, match):
    path = tmp_path / "missing.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ms.InvalidConfigError, match=match):
        ms.init(project="p", store=tmp_path / "s", config=str(path))
    assert not (tmp_path / "s" / "runs").exists()  # nothing stored


def test_config_defaults_yaml_is_read_under_everything_else(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config-defaults.yaml").write_text("batch:\n  desc: batch size\n  value: 32\nlr:\n  value: 1.0\n")
    store = str(tmp_path / "s")
    with ms.init(project="p", store=store, run_id="r", config={"lr": 0.5}) as run:
        assert run.config.as_dict() == {"batch": 32, "lr": 0.5}  # the given config wins
        run.config.batch = 64
    with ms.init(project="p", store=store, run_id="r", resume=True) as run:
        assert run.config.as_dict() == {"batch": 64, "lr": 0.5}  # and so does the run's own, on resume
    assert stored_config(store) == {"batch": 64, "lr": 0.5}
