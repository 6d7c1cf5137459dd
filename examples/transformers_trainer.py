"""Fine-tune a tiny randomly initialised BERT on synthetic token sequences with the Hugging Face
`Trainer`, logging into mediastore through `MediaStoreCallback` (no download; about 15 s on CPU).

    python examples/transformers_trainer.py [--store ./mediastore-data] [--epochs 3]

The label of a sequence is whether token 7 occurs in it. What lands in the store: the model's
config and the TrainingArguments as the run's config, `train/loss`, `train/learning_rate`,
`train/grad_norm` and `eval/loss` at the Trainer's global steps, and the training totals
(`train_runtime`, ...) in the run's summary.
"""

from __future__ import annotations

import argparse
import tempfile

import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

import mediastore as ms
from mediastore.integrations.transformers import MediaStoreCallback

VOCAB, LENGTH = 32, 12


class Sequences(torch.utils.data.Dataset):
    def __init__(self, n: int, seed: int):
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, VOCAB, (n, LENGTH), generator=g)
        self.labels = (self.ids == 7).any(dim=1).long()

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict:
        return {"input_ids": self.ids[i], "labels": self.labels[i]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default=None, help="store folder or URI (default: a new temporary folder)")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)
    store = args.store or tempfile.mkdtemp(prefix="mediastore-transformers-")
    torch.manual_seed(0)
    torch.set_num_threads(1)  # a model this small trains fastest on one thread (more spin against each other)
    config = BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=LENGTH, num_labels=2)
    model = BertForSequenceClassification(config)  # random weights: nothing is downloaded
    training_args = TrainingArguments(
        output_dir=tempfile.mkdtemp(prefix="trainer-output-"), run_name="tiny-bert", num_train_epochs=args.epochs,
        per_device_train_batch_size=32, learning_rate=1e-3, logging_steps=2, eval_strategy="epoch",
        save_strategy="no", report_to="none", use_cpu=True, disable_tqdm=True)
    callback = MediaStoreCallback(project="tiny-bert", store=store)
    trainer = Trainer(model=model, args=training_args, train_dataset=Sequences(512, seed=0),
                      eval_dataset=Sequences(128, seed=1), callbacks=[callback])
    trainer.train()

    print(f"store: {store}  run: {callback.run.run_id}")
    print(ms.open(store).sql(
        "SELECT key, count(*) AS rows, min(step) AS first_step, max(step) AS last_step, "
        "round(arg_max(value, step), 4) AS last_value FROM scalars GROUP BY key ORDER BY key").df().to_string(index=False))


if __name__ == "__main__":
    main()
