"""W&B code runs unchanged, the other media types: tensors for Histogram/Audio/Video, W&B's
``Histogram.histogram``, a file's own sample rate and format, ``Html(data_is_not_path=True)``
and ``==``, Object3D's W&B inputs (plain-list ``.pts.json``, numpy boxes, a positional
``point_cloud_type``, named file objects) and ``ms.box3d``. Round trips go through a store.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import mediastore as ms

torch = pytest.importorskip("torch")
RNG = np.random.default_rng(31)


def log_and_decode(tmp_path, values: dict, view: str):
    uri = str(tmp_path / "store")
    with ms.init(project="compat", store=uri) as run:
        run.log(values)
    store = ms.open(uri)
    rows = store.sql(f"SELECT * FROM {view} ORDER BY key, idx").df()
    return store, rows, [store.decode(row) for _, row in rows.iterrows()]


# -- Histogram ---------------------------------------------------------------------------------


def test_histogram_attribute_is_the_counts_as_in_w_and_b(tmp_path):
    values = RNG.standard_normal(500)
    counts, edges = np.histogram(values, bins=16)
    _, rows, (back,) = log_and_decode(tmp_path, {"h": ms.Histogram(values, num_bins=16)}, "histograms")
    np.testing.assert_array_equal(back.histogram, counts)
    np.testing.assert_array_equal(back.bins, edges)
    assert rows.loc[0, "counts"].tolist() == back.histogram.tolist()


def test_histogram_of_a_tensor_that_requires_grad(tmp_path):
    weights = torch.nn.Linear(8, 4).weight  # a Parameter: requires grad
    expected = np.histogram(weights.detach().numpy().ravel(), bins=10)[0]
    _, _, (back,) = log_and_decode(tmp_path, {"w": ms.Histogram(weights, num_bins=10)}, "histograms")
    np.testing.assert_array_equal(back.histogram, expected)


# -- Audio ---------------------------------------------------------------------------------------


def test_audio_of_a_tensor(tmp_path):
    samples = torch.sin(torch.linspace(0, 100, 800))
    _, rows, (clip,) = log_and_decode(tmp_path, {"a": ms.Audio(samples, sample_rate=8000)}, "audio")
    assert rows.loc[0, ["sample_rate", "num_samples", "channels"]].tolist() == [8000, 800, 1]
    np.testing.assert_array_equal(clip.to_numpy(), samples.numpy())


def test_audio_file_keeps_its_sample_rate_with_a_warning(tmp_path):
    sf = pytest.importorskip("soundfile")
    path = tmp_path / "tone.wav"
    sf.write(path, np.zeros(100, np.float32), 22050)
    with pytest.warns(ms.IgnoredArgumentWarning, match=r"sample_rate=16000 is ignored for Audio file .*tone.wav': a file keeps its own sample rate \(22050 Hz\)"):
        clip = ms.Audio(path, sample_rate=16000)
    _, rows, _ = log_and_decode(tmp_path, {"a": clip}, "audio")
    assert rows.loc[0, "sample_rate"] == 22050


# -- Video ----------------------------------------------------------------------------------------


def test_video_of_a_tensor(tmp_path):
    pytest.importorskip("av")
    frames = torch.randint(0, 4, (3, 3, 8, 8), dtype=torch.uint8) * 85  # (time, channels, H, W), 4 levels
    _, rows, (video,) = log_and_decode(tmp_path, {"v": ms.Video(frames, fps=4, format="gif")}, "videos")
    assert rows.loc[0, ["frames", "width", "height"]].tolist() == [3, 8, 8]
    np.testing.assert_array_equal(video.to_numpy(), frames.numpy())  # gif: exact at <= 256 colours


def test_video_file_keeps_its_format_with_a_warning(tmp_path):
    pytest.importorskip("av")
    path = tmp_path / "clip.gif"
    path.write_bytes(ms.Video(np.zeros((2, 3, 4, 4), np.uint8), format="gif")._stored_bytes())
    with pytest.warns(ms.IgnoredArgumentWarning, match=r"format='mp4' is ignored for Video file .*clip.gif': a file is stored as it is, in its own format \(gif\)"):
        video = ms.Video(str(path), format="mp4")
    _, rows, _ = log_and_decode(tmp_path, {"v": video}, "videos")
    assert rows.loc[0, "format"] == "gif" and rows.loc[0, "blob"]["mime"] == "image/gif"


# -- Html -------------------------------------------------------------------------------------------


def test_html_data_is_not_path(tmp_path):
    with pytest.raises(ms.MediaFileNotFoundError, match=r"Html file 'index.html' does not exist"):
        ms.Html("index.html")
    _, rows, (page,) = log_and_decode(tmp_path, {"h": ms.Html("index.html", inject=False, data_is_not_path=True)}, "html")
    assert page.html == "index.html"
    with pytest.raises(ms.InvalidMediaTypeError, match=r"Html data_is_not_path is 1; it must be True or False"):
        ms.Html("<p>x</p>", data_is_not_path=1)


def test_html_compares_by_stored_bytes(tmp_path):
    a, b = ms.Html("<p>hi</p>"), ms.Html("<p>hi</p>")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != ms.Html("<p>hi</p>", False)  # inject positional, as W&B's: different bytes
    _, _, (back,) = log_and_decode(tmp_path, {"h": a}, "html")
    assert back == a


# -- Object3D ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("columns", "point_format"), [(3, "xyz"), (4, "xyzc"), (6, "xyzrgb")])
def test_pts_json_in_w_and_b_plain_list_layout(tmp_path, columns, point_format):
    points = RNG.uniform(-1, 1, (20, columns))
    if columns == 4:
        points[:, 3] = RNG.integers(1, 15, 20)
    if columns == 6:
        points[:, 3:] = RNG.integers(0, 256, (20, 3))
    path = tmp_path / "cloud.pts.json"
    path.write_text(json.dumps(points.tolist()))  # what W&B writes for Object3D(numpy_array)
    _, rows, (back,) = log_and_decode(tmp_path, {"pc": ms.Object3D(str(path))}, "objects3d")
    assert rows.loc[0, ["format", "num_points", "point_format"]].tolist() == ["pts.json", 20, point_format]
    assert back.type is None and back.file_bytes == path.read_bytes()
    np.testing.assert_array_equal(back.to_numpy(), points)


def test_scene_dict_with_numpy_boxes_and_vectors(tmp_path):
    box = {"corners": np.zeros((8, 3)).tolist(), "label": "car", "color": [255, 0, 0], "score": 0.4}
    scene = {
        "type": "lidar/beta",
        "points": RNG.uniform(0, 1, (10, 3)),
        "boxes": np.array([box]),  # W&B's from_point_cloud makes object arrays of the dicts
        "vectors": np.array([{"start": [0, 0, 0], "end": [1, 1, 1]}]),
    }
    store, rows, (back,) = log_and_decode(tmp_path, {"scene": ms.Object3D(scene)}, "objects3d")
    assert back.boxes[0]["label"] == "car" and back.vectors[0]["end"] == [1.0, 1.0, 1.0]
    assert store.sql("SELECT b.label, b.score FROM objects3d, unnest(boxes) AS t(b)").fetchall() == [("car", 0.4)]
    empty = ms.Object3D({"type": "lidar/beta", "points": np.zeros((1, 3)), "boxes": np.array([]), "vectors": np.array([])})
    assert empty.boxes == [] and empty.vectors == []


def test_from_point_cloud_with_positional_type(tmp_path):
    cloud = ms.Object3D.from_point_cloud(np.zeros((4, 3)), [], None, "lidar/beta")
    assert cloud.type == "lidar/beta"
    with pytest.raises(ms.InvalidMediaError, match=r"point cloud type 'lidar/alpha' is not supported; the only supported type is 'lidar/beta'"):
        ms.Object3D.from_point_cloud(np.zeros((4, 3)), [], None, "lidar/alpha")


def test_named_file_object_takes_its_type_from_its_name(tmp_path):
    path = tmp_path / "wolf.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    with open(path) as fh:
        wolf = ms.Object3D(fh)
    _, rows, (back,) = log_and_decode(tmp_path, {"wolf": wolf}, "objects3d")
    assert rows.loc[0, "format"] == "obj" and back.file_bytes == path.read_bytes()
    odd = tmp_path / "wolf.xyz"
    odd.write_text("1 2 3\n")
    with open(odd) as fh, pytest.raises(ms.InvalidMediaError, match=r"Object3D file '.*wolf.xyz' has an unsupported extension; .* pass file_type="):
        ms.Object3D(fh)


def test_box3d_builds_a_box_that_logs_and_queries(tmp_path):
    # 90 degrees about z: the box's long x side lies along y.
    turn = (math.cos(math.pi / 4), 0.0, 0.0, math.sin(math.pi / 4))
    box = ms.box3d(center=(10, 0, 1), size=(4, 2, 2), orientation=turn, color=(1.0, 0.5, 0.0), label="car", score=0.9)
    corners = np.array(box["corners"])
    np.testing.assert_allclose(corners.min(axis=0), [9, -2, 0], atol=1e-12)
    np.testing.assert_allclose(corners.max(axis=0), [11, 2, 2], atol=1e-12)
    assert box["color"] == [255, 128, 0] and box["label"] == "car" and box["score"] == 0.9
    cloud = ms.Object3D.from_point_cloud(RNG.uniform(0, 10, (50, 3)), [box], [], "lidar/beta")
    store, _, (back,) = log_and_decode(tmp_path, {"lidar": cloud}, "objects3d")
    assert store.sql("SELECT b.label, b.color FROM objects3d, unnest(boxes) AS t(b)").fetchall() == [("car", [255, 128, 0])]
    np.testing.assert_allclose(back.boxes[0]["corners"], corners)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"color": (255, 0, 0)}, r"box3d color is \(255, 0, 0\); W&B's box3d takes \(r, g, b\) with components in 0..1"),
        ({"orientation": (0, 0, 0, 0)}, r"box3d orientation is the zero quaternion; give \[r, x, y, z\]"),
        ({"center": (1, 2)}, r"box3d center is \(1, 2\); it must be 3 finite numbers"),
        ({"size": (1, -1, 1)}, r"box3d size is \[1.0, -1.0, 1.0\]; a box's extents must be >= 0"),
        ({"label": 3}, r"'label' is 3; it must be a str, or left out"),
    ],
)
def test_box3d_errors(kwargs, message):
    args = {"center": (0, 0, 0), "size": (1, 1, 1), "orientation": (1, 0, 0, 0), "color": (0, 1, 0), **kwargs}
    with pytest.raises(ms.MediaStoreError, match=message) as info:
        ms.box3d(**args)
    assert isinstance(info.value, (ValueError, TypeError))


def test_box3d_is_public():
    assert "box3d" in ms.__all__
