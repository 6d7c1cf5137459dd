"""The delay proxy (mediastore/_testing/s3proxy.py): exact counts by verb for what s3fs and
botocore really send, latency that adds up one request after another and overlaps across
parallel ones, and the outage and throttle modes that later outage tests build on."""

from __future__ import annotations

import http.client
import subprocess
import sys
import time
import uuid

import pytest

pytest.importorskip("s3fs", reason="the S3 tests need s3fs (the s3 extra)")

from mediastore._testing.s3proxy import DelayProxy, S3TestServer, classify  # noqa: E402


def _fs(endpoint: str, *, retries: int | None = None, **options):
    import s3fs

    # A fresh instance: fsspec would otherwise hand back one made for another endpoint's test.
    fs = s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True, use_listings_cache=False, **options)
    if retries is not None:
        fs.retries = retries  # s3fs's own retry loop, around botocore's
    return fs


@pytest.fixture
def prefix(s3_bucket) -> str:
    return f"{s3_bucket}/{uuid.uuid4().hex[:12]}"


def test_import_mediastore_does_not_import_the_test_helpers():
    code = "import sys, mediastore; print([m for m in sys.modules if m.startswith('mediastore._testing')])"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"


# What s3fs 2026.9 sends for each call, pinned: a change here changes every count built on it.
S3FS_CALLS = [
    ("pipe_file", lambda fs, p: fs.pipe_file(f"{p}/new.bin", b"x" * 100), {"PUT": 1}),
    ("pipe_file 6 MB", lambda fs, p: fs.pipe_file(f"{p}/big.bin", b"x" * 6 * 2**20), {"PUT": 1}),
    ("cat_file", lambda fs, p: fs.cat_file(f"{p}/a.bin"), {"HEAD": 1, "GET": 1}),
    ("cat_file with a range", lambda fs, p: fs.cat_file(f"{p}/a.bin", start=2, end=10), {"GET": 1}),
    ("open + read", lambda fs, p: fs.open(f"{p}/a.bin").read(), {"HEAD": 1, "GET": 1}),
    ("ls", lambda fs, p: fs.ls(p), {"LIST": 1}),
    ("find", lambda fs, p: fs.find(p), {"LIST": 1}),
    ("info of a file", lambda fs, p: fs.info(f"{p}/a.bin"), {"HEAD": 1}),
    ("info of a directory", lambda fs, p: fs.info(f"{p}/sub"), {"HEAD": 1, "LIST": 1}),
    ("exists, present", lambda fs, p: fs.exists(f"{p}/a.bin"), {"HEAD": 1}),
    ("exists, absent", lambda fs, p: fs.exists(f"{p}/absent.bin"), {"HEAD": 1, "LIST": 1}),
    ("glob", lambda fs, p: fs.glob(f"{p}/sub/*.bin"), {"HEAD": 1, "LIST": 3}),
    ("rm_file", lambda fs, p: fs.rm_file(f"{p}/a.bin"), {"DELETE": 1}),
    ("makedirs", lambda fs, p: fs.makedirs(f"{p}/new", exist_ok=True), {"HEAD": 1}),
]


@pytest.mark.parametrize("call, expected", [c[1:] for c in S3FS_CALLS], ids=[c[0] for c in S3FS_CALLS])
def test_s3fs_calls_are_counted_exactly_by_verb(s3_proxy, prefix, call, expected):
    fs = _fs(s3_proxy.endpoint)
    fs.pipe_file(f"{prefix}/a.bin", b"0123456789" * 10)
    fs.pipe_file(f"{prefix}/sub/b.bin", b"b")
    s3_proxy.reset()
    call(fs, prefix)
    assert s3_proxy.counts() == expected
    assert s3_proxy.total() == sum(expected.values())


def test_boto3_calls_are_counted_and_answered_through_the_proxy(s3_proxy, s3_bucket):
    import boto3

    client = boto3.client("s3", endpoint_url=s3_proxy.endpoint)
    key = f"{uuid.uuid4().hex[:12]}/k"
    s3_proxy.record = True
    client.put_object(Bucket=s3_bucket, Key=key, Body=b"payload")
    assert client.head_object(Bucket=s3_bucket, Key=key)["ContentLength"] == 7
    assert client.get_object(Bucket=s3_bucket, Key=key, Range="bytes=1-3")["Body"].read() == b"ayl"
    assert [o["Key"] for o in client.list_objects_v2(Bucket=s3_bucket, Prefix=key)["Contents"]] == [key]
    assert s3_bucket in [b["Name"] for b in client.list_buckets()["Buckets"]]
    client.delete_object(Bucket=s3_bucket, Key=key)
    assert s3_proxy.counts() == {"HEAD": 1, "GET": 1, "LIST": 2, "PUT": 1, "DELETE": 1}
    assert [verb for verb, _ in s3_proxy.requests()] == ["PUT", "HEAD", "GET", "LIST", "LIST", "DELETE"]
    assert s3_proxy.requests()[0][1] == f"/{s3_bucket}/{key}"


def test_a_chunked_request_body_is_forwarded_whole(s3_proxy, s3_bucket):
    import boto3

    key = f"{uuid.uuid4().hex[:12]}/chunked"
    conn = http.client.HTTPConnection("127.0.0.1", int(s3_proxy.endpoint.rsplit(":", 1)[1]))
    conn.request("PUT", f"/{s3_bucket}/{key}", body=iter([b"abc", b"defg"]), encode_chunked=True,
                 headers={"Transfer-Encoding": "chunked"})
    assert conn.getresponse().read() is not None
    body = boto3.client("s3", endpoint_url=s3_proxy.endpoint).get_object(Bucket=s3_bucket, Key=key)["Body"].read()
    assert body == b"abcdefg"


@pytest.mark.parametrize(
    "method, target, verb",
    [
        ("GET", "/b/some/key.parquet", "GET"),
        ("GET", "/b?list-type=2&prefix=x%2F&delimiter=%2F", "LIST"),
        ("GET", "/b", "LIST"),
        ("GET", "/", "LIST"),
        ("GET", "/b?location", "GET"),
        ("HEAD", "/b/k", "HEAD"),
        ("put", "/b/k", "PUT"),
        ("POST", "/b?delete", "POST"),
        ("DELETE", "/b/k", "DELETE"),
    ],
)
def test_classify(method, target, verb):
    assert classify(method, target) == verb


def test_requests_on_one_client_reuse_one_connection(s3_proxy, prefix):
    fs = _fs(s3_proxy.endpoint)
    fs.pipe_file(f"{prefix}/a", b"a")
    s3_proxy.reset()
    for _ in range(10):
        fs.info(f"{prefix}/a")
    assert s3_proxy.counts() == {"HEAD": 10}
    assert s3_proxy.connections <= 1  # keep-alive: no new connection per request


def test_latency_is_paid_by_each_sequential_request(s3_proxy, prefix):
    fs = _fs(s3_proxy.endpoint)
    fs.pipe_file(f"{prefix}/a", b"a")
    s3_proxy.latency = 0.05
    start = time.perf_counter()
    for _ in range(10):
        fs.info(f"{prefix}/a")
    assert time.perf_counter() - start >= 10 * 0.05  # a lower bound: it cannot flake


def test_parallel_requests_overlap_their_latency(s3_proxy, prefix):
    fs = _fs(s3_proxy.endpoint)
    paths = [f"{prefix}/{i}" for i in range(8)]
    for p in paths:
        fs.pipe_file(p, p.encode())
    s3_proxy.latency = 0.2
    s3_proxy.reset()
    assert fs.cat(paths) == {p: p.encode() for p in paths}  # s3fs gathers these concurrently
    assert s3_proxy.peak_in_flight >= 4


def test_an_outage_makes_s3fs_fail_and_the_same_filesystem_recovers_after(s3_proxy, prefix):
    # s3fs lets botocore's connection errors through untranslated (not an OSError).
    from botocore.exceptions import ConnectionError as BotocoreConnectionError

    fs = _fs(s3_proxy.endpoint, retries=1, config_kwargs={"retries": {"total_max_attempts": 1}})
    fs.pipe_file(f"{prefix}/a", b"a")
    with s3_proxy.outage():
        with pytest.raises(BotocoreConnectionError):  # an open keep-alive connection is reset
            fs.cat_file(f"{prefix}/a")
        with pytest.raises(BotocoreConnectionError):  # a new connection is reset
            _fs(s3_proxy.endpoint, retries=1, config_kwargs={"retries": {"total_max_attempts": 1}}).cat_file(f"{prefix}/a")
    assert s3_proxy.dropped >= 2
    assert fs.cat_file(f"{prefix}/a") == b"a"


def test_a_short_cut_is_ridden_out_by_s3fs_retries(s3_proxy, prefix):
    fs = _fs(s3_proxy.endpoint)
    fs.pipe_file(f"{prefix}/a", b"a")
    s3_proxy.reset()
    s3_proxy.cut(0.5)
    assert fs.cat_file(f"{prefix}/a") == b"a"
    assert s3_proxy.dropped >= 1
    assert s3_proxy.counts()["GET"] == 1


def test_throttling_answers_503_slowdown_that_botocore_parses(s3_proxy, s3_bucket):
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    client = boto3.client("s3", endpoint_url=s3_proxy.endpoint, config=Config(retries={"total_max_attempts": 1}))
    key = f"{uuid.uuid4().hex[:12]}/k"
    client.put_object(Bucket=s3_bucket, Key=key, Body=b"v")
    with s3_proxy.throttle():
        with pytest.raises(ClientError) as caught:
            client.get_object(Bucket=s3_bucket, Key=key)
        with pytest.raises(ClientError) as head:
            client.head_object(Bucket=s3_bucket, Key=key)  # a HEAD answer has no body to parse
        with pytest.raises(ClientError):
            client.put_object(Bucket=s3_bucket, Key=key, Body=b"w")
    error = caught.value.response
    assert error["Error"]["Code"] == "SlowDown"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert head.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    # The connection stayed usable (the 503s were framed properly), and the PUT never got through.
    assert client.get_object(Bucket=s3_bucket, Key=key)["Body"].read() == b"v"


def test_s3fs_retries_through_a_short_throttle(s3_proxy, prefix):
    fs = _fs(s3_proxy.endpoint)
    fs.pipe_file(f"{prefix}/a", b"a")
    s3_proxy.reset()
    with s3_proxy.throttle(seconds=0.3):
        assert fs.cat_file(f"{prefix}/a", start=0, end=1) == b"a"
    assert s3_proxy.counts()["GET"] >= 2  # at least one 503, then the answer


def test_a_bad_upstream_is_refused_with_the_reason():
    with pytest.raises(ValueError, match=r"upstream 'https://x' is not an http://host:port URL; the proxy forwards plain HTTP only"):
        DelayProxy("https://x")


def test_s3_test_server_starts_moto_and_a_proxy_and_sets_no_environment(monkeypatch):
    pytest.importorskip("moto.server", reason="needs moto[server] (the dev extra)")
    import os

    before = dict(os.environ)
    with S3TestServer(latency=0.0, buckets=["proxy-helper-bucket"]) as s3:
        assert dict(os.environ) == before
        assert s3.endpoint != s3.direct_endpoint
        for name, value in s3.env.items():
            monkeypatch.setenv(name, value)
        direct = _fs(s3.direct_endpoint, key="testing", secret="testing")
        direct.pipe_file("proxy-helper-bucket/k", b"v")
        assert s3.proxy.total() == 0
        proxied = _fs(s3.endpoint, key="testing", secret="testing")
        assert proxied.cat_file("proxy-helper-bucket/k") == b"v"
        assert s3.proxy.counts() == {"HEAD": 1, "GET": 1}
        assert s3.client(direct=False).get_object(Bucket="proxy-helper-bucket", Key="k")["Body"].read() == b"v"
        assert s3.storage_options()["endpoint_url"] == s3.endpoint


def test_proxied_store_uri_routes_a_store_through_the_proxy(proxied_store_uri, s3_proxy):
    import mediastore as ms

    with ms.init(project="p", store=proxied_store_uri) as run:
        run.log({"loss": 1.0})
    assert s3_proxy.counts()["PUT"] >= 1
    s3_proxy.reset()
    assert ms.open(proxied_store_uri).sql("SELECT count(*) FROM scalars").fetchall() == [(1,)]
    assert s3_proxy.total() > 0
