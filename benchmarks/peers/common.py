"""What every peer module shares: workload sizes, the pre-generated inputs, the timer, checks.

Imports only the standard library at the top: the start-up workload times ``import <peer>``
in a fresh process, so nothing heavy (numpy, pyarrow) may be imported before its timer starts.
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KEYS = ("loss", "acc", "lr", "grad_norm", "throughput")
IMAGES_PER_STEP = 4
IMAGE_SIZE = 128
NOISE_SHARE = 0.02  # of the image samples that get +-1..2 levels of noise
HIST_VALUES = 10_000
HIST_BINS = 64
CLASS_LABELS = {0: "car", 1: "person", 2: "bike"}
#: W6: "which (step, image) have a box of class QUERY_LABEL with score < QUERY_SCORE".
QUERY_LABEL = "car"
QUERY_SCORE = 0.3


@dataclass(frozen=True)
class Sizes:
    scalar_steps: int  # W1 (and W5 reads them back)
    image_steps: int  # W2 (x IMAGES_PER_STEP images; W6 queries them)
    histograms: int  # W3
    table_rows: int  # W4

    @classmethod
    def make(cls, quick: bool) -> "Sizes":
        full = cls(scalar_steps=20_000, image_steps=500, histograms=2_000, table_rows=10_000)
        return cls(*(n // 10 for n in vars(full).values())) if quick else full

    def warm(self) -> "Sizes":
        """The untimed warm-up run of each worker: imports, first-call caches, thread pools."""
        return Sizes(min(200, self.scalar_steps), min(5, self.image_steps), min(20, self.histograms), min(100, self.table_rows))


class Unsupported(Exception):
    """The peer has no way to do this workload; the message says why."""


# -- inputs ---------------------------------------------------------------------------------
def generate_inputs(directory: Path, sizes: Sizes, seed: int = 0) -> None:
    """Write every workload's input once (``inputs.npz``): every peer reads the same arrays."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n_images = sizes.image_steps * IMAGES_PER_STEP
    scalars = np.column_stack([
        2.0 * np.exp(-np.arange(sizes.scalar_steps) / 5000) + 0.05 * rng.standard_normal(sizes.scalar_steps),  # loss
        rng.random(sizes.scalar_steps),  # acc
        np.full(sizes.scalar_steps, 3e-4) * (1 + rng.random(sizes.scalar_steps)),  # lr
        np.abs(rng.standard_normal(sizes.scalar_steps)) * 10,  # grad_norm
        1000 + 50 * rng.standard_normal(sizes.scalar_steps),  # throughput
    ])
    # Images: a smooth colour gradient in a random direction per image and channel, plus a
    # little noise: +-1..2 levels on ~2% of the samples. (Noise on every sample makes zlib's
    # level 6 crawl, ~80 img/s here; this mix encodes at ~350-400 img/s on one thread, close to
    # the reference of ~396/s, so per-image overheads still show next to the encoder.)
    images = np.empty((n_images, IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
    yy, xx = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE].astype(np.float32) / (IMAGE_SIZE - 1)
    for start in range(0, n_images, 100):
        n = min(100, n_images - start)
        base = rng.uniform(0, 160, (n, 1, 1, 3)).astype(np.float32)
        gx = rng.uniform(-80, 80, (n, 1, 1, 3)).astype(np.float32)
        gy = rng.uniform(-80, 80, (n, 1, 1, 3)).astype(np.float32)
        pix = base + 60 + gx * xx[None, :, :, None] + gy * yy[None, :, :, None]
        pix += (rng.random(pix.shape) < NOISE_SHARE) * rng.integers(-2, 3, pix.shape).astype(np.float32)
        images[start:start + n] = np.clip(np.rint(pix), 0, 255).astype(np.uint8)
    # One or two boxes per image (fractions of the image), each with a class and a score.
    per_image = rng.integers(1, 3, n_images)
    n_boxes = int(per_image.sum())
    box_image = np.repeat(np.arange(n_images), per_image)
    min_x, min_y = rng.uniform(0, 0.6, n_boxes), rng.uniform(0, 0.6, n_boxes)
    boxes = np.column_stack([min_x, min_x + rng.uniform(0.05, 0.4, n_boxes), min_y, min_y + rng.uniform(0.05, 0.4, n_boxes)])
    box_class = rng.integers(0, len(CLASS_LABELS), n_boxes)
    box_score = rng.random(n_boxes)
    histograms = rng.standard_normal((sizes.histograms, HIST_VALUES))
    words = np.array(["cat", "dog", "bird", "fish", "horse", "mouse"])
    rows = sizes.table_rows
    table = {
        "id": np.arange(rows, dtype=np.int64),
        "text": np.char.add(np.char.add(words[rng.integers(0, len(words), rows)], " "), rng.integers(0, 1000, rows).astype(str)),
        "score": rng.random(rows),
        "label": words[rng.integers(0, len(words), rows)],
    }
    directory.mkdir(parents=True, exist_ok=True)
    np.savez(
        directory / "inputs.npz",
        scalars=scalars, images=images, box_image=box_image, boxes=boxes, box_class=box_class, box_score=box_score,
        **{f"table_{k}": v for k, v in table.items()},
    )
    np.save(directory / "histograms.npy", histograms)  # apart: only W3 loads its 160 MB


class Inputs:
    """The pre-generated inputs, cut to a Sizes (the warm-up uses a prefix of the same data)."""

    _arrays: dict[tuple[str, str], Any] = {}  # shared by the warm-up's and the timed run's Inputs

    def __init__(self, directory: Path, sizes: Sizes):
        self.sizes = sizes
        self._dir = directory
        self._cache: dict[str, Any] = {}

    def _array(self, name: str):
        import numpy as np

        key = (str(self._dir), name)
        if key not in Inputs._arrays:
            if name == "histograms":
                Inputs._arrays[key] = np.load(self._dir / "histograms.npy")
            else:
                with np.load(self._dir / "inputs.npz") as npz:
                    Inputs._arrays[key] = npz[name]
        return Inputs._arrays[key]

    def _get(self, name: str, make):
        if name not in self._cache:
            self._cache[name] = make()
        return self._cache[name]

    # W1 / W5
    @property
    def scalars(self):
        return self._get("scalars", lambda: self._array("scalars")[: self.sizes.scalar_steps])

    @property
    def scalar_dicts(self) -> list[dict[str, float]]:
        """One dict of 5 Python floats per step, made before the timer starts (for everyone)."""
        return self._get("scalar_dicts", lambda: [dict(zip(KEYS, row)) for row in self.scalars.tolist()])

    # W2 / W6
    @property
    def images(self):
        return self._get("images", lambda: self._array("images")[: self.sizes.image_steps * IMAGES_PER_STEP])

    @property
    def box_table(self) -> list[list[dict[str, Any]]]:
        """Per image, its boxes as plain records: class_id, label, score, min_x, max_x, min_y, max_y."""

        def make():
            n = len(self.images)
            out: list[list[dict[str, Any]]] = [[] for _ in range(n)]
            image = self._array("box_image")
            keep = image < n
            coords = self._array("boxes")[keep].tolist()
            for i, c, s, (x0, x1, y0, y1) in zip(image[keep].tolist(), self._array("box_class")[keep].tolist(),
                                                 self._array("box_score")[keep].tolist(), coords):
                out[i].append({"class_id": c, "label": CLASS_LABELS[c], "score": s,
                               "min_x": x0, "max_x": x1, "min_y": y0, "max_y": y1})
            return out

        return self._get("box_table", make)

    @property
    def wandb_boxes(self) -> list[dict[str, Any]]:
        """Per image, the ``boxes=`` argument in the W&B form (mediastore takes the same form)."""
        return self._get("wandb_boxes", lambda: [
            {"predictions": {
                "box_data": [{"position": {"minX": b["min_x"], "maxX": b["max_x"], "minY": b["min_y"], "maxY": b["max_y"]},
                              "class_id": b["class_id"], "scores": {"score": b["score"]}} for b in boxes],
                "class_labels": dict(CLASS_LABELS),
            }}
            for boxes in self.box_table
        ])

    def image_steps(self):
        """Yields (step, [array, ...], [image index, ...]) for W2."""
        images = self.images
        for step in range(self.sizes.image_steps):
            first = step * IMAGES_PER_STEP
            yield step, [images[first + i] for i in range(IMAGES_PER_STEP)], list(range(first, first + IMAGES_PER_STEP))

    @property
    def expected_answer(self) -> set[tuple[int, int]]:
        """W6's true answer: (step, index within the step) of every image with a matching box."""
        wanted = {k for k, v in CLASS_LABELS.items() if v == QUERY_LABEL}
        return {
            (i // IMAGES_PER_STEP, i % IMAGES_PER_STEP)
            for i, boxes in enumerate(self.box_table)
            if any(b["class_id"] in wanted and b["score"] < QUERY_SCORE for b in boxes)
        }

    # W3
    @property
    def histograms(self):
        return self._get("histograms", lambda: self._array("histograms")[: self.sizes.histograms])

    # W4
    @property
    def table(self):
        import pandas as pd

        return self._get("table", lambda: pd.DataFrame(
            {k: self._array(f"table_{k}")[: self.sizes.table_rows] for k in ("id", "text", "score", "label")}))

    NEEDS = {"W1": ("scalar_dicts",), "W2": ("images", "box_table", "wandb_boxes"), "W3": ("histograms",), "W4": ("table",)}

    def load(self, group: str) -> None:
        """Read and prepare what a group needs before its timer starts (inputs are never timed)."""
        for name in self.NEEDS.get(group, ()):
            getattr(self, name)


# -- timing ---------------------------------------------------------------------------------
@dataclass
class Ctx:
    """What a workload function gets: its inputs, an empty folder, and the timer."""

    inputs: Inputs
    root: Path
    timed_run: bool  # False for the warm-up
    profile_to: Path | None = None
    seconds: float | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @contextlib.contextmanager
    def timed(self):
        """The timed region. A workload calls it exactly once."""
        if self.seconds is not None:
            raise RuntimeError("timed() entered twice")
        profiler = None
        if self.profile_to is not None and self.timed_run:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005)
        gc.collect()
        if profiler:
            profiler.start()
        t0 = time.perf_counter()
        yield
        self.seconds = time.perf_counter() - t0
        if profiler:
            profiler.stop()
            self.profile_to.write_text(profiler.output_text(unicode=False, color=False, show_all=False, short_mode=False))
            self.profile_to.with_suffix(".html").write_text(profiler.output_html())


def disk_usage(path: Path) -> tuple[int, int]:
    """(bytes, files) under ``path``: the sum of the files' sizes, symlinks not followed."""
    total = files = 0
    for dirpath, _dirs, names in os.walk(path):
        for name in names:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                total += os.path.getsize(p)
                files += 1
    return total, files


# -- checks ---------------------------------------------------------------------------------
def check_history(frame, inputs: Inputs, rtol: float = 1e-12) -> str:
    """W5's frame holds every step and key of W1 with the logged values."""
    import numpy as np

    want = inputs.scalars
    if len(frame) != len(want):
        return f"MISMATCH: {len(frame)} rows, expected {len(want)}"
    steps = np.asarray(frame["step"], dtype=np.int64)
    if not np.array_equal(steps, np.arange(len(want))):
        return "MISMATCH: steps are not 0..n-1 in order"
    got = np.column_stack([np.asarray(frame[k], dtype=np.float64) for k in KEYS])
    if not np.allclose(got, want, rtol=rtol, atol=0):
        worst = float(np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-300)))
        return f"MISMATCH: values differ (worst relative error {worst:.2e})"
    return "ok" if rtol <= 1e-12 else f"ok (within rtol {rtol:g})"


def check_answer(answer, inputs: Inputs) -> str:
    got = {(int(s), int(i)) for s, i in answer}
    want = inputs.expected_answer
    if got == want:
        return f"ok ({len(want)} images)"
    return f"MISMATCH: {len(got)} answers, expected {len(want)} ({len(got ^ want)} differ)"


def long_form(dicts: list[dict[str, float]]) -> tuple[list[int], list[str], list[float]]:
    """The batch writers' (lance, datasets, pyarrow) scalar logger: one row per (step, key),
    mediastore's own layout, appended to Python lists as the steps arrive."""
    steps: list[int] = []
    keys: list[str] = []
    values: list[float] = []
    for step, d in enumerate(dicts):
        for k, v in d.items():
            steps.append(step)
            keys.append(k)
            values.append(v)
    return steps, keys, values


def scalars_table(dicts: list[dict[str, float]]):
    """`long_form` as one Arrow table: step int64, key string, value float64."""
    import pyarrow as pa

    steps, keys, values = long_form(dicts)
    return pa.table({"step": pa.array(steps, pa.int64()), "key": pa.array(keys, pa.string()), "value": pa.array(values, pa.float64())})


def histogram_columns(arrays) -> tuple[list, list]:
    """The batch writers' histogram logger: ``np.histogram`` per step, edges and counts kept in lists."""
    import numpy as np

    col_bins, col_counts = [], []
    for x in arrays:
        counts, edges = np.histogram(x, bins=HIST_BINS)
        col_bins.append(edges)
        col_counts.append(counts)
    return col_bins, col_counts


def histogram_table(arrays):
    """`histogram_columns` as one Arrow table: step, bins (list of n+1 doubles), counts (list of n int64)."""
    import numpy as np
    import pyarrow as pa

    col_bins, col_counts = histogram_columns(arrays)
    return pa.table({
        "step": pa.array(np.arange(len(col_bins))),
        "bins": pa.FixedSizeListArray.from_arrays(np.concatenate(col_bins), HIST_BINS + 1).cast(pa.list_(pa.float64())),
        "counts": pa.FixedSizeListArray.from_arrays(np.concatenate(col_counts), HIST_BINS).cast(pa.list_(pa.int64())),
    })


def wide(frame):
    """Long (step, key, value) rows to one row per step, one column per key (what
    ``ms.Store.history`` returns)."""
    out = frame.pivot(index="step", columns="key", values="value").reset_index()
    out.columns.name = None
    return out


def png_bytes(array) -> bytes:
    """Pillow's PNG at its default level 6 (mediastore's default too)."""
    import io

    import PIL.Image

    buf = io.BytesIO()
    PIL.Image.fromarray(array).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def box_arrow_type():
    import pyarrow as pa

    return pa.list_(pa.struct([
        ("class_id", pa.int32()), ("label", pa.string()), ("score", pa.float64()),
        ("min_x", pa.float64()), ("max_x", pa.float64()), ("min_y", pa.float64()), ("max_y", pa.float64()),
    ]))
