"""``ms.Table``: rows and typed columns, with media cells, under a row limit.

Each column has one type, set by its first non-None cell (or by the DataFrame's dtype):
``int``, ``float`` (ints are accepted and a column of ints becomes float when a float
arrives), ``str``, ``bool``, ``timestamp``, ``list``, or one media type (``Image``, ``Audio``,
...). None is allowed anywhere. A cell that does not fit is an error naming row, column,
value and type.

Stored as one Parquet blob per logged table with the real column types; a media cell is a
struct of that media type's columns (its ``blob`` points at the same content-addressed blobs
the media views use) plus ``kind``, so ``store.decode(cell)`` works on it.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from ..errors import InvalidMediaError, InvalidMediaTypeError
from . import _display
from .base import Media, register

__all__ = ["Table"]

_MEDIA_COLUMNS_META = b"mediastore.media_columns"
_COMMON = ("project", "run_id", "step", "key", "idx", "logged_at")


def _cell_type(value: Any) -> str | type | None:
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, (dt.datetime, dt.date, np.datetime64)):
        return "timestamp"
    if isinstance(value, (list, tuple, np.ndarray)):
        return "list"
    if isinstance(value, Table):
        return "table"
    if isinstance(value, Media):
        return type(value)
    return "unsupported"


def _type_name(t: str | type | None) -> str:
    return t.__name__ if isinstance(t, type) else str(t)


def _limit_error(rows: int, where: str) -> InvalidMediaError:
    return InvalidMediaError(
        f"{where} has {rows} rows, over ms.Table.MAX_ROWS = {Table.MAX_ROWS}; nothing was truncated or stored. "
        f"Raise the limit for larger tables: ms.Table.MAX_ROWS = {rows}"
    )


@register
class Table(Media):
    """A table of rows to log; cells may be numbers, text, timestamps, lists or media.

    Parameters
    ----------
    columns : list of str, optional
        Column names. Default ``["Input", "Output", "Expected"]`` (W&B's).
    data : list of rows, optional
        Each row a list with one cell per column.
    dataframe : pandas.DataFrame, optional
        Columns and rows from a DataFrame (its index is dropped).

    Raises
    ------
    InvalidMediaError
        More rows than ``Table.MAX_ROWS``, or a row of the wrong length.
    InvalidMediaTypeError
        A cell that does not fit its column's type.

    Examples
    --------
    >>> table = ms.Table(columns=["Text", "Predicted", "True"])
    >>> table.add_data("I love my phone", "1", "1")
    >>> run.log({"examples": table})
    """

    kind = "tables"
    #: Most rows a table may have; a class attribute to raise or lower: ``ms.Table.MAX_ROWS = 50000``.
    MAX_ROWS: ClassVar[int] = 10000

    def __init__(self, columns: Sequence[str] | None = None, data: Sequence[Sequence[Any]] | None = None,
                 dataframe: Any = None, *, rows: Sequence[Sequence[Any]] | None = None):
        data = rows if data is None else data
        self._frame = None  # a DataFrame given whole: kept columnar, typed from its dtypes
        self._rows: list[list[Any]] = []
        if dataframe is not None:
            if data is not None:
                raise InvalidMediaError("ms.Table takes data= or dataframe=, not both")
            if not hasattr(dataframe, "columns") or not hasattr(dataframe, "iloc"):
                raise InvalidMediaTypeError(f"dataframe must be a pandas DataFrame, got {type(dataframe).__name__}")
            if len(dataframe) > Table.MAX_ROWS:
                raise _limit_error(len(dataframe), "the DataFrame")
            self.columns = self._check_columns([str(c) if not isinstance(c, str) else c for c in dataframe.columns])
            self._frame = dataframe.reset_index(drop=True).copy()
            self._types = {c: self._frame_column_type(c) for c in self.columns}
            return
        self.columns = self._check_columns(list(columns) if columns is not None else ["Input", "Output", "Expected"])
        self._types: dict[str, Any] = {c: None for c in self.columns}
        if data is not None:
            if not isinstance(data, Sequence) or isinstance(data, (str, bytes)):
                raise InvalidMediaTypeError(f"data must be a list of rows, got {type(data).__name__}")
            if len(data) > Table.MAX_ROWS:
                raise _limit_error(len(data), "data")
            for row in data:
                self.add_data(*row)

    @staticmethod
    def _check_columns(columns: list[Any]) -> list[str]:
        for c in columns:
            if not isinstance(c, str) or not c:
                raise InvalidMediaTypeError(f"column names must be non-empty str, got {c!r}")
        duplicates = sorted({c for c in columns if columns.count(c) > 1})
        if duplicates:
            raise InvalidMediaError(f"column names must be unique; {duplicates} appear more than once")
        return columns

    # -- building -----------------------------------------------------------------------------
    def _frame_column_type(self, column: str) -> Any:
        series = self._frame[column]
        kind = series.dtype.kind
        if kind == "b":
            return "bool"
        if kind in "iu":
            return "int"
        if kind == "f":
            return "float"
        if kind == "M":
            return "timestamp"
        inferred = _arrow_inferred_type(series)
        if inferred is not _UNKNOWN:
            return inferred
        current = None  # mixed or media cells: per cell, to find media or name the bad cell
        for row, value in enumerate(series.tolist()):
            current = self._fit(current, value, row, column)
        return current

    def _fit(self, current: Any, value: Any, row: int, column: str) -> Any:
        """The column type after adding ``value``, or an error naming the cell."""
        if isinstance(value, float) and np.isnan(value) and current not in ("float", None):
            return current  # pandas' missing value in an object column
        new = _cell_type(value)
        if new in ("unsupported", "table"):
            raise InvalidMediaTypeError(
                f"Table row {row} column {column!r} has {value!r:.80} of type {type(value).__name__}; cells are numbers, str, "
                "bool, timestamps, lists, None, or media objects (ms.Image, ms.Audio, ...)"
            )
        if new is None or current is None or new == current:
            return current if new is None else new
        if {new, current} == {"int", "float"}:
            return "float"
        raise InvalidMediaTypeError(
            f"Table row {row} column {column!r} has {value!r:.80} ({_type_name(new)}); the column holds {_type_name(current)} "
            "— every cell of a column has one type (None is allowed anywhere)"
        )

    def add_data(self, *row: Any) -> None:
        """Append one row: one cell per column, in column order."""
        if len(row) != len(self.columns):
            raise InvalidMediaError(f"add_data got {len(row)} values; the table's columns are {self.columns} ({len(self.columns)})")
        if len(self) + 1 > Table.MAX_ROWS:
            raise _limit_error(len(self) + 1, "the table")
        index = len(self)
        types = {c: self._fit(self._types[c], v, index, c) for c, v in zip(self.columns, row)}
        self._materialise_rows()
        self._types = types
        self._rows.append(list(row))

    def add_column(self, name: str, data: Sequence[Any]) -> None:
        """Add a column with one value per existing row."""
        self._check_columns([*self.columns, name])
        data = list(data)
        if len(data) != len(self):
            raise InvalidMediaError(f"add_column {name!r} got {len(data)} values; the table has {len(self)} rows")
        current = None
        for index, value in enumerate(data):
            current = self._fit(current, value, index, name)
        self._materialise_rows()
        for row, value in zip(self._rows, data):
            row.append(value)
        self.columns.append(name)
        self._types[name] = current

    def _materialise_rows(self) -> None:
        if self._frame is not None:
            frame, self._frame = self._frame, None
            self._rows = [list(r) for r in frame.itertuples(index=False, name=None)]

    # -- reading --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._frame) if self._frame is not None else len(self._rows)

    @property
    def data(self) -> list[list[Any]]:
        """The rows as lists (W&B's ``table.data``)."""
        if self._frame is not None:
            return [list(r) for r in self._frame.itertuples(index=False, name=None)]
        return [list(r) for r in self._rows]

    def get_column(self, name: str) -> list[Any]:
        """The values of one column."""
        if name not in self.columns:
            raise InvalidMediaError(f"no column {name!r}; the columns are {self.columns}")
        if self._frame is not None:
            return self._frame[name].tolist()
        i = self.columns.index(name)
        return [r[i] for r in self._rows]

    def get_dataframe(self):
        """The table as a pandas DataFrame (media cells stay media objects)."""
        import pandas as pd

        if self._frame is not None:
            return self._frame.copy()
        return pd.DataFrame(self._rows, columns=self.columns)

    @property
    def column_types(self) -> dict[str, str | None]:
        return {c: _type_name(t) if t is not None else None for c, t in self._types.items()}

    # -- engine contract ------------------------------------------------------------------------
    def _prepare(self) -> "_LoggedTable":
        """At run.log: check the limit again (it may have been lowered) and take a snapshot, so
        later changes to this table do not reach what was logged."""
        if len(self) > Table.MAX_ROWS:
            raise _limit_error(len(self), "the table")
        return _LoggedTable(self)

    def _summary(self) -> dict[str, Any]:
        return {"_kind": self.kind, "num_rows": len(self), "columns": list(self.columns)}

    @classmethod
    def _from_row(cls, row: Mapping[str, Any], location) -> "Table":
        import pyarrow.parquet as pq

        arrow = pq.read_table(io.BytesIO(location.get_blob(row["blob"])))
        return cls(dataframe=_to_frame(arrow, location, decode=True))

    # -- Jupyter display ---------------------------------------------------------------------
    def _repr_html_(self) -> str:
        """The rows as an HTML table, media cells as thumbnails (images with their overlays),
        at most `_display.MAX_TABLE_ROWS` rows and a note counting the rest."""
        if self._frame is not None:
            rows = [list(r) for r in self._frame.head(_display.MAX_TABLE_ROWS).itertuples(index=False, name=None)]
        else:
            rows = self._rows[: _display.MAX_TABLE_ROWS]
        return _display.frame_html(self.columns, rows, note=_display.more_rows(len(self), len(rows)))

    def __repr__(self) -> str:
        return f"ms.Table({len(self)} rows x {len(self.columns)} columns {self.columns})"


class _LoggedTable(Media):
    """A snapshot of a Table at run.log; encodes to one Parquet blob on a worker."""

    kind = "tables"

    def __init__(self, table: Table):
        import pyarrow as pa

        self.columns = list(table.columns)
        self._types = dict(table._types)
        self._arrow_columns: dict[str, Any] = {}
        self._media_cells: dict[str, list] = {}
        frame = table._frame
        for i, name in enumerate(self.columns):
            t = self._types[name]
            values = frame[name] if frame is not None else [r[i] for r in table._rows]
            if isinstance(t, type):
                cells = values.tolist() if frame is not None else values
                self._media_cells[name] = [None if c is None or (isinstance(c, float) and np.isnan(c)) else c._prepare() for c in cells]
                continue
            try:
                self._arrow_columns[name] = _arrow_column(values, t, frame is not None)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
                raise InvalidMediaTypeError(f"Table column {name!r} ({_type_name(t)}) cannot be stored: {exc}") from None
        self.num_rows = len(table)
        # Without media cells the encoding is one Parquet write: cheaper on the caller's thread
        # than a hand-off to a worker (and a new thread's cold start); media cells encode in parallel.
        self.ENCODE_INLINE = not self._media_cells

    def _encode(self, location) -> dict[str, Any]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from ..schema import schema_for

        arrays, media_kinds = [], {}
        for name in self.columns:
            if name in self._arrow_columns:
                arrays.append(self._arrow_columns[name])
                continue
            cls = self._types[name]
            fields = [f for f in schema_for(cls.kind).file_schema if f.name not in _COMMON]
            struct = pa.struct([pa.field("kind", pa.string()), *fields])
            cells = [None if c is None else {"kind": cls.kind, **c._encode(location)} for c in self._media_cells[name]]
            arrays.append(pa.array(cells, type=struct))
            media_kinds[name] = cls.kind
        table = pa.table(arrays, names=self.columns) if arrays else pa.table({})
        table = table.replace_schema_metadata({_MEDIA_COLUMNS_META: json.dumps(media_kinds).encode()})
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        return {
            "blob": location.put_blob(sink.getvalue().to_pybytes(), "application/vnd.apache.parquet"),
            "num_rows": self.num_rows,
            "num_columns": len(self.columns),
            "columns": list(self.columns),
            "column_types": [_type_name(self._types[c]) if self._types[c] is not None else "null" for c in self.columns],
        }

    def _summary(self) -> dict[str, Any]:
        return {"_kind": self.kind, "num_rows": self.num_rows, "columns": self.columns}


_UNKNOWN = object()


def _arrow_inferred_type(series) -> Any:
    """The column type of an object or string Series by Arrow's own inference (no per-cell
    Python loop), or _UNKNOWN when Arrow cannot type it (media cells, mixed types)."""
    import pyarrow as pa

    try:
        arrow_type = pa.array(series, from_pandas=True).type
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError):
        return _UNKNOWN
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "str"
    if pa.types.is_boolean(arrow_type):
        return "bool"
    if pa.types.is_integer(arrow_type):
        return "int"
    if pa.types.is_floating(arrow_type):
        return "float"
    if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
        return "timestamp"
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return "list"
    if pa.types.is_null(arrow_type):
        return None
    return _UNKNOWN


def _arrow_column(values: Any, type_: Any, from_frame: bool):
    import pyarrow as pa

    if type_ == "int":
        return pa.array(values, type=pa.int64(), from_pandas=True)
    if type_ == "float":
        # NaN is data in a float column and stays NaN; only None becomes NULL.
        if from_frame and values.dtype.kind == "f":
            return pa.array(values.to_numpy(dtype=np.float64, copy=True))
        cells = values.tolist() if from_frame else values
        return pa.array([None if v is None else float(v) for v in cells], type=pa.float64())
    if type_ == "str":
        return pa.array(values, type=pa.string(), from_pandas=True)
    if type_ == "bool":
        return pa.array(values, type=pa.bool_(), from_pandas=True)
    if type_ == "timestamp":
        if from_frame:
            return pa.array(values, from_pandas=True).cast(pa.timestamp("us"))
        return pa.array([None if v is None else np.datetime64(v, "us").astype(dt.datetime) for v in values], type=pa.timestamp("us"))
    if type_ == "list":
        return pa.array([None if v is None else list(np.asarray(v).tolist()) if isinstance(v, np.ndarray) else list(v) for v in values], from_pandas=True)
    return pa.array([None] * len(values), type=pa.null())


def _to_frame(arrow, location, *, decode: bool):
    """A stored table's Arrow data as a DataFrame; media cells as dicts (decodable), or decoded."""
    from .base import media_type

    media = json.loads((arrow.schema.metadata or {}).get(_MEDIA_COLUMNS_META, b"{}"))
    frame = arrow.to_pandas()
    for column, kind in media.items():
        cells = arrow.column(column).to_pylist()
        if decode:
            cls = media_type(kind)
            cells = [None if c is None else cls._from_row(c, location) for c in cells]
        frame[column] = cells
    return frame
