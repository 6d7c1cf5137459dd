"""The viewer's HTTP side: its API answers from DuckDB, blobs stream by range, nothing outside
the store is served, and user text comes back escaped. On a local folder, memory and S3."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import numpy as np
import pytest

import mediastore as ms
from mediastore.ui import ViewerServer
from mediastore.ui.data import MAX_RUNS


@pytest.fixture
def served(store_uri, rgb):
    """A store with two runs on each backend, served on a free loopback port."""
    ids = []
    for lr in (0.1, 0.2):
        with ms.init(project="p", store=store_uri, name=f"lr <{lr}>", config={"lr": lr}) as run:
            for step in range(50):
                run.log({"loss": 1 / (step + 1), "acc": step / 50}, step=step)
            run.log({"img": ms.Image(rgb, caption="<script>x</script>"), "h": ms.Histogram(np.arange(100.0))}, step=50)
            ids.append(run.run_id)
    server = ViewerServer(store_uri, port=0)
    server.start()
    yield server, ids
    server.shutdown()
    server.server_close()


def get(server, path, headers=None):
    request = urllib.request.Request(server.url + path.lstrip("/"), headers=headers or {})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def api(server, path):
    status, headers, body = get(server, "/api/" + path)
    assert status == 200, body
    assert headers["Content-Type"].startswith("application/json")
    return json.loads(body)


def test_api_answers_from_the_store(served):
    server, ids = served
    assert api(server, "projects") == [{"project": "p", "runs": 2, "running": 0, "last_started": api(server, "projects")[0]["last_started"]}]
    runs = api(server, "runs?project=p")
    assert runs["total"] == 2 and {r["run_id"] for r in runs["runs"]} == set(ids)
    assert api(server, "runs?project=p&q=0.2")["total"] == 1  # matches name and config text
    assert api(server, f"scalar_keys?project=p&runs={ids[0]}") == ["acc", "loss"]
    series = api(server, f"series?project=p&key=loss&points=10&runs={ids[0]},{ids[1]}")
    steps, values = series["runs"][ids[0]]["steps"], series["runs"][ids[0]]["values"]
    assert len(steps) == 10 and steps[0] == 0
    assert values[0] == pytest.approx(np.mean([1 / (s + 1) for s in range(5)]))  # 50 steps in 10 buckets of 5
    full = api(server, f"series?project=p&key=loss&runs={ids[0]}")["runs"][ids[0]]
    assert full["steps"] == list(range(50)) and full["values"][7] == pytest.approx(1 / 8)
    run = api(server, f"run?project=p&run={ids[0]}")
    assert {(m["kind"], m["key"]) for m in run["media"]} == {("images", "img"), ("histograms", "h")}
    assert api(server, f"steps?project=p&kind=images&key=img&runs={ids[0]}") == [50]
    items = api(server, f"items?project=p&kind=images&key=img&step=10000&runs={ids[0]}")
    item = items["runs"][ids[0]][0]
    blob = item["blob"]  # a small image: packed, served as its pack's byte range
    assert item["step"] == 50 and item["width"] == 32 and blob["uri"].startswith("blobs/packs/")
    assert blob["url"] == f"/blob/{blob['uri']}/{blob['offset']}-{blob['length']}.png"
    assert api(server, f"items?project=p&kind=images&key=img&step=49&runs={ids[0]}")["runs"][ids[0]] == []
    heat = api(server, f"histogram?project=p&run={ids[0]}&key=h")
    assert heat["steps"] == [50] and sum(heat["counts"][0]) == pytest.approx(100)


def test_blobs_stream_by_range(served):
    server, ids = served
    store = ms.open(server.store.uri)
    blob = store.sql("SELECT blob FROM images").fetchall()[0][0]
    data = store.location.get_blob(blob)
    url = f"/blob/{blob['uri']}/{blob['offset']}-{blob['length']}.png"
    status, headers, body = get(server, url)
    assert status == 200 and body == data and headers["Content-Type"] == "image/png"
    assert headers["Accept-Ranges"] == "bytes"
    status, headers, body = get(server, url, {"Range": "bytes=8-15"})
    assert status == 206 and body == data[8:16] and headers["Content-Range"] == f"bytes 8-15/{len(data)}"
    status, _, body = get(server, url, {"Range": "bytes=-4"})
    assert status == 206 and body == data[-4:]
    status, headers, _ = get(server, url, {"Range": f"bytes={len(data)}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(data)}"
    # The pack itself, or a range past its end, is not served.
    assert get(server, f"/blob/{blob['uri']}")[0] == 404
    assert get(server, f"/blob/{blob['uri']}/{blob['offset']}-{blob['length'] + 10**6}.png")[0] == 404


@pytest.mark.parametrize("path", [
    "/blob/../_mediastore.json", "/blob/_mediastore.json", "/blob/blobs/../../etc/passwd",
    "/blob/blobs/00/" + "0" * 62 + ".png",  # well formed, not in the store
    "/blob/runs/project=p", "/static/../server.py", "/static/.hidden", "/static/%2e%2e/data.py",
    "/etc/passwd", "/api/nope", "/index.htm", "//etc/passwd",
])
def test_nothing_outside_the_store_is_served(served, path):
    server, _ = served
    status, _, body = get(server, path)
    assert status == 404, (path, body[:200])


def test_paths_with_dot_segments_are_not_normalized_into_the_store(served):
    server, _ = served
    host, port = urlsplit(server.url).netloc.split(":")
    connection = http.client.HTTPConnection(host, int(port))
    connection.request("GET", "/static/vendor/../../data.py")  # sent as is, not cleaned by a client
    response = connection.getresponse()
    assert response.status == 404
    connection.close()


def test_user_text_comes_back_escaped(served):
    server, ids = served
    _, _, body = get(server, f"/api/items?project=p&kind=images&key=img&step=50&runs={ids[0]}")
    assert b"<script>" not in body and b"\\u003cscript>x\\u003c/script>" in body
    assert json.loads(body)["runs"][ids[0]][0]["caption"] == "<script>x</script>"
    _, _, body = get(server, "/api/runs?project=p")
    assert b"<" not in body


def test_pages_carry_a_strict_content_security_policy(served):
    server, _ = served
    status, headers, body = get(server, "/")
    assert status == 200 and b'<main id="app">' in body
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    status, headers, _ = get(server, "/static/vendor/three.min.js")
    assert status == 200 and "javascript" in headers["Content-Type"]


def test_other_hosts_are_refused(served):
    """A page on another site that resolves its name to 127.0.0.1 (DNS rebinding) gets nothing."""
    server, _ = served
    status, _, _ = get(server, "/api/projects", {"Host": "evil.example:80"})
    assert status == 403
    assert get(server, "/api/projects", {"Host": "localhost"})[0] == 200


def test_bad_requests_name_the_problem(served):
    server, ids = served
    status, _, body = get(server, f"/api/items?project=p&kind=secrets&key=img&step=1&runs={ids[0]}")
    assert status == 400 and "unknown media kind 'secrets'" in json.loads(body)["error"]
    status, _, body = get(server, f"/api/items?project=p&kind=images&key=img&step=x&runs={ids[0]}")
    assert status == 400 and "step='x'" in json.loads(body)["error"]
    status, _, body = get(server, "/api/series?project=p&key=loss")
    assert status == 400 and "no runs given" in json.loads(body)["error"]
    status, _, body = get(server, "/api/series?project=p&key=loss&runs=" + ",".join(f"r{i}" for i in range(MAX_RUNS + 1)))
    assert status == 400 and f"at most {MAX_RUNS}" in json.loads(body)["error"]
    status, _, body = get(server, "/api/run?project=p&run=nope")
    assert status == 400 and "no run 'nope'" in json.loads(body)["error"]
    status, _, body = get(server, "/api/run?project=p")
    assert status == 400 and "missing parameter 'run'" in json.loads(body)["error"]


def test_cli_serves_on_loopback(tmp_path, rgb):
    store = str(tmp_path / "store")
    with ms.init(project="p", store=store) as run:
        run.log({"img": ms.Image(rgb)})
    process = subprocess.Popen(
        [sys.executable, "-m", "mediastore.cli", "ui", "--store", store, "--port", "0"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        line = process.stdout.readline()
        assert "http://127.0.0.1:" in line, line
        url = line.split(" at ")[1].split()[0]
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(url + "api/projects") as response:
                    assert json.loads(response.read())[0]["project"] == "p"
                break
            except urllib.error.URLError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(10)


def test_a_new_run_shows_up_once_the_runs_snapshot_expires(tmp_path):
    from mediastore.ui.data import ViewerData

    store = str(tmp_path / "store")
    with ms.init(project="p", store=store) as run:
        run.log({"loss": 1.0})
    data = ViewerData(ms.open(store), runs_ttl=0.5)
    assert data.runs("p")["total"] == 1
    with ms.init(project="p", store=store) as newer:
        newer.log({"loss": 2.0})
    assert data.run("p", newer.run_id)["run"]["run_id"] == newer.run_id  # its page works at once
    time.sleep(0.6)
    assert data.runs("p")["total"] == 2


def test_cli_refuses_a_folder_that_is_not_a_store(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mediastore.cli", "ui", "--store", str(tmp_path / "typo"), "--port", "0"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "is not a mediastore store" in result.stderr and "typo" in result.stderr


def test_a_shared_run_shows_each_process(local_store, rgb):
    """A shared run's processes: a chart line each, and each one's items at a step, captioned with it."""
    from mediastore.ui.data import ViewerData

    for label in ("rank0", "rank1"):
        with ms.init(project="p", store=local_store, run_id="job", mode="shared", label=label) as run:
            for step in range(3):
                run.log({"loss": float(step) + (label == "rank1"), "img": ms.Image(rgb, caption=f"s{step}")})
    with ms.init(project="p", store=local_store, run_id="solo") as run:
        run.log({"loss": 5.0})
    data = ViewerData(ms.open(local_store))
    series = data.series("p", "loss", ["job", "solo"])["runs"]
    assert {k: v["values"] for k, v in series.items()} == {"job · rank0": [0.0, 1.0, 2.0], "job · rank1": [1.0, 2.0, 3.0], "solo": [5.0]}
    items = data.items("p", "images", "img", 2, ["job"])["runs"]["job"]
    assert [(i["process"], i["caption"]) for i in items] == [("rank0", "rank0: s2"), ("rank1", "rank1: s2")]


def test_runs_carry_wandb_labels_and_the_filter_matches_them(tmp_path):
    from mediastore.ui.data import ViewerData

    store = str(tmp_path / "store")
    with ms.init(project="p", store=store, run_id="a", tags=["cpu", "small"], group="sweep", job_type="train", notes="first"):
        pass
    with ms.init(project="p", store=store, run_id="b"):
        pass
    data = ViewerData(ms.open(store))
    runs = {r["run_id"]: r for r in data.runs("p")["runs"]}
    assert (runs["a"]["tags"], runs["a"]["group"], runs["a"]["job_type"], runs["a"]["notes"]) == (["cpu", "small"], "sweep", "train", "first")
    assert (runs["b"]["tags"], runs["b"]["group"]) == ([], None)
    for q in ("small", "sweep", "train", "first"):
        assert [r["run_id"] for r in data.runs("p", q=q)["runs"]] == ["a"], q


def test_a_chart_gets_the_columns_it_draws_thinned_beyond_the_limit(tmp_path, monkeypatch):
    import pandas as pd

    import mediastore.ui.data as data

    points = ms.Table(dataframe=pd.DataFrame({"x": np.arange(50.0), "y": np.arange(50.0) ** 2, "note": ["n"] * 50}))
    with ms.init(project="p", store=str(tmp_path), run_id="r") as run:
        run.log({"sq": ms.plot.line(points, "x", "y")})
    server = ViewerServer(str(tmp_path), port=0)
    server.start()
    try:
        summary = api(server, "run?project=p&run=r")["run"]["summary"]
        assert summary["sq_table"]["chart"]["fields"] == {"x": "x", "y": "y", "stroke": None}
        chart = api(server, "chart?project=p&run=r&key=sq_table&step=0&columns=x,y,stroke-missing")
        assert chart["columns"] == ["x", "y"] and chart["num_rows"] == 50  # a column the table lacks is left out
        assert chart["rows"][7] == [7.0, 49.0]
        monkeypatch.setattr(data, "CHART_ROWS", 11)
        thinned = api(server, "chart?project=p&run=r&key=sq_table&step=0&columns=x")
        assert [r[0] for r in thinned["rows"]] == [0.0, 5.0, 10.0, 15.0, 20.0, 24.0, 29.0, 34.0, 39.0, 44.0, 49.0]  # both ends kept
    finally:
        server.shutdown()
        server.server_close()
