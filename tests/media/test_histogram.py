"""ms.Histogram: every input form of the reference page, the heat-map query, the summary, and
every documented error."""

from __future__ import annotations

import json

import numpy as np
import pytest

import mediastore as ms

RNG = np.random.default_rng(7)
GRADS = RNG.standard_normal(1000)


def log_and_decode(uri, *histograms, key="h"):
    """Log histograms under one key, read them back through SQL, decode each row."""
    with ms.init(project="p", store=uri) as run:
        run.log({key: list(histograms)})
    store = ms.open(uri)
    rows = store.sql("SELECT * FROM histograms ORDER BY idx").df()
    assert rows["idx"].tolist() == list(range(len(histograms)))
    return rows, [store.decode(row) for _, row in rows.iterrows()]


def stored_count(uri) -> int:
    return ms.open(uri).sql("SELECT count(*) FROM histograms").fetchall()[0][0]


# -- sequences --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "num_bins"),
    [
        ([0.5, 1.5, 1.5, 2.0, 7.25], None),  # list
        ((3, 1, 4, 1, 5, 9, 2, 6), 4),  # tuple of ints
        (GRADS, None),  # the reference page's gradients
        (GRADS.reshape(20, 50), 10),  # flattened
        (GRADS.astype(np.float32), 512),  # the most bins
        (np.arange(100, dtype=np.uint8), 1),  # one bin
        ("torch", 32),  # a real torch tensor that requires grad, made in the test
        (np.full(5, 3.0), None),  # one value: np.histogram's range [x - 0.5, x + 0.5]
    ],
    ids=["list", "int-tuple", "array", "2d-array", "float32-512", "uint8-1bin", "tensor", "constant"],
)
def test_sequences_are_binned_like_np_histogram(store_uri, values, num_bins):
    if isinstance(values, str):
        torch = pytest.importorskip("torch")
        values = torch.tensor(GRADS.reshape(10, 100), requires_grad=True)
    histogram = ms.Histogram(values) if num_bins is None else ms.Histogram(values, num_bins=num_bins)
    flat = np.ravel(values.detach().numpy() if not isinstance(values, (list, tuple, np.ndarray)) else values)
    counts, edges = np.histogram(flat, bins=num_bins or 64)
    rows, (back,) = log_and_decode(store_uri, histogram)
    assert rows.loc[0, "num_bins"] == len(counts)
    assert rows["heights"].isna().all()
    np.testing.assert_array_equal(rows.loc[0, "counts"], counts)
    np.testing.assert_array_equal(rows.loc[0, "bins"], edges.astype(np.float64))
    np.testing.assert_array_equal(back.counts, counts)
    np.testing.assert_array_equal(back.bins, edges.astype(np.float64))
    assert back.counts.dtype == np.int64 and back.num_bins == len(counts)
    assert int(back.counts.sum()) == flat.size


def test_binning_happens_at_the_call(store_uri):
    values = np.zeros(100)
    histogram = ms.Histogram(values, num_bins=4)
    values[:] = 1e6  # the caller reuses its buffer before the row is written
    _, (back,) = log_and_decode(store_uri, histogram)
    np.testing.assert_array_equal(back.bins, [-0.5, -0.25, 0.0, 0.25, 0.5])


# -- np.histogram output ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda h: ms.Histogram(np_histogram=h),
        lambda h: ms.Histogram(h),  # positional, as on the reference page
        lambda h: ms.Histogram(np_histogram=[h[0].tolist(), h[1].tolist()]),  # lists
        lambda h: ms.Histogram(np_histogram=h, num_bins=len(h[0])),  # num_bins may repeat the count
    ],
    ids=["keyword", "positional", "lists", "matching-num_bins"],
)
@pytest.mark.parametrize(
    ("np_hist", "column"),
    [
        (np.histogram(GRADS, bins=20), "counts"),
        (np.histogram(GRADS, density=True, range=(0.0, 1.0)), "heights"),  # the reference page's example
        (np.histogram(GRADS, bins=[-3, -1, 0, 0.5, 3], weights=np.full(GRADS.size, 0.5)), "heights"),
    ],
    ids=["counts", "density", "float-weights"],
)
def test_np_histogram_is_stored_as_given(store_uri, make, np_hist, column):
    rows, (back,) = log_and_decode(store_uri, make(np_hist))
    other = {"counts": "heights", "heights": "counts"}[column]
    assert rows[other].isna().all()  # integers are not turned into floats, floats are not rounded
    np.testing.assert_array_equal(rows.loc[0, column], np_hist[0])
    counts, edges = back.histogram, back.bins
    assert counts is back.counts  # W&B's Histogram.histogram: the counts
    np.testing.assert_array_equal(counts, np_hist[0])
    np.testing.assert_array_equal(edges, np_hist[1])
    assert counts.dtype.kind == np_hist[0].dtype.kind
    assert rows.loc[0, "num_bins"] == len(np_hist[0])


def test_reference_page_examples(store_uri):
    grads = GRADS
    with ms.init(project="p", store=store_uri) as run:
        run.log({"gradients": ms.Histogram(grads)})
        np_hist_grads = np.histogram(grads, density=True, range=(0.0, 1.0))
        run.log({"gradients": ms.Histogram(np_hist_grads)})
    rows = ms.open(store_uri).sql("SELECT step, num_bins, counts IS NULL AS dense FROM histograms ORDER BY ALL").fetchall()
    assert rows == [(0, 64, False), (1, 10, True)]


def test_a_tuple_of_two_equal_length_sequences_is_values_not_np_histogram(store_uri):
    # Only (n counts, n + 1 edges) is read as np.histogram output; this is 2x3 values to bin.
    _, (back,) = log_and_decode(store_uri, ms.Histogram(([1, 2, 3], [4, 5, 6]), num_bins=6))
    np.testing.assert_array_equal(back.counts, np.histogram([1, 2, 3, 4, 5, 6], bins=6)[0])


def test_np_histogram_is_copied_at_the_call(store_uri):
    counts, edges = np.array([1, 2, 3]), np.array([0.0, 1.0, 2.0, 3.0])
    histogram = ms.Histogram(np_histogram=(counts, edges))
    counts[:] = 0
    edges[:] = 9.0
    _, (back,) = log_and_decode(store_uri, histogram)
    np.testing.assert_array_equal(back.counts, [1, 2, 3])
    np.testing.assert_array_equal(back.bins, [0.0, 1.0, 2.0, 3.0])


# -- SQL --------------------------------------------------------------------------------------


def test_view_has_the_contract_columns(store_uri):
    with ms.init(project="p", store=store_uri) as run:
        run.log({"h": ms.Histogram([1, 2, 3])})
    types = {name: type_ for name, type_, *_ in ms.open(store_uri).sql("DESCRIBE histograms").fetchall()}
    assert {k: types[k] for k in ("step", "idx", "bins", "counts", "heights", "num_bins", "kind")} == {
        "step": "BIGINT",
        "idx": "INTEGER",
        "bins": "DOUBLE[]",
        "counts": "BIGINT[]",
        "heights": "DOUBLE[]",
        "num_bins": "INTEGER",
        "kind": "VARCHAR",  # the engine's constant: store.decode(row) needs it
    }
    assert ms.open(store_uri).sql("SELECT count(*) FROM media").fetchall() == [(0,)]  # no blob, not in media


HEAT_MAP = """
    SELECT step,
           unnest(range(1, num_bins + 1))          AS bin,
           unnest(list_slice(bins, 1, num_bins))     AS lo,
           unnest(list_slice(bins, 2, num_bins + 1)) AS hi,
           unnest(coalesce(heights, counts::DOUBLE[])) AS count
    FROM histograms
    WHERE key = 'grads'
    ORDER BY ALL
"""


def test_heat_map_over_steps_in_sql(store_uri):
    data = {step: RNG.normal(loc=-1.0 + step, scale=1.0 / (step + 1), size=500) for step in range(5)}
    with ms.init(project="p", store=store_uri) as run:
        for step, values in data.items():
            run.log({"grads": ms.Histogram(values, num_bins=8), "other": ms.Histogram([0.0, 1.0])}, step=step)
    store = ms.open(store_uri)
    frame = store.sql(HEAT_MAP).df()
    expected = []
    for step, values in data.items():
        counts, edges = np.histogram(values, bins=8)
        expected += [(step, b + 1, edges[b], edges[b + 1], counts[b]) for b in range(8)]
    assert list(frame.itertuples(index=False, name=None)) == expected
    assert store.sql(HEAT_MAP).to_arrow_table().to_pandas().equals(frame)  # the Arrow path agrees
    # Every step's cells add up to the values logged at it.
    totals = store.sql("SELECT step, sum(count) FROM (" + HEAT_MAP + ") GROUP BY step ORDER BY step").fetchall()
    assert totals == [(step, 500) for step in data]


def test_heat_map_query_covers_density_histograms(store_uri):
    """density=True stores heights with counts NULL: the README's query still fills every cell."""
    with ms.init(project="p", store=store_uri) as run:
        run.log({"grads": ms.Histogram(np.histogram(GRADS, bins=4, density=True))}, step=0)
        run.log({"grads": ms.Histogram(np.histogram(GRADS, bins=4))}, step=1)
    rows = ms.open(store_uri).sql(HEAT_MAP).fetchall()
    heights, edges = np.histogram(GRADS, bins=4, density=True)
    counts, _ = np.histogram(GRADS, bins=4)
    assert rows == [(0, b + 1, edges[b], edges[b + 1], heights[b]) for b in range(4)] + [
        (1, b + 1, edges[b], edges[b + 1], counts[b]) for b in range(4)
    ]
    assert all(row[4] is not None for row in rows)


def test_pandas_arrow_and_tuple_rows_decode_alike(store_uri):
    with ms.init(project="p", store=store_uri) as run:
        run.log({"h": [ms.Histogram(GRADS), ms.Histogram(np.histogram(GRADS, density=True))]})
    store = ms.open(store_uri)
    query = "SELECT * FROM histograms ORDER BY idx"
    relation = store.sql(query)
    names = [d[0] for d in relation.description]
    paths = [
        [row for _, row in store.sql(query).df().iterrows()],
        store.sql(query).to_arrow_table().to_pylist(),
        [dict(zip(names, row)) for row in store.sql(query).fetchall()],
    ]
    decoded = [[(h.histogram, h.bins) for h in map(store.decode, rows)] for rows in paths]
    for other in decoded[1:]:
        for (counts, edges), (counts_0, edges_0) in zip(other, decoded[0]):
            np.testing.assert_array_equal(counts, counts_0)
            np.testing.assert_array_equal(edges, edges_0)
            assert counts.dtype == counts_0.dtype


def test_decode_needs_the_whole_row(store_uri):
    with ms.init(project="p", store=store_uri) as run:
        run.log({"h": ms.Histogram([1.0, 2.0])})
    store = ms.open(store_uri)
    (row,) = store.sql("SELECT kind, step, num_bins FROM histograms").to_arrow_table().to_pylist()
    with pytest.raises(ms.InvalidMediaError, match=r"decode needs a histograms row with its columns \['bins', 'counts', 'heights'\].*SELECT \* FROM histograms"):
        store.decode(row)


def test_a_list_under_one_key_keeps_its_order(store_uri):
    sources = [GRADS, GRADS * 10, np.arange(7)]
    rows, back = log_and_decode(store_uri, *(ms.Histogram(s, num_bins=5) for s in sources), key="layers")
    assert rows["key"].tolist() == ["layers"] * 3
    for histogram, source in zip(back, sources):
        np.testing.assert_array_equal(histogram.bins, np.histogram(source, bins=5)[1])


# -- summary ----------------------------------------------------------------------------------


def test_summary_keeps_the_last_histogram_and_summary_entries(store_uri):
    with ms.init(project="p", store=store_uri) as run:
        run.log({"h": ms.Histogram([0.0, 1.0], num_bins=2)})
        run.log({"h": ms.Histogram([0.0, 0.0, 4.0], num_bins=2)})
        run.log({"d": ms.Histogram(np_histogram=([0.25, 0.75], [0.0, 1.0, 2.0]))})
        run.summary["final_weights"] = ms.Histogram([1, 2, 3], num_bins=3)
    summary = json.loads(ms.open(store_uri).runs().loc[0, "summary"])
    assert summary["h"] == {"_kind": "histograms", "num_bins": 2, "bins": [0.0, 2.0, 4.0], "counts": [2, 1]}
    assert summary["d"] == {"_kind": "histograms", "num_bins": 2, "bins": [0.0, 1.0, 2.0], "heights": [0.25, 0.75]}
    assert summary["final_weights"]["counts"] == [1, 1, 1]
    assert summary["final_weights"]["bins"] == pytest.approx([1.0, 5 / 3, 7 / 3, 3.0])


# -- errors -----------------------------------------------------------------------------------

NOT_FINITE = np.array([1.0, np.nan, 2.0, np.inf, -np.inf])


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        pytest.param(lambda: ms.Histogram(NOT_FINITE), ms.InvalidMediaError, r"has 3 NaN or infinite value\(s\) out of 5; .*np\.isfinite", id="nan-inf"),
        pytest.param(lambda: ms.Histogram([1.0, 2.0], num_bins=513), ms.InvalidMediaError, r"num_bins is 513; .*at most 512 bins", id="num_bins-513"),
        pytest.param(lambda: ms.Histogram([1.0, 2.0], num_bins=0), ms.InvalidMediaError, r"num_bins is 0; it must be from 1 to 512", id="num_bins-0"),
        pytest.param(lambda: ms.Histogram([1.0], num_bins=2.5), ms.InvalidMediaTypeError, r"num_bins is 2\.5; it must be an int", id="num_bins-float"),
        pytest.param(lambda: ms.Histogram([1.0], num_bins=True), ms.InvalidMediaTypeError, r"num_bins is True; it must be an int", id="num_bins-bool"),
        pytest.param(lambda: ms.Histogram([]), ms.InvalidMediaError, r"sequence is empty \(shape \(0,\)\); there is nothing to bin", id="empty"),
        pytest.param(lambda: ms.Histogram(3.0), ms.InvalidMediaTypeError, r"must be a list, array or tensor of numbers, got float", id="python-number"),
        pytest.param(lambda: ms.Histogram(np.float64(3.0)), ms.InvalidMediaTypeError, r"got a single number 3\.0; pass a list", id="numpy-number"),
        pytest.param(lambda: ms.Histogram(["a", "b"]), ms.InvalidMediaTypeError, r"has dtype <U1; expected integers or floats", id="strings"),
        pytest.param(lambda: ms.Histogram([True, False]), ms.InvalidMediaTypeError, r"has dtype bool; expected integers or floats", id="bools"),
        pytest.param(lambda: ms.Histogram([[1, 2], [3]]), ms.InvalidMediaError, r"is ragged .* pass the tuple \(counts, edges\)", id="ragged"),
        pytest.param(lambda: ms.Histogram([0.0, 5e-324]), ms.InvalidMediaError, r"cannot split the range .* into 64 equal bins", id="range-too-small"),
        pytest.param(lambda: ms.Histogram(), ms.InvalidMediaTypeError, r"exactly one of sequence .*; got neither", id="neither"),
        pytest.param(lambda: ms.Histogram([1.0], np_histogram=([1], [0, 1])), ms.InvalidMediaTypeError, r"got both", id="both"),
        pytest.param(lambda: ms.Histogram(np_histogram="counts"), ms.InvalidMediaTypeError, r"must be a pair \(counts, edges\).*got str", id="np_histogram-not-pair"),
        pytest.param(lambda: ms.Histogram(np_histogram=([1, 2], [0, 1])), ms.InvalidMediaError, r"2 counts and 2 edges; .*len\(edges\) == len\(counts\) \+ 1", id="np_histogram-lengths"),
        pytest.param(lambda: ms.Histogram(np_histogram=([[1, 2]], [0, 1, 2])), ms.InvalidMediaError, r"counts of shape \(1, 2\).* must be 1-D", id="np_histogram-2d"),
        pytest.param(lambda: ms.Histogram(np_histogram=(np.ones(513, int), np.arange(514.0))), ms.InvalidMediaError, r"has 513 bins; .*at most 512 bins", id="np_histogram-513"),
        pytest.param(lambda: ms.Histogram(np_histogram=([1, 2], [0.0, 2.0, 1.0])), ms.InvalidMediaError, r"edges \[0\.0, 2\.0, 1\.0\] decrease", id="np_histogram-decreasing"),
        pytest.param(lambda: ms.Histogram(np_histogram=([1, 2], [0.0, np.nan, 1.0])), ms.InvalidMediaError, r"edges have 1 NaN or infinite", id="np_histogram-nan-edge"),
        pytest.param(lambda: ms.Histogram(np_histogram=([0.5, np.inf], [0, 1, 2])), ms.InvalidMediaError, r"counts have 1 NaN or infinite", id="np_histogram-inf-count"),
        pytest.param(lambda: ms.Histogram(np_histogram=(["a"], [0, 1])), ms.InvalidMediaTypeError, r"counts has dtype <U1", id="np_histogram-strings"),
        pytest.param(lambda: ms.Histogram(np_histogram=([1, 2], [0, 1, 2]), num_bins=10), ms.InvalidMediaError, r"num_bins=10 with an np_histogram of 2 bins", id="np_histogram-num_bins"),
    ],
)
def test_errors_name_the_value_and_the_fix(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_errors_are_the_builtin_kinds_too():
    with pytest.raises(ValueError):
        ms.Histogram([np.nan])
    with pytest.raises(TypeError):
        ms.Histogram("not numbers")


@pytest.mark.parametrize(
    "bad_call",
    [
        lambda run: run.log({"ok": ms.Histogram(GRADS), "bad": ms.Histogram(NOT_FINITE)}),  # fails building the dict
        lambda run: run.log({"ok": ms.Histogram(GRADS), "bad": object()}),  # fails inside run.log
        lambda run: run.log({"ok": [ms.Histogram(GRADS), GRADS]}),  # a list that is not all media
    ],
    ids=["bad-histogram", "bad-value", "mixed-list"],
)
def test_a_failed_log_call_stores_nothing(store_uri, bad_call):
    with ms.init(project="p", store=store_uri) as run:
        with pytest.raises((ms.InvalidMediaError, ms.InvalidLogError)):
            bad_call(run)
        run.log({"after": ms.Histogram([1.0, 2.0])})
    rows = ms.open(store_uri).sql("SELECT step, key FROM histograms").fetchall()
    assert rows == [(0, "after")]


# -- binning: the counts and edges of np.histogram, for every kind of input -------------------


def _inputs(seed: int) -> list[np.ndarray]:
    """Arrays of one seed from every family the binning treats apart: floats at every scale,
    float32, ints of every width (also their extremes), constant arrays, values exactly on the
    edges, ranges tiny beside their magnitude, huge ranges, float16, more than one block."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    edges = np.linspace(rng.uniform(-100, 0), rng.uniform(0.1, 100), int(rng.integers(2, 513)))
    i64 = np.iinfo(np.int64)
    return [
        rng.standard_normal(n) * 10.0 ** rng.uniform(-300, 300),
        rng.uniform(-1e3, 1e3, n),
        (rng.standard_normal(n) * 10.0 ** rng.uniform(-30, 30)).astype(np.float32),
        rng.integers(-(10 ** int(rng.integers(0, 18))), 10 ** int(rng.integers(0, 18)) + 1, n, dtype=np.int64),
        rng.integers(i64.min, i64.max, n, dtype=np.int64, endpoint=True),
        rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True),
        rng.integers(-128, 128, n).astype(np.int8),
        rng.integers(0, 256, n).astype(np.uint8),
        rng.integers(0, 65, n).astype(np.int32),  # every value on an edge of 64 bins over [0, 64]
        np.full(n, rng.standard_normal() * 10.0 ** rng.uniform(-5, 5)),
        np.full(n, int(rng.integers(-1000, 1000))),
        rng.choice(edges, n),  # values exactly on (another histogram's) edges
        np.round(rng.standard_normal(n), int(rng.integers(0, 4))),  # many repeats
        1e6 + rng.uniform(0.0, 1e-4, n),  # a range tiny beside its magnitude
        np.concatenate([[np.finfo(np.float64).min / 2, np.finfo(np.float64).max / 2], rng.standard_normal(n)]),
        np.array([np.finfo(np.float64).min, 0.0, np.finfo(np.float64).max]),
        np.array([np.finfo(np.float32).min, 1.0, np.finfo(np.float32).max], dtype=np.float32),
        rng.standard_normal(n).astype(np.float16),
        rng.standard_normal(int(rng.integers(65_536, 200_000))),  # more than one block of 65,536
    ]


@pytest.mark.parametrize("seed", range(30))
def test_counts_and_edges_are_np_histograms(seed):
    rng = np.random.default_rng(1000 + seed)
    for values in _inputs(seed):
        num_bins = int(rng.choice([1, 2, 3, 7, 10, 64, 100, 255, 511, 512]))
        with np.errstate(all="ignore"):  # numpy warns of overflow in ranges near the float limits
            try:
                counts, edges = np.histogram(values, bins=num_bins)
            except (ValueError, IndexError):  # a range wider than the largest float (IndexError: 1 bin)
                with pytest.raises(ms.InvalidMediaError, match="cannot split the range"):
                    ms.Histogram(values, num_bins=num_bins)
                continue
            histogram = ms.Histogram(values, num_bins=num_bins)
        where = f"{values.dtype} x {values.size} in [{values.min()}, {values.max()}], {num_bins} bins"
        np.testing.assert_array_equal(histogram.counts, counts, err_msg=where)
        np.testing.assert_array_equal(histogram.bins, edges.astype(np.float64), err_msg=where)
        assert histogram.counts.dtype == np.int64 and histogram.bins.dtype == np.float64


@pytest.mark.parametrize("num_bins", [1, 4, 64, 512])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.uint8])
def test_values_on_the_edges_go_where_np_histogram_puts_them(num_bins, dtype):
    # Every edge of a histogram over [0, 255], the upper one included (the last bin is closed).
    edges = np.histogram(np.array([0, 255], dtype=dtype), bins=num_bins)[1]
    values = np.concatenate([edges, edges[:-1] + np.diff(edges) / 2]).astype(dtype)
    histogram = ms.Histogram(values, num_bins=num_bins)
    np.testing.assert_array_equal(histogram.counts, np.histogram(values, bins=num_bins)[0])
    assert histogram.counts[-1] >= np.count_nonzero(values == values.max()) > 0  # the upper edge is in the last bin


def test_the_shortcut_is_taken_for_ordinary_values(monkeypatch):
    """The comparisons above would also pass if every input fell back on np.histogram: pin
    that ordinary floats and ints are binned without calling it."""
    values = [np.random.default_rng(3).standard_normal(10_000), np.arange(-500, 1500), GRADS.astype(np.float32)]
    expected = [np.histogram(v, bins=64) for v in values]

    def no_histogram(*args, **kwargs):
        raise AssertionError("np.histogram was called")

    monkeypatch.setattr(np, "histogram", no_histogram)
    for v, (counts, edges) in zip(values, expected):
        histogram = ms.Histogram(v)
        np.testing.assert_array_equal(histogram.counts, counts)
        np.testing.assert_array_equal(histogram.bins, edges)
