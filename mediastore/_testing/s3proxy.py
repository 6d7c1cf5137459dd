"""A delay-and-count proxy in front of a loopback S3 server, to see round trips.

A cloud bucket answers a small request in 10-50 ms; moto's server on loopback answers in 1-3 ms,
so tests on it hide how many requests an operation makes one after another (FACTS.md). The
`DelayProxy` sits between the client and the server and

- sleeps ``latency`` seconds before forwarding each request (in the connection's own thread, so
  requests on parallel connections overlap their latency as they do on a real bucket);
- counts requests by verb, exactly: ``HEAD``, ``GET`` (object reads, ranged or not), ``LIST``
  (a GET on a bucket or on the service root: ListObjects[V2], ListBuckets), ``PUT``, ``POST``,
  ``DELETE``; counts are assertions that never flake, where times would;
- can fail on purpose: `DelayProxy.outage` / `DelayProxy.cut` reset every connection while
  active, `DelayProxy.throttle` answers ``503 SlowDown`` with S3's XML error body.

It speaks just enough HTTP/1.1 for botocore (urllib3) and s3fs (aiobotocore, aiohttp): keep-alive
on both sides (one upstream connection per client connection), request bodies framed by
Content-Length or chunked (forwarded byte for byte, so signatures and aws-chunked trailers stay
intact), ``Expect: 100-continue``, HEAD answers without a body. Paths are path-style
(``/bucket/key``): botocore uses that for an IP-address endpoint. Responses are buffered whole,
which suits test-sized objects.

`S3TestServer` starts moto's server and a proxy together. It sets no environment variable:
clients need credentials and, for s3fs, the region in ``AWS_DEFAULT_REGION`` (FACTS.md: bucket
creation fails when the region is passed in ``client_kwargs``); `S3TestServer.env` holds both.

>>> with S3TestServer(latency=0.02) as s3:           # doctest: +SKIP
...     s3.create_bucket("b")
...     os.environ.update(s3.env)                    # or monkeypatch.setenv in a test
...     fs = s3fs.S3FileSystem(endpoint_url=s3.endpoint, skip_instance_cache=True)
...     fs.pipe_file("b/x", b"1")
...     s3.proxy.counts()
{'PUT': 1}
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import socketserver
import struct
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

__all__ = ["DelayProxy", "S3TestServer", "VERBS", "classify"]

#: The verbs `DelayProxy.counts` reports, in this order.
VERBS = ("HEAD", "GET", "LIST", "PUT", "POST", "DELETE")

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade", "trailer"}

_SLOW_DOWN = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>"
    "<RequestId>{rid}</RequestId><HostId>{rid}</HostId></Error>"
)


def classify(method: str, target: str) -> str:
    """The verb a request counts under: ``LIST`` for a GET naming no object (a bucket listing or
    ListBuckets), else the HTTP method."""
    method = method.upper()
    if method != "GET":
        return method
    parts = urlsplit(target)
    path = parts.path.strip("/")
    if "/" in path:
        return "GET"  # /bucket/key: an object read
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    # A bucket-level GET with a subresource (?location, ?versioning, ?acl ...) is not a listing.
    listing = {"list-type", "prefix", "delimiter", "marker", "continuation-token", "max-keys", "start-after", "encoding-type", "fetch-owner"}
    if not query or set(query) <= listing:
        return "LIST"
    return "GET"


class _Closed(Exception):
    """The client closed its connection (or we closed it on purpose)."""


class _Handler(socketserver.StreamRequestHandler):
    server: "_Server"

    def setup(self) -> None:
        super().setup()
        self.proxy = self.server.proxy
        self.upstream: http.client.HTTPConnection | None = None
        self.proxy._track(self.connection, add=True)
        self.in_flight = False

    def finish(self) -> None:
        self.proxy._track(self.connection, add=False)
        if self.in_flight:
            self.proxy._done()
        if self.upstream is not None:
            self.upstream.close()
        with contextlib.suppress(OSError):
            super().finish()

    def handle(self) -> None:
        if self.proxy._is_down():
            self.proxy._dropped()
            self._reset()
            return
        try:
            while self._one_request():
                pass
        except (_Closed, ConnectionError, OSError):
            pass

    # -- one request ----------------------------------------------------------------------
    def _one_request(self) -> bool:
        """Serve one request; False when the connection is to be closed."""
        line = self.rfile.readline(65537)
        if not line:
            raise _Closed
        if line in (b"\r\n", b"\n"):
            return True  # a stray CRLF between requests is allowed
        method, target, version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        headers: list[tuple[str, str]] = []
        while True:
            h = self.rfile.readline(65537)
            if h in (b"\r\n", b"\n", b""):
                break
            name, _, value = h.decode("latin-1").partition(":")
            headers.append((name.strip(), value.strip()))
        lower = {k.lower(): v for k, v in headers}
        if self.proxy._is_down():
            self.proxy._dropped()
            self._reset()
            raise _Closed
        if lower.get("expect", "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()
        body = self._read_body(lower)
        verb = classify(method, target)
        self.proxy._count(verb, method, target)
        self.in_flight = True
        if self.proxy.latency > 0:
            time.sleep(self.proxy.latency)
        keep_alive = version.upper() == "HTTP/1.1" and lower.get("connection", "").lower() != "close"
        if self.proxy._is_throttled():
            self._send_throttled(method, keep_alive)
            self.in_flight = False
            self.proxy._done()
            return keep_alive
        if self.proxy._is_down():  # went down while we slept
            self.proxy._dropped()
            self._reset()
            raise _Closed
        status, reason, resp_headers, data = self._forward(method, target, headers, body)
        self._send(method, status, reason, resp_headers, data, keep_alive)
        self.in_flight = False
        self.proxy._done()
        return keep_alive

    def _read_body(self, lower: dict[str, str]) -> bytes:
        if "chunked" in lower.get("transfer-encoding", "").lower():
            raw = bytearray()
            while True:
                size_line = self.rfile.readline(65537)
                if not size_line:
                    raise _Closed
                raw += size_line
                size = int(size_line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while True:  # trailers, up to the empty line
                        trailer = self.rfile.readline(65537)
                        if not trailer:
                            raise _Closed
                        raw += trailer
                        if trailer in (b"\r\n", b"\n"):
                            return bytes(raw)
                raw += self._read_exact(size + 2)  # the chunk and its CRLF
        length = int(lower.get("content-length") or 0)
        return self._read_exact(length) if length else b""

    def _read_exact(self, n: int) -> bytes:
        data = self.rfile.read(n)
        if len(data) != n:
            raise _Closed
        return data

    def _forward(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes):
        # One retry: the server may have closed an idle keep-alive connection; a request it never
        # saw is safe to send again.
        for attempt in (0, 1):
            fresh = self.upstream is None
            if fresh:
                self.upstream = http.client.HTTPConnection(self.proxy.upstream_host, self.proxy.upstream_port, timeout=120)
            try:
                self.upstream.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
                for name, value in headers:
                    if name.lower() not in ("expect", "connection", "proxy-connection", "keep-alive"):
                        self.upstream.putheader(name, value)
                self.upstream.endheaders(body or None)
                response = self.upstream.getresponse()
                data = response.read()  # http.client de-chunks and knows HEAD has no body
                result = response.status, response.reason, response.getheaders(), data
                if response.will_close:
                    self.upstream.close()
                    self.upstream = None
                return result
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.upstream.close()
                self.upstream = None
                if fresh or attempt:
                    raise
        raise AssertionError("unreachable")

    def _send(self, method: str, status: int, reason: str, headers, data: bytes, keep_alive: bool) -> None:
        out = [f"HTTP/1.1 {status} {reason}"]
        has_length = False
        for name, value in headers:
            lname = name.lower()
            if lname in _HOP_BY_HOP:
                continue
            if lname == "content-length":
                if method.upper() != "HEAD":
                    continue  # re-framed below (the body may have come chunked)
                has_length = True
            out.append(f"{name}: {value}")
        if method.upper() != "HEAD" and status not in (204, 304) and not 100 <= status < 200:
            out.append(f"Content-Length: {len(data)}")
        elif method.upper() == "HEAD" and not has_length:
            out.append("Content-Length: 0")
        out.append("Connection: keep-alive" if keep_alive else "Connection: close")
        payload = ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")
        if method.upper() != "HEAD":
            payload += data
        self.wfile.write(payload)
        self.wfile.flush()

    def _send_throttled(self, method: str, keep_alive: bool) -> None:
        rid = uuid.uuid4().hex[:16].upper()
        body = _SLOW_DOWN.format(rid=rid).encode()
        headers = [("Content-Type", "application/xml"), ("x-amz-request-id", rid), ("Content-Length", str(len(body)))]
        self._send(method, 503, "Slow Down", headers, body, keep_alive)

    def _reset(self) -> None:
        """Close with a TCP reset (SO_LINGER 0): the client sees 'connection reset by peer'."""
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, proxy: "DelayProxy", address: tuple[str, int]):
        self.proxy = proxy
        super().__init__(address, _Handler)

    def handle_error(self, request, client_address) -> None:  # a client going away is not news
        pass


class DelayProxy:
    """An HTTP/1.1 proxy on loopback in front of an S3-compatible server: adds latency to each
    request, counts requests by verb, and fails on demand.

    Parameters
    ----------
    upstream : str
        The server's URL, e.g. ``http://127.0.0.1:5000`` (plain HTTP).
    latency : float
        Seconds slept before forwarding each request. Default 0.020: a cloud bucket answers a
        small request in roughly 10-50 ms (FACTS.md). Settable while running.
    host, port : str, int
        Where to listen. Default ``127.0.0.1`` and port 0 (a free port; see `endpoint`).
    record : bool
        Also keep every request's ``(verb, path?query)`` in order (`requests`), for debugging.
        Default False: a long benchmark would keep millions.

    Notes
    -----
    Counted: every request the proxy read whole, including those it answered with 503 while
    throttling. Connections and requests it reset during an outage are counted by `dropped`
    instead; a request read before an outage began and reset during its latency is in both.
    """

    def __init__(self, upstream: str, *, latency: float = 0.020, host: str = "127.0.0.1", port: int = 0, record: bool = False):
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream {upstream!r} is not an http://host:port URL; the proxy forwards plain HTTP only")
        self.upstream_host, self.upstream_port = parts.hostname, parts.port or 80
        self.latency = float(latency)
        self.record = record
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._requests: list[tuple[str, str]] = []
        self._dropped_count = 0
        self._connections = 0
        self._in_flight = 0
        self._peak_in_flight = 0
        self._down_until = 0.0
        self._down_depth = 0
        self._throttle_until = 0.0
        self._throttle_depth = 0
        self._sockets: set[socket.socket] = set()
        self._server = _Server(self, (host, port))
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        """The proxy's URL: pass it as ``endpoint_url``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "DelayProxy":
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="s3-delay-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and close every client connection."""
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            sockets = list(self._sockets)
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> "DelayProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- counts ---------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Requests seen since the last `reset`, by verb; verbs with no request are left out
        (``{"HEAD": 1, "PUT": 1}``), so a test can compare with ``==``."""
        with self._lock:
            known = [(v, self._counts[v]) for v in VERBS if self._counts[v]]
            other = [(v, n) for v, n in sorted(self._counts.items()) if v not in VERBS and n]
        return dict(known + other)

    def total(self) -> int:
        """All requests seen since the last `reset`."""
        with self._lock:
            return sum(self._counts.values())

    def requests(self) -> list[tuple[str, str]]:
        """``(verb, path?query)`` of each request since the last `reset`, in arrival order (only
        while `record` is on)."""
        with self._lock:
            return list(self._requests)

    @property
    def dropped(self) -> int:
        """Connections and requests reset during an outage since the last `reset`."""
        with self._lock:
            return self._dropped_count

    @property
    def connections(self) -> int:
        """Client connections accepted since the last `reset` (keep-alive makes it far less
        than the requests)."""
        with self._lock:
            return self._connections

    @property
    def peak_in_flight(self) -> int:
        """The most requests being served at once since the last `reset`: above 1 means
        requests overlapped their latency."""
        with self._lock:
            return self._peak_in_flight

    def reset(self) -> None:
        """Forget every count (and recorded request)."""
        with self._lock:
            self._counts.clear()
            self._requests.clear()
            self._dropped_count = 0
            self._connections = 0
            self._peak_in_flight = self._in_flight

    @contextlib.contextmanager
    def measure(self) -> Iterator[dict[str, int]]:
        """``with proxy.measure() as seen:`` resets the counts, and on exit fills ``seen`` with
        the counts of what ran inside the block."""
        self.reset()
        seen: dict[str, int] = {}
        try:
            yield seen
        finally:
            seen.update(self.counts())

    # -- failure modes --------------------------------------------------------------------
    def cut(self, seconds: float) -> None:
        """Reset every connection, open or new, for the next ``seconds`` (returns at once)."""
        with self._lock:
            self._down_until = max(self._down_until, time.monotonic() + seconds)
        self._reset_open_connections()

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        """Reset every connection, open or new, while the block runs."""
        with self._lock:
            self._down_depth += 1
        self._reset_open_connections()
        try:
            yield
        finally:
            with self._lock:
                self._down_depth -= 1

    @contextlib.contextmanager
    def throttle(self, seconds: float | None = None) -> Iterator[None]:
        """Answer every request with ``503 SlowDown`` while the block runs; with ``seconds``,
        for that long from now instead (the block may run longer)."""
        with self._lock:
            if seconds is None:
                self._throttle_depth += 1
            else:
                self._throttle_until = max(self._throttle_until, time.monotonic() + seconds)
        try:
            yield
        finally:
            if seconds is None:
                with self._lock:
                    self._throttle_depth -= 1

    # -- used by the handler --------------------------------------------------------------
    def _is_down(self) -> bool:
        return self._down_depth > 0 or time.monotonic() < self._down_until

    def _is_throttled(self) -> bool:
        return self._throttle_depth > 0 or time.monotonic() < self._throttle_until

    def _count(self, verb: str, method: str, target: str) -> None:
        with self._lock:
            self._counts[verb] += 1
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
            if self.record:
                self._requests.append((verb, target))

    def _done(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _dropped(self) -> None:
        with self._lock:
            self._dropped_count += 1

    def _track(self, sock: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._sockets.add(sock)
                self._connections += 1
            else:
                self._sockets.discard(sock)

    def _reset_open_connections(self) -> None:
        """Idle keep-alive connections would otherwise only notice at their next request."""
        with self._lock:
            sockets = list(self._sockets)
        for s in sockets:
            with contextlib.suppress(OSError):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.shutdown(socket.SHUT_RDWR)


class S3TestServer:
    """moto's S3 server and a `DelayProxy` in front of it, both on free loopback ports.

    Parameters
    ----------
    latency : float
        The proxy's latency in seconds (default 0.020; settable later as ``.proxy.latency``).
    record : bool
        Passed to the proxy.
    buckets : iterable of str
        Buckets to create at start.

    Attributes
    ----------
    endpoint : str
        The proxy's URL: clients pointed here are delayed and counted.
    direct_endpoint : str
        moto's own URL: for set-up that should be neither.
    proxy : DelayProxy
    env : dict
        Fake credentials and ``AWS_DEFAULT_REGION`` (FACTS.md: s3fs needs the region there).
        Nothing is set for you: apply it with ``monkeypatch.setenv`` or ``os.environ.update``.

    Notes
    -----
    moto keeps its buckets in process-wide state: two servers in one process share buckets.
    """

    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}

    def __init__(self, *, latency: float = 0.020, record: bool = False, buckets: tuple[str, ...] | list[str] = ()):
        self._latency, self._record, self._buckets = latency, record, list(buckets)
        self._moto = None
        self.proxy: DelayProxy | None = None
        self.direct_endpoint = ""

    @property
    def endpoint(self) -> str:
        return self.proxy.endpoint

    def start(self) -> "S3TestServer":
        from moto.server import ThreadedMotoServer

        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        self.direct_endpoint = f"http://{host}:{port}"
        self.proxy = DelayProxy(self.direct_endpoint, latency=self._latency, record=self._record).start()
        for bucket in self._buckets:
            self.create_bucket(bucket)
        return self

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        if self._moto is not None:
            self._moto.stop()

    def __enter__(self) -> "S3TestServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def client(self, *, direct: bool = True, **config):
        """A boto3 client with the fake credentials and region passed explicitly (no
        environment needed), to moto directly (default) or through the proxy."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.direct_endpoint if direct else self.endpoint,
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
            region_name=self.env["AWS_DEFAULT_REGION"],
            config=Config(**config) if config else None,
        )

    def create_bucket(self, name: str) -> str:
        """Create a bucket (directly, uncounted); returns its name."""
        self.client().create_bucket(Bucket=name)
        return name

    def storage_options(self, *, direct: bool = False) -> dict:
        """fsspec options for an s3fs filesystem on this server (through the proxy by default).
        The region still has to come from ``AWS_DEFAULT_REGION`` (see `env`)."""
        return {
            "endpoint_url": self.direct_endpoint if direct else self.endpoint,
            "key": self.env["AWS_ACCESS_KEY_ID"],
            "secret": self.env["AWS_SECRET_ACCESS_KEY"],
        }
