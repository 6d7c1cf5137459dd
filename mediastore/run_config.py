"""``run.config`` (``ms.Config``): a run's hyperparameters, with W&B's ways of reading and changing them.

Rules:

- Keys are non-empty ``str``; values are what JSON holds (numbers, str, bools, None, lists,
  dicts; numpy scalars and arrays become numbers and lists). A value that JSON cannot hold is
  refused at the assignment (`InvalidConfigError`), not at the next write.
- ``config.lr``, ``config["lr"]``, ``config.lr = 0.1``, ``config["lr"] = 0.1``, ``"lr" in
  config``, ``update`` (a dict, an ``argparse.Namespace`` or anything with ``__dict__``, or
  keyword arguments) and ``setdefaults`` (only keys not set yet) work as in W&B.
- **Unlike W&B**, a value may change without ``allow_val_change=True`` (accepted and ignored):
  code written for W&B never relies on the error it would get.
- Every change calls the run back, so the stored config (the ``runs`` view) follows it while
  the run is running; see `mediastore.run.Run` for when the record is written.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

from .errors import InvalidConfigError

__all__ = ["Config", "parse_config"]


#: The file W&B reads into every run's config from the working directory (lowest priority).
DEFAULTS_FILE = "config-defaults.yaml"


def parse_config(source: Any, where: str = "config") -> dict[str, Any]:
    """A plain dict from a Mapping, an ``argparse.Namespace`` (or any object with ``__dict__``),
    a path to a YAML file (str or ``os.PathLike``, as W&B's), or None."""
    if source is None:
        return {}
    if isinstance(source, (str, os.PathLike)):
        return config_file(source, where)
    if isinstance(source, Mapping):
        return dict(source)
    if hasattr(source, "__dict__") and not isinstance(source, type):
        return dict(vars(source))
    raise InvalidConfigError(
        f"{where} must be a dict or an argparse.Namespace, got {type(source).__name__} {source!r:.80}; "
        "pass dict(...) or vars(...) of it"
    )


def config_file(path: str | os.PathLike, where: str = "config") -> dict[str, Any]:
    """The config in a YAML file, as W&B reads one: a mapping of keys to values, where a value
    given as ``{"value": v, "desc": ...}`` (W&B's ``config-defaults.yaml`` form) is ``v``, and an
    optional ``wandb_version: 1``.

    Raises
    ------
    InvalidConfigError
        The file is missing, is not YAML, is not a mapping, or has another ``wandb_version``.
    """
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            loaded = yaml.safe_load(fh)
    except FileNotFoundError:
        raise InvalidConfigError(f"{where}: the config file {os.fspath(path)!r} does not exist; pass a dict, or the path of a YAML file") from None
    except yaml.YAMLError as exc:
        raise InvalidConfigError(f"{where}: {os.fspath(path)!r} is not valid YAML ({str(exc).splitlines()[0]})") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, Mapping):
        raise InvalidConfigError(f"{where}: {os.fspath(path)!r} holds a {type(loaded).__name__}; a config file maps keys to values")
    loaded = dict(loaded)
    version = loaded.pop("wandb_version", None)
    if version not in (None, 1):
        raise InvalidConfigError(f"{where}: {os.fspath(path)!r} has wandb_version {version!r}; W&B's config files are version 1")
    return {str(k): v["value"] if isinstance(v, Mapping) and "value" in v else v for k, v in loaded.items()}


def defaults_config() -> dict[str, Any]:
    """``config-defaults.yaml`` of the working directory, as W&B loads it into every run, else {}."""
    return config_file(DEFAULTS_FILE, DEFAULTS_FILE) if os.path.isfile(DEFAULTS_FILE) else {}


def _checked(key: Any, value: Any) -> Any:
    from .media.base import Media
    from .run import _jsonable  # the one JSON rule of run records
    from .errors import InvalidLogError

    if type(key) is not str or not key:
        raise InvalidConfigError(f"config keys are non-empty str, got {type(key).__name__} {key!r}; use str(key)")
    if isinstance(value, Media):
        raise InvalidConfigError(
            f"config[{key!r}] is a media object ({type(value).__name__}); config holds hyperparameters as JSON — log media with run.log"
        )
    try:
        return _jsonable(value, f"config[{key!r}]")
    except InvalidLogError as exc:
        raise InvalidConfigError(str(exc)) from None


class Config(MutableMapping):
    """A run's hyperparameters: ``run.config`` (and ``ms.config`` for the current run).

    Parameters
    ----------
    items : dict, optional
        Initial keys and values (checked as if assigned).
    on_change : callable, optional
        Called with no arguments after every change; the run uses it to rewrite its record.

    Raises
    ------
    InvalidConfigError
        A key that is not a non-empty str, or a value JSON cannot hold.

    Examples
    --------
    >>> run.config.lr = 3e-4
    >>> run.config.update(vars(args))          # or run.config.update(args)
    >>> run.config.setdefaults({"batch_size": 32})
    """

    def __init__(self, items: Mapping[str, Any] | None = None, on_change: Callable[[], None] | None = None):
        object.__setattr__(self, "_items", {k: _checked(k, v) for k, v in (items or {}).items()})
        object.__setattr__(self, "_on_change", on_change)

    # -- item and attribute access -------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._items[key] = _checked(key, value)
        self._changed()

    def __delitem__(self, key: str) -> None:
        del self._items[key]
        self._changed()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self._items[name]
        except KeyError:
            raise AttributeError(f"config has no key {name!r}; its keys are {sorted(self._items)}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(f"config has no key {name!r}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    # -- W&B's methods ---------------------------------------------------------------------------
    def update(self, d: Any = None, allow_val_change: bool | None = None, **kwargs: Any) -> None:  # type: ignore[override]
        """Set many keys at once from a dict, an ``argparse.Namespace`` or keyword arguments.

        All or nothing: one bad value and no key changes. ``allow_val_change`` is accepted for
        W&B code; values may always change here.
        """
        new = {**parse_config(d, "config.update"), **kwargs}
        checked = {k: _checked(k, v) for k, v in new.items()}
        self._items.update(checked)
        if checked:
            self._changed()

    def setdefaults(self, d: Any) -> None:
        """Set the keys of ``d`` that are not set yet (W&B's ``config.setdefaults``)."""
        new = {k: v for k, v in parse_config(d, "config.setdefaults").items() if k not in self._items}
        self.update(new)

    def keys(self):  # a list, as W&B returns
        return list(self._items)

    def items(self):
        return list(self._items.items())

    def values(self):
        return list(self._items.values())

    def get(self, key: str, default: Any = None) -> Any:
        return self._items.get(key, default)

    def as_dict(self) -> dict[str, Any]:
        """A copy as a plain dict."""
        return dict(self._items)

    def persist(self) -> None:
        """W&B's explicit write; changes are written anyway, so this only asks for it sooner."""
        self._changed()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Config):
            return self._items == other._items
        if isinstance(other, Mapping):
            return self._items == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return repr(self._items)
