"""``ms.Object3D``: not implemented yet (issue 3); its view ``objects3d`` exists, empty."""

from __future__ import annotations

from .base import Media, register

__all__ = ["Object3D"]


@register
class Object3D(Media):
    """Not implemented yet (issue 3): constructing one raises NotImplementedError."""

    kind = "objects3d"

    def __init__(self, *args, **kwargs):
        raise NotImplementedError("ms.Object3D is not implemented yet (issue 3); its SQL view objects3d exists but stays empty")
