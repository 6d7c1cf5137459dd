"""Fixtures shared by the suite: a fresh store on each backend the storage tests run against."""

from __future__ import annotations

import contextlib
import shutil
import threading
import uuid

import fsspec
import numpy as np
import pytest

import mediastore as ms
from mediastore.storage import StoreLocation


BUCKET = "mediastore-test"


@pytest.fixture(autouse=True, scope="session")
def _local_cache(tmp_path_factory):
    """Object-store reads go through a cache of the session's own, and writers spool into a
    spool of its own, not the user's ~/.cache (child processes the tests start inherit both).
    A run's spool leaves its project's folder behind under its store's key, by design: a
    session's thousands of throw-away stores would leave as many folders in ~/.cache."""
    import os

    names = {"MEDIASTORE_CACHE": "cache", "MEDIASTORE_SPOOL": "spool"}
    saved = {name: os.environ.get(name) for name in names}
    for name, folder in names.items():
        os.environ[name] = str(tmp_path_factory.mktemp(folder))
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def s3_server():
    """A real S3-compatible server (moto's server mode) on a free loopback port, for the whole
    session. Clients find it through the standard AWS_* variables, so code under test passes no
    options; fake credentials keep anything from outside out."""
    pytest.importorskip("moto.server", reason="the S3 tests need moto[server] (the dev extra)")
    pytest.importorskip("s3fs", reason="the S3 tests need s3fs (the s3 extra)")
    import os

    import boto3
    from moto.server import ThreadedMotoServer

    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",  # FACTS.md: the region goes here, not in client_kwargs
    }
    saved = {k: os.environ.get(k) for k in [*env, "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_PROFILE"]}
    os.environ.update(env)
    for k in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        os.environ.pop(k, None)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def s3_bucket(s3_server) -> str:
    """The name of the bucket on the loopback S3 server (tests take a fresh prefix in it)."""
    return BUCKET


@pytest.fixture
def s3_proxy(s3_server):
    """A `DelayProxy` (mediastore/_testing/s3proxy.py) in front of the session's loopback S3
    server, fresh for each test: ``.endpoint``, ``.counts()``, ``.reset()``, ``.total()``,
    ``.latency`` (seconds, settable; 0 here so tests stay fast), ``.record``, ``.outage()``,
    ``.throttle()``. Only clients pointed at ``.endpoint`` go through it: see `proxied_s3`."""
    from mediastore._testing.s3proxy import DelayProxy

    with DelayProxy(s3_server, latency=0.0) as proxy:
        yield proxy


@pytest.fixture
def proxied_s3(s3_proxy, monkeypatch):
    """`s3_proxy`, with every S3 client made during the test routed through it:
    ``AWS_ENDPOINT_URL`` points at the proxy (so code that takes no ``storage_options``, the
    CLI's included, goes through it too), and s3fs's instance cache is emptied before and after
    the test: a cached filesystem keeps the endpoint it was made with, and one made before would
    bypass the proxy, one made during the test would outlive it."""
    import s3fs

    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_proxy.endpoint)
    s3fs.S3FileSystem.clear_instance_cache()
    yield s3_proxy
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def proxied_store_uri(proxied_s3, s3_bucket) -> str:
    """A fresh ``s3://bucket/prefix`` store URI whose traffic all goes through `s3_proxy`
    (take ``s3_proxy`` too to read its counts). Passing
    ``storage_options={"endpoint_url": s3_proxy.endpoint}`` as well is harmless."""
    return f"s3://{s3_bucket}/{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["local", "memory", "s3"])
def store_uri(request, tmp_path):
    """A fresh, empty store URI: a local folder, fsspec's in-process memory filesystem, and a
    prefix in a bucket on the loopback S3 server."""
    if request.param == "local":
        yield str(tmp_path / "store")
    elif request.param == "s3":
        yield f"s3://{request.getfixturevalue('s3_bucket')}/{uuid.uuid4().hex[:12]}"
    else:
        root = f"memory://ms-{uuid.uuid4().hex[:12]}"
        yield root
        fs = fsspec.filesystem("memory")
        if fs.exists(root):
            fs.rm(root, recursive=True)


@pytest.fixture(params=["local", "s3"])
def shared_store_uri(request, tmp_path):
    """A fresh store several processes (or threads) can share: a local folder, or a prefix in
    the bucket on the loopback S3 server."""
    if request.param == "local":
        return str(tmp_path / "store")
    return f"s3://{request.getfixturevalue('s3_bucket')}/{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["local", "s3"])
def checked_in_store(request, tmp_path):
    """``copy(source)``: a store checked in under ``tests/data`` copied as it is, file by file,
    to a local folder, or to a prefix in the bucket on the loopback S3 server; its URI."""

    def copy(source) -> str:
        if request.param == "local":
            root = tmp_path / "store"
            shutil.copytree(source, root)
            return str(root)
        uri = f"s3://{request.getfixturevalue('s3_bucket')}/{uuid.uuid4().hex[:12]}"
        loc = StoreLocation(uri)
        for path in sorted(source.rglob("*")):
            if path.is_file():
                loc.fs.pipe_file(loc.path(path.relative_to(source).as_posix()), path.read_bytes())
        return uri

    return copy


@pytest.fixture
def local_store(tmp_path):
    return str(tmp_path / "store")


@pytest.fixture
def rgb():
    """A smooth 24x32 RGB gradient with a little noise: what real images look like to PNG."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:24, 0:32]
    base = np.stack([x * 8, y * 10, (x + y) * 4], axis=-1)
    return np.clip(base + rng.integers(0, 4, base.shape), 0, 255).astype(np.uint8)


def logged_rows(uri: str, view: str, order: str = "step, key, idx"):
    """All rows of a view as a DataFrame, in a stable order."""
    return ms.open(uri).sql(f"SELECT * FROM {view} ORDER BY {order}").df()


@contextlib.contextmanager
def _reading_in_a_loop(uri: str, read):
    """While the block runs, a thread opens the store once and calls ``read(store)`` in a loop;
    yields the list of what the calls returned. Any query error fails the test at the end."""
    seen, errors = [], []
    stop = threading.Event()

    def reader():
        store = ms.open(uri)
        while not stop.is_set():
            try:
                seen.append(read(store))
            except Exception as exc:  # any query error fails the test
                errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join()
    assert not errors, errors[:3]


@pytest.fixture
def reading_in_a_loop():
    """`_reading_in_a_loop`: readers querying throughout a compaction, for its tests."""
    return _reading_in_a_loop
