#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Writes reference.safetensors with the Python `safetensors` package (numpy API), the
# independent writer that tests/io/safetensors.test.cpp reads. The values are formulas the
# test recomputes; rerun with `python3 make_safetensors_fixture.py` from this folder.
import numpy as np
from safetensors.numpy import save_file

tensors = {
    "conv.weight": (np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2) * 0.5 - 3.0),
    "f64": np.array([1.0 / 3.0, -2.5e-3, 1e10], dtype=np.float64),
    "f16": np.array([1.0, -2.0, 6.103515625e-05, 5.960464477539063e-08, 65504.0, np.inf], dtype=np.float16),
    "i64": np.array([-3, 0, 16777216], dtype=np.int64),
    "i32": np.array([[7, -8]], dtype=np.int32),
    "u8": np.array([0, 255], dtype=np.uint8),
    "mask": np.array([True, False, True]),
    "scalar": np.array(7.25, dtype=np.float32),
    "empty": np.zeros((0, 3), dtype=np.float32),
}
save_file(tensors, "reference.safetensors", metadata={"format": "pt", "note": "wsss fixture \u00e9"})
