"""How tests/data/store-v3 was made, with the format-3 code (commit 969ad92): project "old", run
"v3a" finished, run "v3b" resumed twice (three published files per table under format 3's rule,
a file per resume), then `compact_store` (the runs index and the project files of format 3, which
record no file versions). Kept to show what the checked-in store holds; do not re-run it with newer
code (the point of the store is that it was written by format 3)."""
import sys

import numpy as np

import mediastore as ms
from mediastore.compact import compact_store
from mediastore.storage import StoreLocation

root = sys.argv[1]
with ms.init(project="old", store=root, run_id="v3a", config={"lr": 0.1}) as run:
    for step in range(5):
        run.log({"loss": 1.0 / (step + 1)})
    img = np.zeros((6, 8, 3), np.uint8)
    img[1:4, 2:6] = (10, 200, 30)
    run.log({"sample": ms.Image(img, caption="v3")}, step=5)
for part in range(3):
    with ms.init(project="old", store=root, run_id="v3b", config={"lr": 0.2}, resume=part > 0) as run:
        for _ in range(4):
            run.log({"loss": float(run.step)})
compact_store(StoreLocation(root), grace_seconds=0)
