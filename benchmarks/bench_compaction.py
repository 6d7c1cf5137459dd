"""A one-run, step-range query: mediastore before and after compaction, against one
hand-written Parquet file per run, on local disk and on a loopback S3 server (moto).

    python benchmarks/bench_compaction.py [--quick]

Target (issue 5): compacted within 2x of the hand-written layout, on both. The hand-written
store has the same rows in the same hive layout, one file per run, queried by DuckDB with
read_parquet over the glob, as a user who wrote the files themselves would. Medians of
repeated warm queries.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import mediastore as ms  # noqa: E402
from mediastore.compact import compact_store  # noqa: E402
from mediastore.storage import StoreLocation  # noqa: E402

QUERY = "SELECT step, key, value FROM scalars WHERE run_id = ? AND step BETWEEN ? AND ? ORDER BY step, key"


def build(uri: str, runs: int, steps: int) -> None:
    settings = ms.Settings(flush_rows=5 * steps // 10, compact_on_finish=False, spool_seconds=0)
    for r in range(runs):
        with ms.init(project="bench", store=uri, run_id=f"run{r:03d}", settings=settings) as run:
            for step in range(steps):
                run.log({"loss": 1.0 / (step + 1), "acc": step / steps, "lr": 0.1, "grad": 0.5, "epoch": step // 100})


def hand_written(src: str, dst: str, runs: int) -> None:
    """One Parquet file per run with the same rows (read back from the mediastore store)."""
    store = ms.open(src)
    location = StoreLocation(dst)
    for r in range(runs):
        table = store.sql("SELECT step, key, value, logged_at FROM scalars WHERE run_id = ? ORDER BY step, key", [f"run{r:03d}"]).to_arrow_table()
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        location.write_bytes(location.path("scalars", "project=bench", f"run=run{r:03d}", "data.parquet"), sink.getvalue().to_pybytes())


def time_mediastore(uri: str, run: str, lo: int, hi: int, repeat: int) -> float:
    store = ms.open(uri)
    store.sql(QUERY, [run, lo, hi]).fetchall()  # warm: views defined, footers cached
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        store.sql(QUERY, [run, lo, hi]).fetchall()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def time_hand_written(uri: str, run: str, lo: int, hi: int, repeat: int) -> float:
    import duckdb

    location = StoreLocation(uri)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    if not location.is_local:
        con.register_filesystem(location.fs)
    glob = location.url(location.path("scalars", "*", "*", "*.parquet"))
    sql = (f"SELECT step, key, value FROM read_parquet('{glob}', hive_partitioning = true, hive_types = {{'project': 'VARCHAR', 'run': 'VARCHAR'}}) "
           "WHERE run = ? AND step BETWEEN ? AND ? ORDER BY step, key")
    con.execute(sql, [run, lo, hi]).fetchall()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        con.execute(sql, [run, lo, hi]).fetchall()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(label: str, store: str, baseline: str, runs: int, steps: int, repeat: int) -> None:
    build(store, runs, steps)
    hand_written(store, baseline, runs)
    run, lo, hi = f"run{runs // 2:03d}", steps // 4, steps // 2
    base = time_hand_written(baseline, run, lo, hi, repeat)
    before = time_mediastore(store, run, lo, hi, repeat)
    files_before = len(StoreLocation(store).fs.find(StoreLocation(store).path("scalars")))
    compact_store(StoreLocation(store))
    compact_store(StoreLocation(store), grace_seconds=0)  # delete what was replaced
    after = time_mediastore(store, run, lo, hi, repeat)
    files_after = len(StoreLocation(store).fs.find(StoreLocation(store).path("scalars")))
    for name, t, files in (("uncompacted", before, files_before), ("compacted", after, files_after)):
        verdict = "" if name == "uncompacted" else (" PASS" if t / base <= 2 else " MISS")
        print(f"| {label} | {name} ({files} files) | {t * 1000:.1f} ms | {base * 1000:.1f} ms ({runs} files) | {t / base:.2f}x |{verdict} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    runs, steps, repeat = (10, 2_000, 10) if args.quick else (50, 10_000, 30)
    print(f"{runs} runs x {steps:,} steps x 5 scalars; query: one run, steps {steps // 4}..{steps // 2}\n")
    print("| where | mediastore store | mediastore query | hand-written query | ratio | target <= 2x |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MEDIASTORE_SPOOL"] = f"{tmp}/spool"
        measure("local disk", f"{tmp}/store", f"{tmp}/hand", runs, steps, repeat)
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
        import boto3

        boto3.client("s3").create_bucket(Bucket="bench-bucket")
        prefix = uuid.uuid4().hex[:8]
        measure("loopback S3 (moto)", f"s3://bench-bucket/{prefix}/store", f"s3://bench-bucket/{prefix}/hand", runs, steps, max(5, repeat // 3))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
