"""A phantom testbed for nnU-Net v2: generate small phantoms, export them, plan, preprocess and
train a model with nnU-Net's own tools. Used by the test suite (plumbing on CPU) and as a demo::

    python -m spinemets.dl.testbed OUT_DIR [--cases 5] [--trainer nnUNetTrainerNoMirroring]

With the default tiny trainer the model is a plumbing check, not a segmenter: it trains for
4 iterations. For a usable model train with ``--trainer nnUNetTrainerNoMirroring`` (hours on a
GPU) or on real data exported with :func:`spinemets.dl.export_nnunet_dataset`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Iterable, Sequence

from .. import anatomy
from ..image import CTImage, LabelMap
from .dataset import export_nnunet_dataset
from .nnunet_trainers import TINY_TRAINER
from .prepare import crop_case
from .train import NnUNetFolders, plan_and_preprocess, train

LEVELS = ("L1", "L2", "L3", "L4", "L5")
#: muscle groups next to the spine (mostly inside crops 15 mm around the vertebrae)
MUSCLES = tuple(f"{g}_{side}" for g in ("erector_spinae", "transversospinalis", "psoas_major",
                                         "quadratus_lumborum") for side in ("left", "right"))
#: the testbed model's classes: vertebrae (training ids 1-5) and muscles (6-13)
CLASSES = tuple(f"vertebrae_{lv}" for lv in LEVELS) + MUSCLES


def phantom_case(seed: int, margin_mm: float | None = 15.0, pixel_mm: float = 4.0,
                 fov_levels: tuple[str, str] = ("L2", "L4")) -> tuple[CTImage, LabelMap]:
    """A small phantom (random lesions) at ``pixel_mm`` isotropic, cropped to the vertebrae
    ``LEVELS`` plus ``margin_mm`` (None: not cropped). Field of view L2-L4 by default, so that
    L1 and L5 are partly in it."""
    from ..phantom import PhantomConfig, generate_phantom

    ph = generate_phantom(PhantomConfig(seed=seed, size="small", pixel_mm=pixel_mm, slice_mm=pixel_mm,
                                        fov_levels=fov_levels, lesions="random"))
    if margin_mm is None:
        return ph.ct, ph.labels
    return crop_case(ph.ct, ph.labels, [anatomy.vertebra_id(lv) for lv in LEVELS], margin_mm=margin_mm)


def build_phantom_testbed(root: str | Path, seeds: Iterable[int] = range(5), dataset_id: int = 901,
                          classes: Sequence[str] = CLASSES, trainer: str = TINY_TRAINER,
                          device: str = "cpu", num_processes: int = 1, n_proc_da: int = 0,
                          timeout_s: float | None = None) -> Path:
    """Phantoms -> nnU-Net raw dataset -> plan/preprocess (3d_fullres) -> train fold 0.

    Returns the trained model folder (``root/nnUNet_results/Dataset.../TRAINER__nnUNetPlans__3d_fullres``).
    nnU-Net's 5-fold split needs at least 5 cases.
    """
    folders = NnUNetFolders.under(root)
    cases = [phantom_case(s) for s in seeds]
    export_nnunet_dataset(cases, folders.raw, dataset_id, "SpinemetsPhantoms", classes, overwrite=True)
    plan_and_preprocess(dataset_id, folders, num_processes=num_processes, timeout_s=timeout_s)
    return train(dataset_id, folders, fold=0, trainer=trainer, device=device, n_proc_da=n_proc_da,
                 timeout_s=timeout_s)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m spinemets.dl.testbed", description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="work folder (nnUNet_raw/_preprocessed/_results inside)")
    ap.add_argument("--cases", type=int, default=5, help="number of phantoms (>= 5)")
    ap.add_argument("--trainer", default=TINY_TRAINER)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--processes", type=int, default=1)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    model = build_phantom_testbed(args.out, range(args.cases), trainer=args.trainer, device=args.device,
                                  num_processes=args.processes)
    print(f"trained model folder: {model} ({time.perf_counter() - t0:.0f} s)")
    print(f"try: spinemets segment CT -o OUT --backend nnunet --model {model}")
    return 0


if __name__ == "__main__":  # nnU-Net runs in child processes; the guard keeps spawn-safe imports
    sys.exit(main())
