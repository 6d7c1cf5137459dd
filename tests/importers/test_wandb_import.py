"""`mediastore import wandb`: real W&B offline run folders, written by wandb itself in a child
process (offline, no network), read back through the store's public API."""

from __future__ import annotations

import json
import re
import shlex
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import mediastore as ms
from mediastore.cli import main

pytest.importorskip("wandb.proto.wandb_internal_pb2", reason="needs the wandb package: pip install 'mediastore[wandb]'")
from mediastore.importers import import_wandb  # noqa: E402
from mediastore.importers.wandb import read_records  # noqa: E402

#: Logged by the child process; the test compares the store with these.
SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import wandb

    out = sys.argv[1]
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    mask = np.zeros((12, 16), dtype=np.uint8)
    mask[3:9, 4:12] = 1
    mask[0:2, 0:3] = 2
    grads = rng.normal(size=500)
    small = [rng.integers(0, 256, (6, 6, 3), dtype=np.uint8) for _ in range(2)]
    samples = (np.sin(np.arange(800) / 5) * 0.5).astype(np.float32)
    points = rng.normal(size=(50, 3))
    np.savez(f"{out}/logged.npz", pixels=pixels, mask=mask, grads=grads, small0=small[0], small1=small[1],
             samples=samples, points=points)
    from PIL import Image as PILImage
    frames = [PILImage.fromarray(np.full((8, 8, 3), 40 * i, dtype=np.uint8)) for i in range(3)]
    frames[0].save(f"{out}/clip.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)

    long_text = "x" * 70000  # a run record longer than two 32 KiB blocks: FIRST, MIDDLE, LAST chunks
    run = wandb.init(project="wbproj", config={"lr": 0.01, "layers": [64, 32], "opt": {"name": "adam"}, "long": long_text},
                     tags=["baseline", "cpu"], notes="first try", group="sweep-1", job_type="train")
    for step in range(5):
        run.log({"loss": 1.0 / (step + 1), "acc": step / 10, "phase": "train"})
    boxes = {"predictions": {
        "box_data": [{"position": {"minX": 0.1, "maxX": 0.5, "minY": 0.2, "maxY": 0.7}, "class_id": 1,
                      "box_caption": "cat 0.9", "scores": {"score": 0.9}},
                     {"position": {"middle": [8, 6], "width": 4, "height": 2}, "domain": "pixel", "class_id": 2,
                      "scores": {"score": 0.4}}],
        "class_labels": {1: "cat", 2: "dog"}}}
    run.log({
        "example": wandb.Image(pixels, caption="a cat", masks={"truth": {"mask_data": mask, "class_labels": {0: "bg", 1: "cat", 2: "dog"}}},
                               boxes=boxes),
        "grads": wandb.Histogram(grads),
        "preds": wandb.Table(columns=["id", "label", "score"], data=[[1, "cat", 0.9], [2, "dog", 0.4]]),
        "batch": [wandb.Image(small[0], caption="first"), wandb.Image(small[1], caption="second")],
        "page": wandb.Html("<p>hello</p>"),
        "voice": wandb.Audio(samples, sample_rate=8000, caption="beep"),
        "cloud": wandb.Object3D(points),
        "clip": wandb.Video(f"{out}/clip.gif", caption="three frames"),
    })
    run.summary["best_acc"] = 0.93
    ids = [run.id]
    run.finish()
    second = wandb.init(project="wbproj", config={"lr": 0.1})
    second.log({"loss": 3.0})
    points = wandb.Table(columns=["x", "y"], data=[[1, 2], [3, 4]])
    second.log({"loss": 2.0, "cm": wandb.plot.confusion_matrix(y_true=[0, 1, 1], preds=[0, 1, 0], class_names=["a", "b"]),
                "eval": {"pts": wandb.plot.scatter(points, "x", "y", title="xy", split_table=True)}})
    ids.append(second.id)
    second.finish()
    json.dump(ids, open(f"{out}/ids.json", "w"))
    """
)


@pytest.fixture(scope="module")
def wandb_dir(tmp_path_factory):
    """One W&B folder with two offline runs, shared by the module (W&B's start-up takes seconds)."""
    root = tmp_path_factory.mktemp("wandb-src")
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_DIR": str(root), "WANDB_SILENT": "true",
           "WANDB_CONFIG_DIR": str(root / "config"), "WANDB_CACHE_DIR": str(root / "cache"),
           "WANDB_DATA_DIR": str(root / "data"), "WANDB_DISABLE_GIT": "true", "WANDB_CONSOLE": "off"}
    (root / "script.py").write_text(SCRIPT)
    subprocess.run([sys.executable, str(root / "script.py"), str(root)], env=env, check=True, timeout=300, cwd=root)
    return root


@pytest.fixture(scope="module")
def imported(wandb_dir, tmp_path_factory):
    store = str(tmp_path_factory.mktemp("store"))
    results = import_wandb(wandb_dir / "wandb", store, quiet=True)
    return store, results


def ids(wandb_dir) -> list[str]:
    return json.loads((wandb_dir / "ids.json").read_text())


def logged(wandb_dir):
    return np.load(wandb_dir / "logged.npz")


def row_counts(store: str) -> dict[str, int]:
    s = ms.open(store)
    views = ["runs", "scalars", "texts", "images", "histograms", "tables", "html", "audio", "videos", "objects3d"]
    return {v: s.sql(f"SELECT count(*) FROM {v}").fetchall()[0][0] for v in views}


def test_every_run_folder_becomes_a_run_with_its_config_and_summary(wandb_dir, imported):
    store, results = imported
    first, second = ids(wandb_dir)
    assert sorted(r.run_id for r in results) == sorted([first, second])
    assert not any(r.skipped for r in results)
    runs = ms.open(store).runs().set_index("run_id")
    assert set(runs.loc[[first, second], "project"]) == {"wbproj"}
    assert set(runs.loc[[first, second], "state"]) == {"finished"}
    config = json.loads(runs.loc[first, "config"])
    assert config["lr"] == 0.01 and config["layers"] == [64, 32] and config["opt"] == {"name": "adam"}
    assert config["long"] == "x" * 70000  # a record cut across three blocks, put together again
    assert "_wandb" not in config
    assert config["_import"]["from"] == "wandb" and config["_import"]["source_run"] == first
    assert config["_import"]["complete"] is True and config["_import"]["exit_code"] == 0
    summary = json.loads(runs.loc[first, "summary"])
    assert summary["best_acc"] == 0.93 and summary["loss"] == pytest.approx(0.2) and summary["phase"] == "train"
    labels = runs.loc[first, ["tags", "notes", "group", "job_type"]].tolist()
    assert [json.loads(labels[0]), *labels[1:]] == [["baseline", "cpu"], "first try", "sweep-1", "train"]
    assert runs.loc[second, ["tags", "notes", "group", "job_type"]].isna().all()


def test_scalars_and_texts_keep_their_steps(wandb_dir, imported):
    store, _ = imported
    first, second = ids(wandb_dir)
    s = ms.open(store)
    history = s.history(first)
    assert history["step"].tolist() == [0, 1, 2, 3, 4]
    assert history["loss"].tolist() == pytest.approx([1.0, 0.5, 1 / 3, 0.25, 0.2])
    assert history["acc"].tolist() == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert s.sql(f"SELECT step, text FROM texts WHERE run_id = '{first}' ORDER BY step").fetchall() == [(i, "train") for i in range(5)]
    assert s.history(second)["loss"].tolist() == [3.0, 2.0]
    # logged_at is W&B's own time of the row, which is before the import began
    started = s.sql(f"SELECT min(logged_at) FROM scalars WHERE run_id = '{first}'").fetchall()[0][0]
    assert s.runs().set_index("run_id").loc[first, "started_at"] <= started


def test_image_pixels_masks_boxes_and_caption(wandb_dir, imported):
    store, _ = imported
    first, _ = ids(wandb_dir)
    s = ms.open(store)
    rows = s.sql(f"SELECT * FROM images WHERE run_id = '{first}' AND key = 'example'").df()
    assert len(rows) == 1 and rows.loc[0, "step"] == 5 and rows.loc[0, "caption"] == "a cat"
    image = s.decode(rows.iloc[0])
    np.testing.assert_array_equal(image.to_numpy(), logged(wandb_dir)["pixels"])  # PNG: lossless
    masks = image.masks
    np.testing.assert_array_equal(masks["truth"]["mask_data"], logged(wandb_dir)["mask"])
    assert masks["truth"]["class_labels"] == {0: "bg", 1: "cat", 2: "dog"}
    boxes = image.boxes["predictions"]
    assert boxes["class_labels"] == {1: "cat", 2: "dog"}
    b0, b1 = boxes["box_data"]
    assert b0["position"] == {"minX": 0.1, "maxX": 0.5, "minY": 0.2, "maxY": 0.7}
    assert b0["class_id"] == 1 and b0["box_caption"] == "cat 0.9" and b0["scores"] == {"score": 0.9}
    assert b1["domain"] == "pixel" and b1["position"] == {"minX": 6.0, "maxX": 10.0, "minY": 5.0, "maxY": 7.0}
    # the SQL side of the same boxes
    hits = s.sql(f"SELECT b.label, b.scores['score'] FROM images, unnest(boxes) AS u(b) WHERE run_id = '{first}' ORDER BY 2").fetchall()
    assert hits == [("dog", 0.4), ("cat", 0.9)]


def test_a_list_of_images_keeps_order_and_captions(wandb_dir, imported):
    store, _ = imported
    first, _ = ids(wandb_dir)
    s = ms.open(store)
    rows = s.sql(f"SELECT * FROM images WHERE run_id = '{first}' AND key = 'batch' ORDER BY idx").df()
    assert rows["idx"].tolist() == [0, 1] and rows["caption"].tolist() == ["first", "second"]
    for i, (_, row) in enumerate(rows.iterrows()):
        np.testing.assert_array_equal(s.decode(row).to_numpy(), logged(wandb_dir)[f"small{i}"])


def test_histogram_table_and_html(wandb_dir, imported):
    store, _ = imported
    first, _ = ids(wandb_dir)
    s = ms.open(store)
    row = s.sql(f"SELECT * FROM histograms WHERE run_id = '{first}'").df().iloc[0]
    hist = s.decode(row)
    counts, edges = np.histogram(logged(wandb_dir)["grads"], bins=64)  # what wandb.Histogram computed
    np.testing.assert_array_equal(hist.histogram, counts)
    np.testing.assert_allclose(hist.bins, edges)
    table = s.table(first, "preds")
    assert table.columns.tolist() == ["id", "label", "score"]
    assert table.values.tolist() == [[1, "cat", 0.9], [2, "dog", 0.4]]
    html = s.sql(f"SELECT * FROM html WHERE run_id = '{first}'").df()
    assert len(html) == 1 and "<p>hello</p>" in s.decode(html.iloc[0]).html


def test_audio_object3d_and_video(wandb_dir, imported):
    store, results = imported
    first, _ = ids(wandb_dir)
    s = ms.open(store)
    audio = s.sql(f"SELECT * FROM audio WHERE run_id = '{first}'").df().iloc[0]
    assert (audio["key"], audio["caption"], audio["sample_rate"]) == ("voice", "beep", 8000)
    # W&B wrote 16-bit PCM: equal within one step of 16 bits
    np.testing.assert_allclose(s.decode(audio).to_numpy(dtype="float32").ravel(), logged(wandb_dir)["samples"], atol=1 / 32767 + 1e-6)
    cloud = s.decode(s.sql(f"SELECT * FROM objects3d WHERE run_id = '{first}'").df().iloc[0])
    np.testing.assert_allclose(cloud.to_numpy(), logged(wandb_dir)["points"])
    video = s.sql(f"SELECT * FROM videos WHERE run_id = '{first}'").df().iloc[0]
    assert (video["format"], video["caption"]) == ("gif", "three frames")
    assert s.decode(video).file_bytes == (wandb_dir / "clip.gif").read_bytes()  # stored byte for byte
    by_run = {r.run_id: r for r in results}
    assert by_run[first].rows == {"scalars": 10, "texts": 5, "images": 3, "histograms": 1, "tables": 1, "html": 1,
                                  "audio": 1, "objects3d": 1, "videos": 1}
    assert by_run[first].not_imported == {}


def test_a_second_import_adds_nothing(wandb_dir, imported):
    store, _ = imported
    before = row_counts(store)
    again = import_wandb(wandb_dir / "wandb", store, quiet=True)
    assert [r.skipped for r in again] == [True, True]
    assert row_counts(store) == before


def test_one_run_folder_and_the_project_option(wandb_dir, tmp_path):
    first, _ = ids(wandb_dir)
    folder = next((wandb_dir / "wandb").glob(f"*-{first}"))
    store = str(tmp_path / "s")
    [result] = import_wandb(folder, store, project="other", quiet=True)
    assert (result.project, result.run_id) == ("other", first)
    assert ms.open(store).runs()["project"].tolist() == ["other"]


def test_cli_imports_and_says_what(wandb_dir, tmp_path, capsys):
    store = str(tmp_path / "cli")
    first, second = ids(wandb_dir)
    assert main(["import", "wandb", str(wandb_dir / "wandb"), "--store", store, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"wbproj/{first}: " in out and "5 images" not in out and "3 images" in out and f"wbproj/{second}: 2 scalars" in out
    assert main(["import", "wandb", str(wandb_dir / "wandb"), "--store", store, "--quiet"]) == 0
    assert "imported before, skipped" in capsys.readouterr().out
    assert main(["import", "wandb", str(tmp_path / "missing"), "--store", store]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_progress_bar_on_stderr(wandb_dir, tmp_path, capfd):
    import_wandb(wandb_dir / "wandb", str(tmp_path / "p"), project="p")
    err = capfd.readouterr().err
    assert "wandb " in err and "steps" in err
    import_wandb(wandb_dir / "wandb", str(tmp_path / "q"), project="p", quiet=True)
    assert capfd.readouterr().err == ""


def _copy_run(wandb_dir, tmp_path) -> Path:
    first, _ = ids(wandb_dir)
    folder = next((wandb_dir / "wandb").glob(f"*-{first}"))
    copy = tmp_path / "wandb" / folder.name
    shutil.copytree(folder, copy)
    return copy


def test_a_damaged_or_cut_log_is_refused_and_nothing_is_stored(wandb_dir, tmp_path):
    copy = _copy_run(wandb_dir, tmp_path)
    log = next(copy.glob("*.wandb"))
    data = bytearray(log.read_bytes())
    assert len(list(read_records(log))) > 10
    data[200] ^= 0xFF
    log.write_bytes(bytes(data))
    store = str(tmp_path / "s")
    with pytest.raises(ms.ImportSourceError, match=r"damaged record at byte \d+: its CRC-32 does not match"):
        import_wandb(copy, store, quiet=True)
    data[200] ^= 0xFF
    log.write_bytes(bytes(data[: 40000]))  # inside the record that spans blocks
    with pytest.raises(ms.ImportSourceError, match="ends inside a record"):
        import_wandb(copy, store, quiet=True)
    log.write_bytes(b"PK\x03\x04" + bytes(data[4:]))
    with pytest.raises(ms.ImportSourceError, match="does not start with the ':W&B' header"):
        import_wandb(copy, store, quiet=True)
    assert ms.open(store).runs().empty


def test_no_run_in_the_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ms.ImportSourceError, match=r"holds no W&B run: no run-<id>\.wandb file"):
        import_wandb(tmp_path / "empty", str(tmp_path / "s"))


def test_a_run_of_the_same_id_that_is_not_this_import_is_refused(wandb_dir, tmp_path):
    first, _ = ids(wandb_dir)
    store = str(tmp_path / "s")
    with ms.init(project="wbproj", store=store, run_id=first) as run:
        run.log({"mine": 1.0})
    with pytest.raises(ms.RunExistsError, match=rf"run '{first}' exists already in project 'wbproj' and is not an import of wandb run"):
        import_wandb(next((wandb_dir / "wandb").glob(f"*-{first}")), store, quiet=True)
    assert ms.open(store).sql("SELECT count(*) FROM scalars").fetchall()[0][0] == 1


def test_a_media_file_outside_the_run_folder_is_refused(wandb_dir, tmp_path):
    """A crafted log must not make the importer read files outside the run's files/ folder."""
    from mediastore.importers.wandb import _Converter, _WandbRun
    from mediastore.importers._common import HistogramMerges, ImportedRun

    copy = _copy_run(wandb_dir, tmp_path)
    source = _WandbRun(copy)
    convert = _Converter(source, ImportedRun("p", "r", str(copy)), HistogramMerges("r", str(copy)))
    with pytest.raises(ms.ImportSourceError, match=r"names the media file '\.\./\.\./secret\.png', which is outside"):
        convert.row({"x": {"_type": "image-file", "path": "../../secret.png"}})


def readme_section() -> tuple[list[str], list[str]]:
    """The bash lines and the python blocks of the README's importing section."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = text.split("## Importing from W&B and TensorBoard\n", 1)[1].split("\n## ", 1)[0]
    bash = [line.split("#", 1)[0].strip() for block in re.findall(r"```bash\n(.*?)```", section, re.S) for line in block.splitlines()]
    return [line for line in bash if line], re.findall(r"```python\n(.*?)```", section, re.S)


def test_readme_section_runs_as_written(wandb_dir, tmp_path, monkeypatch, capsys):
    tensorboardX = pytest.importorskip("tensorboardX")
    shutil.copytree(wandb_dir / "wandb", tmp_path / "wandb", symlinks=True)
    with tensorboardX.SummaryWriter(str(tmp_path / "runs" / "exp1")) as w:
        w.add_scalar("loss", 1.0, 0)
        w.add_image("sample", np.zeros((3, 4, 4), dtype=np.uint8), 0)
    monkeypatch.chdir(tmp_path)
    bash, python = readme_section()
    commands = [line for line in bash if line.startswith("mediastore ")]
    assert len(commands) == 3 and bash[0].startswith("pip install")
    for line in commands:
        assert main(shlex.split(line)[1:]) == 0, line
    first, second = ids(wandb_dir)
    runs = ms.open("mediastore-data").runs()
    assert sorted(zip(runs["project"], runs["run_id"])) == sorted(
        [("wbproj", first), ("wbproj", second), ("cats", second), ("runs", "exp1")])
    capsys.readouterr()
    assert len(python) == 1
    exec(compile(python[0], "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert f"wbproj {first} True {{}} {{}}" in out and f"wbproj {second} True" in out
    assert "example" in out and "batch" in out and "sample" in out


def test_w_and_b_charts_come_with_their_tables_and_specs(wandb_dir, imported):
    store, _ = imported
    second = ids(wandb_dir)[1]
    s = ms.open(store)
    assert sorted(s.sql("SELECT key, step, num_rows FROM tables WHERE run_id = ?", [second]).fetchall()) == [
        ("Custom Chart Tables/eval.pts_table", 1, 2), ("cm_table", 1, 4)]  # W&B's keys, at the chart's step
    assert s.table(second, "cm_table").values.tolist() == [["a", "a", 1.0], ["a", "b", 0.0], ["b", "a", 1.0], ["b", "b", 1.0]]
    summary = json.loads(s.runs().set_index("run_id").loc[second, "summary"])
    assert summary["cm_table"]["chart"] == {"spec_name": "wandb/confusion_matrix/v1", "string_fields": {"title": "Confusion Matrix Curve"},
                                            "fields": {"Actual": "Actual", "Predicted": "Predicted", "nPredictions": "nPredictions"}}
    assert summary["Custom Chart Tables/eval.pts_table"]["chart"] == {"spec_name": "wandb/scatter/v0", "fields": {"x": "x", "y": "y"},
                                                                      "string_fields": {"title": "xy"}}
