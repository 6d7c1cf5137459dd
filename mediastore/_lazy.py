"""numpy, pyarrow and Pillow, imported when first used.

Importing numpy and pyarrow.parquet takes 0.10 s here, and a run that logs only scalars
imports pyarrow at its first write anyway; but ``import mediastore`` plus an empty run's
``ms.init`` and ``finish()`` need none of pyarrow (records are written by _plain_parquet.py),
and only images need Pillow (8 ms).
The core modules name ``pa`` and ``pq`` as usual, bound to these stand-ins: the first
attribute read imports the module and copies its namespace in, so later reads cost what a
module's attribute read costs.
"""

from __future__ import annotations

import importlib
import types

__all__ = ["np", "pa", "pq", "PIL"]


class _LazyModule(types.ModuleType):
    def __init__(self, name: str, *submodules: str):
        super().__init__(name)
        self.__dict__["_submodules"] = submodules  # imported with it (``PIL.Image`` for ``PIL``)

    def __getattr__(self, attr: str):
        module = importlib.import_module(self.__name__)
        for name in self.__dict__["_submodules"]:
            importlib.import_module(name)
        self.__dict__.update(module.__dict__)
        return getattr(module, attr)


np = _LazyModule("numpy")
pa = _LazyModule("pyarrow")
pq = _LazyModule("pyarrow.parquet")
PIL = _LazyModule("PIL", "PIL.Image")
