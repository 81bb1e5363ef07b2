"""Time and peak memory of ``spinemets segment`` (classic backend) on 2 cores.

Cases: the clinical-size phantom (``spinemets.phantom`` size "clinical", 512 x 512, ~1 mm slices)
and the real public CT (../shared/data/totalseg_example/example_ct.nii.gz, 3 mm). Each case is
run as a subprocess pinned to 2 threads; its wall time and peak RSS (``ru_maxrss`` of the child)
are compared with a baseline measured in the same run on the same file: read the volume with
SimpleITK, threshold at 200 HU, connected components, write the label image.

Target (issue 3): <= 30 s and <= 4 GB for 512 x 512 x ~500.
Usage: ``python benchmarks/bench_segment.py [--skip-phantom] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REAL_CT = REPO.parent / "shared" / "data" / "totalseg_example" / "example_ct.nii.gz"
THREADS = "2"

BASELINE = r"""
import sys, SimpleITK as sitk
img = sitk.ReadImage(sys.argv[1])
cc = sitk.ConnectedComponent(img > 200)
sitk.WriteImage(sitk.Cast(cc, sitk.sitkUInt16), sys.argv[2], True)
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
              "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "NUMEXPR_NUM_THREADS"):
        env[k] = THREADS
    return env


def _run(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (GB) of one child process (run alone, so ru_maxrss is its own)."""
    pre = []
    if sys.platform.startswith("linux") and len(os.sched_getaffinity(0)) > 2:
        pre = ["taskset", "-c", ",".join(str(c) for c in sorted(os.sched_getaffinity(0))[:2])]
    # a fresh interpreter per measurement keeps ru_maxrss per child
    wrapper = ("import resource,subprocess,sys,time;t=time.perf_counter();"
               "rc=subprocess.call(sys.argv[1:]);dt=time.perf_counter()-t;"
               "m=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss;"
               "print(f'{rc} {dt} {m}')")
    out = subprocess.run([sys.executable, "-c", wrapper] + pre + cmd, env=_env(), capture_output=True,
                         text=True)
    last = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    try:
        rc, dt, kb = last.split()
    except ValueError:
        raise RuntimeError(f"benchmark command failed: {cmd}\n{out.stdout}\n{out.stderr}") from None
    if int(rc) != 0:
        raise RuntimeError(f"command exited {rc}: {' '.join(cmd)}\n{out.stderr[-2000:]}")
    return float(dt), int(kb) / 1024 ** 2


def bench_case(name: str, ct_path: Path, work: Path) -> None:
    import SimpleITK as sitk

    r = sitk.ImageFileReader()
    r.SetFileName(str(ct_path))
    r.ReadImageInformation()
    size = r.GetSize()
    base_t, base_m = _run([sys.executable, "-c", BASELINE, str(ct_path), str(work / f"{name}_cc.nii.gz")])
    seg_t, seg_m = _run([sys.executable, "-m", "spinemets.cli", "segment", str(ct_path), "-o",
                         str(work / f"{name}_seg")])
    print(f"{name}: size {size[0]}x{size[1]}x{size[2]}")
    print(f"  baseline (SimpleITK threshold + connected components): {base_t:6.1f} s, peak {base_m:5.2f} GB")
    print(f"  spinemets segment (classic):                         {seg_t:6.1f} s, peak {seg_m:5.2f} GB")
    print(f"  ratio time {seg_t / base_t:5.1f}x, memory {seg_m / base_m:5.1f}x;"
          f" target <= 30 s and <= 4 GB: {'met' if seg_t <= 30 and seg_m <= 4 else 'NOT met'}")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-phantom", action="store_true")
    ap.add_argument("--keep", type=Path, default=None, help="keep inputs/outputs in this folder")
    a = ap.parse_args(argv)
    tmp = None
    if a.keep:
        work = a.keep
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench_segment_")
        work = Path(tmp.name)
    print(f"threads per process: {THREADS}")
    if REAL_CT.exists():
        bench_case("real_ct", REAL_CT, work)
    else:
        print(f"real CT not found ({REAL_CT}); skipped")
    if not a.skip_phantom:
        from spinemets.io import write_image
        from spinemets.phantom import PhantomConfig, generate_phantom

        path = work / "phantom_clinical.nii.gz"
        if path.exists():  # --keep DIR from an earlier run: reuse the phantom
            print(f"(reusing {path})")
        else:
            t = time.perf_counter()
            ph = generate_phantom(PhantomConfig(seed=0, size="clinical"))
            write_image(ph.ct, path)
            print(f"(clinical phantom generated in {time.perf_counter() - t:.0f} s)")
            del ph
        bench_case("phantom_clinical", path, work)
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
