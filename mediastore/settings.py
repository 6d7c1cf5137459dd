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
