"""Shared by the integration tests: real frameworks, tiny models, CPU, one thread."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models train fastest on one thread; on a busy 2-core machine torch's default of one
    thread per core made a 48-step run 70x slower (the threads spin against each other)."""
    try:
        import torch
    except ImportError:  # the tests that need it skip themselves
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
