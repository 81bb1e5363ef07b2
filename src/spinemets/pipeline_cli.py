"""Verbs ``run`` (one CT -> report), ``demo`` (built-in phantom -> report) and ``batch`` (cohort on Dask).

``run`` and ``demo`` import only the core dependencies; ``batch`` imports Dask and pandas lazily.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from .errors import InputError


def _add_case_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("subject (used by the load model; stated in the report)")
    g.add_argument("--sex", choices=["male", "female"], help="biological sex")
    g.add_argument("--age", type=float, dest="age_years", metavar="YEARS", help="age in years")
    g.add_argument("--weight-kg", type=float, help="body mass in kg")
    g.add_argument("--height-cm", type=float, help="body height in cm")
    p.add_argument("--activities", dest="activities_file", metavar="FILE",
                   help="activities file (default: the built-in activity set)")
    p.add_argument("--backend", choices=["classic", "nnunet", "totalseg"], default="classic",
                   help="vertebra segmentation backend (default: classic, no weights)")
    p.add_argument("--model", dest="model_dir", metavar="DIR", help="model folder for nnunet/totalseg")
    p.add_argument("--muscles-backend", choices=["classic", "nnunet", "totalseg"], default="classic",
                   help="muscle segmentation backend (default: classic)")
    p.add_argument("--muscles-model", dest="muscles_model_dir", metavar="DIR",
                   help="model folder for the muscle backend")
    p.add_argument("--no-fe", dest="fe", action="store_false",
                   help="leave out the voxel finite-element strength (faster; density x area and CTRA remain)")
    p.add_argument("--fe-element-mm", type=float, metavar="MM", help="FE element size in mm (default: the bone stage's)")
    p.add_argument("--lsr-samples", type=int, default=500, metavar="N",
                   help="Monte Carlo samples for the LSR uncertainty (0: none; default 500)")
    p.add_argument("--force", action="store_true", help="re-run every step (ignore the cache)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")


def options_from_args(args: argparse.Namespace) -> Any:
    from .pipeline import RunOptions

    def check_pos(name: str) -> None:
        v = getattr(args, name, None)
        if v is not None and not v > 0:
            raise InputError(f"--{name.replace('_', '-')} must be positive, got {v}")

    for n in ("weight_kg", "height_cm"):
        check_pos(n)
    if args.lsr_samples < 0:
        raise InputError(f"--lsr-samples must be >= 0, got {args.lsr_samples}")
    if getattr(args, "age_years", None) is not None and not 0 <= args.age_years <= 120:
        raise InputError(f"--age must be between 0 and 120 years, got {args.age_years}")
    return RunOptions(sex=args.sex, age_years=args.age_years, weight_kg=args.weight_kg,
                      height_cm=args.height_cm, activities_file=args.activities_file,
                      backend=args.backend, model_dir=args.model_dir,
                      muscles_backend=args.muscles_backend, muscles_model_dir=args.muscles_model_dir,
                      series_uid=getattr(args, "series_uid", None), fe=args.fe,
                      fe_element_mm=args.fe_element_mm, lsr_samples=args.lsr_samples,
                      case_id=getattr(args, "case_id", None), force=args.force)


def _print_summary(result: Any, stream: Any = sys.stderr) -> None:
    m = result.manifest
    print(f"spinemets: {m['status']} in {m['total_seconds']:.1f} s; "
          f"steps: " + ", ".join(f"{n} {s.status}" for n, s in result.steps.items()), file=stream)
    for n, s in result.steps.items():
        if s.status in ("failed", "not_available", "skipped"):
            print(f"  {n}: {s.status}: {s.error or s.reason}", file=stream)


def cmd_run(args: argparse.Namespace) -> int:
    from .pipeline import run_case

    opts = options_from_args(args)
    result = run_case(args.ct, args.output, opts, progress=None if args.quiet else sys.stderr,
                      command=sys.argv)
    _print_summary(result)
    if result.report_html.exists():
        print(result.report_html)
    return result.exit_code


# --- demo ----------------------------------------------------------------------------------------
def _find_study_ct(study: Path) -> Path:
    """The CT to run in a phantom study folder: its DICOM series, else a CT NIfTI."""
    for name in ("dicom/CT", "dicom/ct", "ct", "CT", "ct_dicom", "dicom"):
        d = study / name
        if d.is_dir() and any(d.iterdir()):
            return d
    dcm_dirs = sorted({p.parent for p in study.rglob("*.dcm")
                       if "seg" not in p.name.lower() and "seg" not in p.parent.name.lower()})
    if dcm_dirs:
        return dcm_dirs[0]
    for pat in ("ct.nii.gz", "*ct*.nii.gz", "image.nii.gz"):
        hits = sorted(study.rglob(pat))
        if hits:
            return hits[0]
    raise InputError(f"no CT found in the phantom study {study}")


def make_demo_study(out_dir: Path, seed: int = 0, size: str = "default",
                    progress: Any = sys.stderr) -> tuple[Path, dict[str, Any]]:
    """Generate (or reuse, when the same config was written before) the demo phantom study.

    Returns the study's CT path and the subject's demographics (sex, age_years, weight_kg, height_cm
    when the phantom records them).
    """
    from .pipeline import stage_function

    PhantomConfig = stage_function("spinemets.phantom", "PhantomConfig")
    generate = stage_function("spinemets.phantom", "generate_phantom")
    write_study = stage_function("spinemets.phantom", "write_study")
    config = PhantomConfig(seed=seed, size=size)
    study = out_dir / "phantom"
    stamp_path = out_dir / ".cache" / "phantom.json"
    cfg = config.to_dict() if hasattr(config, "to_dict") else vars(config)
    from . import __version__

    stamp = hashlib.sha256(json.dumps({"config": cfg, "version": __version__}, sort_keys=True,
                                      default=str).encode()).hexdigest()
    if stamp_path.exists() and study.is_dir():
        saved = json.loads(stamp_path.read_text())
        if saved.get("stamp") == stamp:
            if progress:
                print("demo: phantom: cached", file=progress)
            return Path(saved["ct"]), saved.get("subject", {})
    if progress:
        print(f"demo: phantom: generating ({size} preset, seed {seed}) ...", file=progress, flush=True)
    t0 = time.perf_counter()
    phantom = generate(config)
    write_study(phantom, study)
    subject = _phantom_subject(getattr(phantom, "truth", {}) or {})
    ct = _find_study_ct(study)
    from .io.atomic import write_json_atomic

    write_json_atomic(stamp_path, {"stamp": stamp, "ct": str(ct), "subject": subject})
    if progress:
        print(f"demo: phantom: ok ({time.perf_counter() - t0:.1f} s)", file=progress)
    return ct, subject


def _phantom_subject(truth: dict[str, Any]) -> dict[str, Any]:
    src = truth.get("subject") or truth.get("demographics") or truth
    sex = src.get("sex")
    sex = {"F": "female", "M": "male", "female": "female", "male": "male"}.get(str(sex), None)
    out = {"sex": sex}
    for key, names in (("age_years", ("age_years", "age")), ("weight_kg", ("weight_kg", "mass_kg")),
                       ("height_cm", ("height_cm",))):
        for n in names:
            if isinstance(src.get(n), (int, float)):
                out[key] = float(src[n])
                break
    return out


def cmd_demo(args: argparse.Namespace) -> int:
    from .pipeline import RunOptions, run_case

    out = Path(args.output).resolve()
    progress = None if args.quiet else sys.stderr
    ct, subject = make_demo_study(out, seed=args.seed, size=args.size, progress=progress)
    opts = RunOptions(case_id=f"phantom-seed{args.seed}", force=args.force, fe=args.fe, **subject)
    result = run_case(ct, out / "run", opts, progress=progress, command=sys.argv)
    _print_summary(result)
    print(result.report_html)
    return result.exit_code


# --- batch ---------------------------------------------------------------------------------------
def cmd_batch(args: argparse.Namespace) -> int:
    from .batch import read_cohort, run_batch

    cases = read_cohort(Path(args.cohort))
    summary = run_batch(cases, Path(args.output), workers=args.workers, scheduler=args.scheduler,
                        threads_per_worker=args.threads_per_worker,
                        options={"backend": args.backend, "fe": args.fe},
                        force=args.force, progress=None if args.quiet else sys.stderr)
    print(summary.summary_html)
    return 1 if summary.failed else 0


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="one CT -> vertebrae, muscles, bone, loads, risk, report",
                       description="Run the whole pipeline on one CT. Steps whose inputs and options "
                                   "did not change since the last run into OUT are skipped.")
    p.add_argument("ct", help="CT: DICOM folder, zip of DICOM files, or NIfTI/NRRD/MHA file")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder")
    p.add_argument("--series-uid", help="series to use when a DICOM folder holds several")
    p.add_argument("--case-id", help="case identifier shown in the report (default: OUT's name)")
    _add_case_options(p)
    p.set_defaults(func=cmd_run)

    d = sub.add_parser("demo", help="phantom -> run -> report; prints the report's path")
    d.add_argument("-o", "--output", default="demo_output", metavar="DIR", help="output folder (default demo_output)")
    d.add_argument("--seed", type=int, default=0, help="phantom seed (default 0)")
    d.add_argument("--size", default="default", help="phantom size preset (default: default)")
    d.add_argument("--no-fe", dest="fe", action="store_false",
                   help="leave out voxel finite-element strength (density x area and CTRA only)")
    d.add_argument("--force", action="store_true", help="re-run every pipeline step")
    d.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    d.set_defaults(func=cmd_demo)

    b = sub.add_parser("batch", help="a cohort of CTs on Dask (one case per task; resumable)",
                       description="COHORT is a folder of cases (each a DICOM folder or an image file) or a "
                                   "CSV with columns case_id, path[, sex, age, weight_kg, height_cm, timepoint].")
    b.add_argument("cohort", help="cohort folder or CSV")
    b.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder (one sub-folder per case)")
    g = b.add_mutually_exclusive_group()
    g.add_argument("--workers", type=int, default=2, help="local Dask worker processes (default 2)")
    g.add_argument("--scheduler", metavar="ADDRESS", help="address of a running Dask scheduler")
    b.add_argument("--threads-per-worker", type=int, default=1, help="threads per local worker (default 1)")
    b.add_argument("--backend", choices=["classic", "nnunet", "totalseg"], default="classic")
    b.add_argument("--no-fe", dest="fe", action="store_false", help="leave out voxel FE strength")
    b.add_argument("--force", action="store_true", help="re-run cases that already completed")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    b.set_defaults(func=cmd_batch)
