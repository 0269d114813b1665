"""Ground reaction forces, centre of pressure and free moment from whole-body dynamics.

Dynamic consistency by construction. The whole-body CoM acceleration is the sum of the designed foot
forces: a_c = (F_l + F_r) / M + g. Each stance's force (per axis of the surface frame: along the slope
t, lateral y, normal n) is a linear combination of stance-local basis functions that vanish outside the
stance: the real trials' mean stance GRF shape (patterns.json, per mode and speed) plus sine modes
sin(m pi tau), tau = normalised stance time. With no stance, the force is exactly zero (flight is
ballistic). The basis weights and the CoM's initial position/velocity solve a linear least-squares
problem per axis (`design_com`; normal axis first, then along-slope and lateral):

  * stance-foot "slip": the velocity of the contact point (the lowest sole point, heel -> ball) of
    every loaded foot should be zero; it depends linearly on the CoM velocity because the pelvis is
    placed at pelvis = CoM - CoM_relative(joint angles) (chain.py);
  * along the normal: the contact point should touch the ground plane (n = 0);
  * along the slope: mean CoM speed = belt speed; laterally: zero mean drift;
  * along the slope / laterally: whole-body moment balance about the CoM (sagittal / frontal) with the
    CoP on its nominal path (`cop_path_local`) plus a per-stance CoP shift (offset + progression,
    also unknowns): (p - c) x F = dH/dt. (p - c) and dH/dt do not depend on the translation, so these
    rows are linear too;
  * regularisation towards the real-trial shape (weight 1 for the shape, 0 for the extra modes).
The problem is solved in windows of stances (earlier weights fixed) so the cost grows linearly with the
trial length. The CoM trajectory is the exact double integral (trapezoid rule) of the designed
acceleration, so the GRF equals the whole-body momentum change to rounding error.

CoP and free moment (`solve_cop`): the remaining moment imbalance is removed by the weighted minimum-
norm in-plane CoP shifts of the loaded feet and the free moment about the surface normal; a CoP that
leaves the foot outline (+ `COP_MARGIN_M`) is clamped and that foot frozen (active set, 4 iterations),
and what no contact can supply is reported as the residual (e.g. in flight). sim/trial.py then lets
the lumped upper body counter-rotate to absorb that residual and repeats (trunk passes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..body import GRAVITY_M_S2, SIDES, LowerBodyModel
from ..dynamics import _cross
from ..motion import FootContact
from .chain import ChainState, PointMotion, angular_momentum_rate_about, total_mass_kg

COP_MARGIN_M = 0.02
N_EXTRA_MODES = 3


@dataclass(frozen=True)
class Stance:
    """One foot contact: side, touch-down/lift-off times (s), mode, stance GRF shape (3, P) / BW in
    (AP, medial, vertical)."""

    side: str
    t_on_s: float
    t_off_s: float
    mode: str
    shape: np.ndarray


def surface_frame(slope_rad: float) -> np.ndarray:
    """(3,3) columns = slope direction t, lateral y, surface normal n in ground."""
    c, s = np.cos(slope_rad), np.sin(slope_rad)
    return np.array([[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]])


def lowest_contact_point_local(
    model: LowerBodyModel,
    rotation: np.ndarray,
    ankle_p: np.ndarray,
    normal: np.ndarray,
    temp_m: float = 0.005,
) -> np.ndarray:
    """Contact point in the foot frame (N,3) = the lowest point of the sole (along `normal`) among
    points from the heel to 80 % of the foot length (the ball; the rigid foot has no toe joint), blended
    with a soft minimum (temperature `temp_m`) so it moves smoothly: heel at touch-down, foot flat,
    forefoot at push-off, whatever the strike pattern of the kinematics."""
    heel = np.asarray(model.heel_m)
    toe = np.asarray(model.toe_m)
    fr = np.linspace(0.0, 0.8, 9)
    pts = heel[None] + fr[:, None] * (toe - heel)[None]  # (K,3) local
    z = np.einsum("nij,kj->nki", rotation, pts) @ normal + (ankle_p @ normal)[:, None]  # (N,K)
    w = np.exp(-(z - z.min(axis=1, keepdims=True)) / temp_m)
    w /= w.sum(axis=1, keepdims=True)
    return w @ pts


COP_START_FRACTION = {"walk": 0.05, "run": 0.30}


def cop_path_local(model: LowerBodyModel, tau: np.ndarray, start: np.ndarray | float = 0.05) -> np.ndarray:
    """Nominal CoP in the foot frame (N,3): from `start` (fraction of the foot length from the heel) to
    90 % over the stance, on the sole. Walking starts at the heel (5 %; Winter 2009 ch. 5); running at
    30 % (the heel carries load only briefly even in rear-foot strikers): measured against starting at
    the heel, running whole-body moment residual max 5.4 -> 4.5 % BW x height at 3 m/s and peak
    dorsiflexor / knee extensor moments closer to the real trials
    (benchmarks/results/gait_sim_moments.png)."""
    heel = np.asarray(model.heel_m)
    toe = np.asarray(model.toe_m)
    frac = start + (0.90 - start) * np.clip(tau, 0.0, 1.0)
    return heel[None] + frac[:, None] * (toe - heel)[None]


def _cumtrapz(y: np.ndarray, dt: float) -> np.ndarray:
    out = np.zeros_like(y)
    out[1:] = np.cumsum(0.5 * (y[1:] + y[:-1]), axis=0) * dt
    return out


def stance_tau(t: np.ndarray, st: Stance) -> tuple[np.ndarray, np.ndarray]:
    """Mask of samples inside the stance and their normalised stance time."""
    m = (t >= st.t_on_s) & (t <= st.t_off_s)
    return m, (t - st.t_on_s) / (st.t_off_s - st.t_on_s)


@dataclass
class ComDesign:
    """Designed CoM motion and foot forces (ground frame)."""

    com: PointMotion
    force_n: dict[str, np.ndarray]  # per side (N, 3)
    loaded: dict[str, np.ndarray]  # per side (N,) bool
    tau: dict[str, np.ndarray]  # per side (N,) normalised stance time (NaN in swing)
    weights: dict[str, np.ndarray]  # per axis ('t','y','n'): basis weights (n_stance, 1 + extra)
    slip_rms_m_s: float
    cop_shift_m: dict[str, np.ndarray]  # per side (N, 3): designed shift of the nominal CoP (ground)
    cop_start: dict[str, np.ndarray]  # per side (N,): start fraction of the nominal CoP path


def _stance_integrals(
    t: np.ndarray, basis: np.ndarray, masks: list[np.ndarray], nb: int, dt: float
) -> tuple[np.ndarray, np.ndarray]:
    """First and second running integrals (trapezoid rule from t[0]) of stance-local basis columns,
    identical to a cumulative trapezoid over the whole array but integrating only inside each stance
    (constant / linear continuation after it): measured ~3x faster than np.cumsum on the dense matrix."""
    n = t.shape[0]
    b1 = np.zeros_like(basis)
    b2 = np.zeros_like(basis)
    for k, m in enumerate(masks):
        idx = np.flatnonzero(m)
        if idx.size == 0:
            continue
        i0, i1 = max(idx[0] - 1, 0), min(idx[-1] + 1, n - 1)
        cols = slice(k * nb, (k + 1) * nb)
        c1 = _cumtrapz(basis[i0 : i1 + 1, cols], dt)
        c2 = _cumtrapz(c1, dt)
        b1[i0 : i1 + 1, cols] = c1
        b2[i0 : i1 + 1, cols] = c2
        if i1 + 1 < n:
            b1[i1 + 1 :, cols] = c1[-1]
            b2[i1 + 1 :, cols] = c2[-1] + np.outer(t[i1 + 1 :] - t[i1], c1[-1])
    return b1, b2


def _solve_normal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Least squares via the normal equations (the regularisation rows make A^T A well conditioned);
    measured ~50x faster than np.linalg.lstsq (SVD) for these tall dense systems."""
    ata = a.T @ a
    return np.linalg.solve(ata + 1e-12 * np.trace(ata) / ata.shape[0] * np.eye(ata.shape[0]), a.T @ b)


def _stance_basis(
    t: np.ndarray,
    stances: list[Stance],
    masks: list[np.ndarray],
    taus: list[np.ndarray],
    row: int,
    n_extra: int,
) -> np.ndarray:
    """(N, n_stance * (1 + n_extra)) basis of one surface axis: real stance shape + sine modes."""
    nb = 1 + n_extra
    basis = np.zeros((t.shape[0], len(stances) * nb))
    for k, (st, m, tt) in enumerate(zip(stances, masks, taus, strict=True)):
        shape = st.shape[row]
        if row == 1 and st.side == "l":
            shape = -shape  # medial force of the left foot points to -y
        grid = np.linspace(0.0, 1.0, shape.shape[0])
        basis[m, k * nb] = np.interp(tt[m], grid, shape)
        for j in range(1, nb):
            basis[m, k * nb + j] = np.sin(j * np.pi * tt[m])
    return basis


def design_com(
    model: LowerBodyModel,
    rel: ChainState,
    stances: list[Stance],
    speed_m_s: float,
    slope_rad: float,
    w_reg: float = 3.0,
    w_pos: float = 10.0,
    w_slip: float = 5.0,
    cop_tol_m: float = 0.02,
    cop_shift_scale_m: float = 0.03,
    row_step: int = 2,
    w_slip_normal: float = 0.05,
    n_extra: tuple[int, int, int] = (8, 6, 3),
    cache: dict | None = None,
    window_stances: int = 12,
) -> ComDesign:
    """Solve the CoM trajectory and per-foot forces (see module docstring). `rel` is the chain with the
    pelvis origin at zero; its time grid must be uniform.

    Order: the normal axis first (slip + ground contact); then along-slope and lateral axes, which also
    carry whole-body moment-balance rows: with the CoP on its nominal heel-to-toe path, the sagittal
    (resp. frontal) moment about the CoM of the designed forces should equal the angular momentum rate
    of the chain, dH/dt. Moment rows are weighted so that a moment error of body weight x `cop_tol_m`
    costs like 1 m/s of foot slip / `w_slip`. (p - c) and dH/dt are translation invariant, so these rows
    are linear in the force weights. `cache` (a dict) keeps the stance basis and its integrals between
    calls with the same time grid and stances (repeated passes of one trial)."""
    from .chain import whole_body_com

    t = rel.time_s
    n = t.shape[0]
    dt = float(t[1] - t[0])
    mass = total_mass_kg(model)
    bw = mass * GRAVITY_M_S2
    rs = surface_frame(slope_rad)
    g_s = rs.T @ np.array([0.0, 0.0, -GRAVITY_M_S2])
    crel = whole_body_com(model, rel)
    crel_s = PointMotion(crel.p @ rs, crel.v @ rs, crel.a @ rs)
    dhdt_s = angular_momentum_rate_about(model, rel, crel.p) @ rs
    ns = len(stances)
    tau = {s: np.full(n, np.nan) for s in SIDES}
    loaded = {s: np.zeros(n, dtype=bool) for s in SIDES}
    cop_start = {s: np.full(n, 0.05) for s in SIDES}
    masks, taus = [], []
    for st in stances:
        m, tt = stance_tau(t, st)
        masks.append(m)
        taus.append(tt)
        tau[st.side][m] = tt[m]
        loaded[st.side] |= m
        cop_start[st.side][m] = COP_START_FRACTION.get(st.mode, 0.05)
    # Contact point (slip) and nominal CoP relative to the pelvis origin, per side, surface frame.
    cp_rel: dict[str, PointMotion] = {}
    cop_rel: dict[str, np.ndarray] = {}
    rows_used = np.zeros(n, dtype=bool)
    rows_used[::row_step] = True  # slip / moment rows on every `row_step`-th sample (cost)
    for s in SIDES:
        tt = np.nan_to_num(tau[s], nan=0.5)
        rot = rel.rotation[f"foot_{s}"]
        d = np.einsum(
            "nij,nj->ni", rot, lowest_contact_point_local(model, rot, rel.joint[f"ankle_{s}"].p, rs[:, 2])
        )
        pm = _rigid(rel.joint[f"ankle_{s}"], rel.omega[f"foot_{s}"], d)
        cp_rel[s] = PointMotion(pm.p @ rs, pm.v @ rs, pm.p * 0)
        cop_rel[s] = (
            rel.joint[f"ankle_{s}"].p + np.einsum("nij,nj->ni", rot, cop_path_local(model, tt, cop_start[s]))
        ) @ rs
    weights: dict[str, np.ndarray] = {}
    acc_s = np.zeros((n, 3))
    vel_s = np.zeros((n, 3))
    pos_s = np.zeros((n, 3))
    foot_acc_s = {s: np.zeros((n, 3)) for s in SIDES}
    slip_sq, slip_cnt = 0.0, 0
    cop_shift = {s: np.zeros((n, 3)) for s in SIDES}
    fn_stance: list[np.ndarray] = []
    w_mom = 1.0 / (bw * cop_tol_m) / w_slip
    for ax in (2, 0, 1):
        nb = 1 + n_extra[ax]
        key = ("basis", ax, n_extra[ax])
        if cache is not None and key in cache:
            basis, b1, b2 = cache[key]
        else:
            basis = _stance_basis(t, stances, masks, taus, ax, n_extra[ax])
            b1, b2 = _stance_integrals(t, basis, masks, nb, dt)
            b1 *= GRAVITY_M_S2
            b2 *= GRAVITY_M_S2
            if cache is not None:
                cache[key] = (basis, b1, b2)
        ga1 = g_s[ax] * (t - t[0])
        ga2 = 0.5 * g_s[ax] * (t - t[0]) ** 2
        n_cop = 2 * ns if ax in (0, 1) else 0  # per-stance CoP shift (offset, progression) unknowns
        ncol = 2 + ns * nb + n_cop
        nf = 2 + ns * nb
        h = mom_b = None
        if ax in (0, 1):
            h = pos_s[:, 2]  # CoM height above the ground plane (normal axis solved first)
            mom_b = dhdt_s[:, 1 if ax == 0 else 0].copy()
            for s in SIDES:
                fn = foot_acc_s[s][:, 2] * mass * GRAVITY_M_S2  # normal force from the first pass
                r = cop_rel[s] - crel_s.p
                if ax == 0:  # y-moment: (p_n - c_n) F_t - (p_t - c_t) F_n = D_y
                    mom_b += np.where(loaded[s], r[:, 0] * fn, 0.0)
                else:  # t-moment: (p_y - c_y) F_n - (p_n - c_n) F_y = D_t
                    mom_b -= np.where(loaded[s], r[:, 1] * fn, 0.0)

        def rows_for(
            sel: np.ndarray,
            win_stances: list[int],
            first: bool,
            lo: int,
            hi: int,
            ax=ax,
            b1=b1,
            b2=b2,
            basis=basis,
            fn_stance=fn_stance,
            ga1=ga1,
            ga2=ga2,
            h=h,
            mom_b=mom_b,
            n_cop=n_cop,
            nb=nb,
            ncol=ncol,
            nf=nf,
        ):
            """Objective rows on samples `sel` (bool) over all columns; window [lo, hi] sample indices."""
            rows, rhs = [], []
            for s in SIDES:
                m = loaded[s] & rows_used & sel
                if not m.any():
                    continue
                a_blk = np.zeros((m.sum(), ncol))
                ws = w_slip * (w_slip_normal if ax == 2 else 1.0)
                a_blk[:, 1] = ws
                a_blk[:, 2:nf] = ws * b1[m]
                rows.append(a_blk)
                rhs.append(ws * (-ga1[m] + crel_s.v[m, ax] - cp_rel[s].v[m, ax]))
                if ax == 2:  # contact point on the ground plane: c - crel + cp_rel = 0
                    a_blk = np.zeros((m.sum(), ncol))
                    a_blk[:, 0] = 1.0
                    a_blk[:, 1] = t[m] - t[0]
                    a_blk[:, 2:nf] = b2[m]
                    rows.append(w_pos * a_blk)
                    rhs.append(w_pos * (-ga2[m] + crel_s.p[m, ax] - cp_rel[s].p[m, ax]))
            if ax in (0, 1):
                big = 100.0
                if first:
                    row = np.zeros((1, ncol))
                    row[0, 0] = 1.0
                    rows.append(big * row)
                    rhs.append(np.array([big * crel_s.p[0, ax]]))  # pelvis origin starts at 0 (t, y)
                # Mean velocity over the window: belt speed along the slope, zero laterally.
                row = np.zeros((1, ncol))
                row[0, 1] = t[hi] - t[lo]
                row[0, 2:nf] = b2[hi] - b2[lo]
                target = speed_m_s * (t[hi] - t[lo]) if ax == 0 else 0.0
                rows.append(big * row)
                rhs.append(np.array([big * (target - ga2[hi] + ga2[lo])]))
                # Moment balance about the CoM with the nominal CoP (c_n from the normal-axis pass).
                m_rows = (loaded["l"] | loaded["r"]) & rows_used & sel
                idx = np.flatnonzero(m_rows)
                a_blk = np.zeros((idx.size, ncol))
                for k in range(ns):
                    mk = masks[k][idx]
                    if not mk.any():
                        continue
                    ii = idx[mk]
                    cols = slice(2 + k * nb, 2 + (k + 1) * nb)
                    lever = (-h[ii]) if ax == 0 else h[ii]
                    a_blk[mk, cols] += (lever * bw)[:, None] * basis[ii, k * nb : (k + 1) * nb]
                    # CoP shift delta = d0 + d1 (tau - 0.5) of this stance, moment -/+ delta F_n.
                    sign = -1.0 if ax == 0 else 1.0
                    a_blk[mk, nf + 2 * k] += sign * fn_stance[k][ii]
                    a_blk[mk, nf + 2 * k + 1] += sign * fn_stance[k][ii] * (taus[k][ii] - 0.5)
                rows.append(w_mom * a_blk)
                rhs.append(w_mom * mom_b[idx])
            for k in win_stances:
                reg = np.zeros((nb, ncol))
                reg[:, 2 + k * nb : 2 + (k + 1) * nb] = w_reg * np.eye(nb)
                r_rhs = np.zeros(nb)
                r_rhs[0] = w_reg
                rows.append(reg)
                rhs.append(r_rhs)
                if n_cop:
                    reg = np.zeros((2, ncol))
                    reg[:, nf + 2 * k : nf + 2 * k + 2] = w_reg / cop_shift_scale_m * np.eye(2)
                    rows.append(reg)
                    rhs.append(np.zeros(2))
            return np.vstack(rows), np.concatenate(rhs)

        # Windowed solve (cost linear in trial length): stances in groups of `window_stances` by start
        # time; each window owns the samples from its first touch-down to the next window's, solves its
        # own stances' weights with the earlier ones fixed (continuity of CoM position and velocity).
        x = np.zeros(ncol)
        order = sorted(range(ns), key=lambda k: stances[k].t_on_s)
        groups = [order[i : i + window_stances] for i in range(0, ns, window_stances)] or [[]]
        for w, grp in enumerate(groups):
            lo = 0 if w == 0 else int(np.searchsorted(t, stances[grp[0]].t_on_s))
            hi = n - 1 if w == len(groups) - 1 else int(np.searchsorted(t, stances[groups[w + 1][0]].t_on_s))
            hi = max(hi, lo + 1) if n > 1 else hi
            sel = np.zeros(n, dtype=bool)
            sel[lo : hi + 1] = True
            a_w, b_w = rows_for(sel, grp, w == 0, lo, min(hi, n - 1))
            cols = ([0, 1] if w == 0 else []) + [2 + k * nb + j for k in grp for j in range(nb)]
            if n_cop:
                cols += [nf + 2 * k + j for k in grp for j in range(2)]
            unknown = np.array(cols, dtype=int)
            known = np.setdiff1d(np.arange(ncol), unknown)
            b_w = b_w - a_w[:, known] @ x[known]
            x[unknown] = _solve_normal(a_w[:, unknown], b_w)
        if n_cop:
            for k, st in enumerate(stances):
                m = masks[k]
                cop_shift[st.side][m, ax] = x[nf + 2 * k] + x[nf + 2 * k + 1] * (taus[k][m] - 0.5)
            x = x[:nf]
        else:
            fn_stance = [
                basis[:, k * nb : (k + 1) * nb] @ x[2 + k * nb : 2 + (k + 1) * nb] * bw for k in range(ns)
            ]
        weights["tyn"[ax]] = x[2:].reshape(ns, nb)
        acc_s[:, ax] = basis @ x[2:] * GRAVITY_M_S2 + g_s[ax]
        vel_s[:, ax] = x[1] + b1 @ x[2:] + ga1
        pos_s[:, ax] = x[0] + x[1] * (t - t[0]) + b2 @ x[2:] + ga2
        for k, st in enumerate(stances):
            foot_acc_s[st.side][:, ax] += basis[:, k * nb : (k + 1) * nb] @ x[2 + k * nb : 2 + (k + 1) * nb]
        if ax != 2:
            for s in SIDES:
                m = loaded[s]
                slip = vel_s[m, ax] - crel_s.v[m, ax] + cp_rel[s].v[m, ax]
                slip_sq += float(np.sum(slip**2))
                slip_cnt += int(m.sum())
    com = PointMotion(pos_s @ rs.T, vel_s @ rs.T, acc_s @ rs.T)
    force = {s: mass * GRAVITY_M_S2 * foot_acc_s[s] @ rs.T for s in SIDES}
    return ComDesign(
        com,
        force,
        loaded,
        tau,
        weights,
        float(np.sqrt(slip_sq / max(slip_cnt, 1))),
        {s: cop_shift[s] @ rs.T for s in SIDES},
        cop_start,
    )


def _rigid(origin: PointMotion, omega: np.ndarray, d: np.ndarray) -> PointMotion:
    return PointMotion(origin.p + d, origin.v + _cross(omega, d), origin.a)


@dataclass
class CopSolution:
    contacts: dict[str, FootContact]
    residual_moment_nm: np.ndarray  # (N,3) moment about the CoM no contact could supply
    dhdt_nm: np.ndarray  # (N,3) whole-body angular momentum rate about the CoM
    cop_outside_m: dict[str, float]  # per side: max distance the unclamped CoP left the foot outline
    clamped_fraction: float


def solve_cop(
    model: LowerBodyModel,
    state: ChainState,
    com: PointMotion,
    design: ComDesign,
    slope_rad: float,
    tau_scale_nm: float = 40.0,
) -> CopSolution:
    """CoP per foot and free moment from whole-body moment balance about the CoM (module docstring)."""
    n = state.time_s.shape[0]
    rs = surface_frame(slope_rad)
    e_t, e_y, e_n = rs[:, 0], rs[:, 1], rs[:, 2]
    dhdt = angular_momentum_rate_about(model, state, com.p)
    cop0 = {}
    for s in SIDES:
        tt = np.nan_to_num(design.tau[s], nan=0.5)
        local = cop_path_local(model, tt, design.cop_start[s])
        p = state.joint[f"ankle_{s}"].p + np.einsum("nij,nj->ni", state.rotation[f"foot_{s}"], local)
        p = p + design.cop_shift_m[s]
        cop0[s] = p - np.outer(p @ e_n, e_n)  # project onto the ground plane n.p = 0
    f = design.force_n
    cols = []
    for s in SIDES:
        cols += [_cross(np.broadcast_to(e_t, (n, 3)), f[s]), _cross(np.broadcast_to(e_y, (n, 3)), f[s])]
    cols.append(np.broadcast_to(e_n, (n, 3)))
    a = np.stack(cols, axis=2)  # (N, 3, 5): moment per unit CoP shift (t, y per foot) and free moment
    scale = np.tile(np.array([1.0, 1.0, 1.0, 1.0, tau_scale_nm]), (n, 1))
    cop = {s: cop0[s].copy() for s in SIDES}
    lo_x = model.heel_m[0] - COP_MARGIN_M
    hi_x = model.toe_m[0] + COP_MARGIN_M
    half_w = 0.04 * model.height_m + COP_MARGIN_M  # foot half width ~ 0.055 x stature / 2 + margin
    outside = dict.fromkeys(SIDES, 0.0)
    clamped = np.zeros(n, dtype=bool)
    tau_free = np.zeros(n)
    # Active-set iterations: weighted minimum-norm correction, clamp to the foot outline, then freeze
    # the clamped foot (tiny weight) so the other foot / the free moment takes over the remainder.
    for it in range(4):
        b = dhdt - sum(_cross(cop[s] - com.p, f[s]) for s in SIDES) - np.outer(tau_free, e_n)
        a_s = a * scale[:, None, :]
        gram = np.einsum("nik,njk->nij", a_s, a_s) + 1e-9 * np.eye(3)[None]
        lam = np.linalg.solve(gram, b[..., None])[..., 0]
        x = np.einsum("nik,ni->nk", a_s, lam) * scale
        tau_free = tau_free + x[:, 4]
        for i, s in enumerate(SIDES):
            p = cop[s] + x[:, 2 * i, None] * e_t + x[:, 2 * i + 1, None] * e_y
            rot = state.rotation[f"foot_{s}"]
            ank = state.joint[f"ankle_{s}"].p
            loc = np.einsum("nji,nj->ni", rot, p - ank)
            cl = loc.copy()
            cl[:, 0] = np.clip(loc[:, 0], lo_x, hi_x)
            cl[:, 1] = np.clip(loc[:, 1], -half_w, half_w)
            moved = np.any(np.abs(cl - loc) > 1e-12, axis=1) & design.loaded[s]
            if it == 0:
                dist = np.linalg.norm((cl - loc)[:, :2], axis=1)
                outside[s] = float(dist[design.loaded[s]].max()) if design.loaded[s].any() else 0.0
            clamped |= moved
            scale[moved, 2 * i : 2 * i + 2] = 1e-3
            pc = ank + np.einsum("nij,nj->ni", rot, cl)
            pc = pc - np.outer(pc @ e_n, e_n)
            cop[s] = np.where(design.loaded[s][:, None], pc, cop0[s])
    # The free moment takes the whole remaining moment about the surface normal (after clamping).
    free = (dhdt - sum(_cross(cop[s] - com.p, f[s]) for s in SIDES)) @ e_n
    free = np.where(design.loaded["l"] | design.loaded["r"], free, 0.0)
    fz = {s: np.maximum(f[s] @ e_n, 0.0) for s in SIDES}
    tot = fz["l"] + fz["r"]
    share = {s: np.where(tot > 0, fz[s] / np.where(tot > 0, tot, 1.0), 0.0) for s in SIDES}
    contacts = {}
    for s in SIDES:
        fm = np.outer(free * share[s], e_n)
        contacts[s] = FootContact(f[s], cop[s], fm)
    supplied = sum(_cross(cop[s] - com.p, f[s]) + contacts[s].free_moment_nm for s in SIDES)
    return CopSolution(contacts, dhdt - supplied, dhdt, outside, float(clamped.mean()))
