"""W&B's process-level calls that W&B code makes around its runs: ``wandb.setup``,
``wandb.teardown``, ``wandb.require`` and the ``wandb.termlog`` family, and ``wandb.Error``.

mediastore has no background service to start or stop, so ``setup`` and ``require`` do nothing
and ``teardown`` finishes the runs still open (as the end of the process would). The terminal
functions print to stderr with a ``mediastore:`` prefix, as W&B's print with ``wandb:``.
"""

from __future__ import annotations

import sys
from typing import Any

from .errors import MediaStoreError

__all__ = ["Error", "setup", "teardown", "require", "termsetup", "termlog", "termwarn", "termerror"]

#: W&B's base exception: ``except ms.Error`` catches every error of mediastore's.
Error = MediaStoreError

_printed: set[str] = set()  # the messages printed with repeat=False


def setup(settings: Any = None) -> None:
    """W&B's ``wandb.setup``: there is no service to start; does nothing."""


def teardown(exit_code: int | None = None) -> None:
    """W&B's ``wandb.teardown``: finish every run still open (crashed if ``exit_code`` is not 0)."""
    from .run import _live_runs

    for run in list(_live_runs):
        run.finish(exit_code)


def require(requirement: Any = None, experiment: Any = None) -> None:
    """W&B's ``wandb.require`` (opt into W&B's experimental features): nothing to opt into."""


def termsetup(settings: Any = None, logger: Any = None) -> None:
    """W&B's ``wandb.termsetup``: the terminal functions need no set-up."""


def _print(prefix: str, string: str, newline: bool, repeat: bool) -> None:
    if not repeat:
        if string in _printed:
            return
        _printed.add(string)
    sys.stderr.write(f"{prefix}{string}" + ("\n" if newline else ""))


def termlog(string: str = "", newline: bool = True, repeat: bool = True, prefix: bool = True) -> None:
    """W&B's ``wandb.termlog``: ``string`` on stderr, after ``mediastore: `` unless ``prefix=False``;
    with ``repeat=False`` a message is printed once per process."""
    _print("mediastore: " if prefix else "", str(string), newline, repeat)


def termwarn(string: str, newline: bool = True, repeat: bool = True) -> None:
    """W&B's ``wandb.termwarn``: as `termlog`, marked as a warning."""
    _print("mediastore: WARNING ", str(string), newline, repeat)


def termerror(string: str, newline: bool = True, repeat: bool = True) -> None:
    """W&B's ``wandb.termerror``: as `termlog`, marked as an error."""
    _print("mediastore: ERROR ", str(string), newline, repeat)
