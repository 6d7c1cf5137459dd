"""``ms.Html``: an HTML document, stored as a UTF-8 blob (mime ``text/html``).

Rules (documented in the README):

- Input is a ``str`` of HTML, a file object opened in text or binary mode (read to its end,
  not closed: the caller owns it), or the path of an ``.html``/``.htm`` file (read byte for
  byte). A ``str`` is a path when it ends in ``.html`` or ``.htm`` and contains no ``<``;
  any other ``str`` is HTML; ``data_is_not_path=True`` (W&B's switch) makes every ``str``
  HTML. Bytes must be UTF-8, the encoding the blob is stored in.
- Two ``Html`` are equal when their stored bytes are.
- ``inject=False`` stores the HTML exactly as given. ``inject=True`` (the default, as on the
  reference page) inserts `DEFAULT_HEAD`, a ``<base target="_blank">`` plus a small inline
  stylesheet, and changes nothing else: right after the opening ``<head>`` tag; else in a new
  ``<head>`` right after ``<html>``; else after a leading ``<!DOCTYPE>``; else at the start.
  The stylesheet loads nothing (no URL, no ``@import``, system fonts only), so a stored page
  renders the same offline. HTML that carries it already is not injected twice.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from ..errors import InvalidMediaError, InvalidMediaTypeError
from . import _display
from .base import Media, read_path, register

__all__ = ["Html", "DEFAULT_HEAD"]

#: What ``inject=True`` inserts. ``<base target="_blank">`` opens links in a new tab rather
#: than inside the panel's frame (the reference implementation does the same); the style is a
#: readable default for bare HTML: system font, padded tables, images that fit the panel.
DEFAULT_HEAD = (
    '<base target="_blank">'
    "<style data-mediastore-default>"
    "html{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;"
    "font-size:14px;line-height:1.5;color:#1f2328;-webkit-text-size-adjust:100%}"
    "body{margin:8px}"
    "table{border-collapse:collapse}"
    "th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left}"
    "img,svg,video,canvas{max-width:100%;height:auto}"
    "pre,code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px}"
    "a{color:#0969da}"
    "</style>"
)
_INJECTED_MARK = "data-mediastore-default"
_HTML_SUFFIXES = (".html", ".htm")
_HEAD_TAG = re.compile(r"<head(?:\s[^>]*)?>", re.IGNORECASE)
_HTML_TAG = re.compile(r"<html(?:\s[^>]*)?>", re.IGNORECASE)
_DOCTYPE = re.compile(r"\A\s*<!doctype[^>]*>", re.IGNORECASE)


def inject_head(html: str) -> str:
    """``html`` with `DEFAULT_HEAD` inserted at the place the module doc gives."""
    if _INJECTED_MARK in html:
        return html
    for pattern, snippet in ((_HEAD_TAG, DEFAULT_HEAD), (_HTML_TAG, f"<head>{DEFAULT_HEAD}</head>")):
        match = pattern.search(html)
        if match:
            return html[: match.end()] + snippet + html[match.end() :]
    match = _DOCTYPE.match(html)
    at = match.end() if match else 0
    return html[:at] + DEFAULT_HEAD + html[at:]


def _is_path(data: Any) -> bool:
    if isinstance(data, os.PathLike):
        return True
    return isinstance(data, str) and "<" not in data and data.lower().endswith(_HTML_SUFFIXES)


def _utf8(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidMediaError(
            f"Html {source} is not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); HTML is stored as UTF-8 — "
            "decode it yourself and pass the str, e.g. ms.Html(raw.decode('latin-1'))"
        ) from None


def _read_source(data: Any, data_is_not_path: bool = False) -> str:
    """The HTML text of a str, a file object or a path."""
    if not (data_is_not_path and isinstance(data, str)) and _is_path(data):
        path = os.fspath(data)
        if not path.lower().endswith(_HTML_SUFFIXES):
            raise InvalidMediaError(
                f"Html path {path!r} does not end in .html or .htm; pass an HTML file, "
                "or read the file and pass its text as a str"
            )
        return _utf8(read_path(path, "Html file"), f"file {path!r}")
    if isinstance(data, str):
        return data
    if callable(getattr(data, "read", None)):
        try:
            content = data.read()
        except ValueError as exc:  # e.g. "I/O operation on closed file"
            raise InvalidMediaError(f"Html could not read the file object {data!r}: {exc} — pass an open file") from None
        if isinstance(content, str):
            return content
        if isinstance(content, (bytes, bytearray)):
            return _utf8(bytes(content), f"file object {getattr(data, 'name', data)!r}")
        raise InvalidMediaTypeError(
            f"Html file object's read() returned {type(content).__name__}; expected str or bytes — "
            "open the file with open(path) or open(path, 'rb')"
        )
    raise InvalidMediaTypeError(
        f"Html takes a str of HTML, a file object or the path of an .html file, got {type(data).__name__}"
    )


@register
class Html(Media):
    """An HTML document to log, shown as its own panel by a viewer.

    Parameters
    ----------
    data : str, file object or os.PathLike
        HTML text; a file object opened with ``open(path)`` or ``open(path, "rb")`` (read to
        its end, left open); or the path of an ``.html``/``.htm`` file. A ``str`` ending in
        ``.html``/``.htm`` without any ``<`` is a path. Bytes must be UTF-8.
    inject : bool
        Insert `DEFAULT_HEAD` (``<base target="_blank">`` and a small inline stylesheet that
        loads nothing from the network) into the document's head. Default True, as on the
        reference page: bare HTML fragments then read well in a panel. False stores the HTML
        exactly as given, byte for byte.
    data_is_not_path : bool, keyword-only
        W&B's switch: True reads a ``str`` as HTML even when it looks like a path (a page
        whose whole text is ``"index.html"``). Default False.

    Raises
    ------
    InvalidMediaTypeError
        ``data`` is not a str, file object or path; ``read()`` gave neither str nor bytes;
        ``inject`` is not a bool.
    MediaFileNotFoundError
        The path does not exist.
    InvalidMediaError
        The path does not end in ``.html``/``.htm``, the bytes are not UTF-8, or the file
        object cannot be read.

    Examples
    --------
    >>> run.log({"custom_file": ms.Html(open("some.html"))})
    >>> run.log({"custom_string": ms.Html('<a href="https://mysite">Link</a>')})
    >>> run.log({"custom_file": ms.Html(open("some.html"), inject=False)})
    """

    kind = "html"

    def __init__(self, data: Any, inject: bool = True, *, data_is_not_path: bool = False):
        for name, flag in (("inject", inject), ("data_is_not_path", data_is_not_path)):
            if not isinstance(flag, bool):
                raise InvalidMediaTypeError(f"Html {name} is {flag!r}; it must be True or False")
        html = _read_source(data, data_is_not_path)
        self.inject = inject
        self._html = inject_head(html) if inject else html
        self._bytes = self._html.encode("utf-8")

    # -- engine contract -------------------------------------------------------------------
    def _encode(self, location) -> dict[str, Any]:
        return {"blob": location.put_blob(self._bytes, "text/html"), "inject": self.inject}

    @classmethod
    def _from_row(cls, row: Mapping[str, Any], location) -> "Html":
        self = cls.__new__(cls)
        self._bytes = location.get_blob(row["blob"])
        self._html = _utf8(self._bytes, f"blob {row['blob']['uri']!r}")
        self.inject = bool(row["inject"])
        return self

    def _summary(self) -> dict[str, Any]:
        return {"_kind": self.kind, "inject": self.inject, "bytes": len(self._bytes)}

    def __eq__(self, other: object) -> bool:
        """Equal when the stored HTML is (W&B compares its files' contents too)."""
        if not isinstance(other, Html):
            return NotImplemented
        return self._bytes == other._bytes

    def __hash__(self) -> int:
        return hash(self._bytes)

    # -- the data back ---------------------------------------------------------------------
    @property
    def html(self) -> str:
        """The stored HTML text: as given with ``inject=False``, with `DEFAULT_HEAD` otherwise."""
        return self._html

    def to_bytes(self) -> bytes:
        """The stored HTML as UTF-8 bytes, exactly the blob's content."""
        return self._bytes

    # -- Jupyter display ---------------------------------------------------------------------
    def _repr_html_(self) -> str:
        """The page in a sandboxed iframe. Its scripts run (charts need them) but in an opaque
        origin: without ``allow-same-origin`` they cannot reach the notebook, its cookies or its
        kernel; forms, pop-ups and top navigation stay blocked."""
        return (
            f'<iframe class="ms-html" sandbox="allow-scripts" srcdoc="{_display.escape(self._html)}" '
            f'style="width:100%;max-width:{_display.DISPLAY_SIDE * 2}px;height:320px;border:1px solid #ddd"></iframe>'
        )

    def __repr__(self) -> str:
        return f"ms.Html({len(self._bytes)} bytes, inject={self.inject})"
