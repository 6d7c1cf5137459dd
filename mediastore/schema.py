"""The table schemas, read from the versioned data files in ``schemas/``.

A schema file is JSON: ``{"table", "version", "partition", "columns": [{"name", "type",
"nullable"?, "doc"?}]}``. A type is a name (``string``, ``int32``, ``int64``, ``float64``,
``bool``, ``timestamp_us``) or one of ``{"list": T}``, ``{"struct": [columns]}``,
``{"map": [K, V]}``. Partition columns live in the directory names (``project=<p>/run=<r>``),
not inside the Parquet files.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from ._lazy import pa
from .errors import SchemaMismatchError

__all__ = ["TableSchema", "schema_for", "schema_versions", "table_names", "SCHEMA_DIR"]

_PRIMITIVES = {  # the pyarrow factory of each type name (pyarrow is imported when first used)
    "string": lambda: pa.string(),
    "int32": lambda: pa.int32(),
    "int64": lambda: pa.int64(),
    "float64": lambda: pa.float64(),
    "bool": lambda: pa.bool_(),
    "timestamp_us": lambda: pa.timestamp("us"),
}
_DUCKDB = {
    "string": "VARCHAR",
    "int32": "INTEGER",
    "int64": "BIGINT",
    "float64": "DOUBLE",
    "bool": "BOOLEAN",
    "timestamp_us": "TIMESTAMP",
}

# Installed wheels carry the files as mediastore/_schemas; a source checkout has them at the top.
_PACKAGED = Path(__file__).with_name("_schemas")
SCHEMA_DIR = _PACKAGED if _PACKAGED.is_dir() else Path(__file__).resolve().parents[1] / "schemas"

# Directory name of each partition column: DESIGN.md fixes the layout as project=<p>/run=<r>.
PARTITION_DIRS = {"project": "project", "run_id": "run"}


def _arrow_type(t) -> pa.DataType:
    if isinstance(t, str):
        return _PRIMITIVES[t]()
    if "list" in t:
        return pa.list_(_arrow_type(t["list"]))
    if "struct" in t:
        return pa.struct([_arrow_field(c) for c in t["struct"]])
    if "map" in t:
        key, value = t["map"]
        return pa.map_(_arrow_type(key), _arrow_type(value))
    raise SchemaMismatchError(f"unknown type {t!r} in a schema file")


def _arrow_field(column: dict) -> pa.Field:
    return pa.field(column["name"], _arrow_type(column["type"]), nullable=column.get("nullable", True))


def _duckdb_type(t) -> str:
    if isinstance(t, str):
        return _DUCKDB[t]
    if "list" in t:
        return f"{_duckdb_type(t['list'])}[]"
    if "struct" in t:
        inner = ", ".join(f'"{c["name"]}" {_duckdb_type(c["type"])}' for c in t["struct"])
        return f"STRUCT({inner})"
    key, value = t["map"]
    return f"MAP({_duckdb_type(key)}, {_duckdb_type(value)})"


@dataclass(frozen=True)
class TableSchema:
    """One table: its name, version, all columns, and the columns stored inside files."""

    table: str
    version: int
    partition: tuple[str, ...]
    columns: tuple[dict, ...]

    @functools.cached_property
    def arrow(self) -> pa.Schema:
        """Schema of the view: partition columns first, as users see them."""
        return pa.schema([_arrow_field(c) for c in self.columns])

    @functools.cached_property
    def file_schema(self) -> pa.Schema:
        """Schema of the Parquet files: without the partition columns, with the version."""
        return pa.schema([_arrow_field(c) for c in self.file_columns], metadata=self.metadata)

    @property
    def file_columns(self) -> list[dict]:
        """The columns stored inside files (all but the partition columns), as in the schema file."""
        return [c for c in self.columns if c["name"] not in self.partition]

    @property
    def metadata(self) -> dict[bytes, bytes]:
        return {b"mediastore.table": self.table.encode(), b"mediastore.schema_version": str(self.version).encode()}

    def duckdb_columns(self) -> list[tuple[str, str]]:
        return [(c["name"], _duckdb_type(c["type"])) for c in self.columns]

    @property
    def column_names(self) -> list[str]:
        return [c["name"] for c in self.columns]


@functools.cache
def _load_versions() -> dict[str, tuple[TableSchema, ...]]:
    versions: dict[str, list[TableSchema]] = {}
    for path in sorted(SCHEMA_DIR.glob("*.v*.json")):
        doc = json.loads(path.read_text())
        schema = TableSchema(doc["table"], int(doc["version"]), tuple(doc["partition"]), tuple(doc["columns"]))
        versions.setdefault(schema.table, []).append(schema)
    return {table: tuple(sorted(found, key=lambda s: s.version)) for table, found in versions.items()}


@functools.cache
def _load_all() -> dict[str, TableSchema]:
    return {table: found[-1] for table, found in _load_versions().items()}


def schema_versions(table: str) -> tuple[TableSchema, ...]:
    """Every released schema of ``table``, oldest first: files of each may be in a store. A
    newer version only adds nullable columns at the end, so a reader of the newest reads all."""
    schema_for(table)  # the error for an unknown table
    return _load_versions()[table]


def schema_for(table: str) -> TableSchema:
    """The newest schema of ``table``."""
    try:
        return _load_all()[table]
    except KeyError:
        raise SchemaMismatchError(f"no schema file for table {table!r} in {SCHEMA_DIR}") from None


def table_names() -> list[str]:
    """Every table that has a schema file."""
    return sorted(_load_all())
