"""ms.Table: the API, typed columns, media cells, the row limit, and SQL over the rows."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import mediastore as ms


@pytest.fixture
def limit():
    """Restore Table.MAX_ROWS after a test changes it."""
    before = ms.Table.MAX_ROWS
    yield
    ms.Table.MAX_ROWS = before


def box(min_x, score, class_id=1):
    return {"position": {"minX": min_x, "maxX": min_x + 0.1, "minY": 0.1, "maxY": 0.2}, "class_id": class_id, "scores": {"score": score}}


# -- API ---------------------------------------------------------------------------------------


def test_seed_text_examples(store_uri):
    columns = ["Text", "Predicted Sentiment", "True Sentiment"]
    data = [["I love my phone", "1", "1"], ["My phone sucks", "0", "-1"]]
    with ms.init(project="my_project", store=store_uri) as run:
        table = ms.Table(data=data, columns=columns)
        run.log({"examples": table})
        table = ms.Table(columns=columns)
        table.add_data("I love my phone", "1", "1")
        table.add_data("My phone sucks", "0", "-1")
        run.log({"examples": table})
    store = ms.open(store_uri)
    assert store.sql("SELECT step, num_rows, num_columns, columns FROM tables ORDER BY step").fetchall() == [
        (0, 2, 3, columns), (1, 2, 3, columns)
    ]
    frame = store.table(run.run_id, "examples")
    assert frame.values.tolist() == data


def test_default_columns_and_accessors():
    table = ms.Table()
    assert table.columns == ["Input", "Output", "Expected"]
    table.add_data("a", "b", "c")
    table.add_data("d", "e", None)
    table.add_column("Score", [0.5, 1])
    assert table.get_column("Score") == [0.5, 1]
    assert table.column_types == {"Input": "str", "Output": "str", "Expected": "str", "Score": "float"}
    frame = table.get_dataframe()
    assert list(frame.columns) == ["Input", "Output", "Expected", "Score"]
    assert frame["Input"].tolist() == ["a", "d"]
    assert len(table) == 2


def test_dataframe_in_and_out(store_uri):
    frame = pd.DataFrame({
        "i": [1, 2, 3],
        "s": ["a", None, "c"],
        "f": [0.5, np.nan, 2.0],
        "b": [True, False, True],
        "t": pd.to_datetime(["2026-01-01", "2026-01-02", None]),
        "l": [[1, 2], [], None],
    })
    with ms.init(project="p", store=store_uri, run_id="r") as run:
        run.log({"df": ms.Table(dataframe=frame)})
    store = ms.open(store_uri)
    back = store.table("r", "df")
    assert back["i"].tolist() == [1, 2, 3]
    assert back["s"].tolist()[0] == "a" and back["s"].isna().tolist() == [False, True, False]
    assert np.isnan(back["f"][1]) and back["f"][2] == 2.0
    assert back["b"].tolist() == [True, False, True]
    assert back["t"][0] == pd.Timestamp("2026-01-01") and pd.isna(back["t"][2])
    assert [list(x) if x is not None else None for x in back["l"]] == [[1, 2], [], None]
    types = dict(store.sql("DESCRIBE SELECT * FROM tables.df").fetchall()[i][:2] for i in range(10))
    assert (types["i"], types["s"], types["f"], types["b"], types["t"], types["l"]) == (
        "BIGINT", "VARCHAR", "DOUBLE", "BOOLEAN", "TIMESTAMP", "BIGINT[]"
    )


def test_a_dataframe_table_changed_after_a_log_stores_its_new_contents(store_uri):
    """A DataFrame's str columns are converted to Arrow once, when the table is made; a change
    to the table (add_data, add_column) must not leave the first conversion in later logs."""
    frame = pd.DataFrame({"s": pd.array(["a", None, "c"], dtype="str"), "o": ["x", "y", "z"], "i": [1, 2, 3]})
    table = ms.Table(dataframe=frame, log_mode="MUTABLE")
    with ms.init(project="p", store=store_uri, run_id="r") as run:
        run.log({"df": table}, step=0)
        table.add_data("d", "w", 4)
        run.log({"df": table}, step=1)
        table.add_column("n", [1.5, 2.5, 3.5, 4.5])
        run.log({"df": table}, step=2)
    store = ms.open(store_uri)
    first, second, third = (store.table("r", "df", step=s) for s in (0, 1, 2))
    assert first["s"].tolist()[::2] == ["a", "c"] and first["s"].isna().tolist() == [False, True, False]
    assert first["o"].tolist() == ["x", "y", "z"]
    assert second["s"].tolist()[3] == "d" and second["o"].tolist() == ["x", "y", "z", "w"] and second["i"].tolist() == [1, 2, 3, 4]
    assert third["n"].tolist() == [1.5, 2.5, 3.5, 4.5] and third["o"].tolist() == ["x", "y", "z", "w"]
    types = dict(store.sql("DESCRIBE SELECT * FROM tables.df").fetchall()[i][:2] for i in range(6))
    assert (types["s"], types["o"]) == ("VARCHAR", "VARCHAR")


@pytest.mark.parametrize("index", [None, [10, 11, 12]], ids=["range-index", "other-index"])
def test_a_change_to_the_dataframe_after_the_table_is_made_is_not_stored(store_uri, index):
    """The table keeps a copy of the frame (a shallow one under pandas' copy-on-write): the
    caller's frame changed in place, renamed or extended afterwards changes nothing logged."""
    frame = pd.DataFrame({"i": [1, 2, 3], "s": ["a", "b", "c"], "f": [0.5, 1.5, 2.5]}, index=index)
    table = ms.Table(dataframe=frame)
    frame.loc[frame.index[0], "i"] = 100
    frame["s"] = frame["s"].str.upper()
    frame.iloc[1, 2] = -1.0
    frame["new"] = 7
    frame.columns = ["I", "S", "F", "N"]
    with ms.init(project="p", store=store_uri, run_id="r") as run:
        run.log({"df": table})
    back = ms.open(store_uri).table("r", "df")
    assert list(back.columns) == ["i", "s", "f"]
    assert back["i"].tolist() == [1, 2, 3] and back["s"].tolist() == ["a", "b", "c"] and back["f"].tolist() == [0.5, 1.5, 2.5]
    assert frame["I"].tolist() == [100, 2, 3]  # and the caller's frame has its changes


def test_python_cells_of_every_plain_type(store_uri):
    table = ms.Table(columns=["n", "x", "s", "b", "t", "l", "none"])
    when = dt.datetime(2026, 11, 24, 12, 0)
    table.add_data(1, 1, "a", True, when, [1.5, 2.5], None)
    table.add_data(2, 2.5, "b", False, None, None, None)  # an int column given a float: becomes float
    with ms.init(project="p", store=store_uri, run_id="r") as run:
        run.log({"t": table})
    rows = ms.open(store_uri).sql("SELECT n, x, s, b, t, l, \"none\" FROM tables.t ORDER BY \"row\"").fetchall()
    assert rows == [(1, 1.0, "a", True, when, [1.5, 2.5], None), (2, 2.5, "b", False, None, None, None)]


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([[1, "a"], ["x", "b"]], r"Table row 1 column 'A' has 'x' \(str\); the column holds int"),
        ([[1.5, "a"], [True, "b"]], r"Table row 1 column 'A' has True \(bool\); the column holds float"),
        ([[None, "a"], [1, 2]], r"Table row 1 column 'B' has 2 \(int\); the column holds str"),
        ([[1, object()]], r"Table row 0 column 'B' has <object object .*> of type object; cells are numbers"),
    ],
)
def test_a_cell_that_does_not_fit_names_row_column_value_and_type(rows, message):
    with pytest.raises(ms.InvalidMediaTypeError, match=message):
        ms.Table(columns=["A", "B"], data=rows)


def test_media_cell_type_mismatch(rgb):
    table = ms.Table(columns=["img"])
    table.add_data(ms.Image(rgb))
    with pytest.raises(ms.InvalidMediaTypeError, match=r"Table row 1 column 'img' has 'nope' \(str\); the column holds Image"):
        table.add_data("nope")


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda t: t.add_data(1), ms.InvalidMediaError, r"add_data got 1 values; the table's columns are \['A', 'B'\] \(2\)"),
        (lambda t: t.add_column("C", [1, 2]), ms.InvalidMediaError, r"add_column 'C' got 2 values; the table has 1 rows"),
        (lambda t: t.add_column("A", [1]), ms.InvalidMediaError, r"column names must be unique; \['A'\]"),
        (lambda t: t.get_column("Z"), ms.InvalidMediaError, r"no column 'Z'; the columns are \['A', 'B'\]"),
    ],
)
def test_api_errors(call, error, message):
    table = ms.Table(columns=["A", "B"], data=[[1, "x"]])
    with pytest.raises(error, match=message):
        call(table)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"columns": ["a", 1]}, ms.InvalidMediaTypeError, r"column names must be non-empty str, got 1"),
        ({"columns": ["a", "a"]}, ms.InvalidMediaError, r"column names must be unique"),
        ({"data": "abc"}, ms.InvalidMediaTypeError, r"data must be a list of rows, a 2-D numpy array or a DataFrame, got str"),
        ({"dataframe": [1, 2]}, ms.InvalidMediaTypeError, r"dataframe must be a pandas DataFrame, got list"),
        ({"data": [[1, 2, 3]], "dataframe": pd.DataFrame()}, ms.InvalidMediaError, r"takes data= or dataframe=, not both"),
    ],
)
def test_constructor_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        ms.Table(**kwargs)


# -- the row limit -----------------------------------------------------------------------------


def test_row_limit_at_construction_add_data_and_log(store_uri, limit):
    ms.Table.MAX_ROWS = 3
    rows = [[i] for i in range(4)]
    fix = r"Raise the limit for larger tables: ms.Table.MAX_ROWS = 4"
    with pytest.raises(ms.InvalidMediaError, match=r"data has 4 rows, over ms.Table.MAX_ROWS = 3; nothing was truncated or stored. " + fix):
        ms.Table(columns=["a"], data=rows)
    with pytest.raises(ms.InvalidMediaError, match=r"the DataFrame has 4 rows, over ms.Table.MAX_ROWS = 3"):
        ms.Table(dataframe=pd.DataFrame({"a": range(4)}))
    table = ms.Table(columns=["a"], data=rows[:3])
    with pytest.raises(ms.InvalidMediaError, match=r"the table has 4 rows, over ms.Table.MAX_ROWS = 3"):
        table.add_data(3)
    assert len(table) == 3  # nothing was added
    ms.Table.MAX_ROWS = 2  # lowered after the table was made
    with ms.init(project="p", store=store_uri) as run:
        with pytest.raises(ms.InvalidMediaError, match=r"the table has 3 rows, over ms.Table.MAX_ROWS = 2.*ms.Table.MAX_ROWS = 3"):
            run.log({"t": table, "loss": 1.0})
        ms.Table.MAX_ROWS = 3
        run.log({"t": table})
    store = ms.open(store_uri)
    assert store.sql("SELECT step, num_rows FROM tables").fetchall() == [(0, 3)]
    assert store.sql("SELECT count(*) FROM scalars").fetchall() == [(0,)]  # the refused call stored nothing


def test_raising_the_limit_allows_large_tables(store_uri, limit):
    ms.Table.MAX_ROWS = 50_000
    frame = pd.DataFrame({"a": np.arange(20_000), "b": ["x"] * 20_000})
    with ms.init(project="p", store=store_uri, run_id="r") as run:
        run.log({"big": ms.Table(dataframe=frame)})
    assert ms.open(store_uri).sql("SELECT count(*), max(a) FROM tables.big").fetchall() == [(20_000, 19_999)]


# -- media cells -------------------------------------------------------------------------------


def test_seed_table_examples_with_masks_and_boxes(store_uri, rgb):
    class_labels = {1: "tree", 2: "car"}
    ids, images = [0, 1], [rgb, 255 - rgb]
    labels = [np.eye(24, 32, dtype=np.uint8), np.zeros((24, 32), np.uint8)]
    table = ms.Table(columns=["ID", "Image"])
    for id, img, label in zip(ids, images, labels):
        table.add_data(id, ms.Image(img, masks={"prediction": {"mask_data": label, "class_labels": class_labels}}))
    boxes_set = [[{"minX": 1, "minY": 2, "maxX": 5, "maxY": 6, "class_id": 1, "caption": "a tree"}], []]
    box_table = ms.Table(columns=["ID", "Image"])
    for id, img, boxes in zip(ids, images, boxes_set):
        box_img = ms.Image(img, boxes={"prediction": {"box_data": [
            {"position": {"minX": b["minX"], "minY": b["minY"], "maxX": b["maxX"], "maxY": b["maxY"]},
             "class_id": b["class_id"], "box_caption": b["caption"], "domain": "pixel"} for b in boxes
        ], "class_labels": class_labels}})
        box_table.add_data(id, box_img)
    with ms.init(project="my_project", store=store_uri, run_id="r") as run:
        run.log({"Table": table, "Boxes": box_table, "plain": ms.Image(rgb)})
    store = ms.open(store_uri)
    frame = store.table("r", "Table")
    decoded = [store.decode(cell) for cell in frame["Image"]]
    np.testing.assert_array_equal(decoded[1].to_numpy(), 255 - rgb)
    np.testing.assert_array_equal(decoded[0].masks["prediction"]["mask_data"], labels[0])
    assert decoded[0].masks["prediction"]["class_labels"] == {0: "class_0", 1: "tree", 2: "car"}
    boxes = store.sql("SELECT ID, b.label, b.caption, b.min_x FROM tables.Boxes, unnest(Image.boxes) t(b)").fetchall()
    assert boxes == [(0, "tree", "a tree", 1.0)]
    # One copy of the bytes: the table cell points at the same blob as the images view.
    same = store.sql("SELECT count(*) FROM tables.Table t JOIN images i ON t.Image.blob.uri = i.blob.uri WHERE t.ID = 0").fetchall()
    assert same == [(1,)]


def test_one_query_over_a_key_across_steps_and_runs(store_uri, rgb):
    """Filter on a text column and on an image cell's box scores, over 3 steps x 2 runs."""
    for run_no in range(2):
        with ms.init(project="p", store=store_uri, run_id=f"run{run_no}") as run:
            for step in range(3):
                table = ms.Table(columns=["split", "image"])
                for i, split in enumerate(["val", "train"]):
                    score = 0.1 * step + 0.05 * i + 0.3 * run_no
                    table.add_data(split, ms.Image(rgb, boxes={"pred": {"box_data": [box(0.1, score)]}}))
                run.log({"preds": table, "loss": 1.0})
    found = ms.open(store_uri).sql(
        """SELECT project, run_id, step, "row", split FROM tables.preds, unnest(image.boxes) AS t(b)
           WHERE split = ? AND b.scores['score'] < ? ORDER BY ALL""",
        params=["val", 0.35],
    ).fetchall()
    assert found == [("p", "run0", 0, 0, "val"), ("p", "run0", 1, 0, "val"), ("p", "run0", 2, 0, "val"), ("p", "run1", 0, 0, "val")]


def test_store_table_by_step_and_new_versions(store_uri):
    table = ms.Table(columns=["a"], data=[[1]], log_mode="MUTABLE")
    with ms.init(project="p", store=store_uri, run_id="r") as run:
        run.log({"t": table})
        table.add_data(2)  # changed after logging: the logged version stays as it was
        run.log({"t": table})  # MUTABLE, logged again: a new version at the new step
        table.add_data(3)
    store = ms.open(store_uri)
    assert store.table("r", "t", step=0)["a"].tolist() == [1]
    assert store.table("r", "t")["a"].tolist() == [1, 2]
    assert store.sql("SELECT step, num_rows FROM tables ORDER BY step").fetchall() == [(0, 1), (1, 2)]
    with pytest.raises(ms.RunNotFoundError, match=r"no table 't' in run 'r' at step 7"):
        store.table("r", "t", step=7)


def test_table_file_has_real_column_types(store_uri, rgb):
    table = ms.Table(columns=["n", "img"], data=[[1, ms.Image(rgb)]])
    with ms.init(project="p", store=store_uri) as run:
        run.log({"t": table})
    store = ms.open(store_uri)
    (blob,) = store.sql("SELECT blob FROM tables").fetchall()[0]
    assert blob["mime"] == "application/vnd.apache.parquet"
    import io

    schema = pq.read_schema(io.BytesIO(store.location.get_blob(blob)))
    assert str(schema.field("n").type) == "int64"
    assert schema.field("img").type.get_field_index("blob") >= 0
    assert schema.field("img").type.get_field_index("boxes") >= 0


def test_reserved_column_names_are_renamed_in_the_view(store_uri):
    with ms.init(project="p", store=store_uri, run_id="r") as run:
        run.log({"t": ms.Table(columns=["step", "row", "value"], data=[[10, 20, 30]])})
    rel = ms.open(store_uri).sql("SELECT * FROM tables.t")
    assert rel.columns == ["project", "run_id", "step", "row", "step_", "row_", "value"]
    assert rel.fetchall() == [("p", "r", 0, 0, 10, 20, 30)]


def test_every_media_type_as_a_cell(store_uri, rgb, tmp_path):
    """Cells of each media type round-trip through a table: decoded from the cell, equal to the original."""
    pytest.importorskip("av", reason="video cells need PyAV (the video extra)")
    pytest.importorskip("soundfile", reason="audio cells need soundfile (the audio extra)")
    (tmp_path / "m.pdb").write_text("ATOM      1  C   UNK A   1       0.000   0.000   0.000  1.00  0.00           C\nEND\n")
    samples = np.linspace(-0.5, 0.5, 800, dtype=np.float32)
    frames = np.zeros((4, 3, 16, 16), np.uint8)
    points = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]])
    cells = {
        "audio": ms.Audio(samples, sample_rate=8000),
        "video": ms.Video(frames, fps=4, format="gif"),
        "html": ms.Html("<p>hi</p>", inject=False),
        "molecule": ms.Molecule(str(tmp_path / "m.pdb")),
        "cloud": ms.Object3D(points),
        "hist": ms.Histogram([1, 2, 2, 3], num_bins=3),
    }
    table = ms.Table(columns=["id", *cells])
    table.add_data(0, *cells.values())
    table.add_data(1, *([None] * len(cells)))
    with ms.init(project="p", store=store_uri, run_id="r") as run:
        run.log({"all": table})
    store = ms.open(store_uri)
    frame = store.table("r", "all")
    assert store.sql("SELECT column_types FROM tables").fetchall() == [(["int", "Audio", "Video", "Html", "Molecule", "Object3D", "Histogram"],)]
    back = {name: store.decode(frame[name][0]) for name in cells}
    np.testing.assert_array_equal(back["audio"].to_numpy(), samples)
    assert back["video"].to_numpy().shape[0] == 4
    assert back["html"].html == "<p>hi</p>"
    assert back["molecule"].file_bytes == (tmp_path / "m.pdb").read_bytes()
    np.testing.assert_array_equal(back["cloud"].to_numpy(), points)
    np.testing.assert_array_equal(back["hist"].counts, [1, 2, 1])
    assert all(frame[name][1] is None for name in cells)
    sql = store.sql("SELECT id, audio.sample_rate, video.frames, cloud.num_points, hist.num_bins FROM tables.all ORDER BY id").fetchall()
    assert sql == [(0, 8000, 4, 2, 3), (1, None, None, None, None)]
