"""``ms.Audio``: not implemented yet (issue 3); its view ``audio`` exists, empty."""

from __future__ import annotations

from .base import Media, register

__all__ = ["Audio"]


@register
class Audio(Media):
    """Not implemented yet (issue 3): constructing one raises NotImplementedError."""

    kind = "audio"

    def __init__(self, *args, **kwargs):
        raise NotImplementedError("ms.Audio is not implemented yet (issue 3); its SQL view audio exists but stays empty")
