"""Arrow arrays built from numpy buffers, without ``pa.array``.

``pa.array`` asks pyarrow's pandas shim whether its argument is a pandas object, and the shim
imports pandas to answer (0.2 s) if pandas is installed. The writer's hot path and a run's
finish use these instead, so that a script that never touches pandas never imports it.
"""

from __future__ import annotations

from ._lazy import np, pa

__all__ = ["numeric", "strings", "decoded", "repeated", "int64_values"]


def numeric(values: np.ndarray, type_: pa.DataType) -> pa.Array:
    """A fixed-width array (ints, floats, timestamps) over ``values`` (no nulls), zero-copy
    when ``values`` already has the type's layout."""
    dtype = np.dtype("int64") if pa.types.is_timestamp(type_) else np.dtype(type_.to_pandas_dtype())
    values = np.ascontiguousarray(values, dtype=dtype)
    return pa.Array.from_buffers(type_, len(values), [None, pa.py_buffer(values)])


def _joined(names: list[str]) -> tuple[bytes, np.ndarray, np.ndarray]:
    """The names' UTF-8 bytes one after another, and each name's length and start in them."""
    encoded = [n.encode() for n in names]
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    starts = np.zeros(len(encoded), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    return b"".join(encoded), lengths, starts


def _string_array(offsets: np.ndarray, data) -> pa.Array:
    """A string array from int64 ``offsets`` (one more than the strings) into ``data``."""
    if offsets[-1] >= 2**31:
        raise ValueError(f"{len(offsets) - 1} strings of {offsets[-1]} bytes do not fit one Arrow string array (2 GiB)")
    return pa.Array.from_buffers(pa.string(), len(offsets) - 1, [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)])


def strings(values: list[str]) -> pa.Array:
    """A string array of ``values`` (no nulls)."""
    return repeated(values, 1)


def decoded(codes: np.ndarray, names: list[str]) -> pa.Array:
    """The string array ``names[codes]``, gathered in numpy (a dictionary array's ``cast`` to
    string would load pyarrow's compute kernels at a process's first call: 30 ms)."""
    joined, lengths, starts = _joined(names)
    row_lengths = lengths[codes]
    offsets = np.zeros(len(codes) + 1, dtype=np.int64)
    np.cumsum(row_lengths, out=offsets[1:])
    # Byte i of row r comes from byte (i - offsets[r]) of its name: one repeat and one gather.
    source = np.repeat(starts[codes] - offsets[:-1], row_lengths) + np.arange(offsets[-1])
    return _string_array(offsets, np.frombuffer(joined, dtype=np.uint8)[source])


def repeated(names: list[str], times: int) -> pa.Array:
    """The string array ``names * times`` (a training loop's keys, the same every step)."""
    unit, _, starts = _joined(names)
    offsets = np.empty(len(names) * times + 1, dtype=np.int64)
    offsets[:-1] = (starts[None, :] + len(unit) * np.arange(times, dtype=np.int64)[:, None]).ravel()
    offsets[-1] = len(unit) * times
    return _string_array(offsets, unit * times)


def int64_values(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """The values of an int64 column without nulls, as numpy (``to_numpy`` would import pandas)."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    parts = [np.frombuffer(c.buffers()[1], dtype=np.int64, count=len(c), offset=c.offset * 8) for c in chunks if len(c)]
    if not parts:
        return np.empty(0, dtype=np.int64)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)
