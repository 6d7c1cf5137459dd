"""Jupyter display: ``_repr_html_`` of every media type, of ``store.table`` and of
``store.show``, on objects logged to a real store and read back.

The HTML is parsed (html.parser), never matched as a whole: tests count the layers, boxes and
thumbnails a user would see, decode the data URIs, and check that user text stays text.
"""

from __future__ import annotations

import base64
import html
import io
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import PIL.Image
import pytest

import mediastore as ms
from mediastore.media import _display

EVIL = "<script>alert(1)</script>"


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(markup: str) -> _Tags:
    parser = _Tags()
    parser.feed(markup)
    parser.close()
    return parser


def tags(markup: str, name: str, **attrs) -> list[dict]:
    """The attributes of every ``name`` tag whose attributes include ``attrs``."""
    return [a for t, a in parse(markup).tags if t == name and all(a.get(k) == v for k, v in attrs.items())]


def decode_uri(uri: str) -> tuple[str, bytes]:
    head, _, data = uri.partition(",")
    assert head.startswith("data:") and head.endswith(";base64"), head
    return head[5:-7], base64.b64decode(data)


def assert_no_raw_script(markup: str) -> None:
    assert "<script" not in markup.lower()
    assert not [t for t, _ in parse(markup).tags if t == "script"]


def log_and_read(tmp_path, view: str, **items):
    """Log ``items`` in one step to a fresh local store; the store and the view's decoded rows by key."""
    uri = str(tmp_path / "store")
    with ms.init(project="p", store=uri, run_id="r") as run:
        run.log(items)
    store = ms.open(uri)
    rows = store.sql(f"SELECT * FROM {view} ORDER BY key, idx").df()
    return store, {row["key"]: store.decode(row) for _, row in rows.iterrows()}


def overlaid_image(width=32, height=16, caption=None, label="car"):
    pixels = np.random.default_rng(1).integers(0, 256, (height, width, 3), dtype=np.uint8)
    pred = np.zeros((height, width), np.uint8)
    pred[2:6, 4:12] = 1
    pred[8:12, 16:24] = 2
    truth = np.zeros((height, width), np.uint8)
    truth[0:4, 0:4] = 3
    boxes = {
        "predictions": {
            "box_data": [
                {"position": {"minX": 0.25, "maxX": 0.75, "minY": 0.5, "maxY": 1.0}, "class_id": 1, "scores": {"score": 0.25}},
                {"position": {"middle": [0.5, 0.5], "width": 0.2, "height": 0.4}, "class_id": 2, "box_caption": "x"},
            ],
            "class_labels": {1: label, 2: "tree"},
        },
        "ground_truth": {
            "box_data": [{"position": {"minX": 4, "maxX": 12, "minY": 2, "maxY": 6}, "domain": "pixel", "class_id": 1}],
            "class_labels": {1: label},
        },
    }
    masks = {
        "pred": {"mask_data": pred, "class_labels": {1: label, 2: "tree"}},
        "truth": {"mask_data": truth, "class_labels": {3: "road"}},
    }
    return ms.Image(pixels, caption=caption, masks=masks, boxes=boxes), pixels, pred


# -- images --------------------------------------------------------------------------------


def test_image_overlays_are_separate_layers(tmp_path):
    image, pixels, pred = overlaid_image()
    _, back = log_and_read(tmp_path, "images", img=image)
    markup = back["img"]._repr_html_()

    picture = tags(markup, "img", **{"class": "ms-picture"})
    assert len(picture) == 1
    mime, data = decode_uri(picture[0]["src"])
    assert mime == "image/png" and data == back["img"].file_bytes  # the stored bytes, no overlay burned in
    np.testing.assert_array_equal(np.asarray(PIL.Image.open(io.BytesIO(data))), pixels)

    masks = tags(markup, "img", **{"class": "ms-mask"})
    assert [m["data-name"] for m in masks] == ["pred", "truth"]
    rgba = np.asarray(PIL.Image.open(io.BytesIO(decode_uri(masks[0]["src"])[1])))
    assert rgba.shape == (16, 32, 4)
    assert (rgba[..., 3][pred == 0] == 0).all()  # background transparent
    assert (rgba[pred == 1] == (*_display.class_colour(1), 255)).all()
    assert (rgba[pred == 2] == (*_display.class_colour(2), 255)).all()
    assert "opacity:0.5" in masks[0]["style"]

    svgs = tags(markup, "svg", **{"class": "ms-boxes"})
    assert [s["data-name"] for s in svgs] == ["predictions", "ground_truth"]
    per_set = [len(tags(part, "rect")) for part in markup.split('class="ms-boxes"')[1:]]
    assert per_set == [2, 1]
    legend = " ".join(parse(markup).text)
    assert "pred (mask)" in legend and "road" in legend and "predictions (boxes)" in legend


def test_box_coordinates_fraction_and_pixel_domain(tmp_path):
    """A 32x16 image shows at 256x128 (8x): a fraction scales by the display size, a pixel
    coordinate by 8; the pixel box and the mask region it was drawn around coincide."""
    image, _, _ = overlaid_image()
    _, back = log_and_read(tmp_path, "images", img=image)
    rects = tags(back["img"]._repr_html_(), "rect")
    as_numbers = [tuple(float(r[k]) for k in ("x", "y", "width", "height")) for r in rects]
    assert as_numbers == [(64.0, 64.0, 128.0, 64.0), (102.4, 38.4, 51.2, 51.2), (32.0, 16.0, 64.0, 32.0)]
    layers = tags(back["img"]._repr_html_(), "div", **{"class": "ms-layers"})
    assert "width:256px;height:128px" in layers[0]["style"]


def test_box_text_shows_label_caption_and_score(tmp_path):
    image, _, _ = overlaid_image()
    _, back = log_and_read(tmp_path, "images", img=image)
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", back["img"]._repr_html_())
    assert texts == ["car 0.25", "x", "car"]


def test_large_image_is_downscaled_with_its_aspect(tmp_path):
    pixels = np.zeros((300, 1200, 3), np.uint8)
    mask = np.zeros((300, 1200), np.uint8)
    mask[:, 600:] = 1
    _, back = log_and_read(tmp_path, "images", big=ms.Image(pixels, masks={"m": {"mask_data": mask}}))
    markup = back["big"]._repr_html_()
    picture = PIL.Image.open(io.BytesIO(decode_uri(tags(markup, "img", **{"class": "ms-picture"})[0]["src"])[1]))
    layer = PIL.Image.open(io.BytesIO(decode_uri(tags(markup, "img", **{"class": "ms-mask"})[0]["src"])[1]))
    assert picture.size == layer.size == (512, 128)
    assert "width:512px;height:128px" in tags(markup, "div", **{"class": "ms-layers"})[0]["style"]
    # Nearest-neighbour: the class edge stays sharp, no blended colours.
    alpha = np.asarray(layer)[..., 3]
    assert set(np.unique(alpha).tolist()) == {0, 255} and alpha[:, :256].max() == 0 and alpha[:, 256:].min() == 255


def test_sixteen_bit_image_is_stretched_for_the_browser(tmp_path):
    ramp = np.linspace(1000, 3000, 64, dtype=np.uint16).reshape(8, 8)
    _, back = log_and_read(tmp_path, "images", deep=ms.Image(ramp, mode="I;16"))
    src = tags(back["deep"]._repr_html_(), "img", **{"class": "ms-picture"})[0]["src"]
    shown = np.asarray(PIL.Image.open(io.BytesIO(decode_uri(src)[1])))
    assert shown.dtype == np.uint8 and shown.min() == 0 and shown.max() == 255


def test_user_text_is_escaped_everywhere_in_an_image(tmp_path):
    image, _, _ = overlaid_image(caption=EVIL, label=EVIL)
    image = ms.Image(image.to_numpy(), caption=EVIL, masks={EVIL: {"mask_data": np.ones((16, 32), np.uint8), "class_labels": {1: EVIL}}},
                     boxes={EVIL: {"box_data": [{"position": {"minX": 0, "maxX": 1, "minY": 0, "maxY": 1}, "class_id": 1, "box_caption": EVIL}]}})
    _, back = log_and_read(tmp_path, "images", img=image)
    markup = back["img"]._repr_html_()
    assert_no_raw_script(markup)
    assert html.escape(EVIL) in markup
    assert EVIL in "".join(parse(markup).text)  # shown to the user as text
    assert tags(markup, "img", **{"class": "ms-mask"})[0]["data-name"] == EVIL  # the attribute holds it intact


# -- the other types ---------------------------------------------------------------------


def test_histogram_is_an_svg_bar_chart(tmp_path):
    _, back = log_and_read(tmp_path, "histograms", h=ms.Histogram(np.histogram([0, 1, 1, 3, 3, 3], bins=4)))
    markup = back["h"]._repr_html_()
    bars = tags(markup, "rect")
    assert len(bars) == 4
    heights = [float(b["height"]) for b in bars]
    assert heights == pytest.approx([40.0, 80.0, 0.0, 120.0])  # counts 1, 2, 0, 3 on a 120 px chart
    assert "bins 4" in " ".join(parse(markup).text)


def test_html_is_sandboxed_and_escaped_for_the_attribute(tmp_path):
    page = f'<h1 title="a&quot;b">Report</h1>{EVIL}'
    _, back = log_and_read(tmp_path, "html", page=ms.Html(page, inject=False))
    markup = back["page"]._repr_html_()
    frames = tags(markup, "iframe")
    assert len(frames) == 1
    assert "sandbox" in frames[0] and "allow-same-origin" not in frames[0]["sandbox"]
    assert frames[0]["srcdoc"] == page == back["page"].html  # unescaped by the browser: the stored page
    assert_no_raw_script(markup)


def test_audio_player_plays_the_stored_bytes(tmp_path):
    pytest.importorskip("soundfile", reason='ms.Audio needs soundfile: pip install "mediastore[audio]"')
    samples = np.sin(np.linspace(0, 100, 4000)).astype(np.float32)
    store, back = log_and_read(tmp_path, "audio", clip=ms.Audio(samples, sample_rate=8000, caption=EVIL))
    markup = back["clip"]._repr_html_()
    players = tags(markup, "audio")
    assert len(players) == 1 and "controls" in players[0]
    mime, data = decode_uri(players[0]["src"])
    blob = store.sql("SELECT blob FROM audio").fetchall()[0][0]
    assert mime == "audio/wav" == blob["mime"] and data == store.location.get_blob(blob)
    assert_no_raw_script(markup)


@pytest.mark.parametrize("format, tag", [("mp4", "video"), ("gif", "img")])
def test_video_player_plays_the_stored_bytes(tmp_path, format, tag):
    pytest.importorskip("av", reason='ms.Video needs PyAV: pip install "mediastore[video]"')
    frames = np.random.default_rng(0).integers(0, 256, (4, 3, 16, 16), dtype=np.uint8)
    store, back = log_and_read(tmp_path, "videos", v=ms.Video(frames, fps=4, format=format))
    markup = back["v"]._repr_html_()
    players = tags(markup, tag)
    assert len(players) == 1
    mime, data = decode_uri(players[0]["src"])
    blob = store.sql("SELECT blob FROM videos").fetchall()[0][0]
    assert mime == blob["mime"] and data == store.location.get_blob(blob)
    if tag == "video":
        assert "controls" in players[0]


def test_media_too_large_to_embed_is_described(tmp_path, monkeypatch):
    pytest.importorskip("soundfile", reason='ms.Audio needs soundfile: pip install "mediastore[audio]"')
    _, back = log_and_read(tmp_path, "audio", clip=ms.Audio(np.zeros(4000, np.float32), sample_rate=8000))
    monkeypatch.setattr(_display, "MAX_EMBED_BYTES", 1000)
    markup = back["clip"]._repr_html_()
    assert not tags(markup, "audio") and "is not embedded" in markup and ".file_bytes" in markup


def test_point_cloud_summary_and_top_view(tmp_path):
    points = np.array([[0, 0, 0, 255, 0, 0], [1, 2, 3, 0, 255, 0], [2, 1, 0, 0, 0, 255]], dtype=np.float64)
    corners = [[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)]
    cloud = ms.Object3D.from_point_cloud(points=points, boxes=[{"corners": corners, "label": EVIL, "color": [0, 0, 255], "score": 0.5}],
                                         vectors=[{"start": [0, 0, 0], "end": [1, 1, 1]}], point_cloud_type="lidar/beta")
    _, back = log_and_read(tmp_path, "objects3d", cloud=cloud)
    markup = back["cloud"]._repr_html_()
    dots = tags(markup, "circle")
    assert [d["fill"] for d in dots] == ["rgb(255,0,0)", "rgb(0,255,0)", "rgb(0,0,255)"]
    assert len(tags(markup, "polygon")) == 1
    text = " ".join(parse(markup).text)
    assert "points 3" in text and "boxes 1" in text and "vectors 1" in text and "point format xyzrgb" in text
    assert_no_raw_script(markup)


def test_point_cloud_top_view_is_subsampled(tmp_path):
    _, back = log_and_read(tmp_path, "objects3d", cloud=ms.Object3D(np.random.default_rng(0).random((10_000, 3))))
    assert len(tags(back["cloud"]._repr_html_(), "circle")) == _display.MAX_DRAWN_POINTS


def test_model_file_has_a_summary_only(tmp_path):
    path = tmp_path / "tri.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    _, back = log_and_read(tmp_path, "objects3d", mesh=ms.Object3D.from_file(str(path)))
    markup = back["mesh"]._repr_html_()
    assert not tags(markup, "svg") and "format obj" in " ".join(parse(markup).text)


def test_molecule_summary_and_atoms(tmp_path):
    pdb = (
        "HETATM    1  O   HOH A   1       0.000   0.000   0.000  1.00  0.00           O\n"
        "HETATM    2  H1  HOH A   1       0.957   0.000   0.000  1.00  0.00           H\n"
        "HETATM    3  H2  HOH A   1      -0.240   0.927   0.000  1.00  0.00           H\n"
    )
    path = tmp_path / "water.pdb"
    path.write_text(pdb)
    _, back = log_and_read(tmp_path, "molecules", water=ms.Molecule(str(path), caption=EVIL))
    markup = back["water"]._repr_html_()
    assert [d["fill"] for d in tags(markup, "circle")] == ["rgb(255,13,13)", "rgb(220,220,220)", "rgb(220,220,220)"]
    assert "atoms 3" in " ".join(parse(markup).text) and "format pdb" in " ".join(parse(markup).text)
    assert_no_raw_script(markup)


def test_molecule_from_smiles_shows_its_smiles(tmp_path):
    pytest.importorskip("rdkit", reason='from_smiles needs RDKit: pip install "mediastore[molecule]"')
    _, back = log_and_read(tmp_path, "molecules", m=ms.Molecule.from_smiles("CCO"))
    text = " ".join(parse(back["m"]._repr_html_()).text)
    assert "smiles CCO" in text and "atoms 9" in text  # ethanol with its hydrogens


# -- tables and query results ------------------------------------------------------------


def image_table(rows: int) -> ms.Table:
    table = ms.Table(columns=["id", "image", "note"])
    for i in range(rows):
        image, _, _ = overlaid_image()
        table.add_data(i, image, EVIL)
    return table


def test_table_shows_thumbnails_and_caps_rows(tmp_path):
    _, back = log_and_read(tmp_path, "tables", t=image_table(_display.MAX_TABLE_ROWS + 3))
    markup = back["t"]._repr_html_()
    assert len(tags(markup, "tr")) == 1 + _display.MAX_TABLE_ROWS
    assert len(tags(markup, "figure", **{"class": "ms-image"})) == _display.MAX_TABLE_ROWS
    # Thumbnails carry their overlays too.
    assert len(tags(markup, "img", **{"class": "ms-mask"})) == 2 * _display.MAX_TABLE_ROWS
    assert len(tags(markup, "rect")) == 3 * _display.MAX_TABLE_ROWS
    assert "… 3 more rows" in markup
    assert_no_raw_script(markup)


def test_store_table_is_a_dataframe_showing_thumbnails(tmp_path):
    store, _ = log_and_read(tmp_path, "tables", t=image_table(2), h=ms.Table(columns=["hist"], data=[[ms.Histogram([1, 2, 3])]]))
    frame = store.table("r", "t")
    assert isinstance(frame, pd.DataFrame)
    assert frame["id"].tolist() == [0, 1]
    assert type(frame[frame["id"] == 1]) is type(frame)  # slices display the same way
    markup = frame._repr_html_()
    assert len(tags(markup, "figure", **{"class": "ms-image"})) == 2
    assert len(tags(markup, "rect")) == 6
    assert_no_raw_script(markup)
    assert len(tags(store.table("r", "h")._repr_html_(), "svg", **{"class": "ms-histogram"})) == 1


def test_show_renders_image_blobs_as_thumbnails(tmp_path):
    pytest.importorskip("soundfile", reason='ms.Audio needs soundfile: pip install "mediastore[audio]"')
    uri = str(tmp_path / "store")
    with ms.init(project="p", store=uri, run_id="r") as run:
        for step in range(3):
            image, _, _ = overlaid_image(caption=EVIL)
            run.log({"img": image, "clip": ms.Audio(np.zeros(800, np.float32), sample_rate=8000)}, step=step)
    store = ms.open(uri)
    query = "SELECT step, caption, blob, masks, boxes FROM images WHERE step >= ? ORDER BY step"
    result = store.show(query, [1])
    assert len(result) == 2 and not result.truncated
    pd.testing.assert_frame_equal(result.df, store.sql(query, params=[1]).df())
    assert repr(result) == repr(result.df)
    markup = result._repr_html_()
    thumbnails = tags(markup, "img")
    assert len(thumbnails) == 2
    for thumbnail in thumbnails:
        shown = PIL.Image.open(io.BytesIO(decode_uri(thumbnail["src"])[1]))
        assert max(shown.size) <= _display.THUMBNAIL_SIDE
    text = "".join(parse(markup).text)
    assert "2 items: pred, truth" in text and "3 items: car ×2, tree" in text
    assert_no_raw_script(markup)
    audio = store.show("SELECT blob FROM audio LIMIT 1")
    length = audio.df["blob"][0]["length"]
    assert not tags(audio._repr_html_(), "img") and f"audio/wav · {length / 1024:.1f} KiB" in audio._repr_html_()


def test_show_cuts_at_limit_and_says_so(tmp_path):
    uri = str(tmp_path / "store")
    with ms.init(project="p", store=uri, run_id="r") as run:
        for step in range(5):
            run.log({"loss": float(step)})
    store = ms.open(uri)
    result = store.show("SELECT step, value FROM scalars ORDER BY step", limit=3)
    assert result.df["step"].tolist() == [0, 1, 2] and result.truncated
    assert "the first 3 rows; the query has more" in result._repr_html_()
    assert not store.show("SELECT step FROM scalars", limit=5).truncated


@pytest.mark.parametrize("limit", [0, -1, 2.5, "10", True])
def test_show_refuses_a_bad_limit(tmp_path, limit):
    store = ms.open(str(tmp_path / "store"))
    with pytest.raises(ms.InvalidQueryError, match=r"limit is the number of rows to show, an int >= 1"):
        store.show("SELECT 1", limit=limit)
