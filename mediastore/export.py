"""Getting media out of a store: a query's rows exported to files, a Hugging Face dataset,
WebDataset shards or one video per run, and streamed, decoded, to a training loop.

What is exported is the rows of one SQL query (``store.sql``). Its media are found by column
type, never by name of a view: a view's ``blob`` struct (images, audio, videos, html, objects3d,
molecules, tables, media), a logged table's media cells (structs with a ``blob``, as
``tables."<key>"`` returns them) and an image's ``masks``. The rules:

- **Bytes are the original ones.** Each is read by a ranged read of its object and checked
  against its sha256 (a mismatch raises `BlobNotFoundError`). Reads of blobs close together in
  one pack are coalesced into one ranged read (a span of at most `SPAN_BYTES`, gaps of at most
  `GAP_BYTES`), and spans are read in parallel: on a bucket, a few large GETs instead of a GET
  per image. Exports do not go through the local file cache (an export is read once).
- **Names come from the rows**, ``<project>/<run_id>/<key>/<step>-<idx><ext>``; a key is a user
  string, so it is escaped to one safe path component (every byte but letters, digits, ``_``
  and ``-`` as ``%XX``; a long one cut and suffixed with a hash). Rows without those columns
  are named by their position in the result.
- **Every output appears whole**: written under a temporary name (a leading dot), then
  renamed. The folder's state file (`STATE_FILE`) records the query, its parameters, the
  format and options. Run the same export again and what is complete is skipped (files:
  each file of the right size; hf, webdataset: each shard; mp4: each video); the catalogue
  files (``metadata.parquet``, ``dataset_info.json``) are written last, so a folder that has
  them is a finished export.
- **A folder is never mixed up.** An output folder that exists and is not empty must be an
  export of the same query, format and options (then it is resumed); an export of something
  else is replaced only with ``overwrite=True``; a folder without the state file is never
  written into or deleted.

Knows no media type by class: it decodes by mime type (Pillow, soundfile, PyAV).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import shutil
import sys
import tarfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ._deps import require
from .errors import BlobNotFoundError, ExportExistsError, InvalidExportError, NoMediaColumnError
from .storage import StoreLocation, extension_of

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from .query import Store

__all__ = ["export", "iter_media", "ExportReport", "FORMATS", "STATE_FILE", "METADATA_FILE"]

FORMATS = ("files", "hf", "webdataset", "mp4")
ExportFormat = Literal["files", "hf", "webdataset", "mp4"]
#: The export's own record in its folder: what was asked, to resume it or refuse a mix-up.
STATE_FILE = ".mediastore-export.json"
#: The rows of a files or mp4 export, with the exported files' relative paths (``file_name``,
#: the column Hugging Face's ``imagefolder`` loader reads).
METADATA_FILE = "metadata.parquet"
#: Coalesced reads: blobs of one object closer than GAP_BYTES are read in one ranged request of
#: at most SPAN_BYTES. A pack is 16 MiB (Settings.pack_bytes): a few spans read a pack whole,
#: and the gap (paid in bytes read for nothing) is a fraction of one round trip at 100 MB/s.
SPAN_BYTES = 8 * 1024**2
GAP_BYTES = 256 * 1024
#: Rows' bytes fetched ahead of what is being written; bounds memory.
CHUNK_BYTES = 64 * 1024**2
#: Default shard size of the hf and webdataset formats: large enough that a reader's per-file
#: costs vanish, small enough to spread over workers (the HF Hub suggests a few hundred MB).
DEFAULT_SHARD_SIZE = "256MB"
_STATE_VERSION = 1
_SAFE = re.compile(rb"[A-Za-z0-9_-]")
_MAX_COMPONENT = 120


# -- names -----------------------------------------------------------------------------------
def escape_component(text: str) -> str:
    """A user string (a key, a mask name, a column name) as one safe file name component:
    letters, digits, ``_`` and ``-`` stay, every other byte of its UTF-8 becomes ``%XX`` (so no
    ``/``, ``..``, leading dot or a dot a WebDataset reader would split at). Longer than 120
    characters: cut, then ``~`` and 16 hex digits of its sha1 keep it unique."""
    raw = str(text).encode("utf-8")
    out = "".join(chr(b) if _SAFE.fullmatch(bytes([b])) else f"%{b:02X}" for b in raw) or "%00"
    if len(out) > _MAX_COMPONENT:
        out = out[:100] + "~" + hashlib.sha1(raw).hexdigest()[:16]
    return out


def _stem(row: Mapping[str, Any], position: int) -> str:
    """``<project>/<run_id>/<key>/<step>-<idx>`` from whichever of those the row has."""
    parts = [escape_component(row[c]) for c in ("project", "run_id", "key") if row.get(c) is not None]
    step = row.get("step")
    index = row.get("idx", row.get("row"))
    if step is None and index is None:
        leaf = f"{position:09d}"
    else:
        leaf = "-".join(f"{int(v):09d}" if n == "step" else str(int(v)) for n, v in (("step", step), ("i", index)) if v is not None)
    return "/".join([*parts, leaf])


# -- finding media in a query's columns --------------------------------------------------------
def _is_blob_type(t) -> bool:
    import pyarrow as pa

    return pa.types.is_struct(t) and {"uri", "sha256", "length"} <= {f.name for f in t}


@dataclass
class _MediaColumn:
    name: str
    cell: bool  # a table's media cell (a struct holding a blob) rather than a view's blob

    def blob(self, value: Any) -> dict | None:
        if value is None:
            return None
        blob = value.get("blob") if self.cell else value
        return blob if blob and blob.get("uri") else None


def _media_columns(schema: "pa.Schema") -> list[_MediaColumn]:
    import pyarrow as pa

    found = []
    for f in schema:
        if _is_blob_type(f.type):
            found.append(_MediaColumn(f.name, cell=False))
        elif pa.types.is_struct(f.type) and f.type.get_field_index("blob") >= 0 and _is_blob_type(f.type.field("blob").type):
            found.append(_MediaColumn(f.name, cell=True))
    return found


def _has_masks(schema: "pa.Schema") -> bool:
    import pyarrow as pa

    if "masks" not in schema.names:
        return False
    t = schema.field("masks").type
    return pa.types.is_list(t) and pa.types.is_struct(t.value_type) and t.value_type.get_field_index("blob") >= 0


def _require_media(schema: "pa.Schema", query: str) -> list[_MediaColumn]:
    columns = _media_columns(schema)
    if not columns:
        raise NoMediaColumnError(
            f"the query's rows have no media column: its columns are {schema.names}, none a blob struct "
            f"(a view's 'blob' or a table's media cell); select it, e.g. SELECT *, or SELECT blob, ... FROM images "
            f"(query: {query!r})"
        )
    return columns


# -- the pieces one row exports -------------------------------------------------------------
@dataclass
class _Piece:
    """One file of a row: where it goes (relative), the blob it holds, what it is in the row."""

    rel: str
    blob: dict
    column: str  # the media column, or "masks"
    mask: str | None = None


@dataclass
class _Row:
    position: int
    values: dict
    stem: str
    pieces: list[_Piece] = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        return sum(int(p.blob["length"]) for p in self.pieces)


def _plan_rows(rows: list[dict], columns: list[_MediaColumn], masks: bool) -> list[_Row]:
    planned, seen = [], set()
    for i, values in enumerate(rows):
        stem = _stem(values, i)
        if stem in seen:  # the same row twice (a join): keep both, apart
            stem = f"{stem}-{i}"
        seen.add(stem)
        row = _Row(i, values, stem)
        for col in columns:
            blob = col.blob(values.get(col.name))
            if blob is not None:
                suffix = f".{escape_component(col.name)}" if col.cell else ""
                row.pieces.append(_Piece(f"{stem}{suffix}{extension_of(blob.get('mime'))}", blob, col.name))
        if masks:
            for mask in values.get("masks") or []:
                blob = mask.get("blob")
                if blob and blob.get("uri"):
                    name = escape_component(mask.get("name") or "")
                    row.pieces.append(_Piece(f"{stem}.mask_{name}{extension_of(blob.get('mime'))}", blob, "masks", mask.get("name")))
        planned.append(row)
    return planned


# -- reading blobs: coalesced ranged reads, checked ----------------------------------------
class _BlobReader:
    """Reads many blobs of a store: those of one object close together in one ranged read,
    spans in parallel on ``pool``, each blob checked against its sha256."""

    def __init__(self, location: StoreLocation, pool: ThreadPoolExecutor):
        self.location, self.pool = location, pool

    @staticmethod
    def spans(blobs: Sequence[dict]) -> list[tuple[str, int, int, list[int]]]:
        """``(uri, start, end, indices of blobs)`` covering ``blobs``."""
        by_uri: dict[str, list[int]] = {}
        for i, b in enumerate(blobs):
            by_uri.setdefault(b["uri"], []).append(i)
        spans = []
        for uri, indices in by_uri.items():
            indices.sort(key=lambda i: int(blobs[i].get("offset") or 0))
            current: list[int] = []
            start = end = 0
            for i in indices:
                off = int(blobs[i].get("offset") or 0)
                stop = off + int(blobs[i]["length"])
                if current and off - end <= GAP_BYTES and max(end, stop) - start <= SPAN_BYTES:
                    current.append(i)
                    end = max(end, stop)
                    continue
                if current:
                    spans.append((uri, start, end, current))
                current, start, end = [i], off, stop
            if current:
                spans.append((uri, start, end, current))
        return spans

    def _read_span(self, span, blobs) -> list[tuple[int, bytes]]:
        uri, start, end, indices = span
        try:
            data = self.location.fs.cat_file(self.location.path(uri), start=start, end=end)
        except FileNotFoundError:
            raise BlobNotFoundError(
                f"blob {uri!r} is not in the store at {self.location.uri}; was the store copied without its blobs/ folder?"
            ) from None
        out = []
        for i in indices:
            b = blobs[i]
            off = int(b.get("offset") or 0) - start
            piece = data[off:off + int(b["length"])]
            if b.get("sha256") and hashlib.sha256(piece).hexdigest() != b["sha256"]:
                raise BlobNotFoundError(f"blob {uri!r} at offset {b.get('offset')} does not match its sha256: the object is damaged")
            out.append((i, piece))
        return out

    def submit(self, blobs: Sequence[dict]) -> list[Future]:
        return [self.pool.submit(self._read_span, s, blobs) for s in self.spans(blobs)]

    @staticmethod
    def collect(futures: list[Future], n: int) -> list[bytes]:
        out: list[Any] = [None] * n
        for f in futures:
            for i, piece in f.result():
                out[i] = piece
        return out

    def read(self, blobs: Sequence[dict]) -> list[bytes]:
        return self.collect(self.submit(blobs), len(blobs))


def _chunks(rows: list[_Row], max_bytes: int = CHUNK_BYTES, max_rows: int = 2048) -> Iterator[list[_Row]]:
    chunk: list[_Row] = []
    size = 0
    for r in rows:
        if chunk and (size + r.nbytes > max_bytes or len(chunk) >= max_rows):
            yield chunk
            chunk, size = [], 0
        chunk.append(r)
        size += r.nbytes
    if chunk:
        yield chunk


def _read_ahead(reader: _BlobReader, groups: list[list[_Row]]) -> Iterator[tuple[list[_Row], list[list[bytes]]]]:
    """Each group of rows with its pieces' bytes; the next group's reads already in flight."""
    def start(group):
        blobs = [p.blob for r in group for p in r.pieces]
        return reader.submit(blobs), len(blobs)

    pending = start(groups[0]) if groups else None
    for k, group in enumerate(groups):
        futures, n = pending
        pending = start(groups[k + 1]) if k + 1 < len(groups) else None
        flat = iter(reader.collect(futures, n))
        yield group, [[next(flat) for _ in r.pieces] for r in group]


# -- the output folder ------------------------------------------------------------------------
def _write_atomic(path: str, data: bytes) -> None:
    directory, name = os.path.split(path)
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{name}.part-{uuid.uuid4().hex[:8]}")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _prepare_out(out: str, state: dict, overwrite: bool) -> bool:
    """Make ``out`` ready; True if it holds this export already, unfinished or not (resume)."""
    state_path = os.path.join(out, STATE_FILE)
    if os.path.exists(out) and not os.path.isdir(out):
        raise ExportExistsError(f"export output {out!r} is a file; pass a folder (new or empty) to export into")
    if os.path.isdir(out) and os.listdir(out):
        try:
            with open(state_path) as fh:
                old = json.load(fh)
        except (OSError, ValueError):
            raise ExportExistsError(
                f"export output {out!r} is a folder that is not empty and not a mediastore export (it has no {STATE_FILE}); "
                "nothing in it is touched: pass a new or empty folder"
            ) from None
        same = {k: old.get(k) for k in ("format", "query", "params", "options")} == {k: state[k] for k in ("format", "query", "params", "options")}
        if same and old.get("rows_digest") != state.get("rows_digest") and not overwrite:
            # Shards are cut from the rows in order: other rows would shift every shard after them.
            raise ExportExistsError(
                f"export output {out!r} holds an unfinished or earlier {state['format']} export of this query, but the query's rows "
                "have changed since (rows were logged or removed); pass overwrite=True (--overwrite) to export them again"
            )
        if same and old.get("rows_digest") == state.get("rows_digest"):
            return True
        if not overwrite:
            raise ExportExistsError(
                f"export output {out!r} holds an export of {old.get('query')!r} (format {old.get('format')!r}, options "
                f"{old.get('options')}), not of this one; pass overwrite=True (--overwrite) to replace it, or another folder"
            )
        shutil.rmtree(out)
    os.makedirs(out, exist_ok=True)
    _write_atomic(state_path, json.dumps(state, indent=1, default=str).encode())
    return False


def _mark_complete(out: str, state: dict) -> None:
    _write_atomic(os.path.join(out, STATE_FILE), json.dumps({**state, "complete": True}, indent=1, default=str).encode())


# -- progress ---------------------------------------------------------------------------------
class _Progress:
    """tqdm on stderr when it is installed, else a line on stderr every 2 s; or nothing."""

    def __init__(self, total: int, unit: str, enabled: bool, desc: str):
        self.bar = None
        self.enabled = enabled
        self.total, self.unit, self.desc, self.done = total, unit, desc, 0
        self.last = -math.inf
        if enabled:
            try:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=total, unit=unit, desc=desc, file=sys.stderr, leave=False)
            except ImportError:
                pass

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.enabled and (time.monotonic() - self.last > 2 or self.done >= self.total):
            self.last = time.monotonic()
            print(f"{self.desc}: {self.done}/{self.total} {self.unit}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# -- the report -------------------------------------------------------------------------------
@dataclass
class ExportReport:
    """What an export did.

    Attributes
    ----------
    out : str
        The output folder.
    format : str
    rows : int
        Rows of the query.
    written : int
        Outputs written by this call: files (files format), shards (hf, webdataset) or videos
        (mp4), not counting the catalogue files.
    skipped : int
        Outputs a previous run had written completely, left as they were.
    bytes_read : int
        Media bytes read from the store by this call.
    seconds : float
    """

    out: str
    format: str
    rows: int = 0
    written: int = 0
    skipped: int = 0
    bytes_read: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        rate = self.bytes_read / 1e6 / self.seconds if self.seconds else 0.0
        return (f"exported {self.rows} rows to {self.out} ({self.format}): {self.written} written, {self.skipped} already there, "
                f"{self.bytes_read / 1e6:.1f} MB read in {self.seconds:.2f} s ({rate:.1f} MB/s)")


# -- options ----------------------------------------------------------------------------------
def parse_shard_size(value: int | str) -> tuple[str, int]:
    """``("samples", n)`` for an int, ``("bytes", n)`` for a size string like ``"256MB"``."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidExportError(f"shard_size={value!r} is not allowed: pass a number of samples (an int >= 1) or a size such as '256MB'")
    if isinstance(value, int) or value.strip().isdigit():
        n = int(value)
        if n < 1:
            raise InvalidExportError(f"shard_size={value!r} is not allowed: a number of samples must be >= 1")
        return "samples", n
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b\s*", value.lower())
    if not match or float(match[1]) <= 0:
        raise InvalidExportError(f"shard_size={value!r} is not a size: write a number of samples (1000) or bytes with a unit (256MB, 1GiB, 500kB)")
    base = 1024 if match[3] else 1000
    return "bytes", max(1, int(float(match[1]) * base ** " kmgt".index(match[2] or " ")))


def _shards(rows: list[_Row], sizes: list[int], shard: tuple[str, int]) -> list[list[_Row]]:
    """Rows cut into consecutive shards of at most ``shard`` samples or bytes (a row larger
    than a byte limit gets a shard of its own)."""
    unit, limit = shard
    out: list[list[_Row]] = [[]]
    total = 0
    for row, size in zip(rows, sizes):
        cost = 1 if unit == "samples" else size
        if out[-1] and total + cost > limit:
            out.append([])
            total = 0
        out[-1].append(row)
        total += cost
    return [s for s in out if s]


# -- the entry point --------------------------------------------------------------------------
def export(store: "Store", query: str, out: str | os.PathLike, *, format: ExportFormat = "files", params: Any = None,
           shard_size: int | str = DEFAULT_SHARD_SIZE, fps: float = 10.0, workers: int | None = None,
           overwrite: bool = False, progress: bool = True) -> ExportReport:
    """Export the media of a query's rows to a folder. See `Store.export` for the parameters."""
    if format not in FORMATS:
        raise InvalidExportError(f"export format {format!r} is not known; use one of {list(FORMATS)}")
    if not isinstance(fps, (int, float)) or isinstance(fps, bool) or not fps > 0:
        raise InvalidExportError(f"fps={fps!r} is not allowed: frames per second of the mp4, a number > 0")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise InvalidExportError(f"workers={workers!r} is not allowed: pass an int >= 1 or None")
    shard = parse_shard_size(shard_size) if format in ("hf", "webdataset") else None
    out = os.path.abspath(os.fspath(out))
    started = time.perf_counter()
    table = store.sql(query, params).to_arrow_table()
    columns = _require_media(table.schema, query)
    if format == "mp4":
        _check_mp4_columns(table.schema, columns)
    masks = _has_masks(table.schema)
    rows = _plan_rows(table.to_pylist(), columns, masks and format in ("files", "webdataset"))
    options = {"shard_size": shard_size if shard else None, "fps": fps if format == "mp4" else None}
    state = {"version": _STATE_VERSION, "format": format, "query": query, "params": params, "options": options, "rows": len(rows)}
    if format in ("hf", "webdataset"):
        digest = hashlib.sha256()
        for r in rows:
            digest.update(json.dumps([r.stem, [p.blob.get("sha256") for p in r.pieces]]).encode())
        state["rows_digest"] = digest.hexdigest()
    state = json.loads(json.dumps(state, default=str))  # as it reads back from the file (tuples as lists)
    if format == "mp4":
        groups = _mp4_groups(rows)  # errors before anything is written
    resumed = _prepare_out(out, state, overwrite)
    report = ExportReport(out=out, format=format, rows=len(rows))
    location = store.location
    if workers is None:
        workers = 4 if location.is_local or location.protocol == "memory" else 16
    with ThreadPoolExecutor(workers, thread_name_prefix="ms-export") as pool:
        reader = _BlobReader(location, pool)
        if format == "files":
            _export_files(out, table, rows, columns, masks, reader, pool, report, progress, resumed)
        elif format == "hf":
            _export_hf(out, table, rows, columns, masks, reader, shard, report, progress)
        elif format == "webdataset":
            _export_webdataset(out, table, rows, columns, reader, shard, report, progress)
        else:
            _export_mp4(out, groups, reader, fps, report, progress)
    _mark_complete(out, state)
    report.seconds = time.perf_counter() - started
    return report


# -- format: files ----------------------------------------------------------------------------
def _export_files(out, table, rows, columns, masks, reader, pool, report, progress, resumed) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    todo = []
    for r in rows:
        keep = []
        for p in r.pieces:
            path = os.path.join(out, p.rel)
            if resumed and os.path.isfile(path) and os.path.getsize(path) == int(p.blob["length"]):
                report.skipped += 1
            else:
                keep.append(p)
        if keep:
            todo.append(_Row(r.position, r.values, r.stem, keep))
    bar = _Progress(sum(len(r.pieces) for r in todo), "files", progress, "export")
    try:
        for group, data in _read_ahead(reader, list(_chunks(todo))):
            writes = [pool.submit(_write_atomic, os.path.join(out, p.rel), d)
                      for r, ds in zip(group, data) for p, d in zip(r.pieces, ds)]
            for w in writes:
                w.result()
            n = sum(len(r.pieces) for r in group)
            report.written += n
            report.bytes_read += sum(len(d) for ds in data for d in ds)
            bar.update(n)
    finally:
        bar.close()
    # The catalogue: every column of the query plus where each file went.
    for col in columns:
        name = "file_name" if not col.cell else f"{col.name}_file_name"
        if name in table.schema.names:
            raise InvalidExportError(f"the query has a column {name!r}, which the export adds (the files' paths); rename it in the query")
        paths = [next((p.rel for p in r.pieces if p.column == col.name), None) for r in rows]
        table = table.append_column(name, pa.array(paths, pa.string()))
    if masks:
        mask_type = pa.list_(pa.struct([("name", pa.string()), ("file_name", pa.string())]))
        listed = [[{"name": p.mask, "file_name": p.rel} for p in r.pieces if p.column == "masks"] for r in rows]
        table = table.append_column("mask_file_names", pa.array(listed, mask_type))
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    _write_atomic(os.path.join(out, METADATA_FILE), sink.getvalue().to_pybytes())


# -- format: webdataset -----------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    import datetime as dt

    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, tuple) and len(v) == 2 for v in value):  # an Arrow map
            return {str(k): _jsonable(v) for k, v in value}
        return [_jsonable(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _tar_member_size(name: str, size: int) -> int:
    info = tarfile.TarInfo(name)
    info.size = size
    return len(info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")) + -(-size // 512) * 512


def _export_webdataset(out, table, rows, columns, reader, shard, report, progress) -> None:
    media = {c.name for c in columns}
    documents = []
    for r in rows:
        doc = {k: _jsonable(v) for k, v in r.values.items() if k not in media}
        documents.append(json.dumps(doc, sort_keys=True).encode())
    sizes = [sum(_tar_member_size(p.rel, int(p.blob["length"])) for p in r.pieces) + _tar_member_size(f"{r.stem}.json", len(d))
             for r, d in zip(rows, documents)]
    doc_of = {r.position: d for r, d in zip(rows, documents)}
    if shard[0] == "bytes":
        shard = ("bytes", max(1, shard[1] - 1024))  # the end-of-archive blocks
    shards = _shards(rows, sizes, shard)
    width = max(6, len(str(len(shards))))
    bar = _Progress(len(shards), "shards", progress, "export")
    try:
        for k, group in enumerate(shards):
            path = os.path.join(out, f"shard-{k:0{width}d}.tar")
            if os.path.isfile(path):
                report.skipped += 1
                bar.update()
                continue
            data = reader.read([p.blob for r in group for p in r.pieces])
            report.bytes_read += sum(len(d) for d in data)
            buffer = io.BytesIO()
            flat = iter(data)
            with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
                for r in group:
                    # A sample's files side by side: <stem>.json, then its media, as WebDataset groups them.
                    for name, payload in [(f"{r.stem}.json", doc_of[r.position]), *((p.rel, next(flat)) for p in r.pieces)]:
                        info = tarfile.TarInfo(name)
                        info.size, info.mode, info.mtime = len(payload), 0o644, 0
                        tar.addfile(info, io.BytesIO(payload))
            _write_atomic(path, buffer.getvalue())
            report.written += 1
            bar.update()
    finally:
        bar.close()


# -- format: hf -------------------------------------------------------------------------------
def _maps_as_lists(array: "pa.Array") -> "pa.Array":
    """An Arrow array with every map turned into a list of {key, value} structs (its storage):
    ``datasets`` has no feature for Arrow maps (the class labels of masks, box scores)."""
    import pyarrow as pa

    t = array.type
    if not _has_map(t):
        return array
    if isinstance(array, pa.ChunkedArray):
        return pa.chunked_array([_maps_as_lists(c) for c in array.chunks])
    mask = array.is_null() if array.null_count else None
    if pa.types.is_map(t):
        entries = pa.StructArray.from_arrays([_maps_as_lists(array.keys), _maps_as_lists(array.items)], names=["key", "value"])
        return pa.ListArray.from_arrays(array.offsets, entries, mask=mask)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        cls = pa.LargeListArray if pa.types.is_large_list(t) else pa.ListArray
        return cls.from_arrays(array.offsets, _maps_as_lists(array.values), mask=mask)
    if pa.types.is_struct(t):
        children = [_maps_as_lists(c) for c in array.flatten()]
        return pa.StructArray.from_arrays(children, names=[f.name for f in t], mask=mask)
    raise InvalidExportError(f"cannot convert a column of type {t} for format='hf'; leave it out of the query")


def _has_map(t) -> bool:
    import pyarrow as pa

    if pa.types.is_map(t):
        return True
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _has_map(t.value_type)
    if pa.types.is_struct(t):
        return any(_has_map(f.type) for f in t)
    return False


def _hf_feature(datasets, mimes: set[str], column: str):
    families = {m.split("/", 1)[0] for m in mimes}
    if len(families) > 1:
        raise InvalidExportError(
            f"format='hf' needs one media type per column; column {column!r} holds {sorted(mimes)}: "
            "filter the query to one kind (WHERE kind = 'images', or one view)"
        )
    family = families.pop() if families else "image"
    return {"image": datasets.Image, "audio": datasets.Audio, "video": datasets.Video}.get(family, lambda: datasets.Value("binary"))(), family


def _export_hf(out, table, rows, columns, masks, reader, shard, report, progress) -> None:
    import pyarrow as pa

    datasets = require("datasets", "hf", "store.export(format='hf')")
    from datasets import Features

    # Media columns become features with their bytes inside: a view's blob is named for its
    # kind (image, audio, video; data for others), a table's media cell keeps its name.
    media_names: dict[str, str] = {}
    features_of: dict[str, Any] = {}
    for col in columns:
        mimes = {p.blob.get("mime") or "" for r in rows for p in r.pieces if p.column == col.name}
        feature, family = _hf_feature(datasets, mimes, col.name)
        name = col.name if col.cell else (family if family in ("image", "audio", "video") else "data")
        if name in table.schema.names and name != col.name:
            raise InvalidExportError(f"the query has a column {name!r}, which format='hf' names its media column; rename it in the query")
        media_names[col.name], features_of[name] = name, feature
    kept = [n for n in table.schema.names if n not in media_names and not (masks and n == "masks")]
    base = pa.table({n: _maps_as_lists(table.column(n)) for n in kept}) if kept else None
    features = {}
    for col in columns:
        features[media_names[col.name]] = features_of[media_names[col.name]]
    if base is not None:
        features.update(Features.from_arrow_schema(base.schema))
    if masks:
        labels = datasets.List({"key": datasets.Value("int32"), "value": datasets.Value("string")})
        features["masks"] = datasets.List({"name": datasets.Value("string"), "mask": datasets.Image(), "class_labels": labels})
    features = Features(features)
    schema = features.arrow_schema
    # Masks ride along with the image: read with it, as pieces of the row.
    if masks:
        for r in rows:
            for i, mask in enumerate(r.values.get("masks") or []):
                blob = mask.get("blob")
                if blob and blob.get("uri"):
                    r.pieces.append(_Piece(f"{r.stem}.mask_{escape_component(mask.get('name') or '')}.png", blob, "masks", f"{i}"))
    sizes = [r.nbytes for r in rows]
    shards = _shards(rows, sizes, shard) or [[]]
    names = [f"data-{k:05d}-of-{len(shards):05d}.arrow" for k in range(len(shards))]
    bar = _Progress(len(shards), "shards", progress, "export")
    try:
        for k, group in enumerate(shards):
            path = os.path.join(out, names[k])
            if os.path.isfile(path):
                report.skipped += 1
                bar.update()
                continue
            data = reader.read([p.blob for r in group for p in r.pieces])
            report.bytes_read += sum(len(d) for d in data)
            flat = iter(data)
            by_row = [{(p.column, p.mask): (p.rel, next(flat)) for p in r.pieces} for r in group]
            arrays = {}
            for col in columns:
                cells = [({"bytes": got[1], "path": os.path.basename(got[0])} if (got := pieces.get((col.name, None))) else None)
                         for pieces in by_row]
                arrays[media_names[col.name]] = cells
            if masks:
                arrays["masks"] = [
                    [{"name": m.get("name"), "mask": {"bytes": pieces[("masks", str(i))][1], "path": None} if ("masks", str(i)) in pieces else None,
                      "class_labels": [{"key": int(a), "value": b} for a, b in (m.get("class_labels") or [])]}
                     for i, m in enumerate(r.values.get("masks") or [])]
                    for r, pieces in zip(group, by_row)
                ]
            positions = pa.array([r.position for r in group], pa.int64())
            part = {n: pa.array(v, schema.field(n).type) for n, v in arrays.items()}
            if base is not None:
                taken = base.take(positions)
                part.update({n: taken.column(n) for n in taken.schema.names})
            shard_table = pa.table({n: part[n] for n in schema.names}, schema=schema)
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, schema) as writer:  # the stream format save_to_disk writes
                writer.write_table(shard_table)
            _write_atomic(path, sink.getvalue().to_pybytes())
            report.written += 1
            bar.update()
    finally:
        bar.close()
    info = {"citation": "", "description": "", "features": features.to_dict(), "homepage": "", "license": ""}
    _write_atomic(os.path.join(out, "dataset_info.json"), json.dumps(info, indent=2).encode())
    hf_state = {"_data_files": [{"filename": n} for n in names], "_fingerprint": uuid.uuid4().hex[:16],
                "_format_columns": None, "_format_kwargs": {}, "_format_type": None, "_output_all_columns": False, "_split": None}
    _write_atomic(os.path.join(out, "state.json"), json.dumps(hf_state, indent=2).encode())


# -- format: mp4 ------------------------------------------------------------------------------
def _check_mp4_columns(schema, columns) -> None:
    missing = [c for c in ("project", "run_id", "step", "key") if c not in schema.names]
    if missing or [c.name for c in columns] != ["blob"]:
        raise InvalidExportError(
            f"format='mp4' makes one video per run of an image key over steps; the query's columns {schema.names} "
            f"lack {missing or ['one blob column (a view of images)']}: SELECT * FROM images WHERE key = '...'"
        )


@dataclass
class _Film:
    project: str
    run_id: str
    key: str
    rows: list[_Row]


def _mp4_groups(rows: list[_Row]) -> list[_Film]:
    films: dict[tuple, _Film] = {}
    for r in rows:
        v = r.values
        if not r.pieces:
            continue
        mime = r.pieces[0].blob.get("mime") or ""
        if not mime.startswith("image/"):
            raise InvalidExportError(f"format='mp4' needs image rows; row {r.stem!r} holds {mime!r}: SELECT * FROM images WHERE key = '...'")
        film = films.setdefault((v["project"], v["run_id"]), _Film(v["project"], v["run_id"], v["key"], []))
        if v["key"] != film.key:
            raise InvalidExportError(
                f"format='mp4' makes one video per run from one image key; run {v['run_id']!r} has keys "
                f"{sorted({film.key, v['key']})} in the query: add WHERE key = '...'"
            )
        film.rows.append(r)
    for film in films.values():
        film.rows.sort(key=lambda r: (int(r.values["step"]), int(r.values.get("idx") or 0)))
        steps = [int(r.values["step"]) for r in film.rows]
        doubled = sorted({s for s in steps if steps.count(s) > 1})
        if doubled:
            raise InvalidExportError(
                f"format='mp4' takes one image per step; run {film.run_id!r} key {film.key!r} has several at steps {doubled[:5]} "
                "(a list of images under one key): add WHERE idx = 0 (or the position you want)"
            )
    return list(films.values())


def _frame(data: bytes):
    import numpy as np
    import PIL.Image

    with PIL.Image.open(io.BytesIO(data)) as pil:
        return np.asarray(pil.convert("RGB"))


def _export_mp4(out, films, reader, fps, report, progress) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    av = require("av", "video", "store.export(format='mp4')")
    bar = _Progress(len(films), "videos", progress, "export")
    listed = []
    try:
        for film in films:
            rel = f"{escape_component(film.project)}/{escape_component(film.run_id)}/{escape_component(film.key)}.mp4"
            path = os.path.join(out, rel)
            steps = [int(r.values["step"]) for r in film.rows]
            first = None
            if os.path.isfile(path):
                report.skipped += 1
            else:
                data = reader.read([r.pieces[0].blob for r in film.rows])
                report.bytes_read += sum(len(d) for d in data)
                frames = [_frame(d) for d in data]
                first = frames[0].shape
                odd = [(s, f.shape[:2]) for s, f in zip(steps, frames) if f.shape != first]
                if odd:
                    raise InvalidExportError(
                        f"format='mp4' needs frames of one size; run {film.run_id!r} key {film.key!r} has {first[0]}x{first[1]} "
                        f"at step {steps[0]} but {odd[0][1][0]}x{odd[0][1][1]} at step {odd[0][0]}: select steps of one size "
                        "(frames are not resized, which would change the pixels)"
                    )
                _encode_mp4(av, np, path, frames, fps)
                report.written += 1
            listed.append({"project": film.project, "run_id": film.run_id, "key": film.key, "frames": len(steps),
                           "steps": steps, "fps": float(fps), "file_name": rel})
            bar.update()
    finally:
        bar.close()
    table = pa.Table.from_pylist(listed, schema=pa.schema([("project", pa.string()), ("run_id", pa.string()), ("key", pa.string()),
                                                          ("frames", pa.int64()), ("steps", pa.list_(pa.int64())),
                                                          ("fps", pa.float64()), ("file_name", pa.string())]))
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    _write_atomic(os.path.join(out, METADATA_FILE), sink.getvalue().to_pybytes())


def _encode_mp4(av, np, path: str, frames: list, fps: float) -> None:
    """H.264 in yuv420p (what browsers play), which needs even sizes: an odd width or height
    gets one more column or row, a copy of the last."""
    from fractions import Fraction

    h, w = frames[0].shape[:2]
    pad = ((0, h % 2), (0, w % 2), (0, 0))
    directory, name = os.path.split(path)
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{name}.part-{uuid.uuid4().hex[:8]}")
    with av.open(tmp, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height, stream.pix_fmt = w + w % 2, h + h % 2, "yuv420p"
        stream.options = {"crf": "18"}
        for f in frames:
            if h % 2 or w % 2:
                f = np.pad(f, pad, mode="edge")
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    os.replace(tmp, path)


# -- streaming to a training loop -------------------------------------------------------------
def decode_bytes(data: bytes, mime: str | None) -> Any:
    """Media bytes as arrays, by mime type: an image as ``(H, W)`` or ``(H, W, C)`` (as stored,
    like ``Image.to_numpy``), audio as float32 ``(samples,)`` or ``(samples, channels)``, a
    video as uint8 ``(frames, H, W, 3)``; anything else stays bytes."""
    import numpy as np

    mime = mime or ""
    if mime.startswith("image/"):
        import PIL.Image

        with PIL.Image.open(io.BytesIO(data)) as pil:
            return np.array(pil)  # a writable copy: torch.from_numpy warns on a read-only array
    if mime.startswith("audio/"):
        sf = require("soundfile", "audio", "Decoding audio")
        samples, _ = sf.read(io.BytesIO(data), dtype="float32")
        return samples
    if mime.startswith("video/"):
        av = require("av", "video", "Decoding video")
        with av.open(io.BytesIO(data)) as container:
            return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    return data


def _load_row(location: StoreLocation, values: dict, columns: list[_MediaColumn], masks: bool, decode: bool) -> dict:
    item = dict(values)
    for col in columns:
        blob = col.blob(values.get(col.name))
        target = "data" if not col.cell else f"{col.name}_data"
        if blob is None:
            item[target] = None
            continue
        data = location.get_blob(blob)
        item[target] = decode_bytes(data, blob.get("mime")) if decode else data
    if masks:
        item["mask_data"] = {}
        for mask in values.get("masks") or []:
            blob = mask.get("blob")
            if blob and blob.get("uri"):
                data = location.get_blob(blob)
                item["mask_data"][mask.get("name")] = decode_bytes(data, blob.get("mime")) if decode else data
    return item


def iter_media(store: "Store", query: str, *, params: Any = None, decode: bool = True, prefetch: int = 16,
               shard: tuple[int, int] | None = None, workers: int | None = None) -> Iterator[dict]:
    """Rows of a query with their media read (and decoded), in order. See `Store.iter_media`."""
    if isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 1:
        raise InvalidExportError(f"prefetch={prefetch!r} is not allowed: the number of rows read ahead, an int >= 1")
    if shard is not None:
        ok = isinstance(shard, tuple) and len(shard) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in shard)
        if not ok or not 0 <= shard[0] < shard[1]:
            raise InvalidExportError(f"shard={shard!r} is not allowed: pass (index, count) with 0 <= index < count, e.g. a DataLoader worker's (id, num_workers)")
    table = store.sql(query, params).to_arrow_table()
    columns = _require_media(table.schema, query)
    masks = _has_masks(table.schema)
    rows = table.to_pylist()
    if shard is not None:
        rows = rows[shard[0]::shard[1]]
    return _iterate(store.location, rows, columns, masks, decode, prefetch, workers or min(prefetch, 16))


def _iterate(location, rows, columns, masks, decode, prefetch, workers) -> Iterator[dict]:
    from collections import deque

    pool = ThreadPoolExecutor(workers, thread_name_prefix="ms-iter")
    try:
        pending: deque[Future] = deque()
        it = iter(rows)
        for values in it:
            pending.append(pool.submit(_load_row, location, values, columns, masks, decode))
            if len(pending) >= prefetch:
                break
        while pending:
            item = pending.popleft().result()
            nxt = next(it, None)
            if nxt is not None:
                pending.append(pool.submit(_load_row, location, nxt, columns, masks, decode))
            yield item
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
