"""The schema files are the contract: the views, the files and DESIGN.md's columns agree with them."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

import mediastore as ms
from mediastore.media import registered_kinds
from mediastore.schema import SCHEMA_DIR, schema_for, table_names
from mediastore.storage import StoreLocation

COMMON = ["project", "run_id", "step", "key", "idx", "logged_at"]
# DESIGN.md's table of views: the columns each must have, at least.
DESIGN = {
    "runs": ["project", "run_id", "name", "config", "summary", "state", "started_at", "finished_at"],
    "scalars": ["project", "run_id", "step", "key", "value", "logged_at"],
    "texts": ["project", "run_id", "step", "key", "text", "logged_at"],
    "images": COMMON + ["blob", "width", "height", "channels", "mode", "format", "caption", "masks", "boxes"],
    "histograms": COMMON + ["bins", "counts", "num_bins"],
    "objects3d": COMMON + ["blob", "format", "num_points", "point_format", "boxes", "vectors", "type"],
    "molecules": COMMON + ["blob", "format", "caption", "smiles"],
    "videos": COMMON + ["blob", "format", "fps", "frames", "width", "height", "caption"],
    "audio": COMMON + ["blob", "format", "sample_rate", "num_samples", "channels", "duration_s", "caption"],
    "tables": COMMON + ["num_rows", "num_columns", "columns"],
    "html": COMMON + ["blob", "inject"],
}
DUCKDB_TYPES = {
    ("images", "step"): "BIGINT",
    ("images", "idx"): "INTEGER",
    ("images", "logged_at"): "TIMESTAMP",
    ("images", "blob"): 'STRUCT(uri VARCHAR, "offset" BIGINT, length BIGINT, sha256 VARCHAR, mime VARCHAR)',
    ("scalars", "value"): "DOUBLE",
    ("histograms", "bins"): "DOUBLE[]",
    ("histograms", "counts"): "BIGINT[]",
    ("tables", "columns"): "VARCHAR[]",
    ("html", "inject"): "BOOLEAN",
}


def test_every_schema_file_is_well_formed():
    files = sorted(SCHEMA_DIR.glob("*.json"))
    assert {f.name.split(".")[0] for f in files} == set(DESIGN)
    for path in files:
        doc = json.loads(path.read_text())
        assert path.name == f"{doc['table']}.v{doc['version']}.json"
        assert doc["partition"] == ["project", "run_id"]
        assert [c["name"] for c in doc["columns"]][:2] == ["project", "run_id"]


def test_every_media_type_has_a_schema():
    assert set(registered_kinds()) <= set(table_names())


@pytest.mark.parametrize("table", sorted(DESIGN))
def test_empty_views_exist_with_full_schema(store_uri, table):
    store = ms.open(store_uri)  # nothing logged yet
    described = {row[0]: row[1] for row in store.sql(f'DESCRIBE SELECT * FROM "{table}"').fetchall()}
    assert set(DESIGN[table]) <= set(described)
    assert [c for c in described if c != "kind"] == schema_for(table).column_names
    for (t, column), type_ in DUCKDB_TYPES.items():
        if t == table:
            assert described[column] == type_
    assert store.sql(f"SELECT count(*) FROM {table}").fetchall() == [(0,)]


def test_media_view_is_the_union_of_blob_views(store_uri):
    columns = [r[0] for r in ms.open(store_uri).sql("DESCRIBE media").fetchall()]
    assert columns == ["kind", *COMMON, "blob"]


def test_views_keep_their_schema_once_filled(store_uri, rgb):
    with ms.init(project="p", store=store_uri) as run:
        run.log({"loss": 1.0, "note": "x", "img": ms.Image(rgb, masks={"m": {"mask_data": rgb[:, :, 0]}})})
    store = ms.open(store_uri)
    for table in ("runs", "scalars", "texts", "images"):
        described = [r[:2] for r in store.sql(f'DESCRIBE SELECT * FROM "{table}"').fetchall()]
        expected = schema_for(table).duckdb_columns() + ([("kind", "VARCHAR")] if table in store._media_tables else [])
        assert [(n, t.replace('"', "")) for n, t in described] == [(n, t.replace('"', "")) for n, t in expected]


def test_files_match_their_schema_file(store_uri, rgb):
    with ms.init(project="p", store=store_uri) as run:
        run.log({"loss": 1.0, "note": "x", "img": ms.Image(rgb, boxes={"b": {"box_data": [{"position": {"minX": 0, "maxX": 1, "minY": 0, "maxY": 1}, "class_id": 1}]}})})
    loc = StoreLocation(store_uri)
    for table in ("runs", "scalars", "texts", "images"):
        for path in loc.fs.glob(loc.path(table, "**", "*.parquet")):
            with loc.fs.open(path, "rb") as fh:
                file_schema = pq.read_schema(fh)
            expected = schema_for(table).file_schema
            assert file_schema.remove_metadata().equals(expected.remove_metadata()), table
            assert file_schema.metadata[b"mediastore.schema_version"] == str(schema_for(table).version).encode()
