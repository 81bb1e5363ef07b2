"""Osteoporotic vertebral bodies (issue 3, consequence for issue 5).

In osteoporosis (QCT trabecular BMD < 80 mg/cm3) the marrow of a vertebral body is as dark as a
disc (~75-110 HU) and below the bone growth threshold (``masks.BONE_LOW_HU``), so the body is only
recovered by filling the cavity enclosed by its thin cortical shell (``masks.fill_enclosed``). At a
3 mm working grid that shell has gaps (basivertebral foramen in the posterior wall, partial volume
of a ~1 mm lateral wall), which the in-plane closing is meant to bridge.

Diagnosis (2026-11-24, small preset phantom seed 8 without lesions, an 80-year-old woman,
trabecular BMD 51-62 mg/cm3): the cavity is left open at mid-body (no voxel at the body centre is
filled at T10, T11, L1), so the body-column centreline (maximum of the in-slice distance transform
of the filled mask) runs 9-12 mm lateral and up to 9 mm posterior of the true body centre, with an
inscribed radius of 8-9 mm instead of ~12 mm; the body cylinder built on it then clips the fill, the
body seeds miss the body, and its cortex is flooded from the arch or from the rib competitors.

Mechanism (2026-11-24, second look): in axial slices the cortical ring of these bodies is closed
(after bridging 1-voxel gaps along the wall), but the thin central endplate is lost to partial volume,
so in sagittal/coronal planes through the centre the marrow is open towards the disc. A 3x3 square
closing also seals the spinal canal in coronal planes at L4/L5 (the canal is enclosed there by
pedicles/laminae up to 1-voxel facet gaps and, with lordosis, by bone above and below).

Diagnosis with the axial marrow pass on (2026-11-24, main 42a2c71, same case; FN/FP voxels of the
2x2x3 mm CT grid by region of the truth: body core = body eroded by 4 mm in-plane, body rim, posterior
elements; FP in the disc, a neighbour level, a rib, the canal, soft tissue):
- T1, T2: the body itself is missed. Body voxels labelled per body slice (caudal to cranial): T1
  0/0/3/17/12 of 24/70/66/68/24, T2 0/0/7/38/13 of 46/64/64/66/22 (the same with the z-border rule
  off). These bodies (~5-6 working voxels across at 3 mm) show only part of their cortical ring, so
  no pass fills their marrow; T1-T2 also lose ~320 posterior voxels each (transverse processes).
- T3-L5: the body marrow is recovered (body-core FN 0-4 voxels, except L1 38); the losses are the
  posterior elements (FN 130-250 voxels per level, median HU 60-90: the dark marrow of pedicles,
  laminae, articular processes and spinous processes between their cortical lines, plus thoracic
  spinous tips given to the level below) and disc voxels labelled vertebra (FP 40-440 per level,
  seed 1 has 20-220 too, on bodies ~30 % larger). Small axial holes per label (inscribed radius
  <= 2.5 mm) hold only 10-70 of those posterior voxels per level; voxels the label holds across
  them from most in-plane directions (``masks.enclosed_marrow``, on since) 630 true / 100 false on
  this case (seed 1: 430 / 70).
- T5's body slices are partly missed (83/94, 80/96, 82/94, 77/96 voxels), T7 and below have whole bodies.
"""

from __future__ import annotations

import numpy as np
import pytest

from spinemets import anatomy
from spinemets.segment import evaluate_vertebrae, segment_vertebrae
from spinemets.segment.classic import masks

DICE_TARGET = 0.95


def _box_shell(shape: tuple[int, int, int], z0: int, z1: int, y0: int, y1: int, x0: int, x1: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """A box of one-voxel walls spanning [z0, z1] x [y0, y1] x [x0, x1] (inclusive) in an array of
    ``shape``, and its cavity."""
    bone = np.zeros(shape, bool)
    bone[z0:z1 + 1, y0:y1 + 1, x0:x1 + 1] = True
    cavity = np.zeros_like(bone)
    cavity[z0 + 1:z1, y0 + 1:y1, x0 + 1:x1] = True
    return bone & ~cavity, cavity


def _hollow_body(gap_posterior: bool, gap_lateral: bool) -> tuple[np.ndarray, np.ndarray]:
    """A box-shaped body of one-voxel-thick walls ([z, y, x]; 13 x 11 x 13 voxels inside a 21^3
    grid) and its cavity. Optional one-voxel gaps over the middle three slices: in the posterior wall
    on the mid-sagittal column (basivertebral foramen), and in both lateral walls on the mid row."""
    z0, z1, y0, y1, x0, x1 = 4, 16, 5, 15, 4, 16
    bone, cavity = _box_shell((21, 21, 21), z0, z1, y0, y1, x0, x1)
    zm, ym, xm = 10, 10, 10
    if gap_posterior:
        bone[zm - 1:zm + 2, y1, xm] = False
    if gap_lateral:
        bone[zm - 1:zm + 2, ym, x0] = False
        bone[zm - 1:zm + 2, ym, x1] = False
    return bone, cavity


def test_fill_enclosed_fills_a_closed_shell():
    bone, cavity = _hollow_body(False, False)
    out = masks.fill_enclosed(bone, spacing_mm=3.0)
    assert out[cavity].all()


def test_fill_enclosed_leaves_an_open_tube():
    """The spinal canal is open along z: a tube of bone is never filled (the closing may round
    its inner corners, so only the lumen a voxel clear of the wall is checked)."""
    bone = np.zeros((21, 21, 21), bool)
    bone[:, 5:16, 5:16] = True
    bone[:, 6:15, 6:15] = False
    out = masks.fill_enclosed(bone, spacing_mm=3.0)
    assert not out[:, 7:14, 7:14].any()


def test_fill_enclosed_bridges_one_voxel_gaps_in_a_thin_shell():
    bone, cavity = _hollow_body(True, True)
    out = masks.fill_enclosed(bone, spacing_mm=3.0)
    assert out[cavity].all()


@pytest.mark.parametrize("spacing_mm, bridged, open_", [(3.0, 1, 2), (1.5, 2, 3), (1.0, 4, 5)])
def test_bridge_gaps_scales_with_spacing(spacing_mm, bridged, open_):
    """Gaps up to ``CORTICAL_GAP_MM`` (4 mm) in a one-voxel wall are bridged along the wall at any
    spacing; a wider opening (a foramen) is not."""
    for gap, expect in ((bridged, True), (open_, False)):
        wall = np.zeros((1, 9, 40), bool)
        wall[0, 4] = True
        wall[0, 4, 15:15 + gap] = False
        out = masks.bridge_gaps(wall, spacing_mm)
        assert out[0, 4, 15:15 + gap].all() == expect, (spacing_mm, gap)
        # nothing off the wall line
        assert not (out & ~wall)[0, [3, 5]].any()


def test_bridge_gaps_leaves_a_concave_corner():
    """An L-shaped wall: the inner corner is not filled (a square closing would round it)."""
    wall = np.zeros((1, 12, 12), bool)
    wall[0, 6, 2:10] = True
    wall[0, 2:7, 6] = True
    out = masks.bridge_gaps(wall, 3.0)
    assert not (out & ~wall).any()


def _body_and_canal(endplates: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A box body ([z, y, x], anterior = low y) of one-voxel cortex with a canal ring behind it
    (pedicles and lamina), and its marrow cavity; ``endplates=False``: only the endplate's
    outer rim is kept (its thin centre lost to partial volume), so the marrow is open towards
    the discs in every sagittal and coronal plane through its centre."""
    z0, z1, y0, y1, x0, x1 = 3, 15, 3, 14, 3, 17
    bone, cavity = _box_shell((19, 30, 21), z0, z1, y0, y1, x0, x1)
    if not endplates:
        bone[[z0, z1], y0 + 3:y1 - 2, x0 + 3:x1 - 2] = False
    # the arch: pedicles and lamina around the canal (y 15-21, x 7-13) over the middle slices
    bone[6:13, 14:23, 6] = bone[6:13, 14:23, 14] = True
    bone[6:13, 22, 6:15] = True
    # (the lumen a voxel clear of the wall: the sagittal/coronal pass's closing rounds its corners)
    canal = np.zeros_like(bone)
    canal[:, 16:21, 8:13] = True
    return bone, cavity, canal


def test_fill_enclosed_fills_marrow_open_towards_the_discs():
    bone, cavity, canal = _body_and_canal(endplates=False)
    out = masks.fill_enclosed(bone, spacing_mm=3.0)
    assert out[cavity].all()
    assert not out[canal].any()


def test_fill_enclosed_axial_pass_keeps_to_its_region():
    bone, cavity, canal = _body_and_canal(endplates=False)
    centre = cavity.copy()
    centre[:, :, :] &= ~masks.fill_enclosed(bone, spacing_mm=3.0, axial=False)
    assert centre.any()  # the sagittal and coronal planes alone leave the centre open
    out = masks.fill_enclosed(bone, spacing_mm=3.0, axial=np.zeros(bone.shape, bool))
    assert not out[centre].any()


@pytest.mark.parametrize("ring_hu, filled", [(600.0, True), (150.0, False)])
def test_fill_enclosed_axial_pass_needs_a_cortical_ring(ring_hu, filled):
    """With the image given, the axial pass fills only cavities ringed by cortex (ring mean HU at
    least ``BONE_HIGH_HU``), not a disc whose annulus passed a low bone growth threshold."""
    bone, cavity, _ = _body_and_canal(endplates=False)
    hu = np.where(bone, ring_hu, 90.0)
    centre = cavity & ~masks.fill_enclosed(bone, spacing_mm=3.0, axial=False)
    out = masks.fill_enclosed(bone, spacing_mm=3.0, hu=hu)
    assert out[centre].all() == filled and out[centre].any() == filled


@pytest.mark.parametrize("slices, spacing_mm, capped, filled", [
    (1, 3.0, True, False), (2, 3.0, True, True), (3, 1.5, True, False), (4, 1.5, True, True), (1, 3.0, False, False)])
def test_axial_marrow_must_span_more_than_a_disc_level(slices, spacing_mm, capped, filled):
    """A cortical ring holding marrow at its periphery and a hole at its centre is filled only
    where that hole runs at least ``MARROW_MIN_HEIGHT_MM`` (6 mm) along z, with or without
    endplates above and below."""
    shell = np.zeros((8, 15, 15), bool)
    periphery = np.zeros_like(shell)
    zs = slice(2, 2 + slices)
    shell[zs, 2:13, 2:13] = True
    shell[zs, 3:12, 3:12] = False
    periphery[zs, 3:12, 3:12] = True
    periphery[zs, 6:9, 6:9] = False
    if capped:
        shell[1, 2:13, 2:13] = shell[2 + slices, 2:13, 2:13] = True
    out = masks.marrow_enclosed_axially(shell, periphery | shell, spacing_mm=spacing_mm)
    assert out[zs, 6:9, 6:9].all() == filled and out.any() == filled


@pytest.fixture(scope="module")
def osteoporotic(phantom_factory):
    ph = phantom_factory(8, lesions=[])
    res = segment_vertebrae(ph.ct)
    ev = evaluate_vertebrae(res.vertebrae, ph.labels)
    return ph, ev.summary if hasattr(ev, "summary") else ev


def test_osteoporotic_phantom_is_osteoporotic(osteoporotic):
    """The case is what it claims to be: QCT trabecular BMD below 80 mg/cm3 at T9-L2."""
    ph, _ = osteoporotic
    for lv in ("T9", "T10", "T11", "T12", "L1", "L2"):
        assert ph.truth["vertebrae"][lv]["trabecular_bmd_mg_cm3"] < 80.0


def test_osteoporotic_levels_identified(osteoporotic):
    """Dark bodies must not cost the level labels (VerSe rule: closest centroid within 20 mm)."""
    _, ev = osteoporotic
    for lv in anatomy.TARGET_LEVELS:
        assert ev["levels"][lv]["identified"], lv


@pytest.mark.xfail(strict=True, reason=(
    "seed 8 small preset, lesions=[] (trabecular BMD 51-62 mg/cm3), classic backend, measured "
    "2026-11-24 (branch wt-marrow on main f1e8ff5) with the axial marrow pass and the CT-grid "
    "enclosed-marrow step (masks.enclosed_marrow) on: Dice T1 0.423, T2 0.472, T3 0.701, T4 0.784, "
    "T5 0.762, T6 0.841, T7 0.787, T8 0.838, T9 0.856, T10 0.881, T11 0.875, T12 0.903, L1 0.885, "
    "L2 0.896, L3 0.884, L4 0.931, L5 0.929 (main f1e8ff5 without it: T1 0.402 T2 0.468 T3 0.693 "
    "T4 0.760 T5 0.739 T6 0.830 T7 0.782 T8 0.827 T9 0.843 T10 0.868 T11 0.865 T12 0.893 L1 0.876 "
    "L2 0.888 L3 0.884 L4 0.923 L5 0.923). Below 0.95 at every level. T1-T2: the body is missed (open "
    "cortical ring at 3 mm); T3-L5: the rest of the posterior elements' dark marrow, thoracic spinous "
    "tips given to the level below, and disc voxels labelled vertebra (module doc)"))
def test_osteoporotic_dice(osteoporotic):
    _, ev = osteoporotic
    low = {lv: ev["levels"][lv]["dice"] for lv in anatomy.TARGET_LEVELS if ev["levels"][lv]["dice"] < DICE_TARGET}
    assert not low, low


def test_osteoporotic_column_cut_above_t11_is_not_silently_mislabelled(phantom_factory):
    """Seed 8 with a T1-T10 field of view ends in a 6 mm sliver of T11 (levels ~19.5 mm): with the
    axial marrow pass the sliver is kept as a segment, shows no rib, and was taken as a rib-free L1
    (0/8 at confidence 0.85). A sliver showing less than the upper half of its body (where ribs 10-12
    articulate) is no rib-free evidence: every complete level is identified, or the labelling is not
    confident."""
    ph = phantom_factory(8, fov_levels=("T1", "T10"))
    res = segment_vertebrae(ph.ct)
    ev = evaluate_vertebrae(res.vertebrae, ph.labels)
    complete = ph.complete_levels()
    assert complete
    missed = [lv for lv in complete if not ev["levels"][lv]["identified"]]
    assert not missed or res.summary["labelling"]["confidence"] < 0.8, (missed, res.summary["labelling"])


def _arch(spacing_mm: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One axial slice ([1, y, x], label 5) of a posterior arch at ``spacing_mm``: a lamina of two
    one-voxel cortical lines around a one-voxel dark marrow band (at a 2-3 mm grid the cortex and
    the marrow of a lamina are about a voxel each), joined at one end only (the other end open, as
    an osteoporotic shell broken by partial volume), beside a canal ring of 14 mm lumen and an
    L-shaped concave corner. Returns labels, the marrow and the voxels that must stay unlabelled
    (canal lumen, the corner's inside)."""
    n = int(round(60 / spacing_mm))
    lab = np.zeros((1, n, n), np.uint16)
    yy, xx = np.mgrid[0:n, 0:n] * spacing_mm
    # lamina: lines at y = 10 mm and one voxel of marrow below, x from 5 to 30 mm
    gap = 1
    y0 = int(round(10 / spacing_mm))
    xs = slice(int(round(5 / spacing_mm)), int(round(30 / spacing_mm)))
    lab[0, y0, xs] = lab[0, y0 + gap + 1, xs] = 5
    lab[0, y0:y0 + gap + 2, xs.start] = 5
    marrow = np.zeros_like(lab, dtype=bool)
    marrow[0, y0 + 1:y0 + gap + 1, xs.start + 1:xs.stop - 1] = True
    # canal ring
    r = np.hypot(yy - 42, xx - 18)
    lab[0][(r >= 7.0) & (r < 7.0 + spacing_mm)] = 5
    keep_out = np.zeros_like(marrow)
    keep_out[0] = r < 7.0 - spacing_mm
    # L-shaped corner
    c0, c1 = int(round(40 / spacing_mm)), int(round(55 / spacing_mm))
    lab[0, c0, c0:c1] = 5
    lab[0, c0:c1, c0] = 5
    keep_out[0, c0 + 1:c1, c0 + 1:c1] = True
    return lab, marrow, keep_out


@pytest.mark.parametrize("spacing_mm", [0.75, 1.0, 2.0])
def test_enclosed_marrow_fills_the_arch_not_the_canal(spacing_mm):
    """Dark marrow held by a label's shell across it (a lamina's two cortical lines, one end
    open) is given to that label; the canal lumen and a concave corner are not."""
    lab, marrow, keep_out = _arch(spacing_mm)
    out = masks.enclosed_marrow(lab, spacing_mm)
    # (the marrow's voxel next to the open end is held from fewer directions)
    assert (out[marrow] == 5).mean() >= 0.85, (out[marrow] == 5).mean()
    assert not out[keep_out].any()


def test_enclosed_marrow_leaves_other_labels():
    """Only unlabelled voxels are filled; another label between two cortical lines stays."""
    lab, marrow, _ = _arch(2.0)
    lab[marrow] = 7
    out = masks.enclosed_marrow(lab, 2.0)
    assert (out[marrow] == 7).all()
    assert (out[lab > 0] == lab[lab > 0]).all()


def test_enclosed_marrow_at_3mm_fills_pockets_only():
    """At 3 mm pixels only the axes bridge a gap (of one voxel): a one-voxel pocket held on all four
    sides is filled; the one-voxel lamina band (held across it only) and the canal are not."""
    lab, marrow, keep_out = _arch(3.0)
    lab[0, 0:3, 14:17] = 5
    lab[0, 1, 15] = 0
    out = masks.enclosed_marrow(lab, 3.0)
    assert out[0, 1, 15] == 5
    assert not out[keep_out].any() and not out[marrow].any()


@pytest.mark.slow
def test_osteoporotic_bodies_keep_their_own_level_default_preset(phantom_factory):
    """Seed 8 at the default preset (1 x 1 x 3 mm, osteoporotic, no lesions): most (>= 80 %) of each
    complete level's body carries that level's label. With the disc profile read from the
    unrestricted fill, discs were placed inside the small osteoporotic T1-T3 bodies (marrow as dark as
    a disc, and the probe reaching cavities filled behind the body), splitting each between two
    levels: body voxels with their own label T2 0.22, T3 ~0.2 (Dice 0.21 / 0.37)."""
    ph = phantom_factory(8, lesions=[], size="default")
    res = segment_vertebrae(ph.ct)
    pred, bodies = res.vertebrae.array, ph.vertebral_bodies.array
    own = {}
    for lv in ph.complete_levels():
        vid = anatomy.vertebra_id(lv)
        own[lv] = float((pred[bodies == vid] == vid).mean())
    low = {lv: round(f, 3) for lv, f in own.items() if f < 0.8}
    assert not low, low
