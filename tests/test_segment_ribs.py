"""Ribs kept apart from the vertebrae (issue 3), above all where the field of view cuts them.

A rib leaves its vertebra laterally and runs down and out behind the transverse process, so in
the axial slices below its joints its cross-section lies beside the vertebra, detached from it in
the slice (``separate.detached_lateral_runs``); such a pair marks a rib-bearing level even when
the rib never leaves the spine zone inside the field of view (the DICOM slab: 40 mm through T12).
"""

import numpy as np
import pytest

from spinemets import anatomy
from spinemets.segment.classic.centreline import Centreline
from spinemets.segment.classic.separate import RIB_RUN_MIN_MM, detached_lateral_runs

W = 2.0  # working-grid spacing (mm)
SHAPE = (12, 60, 80)
CY, CX, R = 20.0, 40.0, 15.0  # centreline (index) and body radius (mm)


def _centreline() -> Centreline:
    z = np.arange(SHAPE[0], dtype=float)
    return Centreline(z, np.full(z.size, CY), np.full(z.size, CX), np.full(z.size, R), np.ones(z.size, bool), W)


def _vertebra() -> np.ndarray:
    """Label 1: a round body and a midline arch with transverse processes (joined in-plane)."""
    lab = np.zeros(SHAPE, np.int32)
    yy, xx = np.mgrid[0:SHAPE[1], 0:SHAPE[2]]
    body = np.hypot(yy - CY, xx - CX) <= R / W
    arch = (np.abs(xx - CX) <= 2) & (yy > CY) & (yy <= CY + 25)
    tp = (np.abs(yy - (CY + 12)) <= 1) & (np.abs(xx - CX) <= 22 / W)  # processes 22 mm to each side
    lab[:] = (body | arch | tp)[None]
    return lab


def _island(lab: np.ndarray, z: int, dx_mm: float, dy_mm: float, half_vox: int = 2) -> None:
    y, x = int(round(CY + dy_mm / W)), int(round(CX + dx_mm / W))
    lab[z, y - half_vox:y + half_vox + 1, x - half_vox:x + half_vox + 1] = 1


def test_paired_rib_sections_beside_the_vertebra_are_measured():
    lab = _vertebra()
    # ribs sloping down and out: 4 slices (8 mm), 5x5 voxels (100 mm^2), moving 2 mm out per slice
    for i, z in enumerate(range(0, 4)):
        _island(lab, z, -(30.0 + 2 * (3 - i)) - 4, 30.0)
        _island(lab, z, +(30.0 + 2 * (3 - i)) + 4, 30.0)
    right, left = detached_lateral_runs(lab, 1, _centreline(), W)
    assert right == pytest.approx(8.0) and left == pytest.approx(8.0)
    assert min(right, left) >= RIB_RUN_MIN_MM


def test_processes_joined_in_plane_specks_and_body_fragments_are_not_ribs():
    lab = _vertebra()
    cl = _centreline()
    assert detached_lateral_runs(lab, 1, cl, W) == (0.0, 0.0)  # transverse processes joined in-plane
    spk = lab.copy()
    for z in range(0, 4):  # a speck of 1 voxel (4 mm^2) beside the vertebra in 4 slices
        _island(spk, z, 40.0, 30.0, half_vox=0)
    assert detached_lateral_runs(spk, 1, cl, W) == (0.0, 0.0)
    frag = lab.copy()
    for z in range(0, 4):  # a piece of cortex beside the body, within the widest body (1.7 radii)
        _island(frag, z, 1.5 * R + 2.0, 0.0, half_vox=1)
    assert detached_lateral_runs(frag, 1, cl, W) == (0.0, 0.0)
    one = lab.copy()
    _island(one, 5, 40.0, 30.0)  # a rib-sized island in one slice only: a process tip
    assert detached_lateral_runs(one, 1, cl, W) == (0.0, W)
    assert max(detached_lateral_runs(one, 1, cl, W)) < RIB_RUN_MIN_MM


@pytest.mark.slow
def test_dicom_slab_ribs_beside_t12_are_not_t12(totalseg_dir):
    """The 40 mm slab through T12: its ribs run inside the spine zone and leave the field of view
    below (no rib leaves the zone), yet they are ribs. Measured: T12 voxels more than 25 mm lateral
    of the reference T12's centre and more than 5 mm from any reference vertebra (rib
    cross-sections beside the transverse processes) 1250 before the detached-run rule, 0 after."""
    from scipy import ndimage as ndi

    from spinemets.io import read_ct, read_label_map
    from spinemets.segment import evaluate_vertebrae, segment_vertebrae

    ct = read_ct(totalseg_dir / "example_ct_dicom")
    res = segment_vertebrae(ct)
    ref = read_label_map(totalseg_dir / "example_seg_dicom.nii.gz", labels={})
    m = evaluate_vertebrae(res.vertebrae, ref, ref_convention="totalseg")
    assert m["levels"]["T12"]["identified"], m["levels"]["T12"]
    # the reference is stored with its rows flipped (direction y = -1) on the same voxel grid
    g, gr = ct.geometry, ref.geometry
    assert g.shape_zyx == gr.shape_zyx and np.allclose(g.spacing_mm, gr.spacing_mm)
    assert np.allclose(gr.direction, (1, 0, 0, 0, -1, 0, 0, 0, 1))
    refv = np.asarray(anatomy.from_totalseg_total(ref.array))[:, ::-1, :]
    t12 = anatomy.vertebra_id("T12")
    sx, sy, _ = g.spacing_mm
    far = ndi.distance_transform_edt(refv == 0, sampling=(1e6, sy, sx)) > 5.0
    xc = float(np.nonzero(refv == t12)[2].mean())
    lateral = (np.abs(np.arange(g.shape_zyx[2]) - xc) * sx > 25.0)[None, None, :]
    ribs_as_t12 = int(((res.vertebrae.array == t12) & far & lateral).sum())
    assert ribs_as_t12 <= 0.01 * int((refv == t12).sum()), ribs_as_t12
