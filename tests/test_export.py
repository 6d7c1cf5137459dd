"""store.export and store.iter_media (export.py): a query's media out of the store, bit for bit,
in four formats, resumable; on a local folder and on the loopback S3 server."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image as PILImage

import mediastore as ms
from mediastore.errors import ExportExistsError, InvalidExportError, NoMediaColumnError
from mediastore.export import STATE_FILE, escape_component

ROOT = Path(__file__).resolve().parents[1]
ODD_KEY = "val/../odd key.é"  # a user string: a slash, dots, a space, non-ASCII


def _image(seed: int, size=(12, 16)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (*size, 3), dtype=np.uint8)


def _make_store(uri: str, tmp_path: Path) -> dict:
    """Two runs: images (from arrays with masks and boxes, from a JPEG file, a list under an odd
    key), audio, a table of image cells. Returns what was logged, to compare against."""
    png_file = tmp_path / "given.jpg"
    PILImage.fromarray(_image(99, (20, 20))).save(png_file, quality=90)
    logged = {"file_bytes": png_file.read_bytes(), "arrays": {}}
    for r in range(2):
        with ms.init(project="p", store=uri, run_id=f"run{r}") as run:
            for step in range(3):
                arr = _image(10 * r + step)
                logged["arrays"][(f"run{r}", step)] = arr
                mask = (arr[..., 0] > 128).astype(np.uint8)
                boxes = {"pred": {"box_data": [{"position": {"minX": 0.1, "maxX": 0.5, "minY": 0.2, "maxY": 0.6},
                                                "class_id": 1, "scores": {"p": 0.9}}], "class_labels": {1: "car"}}}
                run.log({"img": ms.Image(arr, caption=f"s{step}", masks={"gt": {"mask_data": mask, "class_labels": {0: "bg", 1: "fg"}}},
                                         boxes=boxes),
                         ODD_KEY: [ms.Image(_image(100 + step)), ms.Image(_image(200 + step))]}, step=step)
            run.log({"photo": ms.Image(str(png_file))}, step=3)
            if r == 0:
                sr = 8000
                run.log({"tone": ms.Audio(np.sin(np.linspace(0, 400, sr)).astype(np.float32), sample_rate=sr)}, step=4)
                table = ms.Table(columns=["id", "image"], data=[[i, ms.Image(_image(300 + i))] for i in range(3)])
                run.log({"preds": table}, step=5)
    return logged


@pytest.fixture(params=["local", "s3"])
def populated(request, tmp_path):
    if request.param == "local":
        uri = str(tmp_path / "store")
    else:
        uri = f"s3://{request.getfixturevalue('s3_bucket')}/{uuid.uuid4().hex[:12]}"
    logged = _make_store(uri, tmp_path)
    return ms.open(uri), logged


@pytest.fixture
def local(tmp_path):
    uri = str(tmp_path / "store")
    logged = _make_store(uri, tmp_path)
    return ms.open(uri), logged


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["run_id", "step", "key", "idx"]).reset_index(drop=True)


# -- files ------------------------------------------------------------------------------------
def test_files_are_the_stored_bytes_and_metadata_has_every_column(populated, tmp_path):
    store, logged = populated
    query = "SELECT * FROM images"
    out = tmp_path / "out"
    report = store.export(query, out, progress=False)
    expected = _sorted(store.sql(query).df())
    meta = _sorted(pq.read_table(out / "metadata.parquet").to_pandas())
    assert report.rows == len(expected) == 2 * (3 + 6 + 1)
    assert list(meta.columns) == list(expected.columns) + ["file_name", "mask_file_names"]
    # process (a shared run's) is NULL here: pyarrow reads an all-null string column as pandas' string
    # dtype, DuckDB's frame as object; the values are compared apart.
    nested = ["masks", "boxes", "box_sets", "process"]
    pd.testing.assert_frame_equal(meta[expected.columns].drop(columns=nested), expected.drop(columns=nested))
    assert meta["process"].isna().all() and expected["process"].isna().all()
    assert meta["boxes"].map(len).tolist() == expected["boxes"].map(len).tolist()
    files = 0
    for row, got in zip(expected.to_dict("records"), meta.to_dict("records")):
        data = (out / got["file_name"]).read_bytes()
        assert data == store.location.get_blob(row["blob"])  # bit for bit
        files += 1
        if row["key"] == "img":
            assert np.array_equal(np.asarray(PILImage.open(io.BytesIO(data))), logged["arrays"][(row["run_id"], row["step"])])
            [mask] = got["mask_file_names"]
            assert mask["name"] == "gt"
            mask_pixels = np.asarray(PILImage.open(out / mask["file_name"]))
            assert np.array_equal(mask_pixels, store.decode(row).masks["gt"]["mask_data"])
            files += 1
        if row["key"] == "photo":
            assert data == logged["file_bytes"]  # a file logged by path comes out as it went in
    assert report.written == files and report.skipped == 0
    assert len([p for p in out.rglob("*") if p.is_file() and p.name not in ("metadata.parquet", STATE_FILE)]) == files


def test_user_keys_become_one_safe_component(local, tmp_path):
    store, _ = local
    out = tmp_path / "out"
    store.export("SELECT * FROM images WHERE key = ?", out, params=[ODD_KEY], progress=False)
    names = pq.read_table(out / "metadata.parquet").column("file_name").to_pylist()
    assert len(names) == 12
    for name in names:
        project, run, key, leaf = name.split("/")
        assert (project, key) == ("p", escape_component(ODD_KEY)) and key == "val%2F%2E%2E%2Fodd%20key%2E%C3%A9"
        assert (out / name).resolve().is_relative_to(out.resolve())
    assert sorted(n.rsplit("/", 1)[1] for n in names if "/run0/" in n) == [
        "000000000-0.png", "000000000-1.png", "000000001-0.png", "000000001-1.png", "000000002-0.png", "000000002-1.png"]
    long = escape_component("k" * 500)
    assert len(long) <= 120 and long != escape_component("k" * 499)


def test_a_tables_media_cells_are_exported(populated, tmp_path):
    store, _ = populated
    out = tmp_path / "out"
    store.export('SELECT * FROM tables."preds"', out, progress=False)
    meta = pq.read_table(out / "metadata.parquet").to_pandas().sort_values("id")
    assert meta["id"].tolist() == [0, 1, 2]
    for i, name in zip(meta["id"], meta["image_file_name"]):
        assert name == f"p/run0/000000005-{i}.image.png"
        assert np.array_equal(np.asarray(PILImage.open(out / name)), _image(300 + i))


def test_a_second_run_skips_what_is_complete(local, tmp_path):
    store, _ = local
    query = "SELECT * FROM images WHERE key = 'img'"
    out = tmp_path / "out"
    first = store.export(query, out, progress=False)
    assert first.written == 12 and first.skipped == 0  # 6 images + 6 masks
    names = pq.read_table(out / "metadata.parquet").column("file_name").to_pylist()
    (out / names[0]).unlink()
    (out / names[1]).write_bytes(b"cut short")
    untouched = out / names[2]
    before = untouched.stat().st_mtime_ns
    second = store.export(query, out, progress=False)
    assert (second.written, second.skipped) == (2, 10)
    assert untouched.stat().st_mtime_ns == before
    assert (out / names[1]).read_bytes() != b"cut short"
    third = store.export(query, out, progress=False)
    assert (third.written, third.skipped) == (0, 12)
    assert json.loads((out / STATE_FILE).read_text())["complete"] is True


# -- errors -----------------------------------------------------------------------------------
def test_rows_without_media_are_refused_naming_the_columns(local, tmp_path):
    store, _ = local
    with pytest.raises(NoMediaColumnError, match=r"no media column: its columns are \['project', 'run_id', 'step', 'key', 'value'.*SELECT \*"):
        store.export("SELECT * FROM scalars", tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    with pytest.raises(NoMediaColumnError, match=r"\['step', 'caption'\]"):
        next(store.iter_media("SELECT step, caption FROM images"))


def test_unknown_format_lists_the_formats(local, tmp_path):
    store, _ = local
    with pytest.raises(InvalidExportError, match=r"format 'zip' is not known; use one of \['files', 'hf', 'webdataset', 'mp4'\]"):
        store.export("SELECT * FROM images", tmp_path / "out", format="zip")


@pytest.mark.parametrize(("option", "message"), [
    ({"fps": 0}, r"fps=0 is not allowed: frames per second of the mp4, a number > 0"),
    ({"workers": 0}, r"workers=0 is not allowed: pass an int >= 1 or None"),
])
def test_bad_options_are_refused(local, tmp_path, option, message):
    store, _ = local
    with pytest.raises(ms.InvalidExportError, match=message):
        store.export("SELECT * FROM images", tmp_path / "out", **option)
    assert not (tmp_path / "out").exists()


def test_an_output_that_is_a_file_is_refused(local, tmp_path):
    store, _ = local
    (tmp_path / "out").write_text("x")
    with pytest.raises(ms.ExportExistsError, match=r"export output .*out' is a file; pass a folder"):
        store.export("SELECT * FROM images", tmp_path / "out")


@pytest.mark.parametrize("size", [0, -3, "lots", "12XB", True, 1.5])
def test_bad_shard_sizes_are_refused(local, tmp_path, size):
    store, _ = local
    with pytest.raises(InvalidExportError, match=r"shard_size=.* (is not allowed|is not a size)"):
        store.export("SELECT * FROM images", tmp_path / "out", format="webdataset", shard_size=size)


def test_an_existing_folder_is_resumed_only_for_the_same_export(local, tmp_path):
    store, _ = local
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("keep me")
    for overwrite in (False, True):
        with pytest.raises(ExportExistsError, match=r"not a mediastore export .* nothing in it is touched"):
            store.export("SELECT * FROM images", foreign, overwrite=overwrite, progress=False)
    assert (foreign / "thesis.tex").read_text() == "keep me"
    out = tmp_path / "out"
    store.export("SELECT * FROM images WHERE key = 'img'", out, progress=False)
    with pytest.raises(ExportExistsError, match=r"holds an export of \"SELECT \* FROM images WHERE key = 'img'\".*overwrite=True"):
        store.export("SELECT * FROM images WHERE key = 'photo'", out, progress=False)
    report = store.export("SELECT * FROM images WHERE key = 'photo'", out, overwrite=True, progress=False)
    assert report.written == 2 and pq.read_table(out / "metadata.parquet").num_rows == 2
    assert not list(out.rglob("*.mask_gt.png"))  # the earlier export is gone


# -- hf ---------------------------------------------------------------------------------------
def test_hf_dataset_loads_and_decodes_to_the_same_pixels(populated, tmp_path):
    datasets = pytest.importorskip("datasets", reason="format='hf' needs datasets (the hf extra)")
    store, logged = populated
    out = tmp_path / "hf"
    query = "SELECT * FROM images WHERE key = 'img' ORDER BY run_id, step"
    report = store.export(query, out, format="hf", shard_size=4, progress=False)
    assert report.written == 2
    loaded = datasets.load_from_disk(str(out))
    assert len(loaded) == 6
    assert isinstance(loaded.features["image"], datasets.Image)
    rows = store.sql(query).df()
    for i, row in rows.iterrows():
        item = loaded[i]
        assert (item["run_id"], item["step"], item["caption"]) == (row["run_id"], row["step"], row["caption"])
        assert np.array_equal(np.asarray(item["image"]), logged["arrays"][(row["run_id"], row["step"])])
        [mask] = item["masks"]
        assert mask["name"] == "gt" and {d["key"]: d["value"] for d in mask["class_labels"]} == {0: "bg", 1: "fg"}
        assert np.array_equal(np.asarray(mask["mask"]), store.decode(row).masks["gt"]["mask_data"])
        assert item["boxes"][0]["scores"] == [{"key": "p", "value": 0.9}]
    again = store.export(query, out, format="hf", shard_size=4, progress=False)
    assert (again.written, again.skipped) == (0, 2)


def test_hf_audio_keeps_its_bytes(local, tmp_path):
    datasets = pytest.importorskip("datasets", reason="format='hf' needs datasets (the hf extra)")
    store, _ = local
    out = tmp_path / "hf"
    store.export("SELECT * FROM audio", out, format="hf", progress=False)
    loaded = datasets.load_from_disk(str(out))
    assert isinstance(loaded.features["audio"], datasets.Audio)
    raw = loaded.cast_column("audio", datasets.Audio(decode=False))[0]["audio"]
    [blob] = store.sql("SELECT blob FROM audio").fetchall()[0]
    assert raw["bytes"] == store.location.get_blob(blob)


def test_hf_refuses_mixed_kinds_in_one_column(local, tmp_path):
    pytest.importorskip("datasets", reason="format='hf' needs datasets (the hf extra)")
    store, _ = local
    with pytest.raises(InvalidExportError, match=r"one media type per column; column 'blob' holds \['application/vnd.apache.parquet', 'audio/wav', 'image/jpeg', 'image/png'\]"):
        store.export("SELECT * FROM media", tmp_path / "hf", format="hf", progress=False)


def test_a_shard_export_is_not_resumed_over_changed_rows(tmp_path):
    uri = str(tmp_path / "store")
    with ms.init(project="p", store=uri, run_id="a") as run:
        for step in range(4):
            run.log({"x": ms.Image(_image(step))}, step=step)
    store = ms.open(uri)
    out = tmp_path / "wds"
    store.export("SELECT * FROM images WHERE step < ?", out, params=(9,), format="webdataset", shard_size=2, progress=False)
    again = store.export("SELECT * FROM images WHERE step < ?", out, params=[9], format="webdataset", shard_size=2, progress=False)
    assert (again.written, again.skipped) == (0, 2)
    with ms.init(project="p", store=uri, run_id="a", resume=True) as run:
        run.log({"x": ms.Image(_image(9))}, step=1)
    with pytest.raises(ExportExistsError, match=r"the query's rows have changed since .* overwrite=True"):
        store.export("SELECT * FROM images WHERE step < ?", out, params=[9], format="webdataset", shard_size=2, progress=False)
    redone = store.export("SELECT * FROM images WHERE step < ?", out, params=[9], format="webdataset", shard_size=2,
                          overwrite=True, progress=False)
    assert (redone.written, redone.skipped) == (3, 0)


# -- webdataset -------------------------------------------------------------------------------
def test_webdataset_shards_hold_whole_samples_within_the_size(populated, tmp_path):
    store, _ = populated
    query = "SELECT * FROM images ORDER BY run_id, step, key, idx"
    out = tmp_path / "wds"
    limit = 6000
    report = store.export(query, out, format="webdataset", shard_size=f"{limit}B", progress=False)
    shards = sorted(out.glob("shard-*.tar"))
    assert report.written == len(shards) > 2
    samples = []
    for shard in shards:
        with tarfile.open(shard) as tar:
            names = tar.getnames()
            stems = sorted({n.split("/")[-1].split(".", 1)[0] + "|" + n.rsplit("/", 1)[0] for n in names})
            if len(stems) > 1:  # a sample larger than the limit gets a shard alone
                assert shard.stat().st_size <= limit
            for n in names:
                if n.endswith(".json"):
                    doc = json.loads(tar.extractfile(n).read())
                    stem = n[: -len(".json")]
                    [media] = [m for m in names if m.startswith(stem + ".") and m.endswith((".png", ".jpg")) and ".mask_" not in m]
                    blob = tar.extractfile(media).read()
                    samples.append((doc, blob, stem, names))
    rows = store.sql(query).to_arrow_table().to_pylist()
    assert len(samples) == len(rows)
    for (doc, blob, stem, names), row in zip(samples, rows):
        assert (doc["run_id"], doc["step"], doc["key"], doc["idx"], doc["caption"]) == (
            row["run_id"], row["step"], row["key"], row["idx"], row["caption"])
        assert "blob" not in doc and blob == store.location.get_blob(row["blob"])
        if row["key"] == "img":
            assert f"{stem}.mask_gt.png" in names


def test_webdataset_shards_by_samples_and_the_webdataset_reader(local, tmp_path):
    store, _ = local
    out = tmp_path / "wds"
    store.export("SELECT * FROM images WHERE key = ?", out, params=[ODD_KEY], format="webdataset", shard_size=4, progress=False)
    shards = sorted(out.glob("shard-*.tar"))
    counts = []
    for shard in shards:
        with tarfile.open(shard) as tar:
            counts.append(sum(n.endswith(".json") for n in tar.getnames()))
    assert counts == [4, 4, 4]
    wds = pytest.importorskip("webdataset", reason="the webdataset package is optional")
    loaded = list(wds.WebDataset([str(s) for s in shards], shardshuffle=False).decode("rgb8"))
    assert len(loaded) == 12
    assert all(s["png"].shape == (12, 16, 3) and s["json"]["key"] == ODD_KEY for s in loaded)


# -- mp4 --------------------------------------------------------------------------------------
def _solid(step: int) -> np.ndarray:
    return np.full((18, 23, 3), (step * 40 % 256, 255 - step * 30, 90), np.uint8)


def test_mp4_has_a_frame_per_step_in_step_order(tmp_path):
    av = pytest.importorskip("av", reason="format='mp4' needs PyAV (the video extra)")
    uri = str(tmp_path / "store")
    with ms.init(project="p", store=uri, run_id="a") as run:
        for step in [3, 0, 5, 1, 4, 2]:  # logged out of order: the film is in step order
            run.log({"pred": ms.Image(_solid(step)), "other": ms.Image(np.zeros((4, 4, 3), np.uint8))}, step=step)
    with ms.init(project="p", store=uri, run_id="b") as run:
        for step in range(2):
            run.log({"pred": ms.Image(_solid(step))}, step=step)
    store = ms.open(uri)
    out = tmp_path / "mp4"
    report = store.export("SELECT * FROM images WHERE key = 'pred'", out, format="mp4", fps=5, progress=False)
    assert report.written == 2
    meta = pq.read_table(out / "metadata.parquet").to_pandas().sort_values("run_id")
    assert meta["frames"].tolist() == [6, 2] and meta["steps"].map(list).tolist() == [[0, 1, 2, 3, 4, 5], [0, 1]]
    with av.open(str(out / meta["file_name"].iloc[0])) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 6 and frames[0].shape == (18, 24, 3)  # one column added: H.264 4:2:0 needs even sizes
    for step, frame in enumerate(frames):
        assert np.abs(frame[:, :23].astype(int).mean(axis=(0, 1)) - _solid(step)[0, 0]).max() < 8, step


def test_mp4_refuses_rows_that_are_not_one_key_of_one_size(tmp_path):
    pytest.importorskip("av", reason="format='mp4' needs PyAV (the video extra)")
    uri = str(tmp_path / "store")
    with ms.init(project="p", store=uri, run_id="a") as run:
        run.log({"x": ms.Image(_solid(0)), "y": ms.Image(_solid(0))}, step=0)
        run.log({"x": ms.Image(np.zeros((8, 8, 3), np.uint8)), "y": [ms.Image(_solid(1)), ms.Image(_solid(2))]}, step=1)
    store = ms.open(uri)
    with pytest.raises(InvalidExportError, match=r"one video per run from one image key; run 'a' has keys \['x', 'y'\].*WHERE key"):
        store.export("SELECT * FROM images", tmp_path / "o1", format="mp4", progress=False)
    with pytest.raises(InvalidExportError, match=r"one image per step; run 'a' key 'y' has several at steps \[1\].*idx = 0"):
        store.export("SELECT * FROM images WHERE key = 'y'", tmp_path / "o2", format="mp4", progress=False)
    with pytest.raises(InvalidExportError, match=r"frames of one size; run 'a' key 'x' has 18x23 at step 0 but 8x8 at step 1.*not resized"):
        store.export("SELECT * FROM images WHERE key = 'x'", tmp_path / "o3", format="mp4", progress=False)
    with pytest.raises(InvalidExportError, match=r"format='mp4' makes one video per run .* lack \['key'\]"):
        store.export("SELECT project, run_id, step, blob FROM images", tmp_path / "o4", format="mp4", progress=False)


# -- iter_media -------------------------------------------------------------------------------
def test_iter_media_yields_decoded_rows_in_order(populated):
    store, logged = populated
    query = "SELECT * FROM images WHERE key = 'img' ORDER BY run_id, step"
    items = list(store.iter_media(query, prefetch=3))
    assert [(i["run_id"], i["step"]) for i in items] == [(f"run{r}", s) for r in range(2) for s in range(3)]
    for item in items:
        assert np.array_equal(item["data"], logged["arrays"][(item["run_id"], item["step"])])
        assert set(item["mask_data"]) == {"gt"} and item["mask_data"]["gt"].shape == (12, 16)
        assert item["boxes"][0]["label"] == "car" and item["boxes"][0]["class_id"] == 1
    raw = next(store.iter_media(query, decode=False))
    assert raw["data"] == store.location.get_blob(raw["blob"])
    shares = [list(store.iter_media(query, shard=(k, 4))) for k in range(4)]
    assert sorted((i["run_id"], i["step"]) for s in shares for i in s) == sorted((i["run_id"], i["step"]) for i in items)
    audio = next(store.iter_media("SELECT * FROM audio"))
    assert audio["data"].dtype == np.float32 and audio["data"].shape == (8000,)
    cells = list(store.iter_media('SELECT id, image FROM tables."preds" ORDER BY id'))
    assert [c["image_data"].shape for c in cells] == [(12, 16, 3)] * 3


@pytest.mark.parametrize("bad", [0, -1, True, "4"])
def test_iter_media_refuses_a_bad_prefetch(local, bad):
    store, _ = local
    with pytest.raises(InvalidExportError, match=r"prefetch=.* is not allowed: the number of rows read ahead, an int >= 1"):
        store.iter_media("SELECT * FROM images", prefetch=bad)


# -- on S3: coalesced reads -------------------------------------------------------------------
def test_an_export_from_a_bucket_reads_packed_blobs_in_few_requests(s3_server, s3_bucket, tmp_path):
    from s3_count import count_requests

    uri = f"s3://{s3_bucket}/{uuid.uuid4().hex[:12]}"
    with ms.init(project="p", store=uri, run_id="r") as run:
        for step in range(40):
            run.log({"img": ms.Image(_image(step))}, step=step)
    store = ms.open(uri)
    rows = store.sql("SELECT * FROM images").fetchall()  # the query's own reads happen here
    assert len(rows) == 40
    with count_requests() as counted:
        report = store.export("SELECT * FROM images", tmp_path / "out", progress=False)
    assert report.written == 40
    blob_gets = counted.get("GetObject", 0)
    assert blob_gets <= 3, counted  # one pack, one ranged read (a file GET or two for the query)
    assert all((tmp_path / "out" / n).stat().st_size > 0 for n in pq.read_table(tmp_path / "out" / "metadata.parquet").column("file_name").to_pylist())


# -- the command line, the example, the README -------------------------------------------------
def test_cli_export_and_its_errors(local, tmp_path, capsys):
    from mediastore.cli import main

    store, _ = local
    out = tmp_path / "out"
    args = ["export", "SELECT * FROM images WHERE key = 'img'", str(out), "--store", store.uri, "--format", "webdataset",
            "--shard-size", "2", "--no-progress"]
    assert main(args) == 0
    assert "exported 6 rows" in capsys.readouterr().out and len(list(out.glob("*.tar"))) == 3
    assert main(args) == 0
    assert "0 written, 3 already there" in capsys.readouterr().out
    assert main(["export", "SELECT * FROM scalars", str(tmp_path / "o2"), "--store", store.uri]) == 2
    assert "no media column" in capsys.readouterr().err


def test_the_training_example_runs(tmp_path):
    pytest.importorskip("torch", reason="the example trains with torch")
    # Two DataLoader workers, each reading its own share of the rows: 48 items, none twice.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "train_from_store.py"), "--store", str(tmp_path / "s"),
                             "--workers", "2"], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "batches: 6 items: 48 image batch: (8, 3, 16, 16) mask batch: (8, 16, 16)" in result.stdout


def _readme_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Export and streaming to training")
    assert text.index("## Offline and sync") > start
    return text[start:text.index("\n## ", start + 1)]


def test_the_readme_section_runs(tmp_path, monkeypatch):
    import re
    import shlex

    section = _readme_section()
    monkeypatch.chdir(tmp_path)
    with ms.init(project="vision", store="./mediastore-data", run_id="run1") as run:
        for step in range(4):
            mask = np.zeros((16, 16), np.uint8)
            mask[:8] = 1
            run.log({"val/pred": ms.Image(_image(step, (16, 16)), masks={"gt": {"mask_data": mask}})}, step=step)
    for block in re.findall(r"```bash\n(.*?)```", section, re.S):
        for line in block.splitlines():
            line = line.split("  #", 1)[0].strip()
            if line.startswith("mediastore "):
                result = subprocess.run([sys.executable, "-m", "mediastore.cli", *shlex.split(line)[1:]], capture_output=True,
                                        text=True, timeout=120, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
                assert result.returncode == 0, (line, result.stderr)
    python = re.findall(r"```python\n(.*?)```", section, re.S)
    assert python
    for block in python:
        exec(compile(block, "README", "exec"), {})
