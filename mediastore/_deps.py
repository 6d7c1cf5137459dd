"""Optional heavy dependencies, imported only where they are used."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependencyError

__all__ = ["require"]


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise `MissingDependencyError` naming the extra that installs it.

    Parameters
    ----------
    module : str
        Module to import, e.g. ``"av"``.
    extra : str
        The mediastore extra that installs it, e.g. ``"video"``.
    purpose : str
        What it is needed for, said in the message.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{purpose} needs the optional dependency {module!r}, which is not installed; "
            f'install it with: pip install "mediastore[{extra}]"'
        ) from exc
