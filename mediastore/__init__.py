"""mediastore: log ML media W&B-style into Parquet + blobs; query with DuckDB SQL and pandas.

>>> import mediastore as ms
>>> with ms.init(project="demo") as run:
...     run.log({"loss": 0.1, "examples": ms.Image(array, caption="step 0")})
>>> ms.open("./mediastore-data").sql("SELECT * FROM images").df()
"""

from .errors import (
    BlobNotFoundError,
    FormatVersionError,
    IgnoredArgumentWarning,
    ImportSourceError,
    InvalidSyncError,
    InvalidSyncTypeError,
    NotAStoreError,
    InvalidLogError,
    InvalidLogValueError,
    InvalidMediaError,
    InvalidMediaTypeError,
    InvalidNameError,
    InvalidQueryError,
    InvalidExportError,
    NoMediaColumnError,
    ExportExistsError,
    LossyConversionWarning,
    ManyItemsWarning,
    StorageUnavailableWarning,
    StoreUnavailableError,
    MediaFileNotFoundError,
    MediaStoreError,
    MediaStoreWarning,
    MissingDependencyError,
    NoRunError,
    InvalidConfigError,
    InvalidArgumentError,
    UnknownArgumentError,
    RunExistsError,
    RunFinishedError,
    RunNotFoundError,
    RunRunningError,
    SchemaMismatchError,
    TableLogModeWarning,
)
from .run_config import Config
from .media import Audio, Histogram, Html, Image, Media, Molecule, Object3D, Table, Video
from .media.object3d import box3d
from .query import Store
from .query import open_store as open
from .run import Run, define_metric, finish, init, log, login, unwatch, watch
from ._not_offered import (Artifact, ArtifactTTL, Classes, Graph, Plotly, agent, alert, controller, link_model, log_artifact,
                           log_model, restore, save, sweep, use_artifact, use_model)
from ._wandb_process import Error, require, setup, teardown, termerror, termlog, termsetup, termwarn
from . import plot
from .api import Api
from .plot import plot_table
from .settings import Settings

__version__ = "0.1.0"

__all__ = [
    "init",
    "log",
    "finish",
    "define_metric",
    "watch",
    "unwatch",
    "login",
    "save",
    "log_artifact",
    "use_artifact",
    "alert",
    "Artifact",
    "Api",
    "plot",
    "plot_table",
    "Error",
    "setup",
    "teardown",
    "require",
    "termsetup",
    "termlog",
    "termwarn",
    "termerror",
    "controller",
    "Classes",
    "ArtifactTTL",
    "sweep",
    "agent",
    "Plotly",
    "Graph",
    "restore",
    "log_model",
    "use_model",
    "link_model",
    "Config",
    "open",
    "Run",
    "Store",
    "Settings",
    "Media",
    "Image",
    "Histogram",
    "Object3D",
    "box3d",
    "Molecule",
    "Video",
    "Audio",
    "Html",
    "Table",
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
    "MediaStoreWarning",
    "ManyItemsWarning",
    "StorageUnavailableWarning",
    "StoreUnavailableError",
    "ImportSourceError",
    "TableLogModeWarning",
    "IgnoredArgumentWarning",
    "LossyConversionWarning",
]

# `ms.run`, `ms.config` and `ms.summary` follow the current run (W&B's module attributes), so
# they are looked up at each access. The submodule `mediastore.run` stays importable by its full
# name (`from mediastore.run import ...`); the package attribute is the current run instead.
del run  # noqa: F821 - the submodule attribute the import above set


class _NoCurrentRun:
    """``ms.config`` / ``ms.summary`` with no current run: any use says to call ``ms.init`` first."""

    def __init__(self, name: str):
        object.__setattr__(self, "_name", name)

    def _fail(self, *args, **kwargs):
        from .errors import NoRunError

        raise NoRunError(f"ms.{self._name} was used with no current run; call ms.init(...) first (or use run.{self._name})")

    __getattr__ = __setattr__ = __getitem__ = __setitem__ = __contains__ = __iter__ = __len__ = _fail

    def __repr__(self) -> str:
        return f"<ms.{self._name}: no current run; call ms.init(...)>"


def __getattr__(name: str):
    from .run import current_run

    if name == "run":
        return current_run()
    if name in ("config", "summary"):
        run = current_run()
        return _NoCurrentRun(name) if run is None else getattr(run, name)
    raise AttributeError(f"module 'mediastore' has no attribute {name!r}")
