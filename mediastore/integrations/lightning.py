"""``MediaStoreLogger``: a PyTorch Lightning logger writing to a mediastore run, with the methods
of Lightning's ``WandbLogger`` (``pip install "mediastore[lightning]"``).

>>> from mediastore.integrations.lightning import MediaStoreLogger
>>> logger = MediaStoreLogger(project="mnist", store="./mediastore-data", config={"lr": 1e-3})
>>> trainer = lightning.Trainer(logger=logger, max_epochs=1)

The rules (rank zero, steps, finishing, pickling) are in ``mediastore.integrations._lightning_logger``.
"""

from __future__ import annotations

from .._deps import require
from ._lightning_logger import LoggerBehaviour

_pl = require("lightning.pytorch", "lightning", "MediaStoreLogger for PyTorch Lightning")
from lightning.fabric.loggers.logger import rank_zero_experiment  # noqa: E402 - after the dependency check
from lightning.pytorch.utilities.rank_zero import rank_zero_only  # noqa: E402

__all__ = ["MediaStoreLogger"]


class MediaStoreLogger(LoggerBehaviour, _pl.loggers.Logger):
    """A Lightning ``Logger`` that logs into a mediastore run, as ``WandbLogger`` logs into W&B.

    Only global rank 0 makes the run and logs; the run is made at first use.

    Parameters
    ----------
    project : str, optional
        Default ``$MEDIASTORE_PROJECT``, else ``"lightning_logs"`` (WandbLogger's default).
    name : str, optional
        The run's display name.
    id, run_id, version : str, optional
        The run id (three spellings, as WandbLogger takes ``id`` and ``version``); default 8 random
        characters chosen now, so ``logger.version`` is known before training.
    store : str or os.PathLike, optional
        Folder or fsspec URI; default ``$MEDIASTORE_STORE``, else ``./mediastore-data``.
    config : dict or argparse.Namespace, optional
        Initial config; Lightning adds the module's ``hparams`` through ``log_hyperparams``.
    resume : bool
        True (default, as WandbLogger's ``resume="allow"``): an existing run with this id is
        continued. False: an existing id is refused (``ms.RunExistsError``).
    settings : ms.Settings, optional
    storage_options : dict, optional
        As ``ms.init``.
    prefix : str
        Put before every metric key with ``-`` (WandbLogger's ``prefix``).
    log_model : bool or "all"
        Not supported (no checkpoints are stored): a true value is ignored with an
        ``ms.IgnoredArgumentWarning``. So are WandbLogger's W&B-only arguments (``save_dir``,
        ``offline``, ``entity``, ``tags``, ``group``, ...).
    experiment : ms.Run, optional
        Log into this run instead of making one (it is not finished by the logger).
    shared : bool
        Every rank logs into the one run ``run_id`` (``ms.init(..., mode="shared")``), each row
        labelled with its global rank in the ``process`` column; ``run_id`` is then required.
        False (default): global rank 0 logs, as Lightning's loggers do.

    Raises
    ------
    InvalidArgumentError
        ``id``, ``run_id`` and ``version`` name different runs.
    InvalidNameError
        A project or run id that cannot be a path component.
    """

    _rank_zero_only = staticmethod(rank_zero_only)
    _rank_zero_experiment = staticmethod(rank_zero_experiment)
