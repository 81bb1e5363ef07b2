"""Benchmark: phantom generation time and size for the small, default and clinical presets.

Targets (issue 2 / phantom brief): small <= ~5 s (unit tests), default well under 30 s on one core
(``make demo``), clinical (512 x 512, ~0.75 mm, 1 mm slices, T1-L5) for benchmarks.
Baseline measured in the same run: one 3-D Gaussian blur (sigma 1 voxel) of a float32 volume of
the output size - the least any CT simulator does once - so the ratio says what the anatomy,
partial-volume averaging, texture, noise and truth measurement cost on top.

Usage: ``python benchmarks/bench_phantom.py [small default clinical]``.
"""

from __future__ import annotations

import resource
import sys
import time

import numpy as np


def main(argv: list[str]) -> int:
    from scipy import ndimage

    from spinemets.phantom import PhantomConfig, generate_phantom

    sizes = argv or ["small", "default", "clinical"]
    for size in sizes:
        t0, c0 = time.perf_counter(), time.process_time()
        ph = generate_phantom(PhantomConfig(seed=1, size=size))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        shape = ph.ct.array.shape
        vol = np.zeros(shape, np.float32)
        t1 = time.perf_counter()
        ndimage.gaussian_filter(vol, 1.0, output=vol)
        base = time.perf_counter() - t1
        print(f"{size:8s} {shape[2]}x{shape[1]}x{shape[0]} voxels, spacing {ph.ct.geometry.spacing_mm} mm: "
              f"generation {wall:.1f} s wall / {cpu:.1f} s CPU (paint {ph.truth['timing_s']['paint']} s, "
              f"truth {ph.truth['timing_s']['total'] - ph.truth['timing_s']['paint_and_image']:.1f} s); "
              f"baseline blur {base:.2f} s; ratio {wall / max(base, 1e-9):.0f}x; "
              f"max RSS so far {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB", flush=True)
        del ph, vol
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
