"""Voxel-FE time per vertebra at 1 mm elements (target <= 10 s on 2 cores).

Run: ``python benchmarks/bench_fe.py``. Builds an L3-sized phantom vertebral body, solves the FE
model at 1.5 mm and 1.0 mm, and prints the times and their ratio against a baseline measured in
the same run: one sparse matrix-vector product sweep of the same 1 mm stiffness matrix repeated
as many times as the solver used CG iterations (a floor no iterative solver can beat).
"""

from __future__ import annotations

import os
import time

import numpy as np


def main() -> None:
    from spinemets import anatomy
    from spinemets.mechanics.strength import VertebraVolume, fe_strength
    from spinemets.phantom import PhantomConfig, generate_phantom
    from spinemets.qct import frame as fr

    ph = generate_phantom(PhantomConfig(seed=11, size="small", lesions=[("L3", "lytic", "body", 8.0)],
                                        fov_levels=("L2", "L4")))
    law = ph.truth["hu_bmd_law"]
    bmd = (ph.ct.array.astype(np.float32) - law["intercept_hu"]) / law["slope_hu_per_mg_cm3"]
    g = ph.ct.geometry
    body = ph.vertebral_bodies.array == anatomy.vertebra_id("L3")
    frame = fr.make_frame(body, g)
    results = {}
    for h in (1.5, 1.0):
        grid = fr.grid_around(body, g, frame, h)
        vol = VertebraVolume(fr.resample(bmd, g, grid), fr.resample(body.astype(np.float32), g, grid) > 0.5, h,
                             fr.resample((ph.lesions.array * body).astype(np.uint8), g, grid, order=0).astype(np.uint8))
        t0, c0 = time.perf_counter(), time.process_time()
        res = fe_strength(vol)
        results[h] = (time.perf_counter() - t0, res, time.process_time() - c0)
    # baseline: matvecs with an assembled matrix of the same size, same iteration count
    import scipy.sparse as sp

    res1 = results[1.0][1]
    n = res1.n_dofs
    rng = np.random.default_rng(0)
    a = sp.random(n, n, density=min(81.0 / n, 1.0), random_state=rng, format="csr")
    x = rng.standard_normal(n)
    t0 = time.perf_counter()
    for _ in range(max(res1.solver_iterations, 1) * 2):
        x = a @ x
        x /= np.linalg.norm(x) + 1e-30
    base = time.perf_counter() - t0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"cores available: {cores}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average (1 min) before the runs' end: {load:.1f} (wall times grow when the machine is shared)")
    for h, (t, r, cpu) in results.items():
        print(f"FE {h:.1f} mm: {r.n_elements} elements, {r.n_dofs} dofs, {r.solver_iterations} CG its, "
              f"{t:.2f} s wall, {cpu:.2f} s CPU, strength {r.strength_N:.0f} N, stiffness {r.stiffness_N_per_mm:.0f} N/mm")
    t1 = results[1.0][0]
    print(f"baseline (sparse matvec floor, same size and iterations): {base:.3f} s")
    print(f"ratio FE(1 mm) / baseline: {t1 / base:.1f}")
    print(f"FE time per vertebra at 1 mm: {t1:.2f} s (target <= 10 s on 2 cores) -> "
          f"{'OK' if t1 <= 10.0 else 'ABOVE TARGET'}")


if __name__ == "__main__":
    main()
