"""The writer of one run: buffers rows per table, encodes media on background workers, and
writes each table's rows as Parquet files that cover a step range.

Knows no media type: a media item is anything with ``kind`` and ``_encode(location)``.
Blobs are written by the encode workers before the rows that point at them are flushed.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import pyarrow as pa

from .schema import schema_for, table_names
from .settings import Settings
from .storage import StoreLocation

__all__ = ["RunWriter"]


class _Buffer:
    """Rows of one table waiting to be written. Scalars and texts keep one tuple per log call
    ``(step, logged_at_us, keys, values)``, expanded into columns on the I/O thread, so the
    hot path is a single append; media rows hold a Future of their encoded part."""

    __slots__ = ("calls", "media", "rows", "nbytes", "since")

    def __init__(self) -> None:
        self.calls: list[tuple[int, int, tuple, tuple]] = []
        self.media: list[tuple[int, str, int, int, Future | dict]] = []
        self.rows = 0
        self.nbytes = 0
        self.since = time.monotonic()


def _value_columns(table: str, calls: list[tuple[int, int, tuple, tuple]], total: int) -> list[pa.Array]:
    """Columns step, key, value|text, logged_at from per-call tuples.

    Keys are dictionary-encoded per distinct key tuple (training loops repeat the same keys
    every step), so no per-row Python string handling is needed."""
    n = len(calls)
    counts = np.fromiter((len(c[2]) for c in calls), dtype=np.int64, count=n)
    steps = np.repeat(np.fromiter((c[0] for c in calls), dtype=np.int64, count=n), counts)
    times = np.repeat(np.fromiter((c[1] for c in calls), dtype=np.int64, count=n), counts)
    dictionary: dict[str, int] = {}
    patterns: dict[tuple, np.ndarray] = {}
    codes_per_call = []
    for _, _, keys, _ in calls:
        codes = patterns.get(keys)
        if codes is None:
            codes = patterns[keys] = np.array([dictionary.setdefault(k, len(dictionary)) for k in keys], dtype=np.int32)
        codes_per_call.append(codes)
    codes = np.concatenate(codes_per_call) if codes_per_call else np.empty(0, np.int32)
    key = pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(list(dictionary), pa.string())).cast(pa.string())
    flat = itertools.chain.from_iterable(c[3] for c in calls)
    if table == "scalars":
        value = pa.array(np.fromiter(flat, dtype=np.float64, count=total))
    else:
        value = pa.array(list(flat), type=pa.string())
    return [pa.array(steps), key, value, pa.array(times).cast(pa.timestamp("us"))]


class RunWriter:
    """Writes the rows of one run under ``<table>/project=<p>/run=<r>/``."""

    def __init__(self, location: StoreLocation, project: str, run_id: str, settings: Settings):
        self.location = location
        self.project = project
        self.run_id = run_id
        self.settings = settings
        self._token = uuid.uuid4().hex[:8]  # tells this writer's files from another's (resume)
        self._seq = 0
        self._lock = threading.Lock()
        self._buffers: dict[str, _Buffer] = {}
        self._encoders = ThreadPoolExecutor(settings.encode_workers, thread_name_prefix="mediastore-encode")
        self._io = ThreadPoolExecutor(1, thread_name_prefix="mediastore-io")
        self._slots = threading.BoundedSemaphore(settings.max_inflight)
        self._pending_writes: list[Future] = []
        self.tables_written: set[str] = set()  # tables this writer made files in
        self._error: BaseException | None = None
        self._closed = threading.Event()
        self._timer = threading.Thread(target=self._flush_on_time, name="mediastore-timer", daemon=True)
        self._timer.start()

    # -- adding rows (caller's thread) ------------------------------------------------------
    def add_values(self, table: str, step: int, logged_at_us: int, keys: tuple, values: tuple, nbytes: int) -> None:
        """Rows of ``scalars`` or ``texts``: one per key, all at ``step``. The tuples are kept as given."""
        with self._lock:
            buf = self._buffers.get(table)
            if buf is None:
                buf = self._buffers[table] = _Buffer()
            buf.calls.append((step, logged_at_us, keys, values))
            buf.rows += len(keys)
            buf.nbytes += nbytes
            full = buf.rows >= self.settings.flush_rows or buf.nbytes >= self.settings.flush_bytes
        if full:
            self.flush(table)

    def add_media(self, step: int, logged_at_us: int, key: str, idx: int, item) -> None:
        """One media row; its encoding starts now on a worker. Waits while too many are queued."""
        self.raise_pending_error()
        if item.ENCODE_INLINE:
            future = item._encode(self.location)  # the row itself: no hand-off, no Future
        else:
            self._slots.acquire()
            try:
                future = self._encoders.submit(item._encode, self.location)
            except BaseException:
                self._slots.release()
                raise
            future.add_done_callback(lambda _: self._slots.release())
        table = item.kind
        with self._lock:
            buf = self._buffers.get(table)
            if buf is None:
                buf = self._buffers[table] = _Buffer()
            buf.media.append((step, key, idx, logged_at_us, future))
            buf.rows += 1
            full = buf.rows >= self.settings.flush_rows
        if full:
            self.flush(table)

    # -- flushing ---------------------------------------------------------------------------
    def flush(self, table: str | None = None) -> None:
        """Hand the buffered rows of ``table`` (or of every table) to the I/O thread."""
        with self._lock:
            names = [table] if table is not None else list(self._buffers)
            taken = [(name, self._buffers.pop(name)) for name in names if name in self._buffers]
        for name, buf in taken:
            self._pending_writes.append(self._io.submit(self._write, name, buf))
        self._pending_writes = [f for f in self._pending_writes if not f.done() or f.exception() is not None]

    def _flush_on_time(self) -> None:
        interval = self.settings.flush_seconds
        while not self._closed.wait(min(interval / 2, 1.0)):
            now = time.monotonic()
            with self._lock:
                due = [name for name, buf in self._buffers.items() if now - buf.since >= interval]
            for name in due:
                self.flush(name)

    def _write(self, table: str, buf: _Buffer) -> None:
        try:
            arrow = self._to_arrow(table, buf)
            if arrow.num_rows == 0:
                return
            steps = arrow.column("step").to_numpy()
            if np.any(steps[1:] < steps[:-1]):
                arrow = arrow.sort_by("step")  # stable: rows of one step keep their logging order
                steps = arrow.column("step").to_numpy()
            with self._lock:
                self._seq += 1
                seq = self._seq
            name = f"{int(steps[0]):012d}-{int(steps[-1]):012d}-{self._token}-{seq:06d}.parquet"
            path = "/".join((self.location.partition_dir(table, self.project, self.run_id), name))
            self.location.write_parquet(path, arrow)
            self.tables_written.add(table)
        except BaseException as exc:  # surfaced to the caller at the next log or at finish
            self._error = self._error or exc
            raise

    def _to_arrow(self, table: str, buf: _Buffer) -> pa.Table:
        schema = schema_for(table).file_schema
        if not buf.media:
            return pa.table(_value_columns(table, buf.calls, buf.rows), schema=schema)
        rows = []
        for step, key, idx, logged_at, future in buf.media:
            row = future.result() if isinstance(future, Future) else future
            row.update(step=step, key=key, idx=idx, logged_at=logged_at)
            rows.append(row)
        rows_table = pa.Table.from_pylist(rows, schema=schema.remove_metadata())
        return rows_table.replace_schema_metadata(schema.metadata)

    def raise_pending_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def close(self) -> None:
        """Flush everything, wait for every write, stop the threads. Raises a write error."""
        self.flush()
        self._closed.set()
        self._encoders.shutdown(wait=True)
        self._io.shutdown(wait=True)
        self._timer.join()
        self.raise_pending_error()

    def steps_on_disk(self) -> int | None:
        """The highest step in this run's files of any table, from the file names alone."""
        last = None
        for table in table_names():
            if table == "runs":
                continue
            for path in self.location.list_files(self.location.partition_dir(table, self.project, self.run_id)):
                parts = path.rsplit("/", 1)[-1].split("-")
                if len(parts) >= 2 and parts[1].isdigit():
                    last = max(last or 0, int(parts[1]))
        return last
