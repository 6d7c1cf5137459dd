"""``ms.Table``: rows and typed columns, with media cells, under a row limit.

Each column has one type, set by ``dtype=`` or by its first non-None cell (or by the
DataFrame's dtype): ``int``, ``float`` (ints are accepted and a column of ints becomes float
when a float arrives), ``str``, ``bool``, ``timestamp``, ``list``, ``dict`` (stored as JSON
text), ``complex`` (stored as ``STRUCT(real DOUBLE, imag DOUBLE)``), or one media type
(``Image``, ``Audio``, ...). None is allowed anywhere unless ``optional=False``. A cell that
does not fit is an error naming row, column, value and type; ``allow_mixed_types=True`` lets a
column hold several plain types, stored as JSON text.

Stored as one Parquet blob per logged table with the real column types; a media cell is a
struct of that media type's columns (its ``blob`` points at the same content-addressed blobs
the media views use) plus ``kind``, so ``store.decode(cell)`` works on it.

``log_mode`` is W&B's: ``"IMMUTABLE"`` (default) logs the contents the table had when first
logged, each time it is logged (a warning says so when it changed since); ``"MUTABLE"`` logs
its current contents each time; ``"INCREMENTAL"`` stores at each log only the rows added since
the previous one (columns ``first_row`` and ``increment_of`` of the ``tables`` view), and the
readers put the increments back together, so the table at a step is every row up to it.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, Literal

from .._lazy import np
from ..errors import InvalidMediaError, InvalidMediaTypeError, TableLogModeWarning
from . import _display
from .base import Media, register

__all__ = ["Table"]

_MEDIA_COLUMNS_META = b"mediastore.media_columns"
_CODECS_META = b"mediastore.column_codecs"  # {"column": "json" | "complex"}: how to read it back
LOG_MODES = ("IMMUTABLE", "MUTABLE", "INCREMENTAL")
_COMPLEX = None  # the Arrow struct of a complex cell, made on first use (no pyarrow at import)
_DTYPES = {int: "int", float: "float", str: "str", bool: "bool", list: "list", tuple: "list", dict: "dict",
           complex: "complex", dt.datetime: "timestamp", dt.date: "timestamp"}


def is_dataframe(value: Any) -> bool:
    """A pandas DataFrame, recognised without importing pandas (it is imported if one exists)."""
    pd = sys.modules.get("pandas")
    return pd is not None and type(value).__name__ == "DataFrame" and isinstance(value, pd.DataFrame)


def _own_frame(dataframe: Any) -> Any:
    """The table's own copy of a DataFrame, indexed 0..n-1, that no later change to
    ``dataframe`` reaches. With pandas' copy-on-write (always on from pandas 3) a shallow copy
    is one: a change to either frame copies what it changes. A deep copy of 10,000 rows cost
    0.15 ms, and ``reset_index`` of an index that already was 0..n-1 another 0.09."""
    pd = sys.modules["pandas"]
    if int(pd.__version__.split(".")[0]) < 3 and pd.options.mode.copy_on_write is not True:
        return dataframe.reset_index(drop=True).copy()
    index = dataframe.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return dataframe.copy(deep=False)
    return dataframe.reset_index(drop=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _json_text(value: Any) -> str:
    return json.dumps(value, default=_json_default, separators=(",", ":"))


def _dtype_tag(dtype: Any, column: str) -> Any:
    """The column type a ``dtype=`` entry stands for: a Python type, a media class, or None."""
    if dtype is None:
        return None
    if isinstance(dtype, type) and issubclass(dtype, Media) and dtype is not Media:
        return dtype
    if isinstance(dtype, type) and issubclass(dtype, np.generic):
        dtype = np.dtype(dtype)
    if isinstance(dtype, np.dtype):
        kind = {"b": "bool", "i": "int", "u": "int", "f": "float", "c": "complex", "U": "str", "M": "timestamp"}.get(dtype.kind)
        if kind is not None:
            return kind
    if dtype in _DTYPES:
        return _DTYPES[dtype]
    if dtype is np.ndarray:
        return "list"
    raise InvalidMediaTypeError(
        f"Table dtype {dtype!r} for column {column!r} is not supported; use int, float, str, bool, list, dict, complex, "
        "datetime, a numpy dtype, a media class (ms.Image, ...) or None to infer it"
    )


def _per_column(value: Any, columns: list[str], what: str) -> list[Any]:
    if isinstance(value, list):
        if len(value) != len(columns):
            raise InvalidMediaError(f"Table {what} has {len(value)} entries for {len(columns)} columns {columns}; give one per column, or a single value")
        return value
    return [value] * len(columns)
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
    if isinstance(value, (complex, np.complexfloating)):
        return "complex"
    if isinstance(value, Mapping):
        return "dict"
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
    data : list of rows, 2-D numpy array, or pandas DataFrame, optional
        Each row a list with one cell per column; a DataFrame is as ``dataframe=``.
    dataframe : pandas.DataFrame, optional
        Columns and rows from a DataFrame (its index is dropped; column labels become ``str``).
    dtype : type, media class, or list of them, optional
        The type of every column, or one per column (``int``, ``float``, ``str``, ``bool``,
        ``list``, ``dict``, ``complex``, ``datetime``, a numpy dtype, ``ms.Image``, ...; None
        infers it from the first cell). A cell of another type raises at ``add_data``.
    optional : bool or list of bool
        Whether None is allowed, for every column or one per column. Default True (W&B's).
    allow_mixed_types : bool
        Turn type checks off (W&B's option): a column whose plain cells differ in type is
        stored as JSON text. Media cells still need a column of their own type. Default False.
    log_mode : {"IMMUTABLE", "MUTABLE", "INCREMENTAL"}
        What logging this object again stores: its contents when first logged (default, as
        W&B), its current contents, or only the rows added since the previous log.

    Raises
    ------
    InvalidMediaError
        More rows than ``Table.MAX_ROWS``, a row of the wrong length, an unknown ``log_mode``.
    InvalidMediaTypeError
        A cell that does not fit its column's type, or an unsupported ``dtype``.

    Examples
    --------
    >>> table = ms.Table(columns=["Text", "Predicted", "True"])
    >>> table.add_data("I love my phone", "1", "1")
    >>> run.log({"examples": table})
    """

    kind = "tables"
    #: Most rows a table may have; a class attribute to raise or lower: ``ms.Table.MAX_ROWS = 50000``.
    MAX_ROWS: ClassVar[int] = 10000

    def __init__(self, columns: Sequence[str] | None = None, data: Any = None,
                 dataframe: Any = None, *, rows: Sequence[Sequence[Any]] | None = None, dtype: Any = None,
                 optional: bool | list[bool] = True, allow_mixed_types: bool = False,
                 log_mode: Literal["IMMUTABLE", "MUTABLE", "INCREMENTAL"] = "IMMUTABLE"):
        data = rows if data is None else data
        if log_mode not in LOG_MODES:
            raise InvalidMediaError(f"Table log_mode {log_mode!r} is not one of {list(LOG_MODES)}")
        self.log_mode = log_mode
        self._mixed = bool(allow_mixed_types)
        self._version = 0  # counts changes: IMMUTABLE warns when a changed table is logged again
        self._first_logged: _LoggedTable | None = None  # IMMUTABLE: what every log of it stores
        self._logged_rows = 0  # INCREMENTAL: rows stored by earlier logs
        self._bound: tuple[str, str, str] | None = None  # INCREMENTAL: (project, run_id, key)
        self._increment_of: int | None = None  # INCREMENTAL: the step of the first increment
        self._last_step: int | None = None
        self._frame = None  # a DataFrame given whole: kept columnar, typed from its dtypes
        # The frame's columns as Arrow arrays, made once (typing a column converts it): what
        # every snapshot of the unchanged frame stores. Emptied when the frame becomes rows.
        self._frame_arrays: dict[str, Any] = {}
        self._rows: list[list[Any]] = []
        if data is not None and is_dataframe(data):
            data, dataframe = None, data  # W&B: data= may be a DataFrame
        if dataframe is not None:
            if data is not None:
                raise InvalidMediaError("ms.Table takes data= or dataframe=, not both")
            if not hasattr(dataframe, "columns") or not hasattr(dataframe, "iloc"):
                raise InvalidMediaTypeError(f"dataframe must be a pandas DataFrame, got {type(dataframe).__name__}")
            if len(dataframe) > Table.MAX_ROWS:
                raise _limit_error(len(dataframe), "the DataFrame")
            # pd.DataFrame(rows) labels columns 0, 1, ...: names are str here, in the frame too.
            self.columns = self._check_columns([str(c) if not isinstance(c, str) else c for c in dataframe.columns])
            self._set_checks(dtype, optional)
            frame = _own_frame(dataframe)
            if list(frame.columns) != self.columns:
                frame.columns = list(self.columns)
            if any(t is not None for t in self._declared.values()) or not all(self._optional.values()) or self._mixed:
                self._types = {c: None for c in self.columns}  # checked cell by cell, as add_data does
                for row in frame.itertuples(index=False, name=None):
                    self.add_data(*row)
                return
            self._frame = frame
            self._types = {c: self._frame_column_type(c, series) for c, series in frame.items()}  # labels are self.columns
            return
        self.columns = self._check_columns(list(columns) if columns is not None else ["Input", "Output", "Expected"])
        self._set_checks(dtype, optional)
        self._types: dict[str, Any] = dict(self._declared)
        if data is not None:
            if isinstance(data, np.ndarray):
                if data.ndim != 2:
                    raise InvalidMediaError(f"Table data array has shape {data.shape}; expected 2-D (rows, columns)")
            elif not isinstance(data, Sequence) or isinstance(data, (str, bytes)):
                raise InvalidMediaTypeError(f"data must be a list of rows, a 2-D numpy array or a DataFrame, got {type(data).__name__}")
            if len(data) > Table.MAX_ROWS:
                raise _limit_error(len(data), "data")
            for row in data:
                self.add_data(*row)

    def _set_checks(self, dtype: Any, optional: bool | list[bool]) -> None:
        dtypes = _per_column(dtype, self.columns, "dtype")
        optionals = _per_column(optional, self.columns, "optional")
        self._declared: dict[str, Any] = {}
        if not self._mixed:  # W&B: allow_mixed_types turns dtype checks off
            self._declared = {c: _dtype_tag(d, c) for c, d in zip(self.columns, dtypes)}
        else:
            self._declared = {c: None for c in self.columns}
        self._optional: dict[str, bool] = {c: bool(o) for c, o in zip(self.columns, optionals)}

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
    def _frame_column_type(self, column: str, series: Any) -> Any:
        kind = series.dtype.kind
        if kind == "b":
            return "bool"
        if kind in "iu":
            return "int"
        if kind == "f":
            return "float"
        if kind == "M":
            return "timestamp"
        if kind == "c":
            return "complex"
        inferred, array = _arrow_inferred_type(series)
        if inferred is not _UNKNOWN:
            if array is not None:
                self._frame_arrays[column] = array
            return inferred
        current = None  # mixed or media cells: per cell, to find media or name the bad cell
        for row, value in enumerate(series.tolist()):
            current = self._fit(current, value, row, column)
        return current

    def _fit(self, current: Any, value: Any, row: int, column: str) -> Any:
        """The column type after adding ``value``, or an error naming the cell."""
        if value is None and not self._optional.get(column, True):
            raise InvalidMediaTypeError(
                f"Table row {row} column {column!r} is None; the column was made with optional=False — "
                "give it a value, or pass optional=True"
            )
        if isinstance(value, float) and np.isnan(value) and current not in ("float", None):
            return current  # pandas' missing value in an object column
        new = _cell_type(value)
        if new in ("unsupported", "table"):
            raise InvalidMediaTypeError(
                f"Table row {row} column {column!r} has {value!r:.80} of type {type(value).__name__}; cells are numbers, str, "
                "bool, timestamps, lists, dicts, complex numbers, None, or media objects (ms.Image, ms.Audio, ...)"
            )
        if new in ("dict", "list") or (current == "json" and new is not None and not isinstance(new, type)):
            try:
                _json_text(value)
            except (TypeError, ValueError) as exc:
                raise InvalidMediaTypeError(
                    f"Table row {row} column {column!r} has {value!r:.80}, which cannot be stored as JSON ({exc}); "
                    "dict cells hold numbers, str, bools, None, lists and dicts"
                ) from None
        declared = self._declared.get(column)
        if declared is not None and new is not None and new != declared and not (declared == "float" and new == "int"):
            raise InvalidMediaTypeError(
                f"Table row {row} column {column!r} has {value!r:.80} ({_type_name(new)}); the column's dtype is "
                f"{_type_name(declared)} — pass a {_type_name(declared)}, or make the table with allow_mixed_types=True"
            )
        if new is None or current is None or new == current:
            return current if new is None else new
        if {new, current} == {"int", "float"}:
            return "float"
        if self._mixed and not isinstance(new, type) and not isinstance(current, type):
            return "json"  # several plain types in one column: kept as JSON text
        raise InvalidMediaTypeError(
            f"Table row {row} column {column!r} has {value!r:.80} ({_type_name(new)}); the column holds {_type_name(current)} "
            "— every cell of a column has one type (None is allowed anywhere)"
        )

    def add_data(self, *row: Any) -> None:
        """Append one row: one cell per column, in column order."""
        if not self.columns:
            raise InvalidMediaError("add_data on a table without columns; add_column first, or pass columns=")
        if len(row) != len(self.columns):
            raise InvalidMediaError(f"add_data got {len(row)} values; the table's columns are {self.columns} ({len(self.columns)})")
        if len(self) + 1 > Table.MAX_ROWS:
            raise _limit_error(len(self) + 1, "the table")
        index = len(self)
        types = {c: self._fit(self._types[c], v, index, c) for c, v in zip(self.columns, row)}
        self._materialise_rows()
        self._types = types
        self._rows.append(list(row))
        self._version += 1

    def add_row(self, *row: Any) -> None:
        """W&B's older name of `add_data`."""
        self.add_data(*row)

    def add_column(self, name: str, data: Sequence[Any], optional: bool = False) -> None:
        """Add a column with one value per existing row (any number of values when the table has
        no columns yet: W&B builds tables column by column from ``Table(columns=[], data=[])``).

        ``optional`` is W&B's: False (its default) refuses None in the new column.
        """
        if self.log_mode == "INCREMENTAL":
            raise InvalidMediaError(
                f"add_column {name!r} on a table with log_mode='INCREMENTAL'; its increments share one set of columns — "
                "give every column at construction, or use log_mode='MUTABLE'"
            )
        self._check_columns([*self.columns, name])
        data = list(data)
        first = not self.columns
        if first and len(data) > Table.MAX_ROWS:
            raise _limit_error(len(data), "the column")
        if not first and len(data) != len(self):
            raise InvalidMediaError(f"add_column {name!r} got {len(data)} values; the table has {len(self)} rows")
        self._optional[name] = bool(optional)
        self._declared[name] = None
        current = None
        try:
            for index, value in enumerate(data):
                current = self._fit(current, value, index, name)
        except BaseException:
            del self._optional[name], self._declared[name]
            raise
        self._materialise_rows()
        if first:
            self._rows = [[value] for value in data]
        else:
            for row, value in zip(self._rows, data):
                row.append(value)
        self.columns.append(name)
        self._types[name] = current
        self._version += 1

    def add_computed_columns(self, fn: Any) -> None:
        """W&B's: add the columns ``fn(index, row)`` computes, ``row`` a dict of the row's cells by
        column name; it returns a dict of the new columns' cells for that row, the same names for
        every row. The new columns are added as `add_column` adds them (None refused, as W&B's
        default ``optional=False``); a failure adds none of them."""
        if not callable(fn):
            raise InvalidMediaTypeError(f"add_computed_columns takes a function fn(index, row) -> dict, got {type(fn).__name__}")
        computed: dict[str, list] = {}
        for index, row in self.iterrows():
            cells = fn(index, dict(zip(self.columns, row)))
            if not isinstance(cells, Mapping):
                raise InvalidMediaTypeError(
                    f"add_computed_columns: fn returned a {type(cells).__name__} for row {index}; return a dict of the new "
                    "columns' values, e.g. {'area': row['w'] * row['h']}"
                )
            if index == 0:
                computed = {name: [] for name in cells}
            elif set(cells) != set(computed):
                raise InvalidMediaError(
                    f"add_computed_columns: fn returned columns {sorted(cells)} for row {index} and {sorted(computed)} for row 0; "
                    "return the same columns for every row"
                )
            for name, value in cells.items():
                computed[name].append(value)
        kept = (list(self.columns), [list(r) for r in self._rows], self._frame, dict(self._frame_arrays), dict(self._types),
                dict(self._optional), dict(self._declared), self._version)
        try:
            for name, values in computed.items():
                self.add_column(name, values)
        except BaseException:
            (self.columns, self._rows, self._frame, self._frame_arrays, self._types, self._optional, self._declared,
             self._version) = kept
            raise

    def _materialise_rows(self) -> None:
        if self._frame is not None:
            frame, self._frame = self._frame, None
            self._frame_arrays = {}
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

    def get_column(self, name: str, convert_to: Literal["numpy"] | None = None) -> Any:
        """The values of one column: a list, or with ``convert_to="numpy"`` a numpy array
        (media cells as their arrays where the type has ``to_numpy``)."""
        if name not in self.columns:
            raise InvalidMediaError(f"no column {name!r}; the columns are {self.columns}")
        if convert_to not in (None, "numpy"):
            raise InvalidMediaError(f"get_column convert_to={convert_to!r}; use None (a list) or 'numpy'")
        if self._frame is not None:
            values = self._frame[name].tolist()
        else:
            i = self.columns.index(name)
            values = [r[i] for r in self._rows]
        if convert_to is None:
            return values
        if isinstance(self._types.get(name), type):
            values = [v.to_numpy() if hasattr(v, "to_numpy") else v for v in values]
        return np.array(values)

    def iterrows(self) -> Iterator[tuple[int, list[Any]]]:
        """``(index, row)`` for each row, in order (W&B's ``iterrows``)."""
        yield from enumerate(self.data)

    def __eq__(self, other: object) -> bool:
        """Equal columns, column types and cells (NaN equals NaN; arrays compare by value)."""
        if not isinstance(other, Table):
            return NotImplemented
        if self.columns != other.columns or len(self) != len(other) or self.column_types != other.column_types:
            return False
        return all(_cells_equal(a, b) for r1, r2 in zip(self.data, other.data) for a, b in zip(r1, r2))

    __hash__ = None  # mutable, compared by value

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
    def _prepare(self, chart: dict[str, Any] | None = None) -> "_LoggedTable":
        """At run.log: check the limit again (it may have been lowered) and take a snapshot, so
        later changes to this table do not reach what was logged. Nothing about the table
        changes here: the call may still fail; `_LoggedTable._on_logged` records the log.
        ``chart``: the spec of the ``ms.plot`` chart this table is the data of (kept in the
        run's summary)."""
        snapshot = self._snapshot()
        if chart != snapshot.chart:
            if snapshot is self._first_logged:
                snapshot = copy.copy(snapshot)  # the same stored rows, with this log's chart
            snapshot.chart = chart
        return snapshot

    def _snapshot(self) -> "_LoggedTable":
        """What a log of the table stores: by its log_mode, a new snapshot or the first one."""
        if len(self) > Table.MAX_ROWS:
            raise _limit_error(len(self), "the table")
        if self.log_mode == "IMMUTABLE" and self._first_logged is not None:
            if self._version != self._first_logged.version:
                warnings.warn(
                    f"this ms.Table (log_mode='IMMUTABLE') changed after it was first logged ({self._first_logged.num_rows} rows "
                    f"then, {len(self)} now); logging it again logs its first contents, as W&B does — make it with "
                    "log_mode='MUTABLE' to log its current contents",
                    TableLogModeWarning,
                    stacklevel=4,
                )
            return self._first_logged
        if self.log_mode == "INCREMENTAL":
            return _LoggedTable(self, start=self._logged_rows)
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

    def __init__(self, table: Table, start: int | None = None):
        import threading

        import pyarrow as pa

        self.columns = list(table.columns)
        self._types = dict(table._types)
        self._arrow_columns: dict[str, Any] = {}
        self._media_cells: dict[str, list] = {}
        self.source = table
        self.version = table._version
        self.log_mode = table.log_mode
        self.start = start  # INCREMENTAL: the rows this snapshot holds begin here
        self.first_row: int | None = None  # set when logged
        self.increment_of: int | None = None
        self.total_rows = len(table)
        self._encoded: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self.chart: dict[str, Any] | None = None  # the ms.plot chart's spec, for the summary
        frame = table._frame
        if start:
            frame = frame.iloc[start:].reset_index(drop=True) if frame is not None else None
        rows = table._rows[start or 0:] if frame is None else None
        series = dict(frame.items()) if frame is not None else None
        made = table._frame_arrays if frame is not None and not start else {}  # arrays of the whole frame
        for i, name in enumerate(self.columns):
            t = self._types[name]
            values = series[name] if frame is not None else [r[i] for r in rows]
            if isinstance(t, type):
                cells = values.tolist() if frame is not None else values
                self._media_cells[name] = [None if c is None or (isinstance(c, float) and np.isnan(c)) else c._prepare() for c in cells]
                continue
            try:
                array = made.get(name)
                self._arrow_columns[name] = _stored_array(array, t) if array is not None else _arrow_column(values, t, frame is not None)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
                raise InvalidMediaTypeError(f"Table column {name!r} ({_type_name(t)}) cannot be stored: {exc}") from None
        self.num_rows = len(table) - (start or 0)
        # Without media cells the encoding is one Parquet write: cheaper on the caller's thread
        # than a hand-off to a worker (and a new thread's cold start); media cells encode in parallel.
        self.ENCODE_INLINE = not self._media_cells

    def _check_destination(self, project: str, run_id: str, key: str, step: int, *, in_list: bool) -> None:
        if self.log_mode != "INCREMENTAL":
            return
        table = self.source
        if in_list:
            raise InvalidMediaError(
                f"a table with log_mode='INCREMENTAL' in a list under {key!r}; its increments are found by key — log it under a key of its own"
            )
        if table._bound is not None and table._bound != (project, run_id, key):
            p, r, k = table._bound
            raise InvalidMediaError(
                f"this INCREMENTAL table continues {k!r} of run {r!r} (project {p!r}); it cannot also be logged under {key!r} of run "
                f"{run_id!r} — log a new ms.Table there, or use log_mode='MUTABLE'"
            )
        if table._last_step is not None and step <= table._last_step:
            raise InvalidMediaError(
                f"this INCREMENTAL table under {key!r} was last logged at step {table._last_step}; a new increment at step {step} "
                "would come before rows already stored — log it at a later step"
            )

    def _on_logged(self, project: str, run_id: str, key: str, step: int) -> None:
        table = self.source
        if self.log_mode == "IMMUTABLE" and table._first_logged is None:
            table._first_logged = self
        if self.log_mode != "INCREMENTAL":
            return
        # An earlier snapshot of this table may have been stored after this one was taken
        # (commit=False, then a later step): skip the rows it holds.
        skip = table._logged_rows - self.start
        if skip > 0:
            self._arrow_columns = {n: a.slice(skip) for n, a in self._arrow_columns.items()}
            self._media_cells = {n: c[skip:] for n, c in self._media_cells.items()}
            self.num_rows -= skip
            self.start = table._logged_rows
        if table._increment_of is None:
            table._increment_of = step
        self.first_row, self.increment_of = self.start, table._increment_of
        table._logged_rows, table._bound, table._last_step = self.total_rows, (project, run_id, key), step

    def _encode(self, location) -> dict[str, Any]:
        # IMMUTABLE tables logged again share a snapshot: encoded once.
        with self._lock:
            if self._encoded is None:
                self._encoded = self._encode_once(location)
            encoded = dict(self._encoded)
        encoded.update(log_mode=self.log_mode, first_row=self.first_row, increment_of=self.increment_of)
        return encoded

    def _encode_once(self, location) -> dict[str, Any]:
        import pyarrow as pa

        from ..schema import schema_for
        from ..storage import parquet_bytes

        arrays, media_kinds = [], {}
        codecs = {n: t for n, t in self._types.items() if t in ("json", "complex", "dict")}
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
        metadata = {_MEDIA_COLUMNS_META: json.dumps(media_kinds).encode()}
        if codecs:
            metadata[_CODECS_META] = json.dumps({n: "complex" if t == "complex" else "json" for n, t in codecs.items()}).encode()
        table = table.replace_schema_metadata(metadata)
        return {
            # As the store's own files: zstd, a dictionary for string columns only.
            "blob": location.put_blob(parquet_bytes(table), "application/vnd.apache.parquet"),
            "num_rows": self.total_rows,  # an increment: the table's rows up to it
            "num_columns": len(self.columns),
            "columns": list(self.columns),
            "column_types": [_type_name(self._types[c]) if self._types[c] is not None else "null" for c in self.columns],
        }

    def _summary(self) -> dict[str, Any]:
        summary = {"_kind": self.kind, "num_rows": self.total_rows, "columns": self.columns}
        if self.chart is not None:
            summary["chart"] = self.chart
        return summary


_UNKNOWN = object()


def _arrow_inferred_type(series) -> tuple[Any, Any]:
    """The column type of an object or string Series by Arrow's own inference (no per-cell
    Python loop), or _UNKNOWN when Arrow cannot type it (media cells, mixed types); and the
    Arrow array when it is what the column stores (a str column), else None."""
    import pyarrow as pa

    try:
        # In the system allocator's memory, as the table's Parquet is written (storage.parquet_bytes):
        # W4's 10,000-row frame logged in a fresh process took 6.31 ms instead of 6.72 (medians of
        # 16 processes, alternating with pyarrow's default pool).
        array = pa.array(series, from_pandas=True, memory_pool=pa.system_memory_pool())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError):
        return _UNKNOWN, None
    arrow_type = array.type
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "str", array
    if pa.types.is_boolean(arrow_type):
        return "bool", None
    if pa.types.is_integer(arrow_type):
        return "int", None
    if pa.types.is_floating(arrow_type):
        return "float", None
    if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
        return "timestamp", None
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return "list", None
    if pa.types.is_null(arrow_type):
        return None, None
    return _UNKNOWN, None


def _stored_array(array, type_: Any):
    """An array Arrow inferred for a frame's column, as the column of type ``type_`` stores it."""
    import pyarrow as pa

    return array.cast(pa.string()) if type_ == "str" and not pa.types.is_string(array.type) else array


def _cells_equal(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # lists holding arrays
        return False


def _complex_type():
    import pyarrow as pa

    global _COMPLEX
    if _COMPLEX is None:
        _COMPLEX = pa.struct([pa.field("real", pa.float64()), pa.field("imag", pa.float64())])
    return _COMPLEX


def _arrow_column(values: Any, type_: Any, from_frame: bool):
    import pyarrow as pa

    if type_ in ("dict", "json", "complex"):
        cells = values.tolist() if from_frame else values
        if type_ == "complex":
            return pa.array([None if v is None else {"real": float(v.real), "imag": float(v.imag)} for v in cells], type=_complex_type())
        return pa.array([None if v is None else _json_text(v) for v in cells], type=pa.string())

    if type_ == "int":
        return pa.array(values, type=pa.int64(), from_pandas=True)
    if type_ == "float":
        # NaN is data in a float column and stays NaN; only None becomes NULL. No copy: the
        # frame is the Table's own copy, which nothing changes in place.
        if from_frame and values.dtype.kind == "f":
            return pa.array(values.to_numpy(dtype=np.float64, copy=False))
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
    codecs = json.loads((arrow.schema.metadata or {}).get(_CODECS_META, b"{}"))
    frame = arrow.to_pandas()
    for column, codec in codecs.items():
        cells = arrow.column(column).to_pylist()
        if codec == "complex":
            frame[column] = [None if c is None else complex(c["real"], c["imag"]) for c in cells]
        else:
            frame[column] = [None if c is None else json.loads(c) for c in cells]
    for column, kind in media.items():
        cells = arrow.column(column).to_pylist()
        if decode:
            cls = media_type(kind)
            cells = [None if c is None else cls._from_row(c, location) for c in cells]
        frame[column] = cells
    return frame
