"""Train a small classifier on synthetic 28x28 digit-like images with PyTorch Lightning, logging
into mediastore through `MediaStoreLogger` (no network, no dataset download; about 10 s on CPU).

    python examples/lightning_mnist_like.py [--store ./mediastore-data] [--epochs 2]

What lands in the store: the module's hyperparameters as the run's config, `train/loss`,
`val/loss` and `val/acc` at Lightning's global steps, gradient histograms (`logger.watch`), a few
validation images with their predicted class as a box, and a table of predictions.
"""

from __future__ import annotations

import argparse
import tempfile

import lightning as L
import numpy as np
import torch
from torch import nn

import mediastore as ms
from mediastore.integrations.lightning import MediaStoreLogger


def synthetic_digits(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Ten classes, each a bright square at its own place on a 28x28 canvas, plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    images = rng.normal(0.0, 0.2, (n, 1, 28, 28)).astype(np.float32)
    for i, label in enumerate(labels):
        row, col = divmod(int(label), 5)
        images[i, 0, 4 + 12 * row: 12 + 12 * row, 1 + 5 * col: 6 + 5 * col] += 1.0
    return torch.from_numpy(images), torch.from_numpy(labels)


class Classifier(L.LightningModule):
    def __init__(self, lr: float = 0.05, hidden: int = 32):
        super().__init__()
        self.save_hyperparameters()  # Lightning passes these to logger.log_hyperparams -> the run's config
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, hidden), nn.ReLU(), nn.Linear(hidden, 10))

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.cross_entropy(self(x), y)
        self.log("train/loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        self.log("val/loss", nn.functional.cross_entropy(logits, y))
        self.log("val/acc", (logits.argmax(1) == y).float().mean())
        if batch_idx == 0 and not self.trainer.sanity_checking:
            pred = logits.argmax(1)
            images = [x[i].clamp(0, 1) for i in range(4)]  # (1, 28, 28) tensors, channels first
            boxes = [{"predictions": {"box_data": [{"position": {"minX": 0.0, "maxX": 1.0, "minY": 0.0, "maxY": 1.0},
                                                    "class_id": int(pred[i])}],
                                      "class_labels": {c: str(c) for c in range(10)}}} for i in range(4)]
            self.logger.log_image("val/examples", images, step=self.global_step,
                                  caption=[f"label {int(y[i])}" for i in range(4)], boxes=boxes)
            self.logger.log_table("val/predictions", columns=["label", "prediction"],
                                  data=[[int(y[i]), int(pred[i])] for i in range(len(y))], step=self.global_step)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default=None, help="store folder or URI (default: a new temporary folder)")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args(argv)
    store = args.store or tempfile.mkdtemp(prefix="mediastore-lightning-")
    torch.manual_seed(0)
    torch.set_num_threads(1)  # a model this small trains fastest on one thread (more spin against each other)
    x, y = synthetic_digits(1024, seed=0)
    vx, vy = synthetic_digits(128, seed=1)
    train = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64, shuffle=True)
    val = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(vx, vy), batch_size=64)

    model = Classifier()
    logger = MediaStoreLogger(project="mnist-like", store=store, name="mlp")
    logger.watch(model, log="gradients", log_freq=8)  # a histogram per parameter every 8 steps
    trainer = L.Trainer(max_epochs=args.epochs, logger=logger, log_every_n_steps=4, accelerator="cpu",
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, train, val)

    print(f"store: {store}  run: {logger.version}")
    print(ms.open(store).sql(
        "SELECT key, count(*) AS rows, max(step) AS last_step, round(arg_max(value, step), 3) AS last_value "
        "FROM scalars GROUP BY key ORDER BY key").df().to_string(index=False))


if __name__ == "__main__":
    main()
