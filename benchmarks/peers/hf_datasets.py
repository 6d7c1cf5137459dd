"""Hugging Face ``datasets``: Arrow tables on disk, not a logger. The workload code appends to
Python lists and builds one ``Dataset`` with ``Dataset.from_dict`` at the end (images through
the ``datasets.Image()`` feature, which PNG-encodes them with Pillow on the caller's thread),
then ``save_to_disk``. Everything is inside the timer. Scalars are long (step, key, value),
mediastore's layout; W5 pivots them. The runner sets ``HF_DATASETS_OFFLINE=1`` and points the
cache at the worker's temporary folder."""

from __future__ import annotations

from .common import KEYS, QUERY_LABEL, QUERY_SCORE, Ctx, check_answer, check_history, histogram_columns, long_form, wide

NAME = "datasets"
MODULES = ("datasets",)
DISTRIBUTION = "datasets"
UNSUPPORTED: dict[str, str] = {}
NOTES = {
    "W1": "lists per step, Dataset.from_dict + save_to_disk",
    "W2": "datasets.Image() feature (PNG, 1 thread) + boxes, from_dict + save_to_disk",
    "W3": "np.histogram per step, from_dict + save_to_disk",
    "W4": "Dataset.from_pandas(df) + save_to_disk",
    "W5": "load_from_disk().to_pandas() + pivot",
    "W6": "no SQL: Dataset.filter(batched Python function over the boxes column)",
    "S": "import datasets + save a 1-row Dataset",
}


def startup(root) -> None:
    import datasets

    datasets.Dataset.from_dict({"a": [1]}).save_to_disk(str(root / "empty"))


def w1(ctx: Ctx):
    import datasets

    dicts = ctx.inputs.scalar_dicts
    path = str(ctx.root / "scalars")
    with ctx.timed():
        steps, keys, values = long_form(dicts)
        datasets.Dataset.from_dict({"step": steps, "key": keys, "value": values}).save_to_disk(path)
    return path


def w5(ctx: Ctx, path) -> None:
    import datasets

    with ctx.timed():
        frame = wide(datasets.load_from_disk(path).to_pandas())
    ctx.info["check"] = check_history(frame[["step", *KEYS]], ctx.inputs)


def _features():
    from datasets import Features, Image, List, Value

    box = {"class_id": Value("int32"), "label": Value("string"), "score": Value("float64"),
           "min_x": Value("float64"), "max_x": Value("float64"), "min_y": Value("float64"), "max_y": Value("float64")}
    return Features({"step": Value("int64"), "idx": Value("int32"), "image": Image(), "boxes": List(box)})


def w2(ctx: Ctx):
    import datasets

    steps = list(ctx.inputs.image_steps())
    boxes = ctx.inputs.box_table
    features = _features()
    path = str(ctx.root / "images")
    with ctx.timed():
        col_step, col_idx, col_image, col_boxes = [], [], [], []
        for step, arrays, index in steps:
            for j, (a, i) in enumerate(zip(arrays, index)):
                col_step.append(step)
                col_idx.append(j)
                col_image.append(a)
                col_boxes.append(boxes[i])
        data = {"step": col_step, "idx": col_idx, "image": col_image, "boxes": col_boxes}
        datasets.Dataset.from_dict(data, features=features).save_to_disk(path)
    return path


def w6(ctx: Ctx, path) -> None:
    import datasets

    def has_match(batch):
        return [any(b["label"] == QUERY_LABEL and b["score"] < QUERY_SCORE for b in boxes) for boxes in batch]

    with ctx.timed():
        ds = datasets.load_from_disk(path)
        hits = ds.filter(has_match, input_columns=["boxes"], batched=True, keep_in_memory=True)
        found = hits.select_columns(["step", "idx"]).to_dict()
    ctx.info["check"] = check_answer(zip(found["step"], found["idx"]), ctx.inputs)


def w3(ctx: Ctx) -> None:
    import datasets

    arrays = ctx.inputs.histograms
    path = str(ctx.root / "histograms")
    with ctx.timed():
        col_bins, col_counts = histogram_columns(arrays)
        datasets.Dataset.from_dict({"step": list(range(len(col_bins))), "bins": col_bins, "counts": col_counts}).save_to_disk(path)


def w4(ctx: Ctx) -> None:
    import datasets

    df = ctx.inputs.table
    with ctx.timed():
        datasets.Dataset.from_pandas(df, preserve_index=False).save_to_disk(str(ctx.root / "table"))
