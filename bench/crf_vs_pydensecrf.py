#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# bench/crf_vs_pydensecrf.py — times pydensecrf (pip: pydensecrf2) and wsss's dense CRF on the
# same 500x375, 21-label input (psa's call: unary -log(clip(p, 1e-5)), Gaussian sxy 3 compat 3,
# bilateral sxy 80 srgb 13 compat 10, 10 iterations), interleaved, one thread each, and reports
# the median and minimum times, the median of the per-round ratios and the largest |dQ|.
#
# usage: crf_vs_pydensecrf.py BENCH_CRF_BINARY [--rounds N] [--threads T]
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", help="path to bench_crf (built from bench/crf.bench.cpp)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--iterations", type=int, default=10)
    args = ap.parse_args()
    try:
        import pydensecrf.densecrf as dcrf
        from pydensecrf.utils import unary_from_softmax
    except ImportError as e:
        sys.exit(f"pydensecrf is not importable ({e}); pip install pydensecrf2")

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    with tempfile.TemporaryDirectory() as tmp:
        h, w, k = map(int, subprocess.run([args.binary, "--dump", tmp], check=True, capture_output=True,
                                          text=True, env=env).stdout.split())
        img = np.fromfile(os.path.join(tmp, "image.u8"), dtype=np.uint8).reshape(h, w, 3)
        probs = np.fromfile(os.path.join(tmp, "probs.f32"), dtype=np.float32).reshape(k, h, w)

        def reference():
            rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            t0 = time.perf_counter()
            d = dcrf.DenseCRF2D(w, h, k)
            d.setUnaryEnergy(np.ascontiguousarray(unary_from_softmax(probs)))
            d.addPairwiseGaussian(sxy=3, compat=3)
            d.addPairwiseBilateral(sxy=80, srgb=13, rgbim=np.ascontiguousarray(np.copy(img)), compat=10)
            q = np.array(d.inference(args.iterations)).reshape(k, h, w)
            ms = (time.perf_counter() - t0) * 1e3
            return q, ms, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024.0

        def ours():
            out = os.path.join(tmp, "q.f32")
            r = subprocess.run([args.binary, "--run", os.path.join(tmp, "image.u8"), str(h), str(w),
                                os.path.join(tmp, "probs.f32"), str(k), str(args.iterations), out, "2",
                                str(args.threads)], check=True, capture_output=True, text=True, env=env)
            # Two runs per process, the second timed: the first pays the process's cold start
            # (page faults of fresh heap, OpenMP start-up), which pydensecrf pays only once in
            # this long-running interpreter.
            times = [float(line.split()[1]) for line in r.stdout.splitlines() if line.startswith("ms ")]
            rss = [float(line.split()[1]) for line in r.stdout.splitlines() if line.startswith("extra_rss_MB ")]
            q = np.fromfile(out, dtype=np.float32).reshape(k, h, w)
            return q, times[-1], rss[0]

        t_ref, t_ours, rss_ref = [], [], 0.0
        for i in range(args.rounds):
            q_ref, ms, rss = reference()
            t_ref.append(ms)
            rss_ref = max(rss_ref, rss)
            q_ours, ms, rss_ours = ours()
            t_ours.append(ms)
            print(f"round {i}: pydensecrf {t_ref[-1]:.1f} ms, wsss {t_ours[-1]:.1f} ms", flush=True)

    dq = np.abs(q_ref - q_ours)
    agree = np.mean(q_ref.argmax(0) == q_ours.argmax(0))
    mr, mo = float(np.median(t_ref)), float(np.median(t_ours))
    # Each round times the two back to back, so the per-round ratio cancels most of the slow
    # drift of a shared machine's load; its median is the figure to quote.
    paired = float(np.median(np.array(t_ref) / np.array(t_ours)))
    print(f"input {w}x{h}, {k} labels, {args.iterations} iterations, {args.threads} thread(s), {args.rounds} rounds")
    print(f"pydensecrf median {mr:.1f} ms, min {min(t_ref):.1f} ms (peak RSS growth in this process {rss_ref:.0f} MB)")
    print(f"wsss       median {mo:.1f} ms, min {min(t_ours):.1f} ms (extra RSS {rss_ours:.0f} MB)")
    print(f"speed-up: median of per-round ratios {paired:.2f}x (ratio of medians {mr / mo:.2f}x, of minima "
          f"{min(t_ref) / min(t_ours):.2f}x)")
    print(f"max |dQ| {dq.max():.3g}, mean |dQ| {dq.mean():.3g}, MAP agreement {agree * 100:.3f}%")


if __name__ == "__main__":
    main()
