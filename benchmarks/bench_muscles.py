"""Benchmark: muscle stage (classic backend) on the clinical-size phantom.

Target (issue 4): <= 20 s on 2 cores for a 512 x 512, ~0.75 mm, 1 mm-slice T1-L5 scan.
Baseline measured in the same run: plain muscle-window thresholding of the same volume plus a 3-D
connected-component labelling (what any muscle measurement has to do at the very least), so the
ratio says how much the anatomy-anchored per-level method costs on top of reading the voxels once.

Usage: ``python benchmarks/bench_muscles.py [--size clinical|default|small] [--seed N]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="clinical")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    from scipy import ndimage as ndi

    from spinemets.muscles import segment_muscles
    from spinemets.phantom import PhantomConfig, generate_phantom

    t0 = time.perf_counter()
    ph = generate_phantom(PhantomConfig(seed=args.seed, size=args.size, lesions=[]))
    t_gen = time.perf_counter() - t0
    ct = ph.ct
    print(f"phantom {args.size} seed {args.seed}: shape {ct.array.shape}, spacing {ct.geometry.spacing_mm} mm "
          f"(generated in {t_gen:.1f} s); cores available: {os.cpu_count()}")

    t0 = time.perf_counter()
    mus = (ct.array >= -29) & (ct.array <= 150)
    lab, n = ndi.label(mus)
    t_base = time.perf_counter() - t0
    print(f"baseline (threshold + 3-D labelling): {t_base:.2f} s ({n} components)")

    t0 = time.perf_counter()
    res = segment_muscles(ct, ph.vertebrae)
    t_mus = time.perf_counter() - t0
    n_lv = sum(1 for e in res.summary["levels"].values() if e.get("status") == "ok")
    print(f"segment_muscles (classic): {t_mus:.2f} s for {n_lv} levels "
          f"({t_mus / max(n_lv, 1):.2f} s/level); ratio to baseline {t_mus / max(t_base, 1e-9):.1f}x")
    target = 20.0
    print(f"target <= {target:.0f} s on 2 cores: {'met' if t_mus <= target else 'NOT met'}")
    # accuracy on the same run, so a faster but wrong change shows (per group, against truth.json)
    truth = ph.truth["muscles"]
    per: dict[str, list[float]] = {}
    for lv, tl in truth.items():
        for name, tv in tl.items():
            if isinstance(tv, dict) and tv.get("csa_mm2"):
                o = res.summary["levels"].get(lv, {}).get(name, {})
                err = abs(o["csa_mm2"] - tv["csa_mm2"]) / tv["csa_mm2"] if o.get("csa_mm2") is not None \
                    else float("inf")
                per.setdefault(name.rsplit("_", 1)[0], []).append(err)
    for g, v in per.items():
        print(f"  CSA relative error {g:20s} median {np.median(v):.3f} (n={len(v)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
