"""Reference for `caco bench features`: linear-probe feature extraction over EuroSAT RGB written the way torchvision
users do it: ImageFolder (PIL loading) + ToTensor + ImageNet Normalize, a DataLoader with worker processes, a
randomly initialised torchvision resnet18 with fc = Identity in eval mode under no_grad, batch 256.

The images are the same evenly spaced subset as caco's (position i * len / n of the sorted ImageFolder list, which
orders classes and files as caco's reader does); one warm-up batch, then one timed pass over the subset.

Usage: python bench/features_reference.py <eurosat-rgb root> [--n-images 5400] [--batch-size 256] [--workers 2]
           [--threads N] [--device cpu|cuda]
Prints one line: `images_per_s=<...> peak_rss_mb=<main process VmHWM> peak_rss_total_mb=<main + workers> threads=<...>`.
"""
import argparse
import time

import torch
import torchvision
import torchvision.transforms as T

from pretrain_reference import IMAGENET, vm_hwm_mb


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("--n-images", type=int, default=5400)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    dataset = torchvision.datasets.ImageFolder(args.root, transform=T.Compose([T.ToTensor(), IMAGENET]))
    n = min(args.n_images, len(dataset))
    subset = torch.utils.data.Subset(dataset, [i * len(dataset) // n for i in range(n)])
    model = torchvision.models.resnet18()
    model.fc = torch.nn.Identity()
    model = model.to(device).eval()

    def run(data):
        loader = torch.utils.data.DataLoader(data, batch_size=args.batch_size, num_workers=args.workers,
                                             pin_memory=device.type == "cuda")
        it = iter(loader)
        workers = [w.pid for w in getattr(it, "_workers", [])]
        outputs, workers_mb = [], 0.0
        with torch.no_grad():
            for images, _ in it:
                outputs.append(model(images.to(device, non_blocking=True)).cpu())
                # Workers exit with the last batch: read their peak while they run.
                workers_mb = max(workers_mb, sum(vm_hwm_mb(pid) for pid in workers))
        return torch.cat(outputs), workers_mb

    run(torch.utils.data.Subset(subset, range(min(args.batch_size, n))))
    start = time.perf_counter()
    features, workers_mb = run(subset)
    seconds = time.perf_counter() - start
    main_mb = vm_hwm_mb()
    print(f"images_per_s={features.shape[0] / seconds:.2f} peak_rss_mb={main_mb:.0f} "
          f"peak_rss_total_mb={main_mb + workers_mb:.0f} threads={torch.get_num_threads()}")


if __name__ == "__main__":
    main()
