"""Blobs logged by several runs are stored once, by compaction (dedup.py): after `mediastore
compact`, every row of the finished runs points at one copy of each packed blob's bytes (the
first logged), every row still reads its bytes checked against its sha256, readers see every
row once while it happens, and the copies no row points at any more are reported."""

from __future__ import annotations

import numpy as np
import pytest

import mediastore as ms
from mediastore.compact import compact_store
from mediastore.storage import StoreLocation


def images(seed: int, n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(n)]


def log_run(uri: str, run_id: str, pictures: list[np.ndarray], extra: list[np.ndarray] = ()) -> None:
    mask = np.zeros((16, 16), np.uint8)
    mask[4:8, 4:8] = 1
    with ms.init(project="p", store=uri, run_id=run_id) as run:
        for picture in [*pictures, *extra]:
            run.log({"val": ms.Image(picture, masks={"gt": {"mask_data": mask, "class_labels": {1: "a"}}}), "loss": 1.0})


def copies(store: ms.Store) -> dict[str, set]:
    """sha256 -> the (uri, offset) of every copy rows point at, images' and masks' blobs alike."""
    out: dict[str, set] = {}
    for blob, masks in store.sql("SELECT blob, masks FROM images").fetchall():
        for b in [blob, *(m["blob"] for m in masks or ())]:
            out.setdefault(b["sha256"], set()).add((b["uri"], b["offset"]))
    return out


def test_blobs_logged_by_several_runs_point_at_one_copy_after_compact(shared_store_uri, tmp_path):
    uri = shared_store_uri
    shared = images(0, 6)
    log_run(uri, "a", shared)
    log_run(uri, "b", shared, extra=images(1, 2))  # the same 6 images, and 2 of its own
    log_run(uri, "c", shared[:3])
    before = copies(ms.open(uri, cache=tmp_path / "c1"))
    assert max(len(c) for c in before.values()) == 3  # today: a copy per run
    rows_before = ms.open(uri, cache=tmp_path / "c1").sql("SELECT run_id, step, blob.sha256 FROM images ORDER BY ALL").fetchall()
    report = compact_store(StoreLocation(uri))
    # 6 + 3 images and the one mask, a copy in b's and c's packs each: pointed at a's
    assert report.deduplicated == (6 + 3) + (8 + 3)
    assert report.garbage_bytes > 0
    store = ms.open(uri, cache=tmp_path / "c2")
    after = copies(store)
    assert all(len(c) == 1 for c in after.values()), {k: v for k, v in after.items() if len(v) > 1}
    assert set(after) == set(before)
    a_packs = {uri_ for c in copies_of_run(store, "a").values() for uri_, _ in c}
    for sha, (where,) in after.items():
        if sha in copies_of_run(store, "a"):
            assert where[0] in a_packs  # the canonical copy is the first logged: run a's
    assert store.sql("SELECT run_id, step, blob.sha256 FROM images ORDER BY ALL").fetchall() == rows_before
    frame = store.sql("SELECT * FROM images ORDER BY run_id, step").df()
    for _, row in frame.iterrows():  # every blob reads, checked against its sha256
        image = store.decode(row)
        assert image.to_numpy().shape == (16, 16, 3)
    again = compact_store(StoreLocation(uri))
    assert again.deduplicated == 0  # the canonical copy stays canonical: rows are rewritten once


def copies_of_run(store: ms.Store, run_id: str) -> dict[str, set]:
    out: dict[str, set] = {}
    for (blob,) in store.sql("SELECT blob FROM images WHERE run_id = ?", [run_id]).fetchall():
        out.setdefault(blob["sha256"], set()).add((blob["uri"], blob["offset"]))
    return out


def test_readers_see_every_row_once_while_rows_move_to_one_copy(local_store, reading_in_a_loop):
    shared = images(2, 5)
    for run_id in ("a", "b", "c"):
        log_run(local_store, run_id, shared)

    def read(store):
        return store.sql("SELECT count(*), count(DISTINCT (run_id, step, idx)) FROM images").fetchall()[0]

    with reading_in_a_loop(local_store, read) as seen:
        compact_store(StoreLocation(local_store))
    assert seen and all(s == (15, 15) for s in seen)


def test_after_compact_and_gc_the_bytes_are_stored_once(local_store, tmp_path):
    """Runs logging the same images: after `mediastore compact` (dedup, repacking a pack that
    keeps other live blobs) and two gc passes (mark, then sweep), the packs hold every blob's
    bytes once, and every row still reads them."""
    import os
    from pathlib import Path

    shared = images(3, 6)
    log_run(local_store, "a", shared)
    log_run(local_store, "b", shared, extra=images(4, 2))  # b's pack: 6 copies and 2 blobs of its own
    log_run(local_store, "c", shared[:3])

    def pack_bytes() -> int:
        return sum(os.path.getsize(p) for p in Path(local_store, "blobs", "packs").glob("*.pack"))

    store = ms.open(local_store)
    unique = {b["sha256"]: b["length"] for b in (r[0] for r in store.sql("SELECT blob FROM images").fetchall())}
    unique.update({m["blob"]["sha256"]: m["blob"]["length"] for (masks,) in store.sql("SELECT masks FROM images").fetchall()
                   for m in masks})
    assert pack_bytes() > sum(unique.values())  # a copy per run
    compact_store(StoreLocation(local_store))
    for _ in range(2):
        store.gc(grace_seconds=0)
    assert pack_bytes() == sum(unique.values())  # once each
    frame = ms.open(local_store).sql("SELECT * FROM images ORDER BY run_id, step").df()
    assert [ms.open(local_store).decode(row).to_numpy().shape for _, row in frame.iterrows()] == [(16, 16, 3)] * 17
