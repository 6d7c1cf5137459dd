"""W&B code runs unchanged, images: tensors and W&B's channel rule, matplotlib figures,
``ms.Image(ms.Image)``, ``file_type=``, ``normalize=`` and ``==``.

Every case goes through a real store (``ms.init`` / ``ms.open(...).sql`` / ``store.decode``)
where the stored result is what the user would see; torch and matplotlib are the real ones.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import PIL.Image
import pytest

import mediastore as ms

torch = pytest.importorskip("torch")
matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RNG = np.random.default_rng(13)


def log_and_decode(tmp_path, values: dict, view: str = "images"):
    """Log one step, read the view back with SQL, decode every row (ordered by key, idx)."""
    uri = str(tmp_path / "store")
    with ms.init(project="compat", store=uri) as run:
        run.log(values)
    store = ms.open(uri)
    rows = store.sql(f"SELECT * FROM {view} ORDER BY key, idx").df()
    return rows, [store.decode(row) for _, row in rows.iterrows()]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# -- tensors and the channel rule -------------------------------------------------------------


def test_chw_tensor_is_transposed_to_hwc(tmp_path):
    tensor = torch.rand(3, 6, 10)
    rows, (image,) = log_and_decode(tmp_path, {"t": ms.Image(tensor)})
    assert rows.loc[0, ["width", "height", "channels", "mode"]].tolist() == [10, 6, 3, "RGB"]
    expected = np.rint(tensor.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    np.testing.assert_array_equal(image.to_numpy(), expected)


def test_ambiguous_tensor_follows_w_and_b_tensor_rule(tmp_path):
    # (3, 4, 4) could be (H, W, C=4) or (C=3, H, W); W&B reads a tensor channels-first. It used
    # to be stored as a 4x3 RGBA picture here.
    tensor = torch.arange(48, dtype=torch.uint8).reshape(3, 4, 4)
    rows, (image,) = log_and_decode(tmp_path, {"t": ms.Image(tensor)})
    assert rows.loc[0, ["width", "height", "mode"]].tolist() == [4, 4, "RGB"]
    np.testing.assert_array_equal(image.to_numpy(), tensor.permute(1, 2, 0).numpy())


def test_ambiguous_array_follows_w_and_b_array_rule():
    # W&B reads a numpy array channels-last: (3, 4, 4) is 3 rows of 4 RGBA pixels.
    image = ms.Image(np.zeros((3, 4, 4), np.uint8))
    assert (image.width, image.height, image.mode) == (4, 3, "RGBA")


def test_channels_first_array_is_transposed():
    # Channels first and nothing else fits: the (3, 224, 224) array the README used to refuse.
    array = RNG.integers(0, 256, (3, 20, 30), dtype=np.uint8)
    image = ms.Image(array)
    assert (image.width, image.height, image.mode) == (30, 20, "RGB")
    np.testing.assert_array_equal(image.to_numpy(), array.transpose(1, 2, 0))


@pytest.mark.parametrize("shape", [(1, 5, 7), (1, 1, 5, 7)], ids=["1hw", "11hw"])
def test_one_channel_tensor_is_grey(shape):
    image = ms.Image(torch.zeros(shape))
    assert (image.width, image.height, image.mode) == (7, 5, "L")


def test_tensor_that_requires_grad_subclass_and_bfloat16():
    param = torch.nn.Parameter(torch.full((3, 2, 2), 0.5))  # requires grad, a Tensor subclass
    expected = np.full((2, 2, 3), 128, np.uint8)
    np.testing.assert_array_equal(ms.Image(param).to_numpy(), expected)
    np.testing.assert_array_equal(ms.Image(param.detach().to(torch.bfloat16)).to_numpy(), expected)


def test_batch_of_one_is_unwrapped_and_a_batch_is_refused():
    assert ms.Image(torch.rand(1, 3, 8, 8)).mode == "RGB"
    with pytest.raises(ms.InvalidMediaError, match=r"Image got a batch of shape \(4, 3, 8, 8\); an Image is one picture — tile the batch into one with torchvision.utils.make_grid\(batch\)"):
        ms.Image(torch.rand(4, 3, 8, 8))


def test_shape_that_fits_no_rule_is_refused():
    with pytest.raises(ms.InvalidMediaError, match=r"Image array has shape \(5, 6, 7\); expected \(H, W\), \(H, W, C\) or \(C, H, W\) with C in 1, 3, 4"):
        ms.Image(torch.zeros(5, 6, 7))


def test_anything_with_array_protocol():
    # TensorFlow and JAX arrays reach numpy through __array__; a DataFrame is a real such object.
    frame = pd.DataFrame(np.arange(12, dtype=np.uint8).reshape(3, 4))
    np.testing.assert_array_equal(ms.Image(frame).to_numpy(), frame.to_numpy())


# -- matplotlib --------------------------------------------------------------------------------


def _figure():
    fig, ax = plt.subplots(figsize=(2, 1.5), dpi=50)
    ax.plot([0, 1, 2], [2, 0, 1], color="red")
    return fig, ax


@pytest.mark.parametrize("which", ["figure", "axes", "pyplot"])
def test_figure_axes_and_pyplot_render_to_png(tmp_path, which):
    fig, ax = _figure()
    value = {"figure": fig, "axes": ax, "pyplot": plt}[which]
    rows, (image,) = log_and_decode(tmp_path, {"plot": ms.Image(value, caption=which)})
    assert rows.loc[0, ["width", "height", "format", "caption"]].tolist() == [100, 75, "png", which]
    assert rows.loc[0, "blob"]["mime"] == "image/png"
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    np.testing.assert_array_equal(image.to_numpy(), np.asarray(PIL.Image.open(buf)))


@pytest.mark.parametrize("which", ["figure", "pyplot"])
def test_run_log_takes_a_figure_as_an_image(tmp_path, which):
    fig, _ = _figure()
    rows, (image,) = log_and_decode(tmp_path, {"plot": fig if which == "figure" else plt, "loss": 0.5})
    assert rows["key"].tolist() == ["plot"] and (image.width, image.height) == (100, 75)


def test_matplotlib_object_without_figure_is_refused_and_nothing_is_logged(tmp_path):
    uri = str(tmp_path / "store")
    fig, _ = _figure()
    with ms.init(project="compat", store=uri) as run:
        with pytest.raises(ms.InvalidMediaTypeError, match=r"Image got a matplotlib Normalize, which belongs to no figure; pass a Figure, an Axes or matplotlib.pyplot"):
            run.log({"ok": fig, "bad": matplotlib.colors.Normalize()})
    assert ms.open(uri).sql("SELECT count(*) FROM images").fetchall() == [(0,)]


# -- ms.Image(ms.Image(...)) ------------------------------------------------------------------


def test_image_of_image_copies_pixels_and_caption_not_masks(tmp_path):
    pixels = RNG.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    mask = {"pred": {"mask_data": np.ones((6, 8), np.uint8), "class_labels": {1: "car"}}}
    original = ms.Image(pixels, caption="orig", masks=mask)
    copy = ms.Image(original)
    renamed = ms.Image(original, caption="new", boxes={"b": {"box_data": [{"position": {"minX": 0, "maxX": 1, "minY": 0, "maxY": 1}, "class_id": 1}]}})
    rows, (c, r) = log_and_decode(tmp_path, {"a_copy": copy, "b_renamed": renamed})
    assert rows["caption"].tolist() == ["orig", "new"]
    assert c.masks == {} and list(r.boxes) == ["b"]  # as W&B: masks and boxes are not copied
    np.testing.assert_array_equal(c.to_numpy(), pixels)
    np.testing.assert_array_equal(ms.Image(c).to_numpy(), pixels)  # a decoded image copies too


# -- file_type -----------------------------------------------------------------------------------


LOSSLESS = {"png": "image/png", "bmp": "image/bmp", "webp": "image/webp", "tiff": "image/tiff", "gif": "image/gif"}


@pytest.mark.parametrize("file_type", sorted(LOSSLESS))
def test_file_type_lossless_formats(tmp_path, file_type):
    # 16 colours, so gif holds them exactly too.
    pixels = (RNG.integers(0, 4, (8, 12, 3)) * 85).astype(np.uint8)
    rows, (image,) = log_and_decode(tmp_path, {"img": ms.Image(pixels, file_type=file_type)})
    assert rows.loc[0, "format"] == file_type and rows.loc[0, "blob"]["mime"] == LOSSLESS[file_type]
    np.testing.assert_array_equal(np.asarray(image.to_pil().convert("RGB")), pixels)


@pytest.mark.parametrize("file_type", ["jpg", "jpeg", "JPG"])
def test_file_type_jpg_is_lossy(tmp_path, file_type, rgb):
    rows, (image,) = log_and_decode(tmp_path, {"img": ms.Image(rgb, file_type=file_type)})
    assert rows.loc[0, ["format", "mode"]].tolist() == ["jpeg", "RGB"]
    assert rows.loc[0, "blob"]["mime"] == "image/jpeg"
    difference = np.abs(image.to_numpy().astype(int) - rgb.astype(int))
    assert 0 < difference.mean() < 4  # close, not equal: JPEG at quality 75


def test_file_type_jpg_drops_alpha_with_a_warning():
    with pytest.warns(ms.LossyConversionWarning, match=r"Image in mode RGBA stored as jpeg loses its alpha channel"):
        image = ms.Image(np.zeros((4, 4, 4), np.uint8), file_type="jpg")
    assert image.mode == "RGB"


def test_file_type_gif_warns_when_it_quantizes():
    with pytest.warns(ms.LossyConversionWarning, match=r"more than 256 colours; gif stores at most 256"):
        ms.Image(RNG.integers(0, 256, (32, 32, 3), dtype=np.uint8), file_type="gif")


def test_file_type_applies_to_pil_and_figures(tmp_path):
    fig, _ = _figure()
    pil = PIL.Image.new("RGB", (5, 4), (10, 20, 30))
    rows, _ = log_and_decode(tmp_path, {"a": ms.Image(pil, file_type="bmp"), "b": ms.Image(fig, file_type="webp")})
    assert rows["format"].tolist() == ["bmp", "webp"]


def test_file_type_errors():
    with pytest.raises(ms.InvalidMediaError, match=r"Image file_type 'heic' is not supported; use one of \['bmp', 'gif', 'jpeg', 'jpg', 'png', 'tif', 'tiff', 'webp'\]"):
        ms.Image(np.zeros((2, 2), np.uint8), file_type="heic")
    with pytest.raises(ms.InvalidMediaError, match=r"Image in mode I;16 cannot be stored as jpeg; use file_type= one of \['png', 'tiff'\]"):
        ms.Image(np.zeros((2, 2), np.uint16), mode="I;16", file_type="jpg")


def test_file_type_for_a_path_is_ignored_with_a_warning(tmp_path, rgb):
    path = tmp_path / "x.png"
    PIL.Image.fromarray(rgb).save(path)
    with pytest.warns(ms.IgnoredArgumentWarning, match=r"Image file_type='jpg' is ignored for the file .*x.png': a file is stored byte for byte in its own format \(png\)"):
        image = ms.Image(path, file_type="jpg")
    assert image.format == "png" and image.file_bytes == path.read_bytes()


# -- normalize -------------------------------------------------------------------------------------


def test_normalize_false_keeps_float_values_as_pixels(tmp_path):
    values = np.array([[0.0, 0.9, 1.0], [127.6, 200.2, 255.0]])
    _, (raw, scaled) = log_and_decode(tmp_path, {"raw": ms.Image(values, normalize=False), "scaled": ms.Image(values / 255)})
    np.testing.assert_array_equal(raw.to_numpy(), [[0, 0, 1], [127, 200, 255]])  # truncated, as W&B
    np.testing.assert_array_equal(scaled.to_numpy(), [[0, 1, 1], [128, 200, 255]])  # [0, 1] rescaled, rounded


def test_normalize_false_refuses_values_outside_0_255():
    with pytest.raises(ms.InvalidMediaError, match=r"Image array with normalize=False has values from -1 to 300; unnormalized floats are pixel values and must lie in 0..255 — clip them"):
        ms.Image(np.array([[-1.0, 300.0]]), normalize=False)
    with pytest.raises(ms.InvalidMediaTypeError, match=r"Image normalize is 'no'; it must be True or False"):
        ms.Image(np.zeros((2, 2)), normalize="no")


# -- equality --------------------------------------------------------------------------------------


def test_images_compare_by_value_and_hash_alike(tmp_path, rgb):
    path = tmp_path / "x.png"
    PIL.Image.fromarray(rgb).save(path)
    a, b, from_file = ms.Image(rgb, caption="c"), ms.Image(rgb.copy(), caption="c"), ms.Image(path, caption="c")
    assert a == b == from_file and hash(a) == hash(b) == hash(from_file)
    assert len({a, b, from_file}) == 1
    assert a != ms.Image(rgb, caption="other")
    assert a != ms.Image(255 - rgb, caption="c")
    assert a != ms.Image(rgb, caption="c", masks={"m": {"mask_data": np.zeros(rgb.shape[:2], np.uint8)}})
    assert a != "not an image"
    _, (decoded,) = log_and_decode(tmp_path, {"img": a})
    assert decoded == a  # PNG is lossless: what comes back equals what was logged


def test_tensor_shapes_decide_by_the_rule_without_warnings(recwarn):
    # The shapes this module used to store silently in another reading all decide by the rule.
    for shape, size in [((3, 4, 4), (4, 4)), ((4, 3, 3), (3, 3)), ((1, 3, 3), (3, 3))]:
        assert ms.Image(torch.zeros(shape)).to_pil().size == size
    assert not [w for w in recwarn if issubclass(w.category, ms.MediaStoreWarning)]
