"""``ms.Video``: numpy video arrays encoded with real encoders, and video files kept byte for byte.

Rules (one set, documented in the README):

- An array is ``(time, channels, height, width)``, or ``(batch, time, channels, height,
  width)``, which is tiled into a grid: ``ceil(sqrt(batch))`` columns, as many rows as needed,
  row by row, empty cells black. Channels: 1 (grey), 3 (RGB) or 4 (RGBA; the alpha channel is
  dropped, as none of the four formats plays it everywhere).
- Dtypes follow ``ms.Image``'s rule: ``uint8`` as given, ``bool`` as 0/255; other integers
  are not rescaled and must lie in 0..255; floats must be finite and are scaled by 255 when
  all in [0, 1], mapped linearly to [0, 255] when all in [-1, 1], else clipped to [0, 255];
  then rounded.
- Encoders (all lossy except a GIF whose frames have at most 256 colours each, which is exact):

  ========  =======================================================================
  ``gif``   FFmpeg's GIF encoder through PyAV, one exact palette per frame when a frame
            has at most 256 colours, else Pillow's octree palette, no dithering.
            ``fps`` at most 50: GIF delays are whole 1/100 s and browsers slow down
            frames shorter than 2/100 s.
  ``mp4``   H.264 (libx264, CRF 23, yuv420p, moov atom first) through PyAV. H.264 4:2:0
            needs even sizes: an odd width or height gets one more column or row,
            copied from the edge; ``width``/``height`` are the stored size.
  ``webm``  VP9 (libvpx-vp9, CRF 32) through PyAV.
  ``ogg``   VP8 (libvpx, CRF 10) in Ogg through PyAV. Not Theora: no current browser
            plays Ogg Theora (Chrome removed it in 2024, Firefox 153 refuses it, Safari
            never had it), while Chromium plays VP8 in Ogg. Firefox and Safari play
            neither: use webm or mp4 for videos people watch.
  ========  =======================================================================

- A file (``.gif``, ``.mp4``, ``.webm``, ``.ogg``/``.ogv``) or a ``BytesIO`` is stored byte for
  byte; its format comes from its content (it must agree with the extension), and ``frames``,
  ``fps``, ``width``, ``height``, ``codec`` are read from it. A ``fps`` or ``format`` that
  disagrees with the file warns (``IgnoredArgumentWarning``) and the file's own is kept.
- Arrays may be torch tensors (any device) or anything with ``__array__``.
"""

from __future__ import annotations

import io
import math
import os
import tempfile
import warnings
from collections.abc import Mapping
from fractions import Fraction
from typing import Any, Literal

from .._lazy import np
from .._deps import require
from ..errors import IgnoredArgumentWarning, InvalidMediaError, InvalidMediaTypeError
from . import _display
from .base import Media, as_array, check_caption, float_pixels_to_uint8, is_number, is_pathlike, read_path, register

__all__ = ["Video"]

VideoFormat = Literal["gif", "mp4", "webm", "ogg"]
FORMATS: tuple[str, ...] = ("gif", "mp4", "webm", "ogg")
DEFAULT_FPS = 4  # the reference page's default
MIN_FPS, MAX_FPS = 0.001, 1000.0
MAX_GIF_FPS = 50  # GIF delays are whole 1/100 s; browsers play delays under 2/100 s at 1/10 s

_MIME = {"gif": "image/gif", "mp4": "video/mp4", "webm": "video/webm", "ogg": "video/ogg"}
_EXTENSIONS = {".gif": "gif", ".mp4": "mp4", ".webm": "webm", ".ogg": "ogg", ".ogv": "ogg"}
# The FFmpeg demuxer that reads each format (as ``container.format.name`` lists it).
_DEMUXERS = {"gif": "gif", "mp4": "mp4", "webm": "webm", "ogg": "ogg"}
# (PyAV codec, codec column, options) per format. CRF: constant quality at the encoders'
# usual settings. VP9 at cpu-used 5 took 1.5x x264's time here (64 frames of 128x128:
# 0.16 s against 0.11 s) for a smaller file; its default (cpu-used 1) is slower still.
_ENCODERS = {
    "gif": ("gif", "gif", {}),
    "mp4": ("libx264", "h264", {"crf": "23", "preset": "medium"}),
    "webm": ("libvpx-vp9", "vp9", {"crf": "32", "b": "0", "row-mt": "1", "cpu-used": "5"}),
    "ogg": ("libvpx", "vp8", {"crf": "10", "b": "1M"}),  # VP8's CRF needs a bitrate cap
}


# -- arrays -------------------------------------------------------------------------------


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """ms.Image's dtype rule, for a whole video at once; returns a new uint8 array."""
    kind = array.dtype.kind
    if kind == "b":
        return array.astype(np.uint8) * np.uint8(255)
    if kind in "iu":
        if array.dtype == np.uint8:
            return np.array(array, copy=True)
        lo, hi = int(array.min()), int(array.max())
        if lo < 0 or hi > 255:
            raise InvalidMediaError(
                f"Video array of dtype {array.dtype} has values from {lo} to {hi}; integer arrays are not rescaled "
                "and must lie in 0..255 — convert to uint8 yourself, or pass floats in [0, 1]"
            )
        return array.astype(np.uint8)
    if kind == "f":
        return float_pixels_to_uint8(array, "Video", "frames")
    raise InvalidMediaTypeError(
        f"Video array has dtype {array.dtype}; expected an integer, bool or float dtype — convert it with .astype(np.uint8)"
    )


def _check_shape(shape: tuple[int, ...]) -> None:
    if len(shape) not in (4, 5):
        raise InvalidMediaError(
            f"Video array has shape {shape}; expected (time, channels, height, width) or "
            "(batch, time, channels, height, width) — for one frame add a time axis: array[None]"
        )
    channels = shape[-3]
    if channels not in (1, 3, 4):
        axes = "(0, 3, 1, 2)" if len(shape) == 4 else "(0, 1, 4, 2, 3)"
        hint = f" — it looks channels-last; pass array.transpose{axes}" if shape[-1] in (1, 3, 4) else ""
        raise InvalidMediaError(
            f"Video array has shape {shape}: {channels} channels at axis {len(shape) - 3}; expected "
            f"(time, channels, height, width) with channels in 1, 3, 4{hint}"
        )
    if 0 in shape:
        raise InvalidMediaError(f"Video array has shape {shape}; a video needs at least one frame of at least one pixel")


def _tile(video: np.ndarray) -> np.ndarray:
    """(batch, time, C, H, W) -> (time, C, rows*H, cols*W): row by row, empty cells black."""
    batch, time, channels, height, width = video.shape
    cols = math.ceil(math.sqrt(batch))
    rows = math.ceil(batch / cols)
    grid = np.zeros((rows * cols, time, channels, height, width), dtype=video.dtype)
    grid[:batch] = video
    grid = grid.reshape(rows, cols, time, channels, height, width)
    return grid.transpose(2, 3, 0, 4, 1, 5).reshape(time, channels, rows * height, cols * width)


def _frames_from_array(array: np.ndarray) -> np.ndarray:
    """The checked, converted frames as (time, height, width, 3) uint8, a private copy."""
    _check_shape(array.shape)
    frames = _to_uint8(array)
    if frames.ndim == 5:
        frames = _tile(frames)
    channels = frames.shape[1]
    if channels == 1:
        frames = np.repeat(frames, 3, axis=1)
    elif channels == 4:
        frames = frames[:, :3]
    return np.ascontiguousarray(frames.transpose(0, 2, 3, 1))


def _pad_even(frames: np.ndarray) -> np.ndarray:
    """H.264 4:2:0 needs even sizes: repeat the last row and column where they are odd."""
    _, height, width, _ = frames.shape
    pad = ((0, 0), (0, height % 2), (0, width % 2), (0, 0))
    return np.pad(frames, pad, mode="edge") if height % 2 or width % 2 else frames


def _check_fps(fps: Any) -> Fraction:
    if not is_number(fps) or not math.isfinite(float(fps)) or not MIN_FPS <= float(fps) <= MAX_FPS:
        raise InvalidMediaError(
            f"Video fps is {fps!r}; it must be a number of frames per second from {MIN_FPS:g} to {MAX_FPS:g} "
            f"(default {DEFAULT_FPS})"
        )
    return Fraction(float(fps)).limit_denominator(1001)


def _check_format(format: Any) -> str | None:
    if format is None:
        return None
    if not isinstance(format, str) or format.lower().lstrip(".") not in FORMATS:
        raise InvalidMediaError(f"Video format {format!r} is not supported; use one of {', '.join(FORMATS)}")
    return format.lower().lstrip(".")


# -- encoders -----------------------------------------------------------------------------


def _av(purpose: str):
    return require("av", "video", purpose)


def _palette_frame(av, frame: np.ndarray):
    """A pal8 frame: exact when the frame has at most 256 colours, else an octree palette."""
    import PIL.Image

    packed = ((frame[..., 0].astype(np.uint32) << 16) | (frame[..., 1].astype(np.uint32) << 8) | frame[..., 2]).ravel()
    # A sample with more than 256 colours settles it without sorting every pixel.
    few = np.unique(packed[:: max(1, packed.size // 4096)]).size <= 256
    if few:
        colours, indices = np.unique(packed, return_inverse=True)
        few = colours.size <= 256
    if few:
        indices = indices.reshape(frame.shape[:2]).astype(np.uint8)
        rgb = np.stack([(colours >> 16) & 255, (colours >> 8) & 255, colours & 255], axis=-1).astype(np.uint8)
    else:
        quantized = PIL.Image.fromarray(frame).quantize(256, method=PIL.Image.Quantize.FASTOCTREE, dither=PIL.Image.Dither.NONE)
        indices = np.asarray(quantized)
        rgb = np.asarray(quantized.getpalette(), dtype=np.uint8).reshape(-1, 3)
    palette = np.zeros((256, 4), dtype=np.uint8)  # ARGB, opaque
    palette[:, 0] = 255
    palette[: len(rgb), 1:] = rgb
    return av.VideoFrame.from_ndarray((np.ascontiguousarray(indices), palette), format="pal8")


def _encode(frames: np.ndarray, rate: Fraction, format: str) -> bytes:
    av = _av(f"Encoding {format} video")
    codec, _, codec_options = _ENCODERS[format]
    _, height, width, _ = frames.shape
    with tempfile.TemporaryDirectory(prefix="mediastore-video-") as tmp:
        # A real file, not BytesIO: the mp4 muxer reopens it to move the moov atom to the front.
        path = os.path.join(tmp, f"video.{format}")
        options = {"movflags": "+faststart"} if format == "mp4" else {}
        with av.open(path, "w", format=format, options=options) as container:
            stream = container.add_stream(codec, rate=rate)
            stream.width, stream.height = width, height
            stream.pix_fmt = "pal8" if format == "gif" else "yuv420p"
            stream.options = dict(codec_options)
            for frame in frames:
                if format == "gif":
                    video_frame = _palette_frame(av, frame)
                else:
                    video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
                container.mux(stream.encode(video_frame))
            container.mux(stream.encode(None))
        with open(path, "rb") as fh:
            return fh.read()


# -- reading files ------------------------------------------------------------------------


def _demuxer_format(name: str) -> str | None:
    """Our format name for an FFmpeg demuxer name such as ``"mov,mp4,m4a,3gp,3g2,mj2"``."""
    names = name.split(",")
    for format, demuxer in _DEMUXERS.items():
        if demuxer in names:
            return format
    return None


def _probe(data: bytes, what: str) -> dict[str, Any]:
    """Format, codec, frame count, frame rate and size of a video file's bytes."""
    av = _av("Reading a video file")
    try:
        with av.open(io.BytesIO(data), "r") as container:
            if not container.streams.video:
                raise InvalidMediaError(f"{what} has no video stream; log it with ms.Audio if it is sound")
            stream = container.streams.video[0]
            format = _demuxer_format(container.format.name)
            info = {
                "format": format,
                "demuxer": container.format.name,
                "codec": stream.codec_context.name,
                "width": stream.codec_context.width,
                "height": stream.codec_context.height,
            }
            # Count packets rather than decode: in these formats one packet is one shown frame.
            frames, duration = 0, 0
            for packet in container.demux(stream):
                if packet.size:
                    frames += 1
                    duration += packet.duration or 0
            if format == "mp4" and stream.frames > 0:
                frames = stream.frames  # the sample table's count
            rate = stream.average_rate or stream.guessed_rate
            if format == "gif" and duration:
                # GIF delays vary from frame to frame to keep the average; FFmpeg's rate is the first one's.
                rate = Fraction(frames) / (duration * stream.time_base)
    except av.error.FFmpegError as exc:
        raise InvalidMediaError(f"{what} is not a video FFmpeg can read ({exc.strerror or exc}); check the file") from None
    if frames == 0:
        raise InvalidMediaError(f"{what} has a video stream without frames; check the file")
    info.update(frames=frames, fps=float(rate) if rate else None)
    return info


@register
class Video(Media):
    """A video to log: a numpy array encoded as gif, mp4, webm or ogg, or a video file.

    Parameters
    ----------
    data_or_path : numpy.ndarray, torch.Tensor, str, os.PathLike or io.BytesIO
        Frames as a ``(time, channels, height, width)`` array or tensor, or ``(batch, time, channels,
        height, width)`` tiled into a grid (``ceil(sqrt(batch))`` columns); channels 1, 3 or 4
        (alpha is dropped); dtype rule as ``ms.Image`` (see the module doc). Or the path of a
        gif, mp4, webm or ogg file, or a ``BytesIO`` holding one: stored byte for byte.
    caption : str, optional
        Shown with the video; stored in the ``caption`` column.
    fps : float, optional
        Frames per second of an encoded array, from 0.001 to 1000 (at most 50 for gif).
        Default 4, the reference page's. A file keeps its own rate: a different ``fps`` warns.
    format : {"gif", "mp4", "webm", "ogg"}, optional
        Encoding of an array. Default ``"gif"`` (the reference page's; plays everywhere and is
        exact for frames of at most 256 colours). For a file or ``BytesIO`` the format comes
        from the content; a different ``format`` warns and is ignored. ``"mp4"`` (H.264) and ``"webm"``
        (VP9) play in every browser; ``"ogg"`` (VP8 in Ogg) only in Chromium-based ones.

    Raises
    ------
    InvalidMediaError
        Bad shape, values, fps or format; a file that is not a video of the four formats.
    InvalidMediaTypeError
        ``data_or_path`` or ``caption`` of the wrong type.
    MediaFileNotFoundError
        The path does not exist.
    MissingDependencyError
        PyAV is not installed: ``pip install "mediastore[video]"``.

    Examples
    --------
    >>> frames = np.random.randint(0, 256, (8, 3, 32, 32), dtype=np.uint8)  # time, channels, H, W
    >>> run.log({"video": ms.Video(frames, fps=4, format="gif")})
    >>> run.log({"example": ms.Video("myvideo.mp4")})
    >>> store.decode(row).to_numpy().shape  # the decoded frames
    (8, 3, 32, 32)
    """

    kind = "videos"

    def __init__(
        self,
        data_or_path: Any,
        caption: str | None = None,
        fps: float | None = None,
        format: VideoFormat | None = None,
    ):
        self.caption = check_caption(caption)
        format = _check_format(format)
        self._frames: np.ndarray | None = None
        self._file: bytes | None = None
        if is_pathlike(data_or_path):
            path = os.fspath(data_or_path)
            extension = os.path.splitext(path)[1].lower()
            if extension not in _EXTENSIONS:
                raise InvalidMediaError(
                    f"Video file {path!r} has extension {extension or '(none)'!r}; use a "
                    f"{', '.join(sorted(_EXTENSIONS))} file, or convert it (e.g. ffmpeg -i in.avi out.mp4)"
                )
            self._from_file(read_path(path, "Video file"), f"Video file {path!r}", _EXTENSIONS[extension], format, fps)
        elif isinstance(data_or_path, io.IOBase) or hasattr(data_or_path, "read"):
            data = data_or_path.getvalue() if isinstance(data_or_path, io.BytesIO) else data_or_path.read()
            if not isinstance(data, bytes):
                raise InvalidMediaTypeError(f"Video file object gave {type(data).__name__}; open it in binary mode ('rb')")
            self._from_file(data, "Video file object", None, format, fps)
        else:
            array = as_array(data_or_path)
            if array is None:
                raise InvalidMediaTypeError(
                    f"Video takes a numpy array, a file path or a BytesIO, got {type(data_or_path).__name__}"
                )
            self._from_array(array, format or "gif", DEFAULT_FPS if fps is None else fps)

    def _from_array(self, array: np.ndarray, format: str, fps: Any) -> None:
        rate = _check_fps(fps)
        if format == "gif" and rate > MAX_GIF_FPS:
            raise InvalidMediaError(
                f"Video fps {fps!r} is too high for gif: GIF delays are whole 1/100 s and browsers slow frames "
                f"shorter than 2/100 s, so gif plays at most {MAX_GIF_FPS} fps — lower fps, or use format='mp4'"
            )
        _av(f"Encoding {format} video")  # a missing encoder fails here, at the call
        frames = _frames_from_array(array)
        if format == "mp4":
            frames = _pad_even(frames)
        self._frames = frames
        self._rate = rate
        self.format = format
        self.fps = float(rate)
        self.frames, self.height, self.width = (int(n) for n in frames.shape[:3])
        self.codec = _ENCODERS[format][1]

    def _from_file(self, data: bytes, what: str, claimed: str | None, format: str | None, fps: Any) -> None:
        if not data:
            raise InvalidMediaError(f"{what} is empty; a video file needs its bytes")
        info = _probe(data, what)
        found = info["format"]
        if found is None:
            raise InvalidMediaError(
                f"{what} holds a {info['demuxer']} video; use gif, mp4, webm or ogg — convert it (e.g. ffmpeg -i in out.mp4)"
            )
        if claimed is not None and claimed != found:
            raise InvalidMediaError(
                f"{what} holds {found} video but its extension says {claimed}; a file is stored as it is — "
                "rename it (or convert it)"
            )
        if format is not None and format != found:
            warnings.warn(
                f"format={format!r} is ignored for {what}: a file is stored as it is, in its own format ({found}), "
                "which the format column reports; convert the file to change it",
                IgnoredArgumentWarning,
                stacklevel=3,
            )
        if fps is not None and info["fps"] and abs(float(_check_fps(fps)) - info["fps"]) > 0.01 * info["fps"]:
            warnings.warn(
                f"fps={fps!r} is ignored for {what}: a file keeps its own frame rate ({info['fps']:g} fps), "
                "which the fps column reports; re-encode the file to change it",
                IgnoredArgumentWarning,
                stacklevel=3,
            )
        self._file = data
        self.format = found
        self.codec = info["codec"]
        self.fps = info["fps"]
        self.frames, self.width, self.height = info["frames"], info["width"], info["height"]

    # -- engine contract -------------------------------------------------------------------
    def _stored_bytes(self) -> bytes:
        """The file as stored: the given file, or the frames encoded in ``format``."""
        return self._file if self._file is not None else _encode(self._frames, self._rate, self.format)

    def _encode(self, location) -> dict[str, Any]:
        return {
            "blob": location.put_blob(self._stored_bytes(), _MIME[self.format]),
            "format": self.format,
            "codec": self.codec,
            "fps": self.fps,
            "frames": self.frames,
            "width": self.width,
            "height": self.height,
            "caption": self.caption,
        }

    @classmethod
    def _from_row(cls, row: Mapping[str, Any], location) -> "Video":
        self = cls.__new__(cls)
        self._file = location.get_blob(row["blob"])
        self._frames = None
        caption, codec = row.get("caption"), row.get("codec")
        self.caption = caption if isinstance(caption, str) else None  # pandas gives NaN for NULL
        self.format = row["format"]
        self.codec = codec if isinstance(codec, str) else None
        fps = row.get("fps")
        self.fps = None if fps is None or (isinstance(fps, float) and math.isnan(fps)) else float(fps)
        self.frames, self.width, self.height = (int(row[c]) for c in ("frames", "width", "height"))
        return self

    def _summary(self) -> dict[str, Any]:
        return {"_kind": self.kind, "format": self.format, "frames": self.frames, "width": self.width, "height": self.height}

    # -- the data back ---------------------------------------------------------------------
    @property
    def file_bytes(self) -> bytes | None:
        """The stored file's bytes: for a video logged from a file, or read back from a store."""
        return self._file

    def to_numpy(self, *, channels_last: bool = False) -> np.ndarray:
        """The frames as a uint8 RGB array, ``(time, 3, height, width)``.

        Parameters
        ----------
        channels_last : bool
            Return ``(time, height, width, 3)`` instead (what PIL and matplotlib take).
            Default False: the layout ``ms.Video`` takes.

        Returns
        -------
        numpy.ndarray
            For a video read from a store or a file: the decoded frames (PyAV), so lossy
            formats give values near, not equal to, the logged ones. For a video made from an
            array and not yet stored: the frames as they will be encoded (tiled, RGB, uint8).
        """
        if self._frames is not None:
            frames = self._frames.copy()
        else:
            av = _av("Decoding a video")
            with av.open(io.BytesIO(self._file), "r") as container:
                frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
        return frames if channels_last else frames.transpose(0, 3, 1, 2)

    # -- Jupyter display ---------------------------------------------------------------------
    def _repr_html_(self) -> str:
        """The browser's player over the stored bytes (a data URI; a GIF as an image, which
        ``<video>`` does not play), the caption and a summary."""
        mime = _MIME[self.format]
        player = _display.embedded_bytes(self._stored_bytes(), mime, "img" if mime.startswith("image/") else "video", "video")
        fields = {"format": self.format, "codec": self.codec, "frames": self.frames, "size": f"{self.width}x{self.height}", "fps": self.fps}
        return _display.figure(player + _display.summary_line("video", fields), self.caption, css_class="ms-video")

    def __repr__(self) -> str:
        extra = f", caption={self.caption!r}" if self.caption else ""
        fps = f" {self.fps:g} fps" if self.fps else ""
        return f"ms.Video({self.frames} frames {self.width}x{self.height}{fps} {self.format}{extra})"
