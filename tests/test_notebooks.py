"""The notebooks in notebooks/ run from top to bottom against a fresh store, so they never rot.

Each runs in a real ``python3`` kernel through nbclient, with notebooks/execute.py's own
function (the one that refreshes the committed outputs); the kernel inherits the environment,
so the store variables are set before it starts.
"""

from __future__ import annotations

import importlib.util
import re
import uuid
from pathlib import Path

import pytest

import mediastore as ms

pytest.importorskip("nbclient", reason="executing the notebooks needs nbclient and ipykernel (the dev extra)")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
_spec = importlib.util.spec_from_file_location("notebooks_execute", NOTEBOOKS / "execute.py")
execute_script = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(execute_script)


def run(name: str, monkeypatch, tmp_path, **env: str):
    monkeypatch.setenv("MEDIASTORE_SPOOL", str(tmp_path / "spool"))  # the writers' spool, not ~/.cache
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    notebook = execute_script.execute(NOTEBOOKS / name)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stdout")
    markup = [o.data["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    return text, markup


def test_every_notebook_is_tested_and_executed_by_the_script():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(execute_script.NOTEBOOKS)


def test_quickstart(tmp_path, monkeypatch):
    store_uri = str(tmp_path / "store")
    text, markup = run("quickstart.ipynb", monkeypatch, tmp_path, MEDIASTORE_NOTEBOOK_STORE=store_uri)
    assert f"store: {store_uri}" in text and "images: 4" in text
    store = ms.open(store_uri)
    assert store.sql("SELECT project, state FROM runs").fetchall() == [("quickstart", "finished")]
    assert store.sql("SELECT count(*) FROM scalars").fetchall() == [(40,)]
    # The decoded image showed itself with its overlays, and store.show with thumbnails.
    image = [m for m in markup if m.startswith('<figure class="ms-image"')]
    assert len(image) == 1 and image[0].count('class="ms-mask"') == 1 and image[0].count("<rect") == 2
    shown = [m for m in markup if m.startswith('<table class="ms-table"') and "caption" in m]
    assert shown[-1].count("<img") == 4


def test_sql_boxes_masks(tmp_path, monkeypatch):
    store_uri = str(tmp_path / "store")
    text, _ = run("sql_boxes_masks.ipynb", monkeypatch, tmp_path, MEDIASTORE_NOTEBOOK_STORE=store_uri)
    printed = int(re.search(r"low-score car images: (\d+)", text).group(1))
    # The same question answered without SQL: decode every image and look at its boxes.
    store = ms.open(store_uri)
    rows = store.sql("SELECT * FROM images").df()
    expected = 0
    for _, row in rows.iterrows():
        boxes = store.decode(row).boxes["predictions"]
        labels = boxes["class_labels"]
        expected += any(labels[b["class_id"]] == "car" and b["scores"]["score"] < 0.3 for b in boxes["box_data"])
    assert len(rows) == 3 * 8 * 4 and 0 < printed == expected < len(rows)


def test_team_s3(tmp_path, monkeypatch, s3_server, s3_bucket):
    store_uri = f"s3://{s3_bucket}/{uuid.uuid4().hex[:12]}"
    text, _ = run("team_s3.ipynb", monkeypatch, tmp_path, MEDIASTORE_TEAM_STORE=store_uri)
    assert f"team store: {store_uri}" in text and f"endpoint: {s3_server}" in text
    assert "writers exited with [0, 0, 0]" in text and "runs in the team store: 4" in text
    store = ms.open(store_uri)
    assert store.sql("SELECT run_id, count(*) FROM scalars GROUP BY run_id ORDER BY run_id").fetchall() == [
        ("alice-1", 60), ("bob-1", 60), ("carol-1", 60), ("dave-offline", 30)
    ]
    files = re.search(r"scalars files after: (\d+)", text).group(1)
    assert files == "3"  # one merged file per writer run, the replaced batches deleted
    assert "project files of scalars: 1" in text  # and one hidden project file for queries across runs
