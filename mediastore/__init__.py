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
    InvalidSyncError,
    InvalidSyncTypeError,
    NotAStoreError,
    InvalidLogError,
    InvalidMediaError,
    InvalidMediaTypeError,
    InvalidNameError,
    InvalidQueryError,
    LossyConversionWarning,
    ManyItemsWarning,
    MediaFileNotFoundError,
    MediaStoreError,
    MediaStoreWarning,
    MissingDependencyError,
    RunExistsError,
    RunFinishedError,
    RunNotFoundError,
    SchemaMismatchError,
)
from .media import Audio, Histogram, Html, Image, Media, Molecule, Object3D, Table, Video
from .media.object3d import box3d
from .query import Store
from .query import open_store as open
from .run import Run, init
from .settings import Settings

__version__ = "0.1.0"

__all__ = [
    "init",
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
    "MediaFileNotFoundError",
    "BlobNotFoundError",
    "MissingDependencyError",
    "RunFinishedError",
    "RunExistsError",
    "RunNotFoundError",
    "InvalidQueryError",
    "SchemaMismatchError",
    "NotAStoreError",
    "FormatVersionError",
    "InvalidSyncError",
    "InvalidSyncTypeError",
    "MediaStoreWarning",
    "ManyItemsWarning",
    "IgnoredArgumentWarning",
    "LossyConversionWarning",
]
