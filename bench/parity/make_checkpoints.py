"""Tiny PyTorch checkpoints for tests/checkpoints.rs: the layouts `caco import-weights` reads, a few tensors each.

Each tensor holds `arange(n) * 0.25 + offset` reshaped to its shape (the offset is listed beside its key below and in
tests/checkpoints.rs), so the Rust test checks every value without Python. Written once and committed
(tests/fixtures/checkpoints/, kilobytes); rerun only to change the fixtures:
    .venv-bench/bin/python bench/parity/make_checkpoints.py
.venv-bench is the environment of `cargo xtask bench` (torch 2.11.0). Lightning is not needed: `seco.ckpt` is the
dictionary Lightning's `trainer.save_checkpoint` writes (state_dict beside optimizer states, epoch, an
argparse.Namespace of hyper-parameters, a callback's state dict with a tensor, and an object of a class the reader
cannot import).
"""

import argparse
import collections
import os

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "checkpoints")


def filled(shape, offset):
    n = 1
    for s in shape:
        n *= s
    return torch.arange(n, dtype=torch.float32).reshape(shape) * 0.25 + offset


class LoopProgress:
    """Stands for a Python object pickled into a checkpoint: a class from a module caco cannot import."""

    def __init__(self):
        self.epochs_done = 200
        self.note = "not a tensor"


def seco_ckpt():
    # SeCo's encoder_q is nn.Sequential(*children of a torchvision ResNet minus fc): 0 = conv1, 1 = bn1, 4 = layer1.
    state = collections.OrderedDict()
    state["encoder_q.0.weight"] = filled([8, 3, 3, 3], 1.0)
    state["encoder_q.1.weight"] = filled([8], 2.0)
    state["encoder_q.1.bias"] = filled([8], 3.0)
    state["encoder_q.1.running_mean"] = filled([8], 4.0)
    state["encoder_q.1.running_var"] = filled([8], 5.0)
    state["encoder_q.1.num_batches_tracked"] = torch.tensor(7, dtype=torch.int64)
    # A strided view (storage of [3, 3, 8, 8] seen as [8, 8, 3, 3]): the reader must gather it.
    state["encoder_q.4.0.conv1.weight"] = filled([3, 3, 8, 8], 6.0).permute(2, 3, 0, 1)
    state["encoder_k.0.weight"] = filled([8, 3, 3, 3], 7.0)
    state["heads.0.0.weight"] = filled([4, 8], 8.0)
    state["queue"] = filled([4, 16], 9.0)
    return {
        "epoch": 199,
        "global_step": 12345,
        "pytorch-lightning_version": "1.9.0",
        "state_dict": state,
        "optimizer_states": [{
            "state": {0: {"momentum_buffer": filled([8, 3, 3, 3], 10.0)}},
            "param_groups": [{"lr": 0.03, "momentum": 0.9, "weight_decay": 1e-4, "params": [0]}],
        }],
        "lr_schedulers": [],
        "hyper_parameters": argparse.Namespace(base_encoder="resnet18", emb_dim=128, num_negatives=16384),
        "callbacks": {"EarlyStopping{'monitor': 'val_loss'}": {"wait_count": 3, "best_score": torch.tensor(0.5)}},
        "loops": LoopProgress(),
    }


def caco_pth():
    # CACo's export of the query encoder alone: torchvision names, no prefix, with the fc layer it kept.
    state = collections.OrderedDict()
    state["conv1.weight"] = filled([8, 13, 3, 3], 11.0)
    state["bn1.running_var"] = filled([8], 12.0)
    state["layer4.1.bn2.bias"] = filled([8], 13.0)
    state["fc.weight"] = filled([10, 8], 14.0)
    return state


def torchgeo_pth():
    # torchgeo / timm ResNet state dicts: torchvision names plus fc (here with one SE key); written in the pre-1.6 (non-zip) format.
    state = collections.OrderedDict()
    state["conv1.weight"] = filled([8, 4, 3, 3], 15.0)
    state["layer1.0.downsample.0.weight"] = filled([8, 8, 1, 1], 16.0)
    state["fc.bias"] = filled([10], 17.0)
    # timm's SE-ResNets add squeeze-excitation layers: a key a plain ResNet does not have.
    state["layer1.0.se.fc1.weight"] = filled([2, 8, 1, 1], 18.0)
    return state


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.save(seco_ckpt(), os.path.join(OUT, "seco.ckpt"))
    torch.save(caco_pth(), os.path.join(OUT, "caco.pth"))
    torch.save(torchgeo_pth(), os.path.join(OUT, "torchgeo-legacy.pth"), _use_new_zipfile_serialization=False)
    for name in sorted(os.listdir(OUT)):
        print(f"{name}: {os.path.getsize(os.path.join(OUT, name))} bytes")


if __name__ == "__main__":
    main()
