"""Level labelling from anchors (sacrum, last rib, first rib) and transitional anatomy."""

from spinemets.segment.labelling import SegmentFinding as F
from spinemets.segment.labelling import label_levels


def chain(n_lumbar: int, n_thoracic: int, sacrum: bool = True, cervical: int = 0) -> list[F]:
    out = [F(sacral=True)] if sacrum else []
    out += [F() for _ in range(n_lumbar)]
    out += [F(rib_left=True, rib_right=True) for _ in range(n_thoracic)]
    out += [F() for _ in range(cervical)]
    return out


def test_sacrum_and_last_rib_agree():
    lab = label_levels(chain(5, 3))
    assert lab.names == ["sacrum", "L5", "L4", "L3", "L2", "L1", "T12", "T11", "T10"]
    assert lab.anchor == "sacrum" and lab.confidence >= 0.9
    assert set(lab.anchors_found) == {"sacrum", "last_rib"} and lab.transitional is None


def test_six_lumbar_vertebrae_give_l6():
    lab = label_levels(chain(6, 2))
    assert lab.names[:8] == ["sacrum", "L6", "L5", "L4", "L3", "L2", "L1", "T12"]
    assert lab.transitional and "L6" in lab.transitional
    assert lab.confidence < 0.9


def test_four_lumbar_vertebrae_are_flagged_not_relabelled_silently():
    lab = label_levels(chain(4, 2))
    assert lab.names[1] == "L5"
    assert lab.transitional and "T13" in lab.transitional
    assert lab.names[5] == "L1" and 5 in lab.uncertain  # the rib-bearing "L1"


def test_last_rib_without_sacrum():
    lab = label_levels(chain(3, 4, sacrum=False))
    assert lab.names == ["L3", "L2", "L1", "T12", "T11", "T10", "T9"]
    assert lab.anchor == "last_rib"


def test_rib_free_segment_between_rib_bearing_ones_is_not_a_confident_l1():
    """A thoracic field of view whose lowest complete segment bears ribs and whose next segment up
    does not (a missed short rib, or half of a level split by a false disc): counting from that
    rib-free segment as L1 is not confirmed by anything, so it is flagged, never silent (phantom
    seed 21 with a T1-T12 field of view). Rib-like bone far below L1 (lumbar) does not trigger it."""
    rib = dict(rib_left=True, rib_right=True)
    findings = [F(partial=True, at_fov_edge=True), F(**rib), F()] + [F(**rib) for _ in range(8)]
    lab = label_levels(findings)
    assert lab.anchor == "last_rib" and lab.confidence <= 0.5
    assert set(range(len(findings))) <= lab.uncertain and lab.warnings
    far = [F(**rib), F(), F(), F()] + [F(**rib) for _ in range(6)]  # an "L4" with rib-like bone
    lab2 = label_levels(far)
    assert lab2.names[3] == "L1" and lab2.confidence == 0.85 and not lab2.uncertain


def test_first_rib_with_cervical_above():
    lab = label_levels(chain(0, 3, sacrum=False, cervical=2))
    assert lab.names[:3] == ["T3", "T2", "T1"]
    assert lab.names[3:] == [None, None] or lab.names[3:] == ["C7", "C6"]
    assert lab.anchor == "first_rib"


def test_full_thoracolumbar_chain_is_consistent():
    lab = label_levels(chain(5, 12, cervical=1))
    assert lab.names[1] == "L5" and lab.names[17] == "T1"
    assert lab.confidence >= 0.9


def test_rib_at_fov_edge_uses_lung_bases_with_low_confidence():
    segs = [F(rib_right=True, lung_fraction=0.01), F(rib_near=True, lung_fraction=0.0, partial=True)]
    lab = label_levels(segs)
    assert lab.names == ["T12", "T11"]
    assert lab.anchor == "last_rib_at_fov_edge" and lab.confidence <= 0.5
    # mid-thoracic (much lung): no guess from the lung bases
    lab = label_levels([F(rib_right=True, lung_fraction=0.4)])
    assert lab.anchor == "none" and 0 in lab.uncertain


def test_rib_at_fov_edge_looks_past_a_partial_sliver_below():
    """A sliver of the vertebra below (cut by the field of view, rib-free) does not hide the
    rib-bearing vertebra at the lung bases; the sliver is named one level lower and uncertain."""
    segs = [F(partial=True, lung_fraction=0.0), F(rib_left=True, lung_fraction=0.02), F(partial=True, lung_fraction=0.05)]
    lab = label_levels(segs)
    assert lab.anchor == "last_rib_at_fov_edge"
    assert lab.names == ["L1", "T12", "T11"] and {0, 1} <= lab.uncertain
    # a rib on the sliver itself: the sliver is the lowest rib-bearing level in view, no guess above it
    lab = label_levels([F(partial=True, rib_left=True, lung_fraction=0.0), F(rib_left=True, lung_fraction=0.02)])
    assert lab.anchor != "last_rib_at_fov_edge" or lab.names[0] == "T12"


def test_no_anchor_marks_everything_uncertain():
    lab = label_levels([F(), F(), F()])
    assert lab.anchor == "none" and lab.uncertain == {0, 1, 2} and lab.confidence < 0.2


def test_sacrum_like_segment_above_a_free_vertebra_is_not_a_sacrum():
    """A wide segment at the top of a chest crop (contrast-filled heart) must not become the
    sacrum anchor: the sacrum is the caudal end of the column."""
    findings = [F(rib_left=True, lung_fraction=0.03), F(rib_left=True, lung_fraction=0.04), F(lung_fraction=0.05),
                F(sacral=True, lung_fraction=0.05)]
    lab = label_levels(findings)
    assert "sacrum" not in lab.anchors_found and "sacrum" not in lab.names
    assert lab.confidence <= 0.3
    assert lab.uncertain == set(range(4))
    assert any("not a sacrum" in w for w in lab.warnings)


def test_misplaced_flag_alone_caps_confidence():
    findings = chain(5, 3) + [F(sacral_misplaced=True)]
    lab = label_levels(findings)
    assert lab.names[:7] == ["sacrum", "L5", "L4", "L3", "L2", "L1", "T12"]
    assert lab.confidence <= 0.3 and 1 in lab.uncertain


def test_iliac_bone_below_the_sacral_top_does_not_reject_the_sacrum():
    """Lower sacral pieces split off by remnant discs touch the ilium (rib-like, no lung)."""
    findings = [F(rib_left=True, lung_fraction=0.0), F(lung_fraction=0.0), F(sacral=True, lung_fraction=0.0)]
    findings += [F() for _ in range(5)] + [F(rib_left=True, rib_right=True)]
    lab = label_levels(findings)
    assert lab.anchor == "sacrum" and lab.names[3:9] == ["L5", "L4", "L3", "L2", "L1", "T12"]
    assert lab.confidence >= 0.9


def test_first_rib_below_a_cut_rib_free_segment_is_weak():
    """A T1 cut by the top of the field of view can lose its first rib: the rib-bearing T2 below
    it must not be counted as T1 with normal confidence."""
    segs = [F(rib_left=True, rib_right=True) for _ in range(4)] + [F(at_fov_edge=True)]
    lab = label_levels(segs)
    assert lab.anchor == "first_rib" and lab.confidence < 0.8
    assert set(range(5)) <= lab.uncertain
    full = label_levels([F(rib_left=True, rib_right=True) for _ in range(4)] + [F(), F(at_fov_edge=True)])
    assert full.names[3] == "T1" and full.confidence >= 0.8 and not full.uncertain


def test_wide_segment_counted_as_t1_is_the_first_rib_pair():
    """T1 with its first ribs forms a wide bone row (phantom seed 22: every vertebra was called
    sacrum): not a sacrum, and normal anatomy when the count from the sacrum reaches T1 there."""
    base = [F(sacral=True, lung_fraction=0.0)] + [F(lung_fraction=0.0) for _ in range(5)]
    base += [F(rib_left=True, rib_right=True, lung_fraction=lf) for lf in [0.0, 0.01] + [0.2] * 9]
    for top in (F(sacral=True, lung_fraction=0.01), F(sacral_misplaced=True, lung_fraction=0.01)):
        lab = label_levels(base + [top])
        assert lab.names[:7] == ["sacrum", "L5", "L4", "L3", "L2", "L1", "T12"] and lab.names[17] == "T1"
        assert lab.anchor == "sacrum" and lab.confidence >= 0.9 and not lab.uncertain
    # the same wide row where the count gives T2: not explained, confidence capped
    lab = label_levels(base[:-1] + [F(sacral_misplaced=True, lung_fraction=0.01)])
    assert lab.names[16] == "T2" and lab.confidence <= 0.3


def test_split_vertebrae_are_flagged():
    """Lumbar levels each split in two (no sacrum in view): the count from the last rib runs past L5
    and the 'lumbar' segments are shorter than T10-T12; every lumbar label is flagged."""
    h = [16, 17, 15, 18, 16, 17, 16, 18, 17, 16]
    segs = [F(height_mm=x) for x in h] + [F(rib_left=True, rib_right=True, height_mm=x) for x in (27, 26, 25)]
    lab = label_levels(segs)
    lumbar = [i for i, nm in enumerate(lab.names) if nm and nm.startswith("L")]
    assert lumbar and set(lumbar) <= lab.uncertain and lab.confidence <= 0.5


def test_merged_levels_flag_the_labels_counted_across_them():
    h = [46, 33, 34, 35, 33, 32, 28, 27, 25, 24, 46, 21, 20]
    segs = [F(sacral=True, height_mm=h[0])] + [F(height_mm=x) for x in h[1:6]]
    segs += [F(rib_left=True, rib_right=True, height_mm=x) for x in h[6:]]
    lab = label_levels(segs)
    assert lab.names[6] == "T12" and 6 not in lab.uncertain
    assert {10, 11, 12} <= lab.uncertain and lab.confidence <= 0.5


def test_first_rib_is_weak_when_rib_like_bone_lies_near_the_segment_above():
    """A complete rib-free segment above the highest rib-bearing one, with rib-like bone near it
    (not touching), may be a T1 whose first rib is not seen at its joint: the count from the first
    rib is kept but every level is uncertain and the confidence low (it was 0.8, silent)."""
    segs = [F(rib_left=True, rib_right=True) for _ in range(8)] + [F(rib_near=True), F(partial=True, at_fov_edge=True)]
    lab = label_levels(segs)
    assert lab.anchor == "first_rib" and lab.names[7] == "T1"
    assert lab.confidence <= 0.5 and set(range(10)) <= lab.uncertain
    # without rib-like bone near it, the rib-free segment above is C7: a confident first-rib count
    segs[8] = F()
    lab = label_levels(segs)
    assert lab.anchor == "first_rib" and lab.confidence >= 0.8 and not lab.uncertain


def test_every_level_counted_from_the_lung_base_guess_is_uncertain():
    """The lung-base rule assumes the lowest rib-bearing vertebra is T12; every label counted from
    that assumption is uncertain (a T10 at the lung bases was taken for T12 with T2-T9 unflagged)."""
    segs = [F(rib_right=True, lung_fraction=0.05)] + [F(rib_left=True, rib_right=True, lung_fraction=0.3)
                                                      for _ in range(5)]
    lab = label_levels(segs)
    assert lab.anchor == "last_rib_at_fov_edge"
    assert lab.uncertain == set(range(6)) and lab.confidence <= 0.5


def test_short_sliver_at_the_lower_fov_edge_is_no_rib_free_l1():
    """A segment cut by the lower edge of the field of view shows only its upper part; ribs 10-12
    articulate on the upper half of their own body, so a rib-free sliver shorter than half a level
    (phantom seed 8, T1-T10 field of view: a 6 mm T11 sliver under 19.5 mm levels) is no evidence
    of a rib-free L1: no confident last-rib count from it. Half a level or more in view is."""
    def segs(sliver_mm: float) -> list[F]:
        return ([F(at_fov_edge=True, height_mm=sliver_mm)]
                + [F(rib_left=True, rib_right=True, height_mm=19.5, lung_fraction=0.3) for _ in range(8)]
                + [F(at_fov_edge=True, height_mm=10.0)])
    lab = label_levels(segs(6.0))
    assert lab.anchor != "last_rib"
    assert lab.confidence < 0.8 or lab.names[1] != "T12"
    lab = label_levels(segs(12.0))
    assert lab.anchor == "last_rib" and lab.names[:2] == ["L1", "T12"]
