"""Lance (``pylance``): a columnar dataset format, not a logger. The workload code plays the
logger: it appends each step's values to Python lists (PNG-encoding images with Pillow on the
caller's thread, one by one, as a user of a batch writer would) and writes one dataset with
``lance.write_dataset`` at the end. Everything, appending and writing, is inside the timer.
Scalars are stored long (step, key, value), mediastore's own layout; W5 pivots them."""

from __future__ import annotations

from .common import KEYS, QUERY_LABEL, QUERY_SCORE, Ctx, box_arrow_type, check_answer, check_history, histogram_table, png_bytes, scalars_table, wide

NAME = "lance"
MODULES = ("lance",)
DISTRIBUTION = "pylance"
UNSUPPORTED: dict[str, str] = {}
NOTES = {
    "W1": "lists per step, one lance.write_dataset at the end",
    "W2": "PNG (Pillow, 1 thread) + boxes column, one write_dataset",
    "W3": "np.histogram per step, one write_dataset",
    "W4": "lance.write_dataset(pa.Table.from_pandas(df))",
    "W5": "lance.dataset().to_table().to_pandas() + pivot",
    "W6": "Lance SQL (DataFusion): unnest(boxes), label/score filter",
    "S": "import lance + write a 1-row dataset",
}


def startup(root) -> None:
    import lance
    import pyarrow as pa

    lance.write_dataset(pa.table({"a": [1]}), str(root / "empty.lance"))


def w1(ctx: Ctx):
    import lance

    dicts = ctx.inputs.scalar_dicts
    path = str(ctx.root / "scalars.lance")
    with ctx.timed():
        table = scalars_table(dicts)
        lance.write_dataset(table, path)
    return path


def w5(ctx: Ctx, path) -> None:
    import lance

    with ctx.timed():
        frame = wide(lance.dataset(path).to_table().to_pandas())
    ctx.info["check"] = check_history(frame[["step", *KEYS]], ctx.inputs)


def w2(ctx: Ctx):
    import lance
    import pyarrow as pa

    steps = list(ctx.inputs.image_steps())
    boxes = ctx.inputs.box_table
    path = str(ctx.root / "images.lance")
    with ctx.timed():
        col_step, col_idx, col_png, col_boxes = [], [], [], []
        for step, arrays, index in steps:
            for j, (a, i) in enumerate(zip(arrays, index)):
                col_step.append(step)
                col_idx.append(j)
                col_png.append(png_bytes(a))
                col_boxes.append(boxes[i])
        table = pa.table({
            "step": pa.array(col_step, pa.int64()), "idx": pa.array(col_idx, pa.int32()),
            "png": pa.array(col_png, pa.binary()), "boxes": pa.array(col_boxes, box_arrow_type()),
        })
        lance.write_dataset(table, path)
    return path


def w6(ctx: Ctx, path) -> None:
    import lance
    import pyarrow as pa

    query = (
        "SELECT DISTINCT step, idx FROM (SELECT step, idx, unnest(boxes) AS b FROM dataset) "
        f"WHERE b['label'] = '{QUERY_LABEL}' AND b['score'] < {QUERY_SCORE}"
    )
    with ctx.timed():
        batches = lance.dataset(path).sql(query).build().to_batch_records()
        answer = pa.Table.from_batches(batches).to_pylist() if batches else []
    ctx.info["check"] = check_answer([(r["step"], r["idx"]) for r in answer], ctx.inputs)


def w3(ctx: Ctx) -> None:
    import lance

    arrays = ctx.inputs.histograms
    path = str(ctx.root / "histograms.lance")
    with ctx.timed():
        table = histogram_table(arrays)
        lance.write_dataset(table, path)


def w4(ctx: Ctx) -> None:
    import lance
    import pyarrow as pa

    df = ctx.inputs.table
    with ctx.timed():
        lance.write_dataset(pa.Table.from_pandas(df, preserve_index=False), str(ctx.root / "table.lance"))
