"""``mediastore demo``: a realistic synthetic training run, so a new user sees the whole loop."""

from __future__ import annotations

import numpy as np

from .errors import MissingDependencyError
from . import plot
from .media import Audio, Histogram, Html, Image, Molecule, Object3D, Table, Video
from .run import init

CLASSES = {1: "car", 2: "road", 3: "building"}


def synthetic_scene(rng: np.random.Generator, size: int = 64) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """A street-like picture: sky gradient, a road, a building and a car, with its class mask
    and ground-truth boxes in pixels."""
    y, x = np.mgrid[0:size, 0:size]
    image = np.stack([60 + x, 90 + y, 200 - y], axis=-1).astype(np.float64)
    mask = np.zeros((size, size), np.uint8)
    road = y > size * 0.65
    mask[road] = 2
    bx, bw = rng.integers(2, size // 2), rng.integers(10, 20)
    building = (x >= bx) & (x < bx + bw) & (y > size * 0.2) & ~road
    mask[building] = 3
    cx, cw = rng.integers(4, size - 24), rng.integers(12, 20)
    car = (x >= cx) & (x < cx + cw) & (y > size * 0.55) & (y < size * 0.75)
    mask[car] = 1
    colours = {1: (200, 30, 30), 2: (70, 70, 70), 3: (150, 120, 90)}
    for class_id, colour in colours.items():
        image[mask == class_id] = colour
    image += rng.normal(0, 4, image.shape)
    boxes = []
    for class_id in (1, 3):
        ys, xs = np.nonzero(mask == class_id)
        if xs.size:
            boxes.append({"minX": int(xs.min()), "maxX": int(xs.max()) + 1, "minY": int(ys.min()), "maxY": int(ys.max()) + 1, "class_id": class_id})
    return np.clip(image, 0, 255).astype(np.uint8), mask, boxes


def predicted(truth: list[dict], quality: float, rng: np.random.Generator) -> list[dict]:
    """Noisy predictions whose scores and placement improve as ``quality`` goes from 0 to 1."""
    out = []
    for box in truth:
        jitter = (1 - quality) * 6
        pos = {k: float(v + rng.normal(0, jitter)) for k, v in box.items() if k != "class_id"}
        pos["minX"], pos["maxX"] = sorted((pos["minX"], pos["maxX"]))
        pos["minY"], pos["maxY"] = sorted((pos["minY"], pos["maxY"]))
        score = float(np.clip(quality + rng.normal(0, 0.15), 0, 1))
        out.append({"position": pos, "class_id": box["class_id"], "domain": "pixel", "scores": {"score": score},
                    "box_caption": f"{CLASSES[box['class_id']]} {score:.2f}"})
    return out


def run_demo(store: str, runs: int = 2, steps: int = 300, every: int = 50, seed: int = 0) -> tuple[list[str], list[str]]:
    """Log ``runs`` runs of ``steps`` training steps with scalars, and every ``every`` steps a
    batch of validation images with masks and boxes, a gradient histogram and a predictions
    table; then one of each other media type. Returns the run ids and the types skipped for
    a missing optional dependency."""
    ids, skipped = [], []
    every = max(1, min(every, steps // 2))  # a short demo still logs its media (and its table) twice
    for r in range(runs):
        rng = np.random.default_rng(seed + r)
        lr = [1e-3, 3e-4][r % 2]
        with init(project="demo", store=store, name=f"segnet-lr{lr:g}", config={"lr": lr, "batch_size": 32, "arch": "segnet"}) as run:
            for step in range(steps):
                progress = step / steps
                loss = 2.0 * np.exp(-3 * progress * (1 + r * 0.3)) + rng.normal(0, 0.03)
                run.log({"train/loss": float(loss), "train/acc": float(min(1, 0.4 + 0.55 * progress + rng.normal(0, 0.01))), "lr": lr})
                if step % every == every - 1:
                    quality = min(1.0, progress * (1 + r * 0.3))
                    images = []
                    for i in range(4):
                        pixels, mask, truth = synthetic_scene(rng)
                        noisy_mask = np.where(rng.random(mask.shape) < (1 - quality) * 0.3, 0, mask).astype(np.uint8)
                        images.append(Image(
                            pixels,
                            caption=f"val {i}",
                            masks={"ground_truth": {"mask_data": mask, "class_labels": CLASSES},
                                   "predictions": {"mask_data": noisy_mask, "class_labels": CLASSES}},
                            boxes={"ground_truth": {"box_data": [{"position": {k: v for k, v in b.items() if k != "class_id"},
                                                                  "class_id": b["class_id"], "domain": "pixel"} for b in truth],
                                                    "class_labels": CLASSES},
                                   "predictions": {"box_data": predicted(truth, quality, rng), "class_labels": CLASSES}},
                        ))
                    run.log({"val/examples": images, "val/loss": float(loss * 1.1)}, step=run.step - 1)
                    run.log({"gradients": Histogram(rng.normal(0, 1 - 0.8 * progress, 5000))}, step=run.step - 1)
                    run.log({"predictions": predictions_table(images, quality, rng)}, step=run.step - 1)
            # W&B's confusion matrix chart: the viewer draws it, SQL reads its table
            truth = rng.integers(1, 4, 200)
            guess = np.where(rng.random(200) < 0.6 + 0.3 * r / max(1, runs - 1), truth, rng.integers(1, 4, 200))
            names = [CLASSES[c] for c in sorted(CLASSES)]  # with class_names, labels are indices into it
            run.log({"val/confusion": plot.confusion_matrix(y_true=truth - 1, preds=guess - 1, class_names=names)}, step=run.step - 1)
            run.summary["best_val_loss"] = float(loss * 1.1)
            skipped = log_other_media(run, rng)
            ids.append(run.run_id)
    return ids, skipped


def predictions_table(images: list[Image], quality: float, rng: np.random.Generator) -> Table:
    table = Table(columns=["id", "image", "predicted", "score"])
    for i, image in enumerate(images):
        table.add_data(i, image, CLASSES[int(rng.integers(1, 4))], float(np.clip(quality + rng.normal(0, 0.1), 0, 1)))
    return table


def log_other_media(run, rng: np.random.Generator) -> list[str]:
    """One of each other media type; a type whose optional dependency is missing is skipped
    (and said), so the demo runs on the core install too."""
    skipped = []
    points = np.column_stack([rng.normal(0, 1, (500, 3)), rng.integers(1, 15, 500)])
    corners = [[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)]
    report = "<h1>Validation report</h1><p>Loss is going down.</p>"
    pdb = "ATOM      1  O   HOH A   1       0.000   0.000   0.000  1.00  0.00           O\nEND\n"
    import io

    run.log({
        "scene": Object3D.from_point_cloud(points=points[:, :3], boxes=[{"corners": corners, "label": "car", "color": [255, 0, 0], "score": 0.8}],
                                           vectors=[{"start": [0, 0, 0], "end": [1, 1, 1]}], point_cloud_type="lidar/beta"),
        "segments": Object3D(points),
        "report": Html(report),
        "water": Molecule(io.StringIO(pdb), file_type="pdb"),
    }, commit=False)
    t = np.linspace(0, 1, 8000, dtype=np.float32)
    frames = np.zeros((8, 3, 32, 32), np.uint8)
    for i in range(8):
        frames[i, :, 8:16, 2 + i * 3:10 + i * 3] = 255
    optional = {
        "audio": lambda: Audio(0.3 * np.sin(2 * np.pi * 440 * t), sample_rate=8000, caption="440 Hz"),
        "video": lambda: Video(frames, fps=4, format="gif"),
        "acetaminophen": lambda: Molecule.from_smiles("CC(=O)Nc1ccc(O)cc1"),
    }
    for key, make in optional.items():
        try:
            run.log({key: make()}, commit=False)
        except MissingDependencyError as exc:
            skipped.append(f"{key}: {exc}")
    run.log({})
    return skipped


EXAMPLE_QUERIES = [
    (
        "Final loss and accuracy of each run",
        """SELECT r.name, s.run_id, max(s.step) AS last_step,
       arg_max(s.value, s.step) FILTER (WHERE s.key = 'train/loss') AS final_loss,
       arg_max(s.value, s.step) FILTER (WHERE s.key = 'train/acc') AS final_acc
FROM scalars s JOIN runs r USING (project, run_id)
GROUP BY ALL ORDER BY final_loss""",
    ),
    (
        "Validation images where a predicted 'car' box scored below 0.5, across runs",
        """SELECT run_id, step, key, idx, b.label, round(b.scores['score'], 3) AS score, blob.uri
FROM (SELECT run_id, step, key, idx, blob, unnest(boxes) AS b FROM images)
WHERE b.name = 'predictions' AND b.label = 'car' AND b.scores['score'] < 0.5
ORDER BY score LIMIT 10""",
    ),
    (
        "Every media type logged, by view",
        """SELECT kind, count(*) AS rows, count(DISTINCT key) AS keys
FROM (SELECT kind, key FROM media UNION ALL SELECT kind, key FROM histograms)
GROUP BY kind ORDER BY kind""",
    ),
    (
        "Rows of the logged predictions tables whose image has a low-scoring car box",
        """SELECT run_id, step, "row", predicted, round(score, 2) AS score
FROM tables.predictions, unnest(image.boxes) AS t(b)
WHERE b.label = 'car' AND b.scores['score'] < 0.3 ORDER BY step LIMIT 5""",
    ),
    (
        "Each run's confusion matrix (ms.plot.confusion_matrix): the share of each class predicted right",
        """SELECT r.name, c.Actual, round(sum(nPredictions) FILTER (WHERE Actual = Predicted) / sum(nPredictions), 2) AS recall
FROM tables."val/confusion_table" c JOIN runs r USING (project, run_id)
GROUP BY ALL ORDER BY r.name, c.Actual""",
    ),
]
