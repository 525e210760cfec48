#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Convert a PyTorch checkpoint (.pth state_dict) into a safetensors file that
wsss::nn::load_weights reads by name.

    python3 examples/convert_torch_weights.py vgg16-397923af.pth vgg16.safetensors --arch vgg16
    python3 examples/convert_torch_weights.py res38_cls.pth resnet38_cls.safetensors --arch resnet38_cls

What it does to the keys:
  * unwraps {"state_dict": ...} / {"model": ...} / {"net": ...} checkpoints;
  * strips the "module." prefix that nn.DataParallel adds;
  * drops BatchNorm's "num_batches_tracked" counters (wsss keeps no such buffer);
  * with --arch, keeps only the keys that network has (e.g. torchvision's classifier.* is not
    part of the VGG16 conv stack) and reports what it dropped;
  * stores every tensor as little-endian float32 under its state_dict name.

wsss's names are torch's: torchvision VGG16 "features.<i>.weight"; psa's ResNet38
"conv1a.weight", "b4_3.bn_branch2a.running_mean", ...; heads "fc8.weight", "f8_3.weight", "f9.weight";
DeepLab-LargeFOV "features.<i>.*", "fc6.*", "fc7.*", "fc8.*".

Needs torch for .pth input (pip install torch) and numpy. A .npz of arrays is accepted too
(no torch needed). The safetensors file is written here directly (no safetensors package).
"""
import argparse
import json
import re
import struct
import sys

import numpy as np

# Which keys each wsss network holds, as regular expressions over the state_dict names.
_BN = r"(weight|bias|running_mean|running_var)"
_RES_UNIT = r"b[2-7](_[0-9])?\.(bn_branch2a|bn_branch2b1|bn_branch2b2)\." + _BN
_RES_CONV = r"b[2-7](_[0-9])?\.conv_branch(2a|2b1|2b2|1)\.weight"
_RESNET38 = [r"conv1a\.weight", _RES_UNIT, _RES_CONV, r"bn7\." + _BN]
ARCHES = {
    "vgg16": [r"features\.[0-9]+\.(weight|bias)"],
    "deeplab_largefov": [r"features\.[0-9]+\.(weight|bias)", r"fc[678]\.(weight|bias)"],
    "resnet38": _RESNET38,
    "resnet38_cls": _RESNET38 + [r"fc8\.weight"],
    "resnet38_aff": _RESNET38 + [r"f8_[345]\.weight", r"f9\.weight"],
}


def load_state_dict(path):
    """name -> numpy float32 array, from a .pth (torch) or .npz file."""
    if path.endswith(".npz"):
        with np.load(path) as z:
            return {k: np.asarray(z[k]) for k in z.files}
    try:
        import torch
    except ImportError:
        sys.exit("convert_torch_weights: reading a .pth needs torch (pip install torch)")
    obj = torch.load(path, map_location="cpu")
    for wrapper in ("state_dict", "model", "net"):
        if isinstance(obj, dict) and wrapper in obj and isinstance(obj[wrapper], dict):
            obj = obj[wrapper]
    if hasattr(obj, "state_dict"):  # a whole pickled nn.Module
        obj = obj.state_dict()
    out = {}
    for k, v in obj.items():
        if hasattr(v, "detach"):
            out[k] = v.detach().cpu().numpy()
    return out


def rename(state, arch):
    """Applies the key rules; returns (kept dict, dropped names)."""
    kept, dropped = {}, []
    patterns = [re.compile(p + r"\Z") for p in ARCHES[arch]] if arch else None
    for k, v in state.items():
        name = k[len("module."):] if k.startswith("module.") else k
        if name.endswith("num_batches_tracked"):
            dropped.append(k)
            continue
        if patterns is not None and not any(p.match(name) for p in patterns):
            dropped.append(k)
            continue
        if name in kept:
            sys.exit(f"convert_torch_weights: two keys map to {name}")
        kept[name] = np.ascontiguousarray(v, dtype="<f4")
    return kept, dropped


def write_safetensors(path, tensors, metadata):
    """The safetensors layout: u64 header length, JSON header, then the raw tensor bytes."""
    header = {"__metadata__": metadata} if metadata else {}
    offset = 0
    for name in sorted(tensors):
        a = tensors[name]
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for name in sorted(tensors):
            f.write(tensors[name].tobytes())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", help=".pth state_dict (or .npz of arrays)")
    ap.add_argument("output", help="safetensors file to write")
    ap.add_argument("--arch", choices=sorted(ARCHES), help="keep only this wsss network's keys")
    args = ap.parse_args(argv)

    kept, dropped = rename(load_state_dict(args.input), args.arch)
    if not kept:
        sys.exit("convert_torch_weights: no tensor left to write (wrong --arch?)")
    write_safetensors(args.output, kept, {"format": "pt", "source": args.input, "arch": args.arch or ""})
    total = sum(a.size for a in kept.values())
    print(f"wrote {len(kept)} tensors ({total:,} values) to {args.output}")
    if dropped:
        print(f"dropped {len(dropped)}: " + " ".join(dropped[:12]) + (" ..." if len(dropped) > 12 else ""))


if __name__ == "__main__":
    main()
