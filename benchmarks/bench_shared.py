"""Shared runs: N processes x S steps logged into one run (``ms.init(mode="shared")``) against
the same N processes each logging a run of its own, in the same benchmark run.

    python -m benchmarks.bench_shared [--processes 8] [--steps 10000] [--reps 3] [--s3]

Each process logs ``steps`` steps of 5 scalars with ``run.log`` and finishes. Printed: the
median time of the ``run.log`` loop per process and of the whole job (start of the processes
to the last finish), shared / separate as ratios; with ``--s3``, the job also runs on the
loopback S3 server behind the delay proxy (+20 ms per request) and the requests are counted
by verb (the shared path must add none per ``log`` call).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid

WORKER = textwrap.dedent(
    """
    import json, sys, time
    import mediastore as ms
    store, run_id, label, steps, shared = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == "1"
    args = {"mode": "shared", "label": label} if shared else {}
    started = time.perf_counter()
    run = ms.init(project="bench", store=store, run_id=run_id, **args)
    t0 = time.perf_counter()
    for step in range(steps):
        run.log({"loss": 1.0 / (step + 1), "acc": step / steps, "lr": 3e-4, "grad_norm": 0.5, "epoch": step // 1000})
    t1 = time.perf_counter()
    run.finish()
    print(json.dumps({"log": t1 - t0, "total": time.perf_counter() - started}))
    """
)


def job(store: str, processes: int, steps: int, shared: bool) -> tuple[float, float]:
    """(median run.log loop seconds of a process, wall seconds of the whole job)."""
    tag = uuid.uuid4().hex[:6]
    started = time.perf_counter()
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, store, f"shared-{tag}" if shared else f"own-{tag}-{i}", f"p{i}",
                          str(steps), "1" if shared else "0"], stdout=subprocess.PIPE, text=True)
        for i in range(processes)
    ]
    outs = [json.loads(p.communicate(timeout=1800)[0]) for p in procs]
    wall = time.perf_counter() - started
    if any(p.returncode for p in procs):
        raise SystemExit("a worker failed")
    return statistics.median(o["log"] for o in outs), wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--s3", action="store_true", help="also on the loopback S3 server behind the delay proxy")
    parser.add_argument("--latency", type=float, default=0.020)
    args = parser.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="ms-bench-shared-")
    os.environ["MEDIASTORE_SPOOL"] = os.path.join(tmp, "spool")
    places = [("local folder", os.path.join(tmp, "store"), None)]
    server = None
    if args.s3:
        from mediastore._testing.s3proxy import S3TestServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = S3TestServer(latency=args.latency, buckets=["bench"]).start()
        os.environ.update(server.env)
        os.environ["AWS_ENDPOINT_URL"] = server.endpoint
        places.append((f"S3 +{args.latency * 1e3:.0f} ms", "s3://bench/store", server.proxy))
    print(f"{args.processes} processes x {args.steps} steps x 5 scalars; median of {args.reps}; {os.cpu_count()} cores")
    print("| where | layout | run.log loop per process | whole job | requests (by verb) |")
    print("|---|---|---|---|---|")
    try:
        for where, store, proxy in places:
            results = {}
            for shared in (False, True):
                logs, walls, counts = [], [], None
                for _ in range(args.reps):
                    if proxy is not None:
                        proxy.reset()
                    log_s, wall = job(store, args.processes, args.steps, shared)
                    logs.append(log_s)
                    walls.append(wall)
                    if proxy is not None:
                        counts = dict(proxy.counts())
                results[shared] = (statistics.median(logs), statistics.median(walls), counts)
                layout = "one shared run" if shared else f"{args.processes} runs"
                verbs = ", ".join(f"{v} {k}" for k, v in sorted((counts or {}).items())) or "-"
                print(f"| {where} | {layout} | {results[shared][0]:.2f} s | {results[shared][1]:.2f} s | {verbs} |")
            print(f"| {where} | shared / separate | {results[True][0] / results[False][0]:.2f}x | "
                  f"{results[True][1] / results[False][1]:.2f}x | |")
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
