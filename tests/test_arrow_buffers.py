"""The writer's numpy-to-Arrow helpers (_arrow.py) build exactly what ``pa.array`` would."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from mediastore._arrow import decoded, int64_values, numeric, repeated, strings

NAMES = ["loss", "é-ü", "", "a/b", "x" * 300]


@pytest.mark.parametrize("times", [0, 1, 7])
def test_repeated_is_the_names_times_n(times):
    array = repeated(NAMES, times)
    array.validate(full=True)
    assert array.equals(pa.array(NAMES * times, pa.string()))


def test_decoded_gathers_the_names_of_the_codes():
    codes = np.random.default_rng(0).integers(0, len(NAMES), 5000)
    array = decoded(codes, NAMES)
    array.validate(full=True)
    assert array.equals(pa.array([NAMES[c] for c in codes], pa.string()))
    assert decoded(np.empty(0, np.int64), []).equals(pa.array([], pa.string()))


def test_strings_and_numeric_and_back():
    assert strings(NAMES).equals(pa.array(NAMES, pa.string()))
    values = np.arange(10, dtype=np.int64) * 3
    assert numeric(values, pa.int64()).equals(pa.array(values))
    assert numeric(values, pa.timestamp("us")).equals(pa.array(values).cast(pa.timestamp("us")))
    floats = np.linspace(0, 1, 5)
    assert numeric(floats, pa.float64()).equals(pa.array(floats))
    chunked = pa.chunked_array([pa.array([1, 2, 3], pa.int64()).slice(1), pa.array([9], pa.int64())])
    assert int64_values(chunked).tolist() == [2, 3, 9]
    assert int64_values(pa.chunked_array([], pa.int64())).tolist() == []
