"""``totalseg`` backend: TotalSegmentator (wasserth/TotalSegmentator) when it and its weights are
installed, plus a reader for TotalSegmentator's output files.

TotalSegmentator is not a spinemets dependency. Nothing here downloads weights: before running,
the weights folder TotalSegmentator would use is checked for the task's ``DatasetNNN_*`` folders
(``TOTALSEG_WEIGHTS_PATH``, else ``TOTALSEG_HOME_DIR/nnunet/results``, else
``~/.totalsegmentator/nnunet/results``), and a missing one is reported in one line. Runs go
through TotalSegmentator's Python API with ``ml=True`` and its usage statistics switched off.

Label conversion, by TotalSegmentator class name:

* ``total`` task: ``vertebrae_C1 ... vertebrae_L5`` -> VerSe ids (same names as the anatomy
  table), ``sacrum`` and ``vertebrae_S1`` -> sacrum (26), via
  :func:`spinemets.anatomy.from_totalseg_total`;
* ``abdominal_muscles`` task (TotalSegmentator's model covers T4-L4 only): its 22 classes
  ``{pectoralis_major, rectus_abdominis, serratus_anterior, latissimus_dorsi, trapezius,
  external_oblique, internal_oblique, erector_spinae, transversospinalis, psoas_major,
  quadratus_lumborum}_{left,right}`` carry exactly the names of the spinemets muscle groups
  (patient's left/right in both) and map one to one onto ids 101-122;
* ``total``'s ``autochthon_*`` (= erector spinae + transversospinalis) and ``iliopsoas_*`` have no
  single spinemets group and are not converted by :func:`load_totalseg_output`;
  ``anatomy.TOTALSEG_TOTAL_MUSCLES`` lists them for comparisons.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterator, Literal

import numpy as np

from ... import anatomy
from ...dl.labels import resolve_anatomy_id
from ...errors import InputError, MissingDependencyError
from ...image import CTImage, Geometry, LabelMap
from ...io import read_label_map

log = logging.getLogger(__name__)

TOTALSEG_INSTALL_HINT = "pip install TotalSegmentator"

#: nnU-Net dataset ids of the TotalSegmentator models a run needs: (task, fast) -> ids.
#: ``abdominal_muscles`` crops to the body trunk first, with the fast ``body`` model (300).
TASK_DATASETS: dict[tuple[str, bool], tuple[int, ...]] = {
    ("total", False): (291, 292, 293, 294, 295),
    ("total", True): (297,),
    ("abdominal_muscles", False): (952, 300),
}

Structures = Literal["all", "vertebrae", "muscles"]
_GROUPS = {"vertebrae": ("vertebra", "vertebra_other"), "muscles": ("muscle",)}


# --- installation and weights ---------------------------------------------------------------
def _require_totalseg() -> Any:
    try:
        return importlib.import_module("totalsegmentator")
    except ImportError:
        raise MissingDependencyError(f"TotalSegmentator is not installed: {TOTALSEG_INSTALL_HINT}") from None


def totalseg_weights_dir() -> Path:
    """Folder where TotalSegmentator keeps (and would download) its nnU-Net weights."""
    with contextlib.suppress(ImportError, AttributeError):
        from totalsegmentator.config import get_weights_dir  # type: ignore[import-not-found]

        return Path(get_weights_dir())
    if "TOTALSEG_WEIGHTS_PATH" in os.environ:
        return Path(os.environ["TOTALSEG_WEIGHTS_PATH"])
    if "TOTALSEG_HOME_DIR" in os.environ:
        home = Path(os.environ["TOTALSEG_HOME_DIR"])
    else:
        home = (Path("/tmp") if str(Path.home()) == "/" else Path.home()) / ".totalsegmentator"
    return home / "nnunet" / "results"


def check_totalseg_weights(task: str, fast: bool = False) -> Path:
    """Raise :class:`MissingDependencyError` (one line) unless the task's weights are present."""
    key = (task, bool(fast))
    if key not in TASK_DATASETS:
        raise InputError(f"unsupported TotalSegmentator task {task!r} (fast={fast})")
    wdir = totalseg_weights_dir()
    missing = [i for i in TASK_DATASETS[key]
               if not (wdir.is_dir() and any(p.is_dir() for p in wdir.glob(f"Dataset{i:03d}_*")))]
    if missing:
        names = ", ".join(f"Dataset{i:03d}_*" for i in missing)
        raise MissingDependencyError(
            f"TotalSegmentator weights for task '{task}'{' (fast)' if fast else ''} are missing: "
            f"no {names} in {wdir} (set TOTALSEG_WEIGHTS_PATH or TOTALSEG_HOME_DIR; "
            "spinemets does not download weights)")
    return wdir


def _disable_usage_stats() -> None:
    """Set ``send_usage_stats: false`` in TotalSegmentator's config.json (its own API)."""
    with contextlib.suppress(ImportError, AttributeError):
        from totalsegmentator.config import set_config_key, setup_totalseg  # type: ignore

        setup_totalseg()
        set_config_key("send_usage_stats", False)


def _ts_device(device: str) -> str:
    m = re.fullmatch(r"cuda(?::(\d+))?", device)
    if m:
        return "gpu" if m.group(1) is None else f"gpu:{m.group(1)}"
    return device


# --- running --------------------------------------------------------------------------------
@contextlib.contextmanager
def _run_totalseg(ct: CTImage, task: str, fast: bool, device: str) -> Iterator[Path]:
    _require_totalseg()
    check_totalseg_weights(task, fast)
    from totalsegmentator.python_api import totalsegmentator  # type: ignore[import-not-found]
    import SimpleITK as sitk

    _disable_usage_stats()
    with tempfile.TemporaryDirectory(prefix="spinemets_totalseg_") as tmp:
        ct_path = Path(tmp) / "ct.nii.gz"
        out_path = Path(tmp) / "seg.nii.gz"
        sitk.WriteImage(ct.to_sitk(), str(ct_path), useCompression=True)
        try:
            totalsegmentator(str(ct_path), str(out_path), ml=True, task=task, fast=bool(fast),
                             device=_ts_device(device), quiet=True, nr_thr_resamp=1,
                             nr_thr_saving=1)
        except SystemExit as exc:  # TotalSegmentator exits on licence/config problems
            raise MissingDependencyError(f"TotalSegmentator stopped (exit {exc.code}) on task '{task}'") from None
        if not out_path.is_file():
            raise MissingDependencyError(f"TotalSegmentator wrote no output for task '{task}'")
        yield out_path


def _onto_ct_grid(lm: LabelMap, ct: CTImage) -> LabelMap:
    if lm.geometry.is_same_grid(ct.geometry):
        return lm
    import SimpleITK as sitk

    img = sitk.Resample(lm.to_sitk(), ct.to_sitk(), sitk.Transform(), sitk.sitkNearestNeighbor, 0,
                        sitk.sitkUInt16)
    return LabelMap(sitk.GetArrayFromImage(img).astype(np.uint16), ct.geometry, lm.labels)


def run_totalseg_vertebrae(ct: CTImage, fast: bool = False, device: str = "cpu") -> LabelMap:
    """TotalSegmentator ``total`` (``fast``: its 3 mm model) -> vertebrae with VerSe ids."""
    with _run_totalseg(ct, "total", fast, device) as out:
        raw = read_label_map(out, labels={})
    arr = anatomy.from_totalseg_total(raw.array)
    lm = LabelMap(arr, raw.geometry, anatomy.label_table(np.unique(arr)))
    return _onto_ct_grid(lm, ct)


def run_totalseg_muscles(ct: CTImage, device: str = "cpu") -> LabelMap:
    """TotalSegmentator ``abdominal_muscles`` -> trunk muscle groups (ids 101-122), by name."""
    with _run_totalseg(ct, "abdominal_muscles", False, device) as out:
        class_names = None
        with contextlib.suppress(ImportError, AttributeError, KeyError):
            from totalsegmentator.map_to_binary import class_map  # type: ignore

            class_names = dict(class_map["abdominal_muscles"])
        lm = load_totalseg_output(out, structures="muscles", class_names=class_names)
    return _onto_ct_grid(lm, ct)


# --- reading TotalSegmentator output files --------------------------------------------------
def nifti_label_names(path: str | Path) -> dict[int, str]:
    """Class names stored in a TotalSegmentator multilabel NIfTI (its XML header extension)."""
    import nibabel as nib

    names: dict[int, str] = {}
    for ext in nib.load(str(path)).header.extensions:
        text = ext.get_content()
        text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        for key, name in re.findall(r'<Label\s+Key="(\d+)"[^>]*>\s*<!\[CDATA\[(.*?)\]\]>', text):
            names[int(key)] = name.strip()
    return names


def _wanted(sid: int, structures: Structures) -> bool:
    return structures == "all" or anatomy.BY_ID[sid].group in _GROUPS[structures]


def load_totalseg_output(path: str | Path, structures: Structures = "all",
                         class_names: dict[int, str] | None = None) -> LabelMap:
    """Read TotalSegmentator output and convert it to spinemets ids.

    ``path``: a multilabel NIfTI (``--ml``; class names from its header extension, else
    ``class_names``, else the ``total`` task's ids) or a folder of per-class masks
    (``NAME.nii.gz``, the default output). Classes whose TotalSegmentator name is an anatomy-table
    name (vertebrae, sacrum + S1, ribs, aorta, the ``abdominal_muscles`` groups) are kept;
    ``structures`` limits them to ``"vertebrae"`` or ``"muscles"``. Geometry is LPS as read by
    SimpleITK.
    """
    path = Path(path)
    if path.is_dir():
        return _load_mask_folder(path, structures)
    if not path.is_file():
        raise InputError(f"TotalSegmentator output not found: {path}")
    raw = read_label_map(path, labels={})
    arr = raw.array
    names = class_names or nifti_label_names(path)
    if names:
        mapping = {k: sid for k, n in names.items()
                   if (sid := resolve_anatomy_id(n)) is not None and _wanted(sid, structures)}
    else:
        log.info("%s has no class names; assuming TotalSegmentator 'total' ids", path)
        mapping = {k: v for k, v in anatomy.TOTALSEG_TOTAL_TO_SPINEMETS.items() if _wanted(v, structures)}
    out = anatomy.convert_labels(arr, mapping)
    return LabelMap(out, raw.geometry, anatomy.label_table(np.unique(out)))


def _load_mask_folder(folder: Path, structures: Structures) -> LabelMap:
    import SimpleITK as sitk

    files = sorted(folder.glob("*.nii.gz")) + sorted(folder.glob("*.nii"))
    if not files:
        raise InputError(f"no NIfTI masks in {folder}")
    out: np.ndarray | None = None
    geometry: Geometry | None = None
    overlap = 0
    for f in files:
        name = f.name[: -len(".nii.gz")] if f.name.endswith(".nii.gz") else f.stem
        sid = resolve_anatomy_id(name)
        if sid is None or not _wanted(sid, structures):
            continue
        img = sitk.ReadImage(str(f))
        g = Geometry.from_sitk(img)
        mask = sitk.GetArrayFromImage(img) > 0
        if out is None:
            out, geometry = np.zeros(g.shape_zyx, np.uint16), g
        elif not g.is_same_grid(geometry):  # type: ignore[arg-type]
            raise InputError(f"{f.name} is not on the grid of the other masks in {folder}")
        overlap += int(np.count_nonzero(mask & (out != 0) & (out != sid)))
        out[mask & (out == 0)] = sid
    if out is None or geometry is None:
        raise InputError(f"no {structures} masks with spinemets counterparts in {folder}")
    if overlap:
        log.warning("%d voxels belong to several masks in %s; the first mask (by name) kept them",
                    overlap, folder)
    return LabelMap(out, geometry, anatomy.label_table(np.unique(out)))
