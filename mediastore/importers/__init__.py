"""Importers: W&B run folders and TensorBoard event files into a store.

Each importer module reads its source format and writes through `ms.init` / ``run.log``, so
it sits above the run and the media types and imports nothing above them. Their optional
dependencies (``wandb`` for its protobuf definitions, ``tensorboardX`` for TensorBoard's) are
imported only when an import runs.
"""

from __future__ import annotations

from ._common import ImportedRun
from .tensorboard import import_tensorboard
from .wandb import import_wandb

__all__ = ["ImportedRun", "import_wandb", "import_tensorboard"]
