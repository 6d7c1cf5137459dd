"""Train on what was logged: a PyTorch DataLoader over a mediastore query (store.iter_media).

    python examples/train_from_store.py --store ./example-store

Logs a small synthetic segmentation set into the store if it has none (48 16x16 images, each
with a ground-truth mask), then trains a tiny convolutional net on CPU for one epoch, reading
images and masks from the store through ``store.iter_media``: rows are read and decoded ahead
of the loop on threads (``prefetch``), and each DataLoader worker reads its own share of the
rows (``shard=``), so ``num_workers > 0`` does not repeat items.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

import mediastore as ms

QUERY = "SELECT run_id, step, blob, masks FROM images WHERE key = 'train/image' ORDER BY run_id, step"


class StoreImages(IterableDataset):
    """(image, mask) tensors from the rows of a query: CHW float images, HW long class masks."""

    def __init__(self, store_uri: str, query: str = QUERY, prefetch: int = 16):
        self.store_uri, self.query, self.prefetch = store_uri, query, prefetch

    def __iter__(self):
        # One Store per worker process: its DuckDB connection does not cross a fork.
        store = ms.open(self.store_uri)
        info = get_worker_info()
        shard = None if info is None else (info.id, info.num_workers)
        for item in store.iter_media(self.query, prefetch=self.prefetch, shard=shard):
            image = torch.from_numpy(item["data"]).permute(2, 0, 1).float() / 255
            mask = torch.from_numpy(item["mask_data"]["ground_truth"].astype(np.int64))
            yield image, mask


def make_store(uri: str, n: int = 48, size: int = 16) -> None:
    """A synthetic set: a bright square on noise; the mask marks the square."""
    rng = np.random.default_rng(0)
    with ms.init(project="example", store=uri, run_id="data") as run:
        for step in range(n):
            image = rng.integers(0, 80, (size, size, 3), dtype=np.uint8)
            y, x = rng.integers(0, size - 6, 2)
            image[y:y + 6, x:x + 6] = 220
            mask = np.zeros((size, size), np.uint8)
            mask[y:y + 6, x:x + 6] = 1
            run.log({"train/image": ms.Image(image, masks={"ground_truth": {"mask_data": mask, "class_labels": {0: "bg", 1: "square"}}})},
                    step=step)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", default="./example-store")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (each reads its share)")
    args = parser.parse_args()
    store = ms.open(args.store)
    if store.sql(QUERY).fetchall() == []:
        make_store(args.store)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 2, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    loader = DataLoader(StoreImages(args.store), batch_size=8, num_workers=args.workers)
    batches = items = 0
    for images, masks in loader:
        loss = torch.nn.functional.cross_entropy(model(images), masks)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if batches == 0:
            shapes = (tuple(images.shape), tuple(masks.shape))
        batches += 1
        items += len(images)
    print(f"batches: {batches} items: {items} image batch: {shapes[0]} mask batch: {shapes[1]} last loss: {loss.item():.3f}")


if __name__ == "__main__":
    main()
