"""Voxel finite-element model of a vertebral body in axial compression.

Method (linear elastic, small strain):

* Mesh: every voxel of the body on the local isotropic grid (``VertebraVolume``, element edge
  ``h`` = grid step, normally 1-1.5 mm) is one 8-node trilinear hexahedron. Element stiffness is
  one unit-modulus hex matrix ``K1`` (2x2x2 Gauss, nu = 0.3) scaled by ``E_e * h``. With caps
  (whole nodes fixed) only the free nodes' 3x3-block BSR matrix is assembled, vectorised per pair
  of local nodes (``_assemble_free_nodes``; the prescribed displacements go to the right-hand
  side, the reaction force is summed from element forces); without caps one COO -> CSR step.
* Material: ``E_e`` from the element's BMD with the Morgan 2003 vertebral law
  (``materials.modulus_mpa``); lytic lesion voxels soft (<= 5 MPa), blastic voxels stiff through
  their density.
* Boundary conditions (default ``caps=True``, as in cadaver tests and the Bonelab spineFE
  benchmark): each end plate is embedded in PMMA (E = 2500 MPa) that fills the end-plate
  concavity up to a flat plane ``cap_mm`` beyond the most prominent end-plate point. Bottom plane
  fixed (all components); top plane displaced by ``-delta`` along the axis, in-plane motion
  fixed. Without caps (``caps=False``) the end-plate nodes (top and bottom node of every column)
  rest on frictionless platens: axial displacement prescribed, in-plane motion free except the
  three rigid-body modes.
* Solver: scipy conjugate gradients (relative residual ``CG_RTOL`` = 1e-4) preconditioned by
  pyamg smoothed aggregation with the six rigid-body modes as near-null space; matrices and the
  hierarchy are released before the strain evaluation.
* Outputs: reaction force at the top plane, apparent stiffness ``K = F/delta`` (N/mm) and the
  strength from a strain-based criterion at the apparent level: the body fails when its apparent
  (specimen) strain reaches the compressive yield strain of vertebral trabecular bone, 0.77 %
  (Morgan & Keaveny 2001, an apparent-level yield strain measured on trabecular cores):
  ``F = K * eps_y * H`` with ``H`` the mean height of the body (volume / footprint area; the
  stiff caps' own deformation is neglected). The FE supplies the
  heterogeneous stiffness (density distribution, geometry, lytic/blastic tissue).
* Also reported (``strength_local_criterion_N``): a local criterion after Pistoia et al. 2002
  (Bone 30:842): failure when ``critical_fraction`` (5 %) of the bone volume exceeds
  ``eps_eff = sqrt(2U/E)`` = 0.77 % (U strain-energy density; PMMA and lytic elements are not
  bone). Linear FE scales all strains with the load, so ``F = F_applied * eps_y / q``, ``q`` the
  95 % quantile of eps_eff over bone. It is not the headline value: in linear FE it responds to
  stress concentrations at stiff inclusions (a central blastic core lowers it although it raises
  stiffness and, in experiments, strength), and with 2 % (Pistoia's micro-FE value) it moved by
  up to 8 % between 1.5 and 1 mm elements.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
import scipy.sparse as sp
from scipy import ndimage
from scipy.sparse.linalg import cg

from . import materials
from .volume import VertebraVolume

#: sigma (mm) of the Gaussian averaging of the effective strain before the failure criterion
NONLOCAL_SIGMA_MM = 0.0
#: CG relative residual. The strength is a linear functional of the solution (reaction force):
#: on an L3 phantom body at 1.5 and 1 mm, 1e-4 instead of 1e-6 moved the strength by < 1e-5 and
#: the local-criterion value by < 2e-4 (relative), far below the 1.4 % mesh effect, with 6-7
#: instead of 10-12 iterations.
CG_RTOL = 1e-4
#: volume fraction of bone above the yield strain at failure
CRITICAL_FRACTION = 0.05

# local node offsets (dx, dy, dz) of the 8 hexahedron nodes; x = l (axis 2), y = a (axis 1),
# z = s (axis 0)
_NODE_OFFSETS = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0],
                          [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]], dtype=np.int64)


def elasticity_matrix(nu: float = materials.POISSON) -> np.ndarray:
    """Isotropic 6x6 elasticity matrix for E = 1 (Voigt: xx, yy, zz, xy, yz, xz; engineering shear)."""
    c = np.zeros((6, 6))
    f = 1.0 / ((1 + nu) * (1 - 2 * nu))
    c[:3, :3] = nu * f
    np.fill_diagonal(c[:3, :3], (1 - nu) * f)
    c[3:, 3:] = np.eye(3) * 0.5 * (1 - 2 * nu) * f
    return c


def _b_matrix(xi: float, eta: float, zeta: float) -> np.ndarray:
    """Strain-displacement matrix (6x24) of a unit cube at natural coordinates in [-1, 1]."""
    nat = 2 * _NODE_OFFSETS - 1  # (8, 3) in {-1, 1}
    p = np.array([xi, eta, zeta])
    dn = np.empty((8, 3))
    for a in range(3):
        o = [(1 + nat[:, b] * p[b]) for b in range(3)]
        o[a] = nat[:, a]
        dn[:, a] = 0.125 * o[0] * o[1] * o[2] * 2.0  # d/dx = d/dxi * 2 for a unit cube
    b = np.zeros((6, 24))
    for n in range(8):
        dx, dy, dz = dn[n]
        b[0, 3 * n] = dx
        b[1, 3 * n + 1] = dy
        b[2, 3 * n + 2] = dz
        b[3, 3 * n], b[3, 3 * n + 1] = dy, dx
        b[4, 3 * n + 1], b[4, 3 * n + 2] = dz, dy
        b[5, 3 * n], b[5, 3 * n + 2] = dz, dx
    return b


@lru_cache(maxsize=4)
def unit_hex_stiffness(nu: float = materials.POISSON) -> np.ndarray:
    """24x24 stiffness of a unit cube with E = 1 (scale by E*h for an edge h)."""
    c = elasticity_matrix(nu)
    g = 1.0 / np.sqrt(3.0)
    k = np.zeros((24, 24))
    for xi in (-g, g):
        for eta in (-g, g):
            for zeta in (-g, g):
                b = _b_matrix(xi, eta, zeta)
                k += b.T @ c @ b * 0.125  # detJ = 1/8, weights 1
    return k


@dataclass
class FEResult:
    """Voxel-FE result. Forces in N, stiffness in N/mm, lengths in mm."""

    strength_N: float | None
    strength_local_criterion_N: float | None
    stiffness_N_per_mm: float | None
    element_mm: float
    n_elements: int
    n_bone_elements: int
    n_dofs: int
    caps: bool
    applied_displacement_mm: float
    reaction_force_N: float | None
    effective_strain_quantile: float | None
    critical_fraction: float
    yield_strain: float
    specimen_height_mm: float
    solver_iterations: int
    solver_relative_residual: float | None
    time_s: float
    criterion: str
    material_law: str = materials.LAW_TEXT
    status: str = "ok"
    reason: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _add_caps(mask: np.ndarray, cap_layers: int) -> tuple[np.ndarray, np.ndarray]:
    """Embed both end plates in PMMA: returns (solid mask, cap mask) on a grid padded along axis 0."""
    s_idx = np.nonzero(mask.any(axis=(1, 2)))[0]
    mask = mask[s_idx[0]: s_idx[-1] + 1]
    ns = mask.shape[0]
    pad = cap_layers
    solid = np.zeros((ns + 2 * pad,) + mask.shape[1:], dtype=bool)
    solid[pad: pad + ns] = mask
    foot = mask.any(axis=0)
    cols = np.nonzero(foot)
    col_mask = mask[:, cols[0], cols[1]]  # (ns, ncols)
    first = np.argmax(col_mask, axis=0)
    last = ns - 1 - np.argmax(col_mask[::-1], axis=0)
    s = np.arange(ns + 2 * pad)[:, None]
    below = s < (first + pad)[None, :]
    above = s > (last + pad)[None, :]
    cap = np.zeros_like(solid)
    cap[:, cols[0], cols[1]] = below | above
    solid |= cap
    return solid, cap


def _rigid_body_modes(coords: np.ndarray) -> np.ndarray:
    """Six rigid-body modes (n_dofs x 6) for nodes at ``coords`` (n, 3: x, y, z)."""
    n = coords.shape[0]
    c = coords - coords.mean(axis=0)
    b = np.zeros((3 * n, 6))
    for d in range(3):
        b[d::3, d] = 1.0
    x, y, z = c[:, 0], c[:, 1], c[:, 2]
    b[0::3, 3], b[1::3, 3] = -y, x        # rotation about z
    b[1::3, 4], b[2::3, 4] = -z, y        # rotation about x
    b[0::3, 5], b[2::3, 5] = z, -x        # rotation about y
    return b


def _assemble_free_nodes(conn: np.ndarray, ke_scale: np.ndarray, k1: np.ndarray,
                         node_fixed: np.ndarray, u_nodes: np.ndarray
                         ) -> tuple[sp.bsr_matrix, np.ndarray, np.ndarray]:
    """Stiffness of the free nodes as a 3x3-block BSR matrix, and the load of the prescribed
    displacements ``u_nodes`` (n, 3) of the fixed nodes on them (``-K_fc u_c``).

    Assembled block by block: for a fixed pair (a, b) of local nodes no two elements share the
    global pair (node_a, node_b), so every (a, b) adds into distinct blocks without scatter-add;
    the global matrix with fixed rows and columns is never built. Returns (A_ff, rhs, free dof mask).
    """
    nn = node_fixed.size
    n_free = int((~node_fixed).sum())
    fid = np.full(nn, -1, dtype=np.int64)
    fid[~node_fixed] = np.arange(n_free)
    fc = fid[conn]  # (ne, 8) free-node index or -1
    # a block (row node, column node) is identified by the row node and the column node's grid
    # offset (27 neighbours, coded in (s, a, l) order so codes ascend with column node ids)
    off = _NODE_OFFSETS[:, ::-1]  # (s, a, l) offsets of the 8 local nodes
    code = ((off[None, :, :] - off[:, None, :] + 1) * np.array([9, 3, 1])).sum(axis=2)  # (8, 8)
    slot_used = np.zeros(n_free * 27, dtype=bool)
    col_of = np.zeros(n_free * 27, dtype=np.int32)
    for a in range(8):
        for b in range(8):
            m = (fc[:, a] >= 0) & (fc[:, b] >= 0)
            slot = fc[m, a] * 27 + code[a, b]
            slot_used[slot] = True
            col_of[slot] = fc[m, b]
    pos_of = np.cumsum(slot_used, dtype=np.int64) - 1
    data = np.zeros((int(pos_of[-1]) + 1, 3, 3))
    rhs = np.zeros((n_free, 3))
    kb = k1.reshape(8, 3, 8, 3).transpose(0, 2, 1, 3)  # [a, b] -> 3x3 block
    for a in range(8):
        for b in range(8):
            m = (fc[:, a] >= 0) & (fc[:, b] >= 0)
            if m.any():  # no two elements share (node_a, node_b) for one (a, b): no scatter-add
                data[pos_of[fc[m, a] * 27 + code[a, b]]] += ke_scale[m, None, None] * kb[a, b][None]
            # free row, prescribed column: move K_fc u_c to the right-hand side
            mc = (fc[:, a] >= 0) & (fc[:, b] < 0)
            if mc.any():
                uc = u_nodes[conn[mc, b]]  # (m, 3)
                if np.any(uc):
                    np.add.at(rhs, fc[mc, a], -(ke_scale[mc, None] * (uc @ kb[a, b].T)))
    indptr = np.zeros(n_free + 1, dtype=np.int32)
    indptr[1:] = np.cumsum(slot_used.reshape(n_free, 27).sum(axis=1))
    indices = col_of[slot_used]
    a_ff = sp.bsr_matrix((data, indices, indptr), shape=(3 * n_free, 3 * n_free))
    free = np.repeat(~node_fixed, 3)
    return a_ff, rhs.ravel(), free


def fe_strength(volume: VertebraVolume, caps: bool = True, cap_mm: float = 3.0,
                critical_fraction: float = CRITICAL_FRACTION, yield_strain: float = materials.YIELD_STRAIN,
                rtol: float = CG_RTOL, maxiter: int = 1000,
                nonlocal_radius_mm: float = NONLOCAL_SIGMA_MM) -> FEResult:
    """Linear voxel FE of axial compression; see the module docstring for the method."""
    import pyamg

    t0 = time.perf_counter()
    h = float(volume.spacing_mm)
    criterion = (f"apparent yield strain {100 * yield_strain:g} % of the FE-computed apparent stiffness "
                 f"(strength_N); local: {100 * critical_fraction:g} % of bone volume above effective "
                 f"strain {100 * yield_strain:g} % (strength_local_criterion_N)")
    mask = volume.body_mask
    if mask.sum() < 8:
        return FEResult(None, None, None, h, 0, 0, 0, caps, 0.0, None, None, critical_fraction,
                        yield_strain, 0.0, 0, None, 0.0, criterion, status="failed",
                        reason="body too small for a mesh")
    s_idx = np.nonzero(mask.any(axis=(1, 2)))[0]
    sl = slice(s_idx[0], s_idx[-1] + 1)
    e_field = materials.modulus_mpa(volume.bmd_mg_cm3[sl],
                                    None if volume.lesion_class is None else volume.lesion_class[sl])
    body = mask[sl]
    if caps:
        layers = max(1, int(round(cap_mm / h)))
        solid, cap = _add_caps(body, layers)
        e_full = np.zeros(solid.shape)
        e_full[layers: layers + body.shape[0]] = e_field
        e_full[cap] = materials.PMMA_E_MPA
    else:
        solid, cap = body, np.zeros_like(body)
        e_full = e_field
    ns, na, nl = solid.shape
    elem = np.argwhere(solid)  # (ne, 3) as (s, a, l)
    ne = elem.shape[0]
    e_elem = e_full[solid]
    is_bone = ~cap[solid]
    if volume.lesion_class is not None:  # lytic tissue is not bone: it cannot fail as bone
        les_full = np.zeros(solid.shape, np.uint8)
        off_s = layers if caps else 0
        les_full[off_s: off_s + body.shape[0]] = volume.lesion_class[sl]
        is_bone &= les_full[solid] != 1
    # node ids on the (ns+1, na+1, nl+1) grid; local node order uses (dx=l, dy=a, dz=s)
    off = _NODE_OFFSETS
    gs = elem[:, 0:1] + off[None, :, 2]
    ga = elem[:, 1:2] + off[None, :, 1]
    gl = elem[:, 2:3] + off[None, :, 0]
    gid = (gs * (na + 1) + ga) * (nl + 1) + gl  # (ne, 8)
    occupied = np.zeros((ns + 1) * (na + 1) * (nl + 1), dtype=bool)  # sorted unique without a sort
    occupied[gid.ravel()] = True
    used = np.flatnonzero(occupied)
    node_of = np.cumsum(occupied) - 1
    del occupied
    conn = node_of[gid]
    del node_of, gid
    nn = used.size
    ndof = 3 * nn
    dofs = (3 * conn[:, :, None] + np.arange(3)[None, None, :]).reshape(ne, 24).astype(np.int32)
    k1 = unit_hex_stiffness()
    node_s = used // ((na + 1) * (nl + 1))
    rem = used % ((na + 1) * (nl + 1))
    node_a, node_l = rem // (nl + 1), rem % (nl + 1)
    coords = np.stack([node_l, node_a, node_s], axis=1).astype(float) * h
    height = float(ns * h)
    delta = 0.01 * height  # 1 % apparent strain; linear, so the value only sets the scale
    u = np.zeros(ndof)
    ke_scale = e_elem * h  # element stiffness = ke_scale * k1 (N/mm)
    if caps:  # bonded to both platens (PMMA embedding): whole nodes fixed
        bottom = np.nonzero(node_s == 0)[0]
        top = np.nonzero(node_s == ns)[0]
        node_fixed = np.zeros(nn, dtype=bool)
        node_fixed[bottom] = True
        node_fixed[top] = True
        u[3 * top + 2] = -delta
        a_ff, rhs, free = _assemble_free_nodes(conn, ke_scale, k1, node_fixed, u.reshape(-1, 3))
        b_modes = _rigid_body_modes(coords)[free]
    else:
        # frictionless platens on the top/bottom node of every column of the body: axial only,
        # plus the three in-plane rigid-body motions
        col = node_a * (nl + 1) + node_l
        order = np.lexsort((node_s, col))
        cs = col[order]
        bottom = order[np.r_[True, cs[1:] != cs[:-1]]]
        top = order[np.r_[cs[1:] != cs[:-1], True]]
        fixed = np.zeros(ndof, dtype=bool)
        fixed[3 * bottom + 2] = True
        xy = coords[bottom, :2]
        c0 = bottom[np.argmin(np.linalg.norm(xy - xy.mean(axis=0), axis=1))]
        c1 = bottom[np.argmax(coords[bottom, 0])]
        fixed[[3 * c0, 3 * c0 + 1, 3 * c1 + 1]] = True
        fixed[3 * top + 2] = True
        u[3 * top + 2] = -delta
        free = ~fixed
        rows = np.repeat(dofs, 24, axis=1).ravel()
        cols = np.tile(dofs, (1, 24)).ravel()
        vals = (ke_scale[:, None] * k1.ravel()[None, :]).ravel()
        kmat = sp.coo_matrix((vals, (rows, cols)), shape=(ndof, ndof)).tocsr()
        del rows, cols, vals
        a_ff = kmat[free][:, free].tocsr()
        rhs = -(kmat[free][:, fixed] @ u[fixed])
        del kmat
        b_modes = _rigid_body_modes(coords)[free]
    ml = pyamg.smoothed_aggregation_solver(
        a_ff, B=b_modes, symmetry="symmetric", strength=("symmetric", {"theta": 0.0}),
        smooth=("jacobi", {"omega": 4.0 / 3.0, "weighting": "local"}),
        improve_candidates=None, coarse_solver="splu", max_coarse=300)
    iters = [0]

    def _count(_xk: np.ndarray) -> None:
        iters[0] += 1

    uf, info = cg(a_ff, rhs, rtol=rtol, maxiter=maxiter, M=ml.aspreconditioner(cycle="V"),
                  callback=_count)
    u[free] = uf
    res = float(np.linalg.norm(a_ff @ uf - rhs) / max(np.linalg.norm(rhs), 1e-30))
    del ml, a_ff, b_modes
    # reaction at the top plane from the element forces (no global matrix kept)
    ue = u[dofs]  # (ne, 24)
    fe_el = (ue @ k1) * ke_scale[:, None]  # k1 symmetric: rows of K_e u_e
    reaction = np.bincount(dofs.ravel(), weights=fe_el.ravel(), minlength=ndof)
    force = float(-reaction[3 * top + 2].sum())  # compressive force, N (MPa * mm^2)
    del fe_el, reaction
    # element strains at the centroid (B0 of a unit cube scaled by 1/h)
    b0 = _b_matrix(0.0, 0.0, 0.0) / h
    eps = ue @ b0.T  # (ne, 6)
    c1 = elasticity_matrix()
    eps_eff = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", eps, c1, eps), 0.0))
    bone_eps = eps_eff[is_bone]
    if nonlocal_radius_mm > 0:  # optional Gaussian averaging of the strain over the bone
        field = np.zeros(solid.shape)
        bone_grid = np.zeros(solid.shape)
        field[tuple(elem.T)] = np.where(is_bone, eps_eff, 0.0)
        bone_grid[tuple(elem.T)] = is_bone
        sig = nonlocal_radius_mm / h
        num = ndimage.gaussian_filter(field, sig, mode="constant")
        den = ndimage.gaussian_filter(bone_grid, sig, mode="constant")
        bone_eps = (num / np.maximum(den, 1e-12))[tuple(elem[is_bone].T)]
    q = float(np.quantile(bone_eps, 1.0 - critical_fraction))
    status, reason = "ok", None
    if info != 0:
        status, reason = "warning", f"CG did not reach rtol={rtol} (info={info}, residual {res:.1e})"
    local = force * yield_strain / q if q > 0 and force > 0 else None
    # apparent criterion: the body yields when its apparent strain reaches eps_y
    # mean column height of the body (volume / footprint), the gauge length of its apparent strain
    body_height = float(body.sum() / max(body.any(axis=0).sum(), 1) * h)
    strength = force * yield_strain * body_height / delta if force > 0 else None
    result = FEResult(
        strength_N=strength, strength_local_criterion_N=local, stiffness_N_per_mm=force / delta if force > 0 else None,
        element_mm=h, n_elements=int(ne), n_bone_elements=int(is_bone.sum()), n_dofs=int(ndof),
        caps=caps, applied_displacement_mm=delta, reaction_force_N=force,
        effective_strain_quantile=q, critical_fraction=critical_fraction, yield_strain=yield_strain,
        specimen_height_mm=height, solver_iterations=int(iters[0]), solver_relative_residual=res,
        time_s=time.perf_counter() - t0, criterion=criterion, status=status, reason=reason)
    #: element data for inspection (not serialised): indices [s, a, l], bone flag, raw eps_eff
    result.elements = (elem, is_bone, eps_eff, solid.shape)  # type: ignore[attr-defined]
    return result
