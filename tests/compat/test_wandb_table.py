"""ms.Table as W&B code uses it: building, typing, DataFrames, and the three log modes."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import mediastore as ms


# -- building ----------------------------------------------------------------------------------


def test_add_row_and_iterrows():
    table = ms.Table(columns=["a", "b"])
    table.add_row(1, "x")
    table.add_data(2, "y")
    assert list(table.iterrows()) == [(0, [1, "x"]), (1, [2, "y"])]


def test_data_as_ndarray_and_as_dataframe():
    array = np.arange(6).reshape(3, 2)
    assert ms.Table(columns=["a", "b"], data=array).data == [[0, 1], [2, 3], [4, 5]]
    frame = pd.DataFrame({"x": [1.5, 2.5], "y": ["p", "q"]})
    table = ms.Table(data=frame)
    assert table.columns == ["x", "y"] and table.data == [[1.5, "p"], [2.5, "q"]]
    with pytest.raises(ms.InvalidMediaError, match=r"Table data array has shape \(6,\); expected 2-D \(rows, columns\)"):
        ms.Table(columns=["a"], data=np.arange(6))


def test_dataframe_with_int_column_labels(tmp_path):
    frame = pd.DataFrame([[1, "a"], [2, "b"]])  # labels 0 and 1
    table = ms.Table(dataframe=frame)
    assert table.columns == ["0", "1"] and table.get_column("0") == [1, 2]
    with ms.init(project="p", store=tmp_path, run_id="r") as run:
        run.log({"t": table})
    assert ms.open(tmp_path).table("r", "t").values.tolist() == [[1, "a"], [2, "b"]]


def test_run_log_of_a_dataframe_logs_a_table(tmp_path):
    frame = pd.DataFrame({"epoch": [0, 1], "acc": [0.5, 0.75]})
    with ms.init(project="p", store=tmp_path, run_id="r") as run:
        run.log({"results": frame})
    store = ms.open(tmp_path)
    pd.testing.assert_frame_equal(pd.DataFrame(store.table("r", "results")), frame)
    assert store.sql("SELECT epoch, acc FROM tables.results ORDER BY ALL").fetchall() == [(0, 0.5), (1, 0.75)]


def test_add_column_builds_an_empty_table_column_by_column(tmp_path):
    table = ms.Table(columns=[], data=[])
    table.add_column("id", [1, 2, 3])
    table.add_column("name", np.array(["a", "b", "c"]))
    assert table.columns == ["id", "name"] and table.data == [[1, "a"], [2, "b"], [3, "c"]]
    with pytest.raises(ms.InvalidMediaError, match=r"add_data on a table without columns; add_column first"):
        ms.Table(columns=[]).add_data(1)


def test_add_column_optional_is_false_by_default_as_in_wandb():
    table = ms.Table(columns=["a"], data=[[1], [2]])
    with pytest.raises(ms.InvalidMediaTypeError, match=r"Table row 1 column 'b' is None; the column was made with optional=False"):
        table.add_column("b", [1, None])
    assert table.columns == ["a"]
    table.add_column("b", [1, None], optional=True)
    assert table.get_column("b") == [1, None]


def test_get_column_as_numpy():
    table = ms.Table(columns=["x", "img"], data=[[1.0, ms.Image(np.zeros((2, 3), np.uint8))], [2.0, ms.Image(np.ones((2, 3), np.uint8))]])
    column = table.get_column("x", convert_to="numpy")
    assert isinstance(column, np.ndarray) and column.tolist() == [1.0, 2.0]
    assert table.get_column("img", convert_to="numpy").shape == (2, 2, 3)
    with pytest.raises(ms.InvalidMediaError, match=r"get_column convert_to='torch'; use None \(a list\) or 'numpy'"):
        table.get_column("x", convert_to="torch")


# -- types -------------------------------------------------------------------------------------


def test_dtype_checks_each_column_and_names_row_and_column():
    table = ms.Table(columns=["n", "s"], dtype=[int, str])
    table.add_data(1, "a")
    with pytest.raises(ms.InvalidMediaTypeError, match=r"Table row 1 column 's' has 2 \(int\); the column's dtype is str — pass a str, or make the table with allow_mixed_types=True"):
        table.add_data(2, 2)
    assert len(table) == 1
    assert ms.Table(columns=["f"], dtype=float, data=[[1], [2.5]]).column_types == {"f": "float"}
    assert ms.Table(columns=["i"], dtype=ms.Image).column_types == {"i": "Image"}
    with pytest.raises(ms.InvalidMediaTypeError, match=r"Table dtype <class 'object'> for column 'a' is not supported"):
        ms.Table(columns=["a"], dtype=object)
    with pytest.raises(ms.InvalidMediaError, match=r"Table dtype has 1 entries for 2 columns \['a', 'b'\]"):
        ms.Table(columns=["a", "b"], dtype=[int])


def test_optional_false_refuses_none_per_column():
    table = ms.Table(columns=["a", "b"], optional=[False, True])
    table.add_data(1, None)
    with pytest.raises(ms.InvalidMediaTypeError, match=r"Table row 1 column 'a' is None; the column was made with optional=False — give it a value"):
        table.add_data(None, 1)


def test_allow_mixed_types_stores_mixed_columns_as_json(tmp_path):
    rows = [[1, "x"], ["two", "y"], [[3], "z"], [None, "w"]]
    with pytest.raises(ms.InvalidMediaTypeError, match=r"Table row 1 column 'a' has 'two' \(str\); the column holds int"):
        ms.Table(columns=["a", "b"], data=rows)
    table = ms.Table(columns=["a", "b"], data=rows, dtype=int, allow_mixed_types=True)
    assert table.column_types["a"] == "json"
    with ms.init(project="p", store=tmp_path, run_id="r") as run:
        run.log({"t": table})
    assert ms.open(tmp_path).table("r", "t")["a"].tolist() == [1, "two", [3], None]


def test_dict_and_complex_cells_round_trip(tmp_path):
    table = ms.Table(columns=["meta", "z"], data=[[{"lr": 0.1, "tags": ["a"]}, 1 + 2j], [None, np.complex64(-1j)]])
    with ms.init(project="p", store=tmp_path, run_id="r") as run:
        run.log({"t": table})
    store = ms.open(tmp_path)
    frame = store.table("r", "t")
    assert frame["meta"].tolist() == [{"lr": 0.1, "tags": ["a"]}, None]
    assert frame["z"].tolist() == [1 + 2j, -1j]
    assert store.sql("SELECT json_extract(meta, '$.lr'), z.real, z.imag FROM tables.t ORDER BY \"row\"").fetchall() == [
        ("0.1", 1.0, 2.0), (None, 0.0, -1.0)
    ]
    with pytest.raises(ms.InvalidMediaTypeError, match=r"Table row 0 column 'm' has \{'f': <object .*cannot be stored as JSON"):
        ms.Table(columns=["m"], data=[[{"f": object()}]])


def test_tables_compare_by_value():
    a = ms.Table(columns=["x", "v"], data=[[1, np.array([1, 2])], [float("nan"), None]])
    b = ms.Table(columns=["x", "v"], data=[[1, np.array([1, 2])], [float("nan"), None]])
    assert a == b
    b.add_data(2, None)
    assert a != b
    assert ms.Table(columns=["x"], data=[[1]]) != ms.Table(columns=["y"], data=[[1]])


# -- log modes ---------------------------------------------------------------------------------


def test_unknown_log_mode_is_refused():
    with pytest.raises(ms.InvalidMediaError, match=r"Table log_mode 'APPEND' is not one of \['IMMUTABLE', 'MUTABLE', 'INCREMENTAL'\]"):
        ms.Table(columns=["a"], log_mode="APPEND")


def test_immutable_logs_its_first_contents_and_warns_when_changed(tmp_path):
    table = ms.Table(columns=["a"], data=[[1]])
    with ms.init(project="p", store=tmp_path, run_id="r") as run:
        run.log({"t": table})
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            run.log({"t": table})  # unchanged: no warning
        table.add_data(2)
        with pytest.warns(ms.TableLogModeWarning, match=r"changed after it was first logged \(1 rows then, 2 now\); logging it again logs its first contents"):
            run.log({"t": table})
    store = ms.open(tmp_path)
    assert store.sql("SELECT step, num_rows, log_mode FROM tables ORDER BY step").fetchall() == [(0, 1, "IMMUTABLE"), (1, 1, "IMMUTABLE"), (2, 1, "IMMUTABLE")]
    assert len({b for (b,) in store.sql("SELECT blob.uri FROM tables").fetchall()}) == 1  # stored once
    assert store.table("r", "t")["a"].tolist() == [1]


def test_mutable_logs_the_current_contents(tmp_path):
    table = ms.Table(columns=["a"], data=[[1]], log_mode="MUTABLE")
    with ms.init(project="p", store=tmp_path, run_id="r") as run:
        run.log({"t": table})
        table.add_data(2)
        run.log({"t": table})
    store = ms.open(tmp_path)
    assert store.sql("SELECT step, num_rows FROM tables ORDER BY step").fetchall() == [(0, 1), (1, 2)]
    assert store.table("r", "t", step=0)["a"].tolist() == [1] and store.table("r", "t")["a"].tolist() == [1, 2]


def rows_stored(store, key):
    """The rows each logged blob of ``key`` holds (what the log cost)."""
    blobs = store.sql("SELECT blob FROM tables WHERE key = ? ORDER BY step", [key]).fetchall()
    return [pq.read_metadata(io.BytesIO(store.location.get_blob(b))).num_rows for (b,) in blobs]


def test_incremental_stores_only_new_rows_and_readers_see_the_whole_table(store_uri, rgb):
    table = ms.Table(columns=["i", "img"], log_mode="INCREMENTAL")
    with ms.init(project="p", store=store_uri, run_id="r") as run:
        for step in range(3):
            for j in range(2):
                table.add_data(2 * step + j, ms.Image(rgb))
            run.log({"preds": table, "loss": 1.0})
        run.log({"loss": 0.5})  # a step without the table
    store = ms.open(store_uri)
    assert rows_stored(store, "preds") == [2, 2, 2]
    assert store.sql("SELECT step, num_rows, first_row, increment_of FROM tables ORDER BY step").fetchall() == [
        (0, 2, 0, 0), (1, 4, 2, 0), (2, 6, 4, 0)
    ]
    assert store.table("r", "preds")["i"].tolist() == [0, 1, 2, 3, 4, 5]
    assert store.table("r", "preds", step=1)["i"].tolist() == [0, 1, 2, 3]
    found = store.sql('SELECT step, count(*), list("row" ORDER BY "row") = list(i ORDER BY "row") FROM tables.preds GROUP BY step ORDER BY step').fetchall()
    assert found == [(0, 2, True), (1, 4, True), (2, 6, True)]
    assert store.sql("SELECT count(*) FROM tables.preds WHERE step = 2 AND img.width = 32").fetchall() == [(6,)]


def test_incremental_with_commit_false_stores_each_row_once(tmp_path):
    table = ms.Table(columns=["i"], log_mode="INCREMENTAL")
    with ms.init(project="p", store=tmp_path, run_id="r") as run:
        table.add_data(0)
        run.log({"t": table}, commit=False)  # waits in the step
        table.add_data(1)
        run.log({"t": table}, step=3)  # commits the waiting snapshot at step 0 first
        table.add_data(2)
        run.log({"t": table}, step=4)
    store = ms.open(tmp_path)
    assert rows_stored(store, "t") == [1, 1, 1]
    assert store.table("r", "t")["i"].tolist() == [0, 1, 2]


@pytest.mark.parametrize(
    ("second", "message"),
    [
        (lambda run, t: run.log({"other": t}), r"this INCREMENTAL table continues 't' of run 'r' \(project 'p'\); it cannot also be logged under 'other'"),
        (lambda run, t: run.log({"t": t}, step=0), r"was last logged at step 1; a new increment at step 0 would come before rows already stored"),
        (lambda run, t: run.log({"u": [t]}), r"a table with log_mode='INCREMENTAL' in a list under 'u'; its increments are found by key"),
        (lambda run, t: t.add_column("b", [1]), r"add_column 'b' on a table with log_mode='INCREMENTAL'"),
    ],
)
def test_incremental_misuse_is_refused_and_nothing_of_the_call_is_stored(tmp_path, second, message):
    table = ms.Table(columns=["a"], data=[[1]], log_mode="INCREMENTAL")
    with ms.init(project="p", store=tmp_path, run_id="r") as run:
        run.log({"t": table}, step=1, commit=True)
        with pytest.raises(ms.InvalidMediaError, match=message):
            second(run, table)
    assert ms.open(tmp_path).sql("SELECT key, step FROM tables").fetchall() == [("t", 1)]


def test_a_failed_log_call_does_not_advance_an_incremental_table(tmp_path):
    table = ms.Table(columns=["a"], data=[[1]], log_mode="INCREMENTAL")
    with ms.init(project="p", store=tmp_path, run_id="r") as run:
        with pytest.raises(ms.InvalidLogError):
            run.log({"t": table, "bad": object()})
        run.log({"t": table})
    assert ms.open(tmp_path).table("r", "t")["a"].tolist() == [1]


def test_add_computed_columns_as_in_w_and_b(tmp_path):
    table = ms.Table(columns=["w", "h"], data=[[2, 3], [4, 5]])
    table.add_computed_columns(lambda i, row: {"area": row["w"] * row["h"], "index": i})
    assert table.columns == ["w", "h", "area", "index"] and table.data == [[2, 3, 6, 0], [4, 5, 20, 1]]
    frame = ms.Table(dataframe=pd.DataFrame({"x": [1.5, 2.5]}))  # a DataFrame's table too
    frame.add_computed_columns(lambda i, row: {"double": row["x"] * 2})
    assert frame.get_column("double") == [3.0, 5.0]
    with ms.init(project="p", store=tmp_path, run_id="r") as run:
        run.log({"t": table})
    assert ms.open(tmp_path).table("r", "t")["area"].tolist() == [6, 20]


@pytest.mark.parametrize("fn, error, match", [
    (lambda i, row: [row["w"]], ms.InvalidMediaTypeError, r"fn returned a list for row 0; return a dict of the new columns' values"),
    (lambda i, row: {"a": 1} if i == 0 else {"b": 2}, ms.InvalidMediaError, r"fn returned columns \['b'\] for row 1 and \['a'\] for row 0"),
    (lambda i, row: {"ok": 1, "bad": None if i else 2}, ms.InvalidMediaTypeError, r"Table row 1 column 'bad' is None"),
    (lambda i, row: {"w": 1}, ms.InvalidMediaError, r"column names must be unique; \['w'\]"),
    ("area", ms.InvalidMediaTypeError, r"add_computed_columns takes a function fn\(index, row\) -> dict, got str"),
])
def test_add_computed_columns_refuses_bad_results_and_adds_nothing(fn, error, match):
    table = ms.Table(columns=["w", "h"], data=[[2, 3], [4, 5]])
    with pytest.raises(error, match=match):
        table.add_computed_columns(fn)
    assert table.columns == ["w", "h"] and table.data == [[2, 3], [4, 5]]  # the first column computed is not kept either
