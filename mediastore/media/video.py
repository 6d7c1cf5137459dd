"""``ms.Video``: not implemented yet (issue 3); its view ``videos`` exists, empty."""

from __future__ import annotations

from .base import Media, register

__all__ = ["Video"]


@register
class Video(Media):
    """Not implemented yet (issue 3): constructing one raises NotImplementedError."""

    kind = "videos"

    def __init__(self, *args, **kwargs):
        raise NotImplementedError("ms.Video is not implemented yet (issue 3); its SQL view videos exists but stays empty")
