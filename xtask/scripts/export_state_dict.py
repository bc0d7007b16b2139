"""Used by `cargo xtask import-weights`: reads a PyTorch checkpoint (a state dict, or a Lightning .ckpt holding one
under "state_dict") and writes every tensor to an .npz file that caco reads with libtorch. Nothing else is kept.

Usage: python export_state_dict.py <checkpoint> <out.npz>
"""
import sys

import numpy as np
import torch


def main():
    source, target = sys.argv[1], sys.argv[2]
    checkpoint = torch.load(source, map_location="cpu", weights_only=False)
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else checkpoint.state_dict()
    arrays = {k: v.detach().float().numpy() if v.is_floating_point() else v.detach().numpy()
              for k, v in state.items() if isinstance(v, torch.Tensor)}
    np.savez(target, **arrays)
    print(f"exported {len(arrays)} tensors from {source}")


if __name__ == "__main__":
    main()
