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

    W&B's ``wandb.Settings`` fields that ported code passes (``start_method``, ``console``,
    ``silent``, ``_disable_stats``, ...; `WANDB_SETTINGS`) mean nothing here: they are taken with
    one ``ms.IgnoredArgumentWarning``. Any other keyword is an ``ms.UnknownArgumentError`` (a ``TypeError``).
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


#: Fields of W&B's ``wandb.Settings`` that W&B code commonly passes; ``ms.Settings`` takes them
#: with a warning. (W&B's ``mode="shared"`` and ``x_label`` are ``ms.init``'s ``mode`` and ``label``.)
WANDB_SETTINGS = frozenset({
    "start_method", "console", "silent", "quiet", "show_info", "show_warnings", "show_errors", "disable_code",
    "disable_git", "disable_job_creation", "save_code", "code_dir", "anonymous", "api_key", "base_url", "entity",
    "project", "mode", "x_label", "x_primary", "x_update_finish_state", "x_disable_stats", "x_disable_meta",
    "x_disable_machine_info", "_disable_stats", "_disable_meta", "_disable_service", "init_timeout", "program",
    "root_dir", "sync_tensorboard", "run_tags", "run_notes", "run_group", "run_job_type", "run_name", "run_id",
    "resume", "allow_val_change", "ignore_globs", "_service_wait", "x_stats_sampling_interval",
})

_dataclass_init = Settings.__init__


def _init(self, *args, **kwargs):
    unknown = [k for k in kwargs if k not in WANDB_SETTINGS and k not in self.__dataclass_fields__]
    if unknown:
        from .errors import UnknownArgumentError

        raise UnknownArgumentError(
            f"ms.Settings got an unexpected keyword argument {unknown[0]!r}; its fields are "
            f"{', '.join(self.__dataclass_fields__)}"
        )
    wandb_only = {k: kwargs.pop(k) for k in list(kwargs) if k in WANDB_SETTINGS}
    if wandb_only:
        import warnings

        from .errors import IgnoredArgumentWarning

        hint = " (for a shared run: ms.init(mode='shared', label=...))" if {"mode", "x_label"} & set(wandb_only) else ""
        warnings.warn(
            f"ms.Settings ignores W&B's {', '.join(f'{k}={v!r:.40}' for k, v in wandb_only.items())}: they are "
            f"settings of W&B's service, which a store does not have{hint}",
            IgnoredArgumentWarning,
            stacklevel=2,
        )
    _dataclass_init(self, *args, **kwargs)


_init.__doc__ = _dataclass_init.__doc__
_init.__wrapped__ = _dataclass_init  # inspect.signature shows the fields
Settings.__init__ = _init
