"""Benchmark: all activities x all levels T1-L5 with the scipy solver (target <= 5 s on 2 cores).

Baseline measured in the same run: the same posture + external-load + muscle-geometry work with
the optimisation replaced by a closed-form minimum-norm solve (numpy lstsq), i.e. the cost of the
mechanics without static optimisation. Prints wall times and the ratio full / baseline.
Usage: ``python benchmarks/bench_loads.py``
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

import time  # noqa: E402

import numpy as np  # noqa: E402

from spinemets.mechanics import SubjectModel, compute_loads, load_activities  # noqa: E402
from spinemets.mechanics.loads.cutplane import level_systems  # noqa: E402

TARGET_S = 5.0


def baseline(subject, acts) -> float:
    t = time.perf_counter()
    for a in acts:
        _, systems = level_systems(subject, a)
        for s in systems:
            if s.arm_local.shape[1]:
                np.linalg.lstsq(s.arm_local[:2], -s.moment_local[:2], rcond=None)
    return time.perf_counter() - t


def full(subject, acts) -> float:
    t = time.perf_counter()
    compute_loads(subject, acts)
    return time.perf_counter() - t


def main() -> int:
    subject = SubjectModel.default("male", 70, 175)
    acts = load_activities()
    full(subject, acts[:1])  # warm-up (imports, caches)
    b = min(baseline(subject, acts) for _ in range(3))
    f = min(full(subject, acts) for _ in range(3))
    n = len(acts) * len(subject.levels)
    print(f"activities={len(acts)} levels={len(subject.levels)} problems={n}")
    print(f"baseline (mechanics + lstsq, no optimisation): {b:.3f} s")
    print(f"scipy solver (SLSQP + stress sensitivity):     {f:.3f} s  "
          f"ratio full/baseline = {f / b:.1f}x; target {TARGET_S:.1f} s -> "
          f"{'PASS' if f <= TARGET_S else 'FAIL'}")
    return 0 if f <= TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
