"""The media types. Importing this package registers each with the engine."""

from .base import Media, media_type, registered_kinds
from .image import Image

__all__ = ["Media", "Image", "media_type", "registered_kinds"]
