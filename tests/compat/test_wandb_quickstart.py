"""W&B's Tables quickstart, ported by changing the import, on synthetic data: make a table,
add rows with images in a loop, log it, add a column, log a DataFrame, read everything back
with store.table and SQL."""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

import mediastore as ms


def test_tables_quickstart_end_to_end(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(6, 16, 16, 3), dtype=np.uint8)
    truth = rng.integers(0, 3, size=6)
    labels = ["cat", "dog", "bird"]
    args = argparse.Namespace(epochs=2, lr=1e-3)

    ms.init(project="table-test", store=tmp_path, run_id="quick", config=args)
    ms.config.batch_size = 3
    ms.define_metric("eval/*", step_metric="epoch")

    # A table row by row, with an image per row.
    table = ms.Table(columns=["id", "image", "prediction", "truth"])
    for i, (image, label) in enumerate(zip(images, truth)):
        prediction = (label + i % 2) % 3
        table.add_data(i, ms.Image(image, caption=f"sample {i}"), labels[prediction], labels[label])
    ms.log({"predictions": table})

    # A column added after the fact, logged again as a new (MUTABLE) table.
    correct = [p == t for p, t in zip(table.get_column("prediction"), table.get_column("truth"))]
    scored = ms.Table(columns=table.columns, data=table.data, log_mode="MUTABLE")
    scored.add_column("correct", correct)
    ms.log({"predictions_scored": scored})

    # Per-epoch metrics as an incremental table and a DataFrame.
    per_epoch = ms.Table(columns=["epoch", "accuracy"], log_mode="INCREMENTAL")
    for epoch in range(args.epochs):
        per_epoch.add_data(epoch, float(np.mean(correct)))
        ms.log({"per_epoch": per_epoch, "epoch": epoch, "eval/accuracy": float(np.mean(correct))})
    ms.log({"summary_df": pd.DataFrame({"label": labels, "count": [int((truth == k).sum()) for k in range(3)]})})
    ms.summary["best_accuracy"] = float(np.mean(correct))
    ms.finish()
    assert ms.run is None

    store = ms.open(tmp_path)
    frame = store.table("quick", "predictions")
    assert frame["id"].tolist() == list(range(6)) and frame["truth"].tolist() == [labels[t] for t in truth]
    first = store.decode(frame["image"][0])
    assert np.array_equal(first.to_numpy(), images[0]) and first.caption == "sample 0"
    assert store.table("quick", "predictions_scored")["correct"].tolist() == correct
    assert store.table("quick", "per_epoch")["epoch"].tolist() == [0, 1]
    assert store.table("quick", "summary_df")["count"].sum() == 6
    wrong = store.sql(
        'SELECT id, image.caption FROM tables.predictions_scored WHERE NOT correct ORDER BY id'
    ).fetchall()
    assert wrong == [(i, f"sample {i}") for i in range(6) if not correct[i]]
    run = store.sql(
        "SELECT json_extract(config, '$.lr'), json_extract(config, '$.batch_size'), "
        "json_extract_string(metrics, '$.\"eval/*\".step_metric'), json_extract(summary, '$.best_accuracy') FROM runs"
    ).fetchall()
    assert run == [("0.001", "3", "epoch", str(float(np.mean(correct))))]
