"""Reference for `caco bench pretrain`: one pre-training step of MoCo-v2, SeCo, TeCo or CACo written the way the
originals do it (torchvision ResNet-18 + PIL/torchvision transforms + torch DataLoader with worker processes), on the
same eurosat-seasons folder (CACo layout) and computing what caco's step computes (src/ssl/model.rs,
src/ssl/losses.rs, src/data/views.rs, src/train/pretrain.rs; METHODS.md "Common core", "SeCo", "TeCo and CACo").
bench/parity/make_golden.py is the row-by-row transcription of the losses; this file computes the same losses
vectorised (masks and -1e8 logits), as a speed benchmark should.

- Sampling units on the CACo layout (METHODS.md "The baselines on the CACo layout"), hence steps per epoch:
  moco: every image (each product folder; 10 per location); seco: a location, 3 of its 10 dates (both eras) drawn
  with replacement; teco: an era item (index 2k = older era of location k, 2k+1 = recent era), 3 of its 5 dates with
  replacement; caco: an era item, 3 distinct dates. Products sorted by folder name (= by date here), the first 5 the
  older era. Batches: moco and seco shuffled units; teco and caco the paired sampler (locations shuffled, the two
  eras of a location adjacent, so row r's long-term partner is row r ^ 1); drop_last everywhere.
- Views: MoCo-v2: q, k = two augmentations of the image, aug = RandomResizedCrop(scale 0.2-1) -> [ColorJitter(0.4,
  0.4, 0.4, 0.1) p 0.8] -> [Grayscale p 0.2] -> [GaussianBlur sigma 0.1-2, p 0.5] -> flip; SeCo/TeCo/CACo (dates t0, t1,
  t2): q = crop(t0), k0 = crop(aug(t1)), k1 = crop(t2), k2 = crop(aug(t0)) (SeCo's `augment` then `preprocess`).
  ImageNet normalisation.
- Model: torchvision resnet18 with fc = Identity (512-d) and PyTorch's default init, MoCo-v2 heads Linear(512, 512)
  -> ReLU -> Linear(512, 128) (1 head for MoCo-v2, 3 for SeCo/TeCo/CACo), L2-normalised; key side = deep copy
  updated by EMA (m = 0.999) of the parameters after each optimiser step (BatchNorm buffers are the key side's own),
  train-mode BatchNorm on both sides. One queue per head (random unit keys, era tags alternating 0, 1), the
  positives z_k[i] of the whole batch enqueued in batch order after each step, tagged with the row's era (0 for the
  moco and seco units).
- Key encoder: one forward per key view (MoCo-v2: k; SeCo/TeCo/CACo: k0, k1, k2 each its own forward, so BatchNorm
  statistics per view, never over the concatenated views); head i of the key side on every key view (z_k[i][j]).
- Losses (float32): InfoNCE, logits [q.k+ | q.negatives] / 0.07, cross-entropy with target 0, mean over rows, summed
  over subspaces. SeCo, subspace i: positive z_k[i][i], negatives queue i and, for i > 0, every row of z_k[i][j] for
  both j != i. TeCo/CACo, a query of era e in subspace i: positive z_k[i][i]; negatives the slots of queue i tagged
  e (the others masked), for i = 0 the opposite-era rows of z_k[0][0], for i > 0 every row of z_k[i][j] for both
  j != i plus the opposite-era rows of z_k[i][i] (same-era rows masked). CACo also masks the long-term partner's
  logit (row r ^ 1 of the opposite-era block) unless the row's change label is 1; TeCo masks nothing more. Masked
  logits are -1e8 (exp = 0 in float32), as caco.
- CACo's change estimate, every step, no gradient: l_q = normalize(head_k1(encoder_k(q))) from a separate key-encoder
  forward of the query view; l_s = k1's head-1 key z_k[1][1] reused from k1's own forward (as caco does: a second
  train-mode forward of the same batch gives the same values); ratio = ||l_q - l_q[r ^ 1]|| / (||l_q - l_s|| + 1e-4),
  running value per era item (first observation as is, then (4 old + x) / 5). The labels stay 0 within the first
  epoch (the GMM runs at epoch ends, outside a benchmark's steps), so every partner is masked here.
- SGD lr 0.03, momentum 0.9, weight decay 1e-4 on the query side. `--amp bf16`: torch.autocast("cpu" or "cuda",
  bfloat16) around the backbone forwards only (query and key encoders); features are cast to float32, and heads,
  embeddings, queues, logits, losses and the change ratios are float32, as caco's `amp = "bf16"`.

Usage: python bench/pretrain_reference.py <root> --method moco|seco|teco|caco [--size 64] [--batch-size 64]
           [--queue-size 4096] [--workers 2] [--steps 20] [--warmup 3] [--threads N] [--amp off|bf16]
           [--device cpu|cuda]
Prints one line: `images_per_s=<queries (batch rows = sampling units) per second over the timed steps>
peak_rss_mb=<main process VmHWM> peak_rss_total_mb=<main + DataLoader workers> threads=<torch threads>
data_wait_s=<...> step_s=<...> steps_per_epoch=<...>`.
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
METHODS = ["moco", "seco", "teco", "caco"]
PAIRED = ("teco", "caco")


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
    """The sampling units of one method on the CACo layout (see the module docstring): moco every image, seco a
    location (all 10 dates), teco/caco an era item (2k = older era of location k, 2k+1 = recent era)."""

    def __init__(self, root, method, size, dates_per_era=5):
        self.locations = []
        for loc in sorted(os.listdir(root)):
            path = os.path.join(root, loc)
            if not os.path.isdir(path):
                continue
            products = sorted(p for p in os.listdir(path) if os.path.isdir(os.path.join(path, p)))
            self.locations.append([os.path.join(path, p) for p in products])
        self.method, self.n = method, dates_per_era
        self.images = [p for products in self.locations for p in products] if method == "moco" else None
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
        if self.method == "moco":
            return len(self.images)
        if self.method == "seco":
            return len(self.locations)
        return 2 * len(self.locations)

    @staticmethod
    def read(product):
        bands = [Image.open(os.path.join(product, f"{b}.tif")).convert("L") for b in ("B4", "B3", "B2")]
        return Image.merge("RGB", bands)

    def dates(self, idx):
        """The dates a seasonal unit draws from: a location's 10 (seco) or one era's 5 (teco, caco)."""
        if self.method == "seco":
            return self.locations[idx]
        products = self.locations[idx // 2]
        return products[: self.n] if idx % 2 == 0 else products[-self.n:]

    def __getitem__(self, idx):
        if self.method == "moco":
            img = self.read(self.images[idx])
            return idx, (self.moco(img), self.moco(img))
        dates = self.dates(idx)
        if self.method == "caco":
            picks = random.sample(range(len(dates)), 3)
        else:
            picks = random.choices(range(len(dates)), k=3)
        loaded = {p: self.read(dates[p]) for p in set(picks)}
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
# Losses (float32; embeddings L2-normalised by the caller; keys without gradient)
# ----------------------------------------------------------------------------------------------------------------

def contrastive(q, k_pos, negatives, t):
    """logits [q.k+ | q.neg_1^T (masked) | ...] / t, cross-entropy with target 0 (mean over rows).
    negatives: (keys [m, d], mask [n, m] of usable columns or None)."""
    columns = [(q * k_pos).sum(1, keepdim=True) / t]
    for keys, mask in negatives:
        logits = q @ keys.T / t
        if mask is not None:
            logits = logits.masked_fill(~mask, MASKED_LOGIT)
        columns.append(logits)
    logits = torch.cat(columns, 1)
    return F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long, device=q.device))


def info_nce(q, k, queue, t):
    return contrastive(q, k, [(queue, None)], t)


def seco_loss(q, keys, queues, t):
    """q[i]: [n, d]; keys[i][j]: head i on key view j; queues[i]: [K, d]. One loss per subspace."""
    parts = []
    for i in range(len(q)):
        negatives = [(queues[i], None)]
        if i > 0:
            negatives += [(keys[i][j], None) for j in range(3) if j != i]
        parts.append(contrastive(q[i], keys[i][i], negatives, t))
    return parts


def caco_loss(q, keys, queues, queue_era, era, label, t, teco):
    """TeCo (teco=True) or CACo, one loss per subspace. era: [n] int64 (rows are (older, recent) pairs, partner of
    row r = r ^ 1); queue_era[i]: [K] int64 tag per slot; label: [n] int64 change label (1 changed, 0, -1)."""
    n = era.shape[0]
    assert n % 2 == 0, f"the batch must hold (older, recent) pairs, got {n} rows"
    rows = torch.arange(n, device=era.device)
    other_era = era.unsqueeze(1) != era.unsqueeze(0)
    if teco:
        opposite = other_era
    else:
        is_partner = (rows ^ 1).unsqueeze(1) == rows.unsqueeze(0)
        opposite = other_era & (~is_partner | (label == 1).unsqueeze(1))
    parts = []
    for i in range(len(q)):
        negatives = [(queues[i], era.unsqueeze(1) == queue_era[i].unsqueeze(0))]
        if i > 0:
            negatives += [(keys[i][j], None) for j in range(3) if j != i]
        negatives.append((keys[i][i], opposite))
        parts.append(contrastive(q[i], keys[i][i], negatives, t))
    return parts


def change_ratios(l_q, l_s):
    """d_long / (d_short + 1e-4) per row; the partner of row r is row r ^ 1."""
    partner = torch.arange(l_q.shape[0], device=l_q.device) ^ 1
    d_short = (l_q - l_s).norm(dim=1)
    d_long = (l_q - l_q.index_select(0, partner)).norm(dim=1)
    return d_long / (d_short + RATIO_EPS)


# ----------------------------------------------------------------------------------------------------------------
# Model
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


class Pretrainer:
    def __init__(self, method, n_units, queue_size, device, amp):
        self.method, self.device, self.amp = method, device, amp
        n_heads = 1 if method == "moco" else 3
        self.q_side = Side(n_heads).to(device)
        self.k_side = copy.deepcopy(self.q_side)
        for p in self.k_side.parameters():
            p.requires_grad = False
        self.queues = [Queue(queue_size, 128, device) for _ in range(n_heads)]
        self.optimizer = torch.optim.SGD(self.q_side.parameters(), lr=0.03, momentum=0.9, weight_decay=1e-4)
        self.temperature, self.momentum = 0.07, 0.999
        # CACo's change state per era item: running ratio (NaN = never seen) and label (0 throughout epoch 0).
        self.ratio = torch.full((n_units,), float("nan"), dtype=torch.float64)
        self.label = torch.zeros(n_units, dtype=torch.long)

    def encode(self, backbone, x):
        """Backbone features in float32; only this forward runs under autocast."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp == "bf16"):
            feats = backbone(x)
        return feats.float()

    def key_view(self, x):
        """One key view, its own key-encoder forward: every key head's normalised embedding, no gradient."""
        with torch.no_grad():
            feats = self.encode(self.k_side.backbone, x)
            return [F.normalize(h(feats), dim=1) for h in self.k_side.heads]

    def loss(self, items, views):
        """Loss parts, the positives to enqueue (one per queue) and the era tag of every row."""
        t = self.temperature
        q_feats = self.encode(self.q_side.backbone, views[0])
        q = [F.normalize(h(q_feats), dim=1) for h in self.q_side.heads]
        queue_keys = [qu.keys for qu in self.queues]
        if self.method == "moco":
            k = self.key_view(views[1])[0]
            return [info_nce(q[0], k, queue_keys[0], t)], [k], torch.zeros_like(items, device=self.device)
        by_view = [self.key_view(v) for v in views[1:4]]
        keys = [[by_view[j][i] for j in range(3)] for i in range(3)]  # keys[i][j]: head i on key view j
        if self.method == "seco":
            era = torch.zeros_like(items, device=self.device)
            parts = seco_loss(q, keys, queue_keys, t)
        else:
            era = items.to(self.device) % 2
            label = self.label[items].to(self.device)
            parts = caco_loss(q, keys, queue_keys, [qu.era for qu in self.queues], era, label, t,
                              teco=self.method == "teco")
            if self.method == "caco":
                with torch.no_grad():
                    l_q = F.normalize(self.k_side.heads[1](self.encode(self.k_side.backbone, views[0])), dim=1)
                    x = change_ratios(l_q, keys[1][1]).double().cpu()
                old = self.ratio[items]
                self.ratio[items] = torch.where(old.isnan(), x, (4 * old + x) / 5)
        return parts, [keys[i][i] for i in range(3)], era

    def step(self, items, views):
        views = [v.to(self.device, non_blocking=True) for v in views]
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
    parser.add_argument("--method", choices=METHODS, required=True)
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
    if args.method in PAIRED and args.batch_size % 2:
        raise SystemExit(f"{args.method} needs an even --batch-size ((older, recent) pairs)")
    random.seed(0)
    torch.manual_seed(0)
    device = torch.device(args.device)
    dataset = CacoLayout(args.root, args.method, args.size)
    if args.method in PAIRED:
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
          f"threads={torch.get_num_threads()} data_wait_s={data_wait:.2f} step_s={step_time:.2f} "
          f"steps_per_epoch={len(sampler)}")


if __name__ == "__main__":
    main()
