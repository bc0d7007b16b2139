"""Reference for `caco bench loader`: the same CACo view pipeline written the way the originals do it (PIL +
torchvision transforms + torch DataLoader with worker processes), on the same eurosat-seasons folder.

Per item: 3 distinct dates of the item's era (CACo layout: item 2k = older era of location k, 2k+1 = recent era),
each read as three uint8 GeoTIFF bands (B4, B3, B2) merged into an RGB PIL image; then SeCo's views
q = pre(t0), k0 = pre(aug(t1)), k1 = pre(t2), k2 = pre(aug(t0)) with
aug = [ColorJitter(0.4, 0.4, 0.4, 0.1) p=0.8, RandomGrayscale p=0.2, PIL GaussianBlur sigma in [0.1, 2] p=0.5,
RandomHorizontalFlip] and pre = [RandomResizedCrop(size, scale=(0.2, 1)), ToTensor, ImageNet Normalize].
Batches come from CACo's paired sampler (locations shuffled, eras adjacent).

Usage: python bench/loader_reference.py <root> [--batch-size 64] [--batches 30] [--workers 2] [--size 64]
Prints one line: `images_per_s=<views per second> items_per_s=<...>` measured after the first batch.
"""
import argparse
import os
import random
import time

import torch
import torchvision.transforms as T
from PIL import Image, ImageFilter


class GaussianBlur:
    """MoCo-v2's blur: PIL GaussianBlur with radius drawn uniformly from sigma."""

    def __init__(self, sigma=(0.1, 2.0)):
        self.sigma = sigma

    def __call__(self, img):
        return img.filter(ImageFilter.GaussianBlur(radius=random.uniform(*self.sigma)))


class CacoSeasons(torch.utils.data.Dataset):
    def __init__(self, root, size, dates_per_era=5):
        self.locations = []
        for loc in sorted(os.listdir(root)):
            path = os.path.join(root, loc)
            if not os.path.isdir(path):
                continue
            products = sorted(p for p in os.listdir(path) if os.path.isdir(os.path.join(path, p)))
            self.locations.append([os.path.join(path, p) for p in products])
        self.n = dates_per_era
        self.augment = T.Compose([
            T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
            T.RandomGrayscale(p=0.2),
            T.RandomApply([GaussianBlur([0.1, 2.0])], p=0.5),
            T.RandomHorizontalFlip(),
        ])
        self.preprocess = T.Compose([
            T.RandomResizedCrop(size, scale=(0.2, 1.0)),
            T.ToTensor(),
            T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
        ])

    def __len__(self):
        return 2 * len(self.locations)

    @staticmethod
    def read(product):
        bands = [Image.open(os.path.join(product, f"{b}.tif")).convert("L") for b in ("B4", "B3", "B2")]
        return Image.merge("RGB", bands)

    def __getitem__(self, idx):
        products = self.locations[idx // 2]
        era = products[: self.n] if idx % 2 == 0 else products[-self.n:]
        picks = random.sample(range(len(era)), 3)
        t0, t1, t2 = (self.read(era[p]) for p in picks)
        return (self.preprocess(t0), self.preprocess(self.augment(t1)), self.preprocess(t2),
                self.preprocess(self.augment(t0)))


class PairedBatches(torch.utils.data.Sampler):
    def __init__(self, n_locations, batch_size):
        self.n_locations, self.batch_size = n_locations, batch_size

    def __iter__(self):
        locations = list(range(self.n_locations))
        random.shuffle(locations)
        order = [i for k in locations for i in (2 * k, 2 * k + 1)]
        for start in range(0, len(order) - self.batch_size + 1, self.batch_size):
            yield order[start:start + self.batch_size]

    def __len__(self):
        return 2 * self.n_locations // self.batch_size


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    random.seed(0)
    torch.manual_seed(0)
    dataset = CacoSeasons(args.root, args.size)
    loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=PairedBatches(len(dataset.locations), args.batch_size),
        num_workers=args.workers, prefetch_factor=2 if args.workers > 0 else None)
    start, n_items = None, 0
    for i, views in enumerate(loader):
        if i == 0:
            start = time.perf_counter()
        else:
            n_items += views[0].shape[0]
        if i == args.batches:
            break
    seconds = time.perf_counter() - start
    print(f"images_per_s={4 * n_items / seconds:.1f} items_per_s={n_items / seconds:.1f}")


if __name__ == "__main__":
    main()
