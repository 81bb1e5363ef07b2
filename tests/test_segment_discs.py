"""Disc selection along the centreline on synthetic coverage profiles (no image needed)."""

import numpy as np

from spinemets.segment.classic.discs import DiscProfile, select_discs


def _profile(disc_mm: list[float], depth: dict[int, float] | None = None, length_mm: float = 300.0) -> DiscProfile:
    s = np.arange(0.0, length_mm, 0.75)
    cov = np.ones_like(s)
    for k, d in enumerate(disc_mm):
        dep = (depth or {}).get(k, 0.9)
        cov -= dep * np.exp(-0.5 * ((s - d) / 2.0) ** 2)
    return DiscProfile(z=s / 1.5, s_mm=s, coverage=cov)


def test_regular_discs_are_all_found():
    true = [20.0 + 23.0 * k for k in range(12)]
    prof = _profile(true)
    found = prof.s_mm[select_discs(prof)]
    assert len(found) == len(true)
    assert np.max(np.abs(found - np.asarray(true))) <= 1.5


def test_missed_faint_disc_is_recovered_from_the_spacing_prior():
    """A disc whose dip is too faint to be a candidate (next to a lytic lesion) is re-inserted
    where the neighbours' spacing says a level is missing."""
    true = [20.0 + 23.0 * k for k in range(12)]
    prof = _profile(true, depth={6: 0.05})
    found = prof.s_mm[select_discs(prof)]
    assert len(found) == len(true), found
    assert abs(found[6] - true[6]) <= 4.0


def test_two_faint_discs_beside_a_lesion_dip_are_recounted():
    """Two faint discs with a lesion-induced dip between them: the chain settles on two segments of
    ~1.5 levels each; the neighbours' spacing says three levels are there, so the run is split in
    three at the coverage minima and the lesion dip is not kept as a disc."""
    true = [20.0 + 23.0 * k for k in range(12)]
    lesion = true[5] + 34.5
    prof = _profile(true + [lesion], depth={6: 0.03, 7: 0.03, 12: 0.6})
    found = prof.s_mm[select_discs(prof)]
    assert len(found) == len(true), found
    assert np.max(np.abs(found - np.asarray(true))) <= 4.0, found
