"""``MediaStoreLogger`` for code that imports the ``pytorch_lightning`` package name (the same
logger as ``mediastore.integrations.lightning``, on that package's ``Logger`` and rank).

>>> from mediastore.integrations.pytorch_lightning import MediaStoreLogger
>>> trainer = pytorch_lightning.Trainer(logger=MediaStoreLogger(project="mnist"))
"""

from __future__ import annotations

from .._deps import require
from ._lightning_logger import LoggerBehaviour

_pl = require("pytorch_lightning", "lightning", "MediaStoreLogger for pytorch_lightning")
from lightning_fabric.loggers.logger import rank_zero_experiment  # noqa: E402 - after the dependency check
from pytorch_lightning.utilities.rank_zero import rank_zero_only  # noqa: E402

__all__ = ["MediaStoreLogger"]


class MediaStoreLogger(LoggerBehaviour, _pl.loggers.Logger):
    """A ``pytorch_lightning`` logger that logs into a mediastore run; the parameters and rules are
    those of ``mediastore.integrations.lightning.MediaStoreLogger``."""

    _rank_zero_only = staticmethod(rank_zero_only)
    _rank_zero_experiment = staticmethod(rank_zero_experiment)
