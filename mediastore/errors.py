"""One error hierarchy for everything mediastore raises on purpose.

Each subclass also derives from the built-in exception a caller would catch anyway, so
``except ValueError`` keeps working for bad input.
"""

from __future__ import annotations

__all__ = [
    "MediaStoreError",
    "InvalidMediaError",
    "InvalidMediaTypeError",
    "InvalidNameError",
    "InvalidLogError",
    "InvalidLogValueError",
    "MediaFileNotFoundError",
    "BlobNotFoundError",
    "MissingDependencyError",
    "RunFinishedError",
    "RunExistsError",
    "RunNotFoundError",
    "RunRunningError",
    "NoRunError",
    "InvalidConfigError",
    "InvalidArgumentError",
    "UnknownArgumentError",
    "InvalidQueryError",
    "InvalidExportError",
    "NoMediaColumnError",
    "ExportExistsError",
    "SchemaMismatchError",
    "NotAStoreError",
    "FormatVersionError",
    "InvalidSyncError",
    "InvalidSyncTypeError",
    "StoreUnavailableError",
    "ImportSourceError",
    "MediaStoreWarning",
    "ManyItemsWarning",
    "StorageUnavailableWarning",
    "TableLogModeWarning",


    "IgnoredArgumentWarning",
    "LossyConversionWarning",
]


class MediaStoreError(Exception):
    """Base class of every error mediastore raises on purpose."""


class InvalidMediaError(MediaStoreError, ValueError):
    """A media value has the wrong shape, range or content."""


class InvalidMediaTypeError(MediaStoreError, TypeError):
    """A media value, or a part of it, has the wrong Python type."""


class InvalidNameError(MediaStoreError, ValueError):
    """A project or run name cannot be used as a path component."""


class InvalidLogError(MediaStoreError, TypeError):
    """``run.log`` got something that is not a dict of str keys to loggable values."""


class InvalidLogValueError(MediaStoreError, ValueError):
    """``run.log`` got a value of the right type that cannot be stored as it is: a step below 0,
    an empty key, or more media items at one step than a type's ``MAX_PER_STEP``."""


class MediaFileNotFoundError(MediaStoreError, FileNotFoundError):
    """A path given as media (an image file, a mask file) does not exist."""


class BlobNotFoundError(MediaStoreError, FileNotFoundError):
    """A row points at a blob that is not in the store."""


class MissingDependencyError(MediaStoreError, ImportError):
    """An optional dependency is needed; the message names the extra to install."""


class RunFinishedError(MediaStoreError, RuntimeError):
    """The run was finished; it takes no more data."""


class RunExistsError(MediaStoreError, ValueError):
    """A run with this id exists already and ``resume=True`` was not given."""


class RunNotFoundError(MediaStoreError, LookupError):
    """No run with this id is in the store."""


class RunRunningError(MediaStoreError, RuntimeError):
    """A run's rows cannot be deleted while its state is running (a writer may still write them)."""


class NoRunError(MediaStoreError, RuntimeError):
    """A module-level call (``ms.log``, ``ms.config``, ...) needs a current run and there is none."""


class InvalidConfigError(MediaStoreError, TypeError):
    """A config key or value cannot be stored as JSON (a media object, an arbitrary object)."""


class UnknownArgumentError(MediaStoreError, TypeError):
    """A keyword argument that neither mediastore nor W&B has (a typo): a ``TypeError``, as
    Python raises for any function, that also names what is taken."""


class InvalidArgumentError(MediaStoreError, ValueError):
    """Arguments that cannot work together, such as a training-framework logger given ``id=`` and
    ``run_id=`` naming two different runs."""


class InvalidQueryError(MediaStoreError, ValueError):
    """A query cannot be run as asked (``store.show`` with a ``limit`` that is not an int >= 1)."""


class InvalidExportError(MediaStoreError, ValueError):
    """An export or ``iter_media`` was asked with values that cannot work (an unknown format, a
    bad shard size, rows a video cannot be made of)."""


class NoMediaColumnError(InvalidExportError):
    """An export's query has no column holding media (a view's ``blob``, a table's media cell)."""


class ExportExistsError(MediaStoreError, FileExistsError):
    """The export's output folder holds something other than an export of the same query."""


class SchemaMismatchError(MediaStoreError, RuntimeError):
    """A file or a row does not match the schema it claims."""


class NotAStoreError(MediaStoreError, FileNotFoundError):
    """A store was expected where there is none (no ``_mediastore.json``): the source of a sync,
    or the store given to ``mediastore ui``."""


class FormatVersionError(MediaStoreError, RuntimeError):
    """Source and destination of a sync have store format versions that cannot be mixed."""


class InvalidSyncError(MediaStoreError, ValueError):
    """A sync was asked with values that cannot work (same store twice, bad options)."""


class InvalidSyncTypeError(MediaStoreError, TypeError):
    """A sync argument has the wrong Python type."""


class StoreUnavailableError(MediaStoreError, ConnectionError):
    """The store did not take a run's last rows within ``Settings.finish_timeout`` and the spool,
    which would have kept them, is off (``Settings(spool_seconds=0)``)."""


class ImportSourceError(MediaStoreError, ValueError):
    """A path given to ``mediastore import`` holds no W&B run or TensorBoard event file, or one of
    its files is not in the format it claims (a bad header, a checksum that does not match)."""


class MediaStoreWarning(UserWarning):
    """Base class of mediastore's warnings."""


class StorageUnavailableWarning(MediaStoreWarning):
    """The store did not take a write: it is retried in the background, and what waits is kept
    in the local spool, so nothing is lost (see ``Settings.finish_timeout``)."""


class ManyItemsWarning(MediaStoreWarning):
    """More items under one step than the reference page recommends."""


class TableLogModeWarning(MediaStoreWarning):
    """An ``ms.Table`` with ``log_mode="IMMUTABLE"`` was logged again after it changed: what is
    logged is its contents when first logged (W&B's rule)."""


class IgnoredArgumentWarning(MediaStoreWarning):
    """An argument that cannot apply to the input was ignored: a file keeps its own sample rate,
    frame rate and format (W&B code passes them anyway, so this warns instead of raising)."""


class LossyConversionWarning(MediaStoreWarning):
    """Data was changed to fit the format asked for (``file_type="jpg"`` drops an alpha channel)."""
