"""MediaStoreCallback with the real Hugging Face Trainer: a tiny randomly initialised BERT on
synthetic token sequences, on CPU, nothing downloaded; what it stores checked in SQL."""

from __future__ import annotations

import json

import pytest

transformers = pytest.importorskip("transformers", reason='MediaStoreCallback needs transformers: pip install "mediastore[transformers]"')
pytest.importorskip("accelerate", reason='the Trainer needs accelerate: pip install "mediastore[transformers]"')
import torch  # noqa: E402
from transformers import (  # noqa: E402
    BertConfig,
    BertForSequenceClassification,
    Trainer,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)

import mediastore as ms  # noqa: E402
from mediastore.integrations.transformers import MediaStoreCallback  # noqa: E402


class Sequences(torch.utils.data.Dataset):
    def __init__(self, n: int = 32, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, 40, (n, 8), generator=g)
        self.labels = (self.ids == 7).any(dim=1).long()

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.labels[i]}


def tiny_model():
    torch.manual_seed(0)
    config = BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                        max_position_embeddings=8, num_labels=2)
    return BertForSequenceClassification(config)


def arguments(tmp_path, **kwargs):
    options = dict(output_dir=str(tmp_path / "out"), per_device_train_batch_size=8, num_train_epochs=2, logging_steps=1,
                   eval_strategy="epoch", save_strategy="no", report_to="none", use_cpu=True, disable_tqdm=True,
                   run_name="tiny", learning_rate=1e-3)
    return TrainingArguments(**{**options, **kwargs})


def test_trainer_scalars_at_global_steps_config_and_summary(tmp_path):
    store = str(tmp_path / "store")
    callback = MediaStoreCallback(project="hf", store=store, config={"dataset": "synthetic"})
    trainer = Trainer(model=tiny_model(), args=arguments(tmp_path), train_dataset=Sequences(), eval_dataset=Sequences(16, 1),
                      callbacks=[callback])
    trainer.train()
    s = ms.open(store)
    runs = s.runs()
    assert list(runs.project) == ["hf"] and list(runs.name) == ["tiny"] and list(runs.state) == ["finished"]
    # train/loss: one row per logged step, keyed by the Trainer's global step, with the Trainer's values
    expected = [(e["step"], e["loss"]) for e in trainer.state.log_history if "loss" in e]
    assert [step for step, _ in expected] == list(range(1, 9))
    got = s.sql("SELECT step, value FROM scalars WHERE key = 'train/loss' ORDER BY step").fetchall()
    assert [step for step, _ in got] == [step for step, _ in expected]
    assert [v for _, v in got] == pytest.approx([v for _, v in expected])
    assert s.sql("SELECT step FROM scalars WHERE key = 'eval/loss' ORDER BY step").fetchall() == [(4,), (8,)]
    keys = {k for (k,) in s.sql("SELECT DISTINCT key FROM scalars").fetchall()}
    assert {"train/learning_rate", "train/grad_norm", "train/epoch", "eval/runtime"} <= keys
    assert not keys & {"train/train_runtime", "train_runtime", "train/total_flos"}  # totals are summary, not rows
    config = json.loads(runs.config[0])
    assert config["dataset"] == "synthetic"
    assert (config["hidden_size"], config["id2label"], config["model_type"]) == (16, {"0": "LABEL_0", "1": "LABEL_1"}, "bert")  # the model's config
    assert (config["learning_rate"], config["per_device_train_batch_size"], config["run_name"]) == (1e-3, 8, "tiny")
    assert config["model/num_parameters"] == sum(p.numel() for p in trainer.model.parameters())
    summary = json.loads(runs.summary[0])
    assert summary["train_loss"] == pytest.approx(trainer.state.log_history[-1]["train_loss"])
    assert summary["train_runtime"] > 0

    # evaluate() after training: the same run, resumed, gets the eval rows and is finished again
    trainer.evaluate()
    runs = s.runs()
    assert list(runs.state) == ["finished"] and len(runs) == 1
    assert s.sql("SELECT count(*) FROM scalars WHERE key = 'eval/loss' AND step = 8").fetchall() == [(2,)]


def test_report_to_mediastore(tmp_path, monkeypatch):
    store = str(tmp_path / "store")
    monkeypatch.setenv("MEDIASTORE_STORE", store)
    args = arguments(tmp_path, report_to="mediastore", num_train_epochs=1, eval_strategy="no")
    if hasattr(args, "project"):  # Transformers 5 has TrainingArguments.project
        args.project = "from-args"
    trainer = Trainer(model=tiny_model(), args=args, train_dataset=Sequences())
    assert any(isinstance(cb, MediaStoreCallback) for cb in trainer.callback_handler.callbacks)
    trainer.train()
    s = ms.open(store)
    project = "from-args" if hasattr(args, "project") else "huggingface"
    assert s.sql("SELECT project, state FROM runs").fetchall() == [(project, "finished")]
    assert s.sql("SELECT count(*) FROM scalars WHERE key = 'train/loss'").fetchall() == [(4,)]


def test_only_world_process_zero_makes_a_run(tmp_path):
    """The Trainer's events as another process of a distributed run sees them: nothing is stored;
    the same events as process zero store the run (so the check can fail)."""
    store = tmp_path / "store"
    args = arguments(tmp_path)
    model = tiny_model()
    for zero in (False, True):
        callback = MediaStoreCallback(project="hf", store=str(store))
        state = TrainerState(is_world_process_zero=zero, is_local_process_zero=zero)
        state.global_step = 3
        callback.on_train_begin(args, state, TrainerControl(), model=model)
        callback.on_log(args, state, TrainerControl(), model=model, logs={"loss": 0.5})
        callback.on_train_end(args, state, TrainerControl(), model=model)
        if not zero:
            assert callback.run is None and not store.exists()
    assert ms.open(str(store)).sql("SELECT step, key, value FROM scalars").fetchall() == [(3, "train/loss", 0.5)]


def test_logs_the_store_cannot_hold_are_skipped_and_bad_names_refused(tmp_path):
    store = str(tmp_path / "store")
    callback = MediaStoreCallback(project="hf", store=store)
    args, state = arguments(tmp_path), TrainerState()
    state.global_step = 2
    callback.on_log(args, state, TrainerControl(), model=tiny_model(),
                    logs={"loss": 0.25, "eval_accuracy": 0.5, "test_f1": 0.75, "note": "ok", "none": None, "per_class": [1, 2]})
    callback.on_train_end(args, state, TrainerControl())
    s = ms.open(store)
    assert s.sql("SELECT step, key, value FROM scalars ORDER BY key").fetchall() == [
        (2, "eval/accuracy", 0.5), (2, "test/f1", 0.75), (2, "train/loss", 0.25)]
    assert s.sql("SELECT key, text FROM texts").fetchall() == [("train/note", "ok")]
    with pytest.raises(ms.InvalidNameError):
        MediaStoreCallback(project="a/b")
    with pytest.warns(ms.IgnoredArgumentWarning, match=r"MediaStoreCallback ignores log_model='end'"):
        MediaStoreCallback(log_model="end")


def test_each_hyperparameter_search_trial_gets_its_own_run(tmp_path):
    """The events of Trainer.hyperparameter_search (which needs optuna or ray, so its events are
    sent here as the Trainer sends them): one run per trial, named after it, not one resumed run."""
    store = str(tmp_path / "store")
    callback = MediaStoreCallback(project="hf", store=store)
    args, model = arguments(tmp_path), tiny_model()
    for trial in ("trial-0", "trial-1"):
        state = TrainerState(is_hyper_param_search=True, trial_name=trial)
        state.global_step = 1
        callback.on_train_begin(args, state, TrainerControl(), model=model)
        callback.on_log(args, state, TrainerControl(), model=model, logs={"loss": 0.5})
        callback.on_train_end(args, state, TrainerControl(), model=model)
    runs = ms.open(store).sql("SELECT name, state FROM runs ORDER BY name").fetchall()
    assert runs == [("trial-0", "finished"), ("trial-1", "finished")]


def test_watch_logs_gradient_histograms_at_the_steps_of_their_updates(tmp_path, monkeypatch):
    """watch= (or $MEDIASTORE_WATCH, as W&B's WANDB_WATCH) hooks the model: every watch_log_freq-th
    gradient of each parameter becomes a histogram at the global step of its update."""
    store = str(tmp_path / "store")
    monkeypatch.setenv("MEDIASTORE_WATCH", "gradients")
    trainer = Trainer(model=tiny_model(), args=arguments(tmp_path, eval_strategy="no"), train_dataset=Sequences(),
                      callbacks=[MediaStoreCallback(project="hf", store=store, watch_log_freq=3)])
    trainer.train()
    s = ms.open(store)
    name = "classifier.weight"
    assert s.sql(f"SELECT step FROM histograms WHERE key = 'gradients/{name}' ORDER BY step").fetchall() == [(3,), (6,)]
    keys = {k for (k,) in s.sql("SELECT DISTINCT key FROM histograms").fetchall()}
    trainable = {f"gradients/{n}" for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert keys <= trainable and len(keys) > 10 and not any(k.startswith("parameters/") for k in keys)
    # The hooks went when training ended.
    assert not trainer.model.classifier.weight._backward_hooks


def test_watch_is_off_by_default_and_checked(tmp_path, monkeypatch):
    monkeypatch.delenv("MEDIASTORE_WATCH", raising=False)
    store = str(tmp_path / "store")
    Trainer(model=tiny_model(), args=arguments(tmp_path, num_train_epochs=1, eval_strategy="no"), train_dataset=Sequences(),
            callbacks=[MediaStoreCallback(project="hf", store=store)]).train()
    assert ms.open(store).sql("SELECT count(*) FROM histograms").fetchall() == [(0,)]
    with pytest.raises(ms.InvalidArgumentError, match=r"watch='weights' \(or \$MEDIASTORE_WATCH\) is not one of"):
        MediaStoreCallback(watch="weights")
    with pytest.raises(ms.InvalidArgumentError, match=r"watch_log_freq=0; pass an int >= 1"):
        MediaStoreCallback(watch="all", watch_log_freq=0)
