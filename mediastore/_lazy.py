"""numpy, pyarrow and Pillow, imported when first used.

Importing numpy and pyarrow.parquet took 0.10 s here, twice what ``import mediastore`` plus an
empty run's ``ms.init`` and ``finish()`` take without them (records are written by
_plain_parquet.py); only images need Pillow (8 ms). A run imports numpy and pyarrow at its
first write instead. The core modules name ``np``, ``pa``, ``pq`` and ``PIL`` as usual, bound
to these stand-ins: the first attribute read imports the module and rebinds those names (and
this module's) to it, so later reads are a module's attribute reads. Module-level code must not read
them (a test checks that an empty run imports none of them).
"""

from __future__ import annotations

import importlib
import sys
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
        # Every mediastore module's global bound to this stand-in now names the module itself:
        # Python specializes attribute reads of a real module only (numpy's, in the logging
        # loop, cost 10-20 % of W1 through the stand-in).
        for loaded in list(sys.modules.values()):
            if getattr(loaded, "__name__", "").startswith("mediastore"):
                names = vars(loaded)
                for key, value in list(names.items()):
                    if value is self:
                        names[key] = module
        return getattr(module, attr)


np = _LazyModule("numpy")
pa = _LazyModule("pyarrow")
pq = _LazyModule("pyarrow.parquet")
PIL = _LazyModule("PIL", "PIL.Image")
