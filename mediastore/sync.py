"""Copy a store to another place: log offline to a local folder, upload later.

``mediastore sync ./local s3://bucket/team`` copies what the destination lacks, in the order
that keeps the destination readable at every moment:

1. ``_mediastore.json`` (written if missing or older, since each version reads the earlier
   ones; a destination of a newer format version is refused),
2. every blob (``blobs/``), and only then
3. every other file: the Parquet row files of every table (``runs/`` last), including files
   that a compaction replaced and the writers' ``_``-prefixed files, so whatever the reader
   decides is live at the source is live at the destination too.

A row therefore never reaches the destination before the blobs it points at. Each object is
written whole (a temporary name and a rename locally, one PUT on object stores), so an
interrupted sync leaves nothing partial behind and running it again finishes the job. Objects
that exist at the destination with the same size are skipped: blobs are content-addressed and
row files are immutable and uniquely named, so a name and a size identify the content.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, TextIO

from .errors import FormatVersionError, InvalidSyncError, InvalidSyncTypeError, MediaStoreError, MediaStoreWarning, NotAStoreError
from .storage import FORMAT_VERSION, MARKER, StoreLocation

__all__ = [
    "sync",
    "SyncReport",
    "NotAStoreError",
    "FormatVersionError",
    "InvalidSyncError",
    "InvalidSyncTypeError",
    "add_parser",
    "main",
]

BLOBS = "blobs"
#: Parallel copies when either side is an object store: enough to hide per-request latency,
#: few enough that the bytes in flight (one whole object per worker) stay small.
OBJECT_STORE_WORKERS = 8
#: Parallel copies between local folders (or memory): the disk, not latency, is the limit.
LOCAL_WORKERS = 2
#: Listing passes when source files vanish during a sync (a compaction deleting the files it
#: replaced after its grace period): each pass lists again and picks up what replaced them.
MAX_PASSES = 3

# The few files rewritten in place under one name, so that name and size do not identify their
# content: a running writer's heartbeat record (records.write_run_record). They are tiny, so they
# are compared byte for byte.
_MUTABLE = re.compile(r"^_heartbeat-")

# StoreLocation.write_bytes writes local files as "<name>.tmp-<8 hex>" and renames them: such a
# file is a write in progress (or one a crash cut short), never content to copy.
_TEMPORARY = re.compile(r"\.tmp-[0-9a-f]{8}$")  # also the ".<name>.tmp-..." form

ProgressCallback = Callable[[int, int, int], object]


@dataclass
class SyncReport:
    """What a `sync` did (or, with ``dry_run=True``, would do).

    Attributes
    ----------
    blobs_copied, files_copied : int
        Blobs and other files (Parquet row files) written to the destination; with
        ``dry_run=True``, those that would be written.
    blobs_skipped, files_skipped : int
        Objects already at the destination with the same size, left alone.
    bytes_copied : int
        Bytes written (or that would be written).
    seconds : float
        Wall-clock time of the sync.
    dry_run : bool
        Whether nothing was written.

    The store marker ``_mediastore.json`` is counted in neither ``files_*`` field.
    """

    blobs_copied: int = 0
    blobs_skipped: int = 0
    files_copied: int = 0
    files_skipped: int = 0
    bytes_copied: int = 0
    seconds: float = 0.0
    dry_run: bool = False

    def summary(self) -> str:
        """One line for people, as the CLI prints it."""
        copied = f"{self.blobs_copied} blobs and {self.files_copied} files ({_human_bytes(self.bytes_copied)})"
        present = f"{self.blobs_skipped} blobs and {self.files_skipped} files"
        if self.dry_run:
            return f"dry run: would copy {copied}; {present} are already there"
        return f"copied {copied} in {self.seconds:.1f} s; {present} were already there"


@dataclass(frozen=True)
class _Item:
    rel: str  # path relative to the store root, "/"-separated
    size: int
    is_blob: bool


def sync(
    source: str,
    destination: str,
    *,
    source_options: Mapping[str, Any] | None = None,
    destination_options: Mapping[str, Any] | None = None,
    progress: bool | ProgressCallback = True,
    dry_run: bool = False,
    workers: int | None = None,
) -> SyncReport:
    """Copy to ``destination`` every object of the store at ``source`` that it lacks.

    Idempotent and resumable: running it again after it finished copies nothing, and after an
    interruption (Ctrl-C, a lost connection) copies the rest. The destination is readable
    (``ms.open``) at every moment, never showing a row whose blob is missing.

    Parameters
    ----------
    source, destination : str
        Store roots: local folders or fsspec URIs (``s3://bucket/prefix``, ``memory://name``,
        ``file://...``), in any combination. They must not be the same store or inside each other.
    source_options, destination_options : mapping, optional
        fsspec storage options of each side (``{"endpoint_url": ..., "key": ..., "secret": ...}``
        for s3). Default: none, so s3fs reads the standard ``AWS_*`` variables and files.
    progress : bool or callable, default True
        ``True`` draws a progress bar on stderr; ``False`` is silent; a callable is called as
        ``progress(done, total, nbytes)`` before the first copy and after each copied object,
        with objects copied so far, objects to copy, and bytes copied so far. It runs on the
        calling thread; an exception it raises stops the sync (objects already written stay,
        whole) and propagates.
    dry_run : bool, default False
        List both sides and report what would be copied; write nothing, not even the marker.
    workers : int, optional
        Objects copied in parallel. Default 8 when either side is an object store (latency
        bound), 2 between local folders (disk bound). Each worker holds one whole object in memory.

    Returns
    -------
    SyncReport
        Counts of blobs and files copied and skipped, bytes copied, seconds taken.

    Raises
    ------
    NotAStoreError
        ``source`` has no ``_mediastore.json``: it is not a store.
    FormatVersionError
        The source or destination has a store format version this mediastore cannot write or
        mix (for example a destination written by a newer mediastore).
    InvalidSyncError
        ``source`` and ``destination`` are the same store or one is inside the other, or
        ``workers`` is below 1.
    InvalidSyncTypeError
        ``progress`` is neither a bool nor callable.

    Examples
    --------
    >>> import mediastore as ms
    >>> from mediastore.sync import sync
    >>> report = sync("./mediastore-data", "s3://team-bucket/mediastore")   # doctest: +SKIP
    >>> report.blobs_copied, report.files_copied                             # doctest: +SKIP
    (120, 14)
    >>> sync("./mediastore-data", "s3://team-bucket/mediastore").files_copied # doctest: +SKIP
    0
    """
    started = time.monotonic()
    callback = _progress_callback(progress)
    src = StoreLocation(source, source_options)
    dst = StoreLocation(destination, destination_options)
    _check_distinct(src, dst)
    if workers is None:
        workers = LOCAL_WORKERS if src.protocol in ("file", "memory") and dst.protocol in ("file", "memory") else OBJECT_STORE_WORKERS
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidSyncError(f"workers={workers!r} is not allowed: pass an int >= 1, or None for the default")

    marker = _check_markers(src, dst)
    report = SyncReport(dry_run=dry_run)
    copied: set[str] = set()  # rels written by this call, so a later pass does not count them as skipped
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mediastore-sync") as pool:
        if marker is not None and not dry_run:
            dst.write_bytes(dst.path(MARKER), marker)
        for _ in range(MAX_PASSES):
            todo, present = _plan(src, dst, pool)
            for item in present:
                if item.rel not in copied:
                    if item.is_blob:
                        report.blobs_skipped += 1
                    else:
                        report.files_skipped += 1
            if dry_run:
                for item in todo:
                    _count_copy(report, item, item.size)
                break
            vanished = _copy(src, dst, pool, workers, todo, report, copied, callback)
            if not vanished:
                break
        else:
            warnings.warn(
                f"{len(vanished)} files vanished from {src.uri} while they were copied "
                f"(for example {vanished[0]!r}), in {MAX_PASSES} passes; something deletes files there "
                "faster than sync copies them (compaction with a short grace period?): run sync again",
                MediaStoreWarning,
                stacklevel=2,
            )
    report.seconds = time.monotonic() - started
    return report


# -- checks ---------------------------------------------------------------------------------
def _progress_callback(progress: bool | ProgressCallback) -> ProgressCallback | None:
    if progress is True:
        return _ProgressBar()
    if progress is False or progress is None:
        return None
    if not callable(progress):
        raise InvalidSyncTypeError(
            f"progress={progress!r} ({type(progress).__name__}) is not allowed: pass True (a bar on stderr), "
            "False, or a callable progress(done, total, nbytes)"
        )
    return progress


def _check_distinct(src: StoreLocation, dst: StoreLocation) -> None:
    if src.protocol != dst.protocol or src.storage_options != dst.storage_options:
        return  # different filesystems (or endpoints): cannot overlap as far as we can tell
    a, b = src.root.rstrip("/"), dst.root.rstrip("/")
    if a == b:
        raise InvalidSyncError(
            f"source {src.uri!r} and destination {dst.uri!r} are the same store; pass another destination"
        )
    if b.startswith(a + "/") or a.startswith(b + "/"):
        raise InvalidSyncError(
            f"destination {dst.uri!r} and source {src.uri!r} are inside one another, so a sync would copy "
            "its own output; pass a destination outside the source store"
        )


def _marker_version(location: StoreLocation, data: bytes, side: str) -> int:
    try:
        doc = json.loads(data)
        return int(doc["format_version"])
    except (ValueError, TypeError, KeyError) as exc:
        raise NotAStoreError(
            f"the {side} {location.uri!r} has a damaged {MARKER} ({data[:80]!r}: {exc}); it should be "
            f'{{"format_version": {FORMAT_VERSION}}} — check that this is a mediastore store'
        ) from None


def _check_markers(src: StoreLocation, dst: StoreLocation) -> bytes | None:
    """Check both stores' format versions; return the marker to write at the destination, or
    None when it has one already."""
    src_marker = src.read_marker()
    if src_marker is None:
        raise NotAStoreError(
            f"source {src.uri!r} is not a mediastore store: it has no {MARKER}; pass the folder or URI "
            "given to ms.init(store=...), the one that holds _mediastore.json, blobs/ and scalars/"
        )
    src_version = _marker_version(src, src_marker, "source")
    if src_version > FORMAT_VERSION:
        raise FormatVersionError(
            f"source {src.uri!r} has store format version {src_version}, newer than this mediastore "
            f"understands ({FORMAT_VERSION}); upgrade mediastore: pip install -U mediastore"
        )
    dst_marker = dst.read_marker()
    if dst_marker is None:
        return src_marker
    dst_version = _marker_version(dst, dst_marker, "destination")
    if dst_version > src_version and dst_version > FORMAT_VERSION:
        raise FormatVersionError(
            f"destination {dst.uri!r} has store format version {dst_version}, newer than the source's "
            f"({src_version}); a store holds one format: sync into another destination, or write the "
            "source with the mediastore version that wrote the destination"
        )
    if dst_version < src_version:
        # Every version reads the earlier ones as they are (DESIGN.md): the destination becomes
        # the source's version, marked first, so that older writers refuse it from then on.
        # (A source older than the destination copies into it as it is, for the same reason.)
        return src_marker
    return None


# -- listing --------------------------------------------------------------------------------
def _relative(location: StoreLocation, path: str) -> str:
    root = location.root.rstrip("/") + "/"
    if not path.startswith(root):  # some filesystems list with the protocol
        path = location.fs._strip_protocol(path)
    return path[len(root):] if path.startswith(root) else path


def _copyable(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return bool(name) and not _TEMPORARY.search(name)


def _find(location: StoreLocation, path: str) -> dict[str, int]:
    """Every file under ``path`` (fresh, not from fsspec's listing cache) -> its size."""
    try:
        found = location.fs.find(path, detail=True)
    except FileNotFoundError:
        return {}
    return {
        _relative(location, name): int(info.get("size") or 0)
        for name, info in found.items()
        if info.get("type", "file") != "directory" and not name.endswith("/")
    }


def _list_source(src: StoreLocation, pool: ThreadPoolExecutor) -> tuple[list[_Item], list[_Item]]:
    """The source's blobs and other files (marker and temporary files left out).

    Files are listed before blobs: a writer puts a blob before the row that points at it, so
    every blob a listed row needs is in the later blob listing, even while writers write.
    """
    try:
        top = src.fs.ls(src.root, detail=True, refresh=True)
    except FileNotFoundError:
        top = []
    # Not blobs (listed apart) nor dotted folders (a local reader's .pins: hard links, catalog.py).
    directories = [e["name"] for e in top if e.get("type") == "directory"
                   and e["name"].rstrip("/").rsplit("/", 1)[-1] != BLOBS and not e["name"].rstrip("/").rsplit("/", 1)[-1].startswith(".")]
    files = {
        _relative(src, e["name"]): int(e.get("size") or 0)
        for e in top
        if e.get("type") != "directory" and not e["name"].endswith("/")
    }
    for found in pool.map(lambda d: _find(src, d), directories):
        files.update(found)
    files.pop(MARKER, None)
    blobs = _find(src, src.path(BLOBS))
    # runs/ queued last: a run's records mostly arrive after its rows, as they were written.
    rows = sorted((rel for rel in files if _copyable(rel)), key=lambda rel: (rel.startswith("runs/"), rel))
    return (
        [_Item(rel, size, True) for rel, size in sorted(blobs.items()) if _copyable(rel)],
        [_Item(rel, files[rel], False) for rel in rows],
    )


def _list_destination(dst: StoreLocation, directories: Iterable[str], pool: ThreadPoolExecutor) -> dict[str, int]:
    """Sizes of the destination's files in the given directories (relative to its root).

    Listed by prefix, not by directory: one recursive listing per table and project
    (``scalars/project=p``) and one of ``blobs``, a request per 1,000 keys, where a listing per
    run's directory cost a request per run and table (6,000 for 1,000 runs). Only the prefixes
    the source uses are listed, so other projects of a shared bucket are not walked. A listing
    that comes back wrongly empty (FACTS.md: moto under concurrent writes) only makes us copy again.
    """

    def prefix(directory: str) -> str:
        parts = directory.split("/")
        return parts[0] if parts[0] == BLOBS or len(parts) < 2 else "/".join(parts[:2])

    def listing(prefix: str) -> dict[str, int]:
        try:
            if prefix:
                found = dst.fs.find(dst.path(prefix), detail=True)
            else:  # files at the root: that folder alone, not the whole destination
                found = {e["name"]: e for e in dst.fs.ls(dst.root, detail=True, refresh=True)}
        except FileNotFoundError:
            return {}
        return {_relative(dst, name): int(e.get("size") or 0) for name, e in found.items() if e.get("type") != "directory"}

    sizes: dict[str, int] = {}
    for found in pool.map(listing, sorted({prefix(d) for d in directories})):
        sizes.update(found)
    return sizes


def _plan(src: StoreLocation, dst: StoreLocation, pool: ThreadPoolExecutor) -> tuple[list[_Item], list[_Item]]:
    """(objects to copy, blobs first; objects already at the destination)."""
    blobs, files = _list_source(src, pool)
    items = blobs + files
    existing = _list_destination(dst, (i.rel.rsplit("/", 1)[0] if "/" in i.rel else "" for i in items), pool)
    same_size = [i for i in items if existing.get(i.rel) == i.size]
    mutable = [i for i in same_size if _MUTABLE.match(i.rel.rsplit("/", 1)[-1])]
    changed = {i.rel for i, same in zip(mutable, pool.map(lambda i: _same_bytes(src, dst, i.rel), mutable)) if not same}
    todo = [i for i in items if existing.get(i.rel) != i.size or i.rel in changed]
    present = [i for i in same_size if i.rel not in changed]
    return todo, present


def _same_bytes(src: StoreLocation, dst: StoreLocation, rel: str) -> bool:
    try:
        return src.read_bytes(src.path(rel)) == dst.read_bytes(dst.path(rel))
    except FileNotFoundError:
        return False


# -- copying --------------------------------------------------------------------------------
def _count_copy(report: SyncReport, item: _Item, nbytes: int) -> None:
    if item.is_blob:
        report.blobs_copied += 1
    else:
        report.files_copied += 1
    report.bytes_copied += nbytes


#: Files up to this size are read with one GET; s3fs reads a larger one in parallel parts, after a
#: HEAD for its size (a bucket's file may have been rewritten since the listing: read it whole).
_ONE_GET_BYTES = 32 << 20


def _copy_one(src: StoreLocation, dst: StoreLocation, item: _Item) -> int:
    path = src.path(item.rel)
    data = src.read_bytes(path) if item.size <= _ONE_GET_BYTES else src.fs.cat_file(path)
    dst.write_bytes(dst.path(item.rel), data)  # whole or not at all: rename locally, one PUT remotely
    return len(data)


def _copy(
    src: StoreLocation,
    dst: StoreLocation,
    pool: ThreadPoolExecutor,
    workers: int,
    todo: list[_Item],
    report: SyncReport,
    copied: set[str],
    callback: ProgressCallback | None,
) -> list[str]:
    """Copy blobs, wait for all of them, then copy the other files. Returns the source files
    that vanished before they could be read."""
    total = len(todo)
    done = 0
    nbytes = 0
    vanished: list[str] = []
    if callback is not None and total:
        callback(0, total, 0)
    for phase in ([i for i in todo if i.is_blob], [i for i in todo if not i.is_blob]):
        pending = iter(phase)
        running: dict[Future[int], _Item] = {}
        try:
            while True:
                # At most `workers` copies in flight: an interruption stops after those, not
                # after everything that was queued.
                for item in itertools.islice(pending, workers - len(running)):
                    running[pool.submit(_copy_one, src, dst, item)] = item
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    item = running.pop(future)
                    try:
                        size = future.result()
                    except FileNotFoundError:
                        vanished.append(item.rel)
                        continue
                    _count_copy(report, item, size)
                    copied.add(item.rel)
                    done += 1
                    nbytes += size
                    if callback is not None:
                        callback(done, total, nbytes)
        except BaseException:
            # What runs finishes whole (one rename or PUT each), so nothing partial remains.
            for future in running:
                future.cancel()
            raise
    return vanished


# -- progress bar ---------------------------------------------------------------------------
def _human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


class _ProgressBar:
    """``sync [#####.....] 12/40 objects, 3.1 MiB, 1.2 MiB/s`` on stderr; redrawn in place on a
    terminal (at most 10 times a second), a new line every 2 s in a log."""

    WIDTH = 30

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = 0.1 if self.tty else 2.0
        self.started = time.monotonic()
        self.last = -math.inf

    def __call__(self, done: int, total: int, nbytes: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last < self.interval:
            return
        self.last = now
        filled = self.WIDTH * done // total if total else self.WIDTH
        rate = nbytes / max(now - self.started, 1e-6)
        line = (
            f"sync [{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{total} objects, "
            f"{_human_bytes(nbytes)}, {_human_bytes(rate)}/s"
        )
        end = "\n" if done >= total or not self.tty else ""
        self.stream.write(("\r" + line if self.tty else line) + end)
        self.stream.flush()


# -- command line ---------------------------------------------------------------------------
def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="store to copy from: a folder or fsspec URI")
    parser.add_argument("destination", help="store to copy to, e.g. s3://bucket/team (created if missing)")
    parser.add_argument("--dry-run", action="store_true", help="list what would be copied; write nothing")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar on stderr")
    parser.add_argument(
        "--source-options", metavar="JSON", default=None,
        help='fsspec storage options of the source as a JSON object, e.g. \'{"endpoint_url": "http://localhost:9000"}\'',
    )
    parser.add_argument(
        "--destination-options", metavar="JSON", default=None,
        help="fsspec storage options of the destination as a JSON object",
    )
    parser.add_argument(
        "--workers", type=int, default=None,
        help=f"objects copied in parallel (default {OBJECT_STORE_WORKERS} with an object store, {LOCAL_WORKERS} between folders)",
    )


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> argparse.ArgumentParser:
    """Add ``mediastore sync SOURCE DESTINATION [--dry-run] [--no-progress] ...`` to a CLI.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        What ``parser.add_subparsers()`` returned for the ``mediastore`` command.

    Returns
    -------
    argparse.ArgumentParser
        The ``sync`` sub-parser; its ``func`` default is `_cmd_sync`.
    """
    parser = subparsers.add_parser(
        "sync",
        help="copy a store to another place (e.g. a local folder to s3://), uploading only what is missing",
        description=(
            "Copy what DESTINATION lacks from the store SOURCE: the marker, then blobs, then row files. "
            "Safe to interrupt and run again; readers of DESTINATION never see a row without its blob."
        ),
    )
    _add_arguments(parser)
    parser.set_defaults(func=_cmd_sync)
    return parser


def _parse_options(text: str | None, flag: str) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        value = exc
    if not isinstance(value, dict):
        raise InvalidSyncError(
            f"{flag} {text!r} is not a JSON object; pass fsspec options as one, e.g. "
            f'{flag} \'{{"endpoint_url": "http://localhost:9000"}}\''
        )
    return value


def _cmd_sync(args: argparse.Namespace) -> int:
    """Run ``mediastore sync`` from parsed arguments; print the summary. Returns the exit code."""
    try:
        report = sync(
            args.source,
            args.destination,
            source_options=_parse_options(args.source_options, "--source-options"),
            destination_options=_parse_options(args.destination_options, "--destination-options"),
            progress=args.progress,
            dry_run=args.dry_run,
            workers=args.workers,
        )
    except KeyboardInterrupt:
        print("\nmediastore: sync interrupted; what was copied is complete — run the same command again to finish",
              file=sys.stderr)
        return 130
    print(report.summary())
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m mediastore.sync SOURCE DESTINATION [...]``: the same as ``mediastore sync``.

    Parameters
    ----------
    argv : list of str, optional
        Arguments after the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        Exit code: 0 done, 2 refused (the message is on stderr), 130 interrupted.
    """
    parser = argparse.ArgumentParser(prog="python -m mediastore.sync", description=sync.__doc__.split("\n")[0])
    _add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return _cmd_sync(args)
    except MediaStoreError as exc:
        print(f"mediastore: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
