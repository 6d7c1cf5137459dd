"""How tests/data/store-v1 was made, with the format-1 code (commit 9dff537): two runs, one left
uncompacted (the writers' hidden files) and one compacted at finish, each with scalars, an image with
a mask and a box, a histogram and a table. Kept to show what the checked-in store holds; do not re-run
it with newer code (the point of the store is that it was written by format 1)."""
import sys, numpy as np, mediastore as ms
root = sys.argv[1]
rng = np.random.default_rng(0)
settings = ms.Settings(flush_rows=4, compact_on_finish=False)
# run a: left uncompacted (hidden writer files), run b: compacted at finish
for rid, compact in (("v1a", False), ("v1b", True)):
    with ms.init(project="old", store=root, run_id=rid, name=f"run {rid}", config={"lr": 0.1 if compact else 0.2},
                 settings=ms.Settings(flush_rows=4, compact_on_finish=compact)) as run:
        for step in range(6):
            run.log({"loss": 1.0 / (step + 1), "acc": step / 10})
        img = np.zeros((8, 12, 3), np.uint8); img[2:6, 3:9] = (200, 30, 40)
        mask = np.zeros((8, 12), np.uint8); mask[2:6, 3:9] = 1
        run.log({"sample": ms.Image(img, caption="a box", masks={"pred": {"mask_data": mask, "class_labels": {1: "car"}}},
                                    boxes={"pred": {"box_data": [{"position": {"minX": 3, "maxX": 9, "minY": 2, "maxY": 6},
                                                                  "class_id": 1, "box_caption": "car", "scores": {"p": 0.9}}],
                                                    "class_labels": {1: "car"}}})}, step=6)
        run.log({"weights": ms.Histogram(np.arange(20) % 7)}, step=6)
        run.log({"preds": ms.Table(columns=["id", "label"], data=[[1, "cat"], [2, "dog"]])}, step=6)
        run.summary["best"] = 0.5
