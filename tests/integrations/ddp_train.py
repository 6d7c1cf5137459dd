"""Run by tests/integrations/test_lightning.py: a 2-process CPU DDP fit (gloo) with MediaStoreLogger.

    python tests/integrations/ddp_train.py STORE [--shared]

Lightning's `strategy="ddp"` starts rank 1 by running this script again; each rank logs its own
rank number, so the store shows whose values were stored. No run_id is given: each process
draws its own, so a run made by rank 1 would show up as a second run. With ``--shared`` every
rank logs into the run "ddp-shared" (``MediaStoreLogger(shared=True)``).
"""

import sys

import lightning as L
import torch
from torch import nn

from mediastore.integrations.lightning import MediaStoreLogger


class Model(L.LightningModule):
    def __init__(self, lr: float = 0.1):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x), y)
        self.log("rank", float(self.global_rank))
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


if __name__ == "__main__":
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True)), batch_size=8)
    model = Model()
    if "--shared" in sys.argv:
        logger = MediaStoreLogger(project="ddp", store=sys.argv[1], run_id="ddp-shared", shared=True)
    else:
        logger = MediaStoreLogger(project="ddp", store=sys.argv[1])
    logger.watch(model, log="gradients", log_freq=1)
    trainer = L.Trainer(max_epochs=1, logger=logger, log_every_n_steps=1, accelerator="cpu", devices=2, strategy="ddp",
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, data)
