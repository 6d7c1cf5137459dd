"""mediastore.media._png: the GIL-releasing PNG encoder behind ms.Image. Its PNGs must decode
in Pillow to exactly the array given, for every mode it writes and odd sizes, stay within 10 %
of Pillow's own size at the same level, and be what ms.Image stores."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import PIL.Image
import pytest

import mediastore as ms
from mediastore.media import _png


def gradient(height, width, channels, seed=0, noise=3):
    """A smooth colour gradient plus +-noise: like a render or a photo, and like W2's images."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    planes = []
    for _ in range(channels):
        a, b = rng.uniform(-1, 1, 2)
        plane = a * xx / max(width - 1, 1) + b * yy / max(height - 1, 1)
        planes.append(40 + 150 * (plane - plane.min()) / max(np.ptp(plane), 1e-6))
    img = np.stack(planes, axis=-1) + rng.integers(-noise, noise + 1, (height, width, channels))
    img = np.clip(img, 0, 255).astype(np.uint8)
    return img[:, :, 0] if channels == 1 else img


def tiled(height, width, channels, seed=1):
    """A random 8x8 tile repeated: long matches, where run-length deflate alone does badly."""
    tile = np.random.default_rng(seed).integers(0, 256, (8, 8, channels), dtype=np.uint8)
    img = np.tile(tile, (height // 8 + 1, width // 8 + 1, 1))[:height, :width]
    return img[:, :, 0] if channels == 1 else img


def kinds(height, width, channels):
    rng = np.random.default_rng(height * 1000 + width)
    noise = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    flat = np.full((height, width, channels), 77, np.uint8)
    flat[height // 3 :, width // 2 :] = 200
    yield "gradient", gradient(height, width, channels)
    yield "tiled", tiled(height, width, channels)
    yield "noise", noise[:, :, 0] if channels == 1 else noise
    yield "flat", flat[:, :, 0] if channels == 1 else flat


def decode(png: bytes) -> PIL.Image.Image:
    with PIL.Image.open(io.BytesIO(png)) as pil:
        pil.load()  # checks every chunk's CRC and the zlib stream
        return pil


def filter_types(png: bytes) -> set[int]:
    """The PNG filter type of each row (the image's first byte of each scanline)."""
    pos, idat, header = 8, b"", None
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        tag, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        header = data if tag == b"IHDR" else header
        idat += data if tag == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    channels = {0: 1, 4: 2, 2: 3, 6: 4}[colour]
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, 1 + width * channels * depth // 8)
    return set(raw[:, 0].tolist())


MODES = [("L", 1), ("LA", 2), ("RGB", 3), ("RGBA", 4)]
SIZES = [(1, 1), (1, 7), (7, 1), (3, 5), (17, 31), (128, 128), (129, 127)]


@pytest.mark.parametrize(("mode", "channels"), MODES)
@pytest.mark.parametrize(("height", "width"), SIZES)
@pytest.mark.parametrize("level", [0, 1, 6, 9])
def test_uint8_modes_decode_bit_exact_in_pillow(mode, channels, height, width, level):
    for kind, array in kinds(height, width, channels):
        pil = decode(_png.encode(array, level))
        assert (pil.mode, pil.size, pil.format) == (mode, (width, height), "PNG"), kind
        np.testing.assert_array_equal(np.asarray(pil), array, err_msg=f"{kind} {mode} {height}x{width} level {level}")


@pytest.mark.parametrize(("height", "width"), SIZES)
@pytest.mark.parametrize("level", [0, 6])
def test_uint16_grey_decodes_bit_exact_as_i16(height, width, level):
    rng = np.random.default_rng(7)
    ramp = (np.arange(height * width, dtype=np.uint32).reshape(height, width) * 977 % 65536).astype(np.uint16)
    for array in (ramp, rng.integers(0, 65536, (height, width), dtype=np.uint16), np.full((height, width), 65535, np.uint16)):
        pil = decode(_png.encode(array, level))
        assert (pil.mode, pil.size) == ("I;16", (width, height))
        np.testing.assert_array_equal(np.asarray(pil), array)


def test_every_filter_type_is_chosen_somewhere():
    """The rows above exercise all five filters (None, Sub, Up, Average, Paeth), so a wrong
    one would have failed the bit-exact tests."""
    seen = set()
    for channels in (1, 3, 4):
        for _, array in kinds(64, 48, channels):
            seen |= filter_types(_png.encode(array, 6))
    assert seen == {0, 1, 2, 3, 4}


@pytest.mark.parametrize("level", [1, 6, 9])
@pytest.mark.parametrize("make", [gradient, tiled], ids=["gradient", "tiled"])
@pytest.mark.parametrize("side", [128, 256])
def test_size_within_ten_percent_of_pillow_at_the_same_level(level, make, side):
    arrays = [make(side, side, 3, seed) for seed in range(3)]
    ours = sum(len(_png.encode(a, level)) for a in arrays)
    buffers = [io.BytesIO() for _ in arrays]
    for a, buf in zip(arrays, buffers):
        PIL.Image.fromarray(a).save(buf, format="PNG", compress_level=level)
    pillow = sum(len(buf.getvalue()) for buf in buffers)
    assert ours <= 1.10 * pillow, (ours, pillow)


@pytest.mark.parametrize(
    "array",
    [np.zeros((4, 4), np.float32), np.zeros((4, 4, 5), np.uint8), np.zeros((4, 4, 3), np.uint16), np.zeros(4, np.uint8)],
    ids=["float", "5-channels", "uint16-rgb", "1-d"],
)
def test_arrays_it_cannot_write_are_refused(array):
    with pytest.raises(ValueError, match="PNG encoding takes"):
        _png.encode(array)


@pytest.mark.parametrize(
    "pixels",
    [
        gradient(37, 53, 3),
        gradient(37, 53, 4),
        gradient(37, 53, 1),
        np.stack([gradient(9, 11, 1), tiled(9, 11, 1)], axis=-1),  # LA through a PIL image
    ],
    ids=["RGB", "RGBA", "L", "LA"],
)
def test_images_store_the_new_encoders_png(store_uri, pixels):
    """What ms.Image stores is this encoder's output (the same bytes), and reads back exact."""
    given = PIL.Image.fromarray(pixels, "LA") if pixels.ndim == 3 and pixels.shape[2] == 2 else pixels
    with ms.init(project="p", store=store_uri, settings=ms.Settings(png_compress_level=6)) as run:
        run.log({"img": ms.Image(given)})
    store = ms.open(store_uri)
    row = store.sql("SELECT * FROM images").df().iloc[0]
    img = store.decode(row)
    assert img.file_bytes == _png.encode(pixels, 6)
    np.testing.assert_array_equal(img.to_numpy(), pixels)


def test_i16_images_and_masks_store_the_new_encoders_png(store_uri):
    depth = (np.arange(20 * 30, dtype=np.uint32).reshape(20, 30) * 101 % 65536).astype(np.uint16)
    mask = (np.arange(20 * 30).reshape(20, 30) // 37 % 5).astype(np.uint8)
    with ms.init(project="p", store=store_uri) as run:
        run.log({"img": ms.Image(depth, mode="I;16", masks={"m": {"mask_data": mask}})})
    store = ms.open(store_uri)
    row = store.sql("SELECT * FROM images").df().iloc[0]
    img = store.decode(row)
    assert (img.mode, img.file_bytes) == ("I;16", _png.encode(depth, 6))
    np.testing.assert_array_equal(img.to_numpy(), depth)
    np.testing.assert_array_equal(img.masks["m"]["mask_data"], mask)
    assert store.location.get_blob(row["masks"][0]["blob"]) == _png.encode(mask, 6)


def test_transparent_colour_and_palette_keep_going_through_pillow(store_uri):
    """A tRNS colour (kept only by Pillow's writer) and palette images are Pillow's to write."""
    rgb = PIL.Image.fromarray(gradient(8, 8, 3))
    rgb.info["transparency"] = tuple(int(v) for v in np.asarray(rgb)[0, 0])
    palette = rgb.convert("P", palette=PIL.Image.Palette.ADAPTIVE, colors=16)
    with ms.init(project="p", store=store_uri) as run:
        run.log({"img": [ms.Image(rgb), ms.Image(palette)]})
    store = ms.open(store_uri)
    first, second = (store.decode(r) for _, r in store.sql("SELECT * FROM images ORDER BY idx").df().iterrows())
    assert first.to_pil().info["transparency"] == rgb.info["transparency"]
    np.testing.assert_array_equal(first.to_numpy(), np.asarray(rgb))
    assert second.mode == "P"
    np.testing.assert_array_equal(second.to_numpy(), np.asarray(palette))
