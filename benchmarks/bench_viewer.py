"""Is the viewer responsive on a big project? 1,000 runs x 10,000 steps (two scalar keys each),
plus one run with an image at every one of its 10,000 steps.

    python benchmarks/bench_viewer.py --store /tmp/viewer-bench   # builds the store once, reuses it

Prints the median time of each API call the pages make (a server thread in this process, real
HTTP), and with Playwright and Chromium installed the time each page takes in a real browser
until it has drawn (charts plotted, image shown), and the latency of a step-slider move.
The baseline is the same DuckDB query run straight on the store's Parquet files.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._stores import is_built, log_in_two_processes, mark_built  # noqa: E402

RUNS, STEPS = 1000, 10_000


def _log_runs(store: str, first: int, count: int, steps: int) -> None:
    import mediastore as ms

    for r in range(first, first + count):
        rng = np.random.default_rng(r)
        loss = np.exp(-np.arange(steps) / (2000 + r)) + rng.normal(0, 0.02, steps)
        with ms.init(project="big", store=store, name=f"run-{r:04d}", config={"lr": 10 ** -rng.uniform(2, 5), "seed": r}) as run:
            for step in range(steps):
                run.log({"loss": float(loss[step]), "acc": float(1 - loss[step] / 2)})


def _log_image_run(store: str, steps: int) -> None:
    import mediastore as ms

    rng = np.random.default_rng(0)
    with ms.init(project="big", store=store, name="images-every-step") as run:
        for step in range(steps):
            pixels = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
            boxes = {"pred": {"box_data": [{"position": {"minX": 2, "maxX": 9, "minY": 2, "maxY": 9}, "domain": "pixel",
                                            "class_id": 1, "scores": {"score": float(rng.random())}}]}}
            run.log({"loss": float(1 / (step + 1)), "sample": ms.Image(pixels, boxes=boxes)})


def build(store: str, runs: int, steps: int) -> None:
    if is_built(store):
        return
    started = time.perf_counter()
    log_in_two_processes(_log_runs, store, runs, steps)
    _log_image_run(store, steps)
    mark_built(store)
    print(f"built {runs} runs x {steps} steps (+1 image run) in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def median_ms(call, repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", default="/tmp/mediastore-viewer-bench")
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--steps", type=int, default=STEPS)
    args = parser.parse_args()
    build(args.store, args.runs, args.steps)

    import duckdb

    import mediastore as ms
    from mediastore.ui import ViewerServer

    server = ViewerServer(args.store, port=0)
    server.start()
    store = ms.open(args.store)
    runs = store.sql("SELECT run_id FROM runs WHERE project = 'big' ORDER BY name").fetchall()
    ids = [r[0] for r in runs]
    image_run = store.sql("SELECT run_id FROM runs WHERE name = 'images-every-step'").fetchall()[0][0]

    def fetch(path: str) -> None:
        with urllib.request.urlopen(server.url + "api/" + path) as response:
            json.loads(response.read())

    files = f"{args.store}/scalars/project=big/*/*.parquet"
    raw = duckdb.connect()

    def raw_series(n: int) -> None:
        ten = ", ".join(f"'{i}'" for i in ids[:n])
        raw.sql(f"SELECT run, step, value FROM read_parquet('{files}', hive_partitioning = true) "
                f"WHERE key = 'loss' AND run = ANY([{ten}])").fetchall()

    ten, hundred = ",".join(ids[:10]), ",".join(ids[:100])
    rows = [
        ("projects", lambda: fetch("projects"), None),
        (f"runs page (50 of {len(ids)})", lambda: fetch("runs?project=big&limit=50"), None),
        ("runs filtered ('run-09')", lambda: fetch("runs?project=big&q=run-09&limit=50"), None),
        ("scalar keys of 10 runs", lambda: fetch(f"scalar_keys?project=big&runs={ten}"), None),
        (f"series, 10 runs x {args.steps} steps -> <=1k points", lambda: fetch(f"series?project=big&key=loss&runs={ten}"), lambda: raw_series(10)),
        (f"series, 100 runs x {args.steps} steps -> <=1k points", lambda: fetch(f"series?project=big&key=loss&runs={hundred}"), lambda: raw_series(100)),
        ("run page (1 run)", lambda: fetch(f"run?project=big&run={image_run}"), None),
        (f"steps of an image key ({args.steps} steps)", lambda: fetch(f"steps?project=big&kind=images&key=sample&runs={image_run}"), None),
        ("items at one step (slider move)", lambda: fetch(f"items?project=big&kind=images&key=sample&step=5000&runs={image_run}"), None),
    ]
    print(f"Viewer API over {len(ids)} runs x {args.steps} steps, median ms (baseline: the same rows read by DuckDB from the files)")
    print(f"{'call':45} {'viewer':>9} {'baseline':>9} {'ratio':>7}")
    for name, call, baseline in rows:
        call()  # warm: views defined, files listed once
        ms_viewer = median_ms(call)
        if baseline:
            baseline()
            ms_base = median_ms(baseline)
            print(f"{name:45} {ms_viewer:9.1f} {ms_base:9.1f} {ms_viewer / ms_base:6.2f}x")
        else:
            print(f"{name:45} {ms_viewer:9.1f} {'':>9} {'':>7}")
    browser_timings(server.url, image_run, args.steps)
    server.shutdown()


def browser_timings(url: str, image_run: str, steps: int) -> None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("(no playwright: browser timings skipped)")
        return
    chromium = os.environ.get("MEDIASTORE_CHROMIUM", "/usr/bin/chromium")
    if not os.path.exists(chromium):
        print(f"(no Chromium at {chromium}: browser timings skipped)")
        return
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})

        def until(expression: str, timeout: float = 60) -> None:
            deadline = time.monotonic() + timeout
            while not page.evaluate(expression):
                if time.monotonic() > deadline:
                    raise TimeoutError(expression)
                time.sleep(0.01)

        def runs_page() -> None:
            page.goto("about:blank")  # a fresh load each time: HTML, scripts, API calls, drawing
            page.goto(url + "#/p/big")
            until("document.body.dataset.ready === '1' && document.querySelectorAll('.charts .uplot').length === 2")

        def run_page() -> None:
            page.goto("about:blank")
            page.goto(url + f"#/p/big/r/{image_run}")
            until("!!document.querySelector(\"section[data-key='sample'] [data-shown-step] .imgview img\")")

        print("\nIn Chromium, median ms until drawn")
        print(f"{'runs page: 50 runs listed, 10 charted (2 keys)':55} {median_ms(runs_page, 5):9.1f}")
        checkbox = "table.runs tbody tr input[type=checkbox]"

        def select_all_50() -> None:
            runs_page()
            page.evaluate(f"document.querySelectorAll('{checkbox}').forEach((c) => {{ if (!c.checked) c.click(); }})")
            until("document.querySelectorAll('.chart[data-key=loss] .u-series').length === 0 && "
                  "document.querySelector('.charts').dataset.charted === '2' && "
                  "document.querySelector('.chart[data-key=loss]').dataset.points > 20000")

        print(f"{'runs page, then all 50 on the page charted':55} {median_ms(select_all_50, 3):9.1f}")
        print(f"{f'run page: {steps}-step image key shown':55} {median_ms(run_page, 5):9.1f}")
        run_page()
        slider = "section[data-key='sample'] input[data-step-slider]"
        positions = iter([int(p) for p in np.linspace(steps * 0.05, steps * 0.95, 15)])

        def move() -> None:
            target = next(positions)
            page.evaluate(f"(() => {{ const s = document.querySelector(\"{slider}\"); s.value = '{target}'; s.dispatchEvent(new Event('input')); }})()")
            until(f"document.querySelector(\"section[data-key='sample'] [data-shown-step]\").dataset.shownStep === '{target}'")

        print(f"{f'step slider move to another of {steps} steps':55} {median_ms(move, 15):9.1f}")
        browser.close()


if __name__ == "__main__":
    main()
