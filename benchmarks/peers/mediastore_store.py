"""mediastore itself: ``ms.init`` outside the timer; ``run.log`` calls and ``run.finish()``
(every blob and Parquet file written) inside it."""

from __future__ import annotations

from .common import KEYS, QUERY_LABEL, QUERY_SCORE, Ctx, check_answer, check_history

NAME = "mediastore"
MODULES = ("mediastore",)
DISTRIBUTION = "mediastore"
UNSUPPORTED: dict[str, str] = {}
NOTES = {
    "W1": "run.log per step + finish",
    "W2": "ms.Image(arr, boxes=...) x4 per step + finish (PNG on 2 encode threads)",
    "W3": "ms.Histogram(x) (64 bins) + finish",
    "W4": "ms.Table(dataframe=df) + finish",
    "W5": "ms.open(store).history(run_id)",
    "W6": "ms.open(store).sql(): unnest(boxes) in a subquery, label/score filter",
    "S": "import mediastore + ms.init + finish",
}


def startup(root) -> None:
    import mediastore as ms

    ms.init(project="bench", store=str(root / "store"), run_id="empty").finish()


def _init(ctx: Ctx, run_id: str):
    import mediastore as ms

    return ms.init(project="bench", store=str(ctx.root / "store"), run_id=run_id)


def w1(ctx: Ctx):
    dicts = ctx.inputs.scalar_dicts
    run = _init(ctx, "w1")
    with ctx.timed():
        for d in dicts:
            run.log(d)
        run.finish()
    return ctx.root / "store"


def w5(ctx: Ctx, store_path) -> None:
    import mediastore as ms

    with ctx.timed():
        frame = ms.open(str(store_path)).history("w1")
    ctx.info["check"] = check_history(frame[["step", *KEYS]], ctx.inputs)


def w2(ctx: Ctx):
    import mediastore as ms

    steps = list(ctx.inputs.image_steps())
    boxes = ctx.inputs.wandb_boxes
    run = _init(ctx, "w2")
    with ctx.timed():
        for _step, arrays, index in steps:
            run.log({"img": [ms.Image(a, boxes=boxes[i]) for a, i in zip(arrays, index)]})
        run.finish()
    return ctx.root / "store"


def w6(ctx: Ctx, store_path) -> None:
    import mediastore as ms

    # The unnest in a subquery's select list, as the README advises: DuckDB plans
    # `FROM images, unnest(boxes) AS t(b)` as a join (13-14 ms here against 3.5 for this form).
    query = (
        "SELECT DISTINCT step, idx FROM (SELECT step, idx, unnest(boxes) AS b FROM images) "
        "WHERE b.label = ? AND b.scores['score'] < ?"
    )
    with ctx.timed():
        answer = ms.open(str(store_path)).sql(query, params=[QUERY_LABEL, QUERY_SCORE]).fetchall()
    ctx.info["check"] = check_answer(answer, ctx.inputs)


def w3(ctx: Ctx) -> None:
    import mediastore as ms

    arrays = ctx.inputs.histograms
    run = _init(ctx, "w3")
    with ctx.timed():
        for x in arrays:
            run.log({"h": ms.Histogram(x)})
        run.finish()


def w4(ctx: Ctx) -> None:
    import mediastore as ms

    df = ctx.inputs.table
    run = _init(ctx, "w4")
    with ctx.timed():
        run.log({"table": ms.Table(dataframe=df)})
        run.finish()
