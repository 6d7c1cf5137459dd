"""Deleting rows by rule and one blob garbage-collection pass, against doing the same by hand
with pyarrow on a local folder.

    python benchmarks/bench_delete.py [--quick]

- delete: ``store.delete("images", where="run_id = R AND step % 10 <> 0")`` (the check of the
  run's state, the rule evaluated in DuckDB, the published file rewritten under its name)
  against reading the same run's file with pyarrow, filtering it with a computed mask and
  writing it to a temporary name + os.replace: the raw limit. Median over one delete per run.
- gc: one ``store.gc(grace_seconds=0)`` pass over the store (listing the blobs, reading every
  blob column of every live file twice for the sweep, the runs' states) against listing
  ``blobs/`` with os.walk and reading every images file's ``blob`` column with pyarrow once.
  Median over repeated passes (after the first, nothing is left to free).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import mediastore as ms  # noqa: E402


def build(uri: str, runs: int, steps: int) -> None:
    rng = np.random.default_rng(0)
    pixels = [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(steps)]
    for r in range(runs):
        with ms.init(project="bench", store=uri, run_id=f"m{r:03d}", settings=ms.Settings(spool_seconds=0)) as run:
            for step in range(steps):
                run.log({"img": ms.Image(pixels[step]), "loss": float(step)})


def images_file(root: str, run_id: str) -> str:
    folder = Path(root, "images", "project=bench", f"run={run_id}")
    return str(next(p for p in folder.iterdir() if not p.name.startswith(("_", "."))))


def raw_delete(path: str) -> None:
    table = pq.read_table(path)
    steps = table.column("step").to_numpy()
    keep = pa.array(steps % 10 == 0)
    tmp = path + ".tmp"
    pq.write_table(table.filter(keep).replace_schema_metadata(table.schema.metadata), tmp, compression="zstd")
    os.replace(tmp, path)


def raw_scan(root: str) -> int:
    n = sum(len(files) for _, _, files in os.walk(Path(root, "blobs")))
    uris = set()
    for path in Path(root, "images").rglob("*.parquet"):
        if not path.name.startswith(("_", ".")):
            uris.update(pq.read_table(path, columns=["blob"]).column("blob").combine_chunks().field("uri").to_pylist())
    return n + len(uris)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    runs, steps = (6, 200) if args.quick else (10, 1000)
    with tempfile.TemporaryDirectory() as tmp:
        ours, raw = f"{tmp}/ours", f"{tmp}/raw"
        build(ours, runs, steps)
        build(raw, runs, steps)
        store = ms.open(ours)
        deletes, raws = [], []
        for r in range(runs):
            t = time.perf_counter()
            store.delete("images", where=f"run_id = 'm{r:03d}' AND step % 10 <> 0")
            deletes.append(time.perf_counter() - t)
            t = time.perf_counter()
            raw_delete(images_file(raw, f"m{r:03d}"))
            raws.append(time.perf_counter() - t)
        assert store.sql("SELECT count(*) FROM images").fetchall()[0][0] == runs * steps // 10
        gcs, scans = [], []
        for _ in range(5):
            t = time.perf_counter()
            store.gc(grace_seconds=0)
            gcs.append(time.perf_counter() - t)
            t = time.perf_counter()
            raw_scan(raw)
            scans.append(time.perf_counter() - t)
        d, rd, g, rs = (statistics.median(x) for x in (deletes, raws, gcs, scans))
        print(f"{runs} runs x {steps} images (32x32) + scalars, local folder; medians")
        print("| operation | mediastore | by hand (pyarrow) | ratio |")
        print("|---|---|---|---|")
        print(f"| delete 90% of one run's images | {d * 1e3:.1f} ms | {rd * 1e3:.1f} ms | {d / rd:.1f}x |")
        print(f"| one gc pass over the store | {g * 1e3:.1f} ms | {rs * 1e3:.1f} ms | {g / rs:.1f}x |")


if __name__ == "__main__":
    main()
