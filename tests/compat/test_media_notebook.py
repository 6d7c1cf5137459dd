"""W&B's "Log (Almost) Anything with W&B Media" notebook, section by section, with
``import mediastore as ms`` in place of ``import wandb`` and synthetic data in place of its
downloads: images from arrays, tensors, PIL and figures with masks and boxes; histograms; 3-D
point clouds and scenes; molecules; video; audio; HTML; text. It runs end to end and every
section is checked with SQL.
"""

from __future__ import annotations

import json

import numpy as np
import PIL.Image
import pytest

import mediastore as ms

torch = pytest.importorskip("torch")
matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

pytest.importorskip("av")
pytest.importorskip("soundfile")
pytest.importorskip("rdkit")

PDB = b"""ATOM      1  O   HOH A   1       0.000   0.000   0.000  1.00  0.00           O
ATOM      2  H1  HOH A   1       0.957   0.000   0.000  1.00  0.00           H
ATOM      3  H2  HOH A   1      -0.240   0.927   0.000  1.00  0.00           H
END
"""


def test_log_almost_anything(tmp_path):
    rng = np.random.default_rng(2026)
    files = tmp_path / "files"
    files.mkdir()
    uri = str(tmp_path / "store")

    with ms.init(project="log-almost-anything", store=uri, config={"source": "wandb notebook"}) as run:
        # Histograms: a sequence, np.histogram output, a tensor of weights.
        for step in range(3):
            grads = rng.normal(step, 1.0, 1000)
            run.log({"gradients": ms.Histogram(grads), "np_hist": ms.Histogram(np_histogram=np.histogram(grads)),
                     "weights": ms.Histogram(torch.randn(64, 32))})  # fmt: skip

        # Images: arrays, a CHW tensor, PIL, a file, a figure; masks and boxes.
        pixels = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
        PIL.Image.fromarray(pixels).save(files / "photo.png")
        run.log({"examples": [ms.Image(pixels, caption="array"), ms.Image(torch.rand(3, 32, 48), caption="tensor"),
                              ms.Image(PIL.Image.fromarray(pixels), caption="pil"), ms.Image(str(files / "photo.png"), caption="file")]})  # fmt: skip
        mask = np.zeros((32, 48), np.uint8)
        mask[8:24, 10:30] = 1
        class_labels = {0: "background", 1: "car"}
        boxes = {"predictions": {"box_data": [
            {"position": {"minX": 0.1, "maxX": 0.5, "minY": 0.2, "maxY": 0.7}, "class_id": 1, "box_caption": "car", "scores": {"acc": 0.2}},
            {"position": {"middle": [30, 16], "width": 10, "height": 8}, "domain": "pixel", "class_id": 1, "scores": {"acc": 0.9}},
        ], "class_labels": class_labels}}  # fmt: skip
        run.log({"segmentation": ms.Image(pixels, masks={"predictions": {"mask_data": mask, "class_labels": class_labels}}, boxes=boxes)})
        fig, ax = plt.subplots(figsize=(3, 2), dpi=40)
        ax.plot(np.arange(10), rng.normal(size=10))
        ax.set_title("loss")
        run.log({"chart": plt, "chart_image": ms.Image(fig, caption="matplotlib")})
        plt.close(fig)

        # 3-D: a numpy cloud, xyzc and xyzrgb clouds, a scene with boxes (ms.box3d and dicts), a file.
        xyz = rng.uniform(-5, 5, (200, 3))
        run.log({"point_cloud": ms.Object3D(xyz),
                 "categories": ms.Object3D(np.column_stack([xyz, rng.integers(1, 15, 200)])),
                 "colours": ms.Object3D.from_numpy(np.column_stack([xyz, rng.integers(0, 256, (200, 3))]))})  # fmt: skip
        car = ms.box3d(center=(0, 0, 0), size=(4, 2, 1.5), orientation=(1, 0, 0, 0), color=(0.0, 1.0, 0.0), label="car", score=0.8)
        sign = {"corners": [[x, y, z] for x in (3, 4) for y in (3, 4) for z in (0, 2)], "label": "sign", "color": [255, 0, 0], "score": 0.3}
        run.log({"lidar": ms.Object3D.from_point_cloud(xyz, [car, sign], [{"start": [0, 0, 0], "end": [2, 0, 0]}], "lidar/beta")})
        (files / "cloud.pts.json").write_text(json.dumps(xyz.tolist()))
        with open(files / "cloud.pts.json") as fh:
            run.log({"from_file": ms.Object3D(fh)})

        # Molecules: a PDB file object, SMILES.
        (files / "water.pdb").write_bytes(PDB)
        with open(files / "water.pdb") as fh:
            run.log({"protein": ms.Molecule(fh, caption="water"), "smiles": ms.Molecule.from_smiles("CC(=O)Oc1ccccc1C(=O)O")})

        # Video from a (time, channel, height, width) tensor; audio from a tensor.
        frames = (torch.rand(6, 3, 16, 16) * 255).to(torch.uint8)
        run.log({"video": ms.Video(frames, fps=4, format="gif"), "whale": ms.Audio(torch.sin(torch.linspace(0, 200, 4000)), sample_rate=8000, caption="OooOoo")})

        # HTML and text.
        (files / "page.html").write_text("<h1>report</h1>")
        run.log({"custom_file": ms.Html(open(files / "page.html")), "custom_string": ms.Html("<a href='https://example.com'>Link</a>"),
                 "generated_text": "the quick brown fox", "samples": ms.Table(columns=["prompt", "output", "image"],
                                                                             data=[["a", "b", ms.Image(pixels)]])})  # fmt: skip

    store = ms.open(uri)
    counts = dict(store.sql("SELECT kind, count(*) FROM media GROUP BY kind ORDER BY ALL").fetchall())
    assert counts == {"audio": 1, "html": 2, "images": 7, "molecules": 2, "objects3d": 5, "tables": 1, "videos": 1}  # histograms have no blob
    assert store.sql("SELECT key, count(*) FROM histograms GROUP BY key ORDER BY ALL").fetchall() == [
        ("gradients", 3), ("np_hist", 3), ("weights", 3)]  # fmt: skip
    # Images: each input kind, sizes agree, the figure through run.log and through ms.Image.
    assert store.sql("SELECT caption, width, height, mode FROM images WHERE key = 'examples' ORDER BY idx").fetchall() == [
        ("array", 48, 32, "RGB"), ("tensor", 48, 32, "RGB"), ("pil", 48, 32, "RGB"), ("file", 48, 32, "RGB")]  # fmt: skip
    assert store.sql("SELECT key, width, height FROM images WHERE key LIKE 'chart%' ORDER BY key").fetchall() == [
        ("chart", 120, 80), ("chart_image", 120, 80)]  # fmt: skip
    low_scores = store.sql(
        "SELECT b.caption, b.scores['acc'] FROM images, unnest(boxes) AS t(b) WHERE b.label = 'car' AND b.scores['acc'] < 0.3"
    ).fetchall()
    assert low_scores == [("car", 0.2)]
    mask_row = store.sql("SELECT * FROM images WHERE key = 'segmentation'").df().iloc[0]
    np.testing.assert_array_equal(store.decode(mask_row).masks["predictions"]["mask_data"], mask)
    # 3-D
    assert store.sql("SELECT key, num_points, point_format, type FROM objects3d ORDER BY key").fetchall() == [
        ("categories", 200, "xyzc", None), ("colours", 200, "xyzrgb", None), ("from_file", 200, "xyz", None),
        ("lidar", 200, "xyz", "lidar/beta"), ("point_cloud", 200, "xyz", None)]  # fmt: skip
    assert store.sql("SELECT b.label FROM objects3d, unnest(boxes) AS t(b) WHERE b.score > 0.5").fetchall() == [("car",)]
    # Molecules, video, audio, HTML, text
    assert store.sql("SELECT key, format, caption FROM molecules ORDER BY key").fetchall() == [
        ("protein", "pdb", "water"), ("smiles", "pdb", None)]  # fmt: skip
    assert store.sql("SELECT frames, width, height, format FROM videos").fetchall() == [(6, 16, 16, "gif")]
    assert store.sql("SELECT sample_rate, num_samples, caption FROM audio").fetchall() == [(8000, 4000, "OooOoo")]
    assert store.sql("SELECT key, inject FROM html ORDER BY key").fetchall() == [("custom_file", True), ("custom_string", True)]
    assert store.sql("SELECT text FROM texts WHERE key = 'generated_text'").fetchall() == [("the quick brown fox",)]
    assert store.table(store.runs().loc[0, "run_id"], "samples")[["prompt", "output"]].values.tolist() == [["a", "b"]]
