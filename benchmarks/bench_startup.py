"""Start-up: ``import mediastore`` + ``ms.init`` + ``finish()`` of an empty run on a local folder.

Run from the repository root::

    python -m benchmarks.bench_startup              # 10 fresh interpreters per variant, medians
    python -m benchmarks.bench_startup --runs 20

Each measurement is a fresh ``python`` process (a warm start: the files are in the OS cache
and compiled to bytecode after the first run, as in an installed copy) that times, with ``time.perf_counter``, the import, the ``ms.init`` on a
new temporary folder and the ``finish()``; the script prints the medians over ``--runs``
processes. Side by side, interleaved with it, it times the same process importing only numpy
and pyarrow.parquet (the floor of every release before the run record was written without
pyarrow: 0.10 s, the whole target; an empty run now imports neither) and the bare interpreter. Then one
``python -X importtime`` of the same script, summed by top-level package (self times), tells
where the import time goes. Target (issue 16): under 0.10 s for import + init + finish.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

TARGET_S = 0.10

MEDIASTORE = """
import json, sys, tempfile, time
t0 = time.perf_counter()
import mediastore as ms
t1 = time.perf_counter()
run = ms.init(project="p", store=tempfile.mkdtemp(prefix="ms-startup-"), run_id="r")
t2 = time.perf_counter()
run.finish()
t3 = time.perf_counter()
heavy = [m for m in ("numpy", "pyarrow", "duckdb", "pandas", "PIL", "fsspec") if m in sys.modules]
print(json.dumps({"import": t1 - t0, "init": t2 - t1, "finish": t3 - t2, "total": t3 - t0, "loaded": heavy}))
"""

NUMPY_PYARROW = """
import json, time
t0 = time.perf_counter()
import numpy, pyarrow.parquet
print(json.dumps({"total": time.perf_counter() - t0}))
"""

BARE = """
import json, time
t0 = time.perf_counter()
print(json.dumps({"total": time.perf_counter() - t0}))
"""


def _run(code: str, env: dict, cwd: str) -> tuple[dict, float]:
    """One fresh interpreter: its own timings, and its wall time from outside (start-up included)."""
    import time

    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=cwd, check=True).stdout
    return json.loads(out.strip().splitlines()[-1]), time.perf_counter() - start


def importtime_by_package(env: dict, cwd: str) -> list[tuple[float, str]]:
    """Self import time per top-level package (ms), from one ``-X importtime`` run of the script."""
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", MEDIASTORE], capture_output=True, text=True, env=env, cwd=cwd, check=True).stderr
    by_package: collections.Counter = collections.Counter()
    for line in err.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if match:
            by_package[match.group(2).split(".")[0]] += int(match.group(1)) / 1000
    return sorted(((ms_, name) for name, ms_ in by_package.items()), reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="fresh interpreters per variant (default 10)")
    args = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (root, os.environ.get("PYTHONPATH"))))}
    env["MEDIASTORE_SPOOL"] = tempfile.mkdtemp(prefix="ms-startup-spool-")  # no other run's spool to recover
    # Bytecode cached as after any pip install, but outside the repository: a checkout with
    # PYTHONDONTWRITEBYTECODE=1 would otherwise compile mediastore's modules from source at
    # every start (about 55 ms here), which no installed copy does.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="ms-startup-pycache-")

    found = subprocess.run([sys.executable, "-c", "import mediastore; print(mediastore.__file__)"], capture_output=True,
                           text=True, env=env, cwd=root, check=True).stdout.strip()
    _run(MEDIASTORE, env, root)  # the first run fills the OS file cache (and writes .pyc files)
    _run(NUMPY_PYARROW, env, root)
    ms_runs, numpy_pyarrow_runs, bare_runs = [], [], []
    for _ in range(args.runs):  # interleaved: a burst of load falls on every variant alike
        ms_runs.append(_run(MEDIASTORE, env, root))
        numpy_pyarrow_runs.append(_run(NUMPY_PYARROW, env, root))
        bare_runs.append(_run(BARE, env, root))

    def med(runs, field):
        return statistics.median(r[0][field] for r in runs)

    total = med(ms_runs, "total")
    floor = med(numpy_pyarrow_runs, "total")
    print(f"mediastore from {found}; median of {args.runs} fresh interpreters, Python {sys.version.split()[0]}")
    print(f"  import mediastore            {med(ms_runs, 'import') * 1e3:7.1f} ms")
    print(f"  ms.init (empty local folder) {med(ms_runs, 'init') * 1e3:7.1f} ms")
    print(f"  run.finish()                 {med(ms_runs, 'finish') * 1e3:7.1f} ms")
    print(f"  import + init + finish       {total * 1e3:7.1f} ms (target < {TARGET_S * 1e3:.0f} ms: {'met' if total < TARGET_S else 'NOT met'})")
    print(f"  import numpy, pyarrow.parquet alone {floor * 1e3:7.1f} ms -> mediastore / that {total / floor:.2f}x")
    print(f"  whole process from outside (interpreter start-up included): mediastore {statistics.median(r[1] for r in ms_runs) * 1e3:.0f} ms, "
          f"bare interpreter {statistics.median(r[1] for r in bare_runs) * 1e3:.0f} ms")
    print(f"  heavy modules loaded by then: {', '.join(ms_runs[-1][0]['loaded']) or 'none'}")
    print("import time by top-level package (self times, one -X importtime run):")
    breakdown = importtime_by_package(env, root)
    for ms_, name in breakdown[:15]:
        print(f"  {ms_:7.1f} ms  {name}")
    print(f"  {sum(ms_ for ms_, _ in breakdown):7.1f} ms  all")


if __name__ == "__main__":
    main()
