"""``ms.Object3D``: every input form through run.log -> SQL -> store.decode, and every documented error."""

from __future__ import annotations

import io
import json
import os
import struct

import fsspec
import numpy as np
import pytest

import mediastore as ms

# -- the reference page's examples -------------------------------------------------------------

PAGE_POINTS = [
    [2566.571924017235, 746.7817289698219, -15.269245470863748, 76.5, 127.5, 89.46617199365393],
    [2566.592983606823, 746.6791987335685, -15.275803826279521, 76.5, 127.5, 89.45471117247024],
    [2566.616361739416, 746.4903185513501, -15.28628929674075, 76.5, 127.5, 89.41336375503832],
    [2561.706014951675, 744.5349468458361, -14.877496818222781, 76.5, 127.5, 82.21868245418283],
    [2561.5281847916694, 744.2546118233013, -14.867862032341005, 76.5, 127.5, 81.87824684536432],
    [2561.3693562897465, 744.1804761656741, -14.854129178142523, 76.5, 127.5, 81.64137897587152],
    [2561.6093071504515, 744.0287526628543, -14.882135189841177, 76.5, 127.5, 81.89871499537098],
]
PAGE_BOX = {
    "corners": [
        [2601.2765123137915, 767.5669506323393, -17.816764802288663],
        [2599.7259021588347, 769.0082337923552, -17.816764802288663],
        [2599.7259021588347, 769.0082337923552, -19.66876480228866],
        [2601.2765123137915, 767.5669506323393, -19.66876480228866],
        [2604.8684867834395, 771.4313904894723, -17.816764802288663],
        [2603.3178766284827, 772.8726736494882, -17.816764802288663],
        [2603.3178766284827, 772.8726736494882, -19.66876480228866],
        [2604.8684867834395, 771.4313904894723, -19.66876480228866],
    ],
    "color": [0, 0, 255],
    "label": "car",
    "score": 0.6,
}
PAGE_VECTOR = {"start": [0, 0, 0], "end": [0.1, 0.2, 0.5], "color": [255, 0, 0]}
PAGE_PTS_JSON = {
    "boxes": [
        {
            "color": [0, 255, 0],
            "score": 0.35,
            "label": "My label",
            "corners": [
                [2589.695869075582, 760.7400443552185, -18.044831294622487],
                [2590.719039645323, 762.3871153874499, -18.044831294622487],
                [2590.719039645323, 762.3871153874499, -19.54083129462249],
                [2589.695869075582, 760.7400443552185, -19.54083129462249],
                [2594.9666662674313, 757.4657929961453, -18.044831294622487],
                [2595.9898368371723, 759.1128640283766, -18.044831294622487],
                [2595.9898368371723, 759.1128640283766, -19.54083129462249],
                [2594.9666662674313, 757.4657929961453, -19.54083129462249],
            ],
        }
    ],
    "points": PAGE_POINTS[:3],
    "type": "lidar/beta",
}
PAGE_XYZ = np.array([[0.4, 1, 1.3], [1, 1, 1], [1.2, 1, 1.2]])
PAGE_CAT = np.array(
    [[0.4, 1, 1.3, 1], [1, 1, 1, 1], [1.2, 1, 1.2, 12], [1.2, 1, 1.3, 12], [1.2, 1, 1.4, 12], [1.2, 1, 1.5, 12],
     [1.2, 1, 1.6, 11], [1.2, 1, 1.7, 11]]
)  # fmt: skip
PAGE_RGB = np.array(
    [[0.4, 1, 1.3, 255, 0, 0], [1, 1, 1, 0, 255, 0], [1.2, 1, 1.3, 0, 255, 255], [1.2, 1, 1.4, 0, 255, 255],
     [1.2, 1, 1.5, 0, 0, 255], [1.2, 1, 1.1, 0, 0, 255], [1.2, 1, 0.9, 0, 0, 255]]
)  # fmt: skip

# -- small 3-D model files, made here ---------------------------------------------------------

OBJ = b"# triangle\nv 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"
GLTF = json.dumps({"asset": {"version": "2.0"}, "scenes": [{"nodes": []}]}).encode()
BABYLON = json.dumps({"producer": {"name": "test"}, "meshes": []}).encode()
STL_ASCII = b"solid t\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nvertex 0 1 0\nendloop\nendfacet\nendsolid t\n"


def _glb() -> bytes:
    chunk = b'{"asset":{"version":"2.0"}}'
    chunk += b" " * (-len(chunk) % 4)
    return b"glTF" + struct.pack("<II", 2, 12 + 8 + len(chunk)) + struct.pack("<I", len(chunk)) + b"JSON" + chunk


def _stl_binary() -> bytes:
    triangle = struct.pack("<12fH", 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0)
    return b"binary stl".ljust(80, b"\0") + struct.pack("<I", 1) + triangle


GLB = _glb()
STL_BINARY = _stl_binary()
MODEL_FILES = {"obj": OBJ, "gltf": GLTF, "glb": GLB, "babylon": BABYLON, "stl": STL_BINARY}
MIME = {
    "npy": "application/x-npy",
    "pts.json": "application/x-pts+json",
    "obj": "model/obj",
    "gltf": "model/gltf+json",
    "glb": "model/gltf-binary",
    "babylon": "model/vnd.babylon+json",
    "stl": "model/stl",
}


def _write_path(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _write(tmp_path, name: str, data: bytes) -> str:
    return str(_write_path(tmp_path, name, data))


# -- helpers ----------------------------------------------------------------------------------


def _log(store_uri, values, **log_kwargs):
    with ms.init(project="p", store=store_uri, run_id="r") as run:
        run.log(values, **log_kwargs)


def _rows(store_uri, query="SELECT * FROM objects3d ORDER BY step, key, idx"):
    """The rows as pandas Series and as Arrow dicts, and the store to decode them."""
    store = ms.open(store_uri)
    frame = store.sql(query).df()
    arrow = store.sql(query).to_arrow_table().to_pylist()
    return store, [frame.iloc[i] for i in range(len(frame))], arrow


def _blob_files(store_uri) -> list[str]:
    fs, root = fsspec.core.url_to_fs(store_uri)
    return fs.find(f"{root}/blobs") if fs.exists(f"{root}/blobs") else []


def _assert_same_points(decoded: np.ndarray, original) -> None:
    original = np.asarray(original)
    assert decoded.shape == original.shape
    assert decoded.dtype == original.dtype.newbyteorder("<") or decoded.dtype == original.dtype
    assert np.array_equal(decoded, original)  # exact, not approximate


# -- every input form -------------------------------------------------------------------------

# name -> (make(tmp_path) -> Object3D, expected columns, expected points or None, file bytes or None)
rng = np.random.default_rng(7)
XYZ64 = rng.normal(size=(50, 3)) * 1e3
XYZ32 = rng.normal(size=(40, 3)).astype(np.float32)
XYZC = np.column_stack([rng.normal(size=(30, 3)), rng.integers(1, 15, 30)])
XYZRGB_U8 = np.column_stack([rng.integers(-100, 100, (20, 3)), rng.integers(0, 256, (20, 3))]).astype(np.int64)
BIG_ENDIAN = XYZ64.astype(">f8")
EXACT_INTS = np.array([[2**53 + 1, -(2**60), 7]], dtype=np.int64)  # not representable as float64

NO_SCENE = {"boxes": [], "vectors": [], "type": None}
PAGE_SCENE = {
    "boxes": [PAGE_BOX],
    "vectors": [{"start": [0.0, 0.0, 0.0], "end": [0.1, 0.2, 0.5], "color": [255, 0, 0]}],
    "type": "lidar/beta",
}

FORMS = {
    "array xyz float64": (lambda t: ms.Object3D(XYZ64), "xyz", XYZ64, None),
    "array xyz float32": (lambda t: ms.Object3D(XYZ32), "xyz", XYZ32, None),
    "array xyzc": (lambda t: ms.Object3D(XYZC), "xyzc", XYZC, None),
    "array xyzrgb int": (lambda t: ms.Object3D(XYZRGB_U8), "xyzrgb", XYZRGB_U8, None),
    "array big-endian": (lambda t: ms.Object3D(BIG_ENDIAN), "xyz", BIG_ENDIAN, None),
    "array int64 beyond float64": (lambda t: ms.Object3D(EXACT_INTS), "xyz", EXACT_INTS, None),
    "list of lists": (lambda t: ms.Object3D([[1, 2, 3], [4.5, 5, 6]]), "xyz", [[1, 2, 3], [4.5, 5, 6]], None),
    "page np.array([[0, 0, 0, COLOR]])": (lambda t: ms.Object3D(np.array([[0, 0, 0, 3]])), "xyzc", [[0, 0, 0, 3]], None),
    "page from_numpy xyz": (lambda t: ms.Object3D.from_numpy(PAGE_XYZ), "xyz", PAGE_XYZ, None),
    "page from_numpy category": (lambda t: ms.Object3D.from_numpy(PAGE_CAT), "xyzc", PAGE_CAT, None),
    "page from_numpy rgb": (lambda t: ms.Object3D.from_numpy(PAGE_RGB), "xyzrgb", PAGE_RGB, None),
}
SCENE_FORMS = {
    "page from_point_cloud": (
        lambda t: ms.Object3D.from_point_cloud(
            points=PAGE_POINTS, boxes=[PAGE_BOX], vectors=[PAGE_VECTOR], point_cloud_type="lidar/beta"
        ),
        PAGE_SCENE,
    ),
    "from_point_cloud array, no boxes": (
        lambda t: ms.Object3D.from_point_cloud(np.array(PAGE_POINTS)),
        {"boxes": [], "vectors": [], "type": "lidar/beta"},
    ),
    "scene dict": (
        lambda t: ms.Object3D({"type": "lidar/beta", "points": PAGE_POINTS, "boxes": [PAGE_BOX], "vectors": [PAGE_VECTOR]}),
        PAGE_SCENE,
    ),
    "vector without color, box without label and score": (
        lambda t: ms.Object3D.from_point_cloud(
            PAGE_POINTS, [{"corners": PAGE_BOX["corners"], "color": (1, 2, 3)}], [{"start": (1, 2, 3), "end": np.array([4, 5, 6])}]
        ),
        {
            "boxes": [{"corners": PAGE_BOX["corners"], "color": [1, 2, 3], "label": None, "score": None}],
            "vectors": [{"start": [1.0, 2.0, 3.0], "end": [4.0, 5.0, 6.0], "color": None}],
            "type": "lidar/beta",
        },
    ),
}
PTS_JSON = json.dumps(PAGE_PTS_JSON, indent=4).encode()
PTS_SCENE = {"boxes": PAGE_PTS_JSON["boxes"], "vectors": [], "type": "lidar/beta"}
FILE_FORMS = {
    "page from_file .pts.json": (lambda t: ms.Object3D.from_file(_write(t, "my_point_cloud.pts.json", PTS_JSON)), "pts.json", PTS_JSON),
    "Object3D(.pts.json path)": (lambda t: ms.Object3D(_write(t, "c.PTS.JSON", PTS_JSON)), "pts.json", PTS_JSON),
    ".pts.json text file object": (
        lambda t: ms.Object3D.from_file(io.StringIO(PTS_JSON.decode()), file_type="pts.json"),
        "pts.json",
        PTS_JSON,
    ),
    **{
        f".{ext} path": ((lambda t, ext=ext, data=data: ms.Object3D.from_file(_write(t, f"model.{ext}", data))), ext, data)
        for ext, data in MODEL_FILES.items()
    },
    **{
        f".{ext} binary file object": (
            (lambda t, ext=ext, data=data: ms.Object3D.from_file(io.BytesIO(data), file_type=ext)),
            ext,
            data,
        )
        for ext, data in MODEL_FILES.items()
    },
    ".stl ascii path": (lambda t: ms.Object3D(_write(t, "a.stl", STL_ASCII)), "stl", STL_ASCII),
    "path with file_type override": (lambda t: ms.Object3D.from_file(_write(t, "mesh.dat", OBJ), file_type=".OBJ"), "obj", OBJ),
    "pathlib path": (lambda t: ms.Object3D.from_file(_write_path(t, "x.glb", GLB)), "glb", GLB),
}


def _check_decoded(obj, points, scene, file_bytes):
    if points is not None:
        _assert_same_points(obj.to_numpy(), points)
    assert obj.boxes == scene["boxes"]
    assert obj.vectors == scene["vectors"]
    assert obj.type == scene["type"]
    assert obj.file_bytes == file_bytes


@pytest.mark.parametrize("form", list(FORMS))
def test_points_round_trip_exactly(store_uri, tmp_path, form):
    make, point_format, points, _ = FORMS[form]
    _log(store_uri, {"cloud": make(tmp_path)})
    store, frame_rows, arrow_rows = _rows(store_uri)
    (row,) = frame_rows
    points = np.asarray(points)
    assert (row["format"], row["num_points"], row["point_format"]) == ("npy", len(points), point_format)
    assert row["blob"]["mime"] == "application/x-npy"
    assert list(row["boxes"]) == [] and list(row["vectors"]) == []
    for source in (row, arrow_rows[0]):  # the pandas and the Arrow path give the same object
        obj = store.decode(source)
        assert isinstance(obj, ms.Object3D)
        _check_decoded(obj, points, NO_SCENE, None)
        assert (obj.format, obj.num_points, obj.point_format) == ("npy", len(points), point_format)


@pytest.mark.parametrize("form", list(SCENE_FORMS))
def test_scenes_round_trip(store_uri, tmp_path, form):
    make, scene = SCENE_FORMS[form]
    _log(store_uri, {"scene": make(tmp_path)})
    store, frame_rows, arrow_rows = _rows(store_uri)
    assert frame_rows[0]["type"] == "lidar/beta"
    assert frame_rows[0]["format"] == "npy"
    for source in (frame_rows[0], arrow_rows[0]):
        obj = store.decode(source)
        _check_decoded(obj, np.asarray(PAGE_POINTS), scene, None)
        assert obj.point_format == "xyzrgb" and obj.num_points == len(PAGE_POINTS)


@pytest.mark.parametrize("form", list(FILE_FORMS))
def test_files_are_stored_byte_for_byte(store_uri, tmp_path, form):
    make, file_type, data = FILE_FORMS[form]
    _log(store_uri, {"model": make(tmp_path)})
    store, frame_rows, arrow_rows = _rows(store_uri)
    row = frame_rows[0]
    assert row["format"] == file_type
    assert row["blob"]["mime"] == MIME[file_type]
    assert store.location.get_blob(row["blob"]) == data
    is_scene = file_type == "pts.json"
    for source in (row, arrow_rows[0]):
        obj = store.decode(source)
        assert obj.file_bytes == data
        assert obj.format == file_type
        if is_scene:
            _check_decoded(obj, PAGE_PTS_JSON["points"], PTS_SCENE, data)
            assert (obj.num_points, obj.point_format) == (3, "xyzrgb")
        else:
            assert (obj.num_points, obj.point_format, obj.type, obj.boxes, obj.vectors) == (None, None, None, [], [])
            with pytest.raises(ms.InvalidMediaError, match=rf"\.{file_type} model file and has no point array; .*file_bytes"):
                obj.to_numpy()


def test_all_points_are_stored_past_the_viewer_cut_off(store_uri):
    """The page's 300,000-point limit is the viewer's; the store keeps every point."""
    points = np.random.default_rng(1).normal(size=(300_001, 3))
    _log(store_uri, {"big": ms.Object3D(points)})
    store, rows, _ = _rows(store_uri)
    assert rows[0]["num_points"] == 300_001
    assert np.array_equal(store.decode(rows[0]).to_numpy(), points)


def test_points_blob_is_a_plain_npy_file(local_store):
    """The blob is readable without mediastore, with numpy.load."""
    _log(local_store, {"cloud": ms.Object3D(XYZC)})
    ((uri,),) = ms.open(local_store).sql("SELECT blob.uri FROM objects3d").fetchall()
    assert uri.endswith((".npy", ".bin"))  # .npy once storage maps application/x-npy
    loaded = np.load(os.path.join(local_store, uri), allow_pickle=False)
    assert loaded.dtype == XYZC.dtype and np.array_equal(loaded, XYZC)


def test_a_list_under_one_key_keeps_its_order(store_uri, tmp_path):
    items = [
        ms.Object3D(XYZ64, caption="first"),
        ms.Object3D.from_point_cloud(PAGE_POINTS, [PAGE_BOX]),
        ms.Object3D.from_file(_write(tmp_path, "m.obj", OBJ)),
        ms.Object3D(XYZC, caption="last"),
    ]
    _log(store_uri, {"clouds": items})
    store, rows, _ = _rows(store_uri)
    assert [r["idx"] for r in rows] == [0, 1, 2, 3]
    assert [r["format"] for r in rows] == ["npy", "npy", "obj", "npy"]
    decoded = [store.decode(r) for r in rows]
    assert decoded[0].caption == "first" and decoded[3].caption == "last"
    assert decoded[1].caption is None
    assert np.array_equal(decoded[0].to_numpy(), XYZ64)
    assert decoded[1].boxes[0]["label"] == "car"
    assert decoded[2].file_bytes == OBJ
    assert np.array_equal(decoded[3].to_numpy(), XYZC)


def test_same_object_logged_twice_and_same_points_stored_once(store_uri):
    cloud = ms.Object3D.from_point_cloud(PAGE_POINTS, [PAGE_BOX])
    with ms.init(project="p", store=store_uri, run_id="r") as run:
        run.log({"a": cloud})
        run.log({"a": cloud, "b": ms.Object3D(np.array(PAGE_POINTS))})
    store, rows, _ = _rows(store_uri)
    assert [(r["step"], r["key"]) for r in rows] == [(0, "a"), (1, "a"), (1, "b")]
    assert len({r["blob"]["sha256"] for r in rows}) == 1
    assert len(_blob_files(store_uri)) == 1
    assert all(store.decode(r).boxes == store.decode(rows[0]).boxes for r in rows[:2])


def test_boxes_are_queryable_in_sql(store_uri, tmp_path):
    """'Every scene where a predicted car box scored below 0.3', with unnest over the boxes column."""

    def box(label, score):
        return {**PAGE_BOX, "label": label, "score": score}

    with ms.init(project="p", store=store_uri, run_id="r") as run:
        run.log({"scene": ms.Object3D.from_point_cloud(PAGE_POINTS, [box("car", 0.9), box("person", 0.1)])})
        run.log({"scene": ms.Object3D.from_point_cloud(PAGE_POINTS, [box("car", 0.2), box("car", 0.25)])})
        run.log({"scene": ms.Object3D.from_file(_write(tmp_path, "s.pts.json", PTS_JSON))})  # "My label", 0.35
        run.log({"scene": ms.Object3D(XYZ64)})  # no boxes
    query = """
        SELECT step, b.label, b.score, b.color, len(b.corners) AS corners
        FROM objects3d, unnest(boxes) AS u(b)
        WHERE b.label = 'car' AND b.score < 0.3
        ORDER BY ALL
    """
    store = ms.open(store_uri)
    assert store.sql(query).fetchall() == [(1, "car", 0.2, [0, 0, 255], 8), (1, "car", 0.25, [0, 0, 255], 8)]
    frame = store.sql(query).df()
    arrow = store.sql(query).to_arrow_table().to_pandas()
    assert frame["score"].tolist() == arrow["score"].tolist() == [0.2, 0.25]
    counts = store.sql("SELECT step, len(boxes), len(vectors) FROM objects3d ORDER BY ALL").fetchall()
    assert counts == [(0, 2, 0), (1, 2, 0), (2, 1, 0), (3, 0, 0)]
    corner = store.sql("SELECT boxes[1].corners[8][3] FROM objects3d WHERE step = 2").fetchall()[0][0]
    assert corner == PAGE_PTS_JSON["boxes"][0]["corners"][7][2]
    vectors = store.sql("SELECT v.start, v.end, v.color FROM objects3d, unnest(vectors) AS u(v)").fetchall()
    assert vectors == []


def test_vectors_are_queryable_in_sql(store_uri):
    _log(store_uri, {"scene": ms.Object3D.from_point_cloud(PAGE_POINTS, vectors=[PAGE_VECTOR, {"start": [1, 1, 1], "end": [2, 2, 2]}])})
    rows = ms.open(store_uri).sql("SELECT v.end[3], v.color FROM objects3d, unnest(vectors) AS u(v) ORDER BY ALL").fetchall()
    assert rows == [(0.5, [255, 0, 0]), (2.0, None)]


def test_summary_records_the_object(local_store):
    _log(local_store, {"cloud": ms.Object3D(XYZC)})
    summary = json.loads(ms.open(local_store).runs()["summary"][0])
    assert summary["cloud"] == {"_kind": "objects3d", "format": "npy", "num_points": 30, "point_format": "xyzc"}


def test_the_callers_array_can_change_after_the_object_is_made(store_uri):
    """Encoding runs later on a worker: the object keeps its own copy of the points."""
    points = XYZ64.copy()
    cloud = ms.Object3D(points)
    points[:] = 0
    with ms.init(project="p", store=store_uri, run_id="r") as run:
        run.log({"cloud": cloud})
    store, rows, _ = _rows(store_uri)
    assert np.array_equal(store.decode(rows[0]).to_numpy(), XYZ64)


# -- every documented error -------------------------------------------------------------------


class _BadReader:
    def read(self):
        return 42


GOOD = [[0.0, 0.0, 0.0]]


def _scene(**change):
    return ms.Object3D.from_point_cloud(PAGE_POINTS, [{**PAGE_BOX, **change}])


def _without(mapping, field):
    return {k: v for k, v in mapping.items() if k != field}


ERRORS = {
    # points
    "int": (lambda t: ms.Object3D(42), ms.InvalidMediaTypeError, r"Object3D points must be an \(n, 3\), \(n, 4\) or \(n, 6\) numpy array .* got int"),
    "bytes": (lambda t: ms.Object3D(b"abc"), ms.InvalidMediaTypeError, r"got bytes — for a file use ms.Object3D.from_file"),
    "bool dtype": (lambda t: ms.Object3D(np.ones((2, 3), bool)), ms.InvalidMediaTypeError, r"dtype bool; points are ints or floats .*astype\(np.float64\)"),
    "str dtype": (lambda t: ms.Object3D([["a", "b", "c"]]), ms.InvalidMediaTypeError, r"dtype <U1; points are ints or floats"),
    "complex dtype": (lambda t: ms.Object3D(np.ones((2, 3), complex)), ms.InvalidMediaTypeError, r"dtype complex128"),
    "5 columns": (lambda t: ms.Object3D(np.zeros((2, 5))), ms.InvalidMediaError, r"shape \(2, 5\); expected \(n, 3\) xyz, \(n, 4\) xyz \+ category or \(n, 6\) xyz \+ rgb"),
    "1-D": (lambda t: ms.Object3D(np.zeros(3)), ms.InvalidMediaError, r"shape \(3,\); expected"),
    "(3, n)": (lambda t: ms.Object3D(np.zeros((3, 10))), ms.InvalidMediaError, r"shape \(3, 10\).*pass array.T"),
    "no points": (lambda t: ms.Object3D(np.zeros((0, 3))), ms.InvalidMediaError, r"shape \(0, 3\); a point cloud needs at least one point"),
    "ragged rows": (lambda t: ms.Object3D([[0, 0, 0], [1, 1]]), ms.InvalidMediaError, r"rows have different lengths"),
    "NaN": (lambda t: ms.Object3D([[0, 0, 0], [0, np.nan, 0]]), ms.InvalidMediaError, r"1 row\(s\) with NaN or infinite values \(first: row 1.*drop them"),
    "inf": (lambda t: ms.Object3D.from_numpy([[np.inf, 0, 0]]), ms.InvalidMediaError, r"NaN or infinite"),
    "category 0": (lambda t: ms.Object3D([[0, 0, 0, 1], [0, 0, 0, 0]]), ms.InvalidMediaError, r"column 3 is a category; row 1 has 0, but categories are integers 1..14 — map"),
    "category 15": (lambda t: ms.Object3D([[0, 0, 0, 15]]), ms.InvalidMediaError, r"row 0 has 15, but categories are integers 1..14"),
    "category 1.5": (lambda t: ms.Object3D([[0, 0, 0, 1.5]]), ms.InvalidMediaError, r"row 0 has 1.5, but categories are integers 1..14"),
    "rgb 256": (lambda t: ms.Object3D([[0, 0, 0, 0, 256, 0]]), ms.InvalidMediaError, r"columns 3..5 are r, g, b; row 0 has \[0, 256, 0\], but colour components lie in 0..255"),
    "rgb negative": (lambda t: ms.Object3D([[0, 0, 0, 1, 1, 1], [0, 0, 0, -1, 0, 0]]), ms.InvalidMediaError, r"row 1 has \[-1, 0, 0\]"),
    "from_numpy path": (lambda t: ms.Object3D.from_numpy("cloud.obj"), ms.InvalidMediaTypeError, r"from_numpy takes .* got str — for a file use ms.Object3D.from_file"),
    "caption": (lambda t: ms.Object3D(GOOD, caption=3), ms.InvalidMediaTypeError, r"caption must be a str or None, got int 3"),
    # scenes
    "point_cloud_type": (lambda t: ms.Object3D.from_point_cloud(GOOD, point_cloud_type="lidar"), ms.InvalidMediaError, r"point cloud type 'lidar' is not supported; the only supported type is 'lidar/beta' — pass point_cloud_type='lidar/beta'"),
    "dict type": (lambda t: ms.Object3D({"points": GOOD, "type": "mesh"}), ms.InvalidMediaError, r"point cloud type 'mesh' is not supported"),
    "dict unknown field": (lambda t: ms.Object3D({"points": GOOD, "box": []}), ms.InvalidMediaError, r"scene dict has unknown field\(s\) \['box'\]; the fields are \['points', 'boxes', 'vectors', 'type'\]"),
    "dict without points": (lambda t: ms.Object3D({"boxes": []}), ms.InvalidMediaError, r"has no 'points'"),
    "boxes not a list": (lambda t: ms.Object3D.from_point_cloud(GOOD, PAGE_BOX), ms.InvalidMediaTypeError, r"Object3D boxes must be a list of dicts, got dict"),
    "box not a dict": (lambda t: ms.Object3D.from_point_cloud(GOOD, ["car"]), ms.InvalidMediaTypeError, r"box 0 is a str; a box is a dict with 'corners'"),
    "box unknown field": (lambda t: _scene(scores=0.5), ms.InvalidMediaError, r"box 0 has unknown field\(s\) \['scores'\]; the fields are \['corners', 'label', 'color', 'score'\] — check the spelling"),
    "box without corners": (lambda t: ms.Object3D.from_point_cloud(GOOD, [_without(PAGE_BOX, "corners")]), ms.InvalidMediaError, r"box 0 has no 'corners'; give the box's 8 corners"),
    "corners not a list": (lambda t: _scene(corners=3), ms.InvalidMediaTypeError, r"box 0 'corners' is a int; give 8 corners"),
    "7 corners": (lambda t: _scene(corners=PAGE_BOX["corners"][:7]), ms.InvalidMediaError, r"box 0 'corners' has 7 corners; a box has 8 corners \[x, y, z\] \(shape \(8, 3\)\)"),
    "corner of 2": (lambda t: _scene(corners=PAGE_BOX["corners"][:7] + [[1, 2]]), ms.InvalidMediaError, r"box 0 corner 7 is \[1, 2\]; it must be \[x, y, z\], three numbers"),
    "corner NaN": (lambda t: _scene(corners=PAGE_BOX["corners"][:7] + [[1, 2, np.nan]]), ms.InvalidMediaError, r"corner 7 is \[1.0, 2.0, nan\]; coordinates must be finite"),
    "box without color": (lambda t: ms.Object3D.from_point_cloud(GOOD, [_without(PAGE_BOX, "color")]), ms.InvalidMediaError, r"box 0 has no 'color'; give the box colour as \[r, g, b\] integers 0..255"),
    "box color 300": (lambda t: _scene(color=[0, 0, 300]), ms.InvalidMediaError, r"box 0 'color' is \[0, 0, 300\]; colour components are integers 0..255"),
    "box color float": (lambda t: _scene(color=[0, 0, 0.5]), ms.InvalidMediaError, r"colour components are integers 0..255, e.g. \[255, 0, 0\] for red — round them"),
    "box color length": (lambda t: _scene(color=[0, 0]), ms.InvalidMediaError, r"box 0 'color' is \[0, 0\]; a colour is \[r, g, b\], three integers 0..255"),
    "label not str": (lambda t: _scene(label=5), ms.InvalidMediaTypeError, r"box 0 'label' is 5; it must be a str, or left out"),
    "score not a number": (lambda t: _scene(score="high"), ms.InvalidMediaTypeError, r"box 0 'score' is 'high'; it must be a number, or left out"),
    "score NaN": (lambda t: _scene(score=float("nan")), ms.InvalidMediaError, r"box 0 'score' is nan; it must be finite"),
    "vectors not a list": (lambda t: ms.Object3D.from_point_cloud(GOOD, vectors=PAGE_VECTOR), ms.InvalidMediaTypeError, r"Object3D vectors must be a list of dicts, got dict"),
    "vector not a dict": (lambda t: ms.Object3D.from_point_cloud(GOOD, vectors=[[0, 0, 0]]), ms.InvalidMediaTypeError, r"vector 0 is a list; a vector is a dict with 'start' and 'end'"),
    "vector unknown field": (lambda t: ms.Object3D.from_point_cloud(GOOD, vectors=[{**PAGE_VECTOR, "colour": 1}]), ms.InvalidMediaError, r"vector 0 has unknown field\(s\) \['colour'\]"),
    "vector without end": (lambda t: ms.Object3D.from_point_cloud(GOOD, vectors=[{"start": [0, 0, 0]}]), ms.InvalidMediaError, r"vector 0 has no 'end'; a vector needs 'start' and 'end'"),
    "vector start": (lambda t: ms.Object3D.from_point_cloud(GOOD, vectors=[{"start": "origin", "end": [0, 0, 0]}]), ms.InvalidMediaError, r"vector 0 'start' is 'origin'; it must be \[x, y, z\]"),
    "vector color": (lambda t: ms.Object3D.from_point_cloud(GOOD, vectors=[{**PAGE_VECTOR, "color": [-1, 0, 0]}]), ms.InvalidMediaError, r"vector 0 'color' is \[-1, 0, 0\]; colour components are integers 0..255"),
    # files
    "missing file": (lambda t: ms.Object3D.from_file(str(t / "nope.obj")), ms.MediaFileNotFoundError, r"Object3D file '.*nope.obj' does not exist or is not a file; check the path"),
    "unsupported extension": (lambda t: ms.Object3D.from_file(_write(t, "c.ply", b"ply")), ms.InvalidMediaError, r"'.*c.ply' has an unsupported extension; supported: .pts.json, .obj, .gltf, .glb, .babylon, .stl — rename it, or pass file_type="),
    "file object without file_type": (lambda t: ms.Object3D.from_file(io.BytesIO(OBJ)), ms.InvalidMediaError, r"file object \(BytesIO\) without file_type; .* pass file_type= one of \['pts.json', 'obj', 'gltf', 'glb', 'babylon', 'stl'\]"),
    "unknown file_type": (lambda t: ms.Object3D.from_file(io.BytesIO(OBJ), file_type="ply"), ms.InvalidMediaError, r"file_type 'ply' is not supported; use one of \['pts.json', 'obj'"),
    "file_type with an array": (lambda t: ms.Object3D(GOOD, file_type="obj"), ms.InvalidMediaError, r"file_type='obj' with a list; file_type is for paths and file objects only"),
    "from_file of an array": (lambda t: ms.Object3D.from_file(XYZ64), ms.InvalidMediaTypeError, r"from_file takes a path or a file object, got ndarray — for arrays use ms.Object3D.from_numpy"),
    "read() gives an int": (lambda t: ms.Object3D.from_file(_BadReader(), file_type="obj"), ms.InvalidMediaTypeError, r"\.read\(\) returned int; expected bytes or str"),
    "empty file": (lambda t: ms.Object3D.from_file(_write(t, "e.stl", b"")), ms.InvalidMediaError, r"Object3D file '.*e.stl' is empty; a .stl file needs content"),
    "pts.json not JSON": (lambda t: ms.Object3D.from_file(_write(t, "c.pts.json", b"{points")), ms.InvalidMediaError, r"c.pts.json' is not valid JSON \(.*\); a .pts.json file is JSON \{\"points\""),
    "pts.json a number": (lambda t: ms.Object3D.from_file(io.StringIO("3"), file_type="pts.json"), ms.InvalidMediaError, r"holds a JSON int; a .pts.json file is an object .* or a list of points"),
    "pts.json list of bad rows": (lambda t: ms.Object3D.from_file(io.StringIO("[[0, 0]]"), file_type="pts.json"), ms.InvalidMediaError, r"Object3D file .* points have shape \(1, 2\); expected \(n, 3\) xyz"),
    "pts.json bad category": (lambda t: ms.Object3D.from_file(_write(t, "c.pts.json", json.dumps({"points": [[0, 0, 0, 99]]}).encode())), ms.InvalidMediaError, r"categories are integers 1..14"),
    "pts.json bad type": (lambda t: ms.Object3D.from_file(_write(t, "c.pts.json", json.dumps({"points": GOOD, "type": "x"}).encode())), ms.InvalidMediaError, r"point cloud type 'x' is not supported"),
    "pts.json unknown field": (lambda t: ms.Object3D.from_file(_write(t, "c.pts.json", json.dumps({"points": GOOD, "colors": []}).encode())), ms.InvalidMediaError, r"c.pts.json' has unknown field\(s\) \['colors'\]"),
    "gltf not JSON": (lambda t: ms.Object3D.from_file(_write(t, "m.gltf", GLB)), ms.InvalidMediaError, r"m.gltf' is not valid JSON .*; a .gltf file is JSON text"),
    "babylon not JSON": (lambda t: ms.Object3D.from_file(io.BytesIO(b"BABYLON"), file_type="babylon"), ms.InvalidMediaError, r"is not valid JSON .*; a .babylon file is JSON text"),
    "glb without magic": (lambda t: ms.Object3D.from_file(_write(t, "m.glb", GLTF)), ms.InvalidMediaError, r"m.glb' does not start with b'glTF'; a .glb file is binary glTF — for JSON glTF use .gltf"),
    "stl neither": (lambda t: ms.Object3D.from_file(_write(t, "m.stl", OBJ)), ms.InvalidMediaError, r"m.stl' is neither binary STL .* nor ASCII STL"),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_documented_errors(tmp_path, case):
    make, error, match = ERRORS[case]
    with pytest.raises(error, match=match) as info:
        make(tmp_path)
    assert isinstance(info.value, ms.MediaStoreError)
    assert isinstance(info.value, (ValueError, TypeError, FileNotFoundError))


@pytest.mark.parametrize("case", ["NaN", "box color 300", "unsupported extension", "file object without file_type"])
def test_nothing_is_stored_after_an_error(store_uri, tmp_path, case):
    make, error, match = ERRORS[case]
    with ms.init(project="p", store=store_uri, run_id="r") as run:
        with pytest.raises(error, match=match):
            run.log({"good": ms.Object3D(XYZ64), "bad": make(tmp_path)})
        with pytest.raises(ms.InvalidLogError):
            run.log({"good": ms.Object3D(XYZ64), "bad": object()})
        assert run.step == 0
    store = ms.open(store_uri)
    assert store.sql("SELECT count(*) FROM objects3d").fetchall() == [(0,)]
    assert store.sql("SELECT count(*) FROM media").fetchall() == [(0,)]
    assert _blob_files(store_uri) == []


def test_a_row_of_the_media_view_decodes(store_uri, tmp_path):
    _log(store_uri, {"cloud": ms.Object3D.from_point_cloud(PAGE_POINTS, [PAGE_BOX]), "mesh": ms.Object3D(_write(tmp_path, "m.glb", GLB))})
    store = ms.open(store_uri)
    rows = store.sql("SELECT * FROM media ORDER BY key").df()
    assert rows["kind"].tolist() == ["objects3d", "objects3d"]
    cloud, mesh = (store.decode(r) for _, r in rows.iterrows())
    assert np.array_equal(cloud.to_numpy(), np.array(PAGE_POINTS)) and cloud.boxes[0]["label"] == "car"
    assert mesh.file_bytes == GLB and mesh.format == "glb"
