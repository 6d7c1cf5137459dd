"""`mediastore import tensorboard`: event files written in the test by tensorboardX's
SummaryWriter, read back through the store's public API."""

from __future__ import annotations

import io
import json
import warnings

import numpy as np
import pytest

import mediastore as ms
from mediastore.cli import main
from mediastore.storage import validate_name

tensorboardX = pytest.importorskip("tensorboardX", reason="needs tensorboardX: pip install 'mediastore[tensorboard]'")
from mediastore.importers import import_tensorboard  # noqa: E402
from mediastore.importers._common import merge_bins, name_from_path  # noqa: E402

RNG = np.random.default_rng(3)
PIXELS = RNG.integers(0, 256, (3, 10, 14), dtype=np.uint8)  # CHW, SummaryWriter's default
WEIGHTS = RNG.normal(size=2000)
SAMPLES = (np.sin(np.arange(1600) / 7) * 0.5).astype(np.float32)
DEFAULT_BINS: list[float] = []  # the writer's "tensorflow" bucket limits


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("tb") / "runs"
    with tensorboardX.SummaryWriter(str(root / "exp1" / "train")) as w:
        for step in range(4):
            w.add_scalar("loss", 1.0 / (step + 1), step)
        w.add_image("sample", PIXELS, 2)
        w.add_histogram("weights", WEIGHTS, 3)  # tensorboardX's default buckets: over 512 here
        DEFAULT_BINS[:] = w.default_bins
        w.add_histogram("few", np.array([1.0, 2.0, 2.0, 3.0]), 3, bins=3)
        w.add_audio("voice", SAMPLES, 3, sample_rate=8000)
        w.add_text("notes", "hello **tb**", 1)
    with tensorboardX.SummaryWriter(str(root / "exp1" / "eval")) as w:
        w.add_scalar("acc", 0.5, 10)
        w.add_scalar("acc", 0.75, 20)
    return root


@pytest.fixture(scope="module")
def imported(logdir, tmp_path_factory):
    store = str(tmp_path_factory.mktemp("store"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = import_tensorboard(logdir, store, quiet=True)
    return store, results, caught


def counts(store: str) -> dict[str, int]:
    s = ms.open(store)
    return {v: s.sql(f"SELECT count(*) FROM {v}").fetchall()[0][0] for v in ("runs", "scalars", "texts", "images", "histograms", "audio")}


def test_each_folder_with_event_files_is_a_run(imported):
    store, results, _ = imported
    assert [(r.project, r.run_id) for r in results] == [("runs", "exp1.eval"), ("runs", "exp1.train")]
    runs = ms.open(store).runs().set_index("run_id")
    assert runs.loc["exp1.train", "name"] == "exp1/train" and runs.loc["exp1.train", "state"] == "finished"
    marker = json.loads(runs.loc["exp1.eval", "config"])["_import"]
    assert marker["from"] == "tensorboard" and marker["source_run"] == "exp1/eval" and marker["complete"] is True


def test_scalars_and_text(imported):
    store, _, _ = imported
    s = ms.open(store)
    history = s.history("exp1.train", keys=["loss"])
    assert history["step"].tolist() == [0, 1, 2, 3]
    assert history["loss"].tolist() == pytest.approx([1.0, 0.5, 1 / 3, 0.25], rel=1e-6)  # float32 in the file
    assert s.history("exp1.eval")[["step", "acc"]].values.tolist() == [[10, 0.5], [20, 0.75]]
    assert s.sql("SELECT step, key, text FROM texts").fetchall() == [(1, "notes", "hello **tb**")]


def test_image_pixels_are_the_logged_ones(imported):
    store, _, _ = imported
    s = ms.open(store)
    row = s.sql("SELECT * FROM images").df().iloc[0]
    assert (row["key"], row["step"], row["format"]) == ("sample", 2, "png")
    np.testing.assert_array_equal(s.decode(row).to_numpy(), PIXELS.transpose(1, 2, 0))


def test_histograms_over_512_bins_are_merged_with_a_warning_and_lose_no_count(imported):
    store, _, caught = imported
    s = ms.open(store)
    rows = s.sql("SELECT * FROM histograms ORDER BY key").df()
    few, weights = (s.decode(r) for _, r in rows.iterrows())
    # tensorboardX's own buckets (an empty first one marks the left edge), merged to 512
    proto = tensorboardX.summary.make_histogram(WEIGHTS.astype(float), DEFAULT_BINS)
    assert len(proto.bucket) - 1 > 512
    want_counts, want_edges = merge_bins(np.array(proto.bucket[1:]), np.array(proto.bucket_limit))
    np.testing.assert_array_equal(weights.histogram, want_counts)
    np.testing.assert_allclose(weights.bins, want_edges)
    assert weights.num_bins == 512
    assert int(weights.histogram.sum()) == len(WEIGHTS)
    assert weights.bins[0] <= WEIGHTS.min() and weights.bins[-1] >= WEIGHTS.max()
    assert np.all(np.diff(weights.bins) > 0)
    np.testing.assert_array_equal(few.histogram, [1, 2, 1])
    np.testing.assert_allclose(few.bins, np.histogram([1.0, 2.0, 2.0, 3.0], bins=3)[1])
    merged = [w for w in caught if issubclass(w.category, ms.LossyConversionWarning)]
    assert len(merged) == 1
    assert str(merged[0].message).startswith("1 histogram(s) under 'weights' of run 'exp1.train'")
    assert "merged down to 512 (counts summed, edges kept); no value was dropped" in str(merged[0].message)


def test_audio_samples(imported):
    store, _, _ = imported
    s = ms.open(store)
    row = s.sql("SELECT * FROM audio").df().iloc[0]
    assert (row["key"], row["sample_rate"], row["num_samples"]) == ("voice", 8000, len(SAMPLES))
    # tensorboardX writes 16-bit PCM: equal to the logged samples within one step of 16 bits
    np.testing.assert_allclose(s.decode(row).to_numpy(dtype="float32").ravel(), SAMPLES, atol=1 / 32767 + 1e-6)


def test_a_second_import_adds_nothing(logdir, imported):
    store, _, _ = imported
    before = counts(store)
    again = import_tensorboard(logdir, store, quiet=True)
    assert [r.skipped for r in again] == [True, True]
    assert counts(store) == before


def test_event_files_directly_in_the_logdir_and_the_cli(tmp_path, capsys):
    logdir = tmp_path / "lr=0.1"
    with tensorboardX.SummaryWriter(str(logdir)) as w:
        w.add_scalar("loss", 2.0, 0)
    store = str(tmp_path / "s")
    assert main(["import", "tensorboard", str(logdir), "--store", store, "--project", "tb", "--quiet"]) == 0
    run_id = name_from_path("lr=0.1")
    assert f"tb/{run_id}: 1 scalars" in capsys.readouterr().out
    assert ms.open(store).runs()["run_id"].tolist() == [run_id]
    assert main(["import", "tensorboard", str(tmp_path / "s"), "--store", store]) == 2
    assert "holds no TensorBoard event file" in capsys.readouterr().err


def test_the_cli_prints_the_merge_warning(logdir, tmp_path, capsys):
    assert main(["import", "tensorboard", str(logdir), "--store", str(tmp_path / "s"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "mediastore: warning: 1 histogram(s) under 'weights' of run 'exp1.train'" in err


def test_a_damaged_event_file_is_refused(logdir, tmp_path):
    import shutil

    copy = tmp_path / "runs"
    shutil.copytree(logdir / "exp1" / "eval", copy)
    event = next(copy.glob("*tfevents*"))
    data = bytearray(event.read_bytes())
    data[-6] ^= 0x01
    event.write_bytes(bytes(data))
    with pytest.raises(ms.ImportSourceError, match="has a damaged record: its CRC-32C does not match"):
        import_tensorboard(copy, str(tmp_path / "s"), quiet=True)
    event.write_bytes(bytes(data[:-3]))
    with pytest.raises(ms.ImportSourceError, match="ends inside a record"):
        import_tensorboard(copy, str(tmp_path / "s"), quiet=True)
    assert ms.open(str(tmp_path / "s")).runs().empty  # checked before anything was written


@pytest.mark.parametrize(
    "relative, expected",
    [("exp1/train", "exp1.train"), ("train", "train"), ("lr0.1", "lr0.1"), ("a/b/c", "a.b.c")],
)
def test_run_ids_that_need_no_escaping(relative, expected):
    assert name_from_path(relative) == expected


@pytest.mark.parametrize("relative", ["lr=0.1/seed 1", "a.b/c", "a/b.c", "..", "-x", "é/ü", "x" * 200, ".hidden/run"])
def test_run_ids_are_escaped_valid_and_distinct(relative):
    name = name_from_path(relative)
    assert validate_name(name, "run_id") == name
    assert name != name_from_path(relative + "2")
    assert name_from_path("a.b/c") != name_from_path("a/b.c")


def test_merge_bins_keeps_edges_and_counts():
    counts = np.arange(600, dtype=np.int64)
    edges = np.linspace(-3.0, 3.0, 601)
    merged, kept = merge_bins(counts, edges)
    assert len(merged) == 512 and len(kept) == 513
    assert merged.sum() == counts.sum() and kept[0] == edges[0] and kept[-1] == edges[-1]
    assert set(kept.tolist()) <= set(edges.tolist())  # only edges that were there
    small, same = merge_bins(counts[:512], edges[:513])
    np.testing.assert_array_equal(small, counts[:512])
    np.testing.assert_array_equal(same, edges[:513])


def test_tensor_summaries_as_tensorflow_2_writes_them(tmp_path):
    """TF2's tf.summary writes tensors with plugin metadata instead of simple_value/image/histo/audio."""
    import PIL.Image
    from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboardX.proto.tensor_pb2 import TensorProto
    from tensorboardX.proto.tensor_shape_pb2 import TensorShapeProto

    def value(tag, plugin, **tensor):
        shape = tensor.pop("shape")
        proto = TensorProto(tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=n) for n in shape]), **tensor)
        meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name=plugin))
        return Summary.Value(tag=tag, metadata=meta, tensor=proto)

    png = io.BytesIO()
    pixels = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    PIL.Image.fromarray(pixels).save(png, format="PNG")
    wav = io.BytesIO()
    import soundfile

    soundfile.write(wav, SAMPLES[:400], 8000, format="WAV", subtype="PCM_16")
    hist = np.array([[0.0, 1.0, 3.0], [1.0, 2.0, 5.0]])
    with tensorboardX.SummaryWriter(str(tmp_path / "tf2")) as w:
        w.file_writer.add_summary(Summary(value=[
            value("loss", "scalars", dtype=1, shape=[], float_val=[0.25]),
            value("hist", "histograms", dtype=2, shape=[2, 3], tensor_content=hist.tobytes()),
            value("pic", "images", dtype=7, shape=[3], string_val=[b"4", b"4", png.getvalue()]),
            value("sound", "audio", dtype=7, shape=[1, 2], string_val=[wav.getvalue(), b""]),
            value("doc", "text", dtype=7, shape=[2], string_val=["a".encode(), "ü".encode()]),
            value("pr", "pr_curves", dtype=1, shape=[1], float_val=[0.0]),
        ]), global_step=7)
    store = str(tmp_path / "s")
    [result] = import_tensorboard(tmp_path / "tf2", store, quiet=True)
    assert result.rows == {"scalars": 1, "histograms": 1, "images": 1, "audio": 1, "texts": 1}
    assert result.not_imported == {"pr_curves": 1}
    s = ms.open(store)
    assert s.history("tf2")[["step", "loss"]].values.tolist() == [[7, 0.25]]
    h = s.decode(s.sql("SELECT * FROM histograms").df().iloc[0])
    assert h.bins.tolist() == [0.0, 1.0, 2.0] and h.histogram.tolist() == [3, 5]
    np.testing.assert_array_equal(s.decode(s.sql("SELECT * FROM images").df().iloc[0]).to_numpy(), pixels)
    assert s.decode(s.sql("SELECT * FROM audio").df().iloc[0]).file_bytes == wav.getvalue()
    assert s.sql("SELECT text FROM texts").fetchall() == [("a\nü",)]


def test_progress_without_tqdm_is_a_plain_line(logdir, tmp_path, capfd, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "tqdm", None)  # as if tqdm were not installed
    import_tensorboard(logdir / "exp1" / "eval", str(tmp_path / "s"))
    err = capfd.readouterr().err
    assert err.splitlines()[-1] == "tensorboard eval: 3/3 events"  # file_version and two scalars
