"""A few rows as one Parquet file, in pure Python (no pyarrow).

A run's records (``runs`` table: strings, microsecond timestamps, int64, float64) are the only
thing the first ``ms.init`` and the ``finish()`` of a run that logged nothing write. Importing
pyarrow and numpy takes 0.10 s here, more than the rest of a run's start-up; so records are
written by this module, and pyarrow is imported by the first call that needs it.

A batch of a few media rows (a logged table's row: a struct, two lists of strings) is written
by it too: pyarrow's writer costs 0.6 ms for any file, however small, and this module 0.1-0.2
ms for such a row (writer.py).

The file is plain Parquet as every reader knows it (format 2.6, one row group, one data page
(V1) per column, PLAIN values, repetition and definition levels RLE/bit-packed, uncompressed),
with the same schema pyarrow writes for the schema's Arrow types (structs and lists as
pyarrow nests them: ``blob.uri``, ``columns.list.element``), the schema's metadata as the
footer's key-value metadata (pyarrow shows it as ``schema.metadata``), and, with
``statistics=True``, min/max statistics of the integer, timestamp and string columns outside
lists (a reader prunes files by ``step``). Only what the store's rows need is implemented:
flat columns, structs of flat columns, lists of flat values; anything else is a
``ValueError``, a cell of the wrong Python type a ``TypeError`` or ``struct.error``.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

__all__ = ["plain_parquet", "writes"]

# Parquet physical types, and the Thrift compact protocol's field types.
_BOOLEAN, _INT32, _INT64, _DOUBLE, _BYTE_ARRAY = 0, 1, 2, 5, 6
_T_TRUE, _T_FALSE, _T_I32, _T_I64, _T_BINARY, _T_LIST, _T_STRUCT = 1, 2, 5, 6, 8, 9, 12
_PLAIN, _RLE = 0, 3
_REQUIRED, _OPTIONAL, _REPEATED = 0, 1, 2
_UTF8, _LIST = 0, 3  # ConvertedType
#: Longest string min/max written in statistics (pyarrow's default max_statistics_size).
_MAX_STATISTICS = 4096
#: FileMetaData.created_by: which writer made a file (pyarrow's say parquet-cpp-arrow).
_CREATED_BY = b"mediastore"


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

    def empty(self, fid: int) -> None:
        """An empty struct as field ``fid`` (a union's member without fields)."""
        self.begin(fid)
        self.end()

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


def _levels(levels: list[int], width: int) -> bytes:
    """Repetition or definition levels of bit width ``width`` as one bit-packed run of the
    RLE/bit-packed hybrid, with the 4-byte length prefix of a V1 data page."""
    groups = (len(levels) + 7) // 8
    packed = 0
    for i, level in enumerate(levels):
        if level:
            packed |= level << (i * width)
    body = bytearray()
    _varint(body, (groups << 1) | 1)
    body += packed.to_bytes(groups * width, "little")
    return struct.pack("<i", len(body)) + body


_FORMATS = {"int64": "q", "timestamp_us": "q", "int32": "i", "float64": "d"}


def _plain(kind: str, values: list) -> bytes:
    """PLAIN-encoded values. The struct module refuses what is not an integer for an integer
    column (a float, a datetime), as pyarrow does; ``struct.error`` then."""
    code = _FORMATS.get(kind)
    if code is not None:
        return struct.pack(f"<{len(values)}{code}", *values)
    if kind == "bool":
        packed = 0
        for i, v in enumerate(values):
            if not isinstance(v, bool):
                raise TypeError(f"a bool column got {type(v).__name__}")
            if v:
                packed |= 1 << i
        return packed.to_bytes((len(values) + 7) // 8, "little")
    out = bytearray()
    for v in values:
        if not isinstance(v, str):
            raise TypeError(f"a string column got {type(v).__name__}")
        data = v.encode("utf-8")
        out += struct.pack("<i", len(data))
        out += data
    return bytes(out)


_PHYSICAL = {"string": _BYTE_ARRAY, "int64": _INT64, "timestamp_us": _INT64, "float64": _DOUBLE, "int32": _INT32, "bool": _BOOLEAN}


class _Leaf:
    """One leaf column: a flat column, a struct's field (``child``), or a list's elements
    (``repeated``); its definition levels count the optional levels above and at it."""

    __slots__ = ("path", "kind", "physical", "top", "child", "repeated", "top_optional", "optional", "max_def", "width")

    def __init__(self, path: tuple[str, ...], kind: str, top: str, top_optional: bool, *,
                 child: str | None = None, repeated: bool = False, optional: bool = False):
        self.path = [p.encode("utf-8") for p in path]
        self.kind, self.physical, self.top, self.child, self.repeated = kind, _PHYSICAL[kind], top, child, repeated
        self.top_optional, self.optional = top_optional, optional
        self.max_def = int(top_optional) + int(repeated) + int(optional)
        self.width = self.max_def.bit_length()

    def cells(self, rows: list[dict]) -> tuple[list[int] | None, list[int], list]:
        """(repetition levels or None, definition levels, the values present) of ``rows``."""
        top, top_def = self.top, int(self.top_optional)
        values: list = []
        if self.child is None and not self.repeated:
            cells = [row.get(top) for row in rows]
            values = [c for c in cells if c is not None]
            if len(values) != len(cells) and not self.top_optional:
                raise ValueError(f"column {top!r} is not nullable but a row has no value for it")
            return None, [c is not None for c in cells], values
        defs: list[int] = []
        reps: list[int] | None = [] if self.repeated else None
        for row in rows:
            value = row.get(top)
            if value is None:
                if not self.top_optional:
                    raise ValueError(f"column {top!r} is not nullable but a row has no value for it")
                defs.append(0)
                if reps is not None:
                    reps.append(0)
                continue
            if reps is None:  # a struct's field
                if not isinstance(value, Mapping):
                    raise TypeError(f"struct column {top!r} got {type(value).__name__}")
                value = value.get(self.child)
                if value is None:
                    if not self.optional:
                        raise ValueError(f"field {top}.{self.child} is not nullable but a row has no value for it")
                    defs.append(top_def)
                else:
                    defs.append(self.max_def)
                    values.append(value)
                continue
            if not isinstance(value, (list, tuple)):
                if getattr(value, "ndim", None) != 1 or not hasattr(value, "tolist"):
                    raise TypeError(f"list column {top!r} got {type(value).__name__}")
                value = value.tolist()  # a 1-D numpy array (a histogram's edges): Python numbers
            if not value:
                defs.append(top_def)  # an empty list
                reps.append(0)
                continue
            for i, item in enumerate(value):
                reps.append(1 if i else 0)
                if item is None:
                    if not self.optional:
                        raise ValueError(f"list column {top!r} does not hold NULLs")
                    defs.append(top_def + 1)
                else:
                    defs.append(self.max_def)
                    values.append(item)
        return reps, defs, values


def _key(columns: list[dict]) -> tuple:
    """Schema columns as a hashable key (a nested type is a dict, a map's a list)."""
    return tuple((c["name"], t if type(t := c["type"]) is str else _frozen(t), c.get("nullable", True)) for c in columns)


def _frozen(type_) -> Any:
    if isinstance(type_, str):
        return type_
    if "struct" in type_:
        return ("struct", _key(type_["struct"]))
    return tuple((k, tuple(map(_frozen, v)) if isinstance(v, list) else _frozen(v)) for k, v in type_.items())


def _flat(kind, name: str, where: str) -> str:
    if not isinstance(kind, str) or kind not in _PHYSICAL:
        raise ValueError(f"plain_parquet writes string, int32, int64, timestamp_us, float64 and bool values, "
                         f"structs of them and lists of them, not {kind!r} ({where})")
    return kind


def _leaf_element(meta: _Thrift, name: str, kind: str, repetition: int) -> None:
    meta.begin()
    meta.i32(1, _PHYSICAL[kind])
    meta.i32(3, repetition)
    meta.binary(4, name.encode("utf-8"))
    if kind == "string":
        meta.i32(6, _UTF8)
        meta.begin(10)
        meta.empty(1)  # LogicalType.STRING
        meta.end()
    elif kind == "timestamp_us":
        meta.begin(10)
        meta.begin(8)  # LogicalType.TIMESTAMP(isAdjustedToUTC=false, MICROS), as pyarrow writes timestamp[us]
        meta.boolean(1, False)
        meta.begin(2)
        meta.empty(2)  # TimeUnit.MICROS
        meta.end()
        meta.end()
        meta.end()
    meta.end()


def _group_element(meta: _Thrift, name: str, repetition: int, children: int, *, is_list: bool = False) -> None:
    meta.begin()
    meta.i32(3, repetition)
    meta.binary(4, name.encode("utf-8"))
    meta.i32(5, children)
    if is_list:
        meta.i32(6, _LIST)
        meta.begin(10)
        meta.empty(3)  # LogicalType.LIST
        meta.end()
    meta.end()


_LAYOUTS: dict[tuple, tuple[bytes, list[_Leaf]]] = {}


def _layout(columns: list[dict]) -> tuple[bytes, list[_Leaf]]:
    """FileMetaData's field 2 (the schema: a root and the columns' elements, following field
    1) as bytes, and the leaf columns; the same for every file of these columns, so made once
    (a run record's footer costs a third less)."""
    key = _key(columns)
    cached = _LAYOUTS.get(key)
    if cached is not None:
        return cached
    elements = _Thrift()
    leaves: list[_Leaf] = []
    count = 1
    for column in columns:
        name, kind, optional = column["name"], column["type"], column.get("nullable", True)
        repetition = _OPTIONAL if optional else _REQUIRED
        if isinstance(kind, dict) and "struct" in kind:
            fields = kind["struct"]
            _group_element(elements, name, repetition, len(fields))
            for field in fields:
                field_kind = _flat(field["type"], field["name"], f"{name}.{field['name']}")
                field_optional = field.get("nullable", True)
                _leaf_element(elements, field["name"], field_kind, _OPTIONAL if field_optional else _REQUIRED)
                leaves.append(_Leaf((name, field["name"]), field_kind, name, optional, child=field["name"], optional=field_optional))
            count += 1 + len(fields)
        elif isinstance(kind, dict) and "list" in kind:
            item = _flat(kind["list"], name, f"{name}'s elements")
            _group_element(elements, name, repetition, 1, is_list=True)
            _group_element(elements, "list", _REPEATED, 1)
            _leaf_element(elements, "element", item, _OPTIONAL)  # pa.list_'s elements are nullable
            leaves.append(_Leaf((name, "list", "element"), item, name, optional, repeated=True, optional=True))
            count += 3
        else:
            _leaf_element(elements, name, _flat(kind, name, name), repetition)
            leaves.append(_Leaf((name,), kind, name, optional))
            count += 1
    meta = _Thrift()
    meta._last[-1] = 1  # written right after field 1 (the version)
    meta.list_header(2, _T_STRUCT, count)
    meta.begin()
    meta.binary(4, b"schema")
    meta.i32(5, len(columns))
    meta.end()
    meta.out += elements.out
    _LAYOUTS[key] = cached = (bytes(meta.out), leaves)
    return cached


def writes(columns: list[dict]) -> bool:
    """Whether `plain_parquet` writes files of these columns."""
    try:
        _layout(columns)
    except ValueError:
        return False
    return True


def _statistics(meta: _Thrift, leaf: _Leaf, values: list, nulls: int) -> None:
    """ColumnMetaData's field 12: the null count, and min and max where Parquet's order of the
    type is Python's (integers, timestamps, strings as UTF-8 bytes)."""
    meta.begin(12)
    meta.i64(3, nulls)
    if values and leaf.kind in _FORMATS and leaf.kind != "float64":
        code = "<" + _FORMATS[leaf.kind]
        meta.binary(5, struct.pack(code, max(values)))
        meta.binary(6, struct.pack(code, min(values)))
    elif values and leaf.kind == "string":
        encoded = [v.encode("utf-8") for v in values]
        low, high = min(encoded), max(encoded)
        if len(low) <= _MAX_STATISTICS and len(high) <= _MAX_STATISTICS:
            meta.binary(5, high)
            meta.binary(6, low)
    meta.end()


def plain_parquet(columns: list[dict], rows: list[dict], metadata: dict[bytes, bytes], *, statistics: bool = False) -> bytes:
    """``rows`` (dicts; a missing key is NULL) as a Parquet file of ``columns`` (schema file
    columns: ``{"name", "type", "nullable"?}``, types string, int32, int64, timestamp_us,
    float64, bool, ``{"struct": [columns]}`` of them, ``{"list": type}`` of them; timestamps
    as int microseconds). Raises ValueError for another type, or for a NULL in a column that
    is not nullable; TypeError or struct.error for a cell of the wrong type."""
    schema, leaves = _layout(columns)
    body = bytearray(b"PAR1")
    chunks = []
    for leaf in leaves:
        reps, defs, values = leaf.cells(rows)
        page = bytearray()
        if reps is not None:
            page += _levels(reps, 1)
        if leaf.max_def:
            page += _levels(defs, leaf.width)
        page += _plain(leaf.kind, values)
        header = _Thrift()
        header.i32(1, 0)  # DATA_PAGE
        header.i32(2, len(page))
        header.i32(3, len(page))
        header.begin(5)
        header.i32(1, len(defs))
        header.i32(2, _PLAIN)
        header.i32(3, _RLE)
        header.i32(4, _RLE)
        header.end()
        header.out.append(0)
        offset = len(body)
        body += header.out
        body += page
        nulls = len(defs) - len(values)
        chunks.append((leaf, offset, len(header.out) + len(page), len(defs), values if statistics and reps is None else None, nulls))

    meta = _Thrift()
    meta.i32(1, 2)  # version
    meta.out += schema
    meta._last[-1] = 2
    meta.i64(3, len(rows))
    meta.list_header(4, _T_STRUCT, 1)
    meta.begin()  # the row group
    meta.list_header(1, _T_STRUCT, len(chunks))
    for leaf, offset, size, count, values, nulls in chunks:
        meta.begin()
        meta.i64(2, offset)
        meta.begin(3)
        meta.i32(1, leaf.physical)
        meta.i32_list(2, [_PLAIN, _RLE])
        meta.binary_list(3, leaf.path)
        meta.i32(4, 0)  # UNCOMPRESSED
        meta.i64(5, count)
        meta.i64(6, size)
        meta.i64(7, size)
        meta.i64(9, offset)
        if values is not None:
            _statistics(meta, leaf, values, nulls)
        meta.end()
        meta.end()
    total = sum(chunk[2] for chunk in chunks)
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
    meta.binary(6, _CREATED_BY)
    if statistics:  # min/max are by each type's own order (TypeDefinedOrder)
        meta.list_header(7, _T_STRUCT, len(leaves))
        for _ in leaves:
            meta.begin()
            meta.empty(1)
            meta.end()
    meta.out.append(0)
    body += meta.out
    body += struct.pack("<i", len(meta.out))
    body += b"PAR1"
    return bytes(body)
