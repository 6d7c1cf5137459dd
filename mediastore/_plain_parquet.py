"""A few rows of flat columns as one Parquet file, in pure Python (no pyarrow).

A run's records (``runs`` table: strings, microsecond timestamps, int64, float64) are the only
thing the first ``ms.init`` and the ``finish()`` of a run that logged nothing write. Importing
pyarrow and numpy takes 0.10 s here, more than the rest of a run's start-up; so records are
written by this module, and pyarrow is imported by the first call that needs it.

The file is plain Parquet as every reader knows it (format 2.6, one row group, one data page
(V1) per column, PLAIN values, definition levels RLE/bit-packed, uncompressed, no statistics),
with the same logical types pyarrow writes for the schema's Arrow types and the schema's
metadata as the footer's key-value metadata (pyarrow shows it as ``schema.metadata``).
Only what the records need is implemented; anything else is a ``ValueError``.
"""

from __future__ import annotations

import struct

__all__ = ["plain_parquet"]

# Parquet physical types, and the Thrift compact protocol's field types.
_INT64, _DOUBLE, _BYTE_ARRAY = 2, 5, 6
_T_TRUE, _T_FALSE, _T_I32, _T_I64, _T_BINARY, _T_LIST, _T_STRUCT = 1, 2, 5, 6, 8, 9, 12
_PLAIN, _RLE = 0, 3
_UTF8 = 0  # ConvertedType


def _varint(out: bytearray, n: int) -> None:
    """``n`` >= 0 as a ULEB128 varint (Thrift's integers; the RLE/bit-packed run headers)."""
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


class _Thrift:
    """Just enough of the Thrift compact protocol to write Parquet's footer and page headers."""

    def __init__(self):
        self.out = bytearray()
        self._last = [0]

    def _varint(self, n: int) -> None:
        _varint(self.out, n)

    def _zigzag(self, n: int) -> None:
        self._varint((n << 1) ^ (n >> 63))

    def _field(self, fid: int, ftype: int) -> None:
        delta = fid - self._last[-1]
        if 0 < delta <= 15:
            self.out.append((delta << 4) | ftype)
        else:
            self.out.append(ftype)
            self._zigzag(fid)
        self._last[-1] = fid

    def i32(self, fid: int, n: int) -> None:
        self._field(fid, _T_I32)
        self._zigzag(n)

    def i64(self, fid: int, n: int) -> None:
        self._field(fid, _T_I64)
        self._zigzag(n)

    def boolean(self, fid: int, value: bool) -> None:
        self._field(fid, _T_TRUE if value else _T_FALSE)  # the value is the field's type

    def binary(self, fid: int, data: bytes) -> None:
        self._field(fid, _T_BINARY)
        self._varint(len(data))
        self.out += data

    def begin(self, fid: int | None = None) -> None:
        """A struct: as field ``fid`` of the current one, or as an element of a list (None)."""
        if fid is not None:
            self._field(fid, _T_STRUCT)
        self._last.append(0)

    def end(self) -> None:
        self.out.append(0)
        self._last.pop()

    def list_header(self, fid: int, etype: int, size: int) -> None:
        self._field(fid, _T_LIST)
        if size < 15:
            self.out.append((size << 4) | etype)
        else:
            self.out.append(0xF0 | etype)
            self._varint(size)

    def i32_list(self, fid: int, values: list[int]) -> None:
        self.list_header(fid, _T_I32, len(values))
        for v in values:
            self._zigzag(v)

    def binary_list(self, fid: int, values: list[bytes]) -> None:
        self.list_header(fid, _T_BINARY, len(values))
        for v in values:
            self._varint(len(v))
            self.out += v


def _levels(defined: list[bool]) -> bytes:
    """Definition levels (bit width 1) as one bit-packed run, with the 4-byte length prefix."""
    groups = (len(defined) + 7) // 8
    packed = bytearray(groups)
    for i, d in enumerate(defined):
        if d:
            packed[i >> 3] |= 1 << (i & 7)
    body = bytearray()
    _varint(body, (groups << 1) | 1)
    body += packed
    return struct.pack("<i", len(body)) + body


def _plain(kind: str, values: list) -> bytes:
    if kind in ("int64", "timestamp_us"):
        return struct.pack(f"<{len(values)}q", *values)
    if kind == "float64":
        return struct.pack(f"<{len(values)}d", *values)
    out = bytearray()
    for v in values:
        data = v.encode("utf-8")
        out += struct.pack("<i", len(data))
        out += data
    return bytes(out)


_PHYSICAL = {"string": _BYTE_ARRAY, "int64": _INT64, "timestamp_us": _INT64, "float64": _DOUBLE}


_SCHEMAS: dict[tuple, bytes] = {}


def _schema_elements(columns: list[dict]) -> bytes:
    """FileMetaData's field 2 (the schema: a root and one element per column), following field 1,
    as bytes; the same for every file of these columns, so made once (a run record's footer
    costs a third less)."""
    key = tuple((c["name"], c["type"], c.get("nullable", True)) for c in columns)
    cached = _SCHEMAS.get(key)
    if cached is not None:
        return cached
    meta = _Thrift()
    meta._last[-1] = 1  # written right after field 1 (the version)
    meta.list_header(2, _T_STRUCT, len(columns) + 1)
    meta.begin()
    meta.binary(4, b"schema")
    meta.i32(5, len(columns))
    meta.end()
    for column in columns:
        kind = column["type"]
        meta.begin()
        meta.i32(1, _PHYSICAL[kind])
        meta.i32(3, 1 if column.get("nullable", True) else 0)  # OPTIONAL / REQUIRED
        meta.binary(4, column["name"].encode("utf-8"))
        if kind == "string":
            meta.i32(6, _UTF8)
            meta.begin(10)
            meta.begin(1)  # LogicalType.STRING
            meta.end()
            meta.end()
        elif kind == "timestamp_us":
            meta.begin(10)
            meta.begin(8)  # LogicalType.TIMESTAMP(isAdjustedToUTC=false, MICROS), as pyarrow writes timestamp[us]
            meta.boolean(1, False)
            meta.begin(2)
            meta.begin(2)  # TimeUnit.MICROS
            meta.end()
            meta.end()
            meta.end()
            meta.end()
        meta.end()
    _SCHEMAS[key] = cached = bytes(meta.out)
    return cached


def plain_parquet(columns: list[dict], rows: list[dict], metadata: dict[bytes, bytes]) -> bytes:
    """``rows`` (dicts; a missing key is NULL) as a Parquet file of ``columns`` (schema file
    columns: ``{"name", "type", "nullable"?}``, types string, int64, timestamp_us, float64;
    timestamps as int microseconds). Raises ValueError for another type, or for a NULL in a
    column that is not nullable."""
    body = bytearray(b"PAR1")
    chunks = []
    for column in columns:
        name, kind, nullable = column["name"], column["type"], column.get("nullable", True)
        if not isinstance(kind, str) or kind not in _PHYSICAL:
            raise ValueError(f"plain_parquet writes string, int64, timestamp_us and float64 columns, not {kind!r} ({name})")
        cells = [row.get(name) for row in rows]
        present = [c for c in cells if c is not None]
        if not nullable and len(present) != len(cells):
            raise ValueError(f"column {name!r} is not nullable but a row has no value for it")
        if kind == "float64":
            present = [float(c) for c in present]
        elif kind != "string":
            present = [int(c) for c in present]
        page = (_levels([c is not None for c in cells]) if nullable else b"") + _plain(kind, present)
        header = _Thrift()
        header.i32(1, 0)  # DATA_PAGE
        header.i32(2, len(page))
        header.i32(3, len(page))
        header.begin(5)
        header.i32(1, len(cells))
        header.i32(2, _PLAIN)
        header.i32(3, _RLE)
        header.i32(4, _RLE)
        header.end()
        header.out.append(0)
        offset = len(body)
        body += header.out
        body += page
        chunks.append((column, offset, len(header.out) + len(page)))

    meta = _Thrift()
    meta.i32(1, 2)  # version
    meta.out += _schema_elements(columns)
    meta._last[-1] = 2
    meta.i64(3, len(rows))
    meta.list_header(4, _T_STRUCT, 1)
    meta.begin()  # the row group
    meta.list_header(1, _T_STRUCT, len(chunks))
    for column, offset, size in chunks:
        meta.begin()
        meta.i64(2, offset)
        meta.begin(3)
        meta.i32(1, _PHYSICAL[column["type"]])
        meta.i32_list(2, [_PLAIN, _RLE])
        meta.binary_list(3, [column["name"].encode("utf-8")])
        meta.i32(4, 0)  # UNCOMPRESSED
        meta.i64(5, len(rows))
        meta.i64(6, size)
        meta.i64(7, size)
        meta.i64(9, offset)
        meta.end()
        meta.end()
    total = sum(size for _, _, size in chunks)
    meta.i64(2, total)
    meta.i64(3, len(rows))
    meta.i64(5, chunks[0][1] if chunks else 4)
    meta.i64(6, total)
    meta.end()
    if metadata:
        meta.list_header(5, _T_STRUCT, len(metadata))
        for key, value in metadata.items():
            meta.begin()
            meta.binary(1, key)
            meta.binary(2, value)
            meta.end()
    meta.binary(6, b"mediastore")
    meta.out.append(0)
    body += meta.out
    body += struct.pack("<i", len(meta.out))
    body += b"PAR1"
    return bytes(body)
