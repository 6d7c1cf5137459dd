"""The blob packer: a writer's media bytes go to the store in few, large, parallel uploads.

A request per blob made logging on a bucket as slow as its latency (a HEAD, a LIST and a PUT
per image, one after another, on the encoder's thread). The packer takes that off the logging
path. Its rules:

- **Small blobs are packed.** Images, masks, audio clips and HTML under ``Settings.pack_max_blob`` are appended to the
  writer's open pack, ``blobs/packs/<32 hex>.pack``; a blob struct names the pack and its
  ``offset``/``length`` in it (the struct's fields exist for this, DESIGN.md). A pack is sealed
  at ``Settings.pack_bytes`` and whenever rows pointing into it are about to be written, and is
  then uploaded whole (one PUT). A pack never changes once written, like every other object.
- **Large blobs and the other kinds stand alone** (video, 3D, molecules, a logged table's
  Parquet, which DuckDB reads by path), content-addressed as before
  (``blobs/<sha[:2]>/<sha[2:]><ext>``), written with a create-only PUT (``If-None-Match: *``): one request, and bytes that
  are there already are not stored again, whichever run logged them.
- **The same bytes are stored once per writer at write time**: a blob logged again by the
  same run points at its first copy. Across runs, large blobs are stored once (content
  addressed); small blobs logged by several runs are stored once per run until compaction
  points the rows of finished runs at one copy (dedup.py).
- **Condemned blobs are not reused.** Blob garbage collection (blobgc.py) first *marks* the
  standalone blobs no row points at (``.gc/mark-*.json``) and deletes them only in a later
  pass. A writer reads the pending marks once, at its first standalone blob, and stores bytes
  whose content address is marked in a pack of their own instead (one blob at offset 0), so it
  never points a row at a blob a sweep may delete; blobgc.py has the whole argument.
- **Blobs before rows.** ``durable()`` seals the open pack and waits for every upload so far;
  the writer calls it before it writes rows that point at blobs.
- **Nothing is lost to a bucket's bad minute.** Every upload retries with backoff until it
  succeeds or the writer gives up at ``finish`` (``Settings.finish_timeout``). While the
  spool is on, each pack is also appended to the writer's local spool as it grows (and each
  standalone blob kept there until uploaded), so a killed process, or a run that finished during an outage, leaves its bytes for
  ``mediastore recover`` to upload.

Uploads run on their own thread pool, in parallel, with one exception: on a local folder a
standalone blob of up to ``_LOCAL_DIRECT_BYTES`` is written by the thread that hands it over
(a logged table's Parquet, on the caller's thread): the write takes as long as the hand-off
and a new upload thread's start, and the rows that point at it need not wait for a thread.
If that write fails, the blob takes the usual way (spooled, retried). Knows no media type.
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
import warnings
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from .cache import write_atomic
from .errors import StorageUnavailableWarning
from .storage import StoreLocation, blob_path

__all__ = ["BlobPacker", "BlobSink", "is_transient", "retrying", "upload_spooled_blobs", "condemned_blobs", "PACKS", "GC_DIR"]

#: Where packs live, below the store root.
PACKS = "blobs/packs"
#: Where blob garbage collection keeps its marks, below the store root (a dotted folder: sync
#: does not copy it, other engines skip it).
GC_DIR = ".gc"
#: What is packed: the small media logged by the thousand (images and masks, audio clips, HTML).
#: The rest stands alone: video, 3D files and point clouds (.npy, read with numpy.load and
#: streamed by range), molecules, and a logged table's Parquet (DuckDB reads it by path).
_PACKED_MIMES = ("image/", "audio/", "text/html")
#: Blob structs remembered per writer for dedup (about 200 bytes each).
_DEDUP_ENTRIES = 200_000
#: The largest standalone blob written at once by the thread that hands it over, on a local
#: folder (page cache speed: about a millisecond a megabyte here).
_LOCAL_DIRECT_BYTES = 8 * 1024 * 1024


def is_transient(exc: BaseException) -> bool:
    """A failure of the store or the network (retry it), as opposed to a bug (surface it)."""
    if isinstance(exc, (OSError, TimeoutError, ConnectionError)):
        return True
    module = type(exc).__module__ or ""
    return module.startswith(("botocore", "aiobotocore", "aiohttp", "urllib3", "s3fs", "gcsfs", "adlfs"))


class _Backoff:
    """Waits between retries: 0.2 s doubling to 5 s. Warns once per writer that the store is
    unreachable, so a training loop's log says why, without one line per retry."""

    def __init__(self, warned: threading.Event):
        self.delay = 0.2
        self.warned = warned

    def wait(self, exc: BaseException, what: str, stop: threading.Event) -> None:
        if not self.warned.is_set():
            self.warned.set()
            warnings.warn(
                f"the store did not take {what} ({type(exc).__name__}: {exc}); mediastore keeps retrying in the "
                "background and keeps your rows in the local spool meanwhile — nothing is lost, run.log goes on",
                StorageUnavailableWarning,
                stacklevel=2,
            )
        stop.wait(self.delay)
        self.delay = min(self.delay * 2, 5.0)


def retrying(action: Callable[[], Any], what: str, *, stop: threading.Event, warned: threading.Event) -> Any:
    """Run ``action`` until it succeeds; transient failures wait and retry, until ``stop`` is
    set (then the last failure is raised). Other errors are raised at once."""
    backoff = _Backoff(warned)
    while True:
        try:
            return action()
        except Exception as exc:
            if not is_transient(exc) or stop.is_set():
                raise
            backoff.wait(exc, what, stop)


def condemned_blobs(location: StoreLocation) -> set[str]:
    """The blob paths (relative to the store root) that pending garbage-collection marks name:
    a writer must not point a new row at one (blobgc.py). One LIST, and a GET per mark (on a
    local folder without fsspec: marks lie flat in the folder)."""
    import json

    directory = location.path(GC_DIR)
    try:
        found = [f"{directory}/{n}" for n in os.listdir(directory)] if location.is_local else location.fs.find(directory)
    except FileNotFoundError:
        return set()
    condemned: set[str] = set()
    for path in found:
        name = path.rsplit("/", 1)[-1]
        if name.startswith("mark-") and name.endswith(".json"):
            try:
                condemned.update(json.loads(location.read_bytes(path))["candidates"])
            except FileNotFoundError:
                continue  # swept since the listing: its blobs are deleted, and a create makes them anew
    return condemned


class _Pack:
    __slots__ = ("name", "data", "spool_file")

    def __init__(self, name: str, spool_file: Path | None):
        self.name = name
        self.data = bytearray()
        self.spool_file = spool_file


class BlobPacker:
    """Stores one writer's blobs (see the module's rules).

    Parameters
    ----------
    location : StoreLocation
        The store.
    pack_bytes : int
        A pack is sealed when it reaches this size.
    max_blob : int
        Blobs of at least this size are stored alone, content-addressed.
    workers : int
        Parallel uploads.
    max_pending : int
        Bytes handed over and not yet in the store before ``put`` waits (back-pressure through
        the encoders to ``run.log``): bounds memory and the spool's disk during an outage.
    spool_dir : Path, optional
        Where open and unuploaded packs are kept on local disk (None: the spool is off).
    """

    def __init__(self, location: StoreLocation, *, pack_bytes: int, max_blob: int, workers: int,
                 max_pending: int, spool_dir: Path | None = None):
        self.location = location
        self.pack_bytes = pack_bytes
        self.max_blob = max_blob
        self.spool_dir = spool_dir  # made when first needed: a local folder's run may never spool
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)
        self.max_pending = max_pending
        self._pending_bytes = 0
        self._open: _Pack | None = None
        self._known: OrderedDict[str, dict] = OrderedDict()
        self._condemned: set[str] | None = None  # read at the first standalone blob (blobgc.py)
        self._pending: list[Future] = []
        self._uploads = ThreadPoolExecutor(workers, thread_name_prefix="mediastore-upload")
        self.stop = threading.Event()  # set when the writer gives up waiting (finish timeout)
        self.warned = threading.Event()
        self.objects_written = 0

    # -- the encoders' side ---------------------------------------------------------------
    def put(self, data: bytes, mime: str) -> dict:
        """Store ``data`` (in the background, or at once for a local folder's standalone blob);
        returns its blob struct."""
        digest = hashlib.sha256(data).hexdigest()
        standalone = len(data) >= self.max_blob or not mime.startswith(_PACKED_MIMES)
        rel = blob_path(digest, mime) if standalone else None  # a standalone blob's content address
        if standalone and self._condemned is None:
            # Read after the run's first record is written (ms.init), never before: blobgc.py.
            condemned = condemned_blobs(self.location)
            with self._lock:
                if self._condemned is None:
                    self._condemned = condemned
        with self._lock:
            while self._pending_bytes > self.max_pending and not self.stop.is_set():
                self._drained.wait(1.0)
            known = self._known.get(digest)
            if known is not None and known["mime"] == mime:
                self._known.move_to_end(digest)
                return dict(known)
            condemned = standalone and rel in self._condemned
        direct = standalone and not condemned and self.location.is_local and len(data) <= _LOCAL_DIRECT_BYTES
        if direct:
            blob = self._write_direct(rel, data, digest, mime)
            if blob is not None:
                return blob
        with self._lock:
            if condemned:
                # Its content address is marked for deletion: a pack of its own instead.
                pack = _Pack(f"{uuid.uuid4().hex}.pack", None)
                pack.data += data
                if self.spool_dir is not None:
                    pack.spool_file = self.spool_dir / pack.name
                    write_atomic(pack.spool_file, bytes(data))
                self._pending.append(self._uploads.submit(self._upload_pack, pack))
                blob = {"uri": f"{PACKS}/{pack.name}", "offset": 0, "length": len(data), "sha256": digest, "mime": mime}
                self._pending_bytes += len(data)
            elif standalone:
                # To the spool first, unless a local write has not been tried yet.
                spool_first = direct or not self.location.is_local
                self._pending.append(self._uploads.submit(self._upload_standalone, rel, bytes(data), spool_first))
                blob = {"uri": rel, "offset": 0, "length": len(data), "sha256": digest, "mime": mime}
                self._pending_bytes += len(data)
            else:
                pack = self._open or self._new_pack()
                offset = len(pack.data)
                pack.data += data
                self._pending_bytes += len(data)
                if pack.spool_file is not None:
                    with open(pack.spool_file, "ab") as fh:  # a killed process leaves it for recovery
                        fh.write(data)
                blob = {"uri": f"{PACKS}/{pack.name}", "offset": offset, "length": len(data), "sha256": digest, "mime": mime}
                if len(pack.data) >= self.pack_bytes:
                    self._seal()
            self._remember(digest, blob)
        return dict(blob)

    def _write_direct(self, rel: str, data: bytes, digest: str, mime: str) -> dict | None:
        """Write a standalone blob to a local folder now, on this thread; None if the write
        failed (the caller hands it to the upload threads, which spool it and retry)."""
        try:
            self.location.create_bytes(self.location.path(rel), data)
        except Exception:
            return None
        blob = {"uri": rel, "offset": 0, "length": len(data), "sha256": digest, "mime": mime}
        with self._lock:
            self.objects_written += 1
            self._remember(digest, blob)
        return dict(blob)

    def _remember(self, digest: str, blob: dict) -> None:
        """Keep a blob struct for dedup; call with the lock held."""
        self._known[digest] = blob
        if len(self._known) > _DEDUP_ENTRIES:
            self._known.popitem(last=False)

    def _new_pack(self) -> _Pack:
        name = f"{uuid.uuid4().hex}.pack"
        spool_file = self.spool_dir / name if self.spool_dir is not None else None
        if spool_file is not None:
            self.spool_dir.mkdir(parents=True, exist_ok=True)  # the pack is appended to as it grows
        self._open = _Pack(name, spool_file)
        return self._open

    def _seal(self) -> None:
        """Hand the open pack to the uploaders; call with the lock held."""
        pack, self._open = self._open, None
        if pack is not None and pack.data:
            self._pending.append(self._uploads.submit(self._upload_pack, pack))

    # -- uploads (upload threads) ---------------------------------------------------------
    def _upload_pack(self, pack: _Pack) -> None:
        path = self.location.path(PACKS, pack.name)
        data = bytes(pack.data)
        retrying(lambda: self.location.write_bytes(path, data), f"blob pack {pack.name}", stop=self.stop, warned=self.warned)
        if pack.spool_file is not None:
            pack.spool_file.unlink(missing_ok=True)
        self._uploaded(len(data))

    def _upload_standalone(self, rel: str, data: bytes, spool_first: bool) -> None:
        def create() -> None:
            self.location.create_bytes(self.location.path(rel), data)

        # The blob goes to the spool before an object store's upload, and before a local write
        # that failed once already; a first local write takes as long as the spool's copy and
        # fails at once if it fails, so the copy is made only then (a logged table's file was
        # written twice).
        spool_file = self.spool_dir / ("cas-" + rel.replace("/", "_")) if self.spool_dir is not None else None
        if spool_first:
            if spool_file is not None:
                write_atomic(spool_file, data)
            retrying(create, f"blob {rel}", stop=self.stop, warned=self.warned)
        else:
            try:
                create()
                spool_file = None
            except Exception:
                if spool_file is not None:
                    write_atomic(spool_file, data)
                retrying(create, f"blob {rel}", stop=self.stop, warned=self.warned)
        if spool_file is not None:
            spool_file.unlink(missing_ok=True)
        self._uploaded(len(data))

    def _uploaded(self, nbytes: int) -> None:
        with self._lock:
            self.objects_written += 1
            self._pending_bytes -= nbytes
            self._drained.notify_all()

    # -- the writer's side ----------------------------------------------------------------
    def durable(self) -> None:
        """Seal the open pack and wait until every blob handed over so far is in the store.
        Raises the upload's error if the writer gave up (``stop``) or a non-transient one."""
        with self._lock:
            self._seal()
            pending, self._pending = self._pending, []
        try:
            for future in pending:
                future.result()
        except BaseException:
            with self._lock:  # not uploaded: whoever calls durable() next waits for them again
                self._pending[:0] = [f for f in pending if not f.done() or f.exception() is not None]
            raise

    def settled(self) -> bool:
        """Every blob handed over is in the store and no pack is open: ``durable()`` would
        neither wait nor upload."""
        with self._lock:
            return (self._open is None or not self._open.data) and all(f.done() and f.exception() is None for f in self._pending)

    def close(self) -> None:
        with self._lock:
            self._drained.notify_all()
        self._uploads.shutdown(wait=True)


class BlobSink:
    """What a media type's ``_encode`` sees as the store: the store, with ``put_blob`` going
    to the packer."""

    def __init__(self, location: StoreLocation, packer: BlobPacker):
        self._location = location
        self._packer = packer

    def put_blob(self, data: bytes, mime: str) -> dict:
        return self._packer.put(data, mime)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._location, name)


def upload_spooled_blobs(location: StoreLocation, spool_dir: Path) -> int:
    """Upload what a dead writer left in its spool's blob folder (packs and standalone blobs);
    returns how many objects were written. Idempotent: a pack has one name and one content."""
    written = 0
    for path in sorted(spool_dir.glob("*.pack")):
        location.write_bytes(location.path(PACKS, path.name), path.read_bytes())
        path.unlink()
        written += 1
    for path in sorted(spool_dir.glob("cas-*")):  # a temporary file's name starts with "."
        rel = path.name[len("cas-"):].replace("_", "/")
        location.create_bytes(location.path(rel), path.read_bytes())
        path.unlink()
        written += 1
    return written
