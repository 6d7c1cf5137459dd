"""MediaStoreLogger with the real PyTorch Lightning Trainer: a tiny model on synthetic data, on CPU,
and what it stores checked in SQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

L = pytest.importorskip("lightning", reason='MediaStoreLogger needs lightning: pip install "mediastore[lightning]"')
import torch  # noqa: E402
from torch import nn  # noqa: E402

import mediastore as ms  # noqa: E402
from mediastore.integrations.lightning import MediaStoreLogger  # noqa: E402

HERE = Path(__file__).parent
ROOT = HERE.parents[1]


def repo_env() -> dict:
    """The environment for a child process: this checkout's mediastore first on its path."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}


class Regressor(L.LightningModule):
    """y = sum(x) with a 2-layer MLP; remembers every loss and gradient by global step."""

    def __init__(self, lr: float = 0.05, hidden: int = 8, fail_at: int | None = None):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.losses: dict[int, float] = {}
        self.grads: dict[int, np.ndarray] = {}

    def training_step(self, batch, batch_idx):
        if self.hparams.fail_at is not None and self.global_step == self.hparams.fail_at:
            raise RuntimeError("boom")
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x), y)
        self.losses[self.global_step] = loss.item()
        self.log("train/loss", loss)
        return loss

    def on_after_backward(self):
        self.grads[self.global_step] = self.net[0].weight.grad.detach().clone().numpy()

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val/loss", nn.functional.mse_loss(self.net(x), y))

    def test_step(self, batch, batch_idx):
        x, y = batch
        self.log("test/loss", nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def loader(n: int = 64, batch: int = 8):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True)), batch_size=batch)


def trainer(logger, **kwargs):
    options = dict(max_epochs=1, logger=logger, log_every_n_steps=1, accelerator="cpu", enable_checkpointing=False,
                   enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    return L.Trainer(**{**options, **kwargs})


def test_fit_logs_metrics_config_and_gradient_histograms(tmp_path):
    store = str(tmp_path / "store")
    logger = MediaStoreLogger(project="lit", store=store, name="mlp", config={"batch_size": 8})
    model = Regressor()
    logger.watch(model, log="all", log_freq=2)
    run_id = logger.version  # known before the run exists
    trainer(logger, max_epochs=2, log_every_n_steps=2).fit(model, loader(), loader(16))

    s = ms.open(store)
    runs = s.runs()
    assert list(runs.run_id) == [run_id] and runs.state[0] == "finished" and runs.name[0] == "mlp"
    assert json.loads(runs.config[0]) == {"batch_size": 8, "lr": 0.05, "hidden": 8, "fail_at": None}
    # Lightning logs every 2nd step; rows sit at its global step, with the loss of that step.
    rows = s.sql("SELECT step, value FROM scalars WHERE key = 'train/loss' ORDER BY step").fetchall()
    assert [step for step, _ in rows] == [1, 3, 5, 7, 9, 11, 13, 15]
    for step, value in rows:
        assert value == pytest.approx(model.losses[step], rel=1e-6)
    assert s.sql("SELECT step FROM scalars WHERE key = 'val/loss' ORDER BY step").fetchall() == [(7,), (15,)]
    # watch: every 2nd gradient of each parameter, at the global step it was computed in
    grads = s.sql("SELECT step, bins, counts FROM histograms WHERE key = 'gradients/net.0.weight' ORDER BY step").fetchall()
    assert [step for step, _, _ in grads] == [1, 3, 5, 7, 9, 11, 13, 15]
    for step, bins, counts in grads:
        grad = model.grads[step]
        assert len(counts) == 64 and sum(counts) == grad.size == 32
        assert bins[0] == pytest.approx(grad.min(), abs=1e-6) and bins[-1] == pytest.approx(grad.max(), abs=1e-6)
    keys = s.sql("SELECT DISTINCT key FROM histograms ORDER BY key").fetchall()
    assert [k for (k,) in keys] == [f"{kind}/net.{i}.{p}" for kind in ("gradients", "parameters")
                                     for i in (0, 2) for p in ("bias", "weight")]
    # parameters: every 2nd forward of each layer (16 training + 4 validation forwards)
    assert s.sql("SELECT count(*) FROM histograms WHERE key = 'parameters/net.2.weight'").fetchall() == [(10,)]


def test_media_tables_and_text_as_on_wandb_logger(tmp_path):
    from PIL import Image as PILImage

    store = str(tmp_path / "store")
    path = tmp_path / "pic.png"
    PILImage.fromarray(np.full((6, 8, 3), 200, np.uint8)).save(path)
    mask = np.zeros((6, 8), np.uint8)
    mask[2:4, 2:6] = 1
    box = {"box_data": [{"position": {"minX": 0.1, "maxX": 0.5, "minY": 0.2, "maxY": 0.9}, "class_id": 1,
                         "scores": {"score": 0.25}}], "class_labels": {1: "car"}}
    logger = MediaStoreLogger(project="lit", store=store)
    images = [torch.rand(3, 6, 8), np.zeros((6, 8, 3), np.uint8), PILImage.new("RGB", (8, 6)), str(path)]
    logger.log_image("samples", images, step=3, caption=["tensor", "array", "pil", "path"],
                     masks=[{"pred": {"mask_data": mask, "class_labels": {1: "car"}}}, None, None, None],
                     boxes=[{"pred": box}, None, None, None])
    logger.log_table("preds", columns=["id", "label"], data=[[0, "cat"], [1, "dog"]], step=3)
    logger.log_text("notes", columns=["text"], data=[["hello"], ["world"]], step=4)
    samples = np.sin(np.linspace(0, 100, 800)).astype(np.float32)
    logger.log_audio("sound", [samples], step=4, sample_rate=[8000], caption=["sine"])
    logger.log_video("clip", [np.random.default_rng(0).integers(0, 256, (4, 3, 8, 8), dtype=np.uint8)],
                     step=5, fps=[2], format=["gif"])
    logger.log_metrics({"loss": 0.5}, step=5)
    logger.finalize("success")

    s = ms.open(store)
    got = s.sql("SELECT step, idx, caption, width, height, len(masks), len(boxes) FROM images ORDER BY idx").fetchall()
    assert got == [(3, 0, "tensor", 8, 6, 1, 1), (3, 1, "array", 8, 6, 0, 0), (3, 2, "pil", 8, 6, 0, 0),
                   (3, 3, "path", 8, 6, 0, 0)]
    label, score = s.sql("SELECT b.label, b.scores['score'] FROM images, unnest(boxes) AS t(b)").fetchall()[0]
    assert (label, score) == ("car", 0.25)
    decoded = s.decode(s.sql("SELECT * FROM images WHERE idx = 0").df().iloc[0])
    assert np.array_equal(decoded.masks["pred"]["mask_data"], mask) and decoded.caption == "tensor"
    assert s.sql('SELECT id, label FROM tables.preds ORDER BY id').fetchall() == [(0, "cat"), (1, "dog")]
    assert s.sql('SELECT step, text FROM tables.notes ORDER BY "row"').fetchall() == [(4, "hello"), (4, "world")]
    assert s.sql("SELECT step, sample_rate, num_samples, caption FROM audio").fetchall() == [(4, 8000, 800, "sine")]
    assert s.sql("SELECT step, format, frames, fps FROM videos").fetchall() == [(5, "gif", 4, 2.0)]
    assert s.sql("SELECT state FROM runs").fetchall() == [("finished",)]


def test_bad_arguments_raise_typed_errors_and_store_nothing(tmp_path):
    store = str(tmp_path / "store")
    logger = MediaStoreLogger(project="lit", store=store)
    with pytest.raises(ms.InvalidLogError, match=r"log_image takes a list of images, got ndarray; wrap one in a list"):
        logger.log_image("x", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ms.InvalidLogValueError, match=r"log_image: caption= must be a list with one entry per image \(2\), got 1 items"):
        logger.log_image("x", [np.zeros((4, 4), np.uint8)] * 2, caption=["one"])
    with pytest.raises(ms.InvalidMediaError):  # the second image is bad: the first is not stored either
        logger.log_image("x", [np.zeros((4, 4), np.uint8), np.zeros((2, 3, 4, 4))])
    with pytest.raises(ms.InvalidArgumentError, match=r"watch log='weights' is not one of"):
        logger.watch(nn.Linear(2, 2), log="weights")
    with pytest.raises(ms.InvalidArgumentError, match=r"watch log_freq=0; pass an int >= 1"):
        logger.watch(nn.Linear(2, 2), log_freq=0)
    logger.finalize("success")
    assert ms.open(store).sql("SELECT count(*) FROM images").fetchall() == [(0,)]
    with pytest.raises(ms.InvalidArgumentError, match=r"naming different runs; pass one of id=, run_id=, version="):
        MediaStoreLogger(id="a", run_id="b")
    with pytest.raises(ms.InvalidNameError):
        MediaStoreLogger(run_id="../up")
    with pytest.raises(ms.InvalidArgumentError, match=r"shared=True\) needs the run every rank joins: pass run_id="):
        MediaStoreLogger(shared=True)
    with pytest.warns(ms.IgnoredArgumentWarning, match=r"ignores save_dir='logs', log_model=True"):
        MediaStoreLogger(save_dir="logs", log_model=True)
    with pytest.raises(ms.UnknownArgumentError, match=r"unexpected keyword arguments \['colour'\]"):
        MediaStoreLogger(colour="red")


def test_wandb_run_labels_reach_the_runs_view(tmp_path):
    """WandbLogger forwards tags, group, notes and job_type to wandb.init: so does this logger,
    and a bad one fails when the logger is made, not at the first log."""
    store = str(tmp_path / "store")
    logger = MediaStoreLogger(project="lit", store=store, tags=["cpu", "tiny"], group="sweep", notes="n", job_type="train")
    trainer(logger).fit(Regressor(), loader())
    found = ms.open(store).sql('SELECT tags, "group", notes, job_type, state FROM runs').fetchall()
    assert found == [('["cpu", "tiny"]', "sweep", "n", "train", "finished")]
    with pytest.raises(ms.InvalidArgumentError, match=r"tags='cpu' must be a list of str"):
        MediaStoreLogger(store=store, tags="cpu")


def test_failed_fit_marks_the_run_crashed_and_keeps_its_rows(tmp_path):
    store = str(tmp_path / "store")
    logger = MediaStoreLogger(project="lit", store=store)
    with pytest.raises(RuntimeError, match="boom"):
        trainer(logger).fit(Regressor(fail_at=3), loader())
    s = ms.open(store)
    assert s.sql("SELECT state FROM runs").fetchall() == [("crashed",)]
    assert s.sql("SELECT step FROM scalars WHERE key = 'train/loss' ORDER BY step").fetchall() == [(0,), (1,), (2,)]


def test_test_after_fit_continues_the_same_run(tmp_path):
    store = str(tmp_path / "store")
    logger = MediaStoreLogger(project="lit", store=store)
    model = Regressor()
    t = trainer(logger)
    t.fit(model, loader())
    assert logger.experiment.state == "finished"  # looking at it does not reopen it
    t.test(model, loader(16))
    s = ms.open(store)
    assert s.sql("SELECT run_id, state FROM runs").fetchall() == [(logger.version, "finished")]
    assert s.sql("SELECT step FROM scalars WHERE key = 'test/loss'").fetchall() == [(8,)]
    assert s.sql("SELECT count(*) FROM scalars WHERE key = 'train/loss'").fetchall() == [(8,)]


def test_other_ranks_make_no_run_and_log_nothing(tmp_path, monkeypatch):
    """Lightning sets rank_zero_only.rank to the global rank in each process; on rank 1 every
    logging call does nothing and experiment is Lightning's dummy."""
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    store = tmp_path / "store"
    logger = MediaStoreLogger(project="lit", store=str(store))
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    assert type(logger.experiment).__name__ == "_DummyExperiment"
    logger.log_metrics({"loss": 1.0}, step=0)
    logger.log_hyperparams({"lr": 0.1})
    logger.log_image("x", [np.zeros((4, 4), np.uint8)])
    logger.finalize("success")
    assert not store.exists()
    monkeypatch.setattr(rank_zero_only, "rank", 0)  # the same calls on rank 0 do make the run
    logger.log_metrics({"loss": 1.0}, step=0)
    logger.finalize("success")
    assert ms.open(str(store)).sql("SELECT key, value FROM scalars").fetchall() == [("loss", 1.0)]


def test_ddp_on_two_cpu_processes_logs_from_rank_zero_only(tmp_path):
    """A real `strategy="ddp"` run (gloo, 2 processes): one run, and only rank 0's values in it."""
    store = tmp_path / "store"
    out = subprocess.run([sys.executable, str(HERE / "ddp_train.py"), str(store)], capture_output=True, text=True,
                         timeout=240, cwd=str(ROOT), env=repo_env())
    assert out.returncode == 0, out.stderr[-3000:]
    s = ms.open(str(store))
    assert s.sql("SELECT count(*), any_value(state) FROM runs").fetchall() == [(1, "finished")]
    # 64 samples, batch 8, split over 2 ranks: 4 steps; each rank logged its own rank number
    assert s.sql("SELECT step, value FROM scalars WHERE key = 'rank' ORDER BY step").fetchall() == [
        (0, 0.0), (1, 0.0), (2, 0.0), (3, 0.0)]
    assert s.sql("SELECT count(*) FROM histograms WHERE key = 'gradients/net.weight'").fetchall() == [(4,)]
    assert json.loads(s.sql("SELECT config FROM runs").fetchall()[0][0]) == {"lr": 0.1}


def test_ddp_with_shared_true_logs_every_rank_into_one_run(tmp_path):
    """The same DDP fit with `MediaStoreLogger(shared=True)`: one run, each rank's values attributed to it."""
    store = tmp_path / "store"
    out = subprocess.run([sys.executable, str(HERE / "ddp_train.py"), str(store), "--shared"], capture_output=True,
                         text=True, timeout=240, cwd=str(ROOT), env=repo_env())
    assert out.returncode == 0, out.stderr[-3000:]
    s = ms.open(str(store))
    assert s.sql("SELECT run_id, state FROM runs").fetchall() == [("ddp-shared", "finished")]
    assert s.sql("SELECT process, step, value FROM scalars WHERE key = 'rank' ORDER BY ALL").fetchall() == [
        (str(rank), step, float(rank)) for rank in (0, 1) for step in range(4)]
    # gradients are all-reduced by DDP: both ranks' histograms, the same counts
    assert s.sql("SELECT process, count(*) FROM histograms WHERE key = 'gradients/net.weight' GROUP BY 1 ORDER BY 1").fetchall() == [
        ("0", 4), ("1", 4)]


def test_pytorch_lightning_package_name(tmp_path):
    pl = pytest.importorskip("pytorch_lightning", reason="the pytorch_lightning package is not installed")
    from mediastore.integrations.pytorch_lightning import MediaStoreLogger as PLLogger

    class Tiny(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(4, 1)

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = nn.functional.mse_loss(self.layer(x), y)
            self.log("loss", loss)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    store = str(tmp_path / "store")
    logger = PLLogger(project="pl", store=store)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pl.Trainer(max_epochs=1, logger=logger, log_every_n_steps=1, accelerator="cpu", enable_checkpointing=False,
                   enable_progress_bar=False, enable_model_summary=False).fit(Tiny(), loader())
    s = ms.open(store)
    assert s.sql("SELECT project, state FROM runs").fetchall() == [("pl", "finished")]
    assert s.sql("SELECT count(*) FROM scalars WHERE key = 'loss'").fetchall() == [(8,)]


def test_a_pickled_logger_hands_its_run_to_the_copy(tmp_path):
    """What strategy="ddp_spawn" does: the logger (with the model it watches) is pickled into the
    spawned processes. The open run is finished here, the copy resumes it and re-hooks the copied model."""
    import pickle

    store = str(tmp_path / "store")
    logger = MediaStoreLogger(project="lit", store=store)
    model = nn.Linear(3, 1)
    logger.watch(model, log="gradients", log_freq=1)
    logger.log_metrics({"before": 1.0}, step=0)
    copy, copied_model = pickle.loads(pickle.dumps((logger, model)))
    assert logger.experiment.state == "finished"  # one writer per run
    assert copy.experiment.state == "running" and copy.version == logger.version
    copied_model(torch.ones(2, 3)).sum().backward()
    copy.log_metrics({"after": 2.0}, step=1)
    copy.finalize("success")
    s = ms.open(store)
    assert s.sql("SELECT run_id, state FROM runs").fetchall() == [(logger.version, "finished")]
    assert s.sql("SELECT step, key FROM scalars ORDER BY step").fetchall() == [(0, "before"), (1, "after")]
    assert s.sql("SELECT key FROM histograms ORDER BY key").fetchall() == [("gradients/bias",), ("gradients/weight",)]


def test_nan_gradients_are_binned_over_the_finite_values_with_a_warning(tmp_path):
    from mediastore.integrations._common import NonFiniteWarning

    store = str(tmp_path / "store")
    logger = MediaStoreLogger(project="lit", store=store)
    layer = nn.Linear(4, 1, bias=False)
    logger.watch(layer, log_freq=1)
    x = torch.tensor([[float("nan"), 1.0, 2.0, 3.0]])
    with pytest.warns(NonFiniteWarning, match=r"gradients/weight: 1 of 4 values are NaN or inf; the histogram covers the finite ones"):
        layer(x).sum().backward()
    logger.log_metrics({"loss": 1.0})  # outside Lightning, histograms join the next committed step, as wandb.watch's
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once per key
        layer(x).sum().backward()
    logger.finalize("success")
    got = ms.open(store).sql("SELECT step, bins[1], bins[-1], list_sum(counts) FROM histograms ORDER BY step").fetchall()
    assert got == [(0, 1.0, 3.0, 3), (1, 1.0, 3.0, 3)]


def test_hyperparameters_json_cannot_hold_are_stored_as_text(tmp_path):
    import enum

    class Mode(enum.Enum):
        FAST = "fast"

    store = str(tmp_path / "store")
    logger = MediaStoreLogger(project="lit", store=store)
    logger.log_hyperparams({"dtype": torch.float32, "mode": Mode.FAST, "path": Path("data/x"), "sizes": (1, 2),
                            "nested": {"lr": np.float32(0.5), "inf": float("inf")}, "n": torch.tensor(3)})
    logger.finalize("success")
    config = json.loads(ms.open(store).sql("SELECT config FROM runs").fetchall()[0][0])
    assert config == {"dtype": "torch.float32", "mode": "fast", "path": "data/x", "sizes": [1, 2],
                      "nested": {"lr": 0.5, "inf": "inf"}, "n": 3}
