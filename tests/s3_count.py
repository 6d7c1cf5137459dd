"""Counting (and optionally slowing) the S3 requests of the s3fs filesystems this process makes,
by botocore's event hooks: what an operation costs on a bucket, as an exact number."""

from __future__ import annotations

import asyncio
import collections
import contextlib

import mediastore.storage


@contextlib.contextmanager
def count_requests(latency: float = 0.0):
    """Yield a Counter of S3 operations (GetObject, ListObjectsV2, HeadObject, ...) made inside
    the block; each waits ``latency`` seconds first, without blocking the others (as a bucket's
    round trip would)."""
    counts: collections.Counter = collections.Counter()

    async def hook(model=None, **_):
        counts[model.name] += 1
        if latency:
            await asyncio.sleep(latency)

    fs = mediastore.storage.StoreLocation("s3://any").fs
    fs.connect()
    events = fs.s3.meta.events
    events.register("before-call.s3", hook)
    try:
        yield counts
    finally:
        events.unregister("before-call.s3", hook)
