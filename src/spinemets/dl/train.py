"""Run nnU-Net v2's own command-line tools (plan/preprocess, train) in child processes.

Each helper runs the stock ``nnUNetv2_*`` entry point of the current environment with the
nnU-Net folders given explicitly (no global environment is modified) and with
``nnUNet_extTrainer`` pointing at :mod:`spinemets.dl.nnunet_trainers`, so spinemets' tiny
trainer is found by nnU-Net's regular trainer lookup. Child processes keep nnU-Net's
multiprocessing away from the caller (no ``__main__`` guard is needed in the caller).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..errors import MissingDependencyError, SpinemetsError
from ._deps import NNUNET_INSTALL_HINT
from .nnunet_trainers import TINY_TRAINER, trainer_dir

log = logging.getLogger(__name__)


class NnUNetRunError(SpinemetsError):
    """An nnU-Net command failed; the message carries the tail of its output."""


@dataclass(frozen=True)
class NnUNetFolders:
    """The three folders nnU-Net v2 works in (``nnUNet_raw``, ``_preprocessed``, ``_results``)."""

    raw: Path
    preprocessed: Path
    results: Path

    @classmethod
    def under(cls, root: str | Path) -> "NnUNetFolders":
        root = Path(root)
        return cls(root / "nnUNet_raw", root / "nnUNet_preprocessed", root / "nnUNet_results")

    def environment(self, n_proc_da: int = 1, n_proc: int = 1,
                    threads: int | None = None) -> dict[str, str]:
        """Environment for an nnU-Net child process: ``n_proc_da`` data-augmentation workers
        (0 = in the training process), ``n_proc`` workers for nnU-Net's other pools, and
        ``threads`` caps OpenMP/MKL threads when given."""
        env = dict(os.environ)
        for p in (self.raw, self.preprocessed, self.results):
            p.mkdir(parents=True, exist_ok=True)
        env.update({
            "nnUNet_raw": str(self.raw),
            "nnUNet_preprocessed": str(self.preprocessed),
            "nnUNet_results": str(self.results),
            "nnUNet_n_proc_DA": str(int(n_proc_da)),
            # worker pools nnU-Net opens for fingerprinting/validation export (default 8)
            "nnUNet_def_n_proc": str(max(1, int(n_proc))),
            "nnUNet_extTrainer": str(trainer_dir()),
        })
        if threads is not None:
            for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
                env[k] = str(int(threads))
        return env


def _entry_point(name: str) -> str:
    exe = Path(sys.executable).with_name(name)
    if exe.exists():
        return str(exe)
    raise MissingDependencyError(f"{name} not found beside {sys.executable}: {NNUNET_INSTALL_HINT}")


def _run(cmd: Sequence[str], env: dict[str, str], timeout_s: float | None) -> str:
    log.info("running %s", " ".join(cmd))
    try:
        proc = subprocess.run(list(cmd), env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise NnUNetRunError(f"{Path(cmd[0]).name} did not finish within {timeout_s} s") from exc
    out = (proc.stdout or "") + (proc.stderr or "")
    if proc.returncode != 0:
        tail = "\n".join(out.strip().splitlines()[-25:])
        raise NnUNetRunError(f"{Path(cmd[0]).name} failed (exit {proc.returncode}):\n{tail}")
    return out


def plan_and_preprocess(dataset_id: int, folders: NnUNetFolders,
                        configurations: Sequence[str] = ("3d_fullres",), num_processes: int = 1,
                        verify: bool = True, timeout_s: float | None = None) -> Path:
    """``nnUNetv2_plan_and_preprocess``; returns the preprocessed dataset folder."""
    cmd = [_entry_point("nnUNetv2_plan_and_preprocess"), "-d", str(int(dataset_id)),
           "-c", *configurations, "-np", *[str(int(num_processes))] * len(configurations),
           "-npfp", str(int(num_processes))]
    if verify:
        cmd.append("--verify_dataset_integrity")
    _run(cmd, folders.environment(n_proc=num_processes), timeout_s)
    found = sorted(folders.preprocessed.glob(f"Dataset{int(dataset_id):03d}_*"))
    if not found:
        raise NnUNetRunError(f"no preprocessed folder for dataset {dataset_id} in {folders.preprocessed}")
    return found[0]


def train(dataset_id: int, folders: NnUNetFolders, fold: int | str = 0,
          configuration: str = "3d_fullres", trainer: str = TINY_TRAINER, device: str = "cpu",
          n_proc_da: int = 1, threads: int | None = None, timeout_s: float | None = None) -> Path:
    """``nnUNetv2_train DATASET CONFIG FOLD -tr TRAINER -device DEVICE``.

    Returns the trained model folder (the one holding ``dataset.json``, ``plans.json`` and
    ``fold_*``), which :func:`spinemets.dl.predict.predict_with_nnunet` takes.
    """
    cmd = [_entry_point("nnUNetv2_train"), str(int(dataset_id)), configuration, str(fold),
           "-tr", trainer, "-device", device]
    _run(cmd, folders.environment(n_proc_da=n_proc_da, threads=threads), timeout_s)
    found = sorted(folders.results.glob(f"Dataset{int(dataset_id):03d}_*/{trainer}__*__{configuration}"))
    if not found or not (found[0] / f"fold_{fold}" / "checkpoint_final.pth").is_file():
        raise NnUNetRunError(f"training finished without fold_{fold}/checkpoint_final.pth under "
                             f"{folders.results}")
    return found[0]
