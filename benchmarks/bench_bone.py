"""Bone stage (``qct.assess_bone``) time and peak memory on a phantom (default: clinical size).

Run: ``python benchmarks/bench_bone.py [--size clinical|default|small] [--no-fe]``. Uses the
phantom's true vertebra and body label maps. Pass 1 times the stage; pass 2 measures its peak
of traced allocations (numpy arrays included) with tracemalloc. Baseline measured in the same
run: the size of one full-volume float32 copy of the CT (the kind of temporary the stage must
not multiply) and the time of one full-volume ``astype(float32)`` + ``find_objects`` pass.
Targets (issue 7, whole pipeline on the clinical phantom on 2 cores): <= 120 s and <= 6 GB.
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc

import numpy as np


def main() -> None:
    from scipy import ndimage

    from spinemets.phantom import PhantomConfig, generate_phantom
    from spinemets.qct import assess_bone

    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="clinical")
    ap.add_argument("--no-fe", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    ph = generate_phantom(PhantomConfig(size=args.size))
    print(f"phantom {args.size}: {ph.ct.array.shape} voxels, spacing {ph.ct.geometry.spacing_mm} mm "
          f"({time.perf_counter() - t0:.0f} s to generate)")
    t0 = time.perf_counter()
    f32 = ph.ct.array.astype(np.float32)
    ndimage.find_objects(ph.vertebrae.array)
    base_t = time.perf_counter() - t0
    base_b = f32.nbytes
    del f32
    t0 = time.perf_counter()
    res = assess_bone(ph.ct, ph.vertebrae, ph.vertebral_bodies, fe=not args.no_fe)
    t = time.perf_counter() - t0
    tracemalloc.start()
    assess_bone(ph.ct, ph.vertebrae, ph.vertebral_bodies, fe=not args.no_fe)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"cores available: {cores}, load average (1 min): {os.getloadavg()[0]:.1f}")
    print(f"levels: {len(res['levels'])}, calibration: {res['calibration']['method']}")
    print(f"bone step: {t:.1f} s wall; baseline (one full-volume float32 copy + find_objects): "
          f"{base_t:.2f} s; ratio {t / base_t:.1f}")
    print(f"bone step peak traced memory: {peak / 1e9:.2f} GB; baseline (one float32 CT copy): "
          f"{base_b / 1e9:.2f} GB; ratio {peak / base_b:.1f}")


if __name__ == "__main__":
    main()
