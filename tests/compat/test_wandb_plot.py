"""ms.plot as W&B code uses wandb.plot: a chart's table is logged under "<key>_table", the chart's
spec is kept in the run's summary, and the computed charts hold W&B's own rows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import mediastore as ms


def log_charts(tmp_path, values: dict, *more: dict):
    """Log ``values`` (then each of ``more``) in one run; the store and the run's summary."""
    uri = str(tmp_path / "store")
    with ms.init(project="p", store=uri, run_id="r") as run:
        run.log(values)
        for m in more:
            run.log(m)
    store = ms.open(uri)
    return store, json.loads(store.runs()["summary"].iloc[0])


def rows(table) -> list[list]:
    return [list(r) for r in table.get_dataframe().itertuples(index=False)]


def squares() -> ms.Table:
    return ms.Table(columns=["step", "value", "series"], data=[[i, i * i, "a" if i % 2 else "b"] for i in range(6)])


# -- the simple charts: a table and the columns they draw ---------------------------------------


@pytest.mark.parametrize("make, spec, fields", [
    (lambda t: ms.plot.line(t, "step", "value", stroke="series", title="T"), "wandb/line/v0",
     {"x": "step", "y": "value", "stroke": "series"}),
    (lambda t: ms.plot.line(t, "step", "value", title="T"), "wandb/line/v0", {"x": "step", "y": "value", "stroke": None}),
    (lambda t: ms.plot.scatter(t, "step", "value", title="T"), "wandb/scatter/v0", {"x": "step", "y": "value"}),
    (lambda t: ms.plot.bar(t, "series", "value", title="T"), "wandb/bar/v0", {"label": "series", "value": "value"}),
    (lambda t: ms.plot.histogram(t, "value", title="T"), "wandb/histogram/v0", {"value": "value"}),
])
def test_a_chart_logs_its_table_under_key_table_and_its_spec_in_the_summary(tmp_path, make, spec, fields):
    store, summary = log_charts(tmp_path, {"chart": make(squares())})
    assert store.sql("SELECT key, step, num_rows FROM tables").fetchall() == [("chart_table", 0, 6)]
    assert [list(r) for r in store.table("r", "chart_table").itertuples(index=False)] == rows(squares())
    assert summary["chart_table"]["chart"] == {"spec_name": spec, "fields": fields, "string_fields": {"title": "T"}}
    assert "chart" not in summary


def test_the_chart_table_is_queryable_in_sql_and_the_dataframe_is_the_logged_one(tmp_path):
    frame = pd.DataFrame({"epoch": [0, 1, 2], "acc": [0.5, 0.75, 0.875]})
    store, _ = log_charts(tmp_path, {"acc": ms.plot.line(frame, "epoch", "acc")})  # a DataFrame is made a Table
    pd.testing.assert_frame_equal(store.table("r", "acc_table"), frame)
    assert store.sql('SELECT max(acc) FROM tables."acc_table"').fetchall() == [(0.875,)]


def test_split_table_and_nested_keys_follow_w_and_b(tmp_path):
    chart = ms.plot.scatter(squares(), "step", "value", split_table=True)
    store, summary = log_charts(tmp_path, {"eval": {"s": chart}, "loss": 0.5})
    assert store.sql("SELECT key FROM tables").fetchall() == [("Custom Chart Tables/eval.s_table",)]
    assert summary["Custom Chart Tables/eval.s_table"]["chart"]["spec_name"] == "wandb/scatter/v0"
    assert summary["loss"] == 0.5


def test_a_table_logged_as_a_chart_then_alone_has_no_chart_the_second_time(tmp_path):
    table = squares()  # IMMUTABLE: both logs store its first contents, the chart only the first time
    _, summary = log_charts(tmp_path, {"c": ms.plot.line(table, "step", "value")}, {"plain": table}, {"c2": ms.plot.bar(table, "series", "value")})
    assert summary["c_table"]["chart"]["spec_name"] == "wandb/line/v0"
    assert "chart" not in summary["plain"]
    assert summary["c2_table"]["chart"]["spec_name"] == "wandb/bar/v0"


def test_plot_table_keeps_a_custom_spec_by_name():
    table = ms.Table(columns=["x", "y"], data=[[1, 1], [2, 2]])
    chart = ms.plot_table("team/my-spec/v1", table, {"x": "x", "y": "y", "title": "MY TITLE"}, {"title": "Title"})
    assert (chart.spec_name, chart.fields, chart.string_fields, chart.table) == ("team/my-spec/v1", {"x": "x", "y": "y", "title": "MY TITLE"}, {"title": "Title"}, table)
    assert chart.table_key("k") == "k_table"


@pytest.mark.parametrize("call, error, match", [
    (lambda: ms.plot.line(squares(), "step", "loss"), ms.InvalidMediaError, r"ms.plot.line: y='loss' is not a column of the table \(its columns: \['step', 'value', 'series'\]\)"),
    (lambda: ms.plot.line(squares(), "step", "value", stroke="run"), ms.InvalidMediaError, r"stroke='run' is not a column"),
    (lambda: ms.plot.bar([[1, 2]], "a", "b"), ms.InvalidMediaTypeError, r"ms.plot.bar: the data must be an ms.Table, got list; make one with ms.Table"),
    (lambda: ms.plot_table("", squares(), {}), ms.InvalidMediaTypeError, r"vega_spec_name must be a non-empty str"),
    (lambda: ms.plot_table("s", squares(), {"x": object()}), ms.InvalidMediaTypeError, r"fields must hold JSON values"),
    (lambda: ms.plot_table("s", squares(), {1: "x"}), ms.InvalidMediaTypeError, r"fields must be a dict with str keys"),
])
def test_a_chart_of_bad_input_is_refused_with_the_fix(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_a_chart_whose_table_key_is_logged_too_is_refused_and_nothing_is_stored(tmp_path):
    uri = str(tmp_path / "store")
    with ms.init(project="p", store=uri, run_id="r") as run:
        with pytest.raises(ms.InvalidLogError, match=r"the chart 'c' stores its table under 'c_table', which is logged too"):
            run.log({"c": ms.plot.line(squares(), "step", "value"), "c_table": squares(), "x": 1.0})
    assert ms.open(uri).sql("SELECT count(*) FROM tables").fetchall() == [(0,)]
    assert ms.open(uri).history("r").empty


# -- line_series ----------------------------------------------------------------------------------


def test_line_series_makes_w_and_b_rows():
    chart = ms.plot.line_series(np.array([0, 1, 2]), [[1.0, 2.0, 3.0], np.array([4.0, 5.0, 6.0])], keys=["a", "b"], title="T", xname="epoch")
    assert rows(chart.table) == [[0, "a", 1.0], [1, "a", 2.0], [2, "a", 3.0], [0, "b", 4.0], [1, "b", 5.0], [2, "b", 6.0]]
    assert chart.table.columns == ["step", "lineKey", "lineVal"]
    assert (chart.spec_name, chart.string_fields) == ("wandb/lineseries/v0", {"title": "T", "xname": "epoch"})
    own = ms.plot.line_series([[0, 1], [5, 6, 7]], [[1, 2], [3, 4, 5]])  # an x sequence per line, default keys
    assert rows(own.table) == [[0, "line_0", 1], [1, "line_0", 2], [5, "line_1", 3], [6, "line_1", 4], [7, "line_1", 5]]


@pytest.mark.parametrize("xs, ys, keys, match", [
    ([[0, 1], [0, 1], [0, 1]], [[1, 2], [3, 4]], None, r"3 x series for 2 y series"),
    ([0, 1], [[1, 2], [3, 4]], ["a"], r"1 keys for 2 y series"),
    ([0, 1, 2], [[1, 2, 3], [3, 4]], None, r"series 1 \('line_1'\) has 3 x values and 2 y values"),
    ([0], [], None, r"ys has no series"),
])
def test_line_series_of_mismatched_lengths_is_refused(xs, ys, keys, match):
    with pytest.raises(ms.InvalidMediaError, match=match):
        ms.plot.line_series(xs, ys, keys=keys)


# -- confusion_matrix -------------------------------------------------------------------------------


def test_confusion_matrix_counts_each_pair_of_classes():
    chart = ms.plot.confusion_matrix(y_true=[0, 1, 1, 2, 2, 2], preds=[0, 1, 2, 2, 2, 0], class_names=["cat", "dog", "bird"])
    counts = {(a, p): n for a, p, n in rows(chart.table)}
    assert counts == {("cat", "cat"): 1, ("cat", "dog"): 0, ("cat", "bird"): 0, ("dog", "cat"): 0, ("dog", "dog"): 1, ("dog", "bird"): 1,
                      ("bird", "cat"): 1, ("bird", "dog"): 0, ("bird", "bird"): 2}
    assert [a for a, _, _ in rows(chart.table)] == ["cat"] * 3 + ["dog"] * 3 + ["bird"] * 3  # W&B's order
    assert (chart.spec_name, chart.string_fields) == ("wandb/confusion_matrix/v1", {"title": "Confusion Matrix Curve"})


def test_confusion_matrix_from_probabilities_and_from_labels_without_names():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert rows(ms.plot.confusion_matrix(probs=probs, y_true=np.array([0, 1, 1])).table) == [
        ["Class_1", "Class_1", 1], ["Class_1", "Class_2", 0], ["Class_2", "Class_1", 1], ["Class_2", "Class_2", 1]]
    # as in W&B, True is label 1 and 0.0 label 0 (a float tensor of labels)
    booleans = ms.plot.confusion_matrix(y_true=[True, False, True], preds=np.array([1.0, 0.0, 0.0]), class_names=["neg", "pos"])
    assert rows(booleans.table) == [["neg", "neg", 1], ["neg", "pos", 0], ["pos", "neg", 1], ["pos", "pos", 1]]
    # labels seen, sorted, named Class_1.. (W&B's rule): "a" < "b" < "c"
    table = ms.plot.confusion_matrix(y_true=["b", "a", "c"], preds=["b", "c", "c"]).table
    assert [r for r in rows(table) if r[2]] == [["Class_1", "Class_3", 1], ["Class_2", "Class_2", 1], ["Class_3", "Class_3", 1]]


@pytest.mark.parametrize("kwargs, match", [
    ({"probs": [[1.0, 0.0]], "preds": [0], "y_true": [0]}, r"give probs= or preds=, not both"),
    ({"preds": [0]}, r"y_true= \(the true labels\) is required"),
    ({"y_true": [0]}, r"give preds= \(the predicted labels\) or probs="),
    ({"y_true": [0, 1], "preds": [0]}, r"1 predictions for 2 true labels"),
    ({"y_true": [0, 3], "preds": [0, 1], "class_names": ["a", "b"]}, r"y_true holds 3; with class_names the labels are indices into its 2 names \(0 to 1\)"),
    ({"y_true": [0, 1], "preds": ["a", 1], "class_names": ["a", "b"]}, r"preds holds 'a'"),
    ({"y_true": [0, 1.5], "preds": [0, 1], "class_names": ["a", "b"]}, r"y_true holds 1.5"),
    ({"y_true": [0, "x"], "preds": [0, 1]}, r"labels are of several types"),
    ({"y_true": [0], "probs": [0.5, 0.5]}, r"probs must be 2-D \(examples, classes\), got shape \(2,\)"),
])
def test_confusion_matrix_of_bad_input_is_refused(kwargs, match):
    with pytest.raises(ms.InvalidMediaError, match=match):
        ms.plot.confusion_matrix(**kwargs)


# -- PR and ROC curves ------------------------------------------------------------------------------

# scikit-learn's documented example: labels [0, 0, 1, 1], class 1 scored [0.1, 0.4, 0.35, 0.8]
Y = [0, 0, 1, 1]
P = [[0.9, 0.1], [0.6, 0.4], [0.65, 0.35], [0.2, 0.8]]


def test_roc_curve_of_the_documented_example():
    chart = ms.plot.roc_curve(Y, P)
    curve = [[0, 0.0, 0.0], [0, 0.0, 0.5], [0, 0.5, 0.5], [0, 0.5, 1.0], [0, 1.0, 1.0]]
    assert rows(chart.table) == curve + [[1, f, t] for _, f, t in curve]  # symmetric: class 0 is scored 1 - p
    assert chart.fields == {"x": "fpr", "y": "tpr", "class": "class"}
    assert chart.string_fields == {"title": "ROC Curve", "x-axis-title": "False positive rate", "y-axis-title": "True positive rate"}
    named = ms.plot.roc_curve(Y, P, labels=["neg", "pos"], classes_to_plot=[1])
    assert rows(named.table) == [["pos", f, t] for _, f, t in curve]


def test_pr_curve_of_the_documented_example():
    # precision [0.5, 0.667, 0.5, 1, 1] at recall [1, 1, 0.5, 0.5, 0]; W&B reads the best precision at
    # each recall or more, at recalls 1, 0.75, 0.5, 0.25, 0
    chart = ms.plot.pr_curve(Y, P, labels=["neg", "pos"], classes_to_plot=[1], interp_size=5)
    assert rows(chart.table) == [["pos", 0.667, 1.0], ["pos", 0.667, 0.75], ["pos", 1.0, 0.5], ["pos", 1.0, 0.25], ["pos", 1.0, 0.0]]
    assert (chart.spec_name, chart.fields) == ("wandb/area-under-curve/v0", {"x": "recall", "y": "precision", "class": "class"})


@pytest.mark.parametrize("seed", range(40))
def test_curves_and_confusion_matrices_equal_w_and_b_own(seed):
    wandb = pytest.importorskip("wandb", reason="the comparison needs W&B (pip install 'mediastore[wandb]')")
    pytest.importorskip("sklearn", reason="W&B computes its curves with scikit-learn (pip install scikit-learn)")
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(5, 80)), int(rng.integers(2, 5))
    y = rng.integers(0, k, n)
    y[:2] = [0, 1]  # at least two classes
    p = rng.dirichlet(np.ones(k), n)
    if seed % 3 == 0:
        p = p.round(1)  # ties
    labels = [f"c{i}" for i in range(k)] if seed % 2 else None
    preds = rng.integers(0, k, n)

    def same(theirs, ours):
        expected, got = [list(r) for r in theirs.table.data], rows(ours.table)
        assert len(got) == len(expected)
        for a, b in zip(expected, got):
            assert [x if isinstance(x, str) else pytest.approx(float(x)) for x in a] == b
        assert (theirs.spec.spec_name, theirs.spec.fields, theirs.spec.string_fields) == (ours.spec_name, ours.fields, ours.string_fields)

    same(wandb.plot.roc_curve(y, p, labels=labels), ms.plot.roc_curve(y, p, labels=labels))
    same(wandb.plot.pr_curve(y, p, labels=labels), ms.plot.pr_curve(y, p, labels=labels))
    same(wandb.plot.confusion_matrix(y_true=y.tolist(), preds=preds.tolist(), class_names=labels),
         ms.plot.confusion_matrix(y_true=y.tolist(), preds=preds.tolist(), class_names=labels))
    same(wandb.plot.confusion_matrix(probs=p, y_true=y.tolist()), ms.plot.confusion_matrix(probs=p, y_true=y.tolist()))


def test_a_curve_over_the_row_limit_is_thinned_with_a_warning(monkeypatch):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    p = rng.random((2000, 2))
    full = ms.plot.roc_curve(y, p).table.get_dataframe()
    monkeypatch.setattr(ms.Table, "MAX_ROWS", 100)
    with pytest.warns(ms.LossyConversionWarning, match=r"ms.plot.roc_curve: \d+ points over ms.Table.MAX_ROWS = 100; each class's curve keeps at most 50"):
        thin = ms.plot.roc_curve(y, p).table.get_dataframe()
    assert len(thin) <= 100 and len(full) > 100
    for c in (0, 1):  # each curve keeps its ends, and only points of the full curve
        a, b = full[full["class"] == c], thin[thin["class"] == c]
        assert b.iloc[[0, -1]].values.tolist() == a.iloc[[0, -1]].values.tolist()
        assert set(map(tuple, b.values.tolist())) <= set(map(tuple, a.values.tolist()))


@pytest.mark.parametrize("call, match", [
    (lambda: ms.plot.roc_curve([0, 1], [[0.5, np.nan], [0.5, 0.5]]), r"y_probas holds 1 NaN or infinite values"),
    (lambda: ms.plot.roc_curve([0, 1, 2], [[0.5, 0.5]] * 3), r"y_probas has shape \(3, 2\); it needs a row per example \(3\) and a column per class"),
    (lambda: ms.plot.roc_curve([1, 1], [[0.5, 0.5]] * 2), r"y_true has one class only"),
    (lambda: ms.plot.pr_curve(Y, P, interp_size=1), r"interp_size must be an int >= 2, got 1"),
    (lambda: ms.plot.pr_curve(Y, P, classes_to_plot=[7]), r"none of classes_to_plot=\[7\] is in y_true"),
    (lambda: ms.plot.pr_curve(Y, P, labels=["only"]), r"label 1 has no name in labels"),
    (lambda: ms.plot.pr_curve(Y), r"y_probas= .* is required"),
    (lambda: ms.plot.pr_curve([], []), r"y_true must be a non-empty 1-D sequence of labels, got shape \(0,\)"),
])
def test_a_curve_of_bad_input_is_refused(call, match):
    with pytest.raises(ms.InvalidMediaError, match=match):
        call()


@pytest.mark.parametrize("call, match", [
    (lambda: ms.plot.roc_curve(Y, [["a", "b"]] * 4), r"ms.plot.roc_curve: y_probas must be numbers, a row per example"),
    (lambda: ms.plot.roc_curve(5, P), r"ms.plot.roc_curve: y_true must be a sequence \(list, tuple, numpy array\), got int"),
    (lambda: ms.plot.line_series("abc", [[1, 2, 3]]), r"ms.plot.line_series: xs must be a sequence .*, got str"),
    (lambda: ms.plot.confusion_matrix(y_true=[0], preds=7), r"ms.plot.confusion_matrix: preds must be a sequence .*, got int"),
])
def test_inputs_that_are_not_sequences_are_refused(call, match):
    with pytest.raises(ms.InvalidMediaTypeError, match=match):
        call()


def test_the_readme_snippet_runs(tmp_path):
    import re
    import textwrap
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = [b for b in re.findall(r"^( *)```python\n(.*?)^\1```", readme, re.DOTALL | re.MULTILINE) if "ms.plot.confusion_matrix" in b[1]]
    assert len(blocks) == 1
    lines = textwrap.dedent(blocks[0][1]).strip().splitlines()
    uri = str(tmp_path / "store")
    with ms.init(project="p", store=uri, run_id="r") as run:
        exec(lines[0], {"ms": ms, "run": run, "labels": [0, 1, 1, 0], "predicted": [0, 1, 0, 0]})  # the log
    names = {"ms": ms, "json": json, "store": ms.open(uri), "run_id": "r"}
    table, query, chart = (eval(line.split("  #")[0].strip(), names) for line in lines[1:])
    assert [list(r) for r in table.itertuples(index=False)] == [["cat", "cat", 2], ["cat", "dog", 0], ["dog", "cat", 1], ["dog", "dog", 1]]
    assert len(query.df()) == 3
    assert chart["spec_name"] == "wandb/confusion_matrix/v1"
