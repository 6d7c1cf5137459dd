"""The same workload on a local folder and on a bucket 20 ms away (issue 12: a team bucket as
fast as a local folder), side by side in one run, with the S3 requests each operation sent.

Run from the repository root::

    python -m benchmarks.bench_s3                      # 200 runs, +20 ms per request: ~6 min
    python -m benchmarks.bench_s3 --runs 1000 --reps 1
    python -m benchmarks.bench_s3 --runs 20 --steps 50 --images 40 --reps 1   # a ~1 min smoke run

The bucket is moto's S3 server on loopback behind the delay proxy
(``mediastore/_testing/s3proxy.py``), which sleeps ``--latency`` seconds (default 0.020, what a
cloud bucket takes to answer a small request) before forwarding each request and counts requests
by verb. Loopback alone answers in 1-3 ms and hides round trips; with the proxy, an operation
that sends its requests one after another costs about requests x latency, and the verb counts
say which requests those are.

The store: ``--runs`` runs (default 200) x ``--steps`` steps (200) x 5 scalars, plus 4 128x128
RGB images per run, written by ``run.log`` into a local folder (``--workers`` processes), then
copied to the bucket by ``mediastore sync`` through the proxy: that copy is the first row
measured. Every operation then runs on both copies, local and S3 interleaved in each repetition:

- ``store.runs()``, the first call after ``ms.open``;
- ``store.history(run)`` of one run, first call after ``ms.open``;
- ``SELECT run_id, avg(value) FROM scalars WHERE key = 'loss' GROUP BY 1``, first call after
  ``ms.open`` (cold) and asked again (warm);
- one image row by SQL then ``store.decode(row)``, cold and warm;
- logging ``--images`` (400) 128x128 images into a new run of another store, ``ms.init``
  outside the timed region, ``finish()`` inside it.

Times are medians of ``--reps`` repetitions (3); each ratio (S3 / local, lower is better) is the
median of the repetitions' own ratios. The request counts are those of the last repetition
(they do not vary between repetitions; the script says so if they do). The table goes to
stdout; progress and each repetition's numbers to stderr.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import mediastore as ms  # noqa: E402
from benchmarks.bench_store import _code_version, log, make_images  # noqa: E402

KEYS = ("loss", "acc", "lr", "grad", "epoch")
IMAGES_PER_RUN = 4
IMAGE_SIZE = 128
AGGREGATE = "SELECT run_id, avg(value) FROM scalars WHERE key = 'loss' GROUP BY 1"
IMAGE_ROW = "SELECT * FROM images WHERE run_id = ? AND step = ?"
BUCKET = "bench-s3"


# -- the store -------------------------------------------------------------------------------
def _image_steps(steps: int) -> list[int]:
    return [i * steps // IMAGES_PER_RUN for i in range(IMAGES_PER_RUN)]


def _write_runs(root: str, first: int, last: int, steps: int) -> int:
    """Runs ``first..last-1`` by ``run.log``, as a training script would write them."""
    image_steps = _image_steps(steps)
    for r in range(first, last):
        images = iter(make_images(IMAGES_PER_RUN, size=IMAGE_SIZE, seed=r))
        with ms.init(project="bench", store=root, run_id=f"run{r:04d}") as run:
            for step in range(steps):
                values: dict = {"loss": 1.0 / (step + 1), "acc": step / steps, "lr": 0.1 * 0.99**step, "grad": 0.5, "epoch": float(step // 50)}
                if step in image_steps:
                    values["img"] = ms.Image(next(images))
                run.log(values)
    return last - first


def build_local(root: str, runs: int, steps: int, workers: int) -> float:
    """Write the store with ``workers`` processes (each its own runs, as many writers do)."""
    start = time.perf_counter()
    bounds = np.linspace(0, runs, workers * 4 + 1).astype(int)
    chunks = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    with ProcessPoolExecutor(workers) as pool:
        done = 0
        for n in pool.map(_write_runs, [root] * len(chunks), [a for a, _ in chunks], [b for _, b in chunks], [steps] * len(chunks)):
            done += n
            log(f"  built {done}/{runs} runs")
    return time.perf_counter() - start


# -- measuring ---------------------------------------------------------------------------------
@dataclass
class Row:
    operation: str
    local: list[float] = field(default_factory=list)
    s3: list[float] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    varied: bool = False
    items: int | None = None  # for rates: items per timed region

    def add(self, local: float, s3: float, counts: dict[str, int]) -> None:
        if self.s3 and counts != self.counts:
            self.varied = True
        self.local.append(local)
        self.s3.append(s3)
        self.counts = counts

    def ratio(self) -> float:
        return statistics.median(s / l for s, l in zip(self.s3, self.local))


def _fmt(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _verbs(counts: dict[str, int], scale: float = 1.0) -> str:
    return ", ".join(f"{verb} {n * scale:,.0f}" for verb, n in counts.items()) or "none"


class Bench:
    """The two stores, the proxy, and the operations measured on each."""

    def __init__(self, local: str, s3_uri: str, proxy, steps: int):
        self.local, self.s3_uri, self.proxy, self.steps = local, s3_uri, proxy, steps
        self.s3_options = {"endpoint_url": proxy.endpoint}
        self.cache_dir = tempfile.mkdtemp(prefix="ms-bench-cache-")

    def open(self, where: str) -> ms.Store:
        """A fresh Store; on S3 with an empty local cache of its own, so "cold" is cold in
        every repetition (the cache is on by default for object stores)."""
        if where == "local":
            return ms.open(self.local)
        return ms.open(self.s3_uri, storage_options=self.s3_options, cache=tempfile.mkdtemp(prefix="cache-", dir=self.cache_dir))

    def timed(self, where: str, fn: Callable[[], object]) -> tuple[float, dict[str, int]]:
        """Seconds ``fn`` took, and the requests it sent (S3 only; checked to be some, so that
        nothing went around the proxy)."""
        self.proxy.reset()
        start = time.perf_counter()
        fn()
        seconds = time.perf_counter() - start
        counts = self.proxy.counts()
        if where == "local" and counts:
            raise AssertionError(f"the local side sent S3 requests: {counts}")
        return seconds, counts

    def reads(self, run_id: str) -> dict[str, Callable[[str], tuple[float, dict]]]:
        """Each read operation as ``where -> (seconds, counts)``; several share one ms.open."""
        image_step = _image_steps(self.steps)[1]

        def open_only(where):
            return self.timed(where, lambda: self.open(where))

        def runs(where):
            store = self.open(where)
            seconds, counts = self.timed(where, store.runs)
            return seconds, counts

        def history(where):
            store = self.open(where)
            return self.timed(where, lambda: store.history(run_id))

        def aggregate(where):
            store = self.open(where)
            cold = self.timed(where, lambda: store.sql(AGGREGATE).fetchall())
            warm = self.timed(where, lambda: store.sql(AGGREGATE).fetchall())
            return cold, warm

        def image(where):
            store = self.open(where)

            def once():
                row = store.sql(IMAGE_ROW, [run_id, image_step]).df().iloc[0]
                assert store.decode(row).to_numpy().shape == (IMAGE_SIZE, IMAGE_SIZE, 3)

            return self.timed(where, once), self.timed(where, once)

        def viewer(where):
            # The viewer's runs page of the project: its one API call, on a fresh Store and server.
            from mediastore.ui import ViewerServer

            server = ViewerServer(self.open(where), port=0)
            server.start()
            try:
                def page():
                    with urllib.request.urlopen(server.url + "api/runs?project=bench&limit=50") as response:
                        assert len(json.loads(response.read())["runs"]) == 50

                return self.timed(where, page)
            finally:
                server.shutdown()

        return {"open": open_only, "runs": runs, "history": history, "aggregate": aggregate, "image": image,
                "viewer": viewer}

    def log_images(self, where: str, arrays: list[np.ndarray]) -> tuple[float, dict[str, int]]:
        # A store of its own: the new runs would otherwise change what the reads read.
        uri = self.local + "-logging" if where == "local" else self.s3_uri + "-logging"
        options = None if where == "local" else self.s3_options
        run = ms.init(project="logging", store=uri, run_id=f"log-{uuid.uuid4().hex[:8]}", storage_options=options)

        def work():
            for arr in arrays:
                run.log({"img": ms.Image(arr)})
            run.finish()

        return self.timed(where, work)


def measure(bench: Bench, runs: int, reps: int, n_images: int) -> list[Row]:
    run_id = f"run{runs // 2:04d}"
    rows = {
        name: Row(name)
        for name in (
            "ms.open",
            "store.runs(), cold",
            "store.history(run), cold",
            "aggregate over runs, cold",
            "aggregate over runs, warm",
            "image row + decode, cold",
            "image row + decode, warm",
            "viewer runs page, cold",
        )
    }
    logging = Row(f"log {n_images} images {IMAGE_SIZE}x{IMAGE_SIZE} + finish", items=n_images)
    reads = bench.reads(run_id)
    # Distinct images per repetition and side: blobs are content-addressed, and a blob the
    # store already has is not uploaded again.
    arrays = make_images(n_images * 2 * reps, size=IMAGE_SIZE, seed=10**6)
    for rep in range(reps):
        for name, op in reads.items():
            local, s3 = op("local"), op("S3")
            if name in ("aggregate", "image"):
                label = "aggregate over runs" if name == "aggregate" else "image row + decode"
                rows[f"{label}, cold"].add(local[0][0], s3[0][0], s3[0][1])
                rows[f"{label}, warm"].add(local[1][0], s3[1][0], s3[1][1])
            else:
                label = {"open": "ms.open", "runs": "store.runs(), cold", "history": "store.history(run), cold",
                         "viewer": "viewer runs page, cold"}[name]
                rows[label].add(local[0], s3[0], s3[1])
            log(f"  rep {rep + 1} {name}: local {local} | S3 {s3}")
        chunk = arrays[2 * rep * n_images : (2 * rep + 2) * n_images]
        local = bench.log_images("local", chunk[:n_images])
        s3 = bench.log_images("S3", chunk[n_images:])
        logging.add(local[0], s3[0], s3[1])
        log(f"  rep {rep + 1} logging: local {local[0]:.2f} s | S3 {s3[0]:.2f} s {s3[1]}")
    for row in rows.values():
        if row.operation != "ms.open" and not sum(row.counts.values()):
            raise AssertionError(f"{row.operation} sent no request through the proxy: it went around it")
    return [*rows.values(), logging]


def table(rows: list[Row]) -> str:
    out = [
        "| operation | local | S3 | S3 / local | requests | by verb |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        local, s3 = statistics.median(row.local), statistics.median(row.s3)
        total = sum(row.counts.values())
        if row.items:
            per = 1000 / row.items
            out.append(
                f"| {row.operation} | {row.items / local:,.0f} img/s ({_fmt(local)}) | {row.items / s3:,.1f} img/s ({_fmt(s3)}) "
                f"| {row.ratio():.1f}x | {total:,} ({total * per:,.0f} per 1000 images) | {_verbs(row.counts, per)} per 1000 images |"
            )
        else:
            varied = " (varied between repetitions)" if row.varied else ""
            out.append(f"| {row.operation} | {_fmt(local)} | {_fmt(s3)} | {row.ratio():.1f}x | {total:,}{varied} | {_verbs(row.counts)} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.020, help="seconds the proxy adds to each request (default 0.020)")
    parser.add_argument("--runs", type=int, default=200, help="runs in the store (default 200)")
    parser.add_argument("--steps", type=int, default=200, help="steps per run, 5 scalars each (default 200)")
    parser.add_argument("--images", type=int, default=400, help="images logged in the logging workload (default 400)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions; medians are reported (default 3)")
    parser.add_argument("--workers", type=int, default=max(1, min(4, os.cpu_count() or 1)), help="processes building the local store")
    parser.add_argument("--tmp", default=None, help="directory for the local store (default: the system temp dir)")
    parser.add_argument("--settled", action="store_true",
                        help="compact with no grace period: the store as a later compaction leaves it, its replaced files deleted")
    args = parser.parse_args(argv)

    version = _code_version()  # at the start: the code this process imported
    log(f"mediastore {ms.__version__}, {version}")
    tmp = tempfile.mkdtemp(prefix="ms-bench-s3-", dir=args.tmp)
    started = time.perf_counter()
    os.environ["MEDIASTORE_SPOOL"] = os.path.join(tmp, "spool")
    try:
        local = os.path.join(tmp, "store")
        log(f"building {args.runs} runs x {args.steps} steps locally with {args.workers} processes")
        built = build_local(local, args.runs, args.steps, args.workers)  # before any thread starts: the pool forks
        # As a team's store is after its periodic `mediastore compact`: the runs index written.
        from mediastore.compact import compact_store
        from mediastore.storage import StoreLocation

        # --settled: as after a later `mediastore compact` too, once the files the first one
        # replaced are past their grace period and deleted (one record file left per run).
        compact_store(StoreLocation(local), grace_seconds=0 if args.settled else 300)

        import logging

        from mediastore._testing.s3proxy import S3TestServer
        from mediastore.sync import sync

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request

        with S3TestServer(latency=args.latency, buckets=[BUCKET]) as s3:
            # Credentials and region for s3fs (FACTS.md: the region goes in AWS_DEFAULT_REGION);
            # the endpoint too, so that anything not handed storage_options still goes through
            # the proxy and is counted.
            os.environ.update(s3.env)
            os.environ["AWS_ENDPOINT_URL"] = s3.endpoint
            s3_uri = f"s3://{BUCKET}/store"
            bench = Bench(local, s3_uri, s3.proxy, args.steps)

            log("mediastore sync: local -> local folder, and local -> S3 (this makes the S3 copy)")
            sync_row = Row("mediastore sync of the store (local -> other folder / -> S3)")
            local_sync = bench.timed("local", lambda: sync(local, os.path.join(tmp, "copy"), progress=False))
            shutil.rmtree(os.path.join(tmp, "copy"), ignore_errors=True)
            s3_sync = bench.timed("S3", lambda: sync(local, s3_uri, destination_options=bench.s3_options, progress=False))
            sync_row.add(local_sync[0], s3_sync[0], s3_sync[1])
            log(f"  sync: local {local_sync[0]:.2f} s | S3 {s3_sync[0]:.2f} s {s3_sync[1]}")

            log(f"measuring, {args.reps} repetitions")
            rows = [sync_row, *measure(bench, args.runs, args.reps, args.images)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    import duckdb
    import fsspec
    import pyarrow as pa
    import s3fs

    print(
        f"mediastore {ms.__version__} ({version}) S3 benchmark, {_dt.date.today().isoformat()}: {args.runs} runs x "
        f"{args.steps} steps x {len(KEYS)} scalars + {IMAGES_PER_RUN} {IMAGE_SIZE}x{IMAGE_SIZE} images per run; "
        f"S3 = moto on loopback behind the delay proxy, +{args.latency * 1e3:.0f} ms per request; median of {args.reps} "
        f"repetitions; {os.cpu_count()} cores, Python {platform.python_version()}, DuckDB {duckdb.__version__}, "
        f"pyarrow {pa.__version__}, s3fs {s3fs.__version__}, fsspec {fsspec.__version__}; local store built in "
        f"{built:.0f} s; took {time.perf_counter() - started:.0f} s\n"
    )
    print(table(rows))
    print(
        "\ncold: the first call after ms.open; warm: the same call again on that Store. S3 / local: the median of "
        "each repetition's own ratio (lower is better). requests: what the S3 side sent, counted at the proxy "
        f"(at +{args.latency * 1e3:.0f} ms each, N requests one after another cost N x {args.latency * 1e3:.0f} ms)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
