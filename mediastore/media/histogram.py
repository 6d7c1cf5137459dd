"""``ms.Histogram``: not implemented yet (issue 3); its view ``histograms`` exists, empty."""

from __future__ import annotations

from .base import Media, register

__all__ = ["Histogram"]


@register
class Histogram(Media):
    """Not implemented yet (issue 3): constructing one raises NotImplementedError."""

    kind = "histograms"

    def __init__(self, *args, **kwargs):
        raise NotImplementedError("ms.Histogram is not implemented yet (issue 3); its SQL view histograms exists but stays empty")
