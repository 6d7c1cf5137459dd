"""``ms.Table``: not implemented yet (issue 4); its view ``tables`` exists, empty."""

from __future__ import annotations

from .base import Media, register

__all__ = ["Table"]


@register
class Table(Media):
    """Not implemented yet (issue 4): constructing one raises NotImplementedError."""

    kind = "tables"

    def __init__(self, *args, **kwargs):
        raise NotImplementedError("ms.Table is not implemented yet (issue 4); its SQL view tables exists but stays empty")
