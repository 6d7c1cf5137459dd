"""ms.Audio: arrays stored exactly, files byte for byte, the per-step limit, and every documented error.

Every stored clip is checked by reading its bytes with soundfile, independently of ms.Audio.
Round trips run on every storage backend (``store_uri``); tests of a rule's details use a local
store only, as the backends are already covered.
"""

from __future__ import annotations

import hashlib
import io
import sys

import numpy as np
import pytest

import mediastore as ms

sf = pytest.importorskip("soundfile", reason='ms.Audio needs soundfile: pip install "mediastore[audio]"')

MIME = {"wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg", "mp3": "audio/mpeg"}
RNG = np.random.default_rng(7)


def log_and_decode(uri, *clips, key="clip"):
    """Log clips under one key, read the rows back through SQL, decode each row."""
    with ms.init(project="p", store=uri) as run:
        run.log({key: list(clips)})
    store = ms.open(uri)
    rows = store.sql("SELECT * FROM audio ORDER BY ALL").df()
    assert rows["idx"].tolist() == list(range(len(clips)))
    return store, rows, [store.decode(row) for _, row in rows.iterrows()]


def read_row_file(store, row):
    """The stored bytes as soundfile reads them, checked against the row's columns."""
    data = store.location.get_blob(row["blob"])
    info = sf.info(io.BytesIO(data))
    assert (info.samplerate, info.frames, info.channels) == (row["sample_rate"], row["num_samples"], row["channels"])
    assert info.subtype == row["subtype"]
    assert row["duration_s"] == pytest.approx(info.frames / info.samplerate)
    assert row["blob"]["mime"] == MIME[row["format"]]
    return data, info


# -- arrays -------------------------------------------------------------------------------

SIGNALS = {
    "float32 mono": (RNG.uniform(-1, 1, 1000).astype(np.float32), "wav", "FLOAT"),
    "float64 stereo": (RNG.uniform(-1, 1, (1000, 2)), "wav", "FLOAT"),
    "float32 beyond [-1, 1]": (np.array([-3.5, 0.0, 2.25, 1e-30], dtype=np.float32), "wav", "FLOAT"),
    "int16 mono": (RNG.integers(-32768, 32767, 1000, endpoint=True).astype(np.int16), "flac", "PCM_16"),
    "int16 5.1": (RNG.integers(-32768, 32767, (500, 6), endpoint=True).astype(np.int16), "flac", "PCM_16"),
    "int32 stereo": (RNG.integers(-(2**31), 2**31 - 1, (500, 2), endpoint=True).astype(np.int32), "wav", "PCM_32"),
}


def stored(samples):
    """What the documented rule stores: float64 as float32, everything else as given."""
    return samples.astype(np.float32) if samples.dtype == np.float64 else samples


@pytest.mark.parametrize("name", sorted(SIGNALS))
def test_arrays_come_back_as_stored_bit_for_bit(store_uri, name):
    samples, format, subtype = SIGNALS[name]
    store, rows, (clip,) = log_and_decode(store_uri, ms.Audio(samples, sample_rate=8000, caption=name))
    row = rows.iloc[0]
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    assert [row[c] for c in ("format", "subtype", "sample_rate", "num_samples", "channels", "caption")] == [
        format, subtype, 8000, samples.shape[0], channels, name
    ]  # fmt: skip
    assert row["duration_s"] == pytest.approx(samples.shape[0] / 8000)
    data, _ = read_row_file(store, row)
    assert clip.file_bytes == data
    back = clip.to_numpy()
    assert back.dtype == stored(samples).dtype
    np.testing.assert_array_equal(back, stored(samples))
    independent, rate = sf.read(io.BytesIO(data), dtype=str(back.dtype))
    np.testing.assert_array_equal(independent, stored(samples))


def test_float64_is_float32_rounded(local_store):
    fits = np.array([0.5, -0.25, 1 / 1024, 3.0])  # exactly representable in float32
    rounds = np.array([0.1, 1 / 3, -2 / 7])
    _, _, (a, b) = log_and_decode(local_store, ms.Audio(fits, sample_rate=8), ms.Audio(rounds, sample_rate=8))
    np.testing.assert_array_equal(a.to_numpy().astype(np.float64), fits)  # exact
    assert b.to_numpy().dtype == np.float32
    np.testing.assert_allclose(b.to_numpy(), rounds, rtol=2**-24, atol=0)  # float32 rounding, ~-144 dB


@pytest.mark.parametrize(
    ("samples", "stored_dtype"),
    [
        (np.array([0, 1, -2, 32767, -32768], dtype=np.int64), np.int16),  # any integer dtype within int16's range
        (np.array([0, 200, 255], dtype=np.uint8), np.int16),
        (np.array([0.5, -0.25, 1e-4], dtype=np.float16), np.float32),  # float16 -> float32 is exact
        ([0.5, -0.25, 0.125], np.float32),  # nested lists are arrays (float64, fits float32)
    ],
)
def test_other_dtypes_keep_their_values(local_store, samples, stored_dtype):
    _, _, (clip,) = log_and_decode(local_store, ms.Audio(samples, sample_rate=100))
    back = clip.to_numpy()
    assert back.dtype == stored_dtype
    np.testing.assert_array_equal(back, np.asarray(samples).astype(stored_dtype))


def test_a_one_channel_column_is_mono(local_store):
    samples = RNG.uniform(-1, 1, (300, 1)).astype(np.float32)
    _, rows, (clip,) = log_and_decode(local_store, ms.Audio(samples, sample_rate=300))
    assert rows.loc[0, "channels"] == 1
    np.testing.assert_array_equal(clip.to_numpy(), samples[:, 0])


@pytest.mark.parametrize(("sample_rate", "channels"), [(700_000, 1), (8000, 9)])
def test_int16_beyond_flac_goes_to_wav(local_store, sample_rate, channels):
    samples = RNG.integers(-1000, 1000, (100, channels)).astype(np.int16).squeeze()
    store, rows, (clip,) = log_and_decode(local_store, ms.Audio(samples, sample_rate=sample_rate))
    assert rows.loc[0, ["format", "subtype", "sample_rate", "channels"]].tolist() == ["wav", "PCM_16", sample_rate, channels]
    read_row_file(store, rows.iloc[0])
    np.testing.assert_array_equal(clip.to_numpy(), samples)


def test_seed_example(store_uri):
    """The reference page's audio example, with ms in place of wandb."""
    np_array = np.sin(np.linspace(0, 60, 320)).astype(np.float32)
    with ms.init(project="p", store=store_uri) as run:
        run.log({"whale songs": ms.Audio(np_array, caption="OooOoo", sample_rate=32)})
    store = ms.open(store_uri)
    rows = store.sql("SELECT * FROM audio").df()
    assert rows.loc[0, ["key", "caption", "sample_rate", "num_samples", "duration_s"]].tolist() == ["whale songs", "OooOoo", 32, 320, 10.0]
    np.testing.assert_array_equal(store.decode(rows.iloc[0]).to_numpy(), np_array)


def test_integral_float_sample_rate_is_accepted():
    assert ms.Audio(np.zeros(10, np.float32), sample_rate=16000.0).sample_rate == 16000
    assert ms.Audio(np.zeros(10, np.float32), sample_rate=np.int64(22050)).sample_rate == 22050


def test_to_numpy_in_another_dtype(local_store):
    samples = np.array([0, 16384, -32768], dtype=np.int16)
    _, _, (clip,) = log_and_decode(local_store, ms.Audio(samples, sample_rate=10))
    np.testing.assert_array_equal(clip.to_numpy("float32"), np.array([0, 0.5, -1], dtype=np.float32))


def test_array_is_copied_at_construction(local_store):
    samples = RNG.uniform(-1, 1, 200).astype(np.float32)
    want = samples.copy()
    clip = ms.Audio(samples, sample_rate=200)
    samples[:] = 0  # changed after the call, before the encoder runs
    _, _, (back,) = log_and_decode(local_store, clip)
    np.testing.assert_array_equal(back.to_numpy(), want)


def test_list_of_clips_under_one_key_and_sql(store_uri):
    clips = [ms.Audio(SIGNALS[name][0], sample_rate=8000 * (i + 1), caption=name) for i, name in enumerate(sorted(SIGNALS))]
    store, rows, decoded = log_and_decode(store_uri, *clips, key="many")
    assert rows["caption"].tolist() == sorted(SIGNALS)
    for (_, row), clip, name in zip(rows.iterrows(), decoded, sorted(SIGNALS)):
        read_row_file(store, row)
        np.testing.assert_array_equal(clip.to_numpy(), stored(SIGNALS[name][0]))
    long = store.sql("SELECT caption FROM audio WHERE channels > 1 AND duration_s >= 0.03 ORDER BY ALL").fetchall()
    assert long == [("float64 stereo",)]


def test_decode_a_row_of_the_media_view(store_uri):
    samples = RNG.uniform(-1, 1, 50).astype(np.float32)
    log_and_decode(store_uri, ms.Audio(samples, sample_rate=50, caption="x"))
    store = ms.open(store_uri)
    row = store.sql("SELECT * FROM media WHERE kind = 'audio'").df().iloc[0]
    clip = store.decode(row)
    assert clip.caption == "x" and clip.sample_rate == 50
    np.testing.assert_array_equal(clip.to_numpy(), samples)


# -- files --------------------------------------------------------------------------------

FILES = [
    # (extension, soundfile format, subtype, format column, to_numpy dtype)
    ("wav", "WAV", "PCM_16", "wav", np.int16),
    ("wav", "WAV", "PCM_24", "wav", np.float32),
    ("flac", "FLAC", "PCM_16", "flac", np.int16),
    ("ogg", "OGG", "VORBIS", "ogg", np.float32),
    ("mp3", "MP3", "MPEG_LAYER_III", "mp3", np.float32),
]


@pytest.mark.parametrize(("ext", "sf_format", "subtype", "format", "dtype"), FILES)
def test_files_are_stored_byte_for_byte(store_uri, tmp_path, ext, sf_format, subtype, format, dtype):
    path = tmp_path / f"clip.{ext}"
    tone = 0.5 * np.sin(np.arange(22050 * 2) * 2 * np.pi * 440 / 22050).reshape(-1, 2)
    sf.write(path, tone, 22050, format=sf_format, subtype=subtype)
    data = path.read_bytes()
    info = sf.info(path)
    store, rows, (clip, _) = log_and_decode(store_uri, ms.Audio(path, caption="file"), ms.Audio(str(path), sample_rate=22050))
    for _, row in rows.iterrows():
        assert [row[c] for c in ("format", "subtype", "sample_rate", "num_samples", "channels")] == [
            format, subtype, 22050, info.frames, 2
        ]  # fmt: skip
        assert row["duration_s"] == pytest.approx(info.frames / 22050)
        assert row["blob"]["sha256"] == hashlib.sha256(data).hexdigest()
        read_row_file(store, row)
    assert clip.file_bytes == data and clip.caption == "file"
    back = clip.to_numpy()
    assert back.dtype == dtype and back.shape == (info.frames, 2)
    if format in ("wav", "flac") and dtype == np.int16:  # lossless 16-bit: the file's samples exactly
        np.testing.assert_array_equal(back, sf.read(path, dtype="int16")[0])


# -- the per-step limit -------------------------------------------------------------------


def tiny_clips(n):
    return [ms.Audio(np.full(4, i, dtype=np.int16), sample_rate=8) for i in range(n)]


def test_101_clips_in_one_step_are_refused_and_nothing_is_stored(store_uri):
    assert ms.Audio.MAX_PER_STEP == 100
    assert issubclass(ms.InvalidLogValueError, ValueError) and not issubclass(ms.InvalidLogValueError, TypeError)
    with ms.init(project="p", store=store_uri) as run:
        with pytest.raises(ms.InvalidLogValueError, match=r"101 audio items at one step .* the limit is ms.Audio.MAX_PER_STEP = 100 \(the reference page logs at most 100 audio clips per step\) — log fewer per step, or raise it: ms.Audio.MAX_PER_STEP = 101. Nothing from this call was stored"):
            run.log({"clips": tiny_clips(101), "loss": 0.5})
        run.log({"clips": tiny_clips(100)})  # the limit itself is fine
        run.log({"more": tiny_clips(60)}, commit=False)
        with pytest.raises(ms.InvalidLogValueError, match=r"120 audio items at one step .*the limit is ms.Audio.MAX_PER_STEP = 100 "):
            run.log({"others": tiny_clips(60)})  # the same step holds 60 already
    store = ms.open(store_uri)
    assert store.sql("SELECT key, step, count(*) FROM audio GROUP BY ALL ORDER BY ALL").fetchall() == [("clips", 0, 100), ("more", 1, 60)]
    assert store.sql("SELECT count(*) FROM scalars").fetchall() == [(0,)]


def test_raising_max_per_step_allows_more(local_store, monkeypatch):
    monkeypatch.setattr(ms.Audio, "MAX_PER_STEP", 150)  # restored after the test
    with ms.init(project="p", store=local_store) as run:
        run.log({"clips": tiny_clips(150)})
    assert ms.open(local_store).sql("SELECT count(*), max(idx) FROM audio").fetchall() == [(150, 149)]


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "kwargs", "error", "message"),
    [
        (np.zeros(100, np.float32), {}, ms.InvalidMediaError,
         r"Audio from an array of shape \(100,\) needs sample_rate: samples carry no rate — pass it, e.g. ms.Audio\(samples, sample_rate=16000\)"),
        (np.zeros(100, np.float32), {"sample_rate": 0}, ms.InvalidMediaError,
         r"Audio sample_rate is 0; it must be a whole number of samples per second from 1 to 2147483647"),
        (np.zeros(100, np.float32), {"sample_rate": -8000}, ms.InvalidMediaError, r"sample_rate is -8000"),
        (np.zeros(100, np.float32), {"sample_rate": 44100.5}, ms.InvalidMediaError, r"sample_rate is 44100.5"),
        (np.zeros(100, np.float32), {"sample_rate": "16000"}, ms.InvalidMediaError, r"sample_rate is '16000'"),
        (np.zeros(100, np.float32), {"sample_rate": True}, ms.InvalidMediaError, r"sample_rate is True"),
        (np.zeros(100, np.float32), {"sample_rate": 2**31}, ms.InvalidMediaError, r"sample_rate is 2147483648"),
        (np.zeros((10, 2, 2), np.float32), {"sample_rate": 8}, ms.InvalidMediaError,
         r"shape \(10, 2, 2\); expected \(samples,\) for mono or \(samples, channels\)"),
        (np.zeros((2, 1000), np.float32), {"sample_rate": 8}, ms.InvalidMediaError,
         r"shape \(2, 1000\): more channels \(1000\) than samples \(2\); .* pass array.T"),
        (np.zeros(0, np.float32), {"sample_rate": 8}, ms.InvalidMediaError, r"shape \(0,\); a clip needs at least one sample"),
        (np.array([0.0, np.nan, np.inf]), {"sample_rate": 8}, ms.InvalidMediaError,
         r"2 NaN or infinite sample\(s\) out of 3; samples must be finite — replace them \(np.nan_to_num\)"),
        (np.array([0, 40000], np.int64), {"sample_rate": 8}, ms.InvalidMediaError,
         r"dtype int64 has values from 0 to 40000; .* int16's range -32768..32767 — pass .astype\(np.int32\)"),
        (np.zeros(4, complex), {"sample_rate": 8}, ms.InvalidMediaTypeError, r"dtype complex128; samples are floats or integers"),
        (np.zeros(4, bool), {"sample_rate": 8}, ms.InvalidMediaTypeError, r"dtype bool; samples are floats or integers"),
        ({"samples": 1}, {"sample_rate": 8}, ms.InvalidMediaTypeError, r"Audio takes a numpy array or a file path, got dict"),
        (np.zeros(4, np.float32), {"sample_rate": 8, "caption": 1}, ms.InvalidMediaTypeError, r"caption must be a str or None, got int 1"),
    ],
)  # fmt: skip
def test_bad_arrays_raise_and_store_nothing(store_uri, data, kwargs, error, message):
    with ms.init(project="p", store=store_uri) as run:
        with pytest.raises(error, match=message):
            run.log({"ok": ms.Audio(np.zeros(4, np.float32), sample_rate=8), "bad": ms.Audio(data, **kwargs)})
    assert ms.open(store_uri).sql("SELECT count(*) FROM audio").fetchall() == [(0,)]


def test_missing_file(tmp_path):
    with pytest.raises(ms.MediaFileNotFoundError, match=r"Audio file '.*nope.wav' does not exist or is not a file; check the path"):
        ms.Audio(tmp_path / "nope.wav")


def test_bad_files(tmp_path):
    garbage = tmp_path / "x.wav"
    garbage.write_bytes(b"not audio at all" * 20)
    with pytest.raises(ms.InvalidMediaError, match=r"x.wav' is not audio libsndfile can read \(.*\); use a wav, flac, ogg or mp3 file"):
        ms.Audio(garbage)
    aiff = tmp_path / "x.aiff"
    sf.write(aiff, np.zeros(10, np.float32), 8000, format="AIFF")
    with pytest.raises(ms.InvalidMediaError, match=r"x.aiff' holds AIFF audio; use a wav, flac, ogg or mp3 file — convert it"):
        ms.Audio(aiff)
    wav = tmp_path / "x.wav"
    sf.write(wav, np.zeros(10, np.float32), 8000)
    with pytest.warns(ms.IgnoredArgumentWarning, match=r"sample_rate=16000 is ignored for Audio file .*x.wav': .* own sample rate \(8000 Hz\)"):
        assert ms.Audio(wav, sample_rate=16000).sample_rate == 8000


def test_missing_soundfile_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "soundfile", None)  # makes `import soundfile` fail, as when it is not installed
    with pytest.raises(ms.MissingDependencyError, match=r"needs the optional dependency 'soundfile'.*pip install \"mediastore\[audio\]\""):
        ms.Audio(np.zeros(4, np.float32), sample_rate=8)
