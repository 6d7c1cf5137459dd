"""``ms.Html``: not implemented yet (issue 3); its view ``html`` exists, empty."""

from __future__ import annotations

from .base import Media, register

__all__ = ["Html"]


@register
class Html(Media):
    """Not implemented yet (issue 3): constructing one raises NotImplementedError."""

    kind = "html"

    def __init__(self, *args, **kwargs):
        raise NotImplementedError("ms.Html is not implemented yet (issue 3); its SQL view html exists but stays empty")
