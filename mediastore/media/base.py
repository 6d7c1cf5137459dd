"""What every media type shares: the registry, and the contract between a type and the engine.

A media type is a subclass of `Media` that sets ``kind`` (its table and view name) and
implements three methods; the engine calls them and knows nothing else about the type:

- ``__init__`` validates on the caller's thread, so bad input fails at the call;
- ``_encode(location)`` runs on a background worker: encodes, stores blobs, returns the
  kind-specific columns of its row;
- ``_from_row(row, location)`` rebuilds the object from a row of its view.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable, Collection, Mapping
from typing import Any, ClassVar

from .._lazy import np
from ..errors import InvalidMediaError, InvalidMediaTypeError, MediaFileNotFoundError

__all__ = ["Media", "register", "media_type", "registered_kinds"]

_REGISTRY: dict[str, type["Media"]] = {}


def register(cls: type["Media"]) -> type["Media"]:
    """Class decorator: make a media type known to the engine under its ``kind``."""
    _REGISTRY[cls.kind] = cls
    return cls


def media_type(kind: str) -> type["Media"]:
    """The class registered for ``kind`` (a view name such as ``"images"``)."""
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise InvalidMediaError(f"no media type is registered for kind {kind!r}; known: {sorted(_REGISTRY)}") from None


def registered_kinds() -> list[str]:
    return sorted(_REGISTRY)


class Media:
    """Base class of the loggable media types (``ms.Image``, ...)."""

    #: Table and view name of the type's rows.
    kind: ClassVar[str]
    #: Items of this type in one step above which ``run.log`` warns (None: no warning).
    WARN_PER_STEP: ClassVar[int | None] = None
    #: Items of this type in one step above which ``run.log`` refuses the call (None: no limit).
    #: A class attribute users may change, like ``Table.MAX_ROWS``.
    MAX_PER_STEP: ClassVar[int | None] = None
    #: Why the number exists, said in the warning or error.
    per_step_reason: ClassVar[str] = ""

    #: True when ``_encode`` is cheap (no blob, no encoder): the writer then calls it on the
    #: caller's thread instead of paying a worker hand-off per item.
    ENCODE_INLINE: ClassVar[bool] = False

    caption: str | None = None

    def _prepare(self) -> "Media":
        """Called by ``run.log`` on the caller's thread, before anything is stored: the object to
        encode later. Immutable types return themselves; a mutable one (``ms.Table``) checks
        itself again and returns a snapshot."""
        return self

    def _check_destination(self, project: str, run_id: str, key: str, step: int, *, in_list: bool) -> None:
        """Called by ``run.log`` on the prepared object before anything of the call is stored:
        raise if it cannot land at this run, key and step (an incremental table can continue
        only its own key, forward). Most types land anywhere."""

    def _on_logged(self, project: str, run_id: str, key: str, step: int) -> None:
        """Called on the prepared object when its row is handed to the writer (after a
        ``commit=False`` wait, if any): a type that remembers what it logged updates that here."""

    def _encode(self, location) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def _from_row(cls, row: Mapping[str, Any], location) -> "Media":  # pragma: no cover - abstract
        raise NotImplementedError

    def _summary(self) -> dict[str, Any]:
        """What ``run.summary`` keeps for the last item logged under a key."""
        return {"_kind": self.kind}

    # -- Jupyter display (the shared pieces are in _display.py) ------------------------------
    def _thumbnail_html(self) -> str:
        """The object in a table cell: its text, unless the type has a small picture of itself."""
        from . import _display

        return f"<code>{_display.escape(repr(self))}</code>"

    @classmethod
    def _row_html(cls, row: Mapping[str, Any], location) -> str:
        """A media cell of a stored table or of a query result, described from its row without
        reading its bytes (a video cell would embed the whole video). Types whose rows are
        cheap to decode (images, histograms) show their thumbnail instead."""
        from . import _display

        blob = row.get("blob")
        fields = {"caption": text_from_row(row.get("caption"))}
        if isinstance(blob, Mapping):
            fields.update(mime=blob.get("mime"), bytes=blob.get("length"))
        return _display.summary_line(cls.kind, fields)


# -- validation helpers shared by the types ------------------------------------------------


def check_caption(caption: Any) -> str | None:
    if caption is None or isinstance(caption, str):
        return caption
    raise InvalidMediaTypeError(f"caption must be a str or None, got {type(caption).__name__} {caption!r}")


def is_number(value: Any) -> bool:
    """A real number, not a bool (True as a coordinate is almost always a mistake)."""
    return isinstance(value, (numbers.Real, np.number)) and not isinstance(value, (bool, np.bool_))


def read_path(path: Any, what: str) -> bytes:
    """The bytes of a file given by path, or a typed error that names the path."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise MediaFileNotFoundError(f"{what} {path!r} does not exist or is not a file; check the path")
    with open(path, "rb") as fh:
        return fh.read()


def read_source(source: Any, file_type: Any, what: str, choices: Collection[str],
                format_of_path: Callable[[str], str]) -> tuple[bytes, str, str]:
    """(bytes, format, name for messages) of a file stored byte for byte in one of ``choices``
    formats, given by path or as a file object. A path's format is ``file_type`` when given,
    else ``format_of_path(path)``, which raises for a format outside ``choices``. A file object
    with a str ``name`` (what ``open(path)`` returns) is read the same way; one without (a
    ``BytesIO``) has no extension to tell its format, so it needs ``file_type``."""
    if is_pathlike(source):
        path = os.fspath(source)
        fmt = format_of_path(path) if file_type is None else _check_file_type(file_type, what, choices)
        return read_path(path, f"{what} file"), fmt, repr(path)
    name = getattr(source, "name", None)
    if file_type is None and isinstance(name, str):
        # What open() gives carries its path: W&B takes the format from it, and so do we.
        file_type = format_of_path(name)
    if file_type is None:
        raise InvalidMediaError(
            f"{what} got a file object ({type(source).__name__}) without file_type; a file object has no extension "
            f"to tell its format — pass file_type= one of {list(choices)}"
        )
    fmt = _check_file_type(file_type, what, choices)
    if getattr(source, "seekable", lambda: False)():
        source.seek(0)  # W&B reads a file object from its start
    data = source.read()
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidMediaTypeError(f"{what} file object .read() returned {type(data).__name__}; expected bytes or str")
    return bytes(data), fmt, f"({type(source).__name__}, file_type={fmt!r})"


def _check_file_type(file_type: Any, what: str, choices: Collection[str]) -> str:
    normalized = file_type.lower().lstrip(".") if isinstance(file_type, str) else file_type
    if normalized not in choices:
        raise InvalidMediaError(f"{what} file_type {file_type!r} is not supported; use one of {list(choices)}")
    return normalized


def require_finite(array: np.ndarray, what: str, unit: str, noun: str) -> None:
    """Refuse a float array with NaN or infinite entries, counting them in the message."""
    finite = np.isfinite(array)
    if not finite.all():
        bad = int(array.size - np.count_nonzero(finite))
        raise InvalidMediaError(
            f"{what} array has {bad} NaN or infinite {unit} out of {array.size}; {noun} must be finite — "
            "replace them (np.nan_to_num) before logging"
        )


def float_pixels_to_uint8(array: np.ndarray, what: str, noun: str) -> np.ndarray:
    """The documented float rule shared by images and videos: finite values only; all in [0, 1]
    scale by 255, else all in [-1, 1] map linearly to [0, 255], else clip to [0, 255]; round."""
    require_finite(array, what, "value(s)", noun)
    lo, hi = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
    if lo >= 0.0 and hi <= 1.0:
        scaled = array * 255.0
    elif lo >= -1.0 and hi <= 1.0:
        scaled = (array + 1.0) * 127.5
    else:
        scaled = np.clip(array, 0.0, 255.0)
    return np.rint(scaled).astype(np.uint8)


def is_pathlike(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike))


def is_torch_tensor(value: Any) -> bool:
    """A ``torch.Tensor`` or a subclass of it (``nn.Parameter``, fastai's tensors), recognised
    by its classes' names so that torch is never imported here."""
    return any(cls.__name__ == "Tensor" and cls.__module__ == "torch" for cls in type(value).__mro__)


def as_array(value: Any) -> np.ndarray | None:
    """A numpy array from arrays, torch tensors on any device (by class name, no import),
    anything with ``__array__`` (TensorFlow, JAX, pandas, ...) and nested lists."""
    if isinstance(value, np.ndarray):
        return value
    if is_torch_tensor(value):
        # Off the autograd graph and onto the CPU: np.asarray refuses both a tensor that
        # requires grad and one on a GPU. numpy has no bfloat16; float32 holds it exactly.
        tensor = value.detach().cpu()
        if str(tensor.dtype) == "torch.bfloat16":
            tensor = tensor.float()
        return tensor.numpy()
    if hasattr(value, "__array__") or isinstance(value, (list, tuple)):
        return np.asarray(value)
    return None


def evenly_spaced(count: int, most: int) -> np.ndarray:
    """Indices of at most ``most`` of ``count`` items, evenly spaced with the first and the last
    kept (every index when there are no more than ``most``): how a long series is thinned for
    a chart, a heat map or a sampled history."""
    if count <= most:
        return np.arange(count)
    return np.linspace(0, count - 1, most).round().astype(np.intp)  # distinct: they are >= 1 apart


def is_null(value: Any) -> bool:
    """NULL as DuckDB, pandas or Arrow give it back: None, NaN (pandas 3 for a NULL string when
    the column has values), or pd.NA."""
    return value is None or (isinstance(value, float) and value != value) or type(value).__name__ == "NAType"


def text_from_row(value: Any) -> str | None:
    """A VARCHAR column value: the str, or None for any form of NULL."""
    return None if is_null(value) else value


def list_from_row(value: Any) -> list:
    """A LIST column value as a list: NULL is empty; pandas frames from DuckDB give numpy arrays."""
    return [] if is_null(value) else list(value)


def labels_from_row(value: Any) -> dict:
    """A MAP as it comes back from DuckDB (dict), pandas, or Arrow (list of pairs)."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        if set(value) == {"key", "value"} and isinstance(value["key"], (list, np.ndarray)):
            return dict(zip(value["key"], value["value"]))
        return dict(value)
    return {k: v for k, v in value}
