"""ms.Video: arrays through real encoders, files and BytesIO byte for byte, and every documented error.

Every stored video is checked by decoding its bytes with PyAV, independently of ms.Video.
Round trips run on every storage backend (``store_uri``); tests of a rule's details use a local
store only, as the backends are already covered.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import warnings
from fractions import Fraction

import numpy as np
import PIL.Image
import pytest

import mediastore as ms

av = pytest.importorskip("av", reason='ms.Video needs PyAV: pip install "mediastore[video]"')

MIME = {"gif": "image/gif", "mp4": "video/mp4", "webm": "video/webm", "ogg": "video/ogg"}
CODEC = {"gif": "gif", "mp4": "h264", "webm": "vp9", "ogg": "vp8"}
FORMATS = ["gif", "mp4", "webm", "ogg"]


def moving_gradient(t=8, h=32, w=32) -> np.ndarray:
    """A smooth pattern that moves: (time, 3, height, width) uint8, easy on lossy codecs."""
    tt, yy, xx = np.meshgrid(np.arange(t), np.arange(h), np.arange(w), indexing="ij")
    red = (xx * 255 // max(w - 1, 1) + tt * 8) % 256
    green = yy * 255 // max(h - 1, 1)
    blue = np.full_like(xx, 128) + tt * 4
    return np.stack([red, green, blue], axis=1).astype(np.uint8)


def few_colours(t=8, h=32, w=32) -> np.ndarray:
    """At most four colours per frame: GIF stores these exactly."""
    rng = np.random.default_rng(3)
    palette = np.array([[0, 0, 0], [255, 0, 0], [10, 200, 30], [40, 40, 250]], dtype=np.uint8)
    return palette[rng.integers(0, 4, (t, h, w))].transpose(0, 3, 1, 2)


def decode_bytes(data: bytes) -> tuple[np.ndarray, str, str]:
    """Frames (time, H, W, 3), container name and codec of a video file's bytes, by PyAV alone."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
        return frames, container.format.name, stream.codec_context.name


def log_and_decode(uri, *videos, key="video"):
    """Log videos under one key, read the rows back through SQL, decode each row."""
    with ms.init(project="p", store=uri) as run:
        run.log({key: list(videos)})
    store = ms.open(uri)
    rows = store.sql("SELECT * FROM videos ORDER BY ALL").df()
    assert rows["idx"].tolist() == list(range(len(videos)))
    return store, rows, [store.decode(row) for _, row in rows.iterrows()]


def check_row_against_file(store, row):
    """The stored bytes decode (with PyAV) to the frame count and size the row claims."""
    data = store.location.get_blob(row["blob"])
    frames, _, codec = decode_bytes(data)
    assert frames.shape == (row["frames"], row["height"], row["width"], 3)
    assert codec == row["codec"]
    assert row["blob"]["mime"] == MIME[row["format"]]
    return data, frames


# -- arrays -------------------------------------------------------------------------------


@pytest.mark.parametrize("format", FORMATS)
def test_array_is_encoded_in_each_format(store_uri, format):
    frames = moving_gradient()
    store, rows, (video,) = log_and_decode(store_uri, ms.Video(frames, caption="c", fps=4, format=format))
    row = rows.iloc[0]
    assert [row[c] for c in ("format", "codec", "fps", "frames", "width", "height", "caption")] == [
        format, CODEC[format], 4.0, 8, 32, 32, "c"
    ]  # fmt: skip
    data, decoded = check_row_against_file(store, row)
    assert video.file_bytes == data
    assert (video.format, video.frames, video.width, video.height, video.caption) == (format, 8, 32, 32, "c")
    back = video.to_numpy()
    assert back.shape == (8, 3, 32, 32) and back.dtype == np.uint8
    np.testing.assert_array_equal(back, decoded.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(video.to_numpy(channels_last=True), decoded)
    # Lossy, but the same picture: a small mean error on a smooth pattern.
    assert np.abs(back.astype(int) - frames).mean() < 12


def test_default_is_a_4_fps_gif(store_uri):
    store, rows, (video,) = log_and_decode(store_uri, ms.Video(moving_gradient()))
    assert rows.loc[0, "format"] == "gif" and rows.loc[0, "fps"] == 4.0
    assert rows.loc[0, "blob"]["mime"] == "image/gif"  # packed with the other small blobs, so no .gif name
    with PIL.Image.open(io.BytesIO(video.file_bytes)) as gif:  # another decoder agrees
        assert gif.n_frames == 8 and gif.size == (32, 32) and gif.info["duration"] == 250


def test_gif_of_few_colours_is_exact(local_store):
    frames = few_colours()
    _, _, (video,) = log_and_decode(local_store, ms.Video(frames, format="gif"))
    np.testing.assert_array_equal(video.to_numpy(), frames)


@pytest.mark.parametrize(
    ("shape", "expected"),
    [((8, 1, 32, 32), "grey"), ((8, 3, 32, 32), "rgb"), ((8, 4, 32, 32), "alpha dropped")],
)
def test_channels(local_store, shape, expected):
    frames = few_colours()  # (8, 3, 32, 32)
    if shape[1] == 1:
        frames = frames[:, :1]
        want = np.repeat(frames, 3, axis=1)
    elif shape[1] == 4:
        alpha = np.full((8, 1, 32, 32), 7, dtype=np.uint8)
        want, frames = frames, np.concatenate([frames, alpha], axis=1)
    else:
        want = frames
    _, rows, (video,) = log_and_decode(local_store, ms.Video(frames))
    np.testing.assert_array_equal(video.to_numpy(), want, err_msg=expected)


def test_batch_is_tiled_into_a_grid(store_uri):
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255]], dtype=np.uint8)
    batch = np.broadcast_to(colours[:, None, :, None, None], (5, 2, 3, 4, 6)).copy()  # 5 videos, 2 frames, 4x6
    store, rows, (video,) = log_and_decode(store_uri, ms.Video(batch))
    # ceil(sqrt(5)) = 3 columns, 2 rows, filled row by row, the last cell black.
    assert rows.loc[0, ["frames", "width", "height"]].tolist() == [2, 18, 8]
    check_row_against_file(store, rows.iloc[0])
    grid = video.to_numpy(channels_last=True)
    for i, colour in enumerate([*colours, [0, 0, 0]]):
        r, c = divmod(i, 3)
        np.testing.assert_array_equal(grid[:, r * 4 : (r + 1) * 4, c * 6 : (c + 1) * 6], np.broadcast_to(colour, (2, 4, 6, 3)))


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (np.array([0.0, 0.5, 1.0]), [0, 128, 255]),  # [0, 1]: times 255
        (np.array([-1.0, 0.0, 1.0]), [0, 128, 255]),  # [-1, 1]: linear to [0, 255]
        (np.array([-5.0, 100.4, 300.0]), [0, 100, 255]),  # otherwise: clipped, rounded
        (np.array([0.2, 0.4, 0.6], dtype=np.float32), [51, 102, 153]),
        (np.array([0, 7, 255], dtype=np.int64), [0, 7, 255]),  # integers: not rescaled
        (np.array([False, True, True]), [0, 255, 255]),
    ],
)
def test_dtype_rule(local_store, values, expected):
    # One value per frame, grey: a GIF holds it exactly, so the rule is seen end to end.
    frames = np.broadcast_to(values[:, None, None, None], (3, 1, 2, 2))
    _, _, (video,) = log_and_decode(local_store, ms.Video(frames))
    np.testing.assert_array_equal(video.to_numpy()[:, 0, 0, 0], expected)


def test_array_is_copied_at_construction(local_store):
    frames = few_colours()
    video = ms.Video(frames)
    frames[:] = 0  # changed after the call, before the encoder runs
    _, _, (back,) = log_and_decode(local_store, video)
    np.testing.assert_array_equal(back.to_numpy(), few_colours())


def test_nested_list_is_an_array(local_store):
    frames = few_colours(t=2, h=4, w=4)
    _, _, (video,) = log_and_decode(local_store, ms.Video(frames.tolist()))
    np.testing.assert_array_equal(video.to_numpy(), frames)


@pytest.mark.parametrize(("fps", "stored"), [(30, 30.0), (0.5, 0.5), (29.97, 29.97), (50, 50.0)])
def test_fps_is_the_average_rate_of_the_gif(local_store, fps, stored):
    store, rows, _ = log_and_decode(local_store, ms.Video(few_colours(t=12, h=4, w=4), fps=fps))
    assert rows.loc[0, "fps"] == pytest.approx(stored)
    data = store.location.get_blob(rows.loc[0, "blob"])
    with av.open(io.BytesIO(data)) as container:  # GIF delays are 1/100 s: their mean is 1/fps
        durations = [p.duration for p in container.demux(video=0) if p.size]
    assert len(durations) == 12 and 12 / (sum(durations) / 100) == pytest.approx(fps, rel=0.03)


@pytest.mark.parametrize("format", ["mp4", "webm", "ogg"])
def test_fps_of_encoded_formats(local_store, format):
    store, rows, _ = log_and_decode(local_store, ms.Video(moving_gradient(w=48), fps=29.97, format=format))
    with av.open(io.BytesIO(store.location.get_blob(rows.loc[0, "blob"]))) as container:
        assert container.streams.video[0].guessed_rate == Fraction(2997, 100)
    assert rows.loc[0, "fps"] == pytest.approx(29.97)


@pytest.mark.parametrize("format", FORMATS)
def test_odd_sizes(local_store, format):
    frames = moving_gradient(h=19, w=33)
    store, rows, (video,) = log_and_decode(local_store, ms.Video(frames, format=format))
    # H.264 4:2:0 needs even sizes: mp4 gets one more row/column, copied from the edge.
    width, height = (34, 20) if format == "mp4" else (33, 19)
    assert rows.loc[0, ["width", "height"]].tolist() == [width, height]
    _, decoded = check_row_against_file(store, rows.iloc[0])
    assert np.abs(decoded[:, :19, :33].transpose(0, 3, 1, 2).astype(int) - frames).mean() < 12


def test_list_of_videos_under_one_key(store_uri):
    formats = ["gif", "mp4", "webm"]
    videos = [ms.Video(moving_gradient(t=2 + i), format=f, caption=f) for i, f in enumerate(formats)]
    store, rows, decoded = log_and_decode(store_uri, *videos, key="clips")
    assert rows["format"].tolist() == formats and rows["caption"].tolist() == formats
    assert rows["frames"].tolist() == [2, 3, 4] == [v.frames for v in decoded]
    for _, row in rows.iterrows():
        check_row_against_file(store, row)


def test_decode_a_row_of_the_media_view(store_uri):
    _, _, (direct,) = log_and_decode(store_uri, ms.Video(few_colours(), format="gif", caption="x"))
    store = ms.open(store_uri)
    row = store.sql("SELECT * FROM media WHERE kind = 'videos'").df().iloc[0]
    video = store.decode(row)
    assert video.file_bytes == direct.file_bytes and video.caption == "x" and video.frames == 8


# -- files and BytesIO ----------------------------------------------------------------------


def write_with_pyav(path, format, frames=None, fps=4, codec=None):
    """A video file made by PyAV (or, for Theora, by imageio-ffmpeg's FFmpeg), not by ms.Video."""
    frames = moving_gradient(t=6, h=24, w=40) if frames is None else frames
    hwc = frames.transpose(0, 2, 3, 1)
    if codec == "theora":  # the PyAV wheel decodes Theora but has no encoder
        imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg", reason="making a Theora file needs imageio-ffmpeg's FFmpeg")

        command = [
            imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
            "-s", f"{hwc.shape[2]}x{hwc.shape[1]}", "-framerate", str(fps), "-i", "pipe:0",
            "-c:v", "libtheora", "-f", "ogg", str(path),
        ]  # fmt: skip
        subprocess.run(command, input=hwc.tobytes(), check=True)
        return path.read_bytes()
    codec = {"gif": "gif", "mp4": "mpeg4", "webm": "libvpx", "ogg": "libvpx"}[format]
    with av.open(str(path), "w", format=format) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = hwc.shape[2], hwc.shape[1]
        stream.pix_fmt = "rgb8" if format == "gif" else "yuv420p"
        for frame in hwc:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    return path.read_bytes()


@pytest.mark.parametrize(
    ("format", "ext", "codec"),
    [("gif", "gif", "gif"), ("mp4", "mp4", "mpeg4"), ("webm", "webm", "vp8"), ("ogg", "ogg", "vp8"), ("ogg", "ogv", "theora")],
)
def test_files_are_stored_byte_for_byte(store_uri, tmp_path, format, ext, codec):
    path = tmp_path / f"clip.{ext}"
    data = write_with_pyav(path, format, fps=5, codec=codec)
    store, rows, (video, _) = log_and_decode(store_uri, ms.Video(path, caption="file"), ms.Video(str(path)))
    for _, row in rows.iterrows():
        assert [row[c] for c in ("format", "codec", "frames", "width", "height")] == [format, codec, 6, 40, 24]
        assert row["fps"] == pytest.approx(5.0)
        assert row["blob"]["sha256"] == hashlib.sha256(data).hexdigest()
        assert store.location.get_blob(row["blob"]) == data
        check_row_against_file(store, row)
    assert rows["blob"].map(lambda b: b["uri"]).nunique() == 1  # the same bytes are stored once
    assert video.file_bytes == data and video.caption == "file"
    assert video.to_numpy().shape == (6, 3, 24, 40)


@pytest.mark.parametrize("format", FORMATS)
def test_bytesio_with_and_without_format(store_uri, tmp_path, format):
    data = write_with_pyav(tmp_path / f"clip.{format}", format)
    store, rows, decoded = log_and_decode(store_uri, ms.Video(io.BytesIO(data), format=format), ms.Video(io.BytesIO(data)))
    assert rows["format"].tolist() == [format, format]
    assert all(v.file_bytes == data for v in decoded)
    assert rows["frames"].tolist() == [6, 6]


def test_open_binary_file_object(store_uri, tmp_path):
    path = tmp_path / "clip.gif"
    data = write_with_pyav(path, "gif")
    with open(path, "rb") as fh:
        video = ms.Video(fh)
    _, _, (back,) = log_and_decode(store_uri, video)
    assert back.file_bytes == data


def test_seed_examples(store_uri, tmp_path, monkeypatch):
    """The reference page's two video examples, with ms in place of wandb."""
    monkeypatch.chdir(tmp_path)
    write_with_pyav(tmp_path / "myvideo.mp4", "mp4")
    numpy_array_or_path_to_video = np.random.default_rng(0).integers(0, 256, (8, 3, 32, 32), dtype=np.uint8)
    gif_path = tmp_path / "clip.gif"
    write_with_pyav(gif_path, "gif", fps=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a file at the fps it was given: no warning
        with ms.init(project="p", store=store_uri) as run:
            run.log({"example": ms.Video("myvideo.mp4")})
            run.log({"video": ms.Video(numpy_array_or_path_to_video, fps=4, format="gif")})
            run.log({"video": ms.Video(str(gif_path), fps=4, format="gif")})
    rows = ms.open(store_uri).sql("SELECT key, format, frames, fps FROM videos ORDER BY step").fetchall()
    assert rows == [("example", "mp4", 6, 4.0), ("video", "gif", 8, 4.0), ("video", "gif", 6, 4.0)]


def test_fps_for_a_file_warns_that_it_is_ignored(tmp_path):
    path = tmp_path / "clip.gif"
    write_with_pyav(path, "gif", fps=4)
    with pytest.warns(ms.IgnoredArgumentWarning, match=r"fps=10 is ignored for Video file .*clip.gif'.*own frame rate \(4 fps\)"):
        video = ms.Video(path, fps=10)
    assert video.fps == 4.0


def test_format_for_a_file_warns_that_it_is_ignored(tmp_path):
    path = tmp_path / "clip.gif"
    data = write_with_pyav(path, "gif", fps=4)
    with pytest.warns(ms.IgnoredArgumentWarning, match=r"format='webm' is ignored for Video file .*clip.gif': .* own format \(gif\)"):
        video = ms.Video(path, format="webm")
    with pytest.warns(ms.IgnoredArgumentWarning, match=r"format='mp4' is ignored for Video file object"):
        from_bytes = ms.Video(io.BytesIO(data), format="mp4")
    assert video.format == from_bytes.format == "gif"


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "kwargs", "error", "message"),
    [
        (np.zeros((8, 32, 32), np.uint8), {}, ms.InvalidMediaError,
         r"shape \(8, 32, 32\); expected \(time, channels, height, width\) or \(batch, time, channels, height, width\)"),
        (np.zeros((8, 32, 32, 3), np.uint8), {}, ms.InvalidMediaError,
         r"shape \(8, 32, 32, 3\): 32 channels at axis 1.*channels-last; pass array.transpose\(0, 3, 1, 2\)"),
        (np.zeros((2, 8, 32, 32, 3), np.uint8), {}, ms.InvalidMediaError, r"channels-last; pass array.transpose\(0, 1, 4, 2, 3\)"),
        (np.zeros((8, 2, 32, 32), np.uint8), {}, ms.InvalidMediaError, r"2 channels at axis 1; expected .* channels in 1, 3, 4$"),
        (np.zeros((0, 3, 32, 32), np.uint8), {}, ms.InvalidMediaError, r"shape \(0, 3, 32, 32\); a video needs at least one frame"),
        (np.full((2, 3, 4, 4), np.nan), {}, ms.InvalidMediaError, r"96 NaN or infinite value\(s\) out of 96; frames must be finite — replace them \(np.nan_to_num\)"),
        (np.full((2, 3, 4, 4), 300, np.int32), {}, ms.InvalidMediaError,
         r"dtype int32 has values from 300 to 300; integer arrays are not rescaled and must lie in 0..255"),
        (np.zeros((2, 3, 4, 4), complex), {}, ms.InvalidMediaTypeError, r"dtype complex128; expected an integer, bool or float dtype"),
        (np.zeros((2, 3, 4, 4), np.uint8), {"format": "avi"}, ms.InvalidMediaError,
         r"Video format 'avi' is not supported; use one of gif, mp4, webm, ogg"),
        (np.zeros((2, 3, 4, 4), np.uint8), {"fps": 0}, ms.InvalidMediaError, r"Video fps is 0; it must be a number .* from 0.001 to 1000"),
        (np.zeros((2, 3, 4, 4), np.uint8), {"fps": float("nan")}, ms.InvalidMediaError, r"Video fps is nan"),
        (np.zeros((2, 3, 4, 4), np.uint8), {"fps": "4"}, ms.InvalidMediaError, r"Video fps is '4'"),
        (np.zeros((2, 3, 4, 4), np.uint8), {"fps": 5000, "format": "mp4"}, ms.InvalidMediaError, r"Video fps is 5000"),
        (np.zeros((2, 3, 4, 4), np.uint8), {"fps": 60}, ms.InvalidMediaError,
         r"fps 60 is too high for gif: .* at most 50 fps — lower fps, or use format='mp4'"),
        ({"frames": 1}, {}, ms.InvalidMediaTypeError, r"Video takes a numpy array, a file path or a BytesIO, got dict"),
        (np.zeros((2, 3, 4, 4), np.uint8), {"caption": 3}, ms.InvalidMediaTypeError, r"caption must be a str or None, got int 3"),
    ],
)  # fmt: skip
def test_bad_arrays_raise_and_store_nothing(store_uri, data, kwargs, error, message):
    with ms.init(project="p", store=store_uri) as run:
        with pytest.raises(error, match=message):
            run.log({"ok": ms.Video(few_colours(t=2, h=4, w=4)), "bad": ms.Video(data, **kwargs)})
    assert ms.open(store_uri).sql("SELECT count(*) FROM videos").fetchall() == [(0,)]


def test_missing_file(tmp_path):
    with pytest.raises(ms.MediaFileNotFoundError, match=r"Video file '.*nope.mp4' does not exist or is not a file; check the path"):
        ms.Video(tmp_path / "nope.mp4")


@pytest.mark.parametrize(
    ("name", "content", "kwargs", "message"),
    [
        ("clip.avi", "gif", {}, r"Video file '.*clip.avi' has extension '.avi'; use a .gif, .mp4, .ogg, .ogv, .webm file, or convert it"),
        ("clip", "gif", {}, r"has extension '\(none\)'"),
        ("clip.mp4", "gif", {}, r"clip.mp4' holds gif video but its extension says mp4; .* rename it"),
        ("clip.mp4", b"", {}, r"clip.mp4' is empty; a video file needs its bytes"),
        ("clip.mp4", b"definitely not a video" * 10, {}, r"clip.mp4' is not a video FFmpeg can read \(.*\); check the file"),
        ("clip.webm", "audio-only", {}, r"clip.webm' has no video stream; log it with ms.Audio if it is sound"),
    ],
)
def test_bad_files(tmp_path, name, content, kwargs, message):
    path = tmp_path / name
    if content == "gif":
        path.write_bytes(write_with_pyav(tmp_path / "made.gif", "gif"))
    elif content == "audio-only":
        with av.open(str(path), "w", format="webm") as container:
            stream = container.add_stream("libopus", rate=48000)
            samples = np.zeros((1, 960), dtype=np.float32)
            for _ in range(3):
                frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
                frame.sample_rate = 48000
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
    else:
        path.write_bytes(content)
    with pytest.raises(ms.InvalidMediaError, match=message):
        ms.Video(path, **kwargs)


def test_text_file_object():
    with pytest.raises(ms.InvalidMediaTypeError, match=r"Video file object gave str; open it in binary mode \('rb'\)"):
        ms.Video(io.StringIO("GIF89a"))


def test_missing_pyav_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # makes `import av` fail, as when it is not installed
    with pytest.raises(ms.MissingDependencyError, match=r"needs the optional dependency 'av'.*pip install \"mediastore\[video\]\""):
        ms.Video(few_colours(), format="mp4")
