"""Reference for `caco bench-pretrain`: one pre-training step of MoCo-v2, SeCo or CACo written the way the originals
do it (torchvision ResNet-18 + PIL/torchvision transforms + torch DataLoader with worker processes), on the same
eurosat-seasons folder (CACo layout) and with the same model, views, losses, optimiser and batch as caco
(src/ssl/model.rs, src/ssl/losses.rs, src/data/views.rs, src/train/pretrain.rs).

- Model: torchvision resnet18 with fc = Identity (512-d), MoCo-v2 heads Linear(512, 512) -> ReLU -> Linear(512, 128)
  (1 head for MoCo-v2, 3 for SeCo/CACo), L2-normalised; key side = deep copy updated by EMA (m = 0.999) of the
  parameters (BatchNorm buffers are the key side's own), train-mode BatchNorm on both sides; one queue per head
  (random unit keys, era tags alternating 0, 1), enqueue of the positives after each step.
- Views (per item, as src/data/views.rs): MoCo-v2: q, k = two augmentations of one date, aug = RandomResizedCrop ->
  [ColorJitter p 0.8] -> [Grayscale p 0.2] -> [GaussianBlur p 0.5] -> flip; SeCo (3 dates with replacement) and CACo
  (3 distinct dates of the item's era): q = crop(t0), k0 = crop(aug(t1)), k1 = crop(t2), k2 = crop(aug(t0)).
  ImageNet normalisation.
- Losses (src/ssl/losses.rs): InfoNCE; SeCo's 3 subspaces (subspace i: positive k_i, negatives queue i + for i > 0 the
  other key views of the batch); CACo: own-era negatives only (queue split by era tag, batch keys by parity), the
  long-term partner's key (row r ^ 1) one more column masked with -1e8 unless the item is labelled changed; the running
  ratio d_long / (d_short + 1e-4) per item with the key encoder and head 1 under no_grad ((4 old + x) / 5).
- SGD lr 0.03, momentum 0.9, weight decay 1e-4 on the query side; `--amp bf16`: forward passes under
  torch.autocast("cpu" or "cuda", bfloat16), as caco's `amp = "bf16"`.
- Batches: shuffled items (MoCo-v2, SeCo) or CACo's paired sampler (locations shuffled, eras adjacent), drop_last.

Usage: python bench/pretrain_reference.py <root> --method moco|seco|caco [--size 64] [--batch-size 64]
           [--queue-size 4096] [--workers 2] [--steps 20] [--warmup 3] [--threads N] [--amp off|bf16]
           [--device cpu|cuda]
Prints one line: `images_per_s=<queries per second over the timed steps> peak_rss_mb=<main process VmHWM>
peak_rss_total_mb=<main + DataLoader workers> threads=<torch threads> data_wait_s=<...> step_s=<...>`.
"""
import argparse
import copy
import os
import random
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
import torchvision.transforms as T
from PIL import Image

from loader_reference import GaussianBlur, PairedBatches

MASKED_LOGIT = -1e8
RATIO_EPS = 1e-4
IMAGENET = T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])


def vm_hwm_mb(pid="self"):
    """Peak resident set size (VmHWM) of a process in MiB, 0 if unreadable."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# ----------------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------------

class CacoLayout(torch.utils.data.Dataset):
    """Items of the CACo layout: item 2k = older era (first 5 dates) of location k, 2k+1 = recent era."""

    def __init__(self, root, method, size, dates_per_era=5):
        self.locations = []
        for loc in sorted(os.listdir(root)):
            path = os.path.join(root, loc)
            if not os.path.isdir(path):
                continue
            products = sorted(p for p in os.listdir(path) if os.path.isdir(os.path.join(path, p)))
            self.locations.append([os.path.join(path, p) for p in products])
        self.method, self.n = method, dates_per_era
        appearance = [
            T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
            T.RandomGrayscale(p=0.2),
            T.RandomApply([GaussianBlur([0.1, 2.0])], p=0.5),
            T.RandomHorizontalFlip(),
        ]
        crop = T.RandomResizedCrop(size, scale=(0.2, 1.0))
        finish = [T.ToTensor(), IMAGENET]
        # MoCo-v2's aug_plus: crop first, then the appearance steps.
        self.moco = T.Compose([crop] + appearance + finish)
        # SeCo's `augment` (appearance at full resolution) and `preprocess` (crop, tensor, normalise).
        self.augment = T.Compose(appearance)
        self.preprocess = T.Compose([crop] + finish)

    def __len__(self):
        return 2 * len(self.locations)

    @staticmethod
    def read(product):
        bands = [Image.open(os.path.join(product, f"{b}.tif")).convert("L") for b in ("B4", "B3", "B2")]
        return Image.merge("RGB", bands)

    def __getitem__(self, idx):
        products = self.locations[idx // 2]
        era = products[: self.n] if idx % 2 == 0 else products[-self.n:]
        if self.method == "moco":
            img = self.read(random.choice(era))
            return idx, (self.moco(img), self.moco(img))
        if self.method == "seco":
            picks = random.choices(range(len(era)), k=3)
        else:
            picks = random.sample(range(len(era)), 3)
        loaded = {p: self.read(era[p]) for p in set(picks)}
        t0, t1, t2 = (loaded[p] for p in picks)
        return idx, (self.preprocess(t0), self.preprocess(self.augment(t1)), self.preprocess(t2),
                     self.preprocess(self.augment(t0)))


class ShuffledBatches(torch.utils.data.Sampler):
    def __init__(self, n_items, batch_size):
        self.n_items, self.batch_size = n_items, batch_size

    def __iter__(self):
        order = list(range(self.n_items))
        random.shuffle(order)
        for start in range(0, len(order) - self.batch_size + 1, self.batch_size):
            yield order[start:start + self.batch_size]

    def __len__(self):
        return self.n_items // self.batch_size


# ----------------------------------------------------------------------------------------------------------------
# Model and losses
# ----------------------------------------------------------------------------------------------------------------

def projection_head(dim=512, out=128):
    return nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, out))


class Side(nn.Module):
    def __init__(self, n_heads):
        super().__init__()
        self.backbone = torchvision.models.resnet18()
        self.backbone.fc = nn.Identity()
        self.heads = nn.ModuleList(projection_head() for _ in range(n_heads))


class Queue:
    def __init__(self, size, dim, device):
        self.keys = F.normalize(torch.randn(size, dim, device=device), dim=1)
        self.era = torch.arange(size, device=device) % 2
        self.ptr = 0

    def enqueue(self, keys, era):
        size, n = self.keys.shape[0], keys.shape[0]
        if n > size:
            keys, era, n = keys[-size:], era[-size:], size
        slots = (torch.arange(n, device=keys.device) + self.ptr) % size
        self.keys.index_copy_(0, slots, keys.detach().float())
        self.era.index_copy_(0, slots, era)
        self.ptr = (self.ptr + n) % size


def contrastive(q, k_pos, negatives, t, partner=None):
    """logits [q.k+ | q.neg_1^T (masked) | ... | partner (masked)] / t, cross-entropy with target 0."""
    columns = [(q * k_pos).sum(1, keepdim=True) / t]
    for keys, mask in negatives:
        logits = q @ keys.T / t
        if mask is not None:
            logits = logits.masked_fill(~mask, MASKED_LOGIT)
        columns.append(logits)
    if partner is not None:
        logit, mask = partner
        columns.append((logit / t).masked_fill(~mask, MASKED_LOGIT))
    logits = torch.cat(columns, 1)
    return F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long, device=q.device))


def seco_loss(q, keys, queues, t):
    parts = []
    for i in range(len(q)):
        negatives = [(queues[i], None)]
        if i > 0:
            negatives += [(keys[i][j], None) for j in range(3) if j != i]
        parts.append(contrastive(q[i], keys[i][i], negatives, t))
    return parts


def caco_loss(q, keys, queues, queue_era, era, changed, t):
    n = era.shape[0]
    partner = torch.arange(n, device=era.device) ^ 1
    same_era = lambda other: era.unsqueeze(1) == other.unsqueeze(0)  # noqa: E731
    parts = []
    for i in range(len(q)):
        negatives = [(queues[i], same_era(queue_era[i]))]
        if i > 0:
            negatives += [(keys[i][j], same_era(era)) for j in range(3) if j != i]
        partner_logit = (q[i] * keys[i][i].index_select(0, partner)).sum(1, keepdim=True)
        parts.append(contrastive(q[i], keys[i][i], negatives, t, (partner_logit, changed.unsqueeze(1))))
    return parts


class Pretrainer:
    def __init__(self, method, n_items, queue_size, device, amp):
        self.method, self.device, self.amp = method, device, amp
        n_heads = 1 if method == "moco" else 3
        self.q_side = Side(n_heads).to(device)
        self.k_side = copy.deepcopy(self.q_side)
        for p in self.k_side.parameters():
            p.requires_grad = False
        self.queues = [Queue(queue_size, 128, device) for _ in range(n_heads)]
        self.optimizer = torch.optim.SGD(self.q_side.parameters(), lr=0.03, momentum=0.9, weight_decay=1e-4)
        self.temperature, self.momentum = 0.07, 0.999
        self.ratio = [float("nan")] * n_items
        self.changed = [False] * n_items  # every label is 0 during the first epoch

    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp == "bf16")

    def keys(self, x):
        with torch.no_grad():
            feats = self.k_side.backbone(x)
            return [F.normalize(h(feats), dim=1) for h in self.k_side.heads]

    def loss(self, items, views):
        t = self.temperature
        q_feats = self.q_side.backbone(views[0])
        q = [F.normalize(h(q_feats), dim=1) for h in self.q_side.heads]
        queue_keys = [qu.keys for qu in self.queues]
        if self.method == "moco":
            k = self.keys(views[1])[0]
            parts = [contrastive(q[0], k, [(queue_keys[0], None)], t)]
            return parts, [k], torch.zeros(len(items), dtype=torch.long, device=self.device)
        keys = [k.chunk(3) for k in self.keys(torch.cat(views[1:4]))]
        era = items.to(self.device) % 2
        if self.method == "seco":
            parts = seco_loss(q, keys, queue_keys, t)
        else:
            changed = torch.tensor([self.changed[i] for i in items.tolist()], device=self.device)
            parts = caco_loss(q, keys, queue_keys, [qu.era for qu in self.queues], era, changed, t)
            with torch.no_grad():
                l_q = F.normalize(self.k_side.heads[1](self.k_side.backbone(views[0])), dim=1)
                l_s = keys[1][1]
                partner = torch.arange(l_q.shape[0], device=self.device) ^ 1
                d_short = (l_q - l_s).norm(dim=1)
                d_long = (l_q - l_q.index_select(0, partner)).norm(dim=1)
                ratios = (d_long / (d_short + RATIO_EPS)).double().cpu().tolist()
            for i, x in zip(items.tolist(), ratios):
                old = self.ratio[i]
                self.ratio[i] = x if old != old else (4 * old + x) / 5
        return parts, [keys[i][i] for i in range(3)], era

    def step(self, items, views):
        views = [v.to(self.device, non_blocking=True) for v in views]
        with self.autocast():
            parts, keys, era = self.loss(items, views)
        values = [p.item() for p in parts]
        loss = sum(parts)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            for pk, pq in zip(self.k_side.parameters(), self.q_side.parameters()):
                pk.mul_(self.momentum).add_(pq.detach(), alpha=1 - self.momentum)
        for queue, k in zip(self.queues, keys):
            queue.enqueue(k, era)
        return sum(values)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("--method", choices=["moco", "seco", "caco"], required=True)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--queue-size", type=int, default=4096)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (at least 1)")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--amp", choices=["off", "bf16"], default="off")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    random.seed(0)
    torch.manual_seed(0)
    device = torch.device(args.device)
    dataset = CacoLayout(args.root, args.method, args.size)
    if args.method == "caco":
        sampler = PairedBatches(len(dataset.locations), args.batch_size)
    else:
        sampler = ShuffledBatches(len(dataset), args.batch_size)
    loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=sampler, num_workers=args.workers,
        prefetch_factor=2 if args.workers > 0 else None, pin_memory=device.type == "cuda")
    model = Pretrainer(args.method, len(dataset), args.queue_size, device, args.amp)
    args.warmup = max(args.warmup, 1)
    total = args.warmup + args.steps
    if total > len(sampler):
        raise SystemExit(f"{total} steps do not fit in one epoch of {len(sampler)} batches")
    it = iter(loader)
    start, n_items, data_wait, step_time = None, 0, 0.0, 0.0
    for step in range(total):
        t0 = time.perf_counter()
        items, views = next(it)
        t1 = time.perf_counter()
        model.step(items, views)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        if step < args.warmup:
            start = t2
            continue
        n_items += len(items)
        data_wait += t1 - t0
        step_time += t2 - t1
    seconds = time.perf_counter() - start
    workers = [w.pid for w in getattr(it, "_workers", [])]
    main_mb = vm_hwm_mb()
    total_mb = main_mb + sum(vm_hwm_mb(pid) for pid in workers)
    print(f"images_per_s={n_items / seconds:.2f} peak_rss_mb={main_mb:.0f} peak_rss_total_mb={total_mb:.0f} "
          f"threads={torch.get_num_threads()} data_wait_s={data_wait:.2f} step_s={step_time:.2f}")


if __name__ == "__main__":
    main()
