"""The local web viewer (`mediastore ui`)."""

from .server import ViewerServer, serve

__all__ = ["ViewerServer", "serve"]
