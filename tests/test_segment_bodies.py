"""Vertebral bodies (``segment.bodies.extract_bodies``): synthetic geometry, phantoms with exact
body truth, and the real TotalSegmentator example CT against TotalSegmentator's body masks and
spine report (issue 5: body heights within 3 mm when our own pipeline made the masks)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spinemets import anatomy
from spinemets.image import CTImage, Geometry, LabelMap
from spinemets.segment import segment_vertebrae
from spinemets.segment.bodies import extract_bodies

LEVELS = ["T12", "L1", "L2", "L3", "L4", "L5"]
LUMBAR = LEVELS[1:]


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float((a & b).sum()) / max(1.0, float(a.sum() + b.sum()))


# --- synthetic vertebra ------------------------------------------------------------------------

def _synthetic_vertebra():
    """1 mm grid, LPS identity (+y posterior). An elliptic body (20 x 15 mm semi-axes, 26 mm tall)
    with a basivertebral channel (4 x 4 mm, unlabelled) from the posterior wall to the centre, a
    neural arch around a 16 mm wide canal, a spinous process and ONE long transverse process on
    the patient's left (the whole vertebra's centroid lies 3 mm left of the midline)."""
    vid = anatomy.vertebra_id("L3")
    z, y, x = np.ogrid[:60, :100, :110]
    cx, cy = 55, 35
    body = (((x - cx) / 20.0) ** 2 + ((y - cy) / 15.0) ** 2 <= 1.0) & (z >= 15) & (z <= 40)
    arr = np.zeros((60, 100, 110), np.uint16)
    arr[body] = vid
    zs = (z >= 22) & (z <= 34)
    pedicles = zs & (y >= 45) & (y <= 62) & (((x >= cx - 13) & (x <= cx - 9)) | ((x >= cx + 9) & (x <= cx + 13)))
    lamina = zs & (y >= 62) & (y <= 67) & (x >= cx - 13) & (x <= cx + 13)
    spinous = (z >= 20) & (z <= 32) & (y >= 67) & (y <= 90) & (x >= cx - 2) & (x <= cx + 2)
    transverse = (z >= 25) & (z <= 30) & (y >= 53) & (y <= 58) & (x >= cx + 13) & (x <= cx + 50)
    arr[pedicles | lamina | spinous | transverse] = vid
    channel = (z >= 26) & (z <= 29) & (y >= cy) & (y <= 51) & (x >= cx - 2) & (x <= cx + 2)
    arr[channel] = 0
    other = np.zeros_like(body)
    other[27, 42, cx] = True  # a voxel of another structure inside the channel
    arr[other] = 99
    geom = Geometry((60, 100, 110), (1.0, 1.0, 1.0))
    return LabelMap(arr, geom, {vid: "L3", 99: "other"}), vid, body, channel & body & ~other, other


def test_synthetic_body_wall_channel_and_frame():
    lm, vid, body_truth, channel, other = _synthetic_vertebra()
    bodies, frames = extract_bodies(lm, [vid])
    f = frames[vid]
    b = bodies.array == vid
    # the anterior axis lies in the mid-sagittal plane despite the one-sided transverse process
    ang = np.degrees(np.arccos(np.clip(f.axis_ap_lps @ np.array([0.0, -1.0, 0.0]), -1, 1)))
    assert ang <= 3.0, (f.axis_ap_lps, ang)
    assert f.wall_found
    # the wall is the front of the canal, not the front of the channel (old rule: 12 mm short)
    assert _dice(b, body_truth) >= 0.97, _dice(b, body_truth)
    ys = np.nonzero(b.any(axis=(0, 2)))[0]
    assert ys.max() <= 51  # no pedicle: the posterior wall is at y = 50
    # the channel is closed into the body; another label's voxel is never taken
    assert b[channel].mean() >= 0.9
    assert not b[other].any()
    assert np.all(lm.array[b] != 99)


def test_synthetic_body_wall_behind_a_central_lytic_cavity():
    """A lytic cavity the vertebra map left open (unlabelled, 12 mm across, around the body's
    centre through its whole height, open at both end plates) holds the body centre: every midline
    column starts in it. The wall is still the canal's front, found behind the bone that follows the
    cavity (before: the wall rested on the few heights outside the cavity and was drawn 6 mm
    behind the centre on the small phantom seed 2, L2, instead of 15 mm; body Dice 0.83)."""
    lm, vid, body_truth, _, _ = _synthetic_vertebra()
    arr = lm.array.copy()
    z, y, x = np.ogrid[:60, :100, :110]
    cavity = (((x - 55) / 6.0) ** 2 + ((y - 35) / 6.0) ** 2 <= 1.0) & (z >= 14) & (z <= 41)
    arr[cavity & (arr == vid)] = 0
    arr[arr == 99] = vid  # (no other structure here)
    bodies, frames = extract_bodies(LabelMap(arr, lm.geometry, {vid: "L3"}), [vid])
    assert frames[vid].wall_found
    b = bodies.array == vid
    ys = np.nonzero(b.any(axis=(0, 2)))[0]
    assert ys.max() >= 48 and ys.max() <= 51  # the posterior wall at y = 50, not the cavity's back (41)
    assert _dice(b | cavity, body_truth) >= 0.95, _dice(b | cavity, body_truth)


def test_synthetic_axially_rotated_vertebra():
    """The same vertebra turned 15 deg about the cranial axis (scoliotic rotation): the mirror
    plane follows it and the body is still cut at the canal."""
    from scipy import ndimage as ndi

    lm, vid, body_truth, _, _ = _synthetic_vertebra()
    rot = ndi.rotate(lm.array, 15.0, axes=(1, 2), reshape=False, order=0)
    truth = ndi.rotate(body_truth.astype(np.uint8), 15.0, axes=(1, 2), reshape=False, order=0) > 0
    bodies, frames = extract_bodies(LabelMap(rot, lm.geometry, lm.labels), [vid])
    t = np.radians(15.0)
    # scipy's rotate turns the (y, x) array plane by +15 deg: anterior (-y) goes to this direction
    expected = np.array([-np.sin(t), -np.cos(t), 0.0])
    ang = np.degrees(np.arccos(np.clip(frames[vid].axis_ap_lps @ expected, -1, 1)))
    assert ang <= 3.0, (frames[vid].axis_ap_lps, ang)  # previous rule: 10 deg off
    assert _dice(bodies.array == vid, truth) >= 0.96



def test_neighbour_consistent_anterior_axis():
    """Chain of five vertebrae rotating 4 deg per level about +z (a gentle scoliotic twist): the
    middle one's own mirror plane turned 26 deg away (a one-sided lytic defect) is replaced by its
    neighbours' mean direction; one turned 8 deg (within the intersegmental range) is kept, and so
    is every axis whose neighbours disagree with each other or are cut by the volume's edge."""
    from spinemets.segment.bodies import _neighbour_consistent_ap

    def ap(deg):
        t = np.radians(deg)
        return np.array([-np.sin(t), -np.cos(t), 0.0])

    si = [np.array([0.0, 0.0, 1.0])] * 5
    base = [0.0, 4.0, 8.0, 12.0, 16.0]
    aps = [ap(d) for d in base]
    aps[2] = ap(8.0 + 26.0)
    out = _neighbour_consistent_ap(aps, si, [False] * 5)
    assert np.degrees(np.arccos(np.clip(out[2] @ ap(8.0), -1, 1))) < 0.5
    assert all(np.allclose(out[k], aps[k]) for k in (0, 1, 3, 4))
    assert np.allclose(_neighbour_consistent_ap(aps, si, [False, True, False, False, False])[2], aps[2])
    aps[2] = ap(8.0 + 8.0)
    assert np.allclose(_neighbour_consistent_ap(aps, si, [False] * 5)[2], aps[2])
    aps[1], aps[2], aps[3] = ap(-10.0), ap(30.0), ap(20.0)  # neighbours 30 deg apart: no reference
    assert np.allclose(_neighbour_consistent_ap(aps, si, [False] * 5)[2], aps[2])


# --- phantoms ------------------------------------------------------------------------------------

PHANTOMS = {1: {}, 3: dict(lesions=[("L3", "blastic", "body", 10.0), ("T10", "mixed", "body", 9.0)])}


@pytest.mark.parametrize("seed", sorted(PHANTOMS))
def test_phantom_bodies_from_truth_vertebrae(phantom_factory, seed):
    """The body definition alone (truth vertebrae in, truth bodies to compare): Dice per level
    T1-L5. Measured (small preset, 2 x 2 x 3 mm): seed 1 mean 0.984, min 0.946 (T1); seed 3
    mean 0.984, min 0.957 (T2); lumbar 0.98-0.99 (the previous rule: means 0.977, min 0.93)."""
    ph = phantom_factory(seed, **PHANTOMS[seed])
    va = ph.labels.array
    ids = [anatomy.vertebra_id(lv) for lv in anatomy.TARGET_LEVELS if anatomy.vertebra_id(lv) in np.unique(va)]
    vert = LabelMap(np.where(np.isin(va, ids), va, 0).astype(np.uint16), ph.labels.geometry,
                    anatomy.label_table(ids))
    bodies, frames = extract_bodies(vert, ids)
    d = {anatomy.level_of(i): _dice(bodies.array == i, ph.vertebral_bodies.array == i) for i in ids}
    assert min(d.values()) >= 0.94, d
    assert np.mean(list(d.values())) >= 0.98, d
    assert all(frames[i].wall_found for i in ids)


@pytest.mark.slow
def test_phantom_bodies_own_pipeline_lytic(phantom_factory):
    """Classic vertebrae -> bodies on the lytic phantom (seed 2, 12 mm lytic lesion in L2): marrow
    the vertebra map leaves open is closed into the body (but for its last 3 mm at an open end
    plate). Measured: lumbar body Dice 0.92-0.96, L2 0.936 (end slices on the CT's end-plate edges;
    0.91-0.95 and L2 0.93 with the vertebra map's end slices; previous body rule 0.88)."""
    ph = phantom_factory(2, lesions=[("L2", "lytic", "body", 12.0), ("T8", "lytic", "body", 9.0)])
    res = segment_vertebrae(ph.ct)
    d = {lv: _dice(res.bodies.array == anatomy.vertebra_id(lv),
                   ph.vertebral_bodies.array == anatomy.vertebra_id(lv)) for lv in LUMBAR}
    assert min(d.values()) >= 0.87, d
    assert d["L2"] >= 0.91, d
    v, b = res.vertebrae.array, res.bodies.array
    assert np.all((b == 0) | (b == v))  # enclosed voxels closed into a body join its vertebra too (segment/results.py)


PHANTOM_HEIGHT_SEEDS = (1, 3)


@pytest.mark.slow
@pytest.mark.parametrize("seed", PHANTOM_HEIGHT_SEEDS)
def test_phantom_heights_own_pipeline(phantom_factory, seed):
    """Classic vertebrae -> bodies -> heights against the truth (T10-L5, boundary-to-boundary
    heights, the truth's convention). The end slices beyond the CT's end-plate edges are taken
    off (segment/endplates.py); the vertebra map's end slices follow the z-border rule judged on
    the surface's neighbouring voxels (classic/refine.py). Measured (small preset, 2 x 2 x 3 mm):
    seed 1 median |error| 0.45 mm, max 3.4 mm, body Dice mean 0.953; seed 3 1.0 / 3.3 mm, 0.952
    (z-border judged per voxel: seed 1 0.7 / 3.2, seed 3 1.1 / 5.8 mm, L2 middle 27.0 vs 21.2 mm
    at a concave inferior end plate; seeds 2, 4, 5 median 1.85 -> 2.1, 1.05 -> 0.9, 2.25 -> 1.4
    mm, max 4.5 -> 5.5, 3.7 -> 5.6, 3.1 -> 3.5 mm; truth masks themselves 0.2-0.4 / 2.7-3.5 mm).
    Earlier (with the vertebra
    map's end slices: seed 1 0.9 / 6.9 mm, 0.940; seed 3 2.55 / 5.3 mm, 0.937; seeds 2, 4, 5
    moved alike: median 1.65 -> 1.25, 1.5 -> 1.0, 2.9 -> 2.0 mm, max 5.6/5.6/8.0 -> 5.8/3.2/3.2,
    Dice mean 0.936/0.941/0.927 -> 0.945/0.952/0.939)."""
    from spinemets.qct import assess_bone

    ph = phantom_factory(seed)
    res = segment_vertebrae(ph.ct)
    bone = assess_bone(ph.ct, res.vertebrae, res.bodies, fe=False, calibration="fixed")
    levels = ["T10", "T11"] + LEVELS
    err = [bone["levels"][lv]["heights_boundary_mm"][p] - ph.truth["vertebrae"][lv][f"height_{p}_mm"]
           for lv in levels for p in ("anterior", "middle", "posterior")]
    slice_mm = ph.ct.geometry.spacing_mm[2]
    assert np.median(np.abs(err)) <= slice_mm / 2 and np.max(np.abs(err)) <= 1.5 * slice_mm, np.round(err, 1)
    d = [_dice(res.bodies.array == anatomy.vertebra_id(lv), ph.vertebral_bodies.array == anatomy.vertebra_id(lv))
         for lv in levels]
    assert np.mean(d) >= 0.945, np.round(d, 3)


# --- real CT ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real(totalseg_dir):
    sitk = pytest.importorskip("SimpleITK")
    ct = CTImage.from_sitk(sitk.ReadImage(str(totalseg_dir / "example_ct.nii.gz")))
    rep = totalseg_dir / "spine_report" / "example_ct_report"
    seg = sitk.GetArrayFromImage(sitk.ReadImage(str(totalseg_dir / "example_seg_fast_force_split.nii.gz")))
    ref_vert = anatomy.from_totalseg_total(seg).astype(np.uint16)
    vb = sitk.GetArrayFromImage(sitk.ReadImage(str(rep / "totalseg_vertebrae_body.nii.gz")))
    pp = sitk.GetArrayFromImage(sitk.ReadImage(str(
        totalseg_dir / "spine_report" / "test_result" / "totalseg_vertebrae_pp_refined.nii.gz")))
    report = json.loads((rep / "spine_report.json").read_text())["results"]
    return dict(ct=ct, ref_vert=ref_vert, vb=vb, pp=pp, report=report, own=segment_vertebrae(ct))


def _body_dice(b: np.ndarray, r: dict) -> tuple[dict[str, float], dict[str, float]]:
    """(Dice vs TotalSegmentator's refined per-level bodies, Dice vs its vertebrae_body label 1
    intersected with its vertebra) per level."""
    pp, ref1 = {}, {}
    for lv in LEVELS:
        v = anatomy.vertebra_id(lv)
        pp[lv] = round(_dice(b == v, r["pp"] == v), 3)
        ref1[lv] = round(_dice(b == v, (r["vb"] == 1) & (r["ref_vert"] == v)), 3)
    return pp, ref1


@pytest.mark.slow
def test_real_body_dice_from_reference_vertebrae(real):
    """Body definition alone: TotalSegmentator's vertebrae in. Measured: vs body label x vertebra
    0.981/0.978/0.978/0.981/0.986/0.942, vs refined bodies 0.929/0.911/0.921/0.917/0.927/0.811
    (T12..L5; L5: our posterior wall is one 3 mm voxel behind TotalSegmentator's)."""
    va = real["ref_vert"]
    ids = [anatomy.vertebra_id(lv) for lv in anatomy.TARGET_LEVELS if anatomy.vertebra_id(lv) in np.unique(va)]
    bodies, _ = extract_bodies(LabelMap(va, real["ct"].geometry, anatomy.label_table(ids)), ids)
    pp, ref1 = _body_dice(bodies.array, real)
    for lv in LEVELS:
        assert ref1[lv] >= (0.92 if lv == "L5" else 0.96), ref1
        assert pp[lv] >= (0.79 if lv == "L5" else 0.90), pp


@pytest.mark.slow
def test_real_body_dice_own_pipeline(real):
    """Classic vertebrae -> bodies (end slices on the CT's end-plate edges, segment/endplates.py).
    Measured: vs body label x vertebra 0.924/0.926/0.931/0.935/0.934/0.889, vs refined bodies
    0.925/0.906/0.911/0.926/0.922/0.799 (T12..L5; with the vertebra map's end slices
    0.946/0.938/0.939/0.938/0.944/0.877 and 0.915/0.882/0.883/0.891/0.901/0.770: 50-75 % of the
    voxels taken off lie in TotalSegmentator's body label, while the Dice with its refined bodies
    rises; previous rule
    L1 0.769/0.760 and L3 0.896/0.846 from a wall found at the front of L1's basivertebral
    channel and an anterior axis turned 14-22 deg sideways)."""
    pp, ref1 = _body_dice(real["own"].bodies.array, real)
    for lv in LEVELS:
        assert ref1[lv] >= (0.85 if lv == "L5" else 0.92), ref1
        assert pp[lv] >= (0.75 if lv == "L5" else 0.86), pp


def _own_height_diffs(real) -> list[float]:
    from spinemets.qct import assess_bone

    own = real["own"]
    res = assess_bone(real["ct"], own.vertebrae, own.bodies, fe=False)
    rep = real["report"]
    return [res["levels"][lv][f"height_{p}_mm"] - rep[f"vertebrae_{lv}_height_{p}_mm"]
            for lv in LUMBAR for p in ("anterior", "middle", "posterior")]


@pytest.mark.slow
def test_real_heights_own_pipeline_guard(real):
    """Regression guard: no notch (the previous rule read L1's posterior height 3 mm vs 27).
    Measured: median 1.5 mm, max 3.0 mm (with the vertebra map's end slices: 1.5, 6.0 mm)."""
    d = np.abs(_own_height_diffs(real))
    assert np.median(d) <= 3.0 and d.max() <= 7.5, d.tolist()


@pytest.mark.slow
def test_real_heights_own_pipeline_issue_target_3mm(real):
    """Issue 5 target with our own masks. Measured: heights minus the spine report (L1..L5 a/m/p)
    0.0 0.0 -3.0 | -1.5 -1.5 0.0 | -1.5 0.0 -1.5 | -1.5 -3.0 0.0 | 0.0 -3.0 +3.0 mm (four at the
    limit: heights come in 1.5 mm steps on this 3 mm CT); with the vertebra map's end slices
    +1.5 +1.5 0.0 | +1.5 0.0 +1.5 | +6.0 +3.0 +3.0 | +4.5 +3.0 0.0 | +4.5 +1.5 +6.0 (4 over)."""
    d = np.abs(_own_height_diffs(real))
    assert d.max() <= 3.0, d.tolist()
