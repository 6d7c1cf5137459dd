"""ms.Image: every input form of the reference page, masks, boxes, and every documented error."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import PIL.Image
import pytest

import mediastore as ms


def log_and_decode(uri, *images, key="img"):
    """Log images under one key, read them back through SQL, decode each row."""
    with ms.init(project="p", store=uri) as run:
        run.log({key: list(images)})
    store = ms.open(uri)
    rows = store.sql("SELECT * FROM images ORDER BY idx").df()
    assert rows["idx"].tolist() == list(range(len(images)))
    return rows, [store.decode(row) for _, row in rows.iterrows()]


# -- arrays -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "mode", "channels"),
    [((24, 32), "L", 1), ((24, 32, 1), "L", 1), ((24, 32, 3), "RGB", 3), ((24, 32, 4), "RGBA", 4)],
)
def test_uint8_arrays_come_back_identical(store_uri, shape, mode, channels):
    pixels = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    rows, (img,) = log_and_decode(store_uri, ms.Image(pixels, caption="c"))
    assert rows.loc[0, ["width", "height", "channels", "mode", "format", "caption"]].tolist() == [32, 24, channels, mode, "png", "c"]
    assert rows.loc[0, "blob"]["mime"] == "image/png"
    np.testing.assert_array_equal(img.to_numpy(), pixels.reshape(24, 32) if channels == 1 else pixels)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (np.array([[0.0, 0.5, 1.0]]), [[0, 128, 255]]),  # [0, 1]: times 255
        (np.array([[-1.0, 0.0, 1.0]]), [[0, 128, 255]]),  # [-1, 1]: linear to [0, 255]
        (np.array([[-5.0, 100.4, 300.0]]), [[0, 100, 255]]),  # otherwise: clipped, rounded
        (np.array([[0.2, 0.4]], dtype=np.float32), [[51, 102]]),
    ],
)
def test_float_rule(store_uri, values, expected):
    _, (img,) = log_and_decode(store_uri, ms.Image(values))
    np.testing.assert_array_equal(img.to_numpy(), np.array(expected, dtype=np.uint8))


def test_integer_arrays_are_not_rescaled(store_uri):
    pixels = np.array([[0, 1, 2, 255]], dtype=np.int64)
    _, (img,) = log_and_decode(store_uri, ms.Image(pixels))
    np.testing.assert_array_equal(img.to_numpy(), pixels.astype(np.uint8))


def test_bool_array_is_mode_1(store_uri):
    pixels = np.array([[True, False], [False, True]])
    rows, (img,) = log_and_decode(store_uri, ms.Image(pixels))
    assert rows.loc[0, "mode"] == "1"
    np.testing.assert_array_equal(img.to_numpy(), pixels)


@pytest.mark.parametrize(
    ("mode", "pixels", "expected_mode"),
    [
        ("P", np.array([[0, 3], [7, 200]], dtype=np.uint8), "P"),  # palette indices kept
        ("I;16", np.array([[0, 1000], [40000, 65535]], dtype=np.uint16), "I;16"),
        ("L", np.full((2, 2, 3), 100, dtype=np.uint8), "L"),  # converted by PIL
        ("RGBA", np.full((2, 2, 3), 100, dtype=np.uint8), "RGBA"),
    ],
)
def test_mode_argument(store_uri, mode, pixels, expected_mode):
    rows, (img,) = log_and_decode(store_uri, ms.Image(pixels, mode=mode))
    assert rows.loc[0, "mode"] == expected_mode
    if pixels.ndim == 2:
        np.testing.assert_array_equal(img.to_numpy(), pixels)
    else:
        assert img.to_pil().mode == expected_mode


def test_array_is_copied_at_construction(store_uri):
    pixels = np.zeros((4, 4), np.uint8)
    image = ms.Image(pixels)
    pixels[:] = 255  # the caller reuses its buffer before the background encode runs
    _, (img,) = log_and_decode(store_uri, image)
    assert img.to_numpy().max() == 0


# -- PIL images and files -------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "P", "1"])
def test_pil_images_keep_their_mode_and_pixels(store_uri, rgb, mode):
    pil = PIL.Image.fromarray(rgb).convert(mode)
    rows, (img,) = log_and_decode(store_uri, ms.Image(pil, caption="My Image"))
    assert rows.loc[0, ["mode", "format"]].tolist() == [mode, "png"]
    np.testing.assert_array_equal(img.to_numpy(), np.asarray(pil))


@pytest.mark.parametrize("mode", ["CMYK", "F", "I"])
def test_pil_modes_png_cannot_hold_go_to_tiff(store_uri, rgb, mode):
    pil = PIL.Image.fromarray(rgb).convert(mode)
    rows, (img,) = log_and_decode(store_uri, ms.Image(pil))
    assert rows.loc[0, ["mode", "format"]].tolist() == [mode, "tiff"]
    np.testing.assert_array_equal(img.to_numpy(), np.asarray(pil))


@pytest.mark.parametrize(("fmt", "ext", "mime"), [("PNG", "png", "image/png"), ("JPEG", "jpg", "image/jpeg"), ("BMP", "bmp", "image/bmp"), ("GIF", "gif", "image/gif")])
def test_files_are_stored_byte_for_byte(store_uri, tmp_path, rgb, fmt, ext, mime):
    path = tmp_path / f"myimage.{ext}"
    PIL.Image.fromarray(rgb).save(path, format=fmt)
    original = path.read_bytes()
    rows, (img,) = log_and_decode(store_uri, ms.Image(str(path)))
    assert rows.loc[0, "format"] == fmt.lower()
    assert rows.loc[0, "blob"]["mime"] == mime
    assert rows.loc[0, "blob"]["sha256"] == hashlib.sha256(original).hexdigest()
    assert img.file_bytes == original
    assert img.to_numpy().shape[:2] == (24, 32)


def test_seed_example_pil_then_file(store_uri, tmp_path, rgb):
    # The reference page's third tab: build with PIL, save as JPEG, log the path.
    im = PIL.Image.fromarray(rgb)
    rgb_im = im.convert("RGB")
    rgb_im.save(tmp_path / "myimage.jpg")
    with ms.init(project="p", store=store_uri) as run:
        run.log({"example": ms.Image(tmp_path / "myimage.jpg")})
    assert ms.open(store_uri).sql("SELECT format FROM images").fetchall() == [("jpeg",)]


def test_rdkit_style_pil_drawing(store_uri):
    # The page's 2-D molecule view passes a PIL image from a drawing library.
    drawing = PIL.Image.new("RGB", (300, 300), "white")
    _, (img,) = log_and_decode(store_uri, ms.Image(drawing))
    assert img.to_pil().size == (300, 300)


# -- the same bytes are stored once ------------------------------------------------------------


def test_identical_images_share_one_blob(store_uri, rgb):
    """The same bytes logged again by a run point at its first copy (packed blobs: once per
    run; see the README's dedup guarantee); a blob stored alone is stored once per store."""
    with ms.init(project="p", store=store_uri) as run:
        run.log({"a": ms.Image(rgb)})
        run.log({"a": ms.Image(rgb.copy())})
    store = ms.open(store_uri)
    assert store.sql("SELECT count(*), count(DISTINCT (blob.uri, blob.offset)) FROM images").fetchall() == [(2, 1)]
    with ms.init(project="p", store=store_uri) as run:
        run.log({"b": ms.Image(rgb)})
    packs = store.location.fs.glob(store.location.path("blobs", "packs", "*.pack"))
    assert len(packs) == 2  # one per run, each holding the image once
    [(length,)] = store.sql("SELECT DISTINCT blob.length FROM images").fetchall()
    assert [store.location.fs.size(p) for p in packs] == [length, length]


def test_large_blobs_are_stored_once_whichever_run_logs_them(store_uri):
    """Blobs of at least Settings.pack_max_blob stand alone, content-addressed, written
    create-only: a second run's copy is not stored again."""
    noise = np.random.default_rng(1).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    settings = ms.Settings(pack_max_blob=1024)  # the PNG of 48x48 noise is ~7 KB
    for key in ("a", "b"):
        with ms.init(project="p", store=store_uri, settings=settings) as run:
            run.log({key: ms.Image(noise)})
    store = ms.open(store_uri)
    assert store.sql("SELECT count(*), count(DISTINCT blob.uri), min(blob.offset) FROM images").fetchall() == [(2, 1, 0)]
    fs = store.location.fs
    assert len(fs.glob(store.location.path("blobs", "??", "*"))) == 1
    assert not fs.exists(store.location.path("blobs", "packs")) or not fs.glob(store.location.path("blobs", "packs", "*"))


# -- masks ---------------------------------------------------------------------------------------


def test_masks_from_data_and_path(store_uri, tmp_path, rgb):
    predictions = np.zeros((24, 32), np.uint8)
    predictions[2:10, 3:20] = 1
    predictions[12:20, 5:9] = 2
    truth = np.zeros((24, 32), np.uint8)
    truth[2:10, 4:20] = 1
    PIL.Image.fromarray(truth).save(tmp_path / "mask.png")
    image = ms.Image(
        rgb,
        masks={
            "predictions": {"mask_data": predictions, "class_labels": {1: "tree", 2: "car", 3: "road"}},
            "ground_truth": {"path": str(tmp_path / "mask.png")},
        },
    )
    rows, (img,) = log_and_decode(store_uri, image)
    masks = img.masks
    np.testing.assert_array_equal(masks["predictions"]["mask_data"], predictions)
    np.testing.assert_array_equal(masks["ground_truth"]["mask_data"], truth)
    assert masks["predictions"]["class_labels"] == {0: "class_0", 1: "tree", 2: "car", 3: "road"}
    assert masks["ground_truth"]["class_labels"] == {0: "class_0", 1: "class_1"}  # defaults
    store = ms.open(store_uri)
    labels = store.sql("SELECT m.name, m.class_labels[2] FROM images, unnest(masks) t(m) ORDER BY 1").fetchall()
    assert labels == [("ground_truth", None), ("predictions", "car")]
    mimes = store.sql("SELECT DISTINCT m.blob.mime FROM images, unnest(masks) t(m)").fetchall()
    assert mimes == [("image/png",)]


def test_palette_mask_file_keeps_class_ids(store_uri, tmp_path, rgb):
    ids = np.zeros((24, 32), np.uint8)
    ids[5:9, 5:9] = 7
    pil = PIL.Image.fromarray(ids).convert("P")
    pil.putpalette([v for i in range(256) for v in (i, 0, 0)])
    pil.save(tmp_path / "p.png")
    _, (img,) = log_and_decode(store_uri, ms.Image(rgb, masks={"gt": {"path": tmp_path / "p.png"}}))
    assert set(np.unique(img.masks["gt"]["mask_data"]).tolist()) == {0, 7}


@pytest.mark.parametrize(
    ("mask", "error", "message"),
    [
        ({"mask_data": np.zeros((10, 10), np.uint8)}, ms.InvalidMediaError, r"mask 'm' has shape \(10, 10\); the image is 24x32 \(height x width\)"),
        ({"mask_data": np.full((24, 32), 256)}, ms.InvalidMediaError, r"mask 'm' has class ids from 256 to 256; class ids must lie in 0..255"),
        ({"mask_data": np.full((24, 32), -1)}, ms.InvalidMediaError, r"class ids from -1 to -1"),
        ({"mask_data": np.zeros((24, 32, 3), np.uint8)}, ms.InvalidMediaError, r"mask 'm' has shape \(24, 32, 3\); a mask is a 2-D"),
        ({"mask_data": np.zeros((24, 32), np.float32)}, ms.InvalidMediaError, r"mask 'm' has dtype float32; class ids are integers"),
        ({"mask_data": "nope"}, ms.InvalidMediaTypeError, r"mask 'm' mask_data must be a 2-D array of class ids, got str"),
        ({"path": "/no/such/mask.png"}, ms.MediaFileNotFoundError, r"mask 'm' path '/no/such/mask.png' does not exist"),
        ({}, ms.InvalidMediaError, r"mask 'm' needs exactly one of 'mask_data'"),
        ({"mask_data": np.zeros((24, 32), np.uint8), "path": "x.png"}, ms.InvalidMediaError, r"needs exactly one of"),
        ({"mask_data": np.zeros((24, 32), np.uint8), "class_labels": {"1": "a"}}, ms.InvalidMediaTypeError, r"class_labels key '1' is not an int class id"),
        ({"mask_data": np.zeros((24, 32), np.uint8), "class_labels": {1: 2}}, ms.InvalidMediaTypeError, r"class_labels\[1\] is 2; labels must be str"),
        ([1, 2], ms.InvalidMediaTypeError, r"mask 'm' must be a dict with 'mask_data'"),
    ],
)
def test_bad_masks(store_uri, rgb, mask, error, message):
    with ms.init(project="p", store=store_uri) as run:
        with pytest.raises(error, match=message):
            run.log({"img": ms.Image(rgb, masks={"m": mask})})
    assert ms.open(store_uri).sql("SELECT count(*) FROM images").fetchall() == [(0,)]


def test_rgb_mask_file_is_refused(tmp_path, rgb):
    PIL.Image.fromarray(rgb).save(tmp_path / "rgb.png")
    with pytest.raises(ms.InvalidMediaError, match=r"has mode RGB; a mask is one class id per pixel"):
        ms.Image(rgb, masks={"m": {"path": tmp_path / "rgb.png"}})


# -- boxes -----------------------------------------------------------------------------------------

SEED_BOXES = {
    "predictions": {
        "box_data": [
            {"position": {"minX": 0.1, "maxX": 0.2, "minY": 0.3, "maxY": 0.4}, "class_id": 2, "box_caption": "road", "scores": {"acc": 0.1, "loss": 1.2}},
            {"position": {"middle": [150, 20], "width": 68, "height": 112}, "domain": "pixel", "class_id": 3, "box_caption": "a building", "scores": {"acc": 0.5, "loss": 0.7}},
            {"position": {"minX": 1, "maxX": 5, "minY": 2, "maxY": 6}, "class_id": 9, "domain": "pixel"},
        ],
        "class_labels": {1: "car", 2: "road", 3: "building"},
    },
    "ground_truth": {"box_data": [], "class_labels": {1: "car"}},
}


def test_boxes_both_forms_round_trip(store_uri, rgb):
    rows, (img,) = log_and_decode(store_uri, ms.Image(rgb, boxes=SEED_BOXES))
    boxes = img.boxes
    assert boxes["ground_truth"] == {"box_data": [], "class_labels": {1: "car"}}
    got = boxes["predictions"]["box_data"]
    assert got[0] == {"position": {"minX": 0.1, "maxX": 0.2, "minY": 0.3, "maxY": 0.4}, "class_id": 2, "box_caption": "road", "scores": {"acc": 0.1, "loss": 1.2}}
    assert got[1]["position"] == {"minX": 116.0, "maxX": 184.0, "minY": -36.0, "maxY": 76.0}
    assert got[1]["domain"] == "pixel"
    assert "scores" not in got[2] and "box_caption" not in got[2]
    sql = ms.open(store_uri).sql("SELECT b.label, b.domain, b.scores['acc'] FROM images, unnest(boxes) t(b) ORDER BY b.class_id").fetchall()
    assert sql == [("road", "fraction", 0.1), ("building", "pixel", 0.5), ("class_9", "pixel", None)]


def test_boxes_query_across_runs(store_uri, rgb):
    """One SQL query with unnest(boxes) finds, across runs, images where a `car` box scored low."""
    for run_no in range(2):
        with ms.init(project="p", store=store_uri, run_id=f"r{run_no}") as run:
            for step in range(3):
                score = 0.2 + 0.3 * step + 0.05 * run_no
                boxes = {"predictions": {"box_data": [
                    {"position": {"minX": 0.1, "maxX": 0.5, "minY": 0.1, "maxY": 0.5}, "class_id": 1, "scores": {"score": score}},
                    {"position": {"minX": 0.5, "maxX": 0.9, "minY": 0.5, "maxY": 0.9}, "class_id": 2, "scores": {"score": 0.1}},
                ], "class_labels": {1: "car", 2: "road"}}}
                run.log({"val": ms.Image(rgb, boxes=boxes)})
    found = ms.open(store_uri).sql(
        """SELECT DISTINCT run_id, step FROM images, unnest(boxes) AS t(b)
           WHERE b.label = ? AND b.scores['score'] < ? ORDER BY ALL""",
        params=["car", 0.52],
    ).fetchall()
    assert found == [("r0", 0), ("r0", 1), ("r1", 0)]


@pytest.mark.parametrize(
    ("box", "error", "message"),
    [
        ({"class_id": 1}, ms.InvalidMediaError, r"box 1 of 'pred' has no 'position' dict"),
        ({"position": {"minX": 0, "maxX": 1, "minY": 0}, "class_id": 1}, ms.InvalidMediaError, r"box 1 of 'pred' position has \['maxX', 'minX', 'minY'\], missing \['maxY'\]"),
        ({"position": {"middle": [1, 2], "width": 3}, "class_id": 1}, ms.InvalidMediaError, r"box 1 of 'pred' position .* missing \['height'\]"),
        ({"position": {"minX": "a", "maxX": 1, "minY": 0, "maxY": 1}, "class_id": 1}, ms.InvalidMediaError, r"box 1 of 'pred' field 'minX' is 'a'; it must be a number"),
        ({"position": {"minX": None, "maxX": 1, "minY": 0, "maxY": 1}, "class_id": 1}, ms.InvalidMediaError, r"field 'minX' is None; it must be a number"),
        ({"position": {"minX": float("nan"), "maxX": 1, "minY": 0, "maxY": 1}, "class_id": 1}, ms.InvalidMediaError, r"field 'minX' is nan; it must be finite"),
        ({"position": {"middle": [1], "width": 3, "height": 1}, "class_id": 1}, ms.InvalidMediaError, r"field 'middle' is \[1\]; it must be \[x, y\]"),
        ({"position": {"middle": [1, 1], "width": -3, "height": 1}, "class_id": 1}, ms.InvalidMediaError, r"width -3.0 and height 1.0; both must be >= 0"),
        ({"position": {"minX": 2, "maxX": 1, "minY": 0, "maxY": 1}, "class_id": 1}, ms.InvalidMediaError, r"minX 2.0 > maxX 1.0"),
        ({"position": {"minX": 0, "maxX": 1, "minY": 0, "maxY": 1}}, ms.InvalidMediaError, r"box 1 of 'pred' has no 'class_id'"),
        ({"position": {"minX": 0, "maxX": 1, "minY": 0, "maxY": 1}, "class_id": 1.5}, ms.InvalidMediaError, r"field 'class_id' is 1.5; it must be an integer"),
        ({"position": {"minX": 0, "maxX": 1, "minY": 0, "maxY": 1}, "class_id": "car"}, ms.InvalidMediaError, r"field 'class_id' is 'car'; it must be an integer"),
        ({"position": {"minX": 0, "maxX": 1, "minY": 0, "maxY": 1}, "class_id": 1, "scores": 0.5}, ms.InvalidMediaTypeError, r"field 'scores' is 0.5; it must be a dict"),
        ({"position": {"minX": 0, "maxX": 1, "minY": 0, "maxY": 1}, "class_id": 1, "scores": {"acc": "hi"}}, ms.InvalidMediaError, r"field \"scores\['acc'\]\" is 'hi'; it must be a number"),
        ({"position": {"minX": 0, "maxX": 1, "minY": 0, "maxY": 1}, "class_id": 1, "domain": "pixels"}, ms.InvalidMediaError, r"field 'domain' is 'pixels'; use 'pixel'"),
        ({"position": {"minX": 0, "maxX": 1, "minY": 0, "maxY": 1}, "class_id": 1, "box_caption": 3}, ms.InvalidMediaTypeError, r"field 'box_caption' is 3; it must be a str"),
        ("box", ms.InvalidMediaTypeError, r"box 1 of 'pred' must be a dict"),
    ],
)
def test_bad_boxes_name_index_and_field(store_uri, rgb, box, error, message):
    good = {"position": {"minX": 0, "maxX": 1, "minY": 0, "maxY": 1}, "class_id": 1}
    with ms.init(project="p", store=store_uri) as run:
        with pytest.raises(error, match=message):
            run.log({"ok": ms.Image(rgb), "img": ms.Image(rgb, boxes={"pred": {"box_data": [good, box]}})})
    assert ms.open(store_uri).sql("SELECT count(*) FROM images").fetchall() == [(0,)]


def test_integral_float_class_id_is_accepted(rgb):
    img = ms.Image(rgb, boxes={"p": {"box_data": [{"position": {"minX": 0, "maxX": 1, "minY": 0, "maxY": 1}, "class_id": 2.0}]}})
    assert img.boxes["p"]["box_data"][0]["class_id"] == 2


@pytest.mark.parametrize(
    ("boxes", "message"),
    [({"p": {"class_labels": {}}}, r"boxes 'p' must be a dict with 'box_data'"), ({"p": {"box_data": "x"}}, r"boxes 'p' box_data must be a list")],
)
def test_bad_box_sets(rgb, boxes, message):
    with pytest.raises(ms.MediaStoreError, match=message):
        ms.Image(rgb, boxes=boxes)


# -- bad images ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (np.zeros((5, 224, 224)), ms.InvalidMediaError, r"Image array has shape \(5, 224, 224\); expected \(H, W\), \(H, W, C\) or \(C, H, W\) with C in 1, 3, 4"),
        (np.zeros((2, 3, 8, 8)), ms.InvalidMediaError, r"Image got a batch of shape \(2, 3, 8, 8\); .* torchvision.utils.make_grid\(batch\)"),
        (np.zeros((2, 2, 2)), ms.InvalidMediaError, r"shape \(2, 2, 2\)"),
        (np.zeros((5,)), ms.InvalidMediaError, r"shape \(5,\)"),
        (np.zeros((0, 4)), ms.InvalidMediaError, r"an image needs at least one pixel"),
        (np.array([[0.5, np.nan]]), ms.InvalidMediaError, r"Image array has 1 NaN or infinite value\(s\) out of 2; .*np.nan_to_num"),
        (np.array([[0.5, np.inf]]), ms.InvalidMediaError, r"1 NaN or infinite"),
        (np.array([[300, 2]], dtype=np.int32), ms.InvalidMediaError, r"dtype int32 has values from 2 to 300; integer arrays are not rescaled"),
        (np.array([[-1, 2]], dtype=np.int16), ms.InvalidMediaError, r"values from -1 to 2"),
        (np.array([[1 + 2j]]), ms.InvalidMediaTypeError, r"Image array has dtype complex128"),
        (np.array([["a"]]), ms.InvalidMediaTypeError, r"dtype <U1"),
        (12, ms.InvalidMediaTypeError, r"Image takes a numpy array, a tensor, a PIL image, a matplotlib figure, an ms.Image or a file path, got int"),
        ("/no/such/file.png", ms.MediaFileNotFoundError, r"Image file '/no/such/file.png' does not exist"),
    ],
)
def test_bad_images(store_uri, data, error, message):
    with ms.init(project="p", store=store_uri) as run:
        with pytest.raises(error, match=message):
            run.log({"img": ms.Image(data)})
    assert ms.open(store_uri).sql("SELECT count(*) FROM images").fetchall() == [(0,)]


def test_not_an_image_file(tmp_path):
    (tmp_path / "x.png").write_text("hello")
    with pytest.raises(ms.InvalidMediaError, match=r"x.png' is not an image format Pillow can read"):
        ms.Image(tmp_path / "x.png")


@pytest.mark.parametrize(("kwargs", "message"), [({"mode": "CMYK"}, r"Image mode 'CMYK' cannot be stored losslessly from an array"), ({"caption": 5}, r"caption must be a str or None, got int 5")])
def test_bad_options(rgb, kwargs, message):
    with pytest.raises(ms.MediaStoreError, match=message):
        ms.Image(rgb, **kwargs)


def test_uint16_needs_mode_i16():
    with pytest.raises(ms.InvalidMediaError, match=r"pass mode='I;16' for 16-bit grayscale"):
        ms.Image(np.array([[1000]], dtype=np.uint16))


# -- per-step count ------------------------------------------------------------------------------------


def test_more_than_50_images_in_a_step_warns_and_stores_all(store_uri):
    tiny = np.zeros((2, 2), np.uint8)
    with ms.init(project="p", store=store_uri) as run:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run.log({"a": [ms.Image(tiny) for _ in range(50)]})  # 50 is fine
            assert not caught
            run.log({"a": [ms.Image(tiny) for _ in range(30)]}, commit=False)
            run.log({"b": [ms.Image(tiny) for _ in range(21)]})
        assert len(caught) == 1
        assert issubclass(caught[0].category, ms.ManyItemsWarning)
        assert "more than 50 images items at one step" in str(caught[0].message)
        assert "recommends fewer than 50 images per step" in str(caught[0].message)
    assert ms.open(store_uri).sql("SELECT step, count(*) FROM images GROUP BY step ORDER BY step").fetchall() == [(0, 50), (1, 51)]


def test_null_caption_decodes_as_none_beside_a_captioned_image(store_uri, rgb):
    # pandas gives NaN for a NULL string when other rows of the column have a value.
    rows, images = log_and_decode(store_uri, ms.Image(rgb, caption="has one"), ms.Image(rgb))
    assert [img.caption for img in images] == ["has one", None]
