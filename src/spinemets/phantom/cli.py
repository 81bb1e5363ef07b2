"""``spinemets phantom``: generate a synthetic metastatic-spine CT study with ground truth."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .. import anatomy
from ..errors import InputError
from .config import PRESETS, PhantomConfig


def _parse_fov(s: str) -> tuple[str, str]:
    parts = s.replace(":", "-").split("-")
    if len(parts) != 2 or any(p.strip().upper() not in anatomy.TARGET_LEVELS for p in parts):
        raise InputError(f"--fov must look like T10-L5 (levels T1-L5), got {s!r}")
    return parts[0].strip().upper(), parts[1].strip().upper()


def _parse_lesions(s: str | None):
    """'random' | 'none' | 'L1:lytic:body:8,T12:blastic:posterior:6'."""
    if s is None or s == "random":
        return "random"
    if s in ("none", ""):
        return []
    out = []
    for item in s.split(","):
        f = item.split(":")
        if len(f) not in (2, 3, 4):
            raise InputError(f"lesion {item!r} must be LEVEL:CLASS[:body|posterior[:RADIUS_MM]]")
        level, cls = f[0].upper(), f[1].lower()
        loc = f[2].lower() if len(f) > 2 else "body"
        try:
            r = float(f[3]) if len(f) > 3 else 8.0
        except ValueError:
            raise InputError(f"lesion radius in {item!r} is not a number") from None
        out.append((level, cls, loc, r))
    return out


def _parse_months(s: str | None) -> tuple[float, ...]:
    if not s:
        return ()
    try:
        return tuple(float(x) for x in s.split(",") if x.strip())
    except ValueError:
        raise InputError(f"--followup-months must be numbers separated by commas, got {s!r}") from None


def run(args: argparse.Namespace) -> int:
    from .generate import generate_phantom
    from .study import write_study

    fractures = tuple(x.strip().upper() for x in args.fracture.split(",")) if args.fracture else ()
    cfg = PhantomConfig(seed=args.seed, size=args.size, pixel_mm=args.pixel_mm, slice_mm=args.slice_mm,
                        fov_levels=_parse_fov(args.fov) if args.fov else None, sex=args.sex, age=args.age,
                        lesions=_parse_lesions(args.lesions), fracture_levels=fractures,
                        calibration_rods=args.rods, noise_hu=args.noise_hu,
                        followup_months=_parse_months(args.followup_months))
    cfg = cfg.resolved()
    t0 = time.perf_counter()
    ph = generate_phantom(cfg)
    t1 = time.perf_counter()
    out = write_study(ph, Path(args.output), dicom=not args.no_dicom, preview=args.preview)
    t2 = time.perf_counter()
    shape = ph.ct.array.shape
    print(f"phantom seed {cfg.seed} ({cfg.size}): {shape[2]}x{shape[1]}x{shape[0]} voxels, "
          f"{cfg.pixel_mm:g} mm pixels, {cfg.slice_mm:g} mm slices, "
          f"{len(ph.truth['lesions'])} lesion(s), {len(ph.followups)} follow-up(s); "
          f"generated in {t1 - t0:.1f} s, written in {t2 - t1:.1f} s -> {out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("phantom", help="generate a synthetic metastatic-spine CT study with ground truth",
                       description="Generate a synthetic metastatic-spine CT (DICOM + NIfTI) with exact "
                                   "ground truth (truth.json). Synthetic data, not patient data.")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--size", choices=list(PRESETS), default="default",
                   help="grid preset: small (tests), default (demo), clinical (512x512, ~1 mm slices)")
    p.add_argument("--pixel-mm", type=float, default=None, help="in-plane pixel size, mm (overrides --size)")
    p.add_argument("--slice-mm", type=float, default=None, help="slice thickness, mm (overrides --size)")
    p.add_argument("--fov", default=None, help="field of view as levels, e.g. T10-L5 (default T1-L5)")
    p.add_argument("--sex", choices=["F", "M"], default=None)
    p.add_argument("--age", type=float, default=None, help="age in years")
    p.add_argument("--lesions", default="random",
                   help="'random', 'none' or LEVEL:CLASS[:body|posterior[:RADIUS_MM]],... "
                        "(CLASS lytic|blastic|mixed)")
    p.add_argument("--fracture", default=None, help="level(s) with a pathological fracture, e.g. L1 or L1,T12")
    p.add_argument("--rods", action="store_true", help="add a K2HPO4 calibration phantom under the patient")
    p.add_argument("--noise-hu", type=float, default=15.0, help="image noise SD, HU (default 15)")
    p.add_argument("--followup-months", default=None, help="follow-up scans, e.g. 3,6,12")
    p.add_argument("--preview", action="store_true", help="write preview.png (sagittal, coronal, axial)")
    p.add_argument("--no-dicom", action="store_true", help="write NIfTI and JSON only")
    p.set_defaults(func=run)
