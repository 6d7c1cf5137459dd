"""PNG encoders for W2's images, side by side (issue 16): rate on one and two threads, how many
cores each kept busy (whether it releases the GIL), size against Pillow's at the same level,
and a bit-exact check of every output through Pillow's decoder.

    python -m benchmarks.bench_png                 # 128x128 and 256x256, 400 images, 3 repetitions
    python -m benchmarks.bench_png --n 100 --reps 1

Candidates: Pillow into a BytesIO (mediastore's encoder before issue 16), Pillow into a real
file (read back), mediastore's encoder (numpy filters + stdlib zlib, mediastore/media/_png.py),
Pillow on a 2-process pool, and, when installed, imagecodecs' PNG encoder and our filters
with libdeflate (``deflate``) or zlib-ng (``zlib-ng``) in place of zlib. Rates are medians of
``--reps``; the variants run interleaved. The 1-thread Pillow rate is the baseline.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import PIL.Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.bench_store import make_images  # noqa: E402
from mediastore.media import _png  # noqa: E402

LEVEL = 6


def pillow_bytesio(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    PIL.Image.fromarray(a).save(buf, format="PNG", compress_level=LEVEL)
    return buf.getvalue()


_TMP = tempfile.mkdtemp(prefix="ms-bench-png-")


def pillow_file(a: np.ndarray) -> bytes:
    path = os.path.join(_TMP, f"{os.getpid()}-{id(a)}.png")
    PIL.Image.fromarray(a).save(path, format="PNG", compress_level=LEVEL)
    with open(path, "rb") as fh:
        return fh.read()


def mediastore_png(a: np.ndarray) -> bytes:
    return _png.encode(a, LEVEL)


def candidates() -> dict:
    found = {"Pillow, BytesIO": pillow_bytesio, "Pillow, to a file": pillow_file, "mediastore _png (numpy + zlib)": mediastore_png}
    try:
        import imagecodecs

        found[f"imagecodecs {imagecodecs.__version__} png_encode"] = lambda a: imagecodecs.png_encode(a, level=LEVEL)
    except ImportError:
        pass
    for label, module, attr in (("libdeflate (deflate)", "deflate", "zlib_compress"), ("zlib-ng (zlib-ng)", "zlib_ng.zlib_ng", "compress")):
        try:
            compress = getattr(__import__(module, fromlist=[attr]), attr)
        except ImportError:
            continue

        def encode(a, compress=compress):
            import struct
            import zlib

            h, w = a.shape[:2]
            data = _png._filtered(a.reshape(h, -1), a.shape[2]).tobytes()
            header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
            return _png._SIGNATURE + _png._chunk(b"IHDR", header) + _png._chunk(b"IDAT", compress(data, LEVEL)) + _png._chunk(b"IEND", b"")

        found[f"numpy filters + {label}"] = encode
    return found


def run(fn, images, workers: int, processes: bool = False) -> tuple[float, float]:
    """Wall seconds and this process's CPU seconds (all threads) to encode every image."""
    t0, c0 = time.perf_counter(), time.process_time()
    if workers == 1:
        for a in images:
            fn(a)
    else:
        pool = ProcessPoolExecutor(workers) if processes else ThreadPoolExecutor(workers)
        with pool:
            list(pool.map(fn, images, chunksize=16 if processes else 1))
    return time.perf_counter() - t0, time.process_time() - c0


def measure(side: int, n: int, reps: int) -> list[str]:
    images = make_images(n, side)
    found = candidates()
    reference = [pillow_bytesio(a) for a in images[:50]]
    sizes = {}
    for name, fn in found.items():
        out = [fn(a) for a in images[:50]]
        for a, png in zip(images, out):
            with PIL.Image.open(io.BytesIO(png)) as pil:
                assert np.array_equal(np.asarray(pil), a), f"{name}: not bit-exact"
        sizes[name] = sum(map(len, out)) / sum(map(len, reference))
    variants = [(name, fn, w, False) for name, fn in found.items() for w in (1, 2)]
    variants.append(("Pillow, BytesIO, 2 processes", pillow_bytesio, 2, True))
    sizes["Pillow, BytesIO, 2 processes"] = 1.0
    times: dict[tuple, list[tuple[float, float]]] = {}
    with ProcessPoolExecutor(2) as warm:  # process start-up is not the encoder's
        list(warm.map(abs, range(2)))
    for _ in range(reps):
        for name, fn, workers, processes in variants:
            times.setdefault((name, workers, processes), []).append(run(fn, images, workers, processes))
    base = statistics.median(w for w, _ in times[("Pillow, BytesIO", 1, False)])
    lines = [f"### {side}x{side} RGB, {n} images, level {LEVEL}, median of {reps}", "",
             "| encoder | workers | img/s | x Pillow 1 thread | cores busy | size / Pillow's |", "|---|---:|---:|---:|---:|---:|"]
    for (name, workers, processes), ts in times.items():
        wall = statistics.median(w for w, _ in ts)
        cpu = statistics.median(c for _, c in ts)
        busy = "—" if processes else f"{cpu / wall:.2f}"  # a process pool's CPU is its children's
        kind = "processes" if processes else ("thread" if workers == 1 else "threads")
        lines.append(f"| {name} | {workers} {kind} | {n / wall:,.0f} | {base / wall:.2f}x | {busy} | {sizes[name]:.3f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=400, help="images per size (default 400)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions; the median is reported (default 3)")
    parser.add_argument("--sides", default="128,256", help="image sides, comma-separated (default 128,256)")
    args = parser.parse_args(argv)
    print(f"PNG encoders, {os.cpu_count()} cores, Pillow {PIL.__version__}, numpy {np.__version__}\n")
    for side in (int(s) for s in args.sides.split(",")):
        print("\n".join(measure(side, args.n, args.reps)) + "\n", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
