"""Export throughput against copying the same objects with fsspec's ``get``, on a local folder
and on a bucket 20 ms away, side by side in one run (issue 15).

Run from the repository root::

    python -m benchmarks.bench_export                     # 600 256x256 images in 3 runs: ~1 min
    python -m benchmarks.bench_export --images 2000 --reps 5

The store: ``--images`` images of ``--size`` pixels (smooth gradients, PNG; about 100 KB each at
256x256) logged by ``run.log`` into a local folder, split over 3 runs, then copied to the bucket
by ``mediastore sync``. The bucket is moto's S3 server on loopback behind the delay proxy
(``mediastore/_testing/s3proxy.py``), ``--latency`` seconds (default 0.020) per request.

Measured on each side, interleaved in each repetition, into a fresh folder:

- ``export``: ``store.export("SELECT * FROM images", out, format="files")`` — the query, ranged
  reads coalesced per pack, sha256 checks, a file per image, ``metadata.parquet``;
- ``get``: ``fs.get([objects], folder)`` of the objects those images live in (their packs),
  with the same filesystem object: the plain copy of the same bytes, with nothing checked.

MB/s are media bytes over seconds (export: the images' bytes; get: the objects' bytes, which
are the same bytes here: every blob of the packs is an image of the query). The ratio is
export MB/s / get MB/s, the median of the repetitions' own ratios (1.0: as fast as a copy).
The table goes to stdout; progress to stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import mediastore as ms  # noqa: E402
from benchmarks.bench_store import _code_version, log, make_images  # noqa: E402

BUCKET = "bench-export"
QUERY = "SELECT * FROM images"
RUNS = 3


def build(root: str, images: int, size: int) -> int:
    arrays = make_images(images, size=size, seed=1)
    for r in range(RUNS):
        with ms.init(project="bench", store=root, run_id=f"run{r}") as run:
            for step, arr in enumerate(arrays[r::RUNS]):
                run.log({"img": ms.Image(arr)}, step=step)
    return len(arrays)


def objects_of(store: ms.Store) -> tuple[list[str], int]:
    """The objects the query's blobs live in, as paths on the store's filesystem, and their bytes."""
    uris = sorted({u for (u,) in store.sql("SELECT DISTINCT blob.uri FROM images").fetchall()})
    paths = [store.location.path(u) for u in uris]
    return paths, sum(store.location.fs.size(p) for p in paths)


def one(store: ms.Store, paths: list[str], tmp: str) -> tuple[float, int, float, int]:
    """(export seconds, export bytes, get seconds, get bytes) into fresh folders."""
    out = tempfile.mkdtemp(prefix="export-", dir=tmp)
    start = time.perf_counter()
    report = store.export(QUERY, os.path.join(out, "x"), progress=False)
    export_s = time.perf_counter() - start
    copy = tempfile.mkdtemp(prefix="get-", dir=tmp)
    start = time.perf_counter()
    store.location.fs.get(paths, copy + "/")
    get_s = time.perf_counter() - start
    got = sum(f.stat().st_size for f in Path(copy).rglob("*") if f.is_file())
    shutil.rmtree(out)
    shutil.rmtree(copy)
    return export_s, report.bytes_read, get_s, got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.020)
    args = parser.parse_args()
    started = time.perf_counter()
    tmp = tempfile.mkdtemp(prefix="ms-bench-export-")
    results: dict[str, list[tuple[float, int, float, int]]] = {"local": [], "S3": []}
    try:
        local = os.path.join(tmp, "store")
        log(f"logging {args.images} {args.size}x{args.size} images")
        build(local, args.images, args.size)
        from mediastore._testing.s3proxy import S3TestServer
        from mediastore.sync import sync

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        with S3TestServer(latency=args.latency, buckets=[BUCKET]) as s3:
            os.environ.update(s3.env)
            os.environ["AWS_ENDPOINT_URL"] = s3.endpoint
            s3_uri = f"s3://{BUCKET}/store"
            log("mediastore sync to the bucket")
            sync(local, s3_uri, destination_options={"endpoint_url": s3.endpoint}, progress=False)
            stores = {"local": ms.open(local), "S3": ms.open(s3_uri, storage_options={"endpoint_url": s3.endpoint}, cache=False)}
            objects = {k: objects_of(s) for k, s in stores.items()}
            for rep in range(args.reps):
                for where, store in stores.items():
                    results[where].append(one(store, objects[where][0], tmp))
                    e_s, e_b, g_s, g_b = results[where][-1]
                    log(f"  rep {rep + 1} {where}: export {e_b / e_s / 1e6:.1f} MB/s, get {g_b / g_s / 1e6:.1f} MB/s")
            s3.proxy.reset()
            one(stores["S3"], objects["S3"][0], tmp)
            counts_note = ", ".join(f"{k} {v}" for k, v in s3.proxy.counts().items())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"mediastore export benchmark ({_code_version()}): {args.images} {args.size}x{args.size} PNG images in {RUNS} runs, "
          f"{objects['local'][1] / 1e6:.1f} MB in {len(objects['local'][0])} pack objects; S3 = moto on loopback behind the "
          f"delay proxy, +{args.latency * 1e3:.0f} ms per request; median of {args.reps}; {os.cpu_count()} cores; "
          f"took {time.perf_counter() - started:.0f} s\n")
    print("| where | export (format='files') | fsspec get of the same objects | export / get |")
    print("|---|---|---|---|")
    for where, reps in results.items():
        export_rate = statistics.median(b / s / 1e6 for s, b, _, _ in reps)
        get_rate = statistics.median(b / s / 1e6 for _, _, s, b in reps)
        ratio = statistics.median((eb / es) / (gb / gs) for es, eb, gs, gb in reps)
        print(f"| {where} | {export_rate:.1f} MB/s | {get_rate:.1f} MB/s | {ratio:.2f}x |")
    print(f"\nRequests of one S3 export and get, at the proxy: {counts_note}")


if __name__ == "__main__":
    main()
