"""One module per peer of the peer benchmark (``python -m benchmarks``), plus mediastore's own.

Every peer module has the same shape: ``NAME`` (the ``--peers`` name), ``MODULES`` (what must
be importable), ``DISTRIBUTION`` (the PyPI name), ``NOTES`` and ``UNSUPPORTED`` (workload ->
text), ``startup(root)`` and one function per workload it can do: ``w1(ctx) -> handle``,
``w5(ctx, handle)`` (reads W1 back), ``w2(ctx) -> handle``, ``w6(ctx, handle)`` (queries W2),
``w3(ctx)``, ``w4(ctx)``. A workload function calls ``ctx.timed()`` once around what is timed.
Modules import only the standard library at their top, so that the start-up workload times
the peer's own import in a fresh process.
"""

#: --peers name -> module in this package, in the order of the result table.
PEERS = {
    "mediastore": "mediastore_store",
    "wandb": "wandb_offline",
    "mlflow": "mlflow_local",
    "tensorboard": "tensorboard_x",
    "lance": "lance_dataset",
    "datasets": "hf_datasets",
    "pyarrow": "raw_pyarrow",
}
