"""The media types. Importing this package registers each with the engine."""

from .base import Media, media_type, registered_kinds
from .audio import Audio
from .histogram import Histogram
from .html import Html
from .molecule import Molecule
from .object3d import Object3D
from .table import Table
from .video import Video
from .image import Image

__all__ = ["Media", "Image", "Histogram", "Object3D", "Molecule", "Video", "Audio", "Html", "Table", "media_type", "registered_kinds"]
