"""A store written by format 1 (tests/data/store-v1, checked in, made with the code of commit
9dff537) reads with this version: runs, history, SQL, decode, tables; on a local folder and,
copied as it is, on the loopback S3 server through the cache; and `mediastore compact`
upgrades it in place to the current format without changing what readers see."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import mediastore as ms
from mediastore.compact import compact_store
from mediastore.storage import FORMAT_VERSION, StoreLocation

V1 = Path(__file__).parent / "data" / "store-v1"


@pytest.fixture
def v1_uri(checked_in_store):
    return checked_in_store(V1)


def check_reads(uri):
    store = ms.open(uri)
    runs = store.runs()
    assert runs["run_id"].tolist() == ["v1a", "v1b"]
    assert runs["state"].tolist() == ["finished", "finished"]
    assert [json.loads(c)["lr"] for c in runs["config"]] == [0.2, 0.1]
    # Columns added since (runs schema v2-v4) read as NULL from format 1's records.
    assert store.sql('SELECT DISTINCT metrics, process, tags, notes, "group", job_type FROM runs').fetchall() == [(None,) * 6]
    for run_id in ("v1a", "v1b"):
        history = store.history(run_id)
        assert history["step"].tolist() == list(range(6))
        assert history["loss"].tolist() == [1.0 / (s + 1) for s in range(6)]
    rows = store.sql("SELECT run_id, count(*), sum(value) FROM scalars WHERE key = 'acc' GROUP BY 1 ORDER BY ALL").fetchall()
    assert rows == [("v1a", 6, pytest.approx(1.5)), ("v1b", 6, pytest.approx(1.5))]
    frame = store.sql("SELECT * FROM images ORDER BY run_id").df()
    image = store.decode(frame.iloc[0])
    pixels = image.to_numpy()
    assert pixels.shape == (8, 12, 3) and tuple(pixels[3, 4]) == (200, 30, 40)
    assert frame.iloc[0]["boxes"][0]["label"] == "car"
    assert [sum(c) for (c,) in store.sql("SELECT counts FROM histograms ORDER BY run_id").fetchall()] == [20, 20]
    assert store.table("v1b", "preds")["label"].tolist() == ["cat", "dog"]
    return runs


def test_a_format_1_store_reads(v1_uri):
    check_reads(v1_uri)


def test_compact_upgrades_a_format_1_store_and_it_reads_the_same(v1_uri):
    before = check_reads(v1_uri)
    compact_store(StoreLocation(v1_uri))
    after = check_reads(v1_uri)
    assert before.equals(after)
    assert json.loads(StoreLocation(v1_uri).read_marker()) == {"format_version": FORMAT_VERSION}
