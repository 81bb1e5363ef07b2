"""Classic backend on the real public CTs (TotalSegmentator test data) against TotalSegmentator's
own output (a model output, not manual ground truth)."""

import json

import numpy as np
import pytest

from spinemets import anatomy
from spinemets.cli import main
from spinemets.io import read_ct, read_label_map
from spinemets.segment import evaluate_vertebrae, segment_vertebrae, write_vertebrae_outputs

LEVELS = ["T12", "L1", "L2", "L3", "L4", "L5"]


@pytest.fixture(scope="module")
def real_ct(totalseg_dir):
    return read_ct(totalseg_dir / "example_ct.nii.gz")


@pytest.fixture(scope="module")
def real_result(real_ct):
    return segment_vertebrae(real_ct)


@pytest.fixture(scope="module")
def real_metrics(real_result, totalseg_dir):
    ref = read_label_map(totalseg_dir / "example_seg_fast_force_split.nii.gz", labels={})
    return evaluate_vertebrae(real_result.vertebrae, ref, ref_convention="totalseg")


def test_real_ct_levels_present_and_labelled(real_metrics, real_result):
    for lv in LEVELS:
        entry = real_metrics["levels"][lv]
        assert entry["in_prediction"], lv
        assert entry["identified"], (lv, entry)
    lab = real_result.summary["labelling"]
    assert lab["anchor"] == "sacrum" and "last_rib" in lab["anchors_found"]


@pytest.mark.parametrize("level", LEVELS)
def test_real_ct_dice(real_metrics, level):
    assert real_metrics["levels"][level]["dice"] >= 0.85, real_metrics["levels"][level]


def test_real_ct_summary_and_bodies(real_result):
    s = real_result.summary
    assert s["coordinate_system"] == "LPS" and s["disclaimer"] and s["spinemets_version"]
    for lv in LEVELS:
        e = s["levels"][lv]
        assert e["label"] == anatomy.vertebra_id(lv)
        assert e["status"] in ("ok", "touches_border", "uncertain_label")
        # body is a large part of the vertebra, but not all of it
        assert 0.35 * e["volume_mm3"] < e["body_volume_mm3"] < 0.9 * e["volume_mm3"], (lv, e)
        assert np.linalg.norm(e["axis_si_lps"]) == pytest.approx(1.0, abs=1e-3)
        assert e["axis_si_lps"][2] > 0.6  # cranial (lordosis tilts L5 by up to ~40 degrees)
        assert e["axis_ap_lps"][1] < -0.6  # anterior is -y in LPS for a supine patient
        assert abs(np.dot(e["axis_si_lps"], e["axis_ap_lps"])) < 1e-3
        # the body centroid lies in front of the whole-vertebra centroid
        assert e["body_centroid_lps_mm"][1] < e["centroid_lps_mm"][1]
    # every body lies inside its own vertebra (voxels the body rule closes, e.g. the basivertebral
    # channel, are added to the vertebra too: segment/results.py)
    v, b = real_result.vertebrae.array, real_result.bodies.array
    assert np.all((b == 0) | (b == v))
    # L1 lies above L5
    assert s["levels"]["L1"]["centroid_lps_mm"][2] > s["levels"]["L5"]["centroid_lps_mm"][2]


def test_segment_cli_writes_outputs(tmp_path, totalseg_dir):
    out = tmp_path / "out"
    rc = main(["segment", str(totalseg_dir / "example_ct.nii.gz"), "-o", str(out)])
    assert rc == 0
    for name in ("vertebrae.nii.gz", "vertebral_bodies.nii.gz", "vertebrae.json", "vertebrae.labels.json"):
        assert (out / name).exists(), name
    j = json.loads((out / "vertebrae.json").read_text())
    assert set(LEVELS) <= set(j["levels"]) and j["backend"] == "classic"
    lm = read_label_map(out / "vertebrae.nii.gz")
    assert lm.labels[anatomy.vertebra_id("L1")] == "vertebrae_L1"
    rc = main(["evaluate", str(out / "vertebrae.nii.gz"), str(totalseg_dir / "example_seg_fast_force_split.nii.gz"),
               "--ref-convention", "totalseg", "-o", str(tmp_path / "m.json")])
    assert rc == 0
    assert json.loads((tmp_path / "m.json").read_text())["levels"]["L3"]["identified"]


def test_segment_cli_bad_input(tmp_path):
    bad = tmp_path / "x.nii.gz"
    bad.write_text("not an image")
    assert main(["segment", str(bad), "-o", str(tmp_path / "o")]) == 2


@pytest.fixture(scope="module")
def dicom_case(totalseg_dir, tmp_path_factory):
    ct = read_ct(totalseg_dir / "example_ct_dicom")
    res = segment_vertebrae(ct)
    ref = read_label_map(totalseg_dir / "example_seg_dicom.nii.gz", labels={})
    return ct, res, evaluate_vertebrae(res.vertebrae, ref, ref_convention="totalseg")


def test_dicom_slab_t12_label(dicom_case):
    _, res, m = dicom_case
    assert m["levels"]["T12"]["identified"], m["levels"]["T12"]
    assert res.summary["labelling"]["anchor"] == "last_rib_at_fov_edge"
    assert res.summary["labelling"]["confidence"] <= 0.5


@pytest.mark.xfail(strict=True, reason=(
    "T12 Dice 0.772 (main 0.766 before the faint-vessel detector took the venous-phase aorta out of the bone "
    "mask and the spine zone's front followed the body's own bone run, so the anterior osteophyte and the "
    "flared caudal rim are vertebra; 0.764 at the start of the sixth session). 25.5k predicted vs 23.6k "
    "reference voxels, TP 18.9k; FP 6.5k, of which 2.9k are voxels the reference labels T11 inside our T12 "
    "body (patches of T12's body in 13 of its 16 slices, a neighbour mix-up of the --fast model; counted as "
    "T12 they give Dice 0.841, so even a perfect label cannot reach 0.85 against this reference without "
    "copying its error) and 2.5k lie within 2 mm of its blocky 3 mm-model border (our own label pushed "
    "through a 3 mm grid and back scores 0.88 against itself); FN 4.6k: 3.6k within 2 mm of the border, "
    "~0.6k of the left lateral wall in caudal slices 0-5 taken by a rib-side region seeded 29-33 mm left "
    "of the centre (by position a lower-end-plate demifacet's rib head), ~0.5k of T12's upper end plate "
    "labelled T11 at the tilted disc cut"))
def test_dicom_slab_t12_dice(dicom_case):
    _, _, m = dicom_case
    assert m["levels"]["T12"]["dice"] >= 0.85, m["levels"]["T12"]


def test_dicom_outputs_include_seg(dicom_case, tmp_path):
    ct, res, _ = dicom_case
    paths = write_vertebrae_outputs(res, ct, tmp_path)
    assert paths["seg"].exists()
    import pydicom

    ds = pydicom.dcmread(paths["seg"])
    assert ds.Modality == "SEG"


def _labels_at_bone_threshold(monkeypatch, ct, totalseg_dir, low_hu: float):
    from spinemets.segment.classic import masks

    monkeypatch.setattr(masks, "BONE_LOW_HU", low_hu)
    res = segment_vertebrae(ct)
    ref = read_label_map(totalseg_dir / "example_seg_fast_force_split.nii.gz", labels={})
    m = evaluate_vertebrae(res.vertebrae, ref, ref_convention="totalseg")
    return res.summary["labelling"], {lv: m["levels"][lv].get("identified") for lv in LEVELS}


@pytest.mark.parametrize("low_hu", [
    90.0, 100.0, 120.0,
    pytest.param(130.0, marks=pytest.mark.xfail(strict=True, reason=(
        "bone growth threshold 130 HU (default 110): osteoporotic marrow drops out of the bone mask; "
        "L1-L5 identified (L1 Dice 0.67), but the T11/T12 disc is not found (T12 merges with T11 at the "
        "top edge) and the sacrum and last-rib counts differ by one (four rib-free vertebrae): T12 not "
        "identified, confidence 0.5, flagged (measured the same before the narrowness-weighted discs)"))),
])
def test_real_ct_labelling_robust_to_bone_threshold(monkeypatch, real_ct, totalseg_dir, low_hu):
    """Labels must not hinge on the exact bone growth threshold (measured: correct from 85 to 125 HU,
    wrong at 130, since the narrowness-weighted disc chain; before: correct from 100 to 120 HU)."""
    lab, ident = _labels_at_bone_threshold(monkeypatch, real_ct, totalseg_dir, low_hu)
    assert all(ident.values()), (low_hu, ident, lab)
    assert lab["confidence"] >= 0.85, (low_hu, lab)


def test_partial_vertebra_at_the_bottom_edge_is_kept(real_ct, totalseg_dir):
    """The real CT cropped so that its lowest 4 slices (12 mm) hold the top of L4's body, below the
    L3/L4 disc: that sliver is kept as a partial L4 (it was dropped), and L3 keeps its own bone."""
    import SimpleITK as sitk

    from spinemets.image import CTImage, LabelMap

    z0 = 64
    ct = CTImage.from_sitk(real_ct.to_sitk()[:, :, z0:])
    ref_full = read_label_map(totalseg_dir / "example_seg_fast_force_split.nii.gz", labels={})
    ref = LabelMap(sitk.GetArrayFromImage(ref_full.to_sitk()[:, :, z0:]), ct.geometry, {})
    assert (ref.array[:4] == 28).sum() > 500  # TotalSegmentator id 28 = L4
    res = segment_vertebrae(ct)
    m = evaluate_vertebrae(res.vertebrae, ref, ref_convention="totalseg")
    assert m["levels"]["L4"]["in_prediction"] and m["levels"]["L4"]["identified"], m["levels"]["L4"]
    assert res.summary["levels"]["L4"]["status"] in ("touches_border", "uncertain_label")
    assert m["levels"]["L3"]["dice"] >= 0.85, m["levels"]["L3"]


# --- third real CT: arterial-phase chest crop around the aorta (1.5 mm, LPS), TotalSegmentator T12
# and aorta masks on the same grid; the crop cuts the posterior elements and ends inside T12.
AORTA_DIR = ("aorta_report", "test_result", "models")


@pytest.fixture(scope="module")
def aorta_case(totalseg_dir):
    d = totalseg_dir.joinpath(*AORTA_DIR)
    ct = read_ct(d / "ct_cropped.nii.gz")
    res = segment_vertebrae(ct)
    t12 = read_label_map(d / "vertebrae_T12.nii.gz", labels={}).array > 0
    aorta = read_label_map(d / "aorta.nii.gz", labels={}).array > 0
    return res, t12, aorta


def test_aorta_crop_contrast_blood_is_not_bone(aorta_case):
    """The contrast-filled aorta (300-500 HU) is neither labelled vertebra nor taken for a sacrum
    (before: 62 % of the aorta mask was labelled, the heart was 'sacrum')."""
    res, _, aorta = aorta_case
    v = res.vertebrae.array
    assert ((v > 0) & aorta).sum() < 0.05 * aorta.sum()
    assert anatomy.SACRUM_ID not in np.unique(v)
    assert "sacrum" not in res.summary["labelling"]["anchors_found"]


def test_aorta_crop_no_confident_mislabel(aorta_case):
    """The vertebra holding the reference T12 is either labelled T12, or its label is flagged
    uncertain_label under a low labelling confidence: never a confident wrong level."""
    res, t12, _ = aorta_case
    v = res.vertebrae.array
    ids, counts = np.unique(v[t12], return_counts=True)
    counts = counts[ids > 0]
    ids = ids[ids > 0]
    assert ids.size, "the reference T12 is not segmented at all"
    main = int(ids[np.argmax(counts)])
    if main != anatomy.vertebra_id("T12"):
        name = next(lv for lv, e in res.summary["levels"].items() if e["label"] == main)
        assert res.summary["levels"][name]["status"] == "uncertain_label", (name, res.summary["levels"][name])
        assert res.summary["labelling"]["confidence"] <= 0.5, res.summary["labelling"]


@pytest.mark.xfail(strict=True, reason=(
    "aorta crop T12 Dice 0.00: the discs are now found as narrow valleys between end plates (11 discs, "
    "17-28 mm apart, none inside T12; before: only the HU half of the profile dipped, one disc split T12), "
    "and the segment holding the reference T12 matches it with Dice 0.82 (was 0.67), but it is labelled "
    "L2: since ribs are judged at their contact (a rib may touch in front of the body centre beyond the "
    "transverse-process tips) ribs are found touching T10 (contact 44 mm lateral, 5-7 mm in front of the "
    "centre) and T12, none touching T11, so the last-rib anchor counts T10 as T12 and the reference T12 "
    "two levels down (before: five levels off); a rib-bearing segment counted as L2 flags every level "
    "uncertain_label at confidence 0.5"))
def test_aorta_crop_t12_dice(aorta_case):
    res, t12, _ = aorta_case
    m = res.vertebrae.array == anatomy.vertebra_id("T12")
    dice = 2.0 * (m & t12).sum() / (m.sum() + t12.sum())
    assert dice >= 0.85, dice


def test_pulmonary_crop_without_column_is_refused(totalseg_dir):
    """The pulmonary crop of the same CT holds the heart and only the front of the vertebral
    bodies: the tracked column lies within its own body radius of the in-plane edge along most of
    its length (the bodies are cut by the field of view), so no column is claimed (before: the heart
    was labelled T11 'ok')."""
    from spinemets.errors import InputError

    ct = read_ct(totalseg_dir / "pulmonary_report" / "models" / "ct_cropped.nii.gz")
    with pytest.raises(InputError, match="no vertebral column"):
        segment_vertebrae(ct)
