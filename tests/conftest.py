"""Fixtures shared by the suite: a fresh store on each backend the storage tests run against."""

from __future__ import annotations

import uuid

import fsspec
import numpy as np
import pytest

import mediastore as ms


@pytest.fixture(params=["local", "memory"])
def store_uri(request, tmp_path):
    """A fresh, empty store URI: a local folder, and fsspec's in-process memory filesystem."""
    if request.param == "local":
        yield str(tmp_path / "store")
    else:
        root = f"memory://ms-{uuid.uuid4().hex[:12]}"
        yield root
        fs = fsspec.filesystem("memory")
        if fs.exists(root):
            fs.rm(root, recursive=True)


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
