"""``ms.Molecule``: not implemented yet (issue 3); its view ``molecules`` exists, empty."""

from __future__ import annotations

from .base import Media, register

__all__ = ["Molecule"]


@register
class Molecule(Media):
    """Not implemented yet (issue 3): constructing one raises NotImplementedError."""

    kind = "molecules"

    def __init__(self, *args, **kwargs):
        raise NotImplementedError("ms.Molecule is not implemented yet (issue 3); its SQL view molecules exists but stays empty")
