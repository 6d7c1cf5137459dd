"""Tuning knobs of a run's writer, with the reasons for their defaults."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Settings"]


@dataclass(frozen=True)
class Settings:
    """How a run batches and encodes.

    Parameters
    ----------
    flush_rows : int
        Rows of one table buffered before a Parquet file is written. Default 100,000: files of
        a few MB, so a long run makes few files (small files are the main query cost).
    flush_bytes : int
        Approximate buffered bytes of one table before a flush (texts can be large). Default 64 MiB.
    flush_seconds : float
        Longest time a buffered row waits before it is written. Default 10 s: bounds what a
        crash loses without making a file every few steps.
    encode_workers : int
        Background threads that encode media and write blobs. Default 2 (the machine's cores).
    max_inflight : int
        Media items queued for encoding before ``run.log`` waits (back-pressure): bounds memory.
        Default 64.
    png_compress_level : int
        zlib level for PNG (0-9). Default 6, Pillow's own default.
    spool_seconds : float
        How often buffered rows are copied to the local write-ahead spool. A killed process
        loses at most about this much (plus media still being encoded). Default 1 s; 0 turns
        the spool off. Where: ``$MEDIASTORE_SPOOL`` or ``~/.cache/mediastore/spool``.
    heartbeat_seconds : float
        How often a running run rewrites its record. A running run whose newest record is
        older than three heartbeats shows as ``crashed`` in ``runs``. Default 30 s.
    publish_rows : int
        A batch of at least this many rows is written as a published file at once: it is
        large enough to keep, and compaction merges only the smaller files. Default 100,000.
    compact_on_finish : bool
        Merge the run's files into one per table (or 128 MB parts) when the run finishes.
        Default True: many small files are the main query cost.
    pack_bytes : int
        Size at which a pack of small blobs is sealed and uploaded. Default 16 MiB: 1,000
        128x128 images take 3 or 4 objects, and one pack uploads in well under a second.
    pack_max_blob : int
        Blobs of at least this size are stored alone, content-addressed (and then once per
        store, whichever run logs them). Default 1 MiB: a request is small beside such a blob,
        and images up to about 600x600 PNG are still packed.
    upload_workers : int
        Parallel uploads of packs and blobs. Default 4: hides a bucket's latency, few bytes in flight.
    max_pending_bytes : int
        Blob bytes not yet in the store before the encoders, and so ``run.log``, wait. During an
        outage this much waits in memory and in the spool. Default 1 GiB.
    finish_timeout : float
        How long ``finish()`` waits for the store to take the last rows and blobs. Past it, the
        rest stays in the local spool for ``mediastore recover`` and ``finish()`` returns with a
        warning. Default 120 s: a bucket's bad minute passes, a lost network does not hang a job.
    """

    flush_rows: int = 100_000
    flush_bytes: int = 64 * 1024 * 1024
    flush_seconds: float = 10.0
    encode_workers: int = 2
    max_inflight: int = 64
    png_compress_level: int = 6
    spool_seconds: float = 1.0
    heartbeat_seconds: float = 30.0
    publish_rows: int = 100_000
    compact_on_finish: bool = True
    pack_bytes: int = 16 * 1024 * 1024
    pack_max_blob: int = 1024 * 1024
    upload_workers: int = 4
    max_pending_bytes: int = 1024 * 1024 * 1024
    finish_timeout: float = 120.0
