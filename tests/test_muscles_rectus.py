"""Rectus abdominis rules of the wall-sheet split (``muscles/wall_groups.py``) on small synthetic
planes: the piece beneath the rectus belly (chest wall on the costal cartilages, organ) is no
rectus; the rectus' lateral border (linea semilunaris) is a lasting thinning of the sheet, not a
one-bin neck, and lies as far from the linea alba on both sides; under the pectoralis' lowest fibres (T6-T7) the rectus continues medially from the
part the wall rays found."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from spinemets.muscles.wall_groups import (_beyond_linea_semilunaris, beneath_rectus, rectus_under_pectoralis,
                                          split_wall)


def _anterior_wall(n: int = 201, r_skin: float = 90.0):
    """A round trunk of radius ``r_skin`` px (1 mm pixels): x (left), y (posterior) in mm, the body
    mask, the skin depth (mm) and the normalised trunk angle (deg, 0 = anterior midline, with
    the anterior direction = -y)."""
    yy, xx = np.indices((n, n), dtype=float)
    x, y = xx - n // 2, yy - n // 2
    body = np.hypot(x, y) <= r_skin
    skin = ndi.distance_transform_edt(body)
    ang = np.degrees(np.arctan2(np.abs(x), -y))
    return x, y, body, skin, ang


def _band(skin, ang, d0, d1, a0, a1):
    return (skin >= d0) & (skin < d1) & (ang >= a0) & (ang < a1)


def test_piece_beneath_the_belly_is_no_rectus():
    x, y, body, skin, ang = _anterior_wall()
    left = x > 0
    belly = _band(skin, ang, 15, 23, 2, 26) & left  # 8 mm rectus, 15 mm of fat over it
    chest_wall = _band(skin, ang, 26, 31, 27, 32) & left  # lateral and deeper, a fat plane between
    bead = _band(skin, ang, 16, 19, 28, 31) & left  # a thin bead at the belly's depth (upper end)
    under = beneath_rectus(belly | chest_wall | bead, skin)
    assert (under & chest_wall).sum() == chest_wall.sum()
    assert not (under & (belly | bead)).any()
    # a lone piece, or the belly alone: nothing is beneath it
    assert not beneath_rectus(belly, skin).any()
    assert not beneath_rectus(chest_wall, skin).any()


def test_one_bin_neck_is_no_linea_semilunaris():
    x, y, body, skin, ang = _anterior_wall()
    left = x > 0
    rect = _band(skin, ang, 15, 23, 2, 28) & left
    # noise on a few rays: 2 px of the belly left over one 2-degree bin (18-20 deg)
    rect_neck = rect & ~(_band(skin, ang, 17, 23, 18, 20))
    assert not _beyond_linea_semilunaris(rect_neck, ang, 1.0).any()
    # the real border: the sheet thins laterally and stays thin (the obliques' aponeuroses)
    apo = _band(skin, ang, 15, 17, 28, 34) & left
    cut = _beyond_linea_semilunaris(rect | apo, ang, 1.0)
    assert (cut & apo).sum() == apo.sum()
    assert not (cut & rect).any()
    # a neck followed by a lasting thin stretch is the border at the neck
    thin_end = rect & ~_band(skin, ang, 17, 23, 20, 28)
    cut = _beyond_linea_semilunaris(thin_end, ang, 1.0)
    assert cut.any() and float(ang[cut].min()) >= 19.9


def test_rectus_under_the_pectoralis_continues_medially():
    x, y, body, skin, ang = _anterior_wall()
    left = x > 0
    strap = _band(skin, ang, 18, 21, 3, 28) & left  # the thin upper rectus on the cartilages
    found = strap & (ang >= 20)  # the lateral part the rays reached
    pect = _band(skin, ang, 14, 16, 5, 40) & left  # the pectoralis' lowest fibres over it
    heart = _band(skin, ang, 24, 40, 0, 20) & left  # tissue under the cartilages
    bridge = _band(skin, ang, 16, 18, 10, 11) & left  # muscle joining the pectoralis to the strap
    rim = _band(skin, ang, 21, 24, 2, 4) & left  # joined to the strap, deeper than the belly
    muscle = strap | pect | heart | bridge | rim
    out = {"rectus_abdominis_left": found.copy(), "pectoralis_major_left": pect.copy()}
    rectus_under_pectoralis(out, muscle, x, y, body, "T7", 1.0)
    got = out["rectus_abdominis_left"]
    assert (got & strap).sum() == strap.sum()
    assert not (got & (pect | heart | rim)).any()
    assert (got & bridge).sum() == bridge.sum()  # joined without a fat plane and at the rectus' depth
    assert out["pectoralis_major_left"].sum() == pect.sum()
    # below the pectoral region (no pectoralis) the rays see the whole rectus: nothing grows
    out = {"rectus_abdominis_left": found.copy()}
    rectus_under_pectoralis(out, muscle, x, y, body, "L3", 1.0)
    assert (out["rectus_abdominis_left"] == found).all()


def test_linea_semilunaris_is_as_lateral_on_both_sides():
    """The recti are mirror images about the linea alba: where one side's rectus thins well medial
    of the other side's border (an organ on its deep part without a fat plane, the rays stopping
    short of it), its border is the other side's."""
    x, y, body, skin, ang = _anterior_wall()
    rect = _band(skin, ang, 15, 27, 2, 28)  # a 12 mm rectus on both sides
    apo = _band(skin, ang, 15, 18, 28, 34)  # the aponeuroses lateral to it
    shallow = _band(skin, ang, 15, 19, 20, 28) & (x > 0)  # the left's lateral part seen 4 mm deep
    runs = ((rect & ~((x > 0) & (ang >= 20))) | shallow | apo).astype(np.int8)
    depth = np.clip(skin - 15.0, 0.0, None)
    out = split_wall(runs, depth, x, y, body, "L3")
    left, right = out["rectus_abdominis_left"], out["rectus_abdominis_right"]
    # kept out to the right side's border (the last 2-degree bin of the band is thinned by the
    # inscribed-disc thickness where the band ends)
    reach = float(ang[right].max())
    assert 25.0 < reach < 28.0
    assert (left & shallow & (ang <= reach)).sum() == (shallow & (ang <= reach)).sum()
    assert abs(float(ang[left].max()) - reach) < 1.0
    assert not (left & (ang >= 20) & (skin >= 19)).any()  # the missing deep part is not invented
    # on its own the left side's thinning is taken for its border
    alone = _beyond_linea_semilunaris(runs.astype(bool) & (x > 0) & (ang < 34), ang, 1.0)
    assert (alone & shallow).any()
