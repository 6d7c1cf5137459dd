"""Where things live: the store root over fsspec, names that become paths, and blobs.

Knows no media type. Layout (DESIGN.md)::

    <root>/_mediastore.json
    <root>/<table>/project=<p>/run=<r>/<first step>-<last step>-<writer id>.parquet
    <root>/blobs/<sha256[:2]>/<sha256[2:]><ext>
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import threading
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._lazy import pa, pq
from .errors import BlobNotFoundError, InvalidNameError, MediaStoreError

if TYPE_CHECKING:
    import fsspec

__all__ = ["StoreLocation", "validate_name", "partition_of", "blob_path", "extension_of", "parquet_bytes", "DEFAULT_STORE",
           "FORMAT_VERSION"]


#: Below this many bytes of data a file is written plain: no compression, no dictionary.
SMALL_FILE_BYTES = 2048


def parquet_bytes(table: pa.Table) -> bytes:
    """A table as the bytes of one Parquet file, as the store writes them (zstd, statistics:
    see `statistics_columns`).

    A table of under ``SMALL_FILE_BYTES`` (a batch of a few rows: a logged table's row, a
    run's last steps) is written plain. Its pages are a few bytes each, and a zstd frame and a
    dictionary page per column cost more than they save: one ``tables`` row wrote in 0.28 ms
    instead of 0.62, and the file was 7 % smaller.

    Written with the system allocator: with pyarrow's default (mimalloc), a writer thread's
    first big write took 25-30 ms more in half of the fresh processes measured (a run's finish
    took 45 ms instead of 20), and never less than with the system one."""
    sink = pa.BufferOutputStream(memory_pool=pa.system_memory_pool())
    _write_parquet(sink, table)
    return sink.getvalue().to_pybytes()


def _write_parquet(sink, table: pa.Table) -> None:
    """``table`` into ``sink`` (an Arrow output stream) as `parquet_bytes` describes."""
    pool = pa.system_memory_pool()
    if table.nbytes < SMALL_FILE_BYTES:
        options = {"compression": "none", "use_dictionary": False}
    else:
        options = {"compression": "zstd", "use_dictionary": dictionary_columns(table.schema),
                   "column_encoding": delta_columns(table.schema) or None}
    with pq.ParquetWriter(sink, table.schema, write_statistics=statistics_columns(table.schema), memory_pool=pool,
                          **options) as writer:
        writer.write_table(table)

DEFAULT_STORE = "./mediastore-data"
#: 1: rows and blobs. 2 (adds to 1, which it reads as it is): the runs index,
#: ``runs/project=<p>/_index/`` (catalog.py). 3 (adds to 2): the data tables' project files,
#: ``<table>/project=<p>/_index/``, which a reader of 2 would take for run files. 4 (adds to 3):
#: a resumed run's compaction rewrites the run's published file under its own name, and the
#: indexes record each published file's version (catalog.py), which a reader of 3, caching by
#: name, would miss. 5 (adds to 4): blob garbage collection's marks (``.gc/``, blobgc.py), which
#: every writer must honour before it points a row at a standalone blob; a writer of 4 would not.
#: A store is marked with the version when such a file is first written.
FORMAT_VERSION = 5
#: The store marker at the root: its presence makes a folder a store; it holds the format version.
MARKER = "_mediastore.json"

# Names become directory names (project=<p>/run=<r>): no separators, no '=', no '..', no
# leading dot (hidden files), and short enough for every filesystem and S3 key.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")

_EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/bmp": ".bmp",
    "image/tiff": ".tiff",
    "image/webp": ".webp",
    "text/html": ".html",
    "application/vnd.apache.parquet": ".parquet",
    "application/x-npy": ".npy",
    "application/x-pts+json": ".pts.json",
    "model/obj": ".obj",
    "model/gltf+json": ".gltf",
    "model/gltf-binary": ".glb",
    "model/vnd.babylon+json": ".babylon",
    "model/stl": ".stl",
    "chemical/x-pdb": ".pdb",
    "chemical/x-pqr": ".pqr",
    "chemical/x-mmcif": ".mmcif",
    "chemical/x-cif": ".cif",
    "chemical/x-mdl-sdfile": ".sdf",
    "chemical/x-gro": ".gro",
    "chemical/x-mol2": ".mol2",
    "chemical/x-mmtf": ".mmtf",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
    "video/ogg": ".ogv",
    "audio/wav": ".wav",
    "audio/flac": ".flac",
    "audio/ogg": ".ogg",
    "audio/mpeg": ".mp3",
}


def validate_name(value: Any, what: str) -> str:
    """Check that a project or run name is safe as one path component; return it."""
    if not isinstance(value, str):
        raise InvalidNameError(f"{what} must be a str, got {type(value).__name__} {value!r}")
    if not _NAME.fullmatch(value) or ".." in value:
        raise InvalidNameError(
            f"{what} {value!r} is not allowed: use 1 to 128 letters, digits, '_', '-' or '.', "
            "starting with a letter, digit or '_', without '..' (it becomes a directory name)"
        )
    return value


def extension_of(mime: str | None) -> str:
    """The file extension (with its dot) of a blob's mime type; ``.bin`` for an unknown one."""
    return _EXTENSIONS.get(mime or "", ".bin")


def blob_path(digest: str, mime: str) -> str:
    """The content-addressed path of a blob stored alone, relative to the store root."""
    return f"blobs/{digest[:2]}/{digest[2:]}{_EXTENSIONS.get(mime, '.bin')}"


def partition_of(path: str) -> tuple[str, str]:
    """(project, run_id) of a file or directory path inside ``<table>/project=<p>/run=<r>/``."""
    path = path.rstrip("/")
    start = path.rfind("/project=") + len("/project=")
    middle = path.find("/run=", start)
    if start < len("/project=") or middle < 0:  # not below <table>/project=<p>/run=<r>: as before, StopIteration
        parts = path.split("/")
        project = next(p for p in reversed(parts) if p.startswith("project="))
        run = next(p for p in reversed(parts) if p.startswith("run="))
        return project.split("=", 1)[1], run.split("=", 1)[1]
    end = path.find("/", middle + 5)
    return path[start:middle], path[middle + 5 : end if end >= 0 else None]


def _one_request(fs) -> dict[str, Any]:
    """``cat_file`` options that read a whole file with one GET: s3fs (2026.9 here) first asks for
    the size with a HEAD, to read a file of over 50 MB in parallel parts, unless told to read it
    in one part (the files mediastore reads whole are small: the store marker, records, gc marks).
    Releases without that option send no HEAD: nothing to pass."""
    return {"max_concurrency": 1} if _takes_max_concurrency(type(fs)) else {}


@functools.lru_cache(maxsize=None)
def _takes_max_concurrency(fs_class: type) -> bool:
    import inspect

    cat_file = getattr(fs_class, "_cat_file", None)
    try:
        return cat_file is not None and "max_concurrency" in inspect.signature(cat_file).parameters
    except (TypeError, ValueError):
        return False


def _split_uri(uri: str, storage_options: Mapping | None) -> tuple[fsspec.AbstractFileSystem | None, str, str]:
    """(filesystem, root path, protocol). A local folder without options gets None: fsspec
    (40 ms to import) is imported when something first asks `StoreLocation.fs`, and a run that
    only logs to a folder never does."""
    uri = os.fspath(uri)
    protocol = uri.split("://", 1)[0] if "://" in uri else "file"
    if protocol == "file" and not storage_options:
        path = uri[len("file://"):] if uri.startswith("file://") else uri
        # What fsspec's LocalFileSystem makes of it: the user's ~ expanded, absolute, posix.
        return None, os.path.abspath(os.path.expanduser(path)).replace(os.sep, "/").rstrip("/"), protocol
    import fsspec

    if protocol == "s3":
        from ._deps import require

        require("s3fs", "s3", "A store on s3://")
    options = dict(storage_options or {})
    if protocol not in ("file", "memory"):
        # Other processes add files all the time: a cached listing would hide them, and
        # fsspec answers info()/exists() from it (DuckDB calls both for every file it reads).
        options.setdefault("use_listings_cache", False)
    if protocol in ("s3", "s3a"):
        # Readers fetch many files at once (cache.FETCH_WORKERS): botocore's default pool of 10
        # connections would queue them.
        config = dict(options.get("config_kwargs") or {})
        config.setdefault("max_pool_connections", 64)
        options["config_kwargs"] = config
    fs, path = fsspec.core.url_to_fs(uri, **options)
    if protocol == "file":
        path = os.path.abspath(path)
    return fs, path.rstrip("/"), protocol


def _leaves(path: str, type_: pa.DataType, *, in_lists: bool = True):
    """(Parquet column path, Arrow type) of every leaf column under ``path``, named as pyarrow
    names them in a file (``bins.list.element``, ``blob.uri``, ``labels.key_value.key``).
    ``in_lists=False``: only those outside lists and maps (fixed-size ones too)."""
    if pa.types.is_struct(type_):
        for field in type_:
            yield from _leaves(f"{path}.{field.name}", field.type, in_lists=in_lists)
    elif pa.types.is_map(type_):
        if in_lists:
            yield from _leaves(f"{path}.key_value.key", type_.key_type)
            yield from _leaves(f"{path}.key_value.value", type_.item_type)
    elif pa.types.is_list(type_) or pa.types.is_large_list(type_) or pa.types.is_fixed_size_list(type_):
        if in_lists:  # pyarrow writes a fixed-size list as a list
            yield from _leaves(f"{path}.list.element", type_.value_type)
    else:
        yield path, type_


def delta_columns(schema: pa.Schema) -> dict[str, str]:
    """Integer and timestamp leaf columns, delta-encoded (DELTA_BINARY_PACKED, which pyarrow,
    DuckDB, Spark and Trino read). Steps, times, offsets and counts rise or stay small, so
    their differences pack into a few bits before zstd:

    - a histogram's counts: 2,000 histograms wrote in 3.7 ms instead of 5.7, 2 % smaller;
    - a scalars file of 100,000 rows (step and logged_at): 6.7 ms instead of 8.0, 18 % smaller;
    - a table's id column of 10,000 rows: 0.13 ms instead of 0.30, 0.5 kB instead of 11 kB.

    Random 64-bit integers (hashes) gain nothing: 0.33 ms instead of 0.16 for 10,000, 1 %
    larger; they are rare in what is logged."""
    return {
        path: "DELTA_BINARY_PACKED"
        for field in schema
        for path, type_ in _leaves(field.name, field.type)
        if pa.types.is_integer(type_) or pa.types.is_timestamp(type_) or pa.types.is_date(type_)
    }


def statistics_columns(schema: pa.Schema) -> list[str] | bool:
    """The leaf columns that get min/max statistics: all but those inside a list or a map. A
    reader prunes row groups by a column's range (DuckDB by ``step``; `RunWriter.steps_on_disk`
    reads it), which no reader does by the range of all the elements of a list. 2,000
    histograms (edges and counts as lists) wrote in 4.23 ms without those statistics, 4.60
    with them (medians of 40, alternating); a W3 run in the peer harness moved within its noise."""
    return [path for field in schema for path, _ in _leaves(field.name, field.type, in_lists=False)] or False


def dictionary_columns(schema: pa.Schema) -> list[str]:
    """The leaf columns worth dictionary encoding: strings (keys, runs, mime types, labels
    repeat). Numbers are left plain: steps, times, values and bin edges rarely repeat, so
    pyarrow's default of trying a dictionary on every column wrote scalars and histograms
    1.6-2.3x slower and 20-35 % larger (zstd compresses the plain pages better)."""
    return [
        path
        for field in schema
        for path, type_ in _leaves(field.name, field.type)
        if pa.types.is_string(type_) or pa.types.is_large_string(type_) or pa.types.is_binary(type_)
        or pa.types.is_dictionary(type_)
    ]


class StoreLocation:
    """The root of a store: an fsspec filesystem plus a path on it.

    Parameters
    ----------
    uri : str or os.PathLike
        A local path or an fsspec URI (``file://``, ``memory://``, ``s3://``).
    storage_options : mapping, optional
        Passed to the fsspec filesystem (credentials, ``endpoint_url``, ...).
    cache : bool, str or os.PathLike, optional
        The local file cache of an object store (cache.py): False turns it off, a path places
        it; None (default) follows ``$MEDIASTORE_CACHE``. Local and memory stores have none.
    """

    def __init__(self, uri: str | os.PathLike, storage_options: Mapping | None = None, *,
                 cache: bool | str | os.PathLike | None = None):
        self.uri = os.fspath(uri)
        self.storage_options = dict(storage_options or {})
        self._fs, self.root, self.protocol = _split_uri(self.uri, self.storage_options)
        self.is_local = self.protocol == "file"
        self._known_blobs: set[str] = set()
        self._lock = threading.Lock()
        self._cache_setting = cache
        self._cache: Any = None
        # The format version this object last read in the store's marker, or wrote there. Markers
        # only go up: once it is this library's, raise_format_version needs no request.
        self._format_seen = 0

    @property
    def fs(self) -> "fsspec.AbstractFileSystem":
        """The fsspec filesystem of the store (a local folder's is made when first asked)."""
        if self._fs is None:
            import fsspec

            self._fs = fsspec.filesystem("file")
        return self._fs

    @property
    def cache(self):
        """The `cache.FileCache` of an object store, or None (local and memory stores, or off)."""
        if self._cache is None:
            from .cache import FileCache, cache_root

            root = None if self.is_local or self.protocol == "memory" else cache_root(self._cache_setting)
            self._cache = False if root is None else FileCache(self.fs, self.root, self.protocol, root)
        return self._cache or None

    # -- paths ---------------------------------------------------------------------------
    def path(self, *parts: str) -> str:
        return "/".join((self.root, *parts))

    def url(self, path: str) -> str:
        """A path as DuckDB and pyarrow name it: plain for local files, with the protocol else."""
        if self.is_local or "://" in path:
            return path
        return f"{self.protocol}://{path.lstrip('/')}" if self.protocol != "memory" else f"memory://{path}"

    def partition_dir(self, table: str, project: str, run_id: str) -> str:
        return self.path(table, f"project={project}", f"run={run_id}")

    # -- the store marker ----------------------------------------------------------------
    def read_marker(self) -> bytes | None:
        """The store marker's bytes, or None where there is no store."""
        try:
            return self.read_bytes(self.path(MARKER))
        except FileNotFoundError:
            return None

    def read_bytes(self, path: str) -> bytes:
        """A whole file's bytes (a local one without fsspec), in one request on a bucket."""
        if self.is_local:
            with open(path, "rb") as fh:
                return fh.read()
        return self.fs.cat_file(path, **_one_request(self.fs))

    def ensure_initialized(self) -> None:
        marker = self.read_marker()
        if marker is not None:
            doc = json.loads(marker)
            self._format_seen = int(doc.get("format_version", 0))
            if self._format_seen > FORMAT_VERSION:
                raise MediaStoreError(
                    f"the store at {self.uri} has format version {doc['format_version']}, newer than this "
                    f"mediastore understands ({FORMAT_VERSION}); upgrade mediastore"
                )
            return
        if self.is_local:
            os.makedirs(self.root, exist_ok=True)
        else:
            self.fs.makedirs(self.root, exist_ok=True)
        self._write_marker()

    def raise_format_version(self) -> None:
        """Mark the store as of this version before writing what an older reader would misread
        (older writers then refuse it, with a message to upgrade). Files of earlier versions
        stay as they are: this version reads them. No request when this object has seen the
        marker at this version already (a run's ``ms.init`` read it: a HEAD and a GET saved at
        each compaction of the run's finish on a bucket)."""
        if self._format_seen >= FORMAT_VERSION:
            return
        marker = self.read_marker()
        self._format_seen = 0 if marker is None else int(json.loads(marker).get("format_version", 0))
        if self._format_seen < FORMAT_VERSION:
            self._write_marker()

    def _write_marker(self) -> None:
        """Mark the store with this library's format version, and remember that it is."""
        self.write_bytes(self.path(MARKER), json.dumps({"format_version": FORMAT_VERSION}).encode())
        self._format_seen = FORMAT_VERSION

    # -- atomic writes -------------------------------------------------------------------
    @staticmethod
    def _temporary_name(path: str) -> str:
        """A temporary name beside ``path`` (its folder made). A leading dot: other engines
        (Spark, Trino, pyarrow) skip it while it is written."""
        os.makedirs(os.path.dirname(path), exist_ok=True)
        directory, name = os.path.split(path)
        return os.path.join(directory, f".{name}.tmp-{uuid.uuid4().hex[:8]}")

    @staticmethod
    def _local_temporary(path: str, data: bytes) -> str:
        """``data`` written beside ``path`` under a temporary name, which is returned."""
        tmp = StoreLocation._temporary_name(path)
        with open(tmp, "wb") as fh:
            fh.write(data)
        return tmp

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write a whole object so that no reader ever sees part of it."""
        if self.is_local:
            os.replace(self._local_temporary(path, data), path)
        else:
            # One PUT: object stores show an object whole or not at all.
            self.fs.pipe_file(path, data)

    def create_bytes(self, path: str, data: bytes) -> bool:
        """Write a whole object only if nothing is at ``path`` yet (one create-only request on
        an object store, ``If-None-Match: *``); False if something was. For content-addressed
        names, where what is there already is the same bytes."""
        if self.is_local:
            tmp = self._local_temporary(path, data)
            try:
                os.link(tmp, path)  # fails if the name exists: the local create-only
                return True
            except FileExistsError:
                return False
            finally:
                os.unlink(tmp)
        try:
            self.fs.pipe_file(path, data, mode="create")
            return True
        except FileExistsError:
            return False

    def write_parquet(self, path: str, table: pa.Table) -> None:
        """``table`` as one Parquet file at ``path``, whole or not at all (as `write_bytes`).

        A local folder's file is written by the Parquet writer straight into its temporary
        file: no copy of it in memory, then another as bytes. For a fresh process's file of
        2,000 histograms that was 420 page faults instead of 1,250 and 7.0 ms instead of
        10.7 (medians of 12; the bytes' way took 15-34 ms in 4 of them)."""
        if not self.is_local:
            self.write_bytes(path, parquet_bytes(table))
            return
        tmp = self._temporary_name(path)
        try:
            with pa.OSFile(tmp, "wb") as sink:
                _write_parquet(sink, table)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def list_files(self, directory: str, suffix: str = ".parquet") -> list[str]:
        try:
            names = self.fs.ls(directory, detail=False)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if n.endswith(suffix))

    # -- blobs ---------------------------------------------------------------------------
    def put_blob(self, data: bytes, mime: str) -> dict:
        """Store bytes alone, content-addressed, at once (a run's writer packs them instead, see
        packer.py); the same bytes are stored once. Returns a blob struct."""
        digest = hashlib.sha256(data).hexdigest()
        rel = blob_path(digest, mime)
        if digest not in self._known_blobs:
            self.create_bytes(self.path(rel), data)
            with self._lock:
                self._known_blobs.add(digest)
        return {"uri": rel, "offset": 0, "length": len(data), "sha256": digest, "mime": mime}

    def get_blob(self, blob: Mapping) -> bytes:
        """The bytes a blob struct points at, checked against its sha256 (on every read, also
        from the local cache). On an object store: one ranged GET, then none from the cache."""
        full = self.path(blob["uri"])
        offset, length = int(blob.get("offset") or 0), blob.get("length")
        cache, digest = self.cache, blob.get("sha256")
        if cache is not None:
            data = cache.blob(digest)
            if data is not None and hashlib.sha256(data).hexdigest() == digest:
                return data
        try:
            if offset == 0 and length is None:
                data = self.fs.cat_file(full)
            else:
                data = self.fs.cat_file(full, start=offset, end=offset + int(length))
        except FileNotFoundError:
            raise BlobNotFoundError(
                f"blob {blob['uri']!r} is not in the store at {self.uri}; was the store copied without its blobs/ folder?"
            ) from None
        if blob.get("sha256") and hashlib.sha256(data).hexdigest() != blob["sha256"]:
            raise BlobNotFoundError(f"blob {blob['uri']!r} does not match its sha256: the object is damaged")
        if cache is not None and digest:
            cache.put_blob(digest, data)
        return data
