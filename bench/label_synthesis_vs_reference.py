#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# bench/label_synthesis_vs_reference.py — AffinityNet label synthesis side by side, in one run, on
# the same inputs (bench_label_synthesis --dump: 500x375 images, 20-class CAMs with 2-3 present
# classes, 448 x 47 x 63 affinity features): wsss's stages (the bench binary's --run mode, the
# method's own revise + refine) and the reference's stages as psa runs them:
#   (a) CAM post-processing: numpy eq. 2 (alpha 16), zero padding, torch avg_pool2d(8, 8)  (infer_aff.py)
#   (b) affinities: index_select over psa's pairs, exp(-mean |f_i - f_j|), to_dense with diag 1  (resnet38_aff)
#   (c) transition: A^beta (beta 8), T = A / colsum(A)
#   (d) the walk: dense, 8 squarings T <- T T, then cam . T (psa); and torch.sparse, 256 mm of the
#       row-stochastic step operator (the same walk without the n x n matrix)
#   (e) bilinear upsampling to the padded size (torch), crop; [background, present classes],
#       per-pixel normalisation (as wsss's refine); pydensecrf with psa's crf_inference parameters
#   (f) argmax, class ids
# Rounds interleave the two sides (reference on every image, then wsss on every image); per-round
# ratios cancel most of a shared machine's load drift. Reported: median time per stage on both
# sides, images/s, label agreement (% of equal pixels) and max |difference| of the revised scores,
# with and without psa's border quirk (docs/graph.md).
#
# usage: label_synthesis_vs_reference.py BENCH_BINARY [--images 4] [--rounds 3] [--threads 2] [--no-dense]
# needs: numpy, torch (CPU is enough), pydensecrf (pip: pydensecrf2)
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

# A shared machine: spinning OpenMP workers (libgomp's default) wait out whole scheduler ticks
# when another process holds the core (docs/walk.md); both sides run with passive waits.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402  (after the OpenMP setting, which torch reads when loaded)

STAGES = ["a_cam_post", "b_affinity", "c_transition", "d_walk", "e1_upsample", "e2_crf", "f_argmax"]


def psa_pairs(radius, h, w):
    """pyutils.get_indices_of_pairs: 'from' pixels in rows [0, h - r + 1), cols [r - 1, w - r + 1),
    the 34 half-plane offsets; returns (from (n_from,), to (34 * n_from,)) as psa builds them."""
    search = [(0, x) for x in range(1, radius)]
    for y in range(1, radius):
        for x in range(-radius + 1, radius):
            if x * x + y * y < radius * radius:
                search.append((y, x))
    rf = radius - 1
    full = np.arange(h * w, dtype=np.int64).reshape(h, w)
    ch, cw = h - rf, w - 2 * rf
    ind_from = full[:-rf, rf:-rf].reshape(-1)
    ind_to = np.concatenate([full[dy:dy + ch, rf + dx:rf + dx + cw].reshape(-1) for dy, dx in search])
    return ind_from, ind_to, len(search)


def all_pairs(radius, h, w):
    """Every in-grid half-plane pair (no border quirk): what wsss's graph::radius holds, each once."""
    search = [(0, x) for x in range(1, radius)]
    for y in range(1, radius):
        for x in range(-radius + 1, radius):
            if x * x + y * y < radius * radius:
                search.append((y, x))
    ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    fr, to = [], []
    for dy, dx in search:
        ok = (ys + dy < h) & (xs + dx >= 0) & (xs + dx < w)
        fr.append((ys * w + xs)[ok])
        to.append(((ys + dy) * w + xs + dx)[ok])
    return np.concatenate(fr), np.concatenate(to)


class Reference:
    def __init__(self, torch, dcrf, unary_from_softmax, dims, threads, dense):
        self.torch, self.dcrf, self.unary_from_softmax = torch, dcrf, unary_from_softmax
        self.h, self.w, self.k, self.f, self.dh, self.dw, self.stride = dims
        self.dense = dense
        torch.set_num_threads(threads)
        # Per grid, as psa's network precomputes them for its feature size.
        fr, to, self.offsets = psa_pairs(5, self.dh, self.dw)
        self.psa_from, self.psa_to = torch.from_numpy(fr), torch.from_numpy(to)
        fr, to = all_pairs(5, self.dh, self.dw)
        self.all_from, self.all_to = torch.from_numpy(fr), torch.from_numpy(to)

    def cam_post(self, cams):
        torch = self.torch
        full = np.zeros((self.k + 1, self.h, self.w), np.float32)
        full[1:] = cams
        full[0] = (1 - np.max(full[1:], 0)) ** 16
        ph, pw = self.dh * self.stride - self.h, self.dw * self.stride - self.w
        full = np.pad(full, ((0, 0), (0, ph), (0, pw)), mode="constant")
        return torch.nn.functional.avg_pool2d(torch.from_numpy(full), 8, 8)

    def affinity_psa(self, feats):
        """resnet38_aff.forward(x, to_dense=True) on the feature map: the dense N x N matrix."""
        torch = self.torch
        x = torch.from_numpy(feats).view(1, self.f, -1)
        ff = torch.index_select(x, dim=2, index=self.psa_from)
        ft = torch.index_select(x, dim=2, index=self.psa_to)
        ff = torch.unsqueeze(ff, dim=2)
        ft = ft.view(ft.size(0), ft.size(1), -1, ff.size(3))
        aff = torch.exp(-torch.mean(torch.abs(ft - ff), dim=1)).view(-1)
        ind_from_exp = torch.unsqueeze(self.psa_from, dim=0).expand(ft.size(2), -1).contiguous().view(-1)
        n = self.dh * self.dw
        indices = torch.stack([ind_from_exp, self.psa_to])
        indices_tp = torch.stack([self.psa_to, ind_from_exp])
        ids = torch.arange(0, n).long()
        return torch.sparse_coo_tensor(torch.cat([indices, torch.stack([ids, ids]), indices_tp], dim=1),
                                       torch.cat([aff, torch.ones([n]), aff]), (n, n), check_invariants=False).to_dense()

    def affinity_pairs(self, feats, fr, to):
        """Affinities of explicit pairs (both orientations + diagonal) as COO: for torch.sparse."""
        torch = self.torch
        x = torch.from_numpy(feats).view(self.f, -1)
        aff = torch.exp(-torch.mean(torch.abs(x[:, fr] - x[:, to]), dim=0))
        n = self.dh * self.dw
        ids = torch.arange(0, n).long()
        rows = torch.cat([fr, to, ids])
        cols = torch.cat([to, fr, ids])
        return rows, cols, torch.cat([aff, aff, torch.ones([n])])

    def walk_dense(self, a, cam):
        torch = self.torch
        t0 = time.perf_counter()
        aff_mat = torch.pow(a, 8)
        trans = aff_mat / torch.sum(aff_mat, dim=0, keepdim=True)
        t1 = time.perf_counter()
        for _ in range(8):
            trans = torch.matmul(trans, trans)
        rw = torch.matmul(cam.view(self.k + 1, -1), trans)
        t2 = time.perf_counter()
        return rw, (t1 - t0) * 1e3, (t2 - t1) * 1e3

    def walk_sparse(self, coo, cam):
        torch = self.torch
        rows, cols, vals = coo
        n = self.dh * self.dw
        t0 = time.perf_counter()
        v = torch.pow(vals, 8)
        deg = torch.zeros(n).index_add_(0, rows, v)  # A symmetric: row sums = column sums
        step = torch.sparse_coo_tensor(torch.stack([rows, cols]), v / deg[rows], (n, n),
                                       check_invariants=False).coalesce()
        t1 = time.perf_counter()
        x = cam.view(self.k + 1, -1).t().contiguous()
        for _ in range(256):
            x = torch.sparse.mm(step, x)
        rw = x.t().contiguous()
        t2 = time.perf_counter()
        return rw, (t1 - t0) * 1e3, (t2 - t1) * 1e3

    def refine(self, img, rw, tags):
        torch = self.torch
        t0 = time.perf_counter()
        up = torch.nn.functional.interpolate(rw.view(1, self.k + 1, self.dh, self.dw),
                                             size=(self.dh * self.stride, self.dw * self.stride), mode="bilinear",
                                             align_corners=False)[0, :, :self.h, :self.w].numpy()
        t1 = time.perf_counter()
        p = up[[0] + list(tags)]
        p = np.maximum(p, 0.0)
        s = p.sum(0, dtype=np.float64)
        inv = np.where(s > 0, 1.0 / np.where(s > 0, s, 1.0), 0).astype(np.float32)
        p = np.where(s > 0, p * inv, np.float32(1.0 / p.shape[0])).astype(np.float32)
        n = p.shape[0]
        d = self.dcrf.DenseCRF2D(self.w, self.h, n)  # psa's tool/imutils.py crf_inference, t = 10
        d.setUnaryEnergy(np.ascontiguousarray(self.unary_from_softmax(p)))
        d.addPairwiseGaussian(sxy=3, compat=3)
        d.addPairwiseBilateral(sxy=80, srgb=13, rgbim=np.ascontiguousarray(np.copy(img)), compat=10)
        q = np.array(d.inference(10)).reshape((n, self.h, self.w))
        t2 = time.perf_counter()
        lab = np.asarray([0] + list(tags), np.uint8)[np.argmax(q, 0)]
        t3 = time.perf_counter()
        return up, lab, [(t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3]

    def run(self, img, cams, feats, tags):
        """Every stage; returns {variant: (revised, rw labels, labels)} and {variant: stage ms}."""
        out, times = {}, {}
        t0 = time.perf_counter()
        cam = self.cam_post(cams)
        t_cam = (time.perf_counter() - t0) * 1e3
        variants = []
        if self.dense:
            t0 = time.perf_counter()
            a = self.affinity_psa(feats)
            t_aff = (time.perf_counter() - t0) * 1e3
            rw, t_tr, t_walk = self.walk_dense(a, cam)
            variants.append(("dense_quirk", rw, t_aff, t_tr, t_walk))
        for name, fr, to in (("sparse_quirk", None, None), ("sparse_full", self.all_from, self.all_to)):
            t0 = time.perf_counter()
            if fr is None:  # psa's pairs: each 'from' pixel with its 34 offsets
                fr = torch_rep(self.torch, self.psa_from, self.offsets)
                to = self.psa_to
            coo = self.affinity_pairs(feats, fr, to)
            t_aff = (time.perf_counter() - t0) * 1e3
            rw, t_tr, t_walk = self.walk_sparse(coo, cam)
            variants.append((name, rw, t_aff, t_tr, t_walk))
        for name, rw, t_aff, t_tr, t_walk in variants:
            up, lab, t_ref = self.refine(img, rw, tags)
            rw_lab = np.argmax(up, 0).astype(np.uint8)
            out[name] = (rw.numpy().reshape(self.k + 1, self.dh, self.dw), rw_lab, lab)
            times[name] = [t_cam, t_aff, t_tr, t_walk] + t_ref
        return out, times


def torch_rep(torch, ind_from, offsets):
    return ind_from.repeat(offsets)


def ours(binary, tmp, images, threads, out, extra, repeats=2):
    """Runs the bench binary's --run mode; stage ms of the last repeat per image."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))
    r = subprocess.run([binary, "--run", tmp, str(images), str(threads), str(repeats), out] + extra, check=True,
                       capture_output=True, text=True, env=env)
    times = {}
    for line in r.stdout.splitlines():
        _, rep, img, stage, ms = line.split()
        if int(rep) == repeats - 1:
            times.setdefault(int(img), {})[stage] = float(ms)
    return times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", help="path to bench_label_synthesis (built from bench/label_synthesis.bench.cpp)")
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-dense", action="store_true", help="skip psa's dense walk (seconds per image)")
    args = ap.parse_args()
    try:
        import torch
        import pydensecrf.densecrf as dcrf
        from pydensecrf.utils import unary_from_softmax
    except ImportError as e:
        sys.exit(f"needs torch and pydensecrf ({e}); pip install torch pydensecrf2")

    with tempfile.TemporaryDirectory() as tmp:
        dims = tuple(map(int, subprocess.run([args.binary, "--dump", tmp, str(args.images)], check=True,
                                             capture_output=True, text=True).stdout.split()))
        h, w, k, f, dh, dw, stride = dims
        inputs = []
        for i in range(args.images):
            img = np.fromfile(os.path.join(tmp, f"image_{i}.u8"), np.uint8).reshape(h, w, 3)
            cams = np.fromfile(os.path.join(tmp, f"cams_{i}.f32"), np.float32).reshape(k, h, w)
            feats = np.fromfile(os.path.join(tmp, f"feats_{i}.f32"), np.float32).reshape(f, dh, dw)
            tags = [int(t) for t in open(os.path.join(tmp, f"tags_{i}.txt")).read().split()]
            inputs.append((img, cams, feats, tags))
        ref = Reference(torch, dcrf, unary_from_softmax, dims, args.threads, not args.no_dense)

        ref_t, our_t, cheb_t, ref_out = [], [], [], None
        for r in range(args.rounds):
            rt = {}
            outs = []
            for img, cams, feats, tags in inputs:
                o, t = ref.run(img, cams, feats, tags)
                outs.append(o)
                for v, ms in t.items():
                    rt.setdefault(v, []).append(ms)
            ref_out = outs
            ref_t.append({v: np.sum(ms, 0) / args.images for v, ms in rt.items()})  # mean per image per stage
            for variant, dst, extra in (("default", our_t, []), ("chebyshev", cheb_t, ["--chebyshev"])):
                t = ours(args.binary, tmp, args.images, args.threads, os.path.join(tmp, variant), extra)
                dst.append({s: np.mean([t[i][s] for i in t]) for s in STAGES + ["end_to_end"]})
            q = ours(args.binary, tmp, args.images, args.threads, os.path.join(tmp, "quirk"), ["--quirk"], repeats=1)
            e2e = our_t[-1]["end_to_end"]
            print(f"round {r}: wsss end to end {e2e:.1f} ms/image ({1e3 / e2e:.2f} images/s); reference "
                  + ", ".join(f"{v} {sum(ms):.0f} ms" for v, ms in ref_t[-1].items()), flush=True)

        def ours_out(variant, i):
            d = os.path.join(tmp, variant)
            return (np.fromfile(os.path.join(d, f"revised_{i}.f32"), np.float32).reshape(k + 1, dh, dw),
                    np.fromfile(os.path.join(d, f"rw_{i}.u8"), np.uint8).reshape(h, w),
                    np.fromfile(os.path.join(d, f"labels_{i}.u8"), np.uint8).reshape(h, w))

        print(f"\ninputs: {args.images} images {w}x{h}, {k} classes (2-3 present), features {f} x {dh} x {dw}; "
              f"{args.threads} thread(s) both sides (torch.set_num_threads, OMP_NUM_THREADS; pydensecrf is "
              f"single-threaded); {args.rounds} interleaved rounds; torch {torch.__version__}")
        print("\nmedian over rounds of the mean ms per image, per stage:")
        variants = list(ref_t[0].keys())
        hdr = f"{'stage':<14}{'wsss':>10}{'wsss cheb':>11}" + "".join(f"{v:>15}" for v in variants)
        print(hdr)
        for s, name in enumerate(STAGES):
            row = f"{name:<14}{statistics.median(t[name] for t in our_t):>10.2f}"
            row += f"{statistics.median(t[name] for t in cheb_t):>11.2f}"
            row += "".join(f"{statistics.median(t[v][s] for t in ref_t):>15.1f}" for v in variants)
            print(row)
        row = f"{'sum':<14}{statistics.median(sum(t[s] for s in STAGES) for t in our_t):>10.1f}"
        row += f"{statistics.median(sum(t[s] for s in STAGES) for t in cheb_t):>11.1f}"
        row += "".join(f"{statistics.median(sum(t[v]) for t in ref_t):>15.1f}" for v in variants)
        print(row)
        e2e = [t["end_to_end"] for t in our_t]
        e2e_c = [t["end_to_end"] for t in cheb_t]
        print(f"{'end to end':<14}{statistics.median(e2e):>10.1f}{statistics.median(e2e_c):>11.1f}   "
              "(the method's revise + refine, every plan prepared per call)")
        print(f"\nimages/s: wsss {1e3 / statistics.median(e2e):.2f} (sparse_power), "
              f"{1e3 / statistics.median(e2e_c):.2f} (chebyshev); reference "
              + ", ".join(f"{v} {1e3 / statistics.median(sum(t[v]) for t in ref_t):.3f}" for v in variants))
        print("speed-up, median of per-round ratios (reference total / wsss end to end):")
        for v in variants:
            ratios = [sum(rt[v]) / o for rt, o in zip(ref_t, e2e)]
            walk = [rt[v][3] / o["d_walk"] for rt, o in zip(ref_t, our_t)]
            crf = [rt[v][5] / o["e2_crf"] for rt, o in zip(ref_t, our_t)]
            print(f"  {v:<13} end to end {statistics.median(ratios):7.1f}x   walk {statistics.median(walk):7.1f}x"
                  f"   upsample+CRF stage {statistics.median(crf):5.1f}x")

        print("\nagreement with the reference (same inputs; % of equal pixels over all images; max |d revised|):")
        pairs = [("wsss (full radius graph)", "default", "sparse_full"),
                 ("wsss (full radius graph)", "default", "dense_quirk" if not args.no_dense else "sparse_quirk"),
                 ("wsss --quirk (psa's graph)", "quirk", "dense_quirk" if not args.no_dense else "sparse_quirk"),
                 ("wsss --quirk (psa's graph)", "quirk", "sparse_quirk"),
                 ("wsss chebyshev", "chebyshev", "sparse_full")]
        for label, mine, theirs in dict.fromkeys(pairs):
            eq_rw = eq_lab = total = 0
            dmax = 0.0
            for i in range(args.images):
                rev, rw, lab = ours_out(mine, i)
                rrev, rrw, rlab = ref_out[i][theirs]
                eq_rw += int((rw == rrw).sum())
                eq_lab += int((lab == rlab).sum())
                total += rw.size
                dmax = max(dmax, float(np.abs(rev - rrev).max()))
            print(f"  {label:<27} vs {theirs:<13} RW labels {100 * eq_rw / total:8.4f}%   "
                  f"RW + dCRF labels {100 * eq_lab / total:8.4f}%   max |d revised| {dmax:.3g}")


if __name__ == "__main__":
    main()
