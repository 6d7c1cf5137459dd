"""The worker the runner starts, one process per (peer, workload group, repetition):

    python -m benchmarks.peers._child --peer P --group G --inputs DIR --work DIR --result FILE

Groups: ``S`` (start-up: import + init + finish of an empty run, timed from before the
import), ``W1`` (W1, then W5 reads it back), ``W2`` (W2, then W6 queries it), ``W3``, ``W4``,
``limits`` (the raw limits; ``--peer limits``) and ``probe`` (which peers are importable,
and the versions). Every group but ``S`` first does an untimed warm-up run of its workloads
on a prefix of the inputs (imports, first-call caches, thread pools), in another folder.
The result is a JSON file; library noise on stdout/stderr is left to the runner.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
import time
import traceback
from pathlib import Path

from . import PEERS
from .common import Ctx, Inputs, Sizes, disk_usage

#: group -> the workloads it measures (the second one reads what the first wrote)
GROUPS = {"W1": ("W1", "W5"), "W2": ("W2", "W6"), "W3": ("W3",), "W4": ("W4",)}
LIBRARIES = ("numpy", "pandas", "pyarrow", "pillow", "duckdb", "protobuf", "fsspec")


def peer_module(name: str):
    return importlib.import_module(f"{__package__}.{PEERS[name]}")


def missing_modules(mod) -> list[str]:
    return [m for m in mod.MODULES if importlib.util.find_spec(m) is None]


def probe() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    def ver(dist):
        try:
            return version(dist)
        except PackageNotFoundError:
            return None

    peers = {}
    for name in PEERS:
        mod = peer_module(name)
        missing = missing_modules(mod)
        peers[name] = {
            "available": not missing,
            "reason": f"not importable in {sys.executable}: {', '.join(missing)} (pip install {mod.DISTRIBUTION})" if missing else None,
            "version": ver(mod.DISTRIBUTION),
            "distribution": mod.DISTRIBUTION,
            "notes": mod.NOTES,
            "unsupported": mod.UNSUPPORTED,
        }
    extra = {"tensorboard": ver("tensorboard")}
    return {"python": sys.version.split()[0], "executable": sys.executable, "peers": peers,
            "libraries": {lib: ver(lib) for lib in LIBRARIES} | extra}


def run_startup(mod, work: Path) -> dict:
    root = work / "timed"
    root.mkdir(parents=True)
    t0 = time.perf_counter()
    mod.startup(root)
    seconds = time.perf_counter() - t0
    size, files = disk_usage(root)
    return {"S": {"seconds": seconds, "items": 1, "bytes": size, "files": files}}


def run_group(mod, group: str, wanted: set[str], inputs_dir: Path, work: Path, sizes: Sizes, profile: Path | None) -> dict:
    first, *second = GROUPS[group]
    follow = second[0] if second else None
    measure_second = follow is not None and follow in wanted
    results: dict[str, dict] = {}
    for name in (first, follow):
        if name is None:
            continue
        if name in mod.UNSUPPORTED or not hasattr(mod, name.lower()):
            results[name] = {"skipped": mod.UNSUPPORTED.get(name, "not implemented for this peer")}
    if first in results and (not measure_second or follow in results):
        return {k: v for k, v in results.items() if k in wanted}
    items = {"W1": sizes.scalar_steps, "W5": sizes.scalar_steps, "W2": sizes.image_steps * 4, "W6": sizes.image_steps * 4,
             "W3": sizes.histograms, "W4": sizes.table_rows}
    for phase, phase_sizes in (("warm", sizes.warm()), ("timed", sizes)):
        timed = phase == "timed"
        inputs = Inputs(inputs_dir, phase_sizes)
        inputs.load(group)
        root = work / phase / first.lower()
        root.mkdir(parents=True)
        prof = (lambda w: profile / f"{mod.NAME}-{w}.txt") if profile is not None else (lambda w: None)
        ctx = Ctx(inputs, root, timed, prof(first))
        handle = getattr(mod, first.lower())(ctx)
        if timed:
            size, files = disk_usage(root)
            results[first] = {"seconds": ctx.seconds, "items": items[first], "bytes": size, "files": files, **ctx.info}
        if measure_second and follow not in results:
            ctx2 = Ctx(inputs, root, timed, prof(follow))
            getattr(mod, follow.lower())(ctx2, handle)
            if timed:
                results[follow] = {"seconds": ctx2.seconds, "items": items[follow], **ctx2.info}
    return {k: v for k, v in results.items() if k in wanted}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="one worker of the peer benchmark (started by benchmarks/run.py)")
    parser.add_argument("--peer", required=True)
    parser.add_argument("--group", required=True, choices=["S", "W1", "W2", "W3", "W4", "limits", "probe"])
    parser.add_argument("--inputs", type=Path)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--workloads", default="W1,W2,W3,W4,W5,W6,S")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profile", type=Path, help="write a pyinstrument profile of each timed region here")
    args = parser.parse_args(argv)
    out: dict = {"peer": args.peer, "group": args.group}
    try:
        if args.group == "probe":
            out.update(probe())
        elif args.group == "S":
            out["results"] = run_startup(peer_module(args.peer), args.work)
        elif args.group == "limits":
            from . import limits

            root = args.work / "limits"
            root.mkdir(parents=True)
            out["limits"] = limits.measure(Inputs(args.inputs, Sizes.make(args.quick)), root)
        else:
            out["results"] = run_group(peer_module(args.peer), args.group, set(args.workloads.split(",")), args.inputs,
                                       args.work, Sizes.make(args.quick), args.profile)
    except Exception as exc:  # reported in the table; the traceback goes to the runner's log
        traceback.print_exc()
        out["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    args.result.write_text(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
