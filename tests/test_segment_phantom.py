"""Classic backend on synthetic metastatic-spine phantoms with exact ground truth.

Targets (issue 3): every T1-L5 vertebra identified (VerSe rule: closest predicted centroid within
20 mm carries the right label) and Dice >= 0.95 per vertebra that lies wholly in the field of view.
"""

import numpy as np
import pytest

from spinemets import anatomy
from spinemets.segment import evaluate_vertebrae, segment_vertebrae

DICE_TARGET = 0.95

CASES = {
    "seed1_random_lesions": dict(seed=1),
    "seed2_lytic": dict(seed=2, lesions=[("L2", "lytic", "body", 12.0), ("T8", "lytic", "body", 9.0)]),
    "seed3_blastic_mixed": dict(seed=3, lesions=[("L3", "blastic", "body", 10.0), ("T10", "mixed", "body", 9.0)]),
    "seed4_fracture": dict(seed=4, lesions=[], fracture_levels=["L1"]),
    "seed5_partial_T8_L5": dict(seed=5, fov_levels=("T8", "L5")),
}


#: Targets not met yet (re-measured 2026-11-24, sixth session, after the vertebra/rib boundary beside the body
#: was redrawn along the cortex by a watershed on HU (``separate.rib_contact_partition``), disc voxels were
#: taken off the end slices (``refine.drop_beyond_bone``; the in-plane rim only beside side walls) and the
#: arch's dark marrow held by its own shell was filled (``masks.enclosed_marrow``); small preset, 2x2x3 mm,
#: classic backend, truth by majority occupancy of each voxel's sub-slices; all levels identified). Thoracic
#: means rose by 0.003-0.016 (were 0.918/0.909/0.909/0.914/0.928), lumbar minima by 0.005-0.009. What is left:
#: at 3 mm voxels the transverse process is two or three partial-volume voxels and T2 (seed3 0.811) has no
#: process seeds, its midline taken by T1 (``refine.posterior_partition``); the end-slice model's cortical HU
#: is lowered by the blur of the thin end plate, so plate-only end voxels are kept (diagnostic: with the
#: phantom's true cortical HU lumbar L1-L4 of the 1x1x3 mm preset rise 0.951-0.960 -> 0.964-0.979). Seventh
#: session: the lytic T8 lesion and the L1 fracture that open through the wall are filled by ``lytic.py``
#: (soft tissue inside the axial hull of the vertebra and its mirror image, in front of the canal): seed 2
#: T8 0.795 -> 0.914, seed 4 L1 0.869 -> 0.943; the other cases are unchanged. At clinical resolution
#: (0.75 x 0.75 x 1 mm) seeds 1, 2 (lytic), 3, 4 (fracture) and the partial field of view of seed 5 meet the
#: target at every complete level (tests/test_segment_clinical.py, tests/test_segment_top.py).
_DICE_XFAIL = {
    "seed1_random_lesions": "thoracic Dice 0.91-0.95 (mean 0.931; T2 0.905), lumbar 0.95-0.98 (L5 0.946)",
    "seed2_lytic": "thoracic Dice 0.89-0.97 (mean 0.926; T2 0.891; T8 lytic 0.925, was 0.795 before lytic.py), "
                   "lumbar 0.95-0.97 (L3 0.952)",
    "seed3_blastic_mixed": "thoracic Dice 0.81-0.97 (mean 0.914; T2 0.811, 0.796 before the centreline's "
                           "end model), lumbar 0.96-0.98 (L1 0.964)",
    "seed4_fracture": "thoracic Dice 0.90-0.96 (mean 0.932; T6 0.901, T7 0.902), lumbar 0.95-0.98 (L1 fracture "
                      "0.945, was 0.869 before lytic.py)",
    "seed5_partial_T8_L5": "thoracic Dice 0.93-0.95 (mean 0.940; T10 0.930), lumbar 0.95-0.97 (L1 0.948)",
}
_LUMBAR_FLOOR_XFAIL: dict[str, str] = {}
_BODY_VOLUME_XFAIL: dict[str, str] = {}


def _xfail_if(request, name: str, table: dict[str, str]) -> None:
    if name in table:
        request.applymarker(pytest.mark.xfail(strict=True, reason=table[name]))


@pytest.fixture(scope="module", params=list(CASES))
def case(request, phantom_factory):
    cfg = dict(CASES[request.param])
    seed = cfg.pop("seed")
    ph = phantom_factory(seed, **cfg)
    res = segment_vertebrae(ph.ct)
    return request.param, ph, res, evaluate_vertebrae(res.vertebrae, ph.labels)


@pytest.mark.slow
def test_phantom_identification(case):
    name, ph, res, m = case
    levels = ph.complete_levels()
    assert len(levels) >= 5
    missed = [lv for lv in levels if not m["levels"][lv].get("identified")]
    assert not missed, (name, missed, res.summary["labelling"])
    assert res.summary["labelling"]["confidence"] >= 0.8


@pytest.mark.slow
def test_phantom_dice(case, request):
    name, ph, res, m = case
    _xfail_if(request, name, _DICE_XFAIL)
    low = {lv: m["levels"][lv]["dice"] for lv in ph.complete_levels() if m["levels"][lv]["dice"] < DICE_TARGET}
    assert not low, (name, low)


@pytest.mark.slow
def test_phantom_lumbar_dice_floor(case, request):
    """Lumbar vertebrae (no ribs) already meet a lower floor; a regression guard below the target."""
    name, ph, res, m = case
    _xfail_if(request, name, _LUMBAR_FLOOR_XFAIL)
    for lv in ph.complete_levels():
        if lv.startswith("L"):
            assert m["levels"][lv]["dice"] >= 0.85, (name, lv, m["levels"][lv])


@pytest.mark.slow
def test_phantom_bodies_inside_vertebrae(case):
    _, _, res, _ = case
    v, b = res.vertebrae.array, res.bodies.array
    assert np.all((b == 0) | (b == v))  # enclosed voxels closed into a body join its vertebra (results.py)


@pytest.mark.slow
def test_phantom_lumbar_body_volumes(case, request):
    name, ph, res, _ = case
    _xfail_if(request, name, _BODY_VOLUME_XFAIL)
    b = res.bodies.array
    truth_b = ph.vertebral_bodies
    # body volume within 25 % of the truth for complete lumbar levels
    for lv in ph.complete_levels():
        if not lv.startswith("L"):
            continue
        vid = anatomy.vertebra_id(lv)
        pred = float((b == vid).sum())
        ref = float((truth_b.array == vid).sum())
        assert abs(pred - ref) <= 0.25 * ref, (lv, pred, ref)


def test_majority_z_border_follows_sub_slice_occupancy():
    """A bone block (trabecular 200 HU, 1 mm cortical end plate 1200 HU) under soft tissue (40 HU),
    imaged with 3 mm slices averaging three 1 mm sub-slices; the end plate lies at a different
    sub-slice in each column group. After the border rule a voxel is labelled exactly when bone
    fills at least two of its three sub-slices (the fixed threshold keeps all of them)."""
    from spinemets.phantom.canvas import majority_subslices
    from spinemets.segment.classic.refine import majority_z_border

    nzf, ny, nx = 36, 12, 18
    fine_hu = np.full((nzf, ny, nx), 40.0, np.float32)
    fine_lab = np.zeros((nzf, ny, nx), np.uint8)
    for g in range(3):  # surface after 1, 2 or 3 bone sub-slices of output slice 6
        xs = slice(6 * g, 6 * g + 6)
        top = 18 + g  # last bone sub-slice (exclusive bound 19..21)
        fine_hu[3:top + 1, 1:-1, xs] = 200.0
        fine_hu[top, 1:-1, xs] = 1200.0   # end plate
        fine_hu[3, 1:-1, xs] = 1200.0     # lower end plate
        fine_lab[3:top + 1, 1:-1, xs] = 1
    fine_hu[:, 1:-1, 0] = fine_hu[:, 1:-1, -1] = 1200.0  # lateral cortex (in-plane, sharp)
    rng = np.random.default_rng(0)
    hu = fine_hu.reshape(12, 3, ny, nx).mean(1) + rng.normal(0, 5.0, (12, ny, nx)).astype(np.float32)
    truth = majority_subslices(fine_lab, 3)
    labels = (hu > 110).astype(np.uint8)
    assert (labels != truth).sum() > 0  # the fixed threshold over-segments the end plate
    out = majority_z_border(labels, hu, np.array([3.0, 1.0, 1.0]))
    inner = np.s_[:, 1:-1, 1:-1]
    assert np.array_equal(out[inner] > 0, truth[inner] > 0)
    # near-isotropic voxels: the rule does not apply
    assert np.array_equal(majority_z_border(labels, hu, np.array([1.0, 1.0, 1.0])), labels)


def test_fill_label_holes_fills_marrow_not_the_canal():
    """A vertebra-like label: a body whose marrow is missing (a cavity enclosed in sagittal and
    coronal planes) and an arch around a canal that runs through the label's whole height. The
    marrow is filled; the canal, open at both z ends, is not; another label is never overwritten."""
    from spinemets.segment.classic.refine import fill_label_holes

    lab = np.zeros((10, 30, 20), np.uint16)
    lab[1:9, 2:12, 3:17] = 20                      # body
    lab[3:7, 4:10, 6:14] = 0                       # missing marrow
    lab[5, 6, 8] = 21                              # a voxel of another label inside it
    lab[1:9, 12:24, 3:17] = 20                     # arch block ...
    lab[1:9, 13:21, 7:13] = 0                      # ... around the canal (open at z ends)
    out = fill_label_holes(lab)
    assert np.all(out[3:7, 4:10, 6:14][lab[3:7, 4:10, 6:14] == 0] == 20)
    assert out[5, 6, 8] == 21
    assert not out[1:9, 13:21, 7:13].any()


def test_posterior_partition_keeps_a_sloping_process_with_its_own_level():
    """Two levels, each a lamina (seeded) with a spinous process sloping 50 degrees caudally; the upper
    process passes over the back of the lower lamina and touches it. A geodesic (flat) partition hands
    the upper process's lower part to the lower level, whose seed is nearer; the top-down partition
    keeps every voxel of each process with its own level."""
    import SimpleITK as sitk
    from skimage.segmentation import watershed

    from spinemets.segment.classic.refine import posterior_partition, superior_mm

    nz, ny, nx = 48, 40, 7
    z, y, x = np.mgrid[0:nz, 0:ny, 0:nx].astype(float)

    def process(z0, y0, length, half):
        a = np.radians(50.0)
        t = -(z - z0) * np.sin(a) + (y - y0) * np.cos(a)
        n = -(z - z0) * np.cos(a) - (y - y0) * np.sin(a)
        return (t >= 0) & (t <= length) & (np.abs(n) <= half) & (np.abs(x - 3) <= 2)

    upper = process(40, 4, 40, 4.5)
    lower = process(22, 4, 30, 4.5) & ~upper
    lam_up = (np.abs(z - 40) <= 3) & (y <= 6)
    lam_low = ((np.abs(z - 22) <= 3) & (y <= 6)) | ((z >= 22) & (z <= 26) & (y <= 12) & ~upper)
    bone = upper | lower | lam_up | lam_low
    seeds = np.zeros(bone.shape, np.int32)
    seeds[lam_up] = 1
    seeds[lam_low] = 2
    flat = watershed(np.zeros(bone.shape), markers=seeds, mask=bone, connectivity=1)
    assert (flat[upper] == 1).mean() < 0.5  # the geodesic partition fails here
    img = sitk.Image(nx, ny, nz, sitk.sitkUInt8)  # identity direction: array z = superior
    out = posterior_partition(flat.astype(np.uint16), bone, seeds, bone, lambda box: superior_mm(img, box))
    assert np.all(out[upper] == 1) and np.all(out[lower] == 2)
    # voxels outside the region keep their label
    region = bone & (y >= 20)
    out2 = posterior_partition(flat.astype(np.uint16), bone, seeds, region, lambda box: superior_mm(img, box))
    assert np.array_equal(out2[~region], flat[~region])
