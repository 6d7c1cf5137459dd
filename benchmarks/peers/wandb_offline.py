"""Weights & Biases, offline (``WANDB_MODE=offline``, as the runner sets for every worker).

Timed: the ``run.log`` calls and ``run.finish()`` (which waits for wandb-core to write the
run's ``.wandb`` transaction log and media files); ``wandb.init`` is outside the timer, as
``ms.init`` is. W&B's defaults otherwise (console capture, system metrics), as a user gets them.

W5 reads the ``.wandb`` file back: W&B 0.31 ships no Python reader of its transaction log
(the old ``wandb.sdk.internal.datastore`` is gone; ``wandb sync`` hands it to wandb-core), so
``_records`` below reads the log framing (LevelDB-log blocks, as wandb-core writes them) and
W&B's own protobuf ``Record`` parses each record; history values are W&B's JSON.
"""

from __future__ import annotations

import json
import struct

from .common import KEYS, Ctx, check_history

NAME = "wandb"
MODULES = ("wandb",)
DISTRIBUTION = "wandb"
UNSUPPORTED = {
    "W6": "no offline query: W&B's query API needs a W&B server; offline, the boxes are one JSON file per image "
          "under files/media/metadata/boxes2D, for hand-written code to parse",
}
NOTES = {
    "W1": "run.log per step + finish",
    "W2": "wandb.Image(arr, boxes=...) x4 per step + finish",
    "W3": "wandb.Histogram(x) (64 bins) + finish",
    "W4": "wandb.Table(dataframe=df) + finish",
    "W5": "parse the .wandb log (W&B protobuf Record + JSON values) into a DataFrame",
    "S": "import wandb + wandb.init(offline) + finish",
}


def startup(root) -> None:
    import wandb

    wandb.init(project="bench", dir=str(root), mode="offline").finish()


def _init(ctx: Ctx):
    import wandb

    return wandb.init(project="bench", dir=str(ctx.root), mode="offline")


def w1(ctx: Ctx):
    dicts = ctx.inputs.scalar_dicts
    run = _init(ctx)
    with ctx.timed():
        for d in dicts:
            run.log(d)
        run.finish()
    return ctx.root


def _records(path):
    """The records of a W&B transaction log: a 7-byte header (":W&B", magic, version), then
    LevelDB-log framing: 32 KiB blocks of (crc32 u32, length u16, type u8, data) chunks."""
    with open(path, "rb") as fh:
        data = fh.read()
    if data[:4] != b":W&B":
        raise ValueError(f"{path} is not a W&B transaction log")
    block, pos, end, parts = 32768, 7, len(data), []
    while pos + 7 <= end:
        left = block - pos % block
        if left < 7:  # the writer pads a block's tail that cannot hold a header
            pos += left
            continue
        _crc, length, kind = struct.unpack_from("<IHB", data, pos)
        pos += 7
        chunk = data[pos:pos + length]
        pos += length
        if kind == 1:  # FULL
            yield chunk
        elif kind == 2:  # FIRST
            parts = [chunk]
        elif kind == 3:  # MIDDLE
            parts.append(chunk)
        elif kind == 4:  # LAST
            parts.append(chunk)
            yield b"".join(parts)
        elif kind == 0 and length == 0:
            break


def w5(ctx: Ctx, root) -> None:
    import pandas as pd
    from wandb.proto import wandb_internal_pb2 as pb

    (path,) = root.glob("wandb/offline-run-*/run-*.wandb")
    with ctx.timed():
        rows = []
        record = pb.Record()
        for raw in _records(path):
            record.ParseFromString(raw)
            if record.WhichOneof("record_type") == "history":
                rows.append({item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item})
        frame = pd.DataFrame(rows)
    frame = frame.rename(columns={"_step": "step"})
    ctx.info["check"] = check_history(frame[["step", *KEYS]], ctx.inputs)


def w2(ctx: Ctx):
    import wandb

    steps = list(ctx.inputs.image_steps())
    boxes = ctx.inputs.wandb_boxes
    run = _init(ctx)
    with ctx.timed():
        for _step, arrays, index in steps:
            run.log({"img": [wandb.Image(a, boxes=boxes[i]) for a, i in zip(arrays, index)]})
        run.finish()
    return ctx.root


def w3(ctx: Ctx) -> None:
    import wandb

    arrays = ctx.inputs.histograms
    run = _init(ctx)
    with ctx.timed():
        for x in arrays:
            run.log({"h": wandb.Histogram(x)})
        run.finish()


def w4(ctx: Ctx) -> None:
    import wandb

    df = ctx.inputs.table
    run = _init(ctx)
    with ctx.timed():
        run.log({"table": wandb.Table(dataframe=df)})
        run.finish()
