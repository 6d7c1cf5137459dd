"""Raw limits, measured in the same run on the same inputs: what the machine does with no
store at all. Each is timed after a warm-up on a prefix of the same data."""

from __future__ import annotations

import time

from .common import HIST_BINS, Inputs, png_bytes, scalars_table

#: name -> (what it measures, unit, the workload it bounds)
LIMITS = {
    "png1": ("Pillow PNG encode alone, 1 thread (W2 arrays, level 6)", "img/s", "W2"),
    "png2": ("Pillow PNG encode alone, 2 threads (W2 arrays, level 6)", "img/s", "W2"),
    "histogram": ("np.histogram(x, bins=64) alone (W3 arrays)", "hist/s", "W3"),
    "arrow_scalars": ("pyarrow write alone: W1's rows, prebuilt table, zstd Parquet", "steps/s", "W1"),
    "arrow_table": ("pyarrow write alone: W4's frame (from_pandas + zstd Parquet)", "rows/s", "W4"),
}


def _timed(fn) -> float:
    import gc

    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(inputs: Inputs, root) -> dict[str, dict]:
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    for group in ("W1", "W2", "W3", "W4"):
        inputs.load(group)
    images = list(inputs.images)
    hists = inputs.histograms
    scalars = scalars_table(inputs.scalar_dicts)
    df = inputs.table
    pool = ThreadPoolExecutor(2)

    def png1(items):
        for a in items:
            png_bytes(a)

    def png2(items):
        list(pool.map(png_bytes, items))

    def histogram(items):
        for x in items:
            np.histogram(x, bins=HIST_BINS)

    def arrow_scalars(table):
        pq.write_table(table, str(root / "scalars.parquet"), compression="zstd")

    def arrow_table(frame):
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), str(root / "table.parquet"), compression="zstd")

    cases = {
        "png1": (png1, images, len(images)),
        "png2": (png2, images, len(images)),
        "histogram": (histogram, hists, len(hists)),
        "arrow_scalars": (arrow_scalars, scalars, len(inputs.scalar_dicts)),
        "arrow_table": (arrow_table, df, len(df)),
    }
    out = {}
    for name, (fn, data, items) in cases.items():
        fn(data[: max(1, len(data) // 20)])  # warm-up
        out[name] = {"seconds": _timed(lambda: fn(data)), "items": items}
    pool.shutdown()
    return out
