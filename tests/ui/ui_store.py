"""The store the viewer tests look at: one of every kind the viewer draws, in two runs."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np

import mediastore as ms

#: Screenshots of every page the browser tests visit, for people to look at.
SCREENSHOTS = Path(os.environ.get("MEDIASTORE_SCREENSHOTS", Path(__file__).resolve().parents[2] / "build" / "screenshots"))

#: A run name that would run script if any page put it into markup.
HOSTILE = '<img src=x onerror="document.title=\'pwned\'">'
CLASSES = {0: "background", 1: "car", 2: "person"}
WATER_PDB = """\
HETATM    1  O   HOH A   1       0.000   0.000   0.000  1.00  0.00           O
HETATM    2  H1  HOH A   1       0.957   0.000   0.000  1.00  0.00           H
HETATM    3  H2  HOH A   1      -0.240   0.927   0.000  1.00  0.00           H
CONECT    1    2    3
END
"""
#: Tries to reach the page that frames it; in a sandbox without allow-same-origin it cannot.
ESCAPE_HTML = """<p id="p">report</p><script>
try { window.top.document.title = "escaped"; document.getElementById("p").textContent = "reached the viewer"; }
catch (e) { document.getElementById("p").textContent = "sandboxed: " + e.name; }
</script>"""


#: A W&B-style .pts.json scene: coloured points (x, y, z, r, g, b), one box, one vector.
PTS_SCENE = {
    "type": "lidar/beta",
    "points": [[x / 10, y / 10, (x + y) / 20, 255, 128, 0] for x in range(10) for y in range(5)],
    "boxes": [{"corners": [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]],
               "label": "crate", "color": [0, 255, 0]}],
    "vectors": [{"start": [0, 0, 0], "end": [1, 1, 1]}],
}


def scene(step: int, rng: np.random.Generator) -> np.ndarray:
    """A 48x64 image that differs at each step (its brightness follows the step)."""
    pixels = rng.integers(0, 40, (48, 64, 3)).astype(np.uint8)
    pixels[..., 0] += np.uint8(60 * step)
    return pixels


def viewer_image(step: int, rng: np.random.Generator) -> ms.Image:
    mask = np.zeros((48, 64), dtype=np.uint8)
    mask[20:40, 5:30] = 1
    mask[5:25, 40:60] = 2
    boxes = [
        {"position": {"minX": 5, "maxX": 30, "minY": 20, "maxY": 40}, "domain": "pixel", "class_id": 1, "scores": {"score": 0.2}},
        {"position": {"minX": 40, "maxX": 60, "minY": 5, "maxY": 25}, "domain": "pixel", "class_id": 2, "scores": {"score": 0.55}},
        {"position": {"middle": [0.5, 0.5], "width": 0.2, "height": 0.2}, "class_id": 1, "scores": {"score": 0.9}},
    ]
    return ms.Image(
        scene(step, rng),
        caption=f"step {step}",
        masks={"predictions": {"mask_data": mask, "class_labels": CLASSES}},
        boxes={"predictions": {"box_data": boxes, "class_labels": CLASSES}},
    )


def build_store(root: str) -> list[str]:
    """Two runs of project `viewer`: images with a mask and scored boxes at steps 0-2, scalars,
    a histogram over steps, audio, a point cloud over the drawing limit, a molecule, HTML that
    tries to escape its frame, a table with image cells, and W&B's charts (ms.plot). Returns the run ids."""
    rng = np.random.default_rng(0)
    ids = []
    for r, name in enumerate(["baseline", HOSTILE]):
        labels = {"tags": ["cpu-run", HOSTILE[:64]], "group": "sweep-a", "notes": "the first one"} if r == 0 else {}
        with ms.init(project="viewer", store=root, name=name, config={"lr": 0.1 * (r + 1)}, **labels) as run:
            if r == 0:
                run.define_metric("loss", summary="min")  # the runs table shows it as loss.min
            for step in range(3):
                run.log({"loss": 1.0 / (step + 1 + r), "val": viewer_image(step, rng),
                         "weights": ms.Histogram(rng.normal(step, 1, 1000))}, step=step)
            if r == 0:
                t = np.arange(8000) / 8000
                cloud = rng.normal(0, 1, (400_000, 3)).astype(np.float32)  # over the 300,000 drawn at most
                table = ms.Table(columns=["id", "image", "label"])
                for i in range(3):
                    table.add_data(i, viewer_image(i, rng), ["car", "person", "<b>bold</b>"][i])
                run.log({
                    "tone": ms.Audio(np.sin(2 * np.pi * 440 * t).astype(np.float32), sample_rate=8000, caption="440 Hz"),
                    "cloud": ms.Object3D.from_numpy(cloud),
                    "water": ms.Molecule(io.StringIO(WATER_PDB), caption="water", file_type="pdb"),
                    "report": ms.Html(ESCAPE_HTML),
                    "samples": table,
                    "scene": ms.Object3D(io.StringIO(json.dumps(PTS_SCENE)), file_type="pts.json"),
                    "clip": ms.Video(rng.integers(0, 255, (24, 3, 32, 48), dtype=np.uint8), fps=8, format="webm"),
                }, step=3)
                y = np.array([0, 0, 1, 1, 1, 0])
                scores = np.array([[0.9, 0.1], [0.6, 0.4], [0.35, 0.65], [0.2, 0.8], [0.7, 0.3], [0.45, 0.55]])
                points = ms.Table(columns=["x", "y", "kind"], data=[[float(i), float(i * i % 7), "<b>odd</b>" if i % 2 else "even"] for i in range(9)])
                run.log({  # W&B's charts: their tables, drawn above them
                    "roc": ms.plot.roc_curve(y, scores, labels=["neg", "pos"]),
                    "cm": ms.plot.confusion_matrix(y_true=y, preds=scores.argmax(1), class_names=["neg", "pos"]),
                    "bars": ms.plot.bar(points, "kind", "y"),
                    "spread": ms.plot.histogram(points, "y"),
                    "dots": ms.plot.scatter(points, "x", "y"),
                    "custom": ms.plot_table("team/own/v1", points, {"x": "x"}),
                }, step=4)
            ids.append(run.run_id)
    return ids
