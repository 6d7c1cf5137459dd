"""``mediastore ui``: a local web viewer over a store.

The page is static (``static/``, with its JavaScript libraries vendored in ``static/vendor``);
it asks ``/api/...`` for JSON, which DuckDB queries answer (`ViewerData`), and loads media
from ``/blob/<uri>``, which streams the store's objects with HTTP range requests. Nothing else
is served: any other path is a 404. The server binds to 127.0.0.1 unless told otherwise and
answers only requests addressed to the host it serves (no DNS rebinding).
"""

from __future__ import annotations

import json
import mimetypes
import os
import re
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import BlobNotFoundError, MediaStoreError, NotAStoreError, RunNotFoundError
from ..query import Store
from ..storage import _EXTENSIONS, MARKER
from .data import ViewerData, ViewerQueryError

#: A blob's path as put_blob names it: content-addressed, so it never changes.
_BLOB_PATH = re.compile(r"blobs/[0-9a-f]{2}/[0-9a-f]{62}(\.[a-z0-9]+){0,2}")
#: A blob inside a pack (packer.py): the pack, the blob's offset and length, its extension.
_PACKED_PATH = re.compile(r"(blobs/packs/[0-9a-f]{32}\.pack)/(\d{1,15})-(\d{1,15})((?:\.[a-z0-9]+){1,2})")
#: (extension, mime) of put_blob's names, longest extension first (".pts.json" before ".json").
_MIME_OF = sorted(((ext, mime) for mime, ext in _EXTENSIONS.items()), key=lambda pair: -len(pair[0]))
_CHUNK = 1 << 20
#: The viewer's own pages: scripts only from itself, logged HTML only inside sandboxed frames.
_PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; frame-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'"
)
_STATIC = resources.files("mediastore.ui") / "static"


def _blob_mime(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    for ext, mime in _MIME_OF:
        if name.endswith(ext):
            return mime
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single ``bytes=`` range, or None if it cannot be satisfied."""
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
    if not match or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":
        length = int(last)
        if length == 0:
            return None
        return max(0, size - length), size - 1
    start, end = int(first), (int(last) if last else size - 1)
    if start >= size or end < start:
        return None
    return start, min(end, size - 1)


class _Handler(BaseHTTPRequestHandler):
    server: "ViewerServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        if self.server.verbose:
            super().log_message(format, *args)

    # -- responses ---------------------------------------------------------------------------
    def _headers(self, status: int, mime: str, length: int, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", mime)
        self.send_header("Content-Length", str(length))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()

    def _send(self, status: int, body: bytes, mime: str, extra: dict[str, str] | None = None) -> None:
        self._headers(status, mime, len(body), extra)
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, value: Any, status: int = 200) -> None:
        # "<" escaped too, so no JSON text can ever read as markup.
        body = json.dumps(value, allow_nan=False, separators=(",", ":")).replace("<", "\\u003c").encode()
        self._send(status, body, "application/json; charset=utf-8", {"Cache-Control": "no-store"})

    def _error(self, status: int, message: str) -> None:
        self._json({"error": message}, status)

    # -- routing -----------------------------------------------------------------------------
    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        if not self._host_allowed():
            self._error(HTTPStatus.FORBIDDEN, "this viewer answers only requests addressed to its own host")
            return
        url = urlsplit(self.path)
        path = unquote(url.path)
        try:
            if path.startswith("/api/"):
                self._api(path[5:], parse_qs(url.query))
            elif path.startswith("/blob/"):
                self._blob(path[6:])
            elif path in ("/", "/index.html"):
                self._static("index.html")
            elif path.startswith("/static/"):
                self._static(path[8:])
            else:
                self._error(HTTPStatus.NOT_FOUND, "not found")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser moved on (a seek in a video, a closed tab)

    def _host_allowed(self) -> bool:
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]").lower()
        return host in self.server.allowed_hosts

    def _static(self, name: str) -> None:
        parts = name.split("/")
        if not name or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
            self._error(HTTPStatus.NOT_FOUND, "not found")
            return
        resource = _STATIC.joinpath(*parts)
        if not resource.is_file():
            self._error(HTTPStatus.NOT_FOUND, "not found")
            return
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if mime.startswith("text/") or mime == "application/javascript":
            mime += "; charset=utf-8"
        self._send(200, resource.read_bytes(), mime, {"Content-Security-Policy": _PAGE_POLICY, "Cache-Control": "no-cache"})

    def _api(self, name: str, query: dict[str, list[str]]) -> None:
        endpoint = self.server.endpoints.get(name)
        if endpoint is None:
            self._error(HTTPStatus.NOT_FOUND, f"no API {name!r}")
            return
        try:
            self._json(endpoint({k: v[-1] for k, v in query.items()}))
        except (ViewerQueryError, KeyError) as exc:
            message = f"missing parameter {exc}" if isinstance(exc, KeyError) else str(exc)
            self._error(HTTPStatus.BAD_REQUEST, message)
        except (RunNotFoundError, BlobNotFoundError) as exc:
            self._error(HTTPStatus.NOT_FOUND, str(exc))
        except MediaStoreError as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))

    def _blob(self, rel: str) -> None:
        """A store object by range: only content-addressed paths under ``blobs/``, and byte
        ranges of packs as if each blob were a file of its own."""
        location = self.server.store.location
        packed = _PACKED_PATH.fullmatch(rel)
        if packed:
            full = location.path(packed.group(1))
            start, size = int(packed.group(2)), int(packed.group(3))
        elif _BLOB_PATH.fullmatch(rel):
            full, start, size = location.path(rel), 0, None
        else:
            self._error(HTTPStatus.NOT_FOUND, "not found")
            return
        try:
            whole = location.fs.size(full)
        except (FileNotFoundError, OSError):
            self._error(HTTPStatus.NOT_FOUND, "not found")
            return
        if size is None:
            size = whole
        elif start + size > whole:
            self._error(HTTPStatus.NOT_FOUND, "not found")
            return
        mime = _blob_mime(rel)
        tag = f"{packed.group(1)[12:44]}-{start}" if packed else f"{rel[6:8]}{rel[9:71]}"
        extra = {"Accept-Ranges": "bytes", "Cache-Control": "private, max-age=31536000, immutable", "ETag": f'"{tag}"'}
        if mime == "text/html":
            # Logged HTML opened on its own is sandboxed too: no script reaches the viewer's origin.
            extra["Content-Security-Policy"] = "sandbox allow-scripts"
        first, last, status = 0, size - 1, 200
        if "Range" in self.headers:
            span = _parse_range(self.headers["Range"], size)
            if span is None:
                self._headers(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, mime, 0, {"Content-Range": f"bytes */{size}"})
                return
            first, last = span
            status = HTTPStatus.PARTIAL_CONTENT
            extra["Content-Range"] = f"bytes {first}-{last}/{size}"
        self._headers(status, mime, last - first + 1, extra)
        if self.command == "HEAD" or size == 0:
            return
        with location.fs.open(full, "rb") as handle:
            handle.seek(start + first)
            remaining = last - first + 1
            while remaining:
                chunk = handle.read(min(_CHUNK, remaining))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)


def _runs_param(params: dict[str, str]) -> list[str]:
    return [r for r in params.get("runs", "").split(",") if r]


def _endpoints(data: ViewerData) -> dict[str, Callable[[dict[str, str]], Any]]:
    def integer(params: dict[str, str], name: str, default: int | None = None) -> int | None:
        value = params.get(name)
        if value in (None, ""):
            return default
        try:
            return int(value)
        except ValueError:
            raise ViewerQueryError(f"parameter {name}={value!r} is not an integer") from None

    return {
        "projects": lambda p: data.projects(),
        "runs": lambda p: data.runs(p["project"], p.get("q", ""), integer(p, "limit", 50), integer(p, "offset", 0)),
        "scalar_keys": lambda p: data.scalar_keys(p["project"], _runs_param(p)),
        "series": lambda p: data.series(p["project"], p["key"], _runs_param(p), integer(p, "points", 1000)),
        "run": lambda p: data.run(p["project"], p["run"]),
        "steps": lambda p: data.steps(p["project"], p["kind"], p["key"], _runs_param(p)),
        "items": lambda p: data.items(p["project"], p["kind"], p["key"], integer(p, "step"), _runs_param(p)),
        "histogram": lambda p: data.histogram(p["project"], p["run"], p["key"]),
        "table": lambda p: data.table(p["project"], p["run"], p["key"], integer(p, "step"), integer(p, "offset", 0)),
        "chart": lambda p: data.chart(p["project"], p["run"], p["key"], integer(p, "step"), [c for c in p.get("columns", "").split(",") if c]),
    }


class ViewerServer(ThreadingHTTPServer):
    """The viewer's HTTP server over one store.

    Parameters
    ----------
    store : Store or str
        An open store, or its folder / fsspec URI.
    host : str, default "127.0.0.1"
        The address to bind: this machine only by default. ``"0.0.0.0"`` serves the network
        (there is no login) and then accepts any ``Host`` header.
    port : int, default 8765
        0 picks a free port; `url` tells which.
    verbose : bool, default False
        Log each request to stderr.

    Examples
    --------
    >>> server = ViewerServer("./mediastore-data", port=0)
    >>> thread = server.start()       # in a notebook or a test; `mediastore ui` blocks instead
    >>> server.url
    'http://127.0.0.1:...'
    >>> server.shutdown()
    """

    daemon_threads = True

    def __init__(self, store: Store | str, host: str = "127.0.0.1", port: int = 8765, verbose: bool = False):
        self.store = store if isinstance(store, Store) else Store(store)
        self.verbose = verbose
        self.endpoints = _endpoints(ViewerData(self.store))
        super().__init__((host, port), _Handler)
        self.allowed_hosts = {"127.0.0.1", "localhost", "::1", host.lower()}
        if host in ("0.0.0.0", "::"):
            # Served to the network on purpose: requests may name this machine any way.
            self.allowed_hosts = _AnyHost()

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # a browser that went away mid-request (a seek in a video, a closed tab)
        super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"

    def start(self) -> threading.Thread:
        """Serve on a background thread (for tests and notebooks); stop with ``shutdown()``."""
        thread = threading.Thread(target=self.serve_forever, name="mediastore-ui", daemon=True)
        thread.start()
        return thread


class _AnyHost:
    def __contains__(self, host: object) -> bool:
        return True


def serve(store: str, host: str = "127.0.0.1", port: int = 8765, open_browser: bool = False) -> None:
    """Run the viewer until interrupted (``mediastore ui``)."""
    opened = Store(store)
    if opened.location.read_marker() is None:
        # Most likely a mistyped --store: say so rather than show an empty store.
        raise NotAStoreError(
            f"{opened.uri!r} is not a mediastore store: it has no {MARKER}; pass the folder or URI "
            "given to ms.init(store=...) (or run `mediastore demo` to make one)"
        )
    server = ViewerServer(opened, host=host, port=port, verbose=bool(os.environ.get("MEDIASTORE_UI_VERBOSE")))
    print(f"mediastore viewer for {server.store.uri} at {server.url} (Ctrl+C stops it)", flush=True)
    if open_browser:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
