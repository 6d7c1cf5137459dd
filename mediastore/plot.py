"""W&B's ``wandb.plot``: charts whose data is an ``ms.Table``.

``run.log({"cm": ms.plot.confusion_matrix(...)})`` stores the chart's table where W&B puts
it: under the key ``"cm_table"`` (``"Custom Chart Tables/cm_table"`` with
``split_table=True``), a row of the ``tables`` view, read back with ``store.table(run,
"cm_table")`` and queried in SQL. W&B keeps the chart itself (its Vega spec's name, fields
and strings) in the run's config; here it is in the run's summary, under the table's key
(``summary["cm_table"]["chart"]``), where the viewer finds it to draw W&B's own specs above the
table.

The curves are computed here, with numpy: ``pr_curve`` and ``roc_curve`` give the points W&B
gets from scikit-learn (which is not needed), and ``confusion_matrix`` counts as W&B does.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from ._lazy import np
from .errors import InvalidMediaError, InvalidMediaTypeError, LossyConversionWarning
from .media.base import as_array, evenly_spaced, is_torch_tensor
from .media.table import Table, is_dataframe

__all__ = ["CustomChart", "plot_table", "line", "scatter", "bar", "histogram", "line_series", "confusion_matrix",
           "pr_curve", "roc_curve"]

_SPLIT_SECTION = "Custom Chart Tables"  # W&B's section for split_table=True


class CustomChart:
    """A chart to log: its data (``table``, an ``ms.Table``) and W&B's chart spec
    (``spec_name``, ``fields``, ``string_fields``). Made by the functions of ``ms.plot``;
    ``run.log({key: chart})`` stores the table under ``"<key>_table"``."""

    def __init__(self, table: Any, spec_name: str, fields: Mapping[str, Any], string_fields: Mapping[str, Any] | None = None,
                 split_table: bool = False, *, call: str = "ms.plot_table"):
        if is_dataframe(table):
            table = Table(dataframe=table)
        if not isinstance(table, Table):
            raise InvalidMediaTypeError(
                f"{call}: the data must be an ms.Table, got {type(table).__name__}; make one with ms.Table(dataframe=df) "
                "or ms.Table(columns=[...], data=[...])"
            )
        if not isinstance(spec_name, str) or not spec_name:
            raise InvalidMediaTypeError(f"{call}: vega_spec_name must be a non-empty str, got {spec_name!r}")
        self.table = table
        self.spec_name = spec_name
        self.fields = _json_mapping(fields, "fields", call)
        self.string_fields = _json_mapping(string_fields or {}, "string_fields", call)
        self.split_table = bool(split_table)

    def table_key(self, key: str) -> str:
        """Where ``run.log({key: chart})`` stores the table (W&B's key)."""
        return f"{_SPLIT_SECTION}/{key}_table" if self.split_table else f"{key}_table"

    @property
    def spec(self) -> dict[str, Any]:
        """What the run's summary keeps of the chart, beside its table."""
        return {"spec_name": self.spec_name, "fields": self.fields, "string_fields": self.string_fields}

    def _prepare(self):
        return self.table._prepare(chart=self.spec)

    def __repr__(self) -> str:
        return f"ms.plot.CustomChart({self.spec_name!r}, fields={self.fields}, {self.table!r})"


def _json_mapping(value: Any, name: str, call: str) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise InvalidMediaTypeError(f"{call}: {name} must be a dict with str keys, got {value!r}"[:300])
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidMediaTypeError(f"{call}: {name} must hold JSON values (str, numbers, lists, dicts): {exc}") from None
    return dict(value)


def plot_table(vega_spec_name: str, data_table: Any, fields: Mapping[str, Any], string_fields: Mapping[str, Any] | None = None,
               split_table: bool = False) -> CustomChart:
    """W&B's ``wandb.plot_table``: a chart of ``data_table`` by a Vega spec kept by name.

    Parameters
    ----------
    vega_spec_name : str
        The spec's name (W&B's, such as ``"wandb/line/v0"``, or your team's own).
    data_table : ms.Table or pandas.DataFrame
        The chart's data; stored as the ``tables`` row of ``"<key>_table"`` when logged.
    fields : dict
        The spec's fields: which column draws what (``{"x": "step", "y": "loss"}``). JSON values.
    string_fields : dict, optional
        The spec's strings (``{"title": "Loss"}``). JSON values.
    split_table : bool, default False
        W&B's: the table goes under ``"Custom Chart Tables/<key>_table"`` instead.

    Returns
    -------
    CustomChart
        Log it: ``run.log({"key": chart})``. The viewer draws W&B's own specs only.

    Raises
    ------
    InvalidMediaTypeError
        ``data_table`` is not a table, the name is empty, or a field is not JSON.
    """
    return CustomChart(data_table, vega_spec_name, fields, string_fields, split_table)


def _chart(call: str, spec_name: str, table: Any, columns: Mapping[str, str | None], strings: Mapping[str, Any],
           split_table: bool) -> CustomChart:
    chart = CustomChart(table, spec_name, dict(columns), strings, split_table, call=call)
    for field, column in columns.items():
        if column is not None and column not in chart.table.columns:
            raise InvalidMediaError(
                f"{call}: {field}={column!r} is not a column of the table (its columns: {chart.table.columns}); "
                "name one of them"
            )
    return chart


def line(table: Any, x: str, y: str, stroke: str | None = None, title: str = "", split_table: bool = False) -> CustomChart:
    """W&B's ``wandb.plot.line``: ``table``'s column ``y`` against ``x``, a line per value of ``stroke``.

    Parameters
    ----------
    table : ms.Table or pandas.DataFrame
        The points, a row each.
    x, y : str
        Column names.
    stroke : str, optional
        A column whose values group the rows into lines; None draws one line.
    title : str, default ""
    split_table : bool, default False
        The table goes under ``"Custom Chart Tables/<key>_table"`` instead of ``"<key>_table"``.

    Returns
    -------
    CustomChart
        Log it: ``run.log({"key": chart})``.

    Raises
    ------
    InvalidMediaError
        A column named is not in the table.
    InvalidMediaTypeError
        ``table`` is not a table.
    """
    return _chart("ms.plot.line", "wandb/line/v0", table, {"x": x, "y": y, "stroke": stroke}, {"title": title}, split_table)


def scatter(table: Any, x: str, y: str, title: str = "", split_table: bool = False) -> CustomChart:
    """W&B's ``wandb.plot.scatter``: ``table``'s column ``y`` against ``x``, a point per row.
    Arguments, result and errors as `line`'s."""
    return _chart("ms.plot.scatter", "wandb/scatter/v0", table, {"x": x, "y": y}, {"title": title}, split_table)


def bar(table: Any, label: str, value: str, title: str = "", split_table: bool = False) -> CustomChart:
    """W&B's ``wandb.plot.bar``: a bar per row, as long as its ``value`` column, named by its
    ``label`` column. Arguments, result and errors as `line`'s."""
    return _chart("ms.plot.bar", "wandb/bar/v0", table, {"label": label, "value": value}, {"title": title}, split_table)


def histogram(table: Any, value: str, title: str = "", split_table: bool = False) -> CustomChart:
    """W&B's ``wandb.plot.histogram``: the distribution of ``table``'s column ``value`` (the rows
    are the values; they are binned when drawn). Arguments, result and errors as `line`'s."""
    return _chart("ms.plot.histogram", "wandb/histogram/v0", table, {"value": value}, {"title": title}, split_table)


def _values(value: Any, what: str, call: str) -> list[Any]:
    """A sequence given as a list, tuple, numpy array or tensor, as a list of Python values."""
    if is_torch_tensor(value):
        value = as_array(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise InvalidMediaTypeError(f"{call}: {what} must be a sequence (list, tuple, numpy array), got {type(value).__name__}")
    return [v.item() if isinstance(v, np.generic) else v for v in value]


def _float_array(value: Any) -> Any:
    """Scores given as a list, array or tensor (as `as_array` reads them), as float64."""
    array = as_array(value)
    return np.asarray(value if array is None else array, dtype=np.float64)


def line_series(xs: Any, ys: Any, keys: Iterable[str] | None = None, title: str = "", xname: str = "x",
                split_table: bool = False) -> CustomChart:
    """W&B's ``wandb.plot.line_series``: several lines on one chart.

    Parameters
    ----------
    xs : sequence, or sequence of sequences
        The x values: one sequence for every line, or one per line.
    ys : sequence of sequences
        The y values of each line (lists, numpy arrays or tensors).
    keys : sequence of str, optional
        The lines' names; default ``line_0``, ``line_1``, ...
    title : str, default ""
    xname : str, default "x"
        The x axis' title.
    split_table : bool, default False
        As in `line`.

    Returns
    -------
    CustomChart
        Its table has W&B's columns ``step``, ``lineKey``, ``lineVal``: a row per point.

    Raises
    ------
    InvalidMediaError
        No series, or the counts of x series, keys, or a series' x and y values differ (W&B
        cuts a longer series short).
    InvalidMediaTypeError
        ``xs`` or ``ys`` is not a sequence.
    """
    call = "ms.plot.line_series"
    series = [_values(y, f"ys[{i}]", call) for i, y in enumerate(_values(ys, "ys", call))]
    if not series:
        raise InvalidMediaError(f"{call}: ys has no series; give a list of sequences of y values")
    xs = _values(xs, "xs", call)
    if xs and (isinstance(xs[0], (str, bytes)) or not isinstance(xs[0], Iterable)):
        xs = [xs] * len(series)  # one x sequence for every line
    else:
        xs = [_values(x, f"xs[{i}]", call) for i, x in enumerate(xs)]
    if len(xs) != len(series):
        raise InvalidMediaError(f"{call}: {len(xs)} x series for {len(series)} y series; give one x series per y series, or one for all")
    keys = [f"line_{i}" for i in range(len(series))] if keys is None else list(keys)
    if len(keys) != len(series):
        raise InvalidMediaError(f"{call}: {len(keys)} keys for {len(series)} y series; give one key per series")
    for i, (x, y) in enumerate(zip(xs, series)):
        if len(x) != len(y):
            raise InvalidMediaError(f"{call}: series {i} ({keys[i]!r}) has {len(x)} x values and {len(y)} y values; give as many of each")
    rows = [[x, keys[i], y] for i, (xx, yy) in enumerate(zip(xs, series)) for x, y in zip(xx, yy)]
    table = Table(columns=["step", "lineKey", "lineVal"], data=rows)
    fields = {"step": "step", "lineKey": "lineKey", "lineVal": "lineVal"}
    return CustomChart(table, "wandb/lineseries/v0", fields, {"title": title, "xname": xname}, split_table, call=call)


def confusion_matrix(probs: Any = None, y_true: Any = None, preds: Any = None, class_names: Any = None,
                     title: str = "Confusion Matrix Curve", split_table: bool = False) -> CustomChart:
    """W&B's ``wandb.plot.confusion_matrix``: how often each class was predicted as each class.

    Parameters
    ----------
    probs : 2-D array, optional
        A row of class scores per example; the prediction is each row's highest. Give this or ``preds``.
    y_true : sequence
        The true label of each example.
    preds : sequence, optional
        The predicted label of each example.
    class_names : sequence of str, optional
        The classes' names: the labels are then indices into it (0 to n-1). Without it the
        classes are the labels seen, sorted, named ``Class_1``, ``Class_2``, ... (W&B's rule).
    title : str, default "Confusion Matrix Curve" (W&B's)
    split_table : bool, default False
        As in `line`.

    Returns
    -------
    CustomChart
        Its table: a row per (actual, predicted) pair of classes, actual first, columns
        ``Actual``, ``Predicted`` and ``nPredictions`` (an int count).

    Raises
    ------
    InvalidMediaError
        Both or neither of ``probs`` and ``preds``; no ``y_true``; lengths that differ; a label
        outside ``class_names``; labels of types that do not sort together.
    """
    call = "ms.plot.confusion_matrix"
    if probs is not None and preds is not None:
        raise InvalidMediaError(f"{call}: give probs= or preds=, not both")
    if y_true is None:
        raise InvalidMediaError(f"{call}: y_true= (the true labels) is required")
    y_true = _values(y_true, "y_true", call)
    if probs is not None:
        p = _float_array(probs)
        if p.ndim != 2 or not p.shape[1]:
            raise InvalidMediaError(f"{call}: probs must be 2-D (examples, classes), got shape {p.shape}")
        preds = p.argmax(axis=1).tolist()
    elif preds is None:
        raise InvalidMediaError(f"{call}: give preds= (the predicted labels) or probs= (a row of class probabilities per example)")
    else:
        preds = _values(preds, "preds", call)
    if len(preds) != len(y_true):
        raise InvalidMediaError(f"{call}: {len(preds)} predictions for {len(y_true)} true labels; give one of each per example")
    if class_names is not None:
        names = _values(class_names, "class_names", call)
        for what, labels in (("y_true", y_true), ("preds", preds)):
            # W&B looks the labels up among 0..n-1: True is 1 and 2.0 is 2 there too
            bad = next((v for v in labels if not isinstance(v, (int, float)) or v not in range(len(names))), None)
            if bad is not None:
                raise InvalidMediaError(
                    f"{call}: {what} holds {bad!r}; with class_names the labels are indices into its {len(names)} names "
                    f"(0 to {len(names) - 1}) — map the labels to indices, or leave class_names out"
                )
        index = {i: i for i in range(len(names))}
    else:
        try:
            classes = sorted(set(preds) | set(y_true))
        except TypeError:
            raise InvalidMediaError(f"{call}: the labels are of several types that do not sort together; give labels of one type") from None
        names = [f"Class_{i + 1}" for i in range(len(classes))]
        index = {c: i for i, c in enumerate(classes)}
    n = len(names)
    counts = np.zeros((n, n), dtype=np.int64)
    np.add.at(counts, ([index[v] for v in y_true], [index[v] for v in preds]), 1)
    rows = [[names[i], names[j], int(counts[i, j])] for i in range(n) for j in range(n)]
    table = Table(columns=["Actual", "Predicted", "nPredictions"], data=rows)
    fields = {"Actual": "Actual", "Predicted": "Predicted", "nPredictions": "nPredictions"}
    return CustomChart(table, "wandb/confusion_matrix/v1", fields, {"title": title}, split_table, call=call)


# -- curves -----------------------------------------------------------------------------------
def _binary_counts(positive: Any, score: Any) -> tuple[Any, Any]:
    """False and true positives at each distinct score taken as the threshold, from the
    highest score down: a point per threshold."""
    order = np.argsort(score, kind="mergesort")[::-1]
    score, positive = score[order], positive[order]
    last = np.r_[np.flatnonzero(np.diff(score)), score.size - 1]  # the last example of each distinct score
    tps = np.cumsum(positive, dtype=np.float64)[last]
    return 1.0 + last - tps, tps


def _roc_points(positive: Any, score: Any) -> tuple[Any, Any]:
    """(false positive rate, true positive rate) from (0, 0), without the points that lie on a
    straight line between their neighbours (scikit-learn's ``drop_intermediate``)."""
    fps, tps = _binary_counts(positive, score)
    if fps.size > 2:
        keep = np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True]
        fps, tps = fps[keep], tps[keep]
    fps, tps = np.r_[0.0, fps], np.r_[0.0, tps]
    return fps / fps[-1], tps / tps[-1]


def _pr_points(positive: Any, score: Any) -> tuple[Any, Any]:
    """(precision, recall) from the lowest threshold up, then (1, 0): scikit-learn's
    ``precision_recall_curve``."""
    fps, tps = _binary_counts(positive, score)
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0]


def _curve_classes(call: str, y_true: Any, y_probas: Any, labels: Any, classes_to_plot: Any):
    y = np.asarray(_values(y_true, "y_true", call))
    if y.ndim != 1 or not y.size:
        raise InvalidMediaError(f"{call}: y_true must be a non-empty 1-D sequence of labels, got shape {y.shape}")
    if y_probas is None:
        raise InvalidMediaError(f"{call}: y_probas= (a row of class probabilities per example) is required")
    try:
        p = _float_array(y_probas)
    except (TypeError, ValueError) as exc:
        raise InvalidMediaTypeError(f"{call}: y_probas must be numbers, a row per example: {exc}") from None
    classes = np.unique(y)
    if p.ndim != 2 or p.shape[0] != y.size or p.shape[1] < classes.size:
        raise InvalidMediaError(
            f"{call}: y_probas has shape {p.shape}; it needs a row per example ({y.size}) and a column per class, "
            f"in the order of the sorted labels ({classes.size}: {classes.tolist()[:10]})"
        )
    missing = int(np.count_nonzero(~np.isfinite(p)))
    if missing:
        raise InvalidMediaError(f"{call}: y_probas holds {missing} NaN or infinite values; give finite scores")
    wanted = classes if classes_to_plot is None else np.asarray(_values(classes_to_plot, "classes_to_plot", call))
    chosen = []
    for i in np.flatnonzero(np.isin(classes, wanted)):
        label = classes[i].item()
        if labels is not None and isinstance(label, int) and not isinstance(label, bool):
            names = list(labels)
            if not 0 <= label < len(names):
                raise InvalidMediaError(f"{call}: label {label} has no name in labels (it has {len(names)}); give a name per class index")
            label = names[label]
        chosen.append((label, y == classes[i], p[:, i]))
    if not chosen:
        raise InvalidMediaError(f"{call}: none of classes_to_plot={wanted.tolist()} is in y_true ({classes.tolist()[:10]})")
    return chosen


def _curve_table(call: str, columns: list[str], curves: list[tuple[Any, Any, Any]]) -> Table:
    import pandas as pd

    total = sum(len(a) for _, a, _ in curves)
    if total > Table.MAX_ROWS:
        keep = max(2, Table.MAX_ROWS // len(curves))
        warnings.warn(
            f"{call}: {total} points over ms.Table.MAX_ROWS = {Table.MAX_ROWS}; each class's curve keeps at most {keep} "
            "of its points, evenly spaced with both ends (W&B resamples too) — raise ms.Table.MAX_ROWS to keep every point",
            LossyConversionWarning,
            stacklevel=3,
        )
        thinned = []
        for label, a, b in curves:
            if len(a) > keep:
                idx = evenly_spaced(len(a), keep)
                a, b = a[idx], b[idx]
            thinned.append((label, a, b))
        curves = thinned
    frame = pd.DataFrame({
        columns[0]: [label for label, a, _ in curves for _ in range(len(a))],
        columns[1]: np.concatenate([a for _, a, _ in curves]).round(3),
        columns[2]: np.concatenate([b for _, _, b in curves]).round(3),
    })
    return Table(dataframe=frame)


def pr_curve(y_true: Any = None, y_probas: Any = None, labels: Any = None, classes_to_plot: Any = None, interp_size: int = 21,
             title: str = "Precision-Recall Curve", split_table: bool = False) -> CustomChart:
    """W&B's ``wandb.plot.pr_curve``: precision against recall for each class, one against the rest.

    Parameters
    ----------
    y_true : sequence
        The true label of each example.
    y_probas : 2-D array
        A row per example, a column per class: column ``i`` scores the ``i``-th of the sorted labels.
    labels : sequence of str, optional
        Names of integer labels (``labels[label]``) for the ``class`` column.
    classes_to_plot : sequence, optional
        Only these labels' curves; default every label's.
    interp_size : int, default 21 (W&B's)
        The recalls the precision is read at, evenly from 1 down to 0; each precision is the best
        at that recall or more.
    title : str, default "Precision-Recall Curve"
    split_table : bool, default False
        As in `line`.

    Returns
    -------
    CustomChart
        Its table has columns ``class``, ``precision``, ``recall``, rounded to 3 decimals as
        W&B's; the points are scikit-learn's (which is not needed).

    Raises
    ------
    InvalidMediaError
        ``y_probas`` missing, of the wrong shape, or holding NaN or infinity; an integer label
        without a name in ``labels``; no label of ``classes_to_plot`` in ``y_true``; ``interp_size`` < 2.

    Warns
    -----
    LossyConversionWarning
        More points than ``ms.Table.MAX_ROWS``: each class's curve keeps evenly spaced points.
    """
    call = "ms.plot.pr_curve"
    if isinstance(interp_size, bool) or not isinstance(interp_size, int) or interp_size < 2:
        raise InvalidMediaError(f"{call}: interp_size must be an int >= 2, got {interp_size!r}")
    recalls = np.linspace(0, 1, interp_size)[::-1]
    curves = []
    for label, positive, score in _curve_classes(call, y_true, y_probas, labels, classes_to_plot):
        precision, recall = _pr_points(positive, score)
        precision = np.maximum.accumulate(precision)[::-1]  # the best precision at this recall or more
        recall = recall[::-1]
        curves.append((label, precision[np.searchsorted(recall, recalls, side="left")], recalls))
    table = _curve_table(call, ["class", "precision", "recall"], curves)
    strings = {"title": title, "x-axis-title": "Recall", "y-axis-title": "Precision"}
    return CustomChart(table, "wandb/area-under-curve/v0", {"x": "recall", "y": "precision", "class": "class"}, strings,
                       split_table, call=call)


def roc_curve(y_true: Any = None, y_probas: Any = None, labels: Any = None, classes_to_plot: Any = None, title: str = "ROC Curve",
              split_table: bool = False) -> CustomChart:
    """W&B's ``wandb.plot.roc_curve``: the ROC curve of each class, one against the rest.

    Arguments as `pr_curve`'s (without ``interp_size``). The table has columns ``class``,
    ``fpr``, ``tpr``, rounded to 3 decimals as W&B's: a point per threshold where the curve turns
    (scikit-learn's points, which is not needed). Raises as `pr_curve`, and
    ``InvalidMediaError`` when ``y_true`` holds one class only; warns as `pr_curve`.
    """
    call = "ms.plot.roc_curve"
    chosen = _curve_classes(call, y_true, y_probas, labels, classes_to_plot)
    if chosen[0][1].all():  # every example is of a chosen class: y_true has that one class only
        raise InvalidMediaError(f"{call}: y_true has one class only; a ROC curve needs examples of at least two classes")
    curves = [(label, *_roc_points(positive, score)) for label, positive, score in chosen]
    table = _curve_table(call, ["class", "fpr", "tpr"], curves)
    strings = {"title": title, "x-axis-title": "False positive rate", "y-axis-title": "True positive rate"}
    return CustomChart(table, "wandb/area-under-curve/v0", {"x": "fpr", "y": "tpr", "class": "class"}, strings, split_table,
                       call=call)


def __getattr__(name: str) -> Any:
    """W&B's other ``wandb.plot`` names (``visualize``): not offered."""
    if name.startswith("__"):
        raise AttributeError(name)
    from ._not_offered import stub

    return stub(f"ms.plot.{name}", "plot")

