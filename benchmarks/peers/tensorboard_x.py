"""TensorBoard event files written by tensorboardX, read back with TensorBoard's own
``EventAccumulator`` (``size_guidance`` 0 = keep every event; its default samples 10,000
scalars per tag, which would drop half of W1).

Timed: the ``add_*`` calls and ``writer.close()`` (flushes the event file); making the
``SummaryWriter`` is outside the timer, as ``ms.init`` is. TensorBoard stores scalars as
float32, so W5's check allows a float32 rounding error.
"""

from __future__ import annotations

from .common import HIST_BINS, KEYS, Ctx, check_history

NAME = "tensorboard"
MODULES = ("tensorboardX", "tensorboard")
DISTRIBUTION = "tensorboardX"
UNSUPPORTED = {
    "W4": "no table type (the workaround, add_text of a Markdown table, is not a table)",
    "W6": "no box data: add_image_with_boxes draws the boxes into the pixels and keeps no classes or scores",
}
NOTES = {
    "W1": "add_scalar x5 per step + close",
    "W2": "add_image(arr, step, HWC) x4 per step + close (no boxes: TensorBoard has no box data)",
    "W3": "add_histogram(x, step, bins=64) + close",
    "W5": "EventAccumulator(size_guidance 0).Reload() + Scalars per tag (float32 values)",
    "S": "import tensorboardX + SummaryWriter + close",
}


def startup(root) -> None:
    from tensorboardX import SummaryWriter

    SummaryWriter(str(root / "tb")).close()


def _writer(ctx: Ctx):
    from tensorboardX import SummaryWriter

    return SummaryWriter(str(ctx.root / "tb"))


def w1(ctx: Ctx):
    dicts = ctx.inputs.scalar_dicts
    writer = _writer(ctx)
    with ctx.timed():
        for step, d in enumerate(dicts):
            for k, v in d.items():
                writer.add_scalar(k, v, step)
        writer.close()
    return ctx.root / "tb"


def w5(ctx: Ctx, logdir) -> None:
    import pandas as pd
    from tensorboard.backend.event_processing import event_accumulator as ea

    guidance = {ea.SCALARS: 0, ea.TENSORS: 0, ea.HISTOGRAMS: 0, ea.IMAGES: 0, ea.AUDIO: 0, ea.COMPRESSED_HISTOGRAMS: 0}
    with ctx.timed():
        acc = ea.EventAccumulator(str(logdir), size_guidance=guidance)
        acc.Reload()
        columns = {}
        for tag in acc.Tags()["scalars"]:
            events = acc.Scalars(tag)
            columns[tag] = pd.Series([e.value for e in events], index=[e.step for e in events])
        frame = pd.DataFrame(columns).sort_index().rename_axis("step").reset_index()
    ctx.info["check"] = check_history(frame[["step", *KEYS]], ctx.inputs, rtol=1e-6)


def w2(ctx: Ctx):
    steps = list(ctx.inputs.image_steps())
    writer = _writer(ctx)
    with ctx.timed():
        for step, arrays, _index in steps:
            for i, a in enumerate(arrays):
                writer.add_image(f"img/{i}", a, step, dataformats="HWC")
        writer.close()


def w3(ctx: Ctx) -> None:
    arrays = ctx.inputs.histograms
    writer = _writer(ctx)
    with ctx.timed():
        for step, x in enumerate(arrays):
            writer.add_histogram("h", x, step, bins=HIST_BINS)
        writer.close()
