"""MLflow with its local file store (``file://<folder>/mlruns``).

MLflow 3.x refuses the file store unless ``MLFLOW_ALLOW_FILE_STORE=true`` (the runner sets it;
the store is "in maintenance mode", sqlite is the recommended backend now). MLflow's defaults:
synchronous metrics (``mlflow.config.enable_async_logging(True)`` was measured too and was
slower here: 2.96 s against 1.37 s for 2,000 steps of 5 metrics, and ``end_run`` then waits
~1 s for its queue), asynchronous ``log_image`` (its default). Timed: the logging calls, then
``flush_async_logging()``, ``flush_artifact_async_logging()`` and ``end_run()``, so everything
is on disk when the timer stops; ``start_run`` is outside the timer, as ``ms.init`` is.
"""

from __future__ import annotations

from .common import HIST_BINS, KEYS, Ctx, check_history

NAME = "mlflow"
MODULES = ("mlflow",)
DISTRIBUTION = "mlflow"
UNSUPPORTED = {
    "W6": "MLflow images carry no boxes (log_image stores pixels only); boxes would be a separate artifact for hand-written code to join",
}
NOTES = {
    "W1": "log_metrics(d, step) per step (synchronous, the default) + end_run",
    "W2": "log_image(arr, key, step) x4 per step (+ MLflow's webp thumbnails), no boxes; flush + end_run",
    "W3": "no histogram type: np.histogram + log_dict(JSON) per step",
    "W4": "log_table(df, 'table.json') + end_run",
    "W5": "MlflowClient.get_metric_history per key, joined on step",
    "S": "import mlflow + start_run + end_run (file store)",
}


def _setup(root) -> None:
    import mlflow

    mlflow.set_tracking_uri((root / "mlruns").as_uri())


def startup(root) -> None:
    import mlflow

    _setup(root)
    mlflow.start_run()
    mlflow.end_run()


def _finish() -> None:
    import mlflow

    mlflow.flush_async_logging()
    mlflow.flush_artifact_async_logging()
    mlflow.end_run()


def w1(ctx: Ctx):
    import mlflow

    dicts = ctx.inputs.scalar_dicts
    _setup(ctx.root)
    run = mlflow.start_run()
    with ctx.timed():
        for step, d in enumerate(dicts):
            mlflow.log_metrics(d, step=step)
        _finish()
    return run.info.run_id


def w5(ctx: Ctx, run_id) -> None:
    import pandas as pd
    from mlflow.tracking import MlflowClient

    with ctx.timed():
        client = MlflowClient((ctx.root / "mlruns").as_uri())
        columns = {}
        for key in KEYS:
            history = client.get_metric_history(run_id, key)
            columns[key] = pd.Series([m.value for m in history], index=[m.step for m in history])
        frame = pd.DataFrame(columns).sort_index().rename_axis("step").reset_index()
    ctx.info["check"] = check_history(frame, ctx.inputs)


def w2(ctx: Ctx):
    import mlflow

    steps = list(ctx.inputs.image_steps())
    _setup(ctx.root)
    mlflow.start_run()
    with ctx.timed():
        for step, arrays, _index in steps:
            for a in arrays:
                mlflow.log_image(a, key="img", step=step)
        _finish()


def w3(ctx: Ctx) -> None:
    import mlflow
    import numpy as np

    arrays = ctx.inputs.histograms
    _setup(ctx.root)
    mlflow.start_run()
    with ctx.timed():
        for step, x in enumerate(arrays):
            counts, edges = np.histogram(x, bins=HIST_BINS)
            mlflow.log_dict({"step": step, "bins": edges.tolist(), "counts": counts.tolist()}, f"histograms/h/{step:06d}.json")
        _finish()


def w4(ctx: Ctx) -> None:
    import mlflow

    df = ctx.inputs.table
    _setup(ctx.root)
    mlflow.start_run()
    with ctx.timed():
        mlflow.log_table(df, artifact_file="table.json")
        _finish()
