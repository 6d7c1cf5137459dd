"""``ms.Audio``: sample arrays stored losslessly (float64 as float32), and audio files kept byte for byte.

Rules (one set, documented in the README):

- An array is ``(samples,)`` (mono) or ``(samples, channels)``, with ``sample_rate`` (Hz, an
  integer from 1 to 2**31 - 1) required. Samples are stored in a file that both Chromium and
  Firefox play (checked in Chromium 156 and Firefox 153), exactly except float64, by dtype:

  =================================  ========================================================
  ``float32``, ``float16``           WAV, 32-bit float: exact
  ``float64``                        WAV, 32-bit float: equal to ``samples.astype(float32)``
                                     (exact when the values fit float32, else rounded to
                                     24 significant bits, about -144 dB). Chromium plays no
                                     64-bit float WAV.
  ``int16``                          FLAC, 16-bit: exact (16-bit WAV above FLAC's 655,350 Hz
                                     or 8 channels)
  ``int32``                          WAV, 32-bit PCM: exact
  other integers                     values must lie in int16's range; stored as int16
  =================================  ========================================================

  Floats must be finite; they are not clipped (a float WAV holds values beyond [-1, 1], which
  players clip). ``to_numpy()`` gives the stored samples back bit for bit, as float32, int16
  or int32; a mono clip comes back as ``(samples,)`` also when logged as ``(samples, 1)``.
- A file (wav, flac, ogg or mp3) is stored byte for byte; its format comes from its content,
  and its sample rate, length and channels are read from it. A ``sample_rate`` that disagrees
  with the file's warns (``IgnoredArgumentWarning``) and the file's own rate is kept: W&B
  code passes one anyway, and resampling would change the bytes stored.
- At most ``Audio.MAX_PER_STEP`` (100, the reference page's limit) clips per step.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Mapping
from typing import Any

from .._lazy import np
from .._deps import require
from ..errors import IgnoredArgumentWarning, InvalidMediaError, InvalidMediaTypeError
from . import _display
from .base import Media, as_array, check_caption, is_number, is_pathlike, read_path, register, require_finite

__all__ = ["Audio"]

MAX_SAMPLE_RATE = 2**31 - 1  # the sample_rate column is int32
FLAC_MAX_SAMPLE_RATE = 655_350  # libsndfile refuses higher rates for FLAC
FLAC_MAX_CHANNELS = 8

# (container, libsndfile subtype) per stored dtype; all exact. No 64-bit float: Chromium 156
# does not play it (measured), so float64 samples are stored as float32.
_STORAGE = {
    "float32": ("WAV", "FLOAT"),
    "int16": ("FLAC", "PCM_16"),
    "int32": ("WAV", "PCM_32"),
}
# libsndfile's format name -> ours, for files given by path.
_FILE_FORMATS = {"WAV": "wav", "WAVEX": "wav", "FLAC": "flac", "OGG": "ogg", "MP3": "mp3"}
_MIME = {"wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg", "mp3": "audio/mpeg"}
# The dtype to_numpy gives back for each stored subtype: the logged one for arrays.
_SUBTYPE_DTYPES = {"FLOAT": "float32", "DOUBLE": "float64", "PCM_16": "int16", "PCM_32": "int32"}


def _soundfile(purpose: str):
    return require("soundfile", "audio", purpose)


def _storable(array: np.ndarray) -> np.ndarray:
    """The samples as one of the three stored dtypes (float64 rounds to float32); a private copy."""
    kind = array.dtype.kind
    if kind == "f":
        require_finite(array, "Audio", "sample(s)", "samples")
        return np.array(array, dtype=np.float32)
    if kind in "iu":
        if array.dtype in (np.int16, np.int32):
            return np.array(array, copy=True)
        lo, hi = int(array.min()), int(array.max())
        if lo < -32768 or hi > 32767:
            raise InvalidMediaError(
                f"Audio array of dtype {array.dtype} has values from {lo} to {hi}; integer samples other than int32 "
                "must lie in int16's range -32768..32767 — pass .astype(np.int32), or floats in [-1, 1]"
            )
        return array.astype(np.int16)
    raise InvalidMediaTypeError(
        f"Audio array has dtype {array.dtype}; samples are floats or integers — convert with .astype(np.float32)"
    )


def _check_shape(shape: tuple[int, ...]) -> None:
    if len(shape) not in (1, 2):
        raise InvalidMediaError(
            f"Audio array has shape {shape}; expected (samples,) for mono or (samples, channels) — "
            "log several clips as a list of ms.Audio"
        )
    if shape[0] == 0 or (len(shape) == 2 and shape[1] == 0):
        raise InvalidMediaError(f"Audio array has shape {shape}; a clip needs at least one sample and one channel")
    if len(shape) == 2 and shape[1] > shape[0]:
        raise InvalidMediaError(
            f"Audio array has shape {shape}: more channels ({shape[1]}) than samples ({shape[0]}); expected "
            "(samples, channels) — for a (channels, samples) array pass array.T"
        )


def _check_sample_rate(sample_rate: Any) -> int:
    if isinstance(sample_rate, (float, np.floating)) and float(sample_rate).is_integer():
        sample_rate = int(sample_rate)
    if not is_number(sample_rate) or not isinstance(sample_rate, (int, np.integer)) or not 1 <= sample_rate <= MAX_SAMPLE_RATE:
        raise InvalidMediaError(
            f"Audio sample_rate is {sample_rate!r}; it must be a whole number of samples per second from 1 to "
            f"{MAX_SAMPLE_RATE} (e.g. sample_rate=16000)"
        )
    return int(sample_rate)


def _storage(samples: np.ndarray, sample_rate: int) -> tuple[str, str]:
    container, subtype = _STORAGE[samples.dtype.name]
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    if container == "FLAC" and (sample_rate > FLAC_MAX_SAMPLE_RATE or channels > FLAC_MAX_CHANNELS):
        container = "WAV"  # same samples, exact too; FLAC cannot hold this rate or channel count
    return container, subtype


@register
class Audio(Media):
    """An audio clip to log: a sample array, stored losslessly, or an audio file.

    Parameters
    ----------
    data_or_path : numpy.ndarray, str or os.PathLike
        Samples as ``(samples,)`` (mono) or ``(samples, channels)``: floats go to a 32-bit
        float WAV (float64 rounded to float32), int16 to FLAC, int32 to a 32-bit WAV, exact
        otherwise (see the module doc). Or the path of a wav, flac, ogg or mp3 file, stored
        byte for byte.
    sample_rate : int
        Samples per second, from 1 to 2**31 - 1. Required for an array: samples carry no rate.
        For a file it is read from the file; a different value warns and is ignored.
    caption : str, optional
        Shown with the clip; stored in the ``caption`` column.

    Raises
    ------
    InvalidMediaError
        Bad shape, values or sample rate, a missing ``sample_rate``, or a file that is not
        wav, flac, ogg or mp3.
    InvalidMediaTypeError
        ``data_or_path`` or ``caption`` of the wrong type.
    MediaFileNotFoundError
        The path does not exist.
    MissingDependencyError
        soundfile is not installed: ``pip install "mediastore[audio]"``.

    Notes
    -----
    ``run.log`` refuses more than ``Audio.MAX_PER_STEP`` (100) clips at one step, the reference
    page's limit; set the class attribute to allow more.

    Examples
    --------
    >>> np_array = np.sin(np.linspace(0, 100, 320)).astype(np.float32)
    >>> run.log({"whale songs": ms.Audio(np_array, caption="OooOoo", sample_rate=32)})
    >>> run.log({"speech": ms.Audio("speech.flac")})
    >>> store.decode(row).to_numpy()  # the stored samples, bit for bit
    """

    kind = "audio"
    MAX_PER_STEP = 100
    per_step_reason = "the reference page logs at most 100 audio clips per step"

    def __init__(self, data_or_path: Any, sample_rate: int | None = None, caption: str | None = None):
        self.caption = check_caption(caption)
        sf = _soundfile("Logging audio")
        self._samples: np.ndarray | None = None
        self._file: bytes | None = None
        if is_pathlike(data_or_path):
            path = os.fspath(data_or_path)
            self._from_file(sf, read_path(path, "Audio file"), f"Audio file {path!r}", sample_rate)
            return
        array = as_array(data_or_path)
        if array is None:
            raise InvalidMediaTypeError(f"Audio takes a numpy array or a file path, got {type(data_or_path).__name__}")
        if sample_rate is None:
            raise InvalidMediaError(
                f"Audio from an array of shape {array.shape} needs sample_rate: samples carry no rate — "
                "pass it, e.g. ms.Audio(samples, sample_rate=16000)"
            )
        self.sample_rate = _check_sample_rate(sample_rate)
        _check_shape(array.shape)
        samples = _storable(array)
        if samples.ndim == 2 and samples.shape[1] == 1:
            samples = samples[:, 0]
        self._samples = samples
        container, self.subtype = _storage(samples, self.sample_rate)
        self.format = container.lower()
        self.num_samples = int(samples.shape[0])
        self.channels = 1 if samples.ndim == 1 else int(samples.shape[1])

    def _from_file(self, sf, data: bytes, what: str, sample_rate: Any) -> None:
        try:
            info = sf.info(io.BytesIO(data))
        except (RuntimeError, TypeError) as exc:  # soundfile.LibsndfileError is a RuntimeError
            raise InvalidMediaError(f"{what} is not audio libsndfile can read ({exc}); use a wav, flac, ogg or mp3 file") from None
        format = _FILE_FORMATS.get(info.format)
        if format is None:
            raise InvalidMediaError(
                f"{what} holds {info.format} audio; use a wav, flac, ogg or mp3 file — convert it (e.g. with soundfile or ffmpeg)"
            )
        if sample_rate is not None and _check_sample_rate(sample_rate) != info.samplerate:
            warnings.warn(
                f"sample_rate={sample_rate!r} is ignored for {what}: a file keeps its own sample rate "
                f"({info.samplerate} Hz), which the sample_rate column reports; resample the file to change it",
                IgnoredArgumentWarning,
                stacklevel=3,
            )
        self._file = data
        self.format = format
        self.subtype = info.subtype
        self.sample_rate = int(info.samplerate)
        self.num_samples = int(info.frames)
        self.channels = int(info.channels)

    @property
    def duration_s(self) -> float:
        """Length in seconds: ``num_samples / sample_rate``."""
        return self.num_samples / self.sample_rate

    # -- engine contract -------------------------------------------------------------------
    def _stored_bytes(self) -> bytes:
        """The file as stored: the given file, or the samples encoded (lossless, see the module doc)."""
        if self._file is not None:
            return self._file
        sf = _soundfile("Encoding audio")
        buf = io.BytesIO()
        sf.write(buf, self._samples, self.sample_rate, format=self.format.upper(), subtype=self.subtype)
        return buf.getvalue()

    def _encode(self, location) -> dict[str, Any]:
        return {
            "blob": location.put_blob(self._stored_bytes(), _MIME[self.format]),
            "format": self.format,
            "subtype": self.subtype,
            "sample_rate": self.sample_rate,
            "num_samples": self.num_samples,
            "channels": self.channels,
            "duration_s": self.duration_s,
            "caption": self.caption,
        }

    @classmethod
    def _from_row(cls, row: Mapping[str, Any], location) -> "Audio":
        self = cls.__new__(cls)
        self._file = location.get_blob(row["blob"])
        self._samples = None
        caption = row.get("caption")
        self.caption = caption if isinstance(caption, str) else None  # pandas gives NaN for NULL
        self.format = row["format"]
        subtype = row.get("subtype")
        self.subtype = subtype if isinstance(subtype, str) else None
        self.sample_rate, self.num_samples, self.channels = (int(row[c]) for c in ("sample_rate", "num_samples", "channels"))
        return self

    def _summary(self) -> dict[str, Any]:
        return {"_kind": self.kind, "format": self.format, "sample_rate": self.sample_rate, "duration_s": self.duration_s}

    # -- the data back ---------------------------------------------------------------------
    @property
    def file_bytes(self) -> bytes | None:
        """The stored file's bytes: for a clip logged from a file, or read back from a store."""
        return self._file

    def to_numpy(self, dtype: str | None = None) -> np.ndarray:
        """The samples: ``(samples,)`` for mono, ``(samples, channels)`` otherwise.

        Parameters
        ----------
        dtype : {"float32", "float64", "int16", "int32"}, optional
            Default: the stored dtype (float32 / float64 / int16 / int32 for 32-bit float /
            64-bit float / 16-bit / 32-bit PCM, which gives a logged array back bit for bit);
            float32 in [-1, 1] for other encodings (mp3, Vorbis, 24-bit, ...). Another dtype
            converts as libsndfile does (full-scale integers are floats in [-1, 1]).

        Returns
        -------
        numpy.ndarray
        """
        if dtype is None:
            dtype = _SUBTYPE_DTYPES.get(self.subtype or "", "float32")
        if self._samples is not None and dtype == str(self._samples.dtype):
            return self._samples.copy()
        sf = _soundfile("Decoding audio")
        # Not stored yet: go through the same encoding.
        samples, _ = sf.read(io.BytesIO(self._stored_bytes()), dtype=dtype, always_2d=False)
        return samples

    # -- Jupyter display ---------------------------------------------------------------------
    def _repr_html_(self) -> str:
        """The browser's player over the stored bytes (a data URI), the caption and a summary."""
        player = _display.embedded_bytes(self._stored_bytes(), _MIME[self.format], "audio", "audio")
        fields = {"format": self.format, "sample rate": self.sample_rate, "channels": self.channels, "seconds": f"{self.duration_s:.2f}"}
        return _display.figure(player + _display.summary_line("audio", fields), self.caption, css_class="ms-audio")

    def __repr__(self) -> str:
        extra = f", caption={self.caption!r}" if self.caption else ""
        return (
            f"ms.Audio({self.num_samples} samples x {self.channels} ch at {self.sample_rate} Hz, "
            f"{self.duration_s:.3g} s {self.format}{extra})"
        )
