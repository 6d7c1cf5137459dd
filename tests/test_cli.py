"""The mediastore command, run as a user runs it."""

from __future__ import annotations

import subprocess
import sys

import mediastore as ms
from mediastore.cli import main


def test_demo_logs_and_queries(tmp_path, capsys):
    store = str(tmp_path / "demo")
    assert main(["demo", "--store", store, "--steps", "100"]) == 0
    out = capsys.readouterr().out
    assert "Final loss and accuracy of each run" in out
    assert "predicted 'car' box scored below 0.5" in out
    runs = ms.open(store).runs()
    assert runs["state"].tolist() == ["finished", "finished"]
    counts = ms.open(store).sql("SELECT (SELECT count(*) FROM scalars), (SELECT count(*) FROM images)").fetchall()
    assert counts == [(2 * 100 * 3 + 2 * 2, 2 * 2 * 4)]
    masks = ms.open(store).sql("SELECT count(*) FROM images, unnest(masks) t(m)").fetchall()
    assert masks == [(2 * 2 * 4 * 2,)]
    kinds = ms.open(store).sql("SELECT DISTINCT kind FROM media UNION SELECT DISTINCT kind FROM histograms ORDER BY 1").fetchall()
    assert [k for (k,) in kinds] == ["audio", "histograms", "html", "images", "molecules", "objects3d", "tables", "videos"]
    assert "Every media type logged" in out and "skipped" not in out
    recall = ms.open(store).sql("""SELECT Actual, sum(nPredictions) FILTER (WHERE Actual = Predicted) / sum(nPredictions)
                                   FROM tables."val/confusion_table" GROUP BY ALL ORDER BY ALL""").fetchall()
    assert [a for a, _ in recall] == ["building", "car", "road"] and all(0.5 < r < 1 for _, r in recall)
    assert "Each run's confusion matrix" in out


def test_sql_and_runs_commands(tmp_path, capsys):
    store = str(tmp_path / "s")
    with ms.init(project="p", store=store, run_id="abc") as run:
        run.log({"loss": 0.5})
    assert main(["sql", "SELECT key, value FROM scalars", "--store", store]) == 0
    assert "loss" in capsys.readouterr().out
    assert main(["runs", "--store", store]) == 0
    out = capsys.readouterr().out
    assert "abc" in out and "finished" in out and "group" not in out and "tags" not in out
    with ms.init(project="p", store=store, run_id="xyz", tags=["base", "v2"], group="sweep"):
        pass
    assert main(["runs", "--store", store]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[-2:] == ["group", "tags"] and lines[2].split()[-3:] == ["sweep", "base,", "v2"]


def test_sql_error_is_reported_not_raised(tmp_path, capsys):
    assert main(["sql", "SELECT nope FROM scalars", "--store", str(tmp_path / "s")]) == 2
    assert "SQL error" in capsys.readouterr().err


def test_console_script_runs_in_a_fresh_process(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mediastore.cli", "demo", "--store", str(tmp_path / "d"), "--steps", "60"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Logged runs" in result.stdout
