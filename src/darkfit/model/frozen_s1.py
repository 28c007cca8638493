"""Fits of S2-side parameters with the S1 side and the quanta table evaluated once.

The per-event rate is f = sum_Ne c(Ne) B(s2 | Ne) with c(Ne) = sum_Nph A(s1 | Nph) P(Nph, Ne)
(:mod:`darkfit.model.diffrate`). When no parameter of the S1 response (g1, double-PE fraction,
PE resolution) nor of the quanta table (yields, field, density) is free, c is a constant of the
fit: :func:`freeze` computes it once per event, on an electron grid wide enough for the S2-side
parameters (g2, extraction efficiency, single-electron width, electron lifetime) to move by the
model's ``margin`` in the gain and in the survival (with twice the points of the stepped grid,
so the step is no coarser than the full computation's), and :func:`log_density` then costs only the
S2 factor. The same holds for mu: sum_Nph Acc1(Nph) P(Nph, Ne) is frozen and only Acc2(Ne) is
recomputed. Results equal the full computation to the window truncation tolerance (the grids
differ only in where they are cut; tests/model/test_frozen_s1.py), and :func:`covers` tells
whether a parameter point is still inside the frozen electron grid (re-freeze there if not).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from darkfit.model import diffrate
from darkfit.model.rate_model import EventPlan, SourceRateModel

#: Parameters of the S1 response (the frozen part also depends on the quanta-table parameters).
S1_PARAMETERS = ("g1", "double_pe_fraction", "pe_resolution")

#: Electron grid points of the frozen S1 factor, relative to the stepped cap of the full path.
FROZEN_EL_FACTOR = 2


#: Events per S2-window group of :func:`freeze`. Each group is one more copy of the S2 code in
#: the fit's compiled program (value, gradient and Hessian); splitting pays only when the
#: per-call saving beats that fixed cost. Measured on a 1000-event ER + NR fit with the
#: flamedisx preset (1 core): 1 group: trace + lower + load 1.5 s, fit calls 3.0 s;
#: 3 groups: 2.2 s and 2.7 s.
EVENTS_PER_S2_GROUP = 2000


class FrozenS1(NamedTuple):
    """Per group of events: (indices, c (n, n_el), log_scale (n,), el_lo, el_hi, sizes), with
    only the S2-side lengths (n_ext, n_el) set in ``sizes`` (the S1-side ones are 0): groups of
    different sources with equal S2 windows compare equal and share compiled code."""

    groups: tuple
    n_events: int
    s1_table: Array


def can_freeze(model: SourceRateModel, free) -> bool:
    """True if none of ``free`` changes the S1 side or the quanta table of ``model``."""
    fixed_names = set(S1_PARAMETERS) | set(model.table_parameter_names())
    return not (set(free) & fixed_names)


def _frozen_inputs(model: SourceRateModel, theta0: dict[str, Any], events, clip: bool = True):
    """(EventInputs, ResponseParams, Windows) at ``theta0`` with electron windows covering
    the S2 gain and the electron survival each within [1/margin, margin] of ``theta0``;
    ``clip=False``: windows not stopped at the edge of the model's quanta table."""
    rp, *_ = model._resolve(theta0)
    ev = model.event_inputs(theta0, events)

    def windows(e):
        return diffrate.event_windows(
            e, rp.double_pe_fraction, rp.pe_resolution, rp.s1_divisor, rp.se_width, model.n_sigma
        )

    w = windows(ev)
    # the 3 x 3 (gain, survival) corners as one (9, n) computation (fewer compiled kernels)
    m = model.margin
    fg, fs = (jnp.asarray(a.reshape(9, 1)) for a in np.meshgrid([1 / m, 1, m], [1 / m, 1, m]))
    surv = jnp.minimum(ev.electron_survival * fs, 1.0 - 1e-9)
    wf = windows(ev._replace(s2_gain=ev.s2_gain * fg, electron_survival=surv))
    lo = jnp.minimum(w.el[0], jnp.min(wf.el[0], axis=0))
    hi = jnp.maximum(w.el[1], jnp.max(wf.el[1], axis=0))
    w = w._replace(el=(lo, hi))
    if clip:
        w = diffrate.clip_to_table(w, (model.bounds["n_ph"] + 1, model.bounds["n_el"] + 1))
    return ev, rp, w


def freeze(
    model: SourceRateModel,
    theta0: dict[str, Any],
    events,
    plan: EventPlan | diffrate.WindowSizes,
    batch_size: int = 8,
    s2_groups: int | None = None,
) -> FrozenS1:
    """Evaluate the S1 side of every event (and of mu) once, at ``theta0``.

    Each group of ``plan`` is split into ``s2_groups`` groups by the length of the events'
    extracted-electron window (each group with its own static length), which is all the
    fit's S2-side evaluations depend on. Default: one group per :data:`EVENTS_PER_S2_GROUP`
    events, at least 1 and at most 3.
    """
    return freeze_sources([model], [theta0], events, [plan], batch_size, s2_groups)[0]


def _s1_key(model: SourceRateModel, theta0: dict[str, Any], plan: EventPlan) -> tuple:
    """Sources with equal keys have the same S1 factor A(s1 | Nph) per event (it depends on
    the detector's S1 response, not on the source) on the same event groups."""
    rp, *_ = model._resolve(theta0)
    s1 = (rp.g1, rp.double_pe_fraction, rp.pe_resolution, rp.s1_divisor)
    return (
        id(model.detector),
        model.n_sigma,
        model.margin,
        model.caps,
        model.bounds["n_pe"],
        model.bounds["n_det"],
        tuple(float(x) for x in s1),
        tuple(idx.tobytes() for idx, _ in plan.groups),
    )


def freeze_sources(
    models: Sequence[SourceRateModel],
    theta0s: Sequence[dict[str, Any]],
    events,
    plans: Sequence[EventPlan | diffrate.WindowSizes],
    batch_size: int = 8,
    s2_groups: int | None = None,
) -> list[FrozenS1]:
    """:func:`freeze` of several sources of the same events, by one compiled call.

    The S1 factor A(s1 | Nph) of an event depends on the detector, not on the source: sources
    that share it (same detector, S1 parameters and event groups) compute it once, on the
    photon window of the source with the largest quanta table (the others' windows are its
    cuts at their tables' edges, and their tables are padded with zeros beyond them), and each
    contracts it with its own table. So is the S1 acceptance of mu. Measured on the flamedisx
    preset, ER + NR, 1000 events, 2 cores, no compilation cache: freeze 3.6 -> 2.3 s (its
    compilation 2.1 -> 1.2 s).
    """
    n = len(events["s1"])
    plans = [
        EventPlan(((np.arange(n), p),), n) if isinstance(p, diffrate.WindowSizes) else p
        for p in plans
    ]
    plan_sizes = []
    for model, plan in zip(models, plans, strict=True):
        caps = model.caps or diffrate.WindowSizes(*(1 << 30,) * 5)
        n_el_cap = min(FROZEN_EL_FACTOR * caps.n_el, model.bounds["n_el"] + 1)
        # a wider electron grid on capped groups, so the step stays as fine
        plan_sizes.append(
            [s._replace(n_el=n_el_cap) if s.n_el == caps.n_el else s for _, s in plan.groups]
        )
    cols = ("s1", "s2", "r", "z", "drift_time")
    data = {c: np.asarray(events[c], dtype=float) for c in cols}
    # quanta-table parameters stay Python numbers (at their defaults the cached table is
    # reused instead of recomputed inside the trace); the rest are arguments
    fixed, varying = [], []
    for model, th in zip(models, theta0s, strict=True):
        names = set(model.table_parameter_names())
        fixed.append({k: v for k, v in th.items() if k in names})
        varying.append({k: float(v) for k, v in th.items() if k not in names})
    sets: dict = {}
    for i, (model, th, plan) in enumerate(zip(models, theta0s, plans, strict=True)):
        sets.setdefault(_s1_key(model, th, plan), []).append(i)

    def kernel(ths, d):
        ths = [{**f, **t} for f, t in zip(fixed, ths, strict=True)]
        out = [None] * len(models)
        for members in sets.values():
            pick = lambda seq, members=members: [seq[i] for i in members]  # noqa: E731
            res = _freeze_set(pick(models), pick(ths), d, pick(plans), pick(plan_sizes), batch_size)
            for i, r in zip(members, res, strict=True):
                out[i] = r
        return out

    # one compiled call for everything; the regrouping below is host-side numpy (eager jax
    # indexing compiled a program per distinct shape: ~1 s of a 3.5 s freeze)
    out = jax.device_get(jax.jit(kernel)(varying, data))
    return [
        _regroup(model, plan, sizes, *res, s2_groups)
        for model, plan, sizes, res in zip(models, plans, plan_sizes, out, strict=True)
    ]


def _freeze_set(models, thetas, data, plans, plan_sizes, batch_size) -> list[tuple]:
    """Traced body of :func:`freeze_sources` for sources sharing their S1 factor: per source
    (per event group (c, log_scale), electron window (lo, hi), extracted-electron window
    length, S1 x table factor of mu)."""
    tables = [m.quanta_table(th, transposed=True) for m, th in zip(models, thetas, strict=True)]
    ref = max(range(len(models)), key=lambda i: models[i].bounds["n_ph"])
    ev, rp, win = _frozen_inputs(models[ref], thetas[ref], data, clip=False)
    n_tab = models[ref].bounds["n_ph"] + 1
    padded = [jnp.pad(t, ((0, 0), (0, n_tab - t.shape[1]))) for t in tables]
    lf = max((m._lf(m._lf_size()) for m in models), key=len)
    acc1 = models[ref].s1_acceptance(thetas[ref])
    wins = [
        diffrate.clip_to_table(win, (m.bounds["n_ph"] + 1, m.bounds["n_el"] + 1)) for m in models
    ]
    sides = [[] for _ in models]
    for g, (idx, _) in enumerate(plans[ref].groups):
        sizes = [s[g] for s in plan_sizes]
        e, w = _take((ev, wins[ref]), idx)
        els = [_take(wi.el, idx) for wi in wins]
        cs, scale = _s1_sides(
            e, w, els, padded, sizes, rp, models[ref].detector.s1_coincidence, lf, batch_size
        )
        for side, c in zip(sides, cs, strict=True):
            side.append((c, scale))
    ext_len = win.ext[1] - win.ext[0] + 1
    return [
        (side, wi.el, ext_len, acc1[:, : t.shape[1]] @ t.T)
        for side, wi, t in zip(sides, wins, tables, strict=True)
    ]


def _s1_sides(ev, win, els, tables_t, sizes, rp, coincidence, lf, batch_size):
    """Per event, the S1 factor on the photon window ``win.ph`` contracted with each of
    ``tables_t`` (P(Ne, Nph), padded to one Nph length) on its electron grid ``els[k]``:
    ([c_k of shape (n, sizes[k].n_el)], log_scale of shape (n,))."""
    shared = max(sizes, key=lambda s: s.n_ph)  # n_pe, n_det: equal (same S1 key)
    n_tab = tables_t[0].shape[1]
    unit_det = diffrate.unit_det_step(win, shared)

    def one(args):
        e, w, els = args
        a, i0, d_max = diffrate.event_s1_factor(
            e,
            w,
            n_tab,
            rp.double_pe_fraction,
            rp.pe_resolution,
            rp.s1_divisor,
            jnp.float64(coincidence),
            lf,
            shared,
            unit_det,
        )
        cs = []
        for t, el, s in zip(tables_t, els, sizes, strict=True):
            # a source with a smaller table needs only its own photon-window length of the
            # shared factor: the slice from the window's start (a is zero before it), moved
            # back to end with the shared window where it would run past it (flamedisx
            # preset, 10^4 events: the ER contraction on 733 instead of 1596 photon numbers,
            # freeze 3.4 -> 2.5 s)
            off = jnp.clip(w.ph[0] - i0, 0, shared.n_ph - s.n_ph)
            a_s = jax.lax.dynamic_slice(a, (off.astype(jnp.int32),), (s.n_ph,))
            ws = w._replace(el=el)
            cs.append(diffrate.contract_table(t, a_s, i0 + off, ws, s))
        return cs, d_max

    return jax.lax.map(one, (ev, win, els), batch_size=batch_size)


def _is_all(idx: np.ndarray, n: int) -> bool:
    return len(idx) == n and bool(np.all(idx == np.arange(n)))


def _take(tree, idx: np.ndarray):
    """The per-event arrays of ``tree`` at the events ``idx`` (no gather, which is one more
    compiled kernel per array, when ``idx`` is every event in order)."""
    n = len(jax.tree_util.tree_leaves(tree)[0])
    return tree if _is_all(idx, n) else jax.tree_util.tree_map(lambda a: a[idx], tree)


def _put(out: Array, idx: np.ndarray, values: Array) -> Array:
    """``out`` with ``values`` at the events ``idx``."""
    return values if _is_all(idx, len(out)) else out.at[idx].set(values)


def _regroup(model, plan, plan_sizes, sides, el, ext_len, s1_table, s2_groups) -> FrozenS1:
    """A source's frozen S1 factors regrouped by the length of the S2 window (host side)."""
    el_lo, el_hi = el
    n_split = s2_groups or min(3, plan.n_events // EVENTS_PER_S2_GROUP)
    groups = []
    for (idx, _), sizes, (c, scale) in zip(plan.groups, plan_sizes, sides, strict=True):
        # the fit only evaluates the S2 side: regroup by the S2 window length, so events with
        # a short extracted-electron window are not padded to the longest one
        ext = ext_len[idx]
        order = np.argsort(ext, kind="stable")
        for sub in np.array_split(order, max(1, min(n_split, len(order)))):
            if not sub.size:
                continue
            sub = np.sort(sub)
            n_ext = min(sizes.n_ext, int(np.ceil(model.margin * ext[sub].max() + 4)))
            ev_sub = idx[sub]
            groups.append(
                (
                    ev_sub,
                    c[sub],
                    scale[sub],
                    el_lo[ev_sub],
                    el_hi[ev_sub],
                    sizes._replace(n_pe=0, n_det=0, n_ph=0, n_ext=n_ext),
                )
            )
    return FrozenS1(tuple(groups), plan.n_events, _cut_s1_table(s1_table))


#: Relative size below which the trailing electron numbers of the frozen S1 x table factor of
#: mu are dropped: mu then needs Acc2(Ne) only up to the last kept Ne. The dropped terms are
#: each < this x the largest, so P(ROI) changes by < n_el x this (relative). With the flamedisx
#: preset the NR factor (3610 electron numbers) is above 1e-20 of its largest only up to Ne = 310
#: (an NR interaction with more electrons is above the S1 ROI): mu value + gradient + Hessian
#: of a fit step (ER + NR, 8 drift nodes) 0.21 -> 0.03 s.
S1_TABLE_CUT = 1e-20


def _cut_s1_table(s1_table: np.ndarray) -> np.ndarray:
    """``s1_table`` (n_nodes, n_el + 1) without its trailing negligible electron numbers."""
    keep = np.nonzero(np.max(s1_table, axis=0) > S1_TABLE_CUT * np.max(s1_table))[0]
    return s1_table[:, : keep.max() + 2] if keep.size else s1_table[:, :1]


def log_density(model: SourceRateModel, theta: dict[str, Any], events, frozen: FrozenS1) -> Array:
    """log f(s1, s2 | position) per event at ``theta`` (S2-side parameters only)."""
    return log_densities([model], [theta], events, [frozen])[0]


def log_densities(
    models: Sequence[SourceRateModel],
    thetas: Sequence[dict[str, Any]],
    events,
    frozens: Sequence[FrozenS1],
    batch_size: int = 64,
) -> list[Array]:
    """:func:`log_density` of several sources of the same events.

    The S2 factor B(s2 | Ne) does not depend on the source, so groups of different sources
    with equal window lengths are stacked and evaluated by one batched call: the compiled
    program holds one copy of the S2 code per distinct window length instead of one per
    source and length (measured on the flamedisx preset, ER + NR: half the code, ~70 MB less
    resident memory and half the tracing time of a fit).
    """
    lf = max((m._lf(m._lf_size()) for m in models), key=len)  # log n! table: one covers all
    buckets: dict = {}
    for k, (model, theta, frozen) in enumerate(zip(models, thetas, frozens, strict=True)):
        ev, rp, win = model._windows(theta, events)
        for g, (idx, c, _, el_lo, el_hi, sizes) in enumerate(frozen.groups):
            e, w = _take((ev, win), idx)
            se = jnp.broadcast_to(rp.se_width, idx.shape)
            buckets.setdefault(sizes, []).append((k, g, c, e, w._replace(el=(el_lo, el_hi)), se))
    per_group: dict = {}
    for sizes, members in buckets.items():
        c, e, w, se = jax.tree_util.tree_map(
            lambda *a: jnp.concatenate(a), *[m[2:] for m in members]
        )
        f, e_max = jax.lax.map(
            lambda a, sizes=sizes: diffrate.event_s2_contracted(*a, lf, sizes),
            (c, e, w, se),
            batch_size=batch_size,
        )
        start = 0
        for k, g, c_k, *_ in members:
            n = len(c_k)
            per_group[k, g] = (f[start : start + n], e_max[start : start + n])
            start += n
    out = []
    for k, frozen in enumerate(frozens):
        logf = jnp.zeros(frozen.n_events)
        for g, (idx, _, scale, _, _, _) in enumerate(frozen.groups):
            f, e_max = per_group[k, g]
            logf = _put(logf, idx, diffrate.log_density_sum(f) + scale + e_max)
        out.append(logf)
    return out


def roi_fraction(model: SourceRateModel, theta: dict[str, Any], frozen: FrozenS1) -> Array:
    """P(ROI) at ``theta`` from the frozen S1 x table factor."""
    return model.roi_fraction(theta, s1_table=frozen.s1_table)


def covers(model: SourceRateModel, theta: dict[str, Any], events, frozen: FrozenS1) -> bool:
    """True if every event's electron window at ``theta`` lies inside its frozen grid."""
    win = model._windows_now(theta, events)  # one compiled call, not dozens of eager ops
    lo, hi = (np.asarray(a) for a in win.el)
    ok = True
    for idx, _, _, el_lo, el_hi, _ in frozen.groups:
        ok &= bool(np.all(lo[idx] >= np.asarray(el_lo)) and np.all(hi[idx] <= np.asarray(el_hi)))
    return ok


class S1State(NamedTuple):
    """Per-event S1 factors A(s1 | Nph) (not yet contracted with the quanta table), so the
    table's parameters (yields, field) may float; a pytree of arrays, passed to compiled
    functions as an argument (one compilation for many toy datasets)."""

    a: Array  # (n, n_ph) S1 factor on Nph = i0 .. i0 + n_ph - 1, scaled by exp(-log_scale)
    i0: Array  # (n,)
    log_scale: Array  # (n,)
    el_lo: Array  # (n,) electron grid (covers gain and survival within the margin)
    el_hi: Array  # (n,)
    acc1: Array  # (1 or n_nodes, n_ph_table + 1) S1 acceptance for mu


def state_sizes(model: SourceRateModel, sizes: diffrate.WindowSizes) -> diffrate.WindowSizes:
    """Static window lengths of the S1 states: twice the stepped electron points (as freeze)."""
    caps = model.caps or diffrate.WindowSizes(*(1 << 30,) * 5)
    if sizes.n_el == caps.n_el:
        return sizes._replace(n_el=min(FROZEN_EL_FACTOR * caps.n_el, model.bounds["n_el"] + 1))
    return sizes


def s1_state(model: SourceRateModel, theta0: dict[str, Any], data, sizes) -> S1State:
    """The S1 state of the events ``data`` (dict of arrays) at ``theta0``; pure, jit-able."""
    sizes = state_sizes(model, sizes)
    ev, rp, win = _frozen_inputs(model, theta0, data)
    lf = model._lf(model._lf_size())
    n_tab = model.bounds["n_ph"] + 1
    unit_det = diffrate.unit_det_step(win, sizes)

    def one(args):
        e, w = args
        return diffrate.event_s1_factor(
            e,
            w,
            n_tab,
            rp.double_pe_fraction,
            rp.pe_resolution,
            rp.s1_divisor,
            jnp.float64(model.detector.s1_coincidence),
            lf,
            sizes,
            unit_det,
        )

    a, i0, scale = jax.lax.map(one, (ev, win), batch_size=64)
    return S1State(a, i0, scale, win.el[0], win.el[1], model.s1_acceptance(theta0))


def log_density_from_state(
    model: SourceRateModel, theta: dict[str, Any], data, state: S1State, sizes
) -> Array:
    """log f(s1, s2 | position) at ``theta`` (S2-side and quanta-table parameters)."""
    sizes = state_sizes(model, sizes)
    ev, rp, win = model._windows(theta, data)
    win = win._replace(el=(state.el_lo, state.el_hi))
    table_t = model.quanta_table(theta, transposed=True)
    lf = model._lf(model._lf_size())

    c = diffrate.contract_table_all(table_t, state.a, state.i0, win, sizes)

    def one(args):
        e, w, c = args
        b, e_max = diffrate.event_s2_side(e, w, rp.se_width, lf, sizes)
        return diffrate.log_density_sum(c @ b) + e_max

    out = jax.lax.map(jax.checkpoint(one), (ev, win, c), batch_size=64)
    return out + state.log_scale


def roi_fraction_from_state(model: SourceRateModel, theta: dict[str, Any], state: S1State) -> Array:
    """P(ROI) at ``theta`` with the S1 acceptance of the state."""
    return model.roi_fraction(theta, s1_table=state.acc1 @ model.quanta_table(theta))


__all__ = [
    "S1_PARAMETERS",
    "FrozenS1",
    "S1State",
    "can_freeze",
    "covers",
    "freeze",
    "log_densities",
    "log_density",
    "log_density_from_state",
    "roi_fraction_from_state",
    "s1_state",
]
