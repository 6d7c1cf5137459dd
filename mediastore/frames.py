"""Query results that show their media in Jupyter: `MediaFrame` (``store.table``) and
`QueryResult` (``store.show``). Imported when first used, so ``import mediastore`` does not
import pandas."""

from __future__ import annotations

import pandas as pd

from .media import _display

__all__ = ["MediaFrame", "QueryResult"]


class MediaFrame(pd.DataFrame):
    """A pandas DataFrame (it is one, ``isinstance(frame, pd.DataFrame)``) whose media cells
    show as thumbnails in Jupyter, read from the store they came from. Every pandas operation
    works as on a DataFrame and keeps the class (so a slice displays the same way)."""

    _metadata = ["_ms_location"]

    @property
    def _constructor(self):
        return MediaFrame

    @classmethod
    def of(cls, frame: pd.DataFrame, location) -> "MediaFrame":
        out = cls(frame)
        out._ms_location = location
        return out

    def _repr_html_(self) -> str:
        head = self.head(_display.MAX_TABLE_ROWS)
        rows = [[index, *row] for index, row in zip(head.index, head.itertuples(index=False, name=None))]
        note = _display.more_rows(len(self), len(rows))
        return _display.frame_html(["", *self.columns], rows, getattr(self, "_ms_location", None), note=note)


class QueryResult:
    """The first rows of a query (``store.show``): an HTML table in Jupyter, where ``blob``
    structs of images are thumbnails and lists of masks or boxes are summarised.

    Attributes
    ----------
    df : pandas.DataFrame
        The rows shown, as ``store.sql(query).df()`` gives them.
    truncated : bool
        The query has more rows than ``limit``.
    """

    def __init__(self, df: pd.DataFrame, location, *, limit: int, truncated: bool):
        self.df = df
        self.limit = limit
        self.truncated = truncated
        self._location = location

    def __len__(self) -> int:
        return len(self.df)

    def _repr_html_(self) -> str:
        rows = list(self.df.itertuples(index=False, name=None))
        note = f"the first {self.limit} rows; the query has more (pass limit= to see more)" if self.truncated else None
        return _display.frame_html(list(self.df.columns), rows, self._location, note=note)

    def __repr__(self) -> str:
        return repr(self.df)
