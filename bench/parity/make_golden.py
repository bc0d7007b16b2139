"""Golden parity files for tests/golden.rs: an independent PyTorch transcription of ../shared/docs/METHODS.md.

Written from the facts listed in METHODS.md (not from the authors' code, and not from caco's Rust): every loss is
built column by column for each query row, the way the method description reads, so that it does not share the
Rust code's masking formulation.

Run (from the repository root):
    cargo test --test golden -- --ignored write_step_inputs   # seeded initial states -> target/golden-init/
    .venv-bench/bin/python bench/parity/make_golden.py         # -> tests/golden/*.safetensors
.venv-bench is the environment of `cargo xtask bench` (torch 2.11.0, torchvision 0.26.0); this script also needs
scikit-learn (`.venv-bench/bin/pip install scikit-learn`) for the GMM goldens.
"""

import copy
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from safetensors.torch import load_file, save_file
from sklearn.metrics import average_precision_score
from sklearn.mixture import GaussianMixture

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "golden")
INIT = os.path.join(ROOT, "target", "golden-init")
torch.set_num_threads(2)


def normalize(x):
    return F.normalize(x, dim=1)


# ---------------------------------------------------------------------------------------------------------------
# Losses (METHODS.md "Common core", "SeCo", "TeCo and CACo", "GASSL").

def ce_first(logits_row):
    """Cross-entropy of one row of logits with target 0."""
    return -torch.log_softmax(logits_row, dim=0)[0]


def info_nce(q, k, queue, t):
    logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.T], 1) / t
    return F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long))


def seco_subspaces(q, keys, queues, t):
    """q[i]: [n, d]; keys[i][j]: head i of key view j; queues[i]: [K, d]."""
    out = []
    for i in range(3):
        cols = [(q[i] * keys[i][i]).sum(1, keepdim=True), q[i] @ queues[i].T]
        if i > 0:
            cols += [q[i] @ keys[i][j].T for j in range(3) if j != i]
        out.append(F.cross_entropy(torch.cat(cols, 1) / t, torch.zeros(q[i].shape[0], dtype=torch.long)))
    return out


def caco_subspaces(q, keys, queues, queue_era, era, label, t, teco):
    """Row by row: the positive, the queue slots of the row's era, then (i = 0) the other era's k0 keys, or
    (i > 0) every key of the two other views plus the other era's keys of view i. The partner (row r ^ 1) is left
    out of that last block by CACo unless the row's change label is 1; TeCo keeps it."""
    n = q[0].shape[0]
    out = []
    for i in range(3):
        rows = []
        for r in range(n):
            e = int(era[r])
            qi = q[i][r]
            cols = [torch.dot(qi, keys[i][i][r]).reshape(1)]
            same = [s for s in range(queues[i].shape[0]) if int(queue_era[i][s]) == e]
            cols.append(queues[i][same] @ qi)
            if i > 0:
                for j in range(3):
                    if j != i:
                        cols.append(keys[i][j] @ qi)
            opposite = [c for c in range(n) if int(era[c]) != e]
            if not teco and int(label[r]) != 1:
                opposite = [c for c in opposite if c != (r ^ 1)]
            cols.append(keys[i][i][opposite] @ qi)
            rows.append(ce_first(torch.cat(cols) / t))
        out.append(torch.stack(rows).mean())
    return out


def change_ratios(l_q, l_s):
    n = l_q.shape[0]
    partner = torch.tensor([r ^ 1 for r in range(n)])
    d_short = (l_q - l_s).norm(dim=1)
    d_long = (l_q - l_q[partner]).norm(dim=1)
    return d_long / (d_short + 1e-4)


def running_update(prior, items, x):
    out = prior.clone()
    for i, v in zip(items.tolist(), x.tolist()):
        out[i] = v if math.isnan(out[i]) else (4 * out[i] + v) / 5
    return out


def write_losses():
    g = torch.Generator().manual_seed(0)
    n, d, k, t = 8, 16, 32, 0.07
    rn = lambda *s: normalize(torch.randn(*s, generator=g))
    q = [rn(n, d) for _ in range(3)]
    keys = [[rn(n, d) for _ in range(3)] for _ in range(3)]
    queues = [rn(k, d) for _ in range(3)]
    # Era tags of the queue slots: mostly alternating, with a few runs (a queue written by uneven batches).
    tags = torch.tensor([0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 1, 1, 1, 0, 0] * 2)
    queue_era = [tags.roll(i) for i in range(3)]
    era = torch.arange(n) % 2
    label = torch.tensor([1, 1, 0, 0, -1, -1, 1, 0])
    out = {"temperature": torch.tensor(t, dtype=torch.float64), "era": era, "change_label": label}
    for i in range(3):
        out[f"q{i}"] = q[i]
        out[f"queue{i}"] = queues[i]
        out[f"queue_era{i}"] = queue_era[i]
        for j in range(3):
            out[f"keys{i}_{j}"] = keys[i][j]
    out["infonce"] = info_nce(q[0], keys[0][0], queues[0], t)
    for name, values in [
        ("seco", seco_subspaces(q, keys, queues, t)),
        ("teco", caco_subspaces(q, keys, queues, queue_era, era, label, t, teco=True)),
        ("caco", caco_subspaces(q, keys, queues, queue_era, era, label, t, teco=False)),
    ]:
        for i, v in enumerate(values):
            out[f"{name}{i}"] = v
    geo = torch.randn(n, 5, generator=g)
    clusters = torch.tensor([0, 4, 2, 2, 1, 3, 0, 4])
    out["geo_logits"] = geo
    out["clusters"] = clusters
    out["gassl_infonce"] = info_nce(q[0], keys[0][0], queues[0], t)
    out["gassl_geo"] = F.cross_entropy(geo, clusters)
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(OUT, "losses.safetensors"))


def gmm_case(x):
    """scikit-learn's GaussianMixture with its defaults (k-means init, tol 1e-3, reg_covar 1e-6, 100 iterations);
    labels: 1 for the higher-mean component."""
    gm = GaussianMixture(n_components=2, random_state=0).fit(x.reshape(-1, 1))
    order = np.argsort(gm.means_.ravel())
    high = order[1]
    labels = (gm.predict(x.reshape(-1, 1)) == high).astype(np.int64)
    return {
        "labels": torch.from_numpy(labels),
        "means": torch.from_numpy(gm.means_.ravel()[order].copy()),
        "vars": torch.from_numpy(gm.covariances_.ravel()[order].copy()),
        "weights": torch.from_numpy(gm.weights_[order].copy()),
    }


def write_change():
    g = torch.Generator().manual_seed(1)
    l_q = normalize(torch.randn(8, 16, generator=g))
    l_s = normalize(l_q + 0.3 * torch.randn(8, 16, generator=g))
    out = {"l_q": l_q, "l_s": l_s, "ratios": change_ratios(l_q, l_s).double()}
    prior = torch.tensor([1.5, float("nan"), 0.7, float("nan"), 2.0, 1.0], dtype=torch.float64)
    items = torch.tensor([0, 1, 3, 5])
    x = torch.tensor([2.5, 1.25, 0.5, 3.0], dtype=torch.float64)
    out.update({"prior": prior, "items": items, "update_x": x, "after_update": running_update(prior, items, x)})
    rng = np.random.default_rng(2)
    cases = {
        "gmm_a": np.concatenate([rng.normal(1.0, 0.2, 700), rng.normal(3.0, 0.5, 300)]),
        # Change-ratio-like: a skewed bulk near 1 and a smaller, wider tail of changed places.
        "gmm_b": np.concatenate([rng.lognormal(0.0, 0.25, 900), rng.normal(2.4, 0.7, 100)]),
    }
    for name, values in cases.items():
        out[f"{name}_x"] = torch.from_numpy(values)
        for key, v in gmm_case(values).items():
            out[f"{name}_{key}"] = v
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(OUT, "change.safetensors"))


def write_metrics():
    rng = np.random.default_rng(3)
    scores = rng.random((40, 6)).astype(np.float32)
    labels = (rng.random((40, 6)) < 0.3).astype(np.int64)
    labels[0] = 1  # every class has a positive
    micro_ap = average_precision_score(labels, scores, average="micro")
    probs = rng.random(500).astype(np.float32)
    truth = (rng.random(500) < 0.25 + 0.5 * probs).astype(np.int64)
    pred = probs > 0.5
    tp = int((pred & (truth == 1)).sum())
    fp = int((pred & (truth == 0)).sum())
    fn_ = int((~pred & (truth == 1)).sum())
    precision = tp / (tp + fp)
    recall = tp / (tp + fn_)
    # kNN (CACo notebook): cosine similarity, the query excluded, 50 queries drawn with replacement; P@k averaged
    # over queries, recall micro (hits summed over queries / class-mates summed over queries).
    feats = torch.from_numpy(rng.normal(size=(120, 8)).astype(np.float32))
    knn_labels = torch.from_numpy(rng.integers(0, 4, 120))
    feats = feats + 1.5 * F.one_hot(knn_labels, 8).float()
    queries = torch.from_numpy(rng.integers(0, 120, 50))
    normed = normalize(feats)
    sims = normed[queries] @ normed.T
    sims[torch.arange(50), queries] = -float("inf")
    order = sims.argsort(dim=1, descending=True)
    knn = {}
    for k in (5, 20):
        hits = (knn_labels[order[:, :k]] == knn_labels[queries].unsqueeze(1)).sum(1).double()
        relevant = torch.tensor([(knn_labels == knn_labels[q]).sum().item() - 1 for q in queries.tolist()]).double()
        knn[f"knn_p{k}"] = (hits / k).mean()
        knn[f"knn_r{k}"] = hits.sum() / relevant.sum()
    out = {
        "knn_features": feats,
        "knn_labels": knn_labels,
        "knn_queries": queries,
        **knn,
        "ap_scores": torch.from_numpy(scores),
        "ap_labels": torch.from_numpy(labels),
        "micro_ap": torch.tensor(micro_ap, dtype=torch.float64),
        "cd_probs": torch.from_numpy(probs),
        "cd_truth": torch.from_numpy(truth),
        "precision": torch.tensor(precision, dtype=torch.float64),
        "recall": torch.tensor(recall, dtype=torch.float64),
        "f1": torch.tensor(2 * precision * recall / (precision + recall), dtype=torch.float64),
        "iou": torch.tensor(tp / (tp + fp + fn_), dtype=torch.float64),
    }
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(OUT, "metrics.safetensors"))


# ---------------------------------------------------------------------------------------------------------------
# One whole pre-training step (METHODS.md "Common core": MoCo-v2 with per-view key forwards).

class Side(torch.nn.Module):
    """Backbone (torchvision ResNet-18 without fc), projection heads, optional geo head."""

    def __init__(self, n_heads, dim, geo_clusters):
        super().__init__()
        self.backbone = torchvision.models.resnet18()
        self.backbone.fc = torch.nn.Identity()
        self.heads = torch.nn.ModuleList(
            torch.nn.Sequential(torch.nn.Linear(512, 512), torch.nn.ReLU(), torch.nn.Linear(512, dim))
            for _ in range(n_heads)
        )
        self.geo_head = (
            torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(dim, geo_clusters)) if geo_clusters else None
        )

    def named_state(self):
        """Tensors by the names caco's VarStore uses (no fc, no num_batches_tracked)."""
        return {k: v for k, v in self.state_dict().items() if "num_batches_tracked" not in k}


def step(method, init):
    n_heads = 3 if method in ("seco", "teco", "caco") else 1
    dim = init["q.heads.0.2.weight"].shape[0]
    geo = init["q.geo_head.1.weight"].shape[0] if method == "gassl" else 0
    q_side = Side(n_heads, dim, geo)
    state = {k[2:]: v for k, v in init.items() if k.startswith("q.")}
    missing, unexpected = q_side.load_state_dict(state, strict=False)
    missing = [m for m in missing if "num_batches_tracked" not in m]
    assert not missing and not unexpected, (missing, unexpected)
    k_side = copy.deepcopy(q_side)
    for p in k_side.parameters():
        p.requires_grad_(False)
    out = {}
    for name, t in q_side.named_state().items():
        out[f"init_sum.{name}"] = t.double().sum()
        out[f"init_norm.{name}"] = t.double().norm()
    t = float(init["temperature"])
    lr = float(init["lr"])
    queues = [init[f"queue{i}"].clone() for i in range(n_heads)]
    queue_era = [init[f"queue_era{i}"].clone() for i in range(n_heads)]
    for i in range(n_heads):
        out[f"queue_before{i}"] = queues[i].clone()
    views = [init[f"view{v}"] for v in range(4 if n_heads == 3 else 2)]
    n = views[0].shape[0]
    items = init["items"][:n]
    era = init["era"]
    opt = torch.optim.SGD(q_side.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)

    # Momentum update at the start of the step (a no-op on the first step: both sides are equal).
    with torch.no_grad():
        for pk, pq in zip(k_side.parameters(), q_side.parameters()):
            pk.mul_(0.999).add_(pq, alpha=0.001)
    q_side.train()
    k_side.train()
    feats = q_side.backbone(views[0])
    proj = [h(feats) for h in q_side.heads]
    q = [normalize(p) for p in proj]

    def key_view(x):
        """One key view, its own forward: every head's normalised embedding."""
        with torch.no_grad():
            f = k_side.backbone(x)
            return [normalize(h(f)) for h in k_side.heads]

    if n_heads == 1:
        k = key_view(views[1])[0]
        parts = [info_nce(q[0], k, queues[0], t)]
        if geo:
            clusters = init["clusters"][items]
            parts.append(F.cross_entropy(q_side.geo_head(proj[0]), clusters))
        positives = [k]
        tags = torch.zeros(n, dtype=torch.long)
    else:
        per_view = [key_view(views[1 + j]) for j in range(3)]
        keys = [[per_view[j][i] for j in range(3)] for i in range(3)]
        if method == "seco":
            parts = seco_subspaces(q, keys, queues, t)
        else:
            label = init["change_label"][items]
            parts = caco_subspaces(q, keys, queues, queue_era, era, label, t, teco=(method == "teco"))
        positives = [keys[i][i] for i in range(3)]
        tags = era.clone()
        if method == "caco":
            with torch.no_grad():
                l_q = normalize(k_side.heads[1](k_side.backbone(views[0])))
                l_s = normalize(k_side.heads[1](k_side.backbone(views[2])))
            ratios = change_ratios(l_q, l_s).double()
            out["ratio_after"] = running_update(init["prior_ratio"].clone(), items, ratios)
    loss = sum(parts)
    opt.zero_grad()
    loss.backward()
    opt.step()
    # Enqueue the positives at slot 0 (the queue pointer of a fresh model), in batch order.
    for i in range(n_heads):
        queues[i][:n] = positives[i]
        queue_era[i][:n] = tags
        out[f"queue_after{i}"] = queues[i]
        out[f"queue_era_after{i}"] = queue_era[i]
    out["loss_parts"] = torch.tensor([p.item() for p in parts], dtype=torch.float64)
    for name, tensor in q_side.named_state().items():
        out[f"sum.{name}"] = tensor.double().sum()
        out[f"norm.{name}"] = tensor.double().norm()
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(OUT, f"step_{method}.safetensors"))
    print(f"{method}: loss parts {[round(float(p), 6) for p in parts]}")


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    write_losses()
    write_change()
    write_metrics()
    for method in ["moco", "seco", "teco", "caco", "gassl"]:
        path = os.path.join(INIT, f"{method}.safetensors")
        if not os.path.exists(path):
            sys.exit(f"{path} missing: run `cargo test --test golden -- --ignored write_step_inputs` first")
        step(method, load_file(path))
    print(f"goldens written to {OUT}")


if __name__ == "__main__":
    main()
