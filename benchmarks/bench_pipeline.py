"""Benchmark of the whole pipeline (``spinemets run``) and of the batch speed-up on Dask.

1. Full pipeline on the clinical-size phantom (512 x 512, ~0.75 mm, 1 mm slices, T1-L5): wall time
   and peak memory (max RSS of the child process), per-step times, against the targets
   (<= 120 s, <= 6 GB on 2 cores). Baseline measured in the same run: reading the CT alone.
2. A cached re-run of the same case (nothing changed): time.
3. Batch of small phantoms with 1 and then 2 local Dask workers: speed-up (ideal 2.0 on 2 cores).

Usage: ``python benchmarks/bench_pipeline.py [--size clinical] [--cases 4] [--keep DIR]``.
Steps whose stage is not built are listed as not_available (their time is then missing).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 120.0
TARGET_GB = 6.0


def _child(code: str) -> tuple[float, float, str]:
    """Run python ``code`` in a fresh process; wall seconds, its own peak RSS in GB, stdout.

    The child prints its ``ru_maxrss`` as the last line (so earlier children, e.g. the phantom
    generation, do not count)."""
    code += "\nimport resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        print(p.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"child failed with exit code {p.returncode}")
    lines = p.stdout.strip().splitlines()
    return wall, int(lines[-1]) / 1024 ** 2, "\n".join(lines[:-1])


def make_study(root: Path, seed: int, size: str) -> Path:
    code = f"""
import sys
from pathlib import Path
from spinemets.pipeline_cli import make_demo_study
ct, subj = make_demo_study(Path({str(root)!r}), seed={seed}, size={size!r}, progress=None)
print(ct)
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"phantom generation failed: {p.stderr.strip().splitlines()[-1:]}")
    return Path(p.stdout.strip().splitlines()[-1])


def bench_case(ct: Path, out: Path) -> dict:
    code = f"""
import json
from spinemets.pipeline import run_case, RunOptions
r = run_case({str(ct)!r}, {str(out)!r}, RunOptions(sex="female", age_years=65, weight_kg=70, height_cm=165), progress=None)
print(json.dumps({{n: [s.status, s.seconds, s.peak_rss_mb] for n, s in r.steps.items()}}))
"""
    wall, peak_gb, stdout = _child(code)
    return {"wall_s": wall, "peak_gb": peak_gb, "steps": json.loads(stdout.strip().splitlines()[-1])}


def bench_read(ct: Path) -> float:
    code = f"""
import time
from spinemets.io import read_ct
t0 = time.perf_counter(); read_ct({str(ct)!r}); print(time.perf_counter() - t0)
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return float(p.stdout.strip().splitlines()[-1]) if p.returncode == 0 else float("nan")


def bench_batch(cts: list[Path], root: Path, workers: int) -> float:
    cohort = root / f"cohort_w{workers}"
    if cohort.exists():
        shutil.rmtree(cohort)
    cohort.mkdir(parents=True)
    for i, ct in enumerate(cts):
        (cohort / f"case{i}{''.join(ct.suffixes) if ct.is_file() else ''}").symlink_to(ct)
    out = root / f"batch_w{workers}"
    shutil.rmtree(out, ignore_errors=True)
    code = f"""
if __name__ == "__main__":
    from pathlib import Path
    from spinemets.batch import read_cohort, run_batch
    s = run_batch(read_cohort(Path({str(cohort)!r})), Path({str(out)!r}), workers={workers}, progress=None)
    print(len(s.failed))
"""
    script = root / f"batch_w{workers}.py"
    script.write_text(code)
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"batch failed: {p.stderr[-2000:]}")
    return time.perf_counter() - t0


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="clinical", help="phantom preset for the single case (default clinical)")
    ap.add_argument("--cases", type=int, default=4, help="small phantoms in the batch (default 4)")
    ap.add_argument("--keep", help="work folder to keep (default: a temporary folder)")
    args = ap.parse_args(argv)
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_pipeline_"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        ct = make_study(root / "study", seed=0, size=args.size)
        print(f"phantom ({args.size}) generated in {time.perf_counter() - t0:.1f} s: {ct}")
        res = bench_case(ct, root / "case")
        read_s = bench_read(ct)
        print(f"full pipeline: {res['wall_s']:.1f} s wall (target {TARGET_S:.0f} s, ratio {res['wall_s'] / TARGET_S:.2f}); "
              f"peak RSS {res['peak_gb']:.2f} GB (target {TARGET_GB:.0f} GB, ratio {res['peak_gb'] / TARGET_GB:.2f})")
        print(f"baseline (read the CT alone): {read_s:.2f} s; pipeline / read = {res['wall_s'] / read_s:.1f}x")
        for n, (st, sec, rss) in res["steps"].items():
            print(f"  {n:10s} {st:14s} {sec:7.2f} s   peak RSS so far {rss or 0:8.0f} MB")
        t0 = time.perf_counter()
        again = bench_case(ct, root / "case")
        print(f"cached re-run: {again['wall_s']:.2f} s (steps: "
              + ", ".join(f"{n} {st}" for n, (st, _, _) in again["steps"].items()) + ")")

        small = [make_study(root / f"small{i}", seed=i, size="small") for i in range(args.cases)]
        t1 = bench_batch(small, root, 1)
        t2 = bench_batch(small, root, 2)
        print(f"batch of {args.cases} small phantoms: 1 worker {t1:.1f} s, 2 workers {t2:.1f} s, "
              f"speed-up {t1 / t2:.2f}x (ideal 2.0 on 2 cores; includes cluster start-up)")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
