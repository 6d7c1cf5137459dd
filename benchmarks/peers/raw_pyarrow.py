"""Raw pyarrow: the floor. No run, no validation, no schema versions, no partitions, no
content addressing: the workload code appends to Python lists and writes one zstd Parquet
file with ``pq.write_table`` at the end (images: PNG-encoded by Pillow on a 2-thread pool as
the steps arrive, since the machine has 2 cores; the bytes go inline in the Parquet file).
Everything is inside the timer. Scalars are long (step, key, value), mediastore's layout."""

from __future__ import annotations

from .common import KEYS, QUERY_LABEL, QUERY_SCORE, Ctx, box_arrow_type, check_answer, check_history, histogram_table, png_bytes, scalars_table, wide

NAME = "pyarrow"
MODULES = ("pyarrow",)
DISTRIBUTION = "pyarrow"
UNSUPPORTED: dict[str, str] = {}
NOTES = {
    "W1": "lists per step, one pq.write_table (zstd)",
    "W2": "PNG on a 2-thread pool + boxes column, one pq.write_table",
    "W3": "np.histogram per step, one pq.write_table",
    "W4": "pa.Table.from_pandas(df) + pq.write_table (zstd)",
    "W5": "pq.read_table().to_pandas() + pivot",
    "W6": "pq.read_table(boxes) + pyarrow.compute list_flatten/filter",
    "S": "import pyarrow.parquet + write a 1-row file",
}


def startup(root) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": [1]}), str(root / "empty.parquet"))


def w1(ctx: Ctx):
    import pyarrow.parquet as pq

    dicts = ctx.inputs.scalar_dicts
    path = str(ctx.root / "scalars.parquet")
    with ctx.timed():
        table = scalars_table(dicts)
        pq.write_table(table, path, compression="zstd")
    return path


def w5(ctx: Ctx, path) -> None:
    import pyarrow.parquet as pq

    with ctx.timed():
        frame = wide(pq.read_table(path).to_pandas())
    ctx.info["check"] = check_history(frame[["step", *KEYS]], ctx.inputs)


def w2(ctx: Ctx):
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa
    import pyarrow.parquet as pq

    steps = list(ctx.inputs.image_steps())
    boxes = ctx.inputs.box_table
    path = str(ctx.root / "images.parquet")
    with ctx.timed():
        with ThreadPoolExecutor(2) as pool:
            col_step, col_idx, col_png, col_boxes = [], [], [], []
            for step, arrays, index in steps:
                for j, (a, i) in enumerate(zip(arrays, index)):
                    col_step.append(step)
                    col_idx.append(j)
                    col_png.append(pool.submit(png_bytes, a))
                    col_boxes.append(boxes[i])
            col_png = [f.result() for f in col_png]
        table = pa.table({
            "step": pa.array(col_step, pa.int64()), "idx": pa.array(col_idx, pa.int32()),
            "png": pa.array(col_png, pa.binary()), "boxes": pa.array(col_boxes, box_arrow_type()),
        })
        pq.write_table(table, path, compression="zstd")
    return path


def w6(ctx: Ctx, path) -> None:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    with ctx.timed():
        table = pq.read_table(path, columns=["step", "idx", "boxes"])
        boxes = table.column("boxes").combine_chunks()
        flat = pc.list_flatten(boxes)
        parent = pc.list_parent_indices(boxes)
        hit = pc.and_(pc.equal(pc.struct_field(flat, "label"), QUERY_LABEL), pc.less(pc.struct_field(flat, "score"), QUERY_SCORE))
        rows = pc.unique(pc.filter(parent, hit))
        answer = list(zip(table.column("step").take(rows).to_pylist(), table.column("idx").take(rows).to_pylist()))
    ctx.info["check"] = check_answer(answer, ctx.inputs)


def w3(ctx: Ctx) -> None:
    import pyarrow.parquet as pq

    arrays = ctx.inputs.histograms
    path = str(ctx.root / "histograms.parquet")
    with ctx.timed():
        table = histogram_table(arrays)
        pq.write_table(table, path, compression="zstd")


def w4(ctx: Ctx) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = ctx.inputs.table
    with ctx.timed():
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), str(ctx.root / "table.parquet"), compression="zstd")
