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

Sources of the same events (ER, NR, WIMP...) share the S1 factor A(s1 | Nph) and, frozen
together, one electron grid per event: their factors c are stored as one array of shape
(events, sources, electron points), and the S2 factor B(s2 | Ne), which does not depend on the
source either, is computed once per event and contracted with every source's c. The freeze is
dispatched asynchronously, so the fit's program is traced and compiled while it runs.
"""

from __future__ import annotations

import concurrent.futures
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


#: Events per S2-window part of a frozen group. Each part is one more copy of the S2 code in
#: the fit's compiled program (value, gradient and Hessian); splitting pays only when the
#: per-call saving beats that fixed cost. Measured on 10^4 ER + NR events with the flamedisx
#: preset (2 cores, no compilation cache, three runs each): 1 / 2 / 3 parts, first value +
#: gradient (freeze included) 3.7-3.9 / 4.16-4.18 / 4.38-4.45 s, later calls 0.18 / 0.15 /
#: 0.14 s, the 4-parameter fit (9 Newton steps) 10.6-11.6 / 9.9-10.9 / 10.1-10.6 s.
EVENTS_PER_S2_GROUP = 5000


class FrozenGroup(NamedTuple):
    """The frozen S1 side of one group of events, shared by the sources frozen together.

    Rows are the events ``idx`` sorted by the length of their extracted-electron window;
    ``parts`` splits them into row ranges (start, stop, sizes) with their own static S2
    window lengths (only ``sizes.n_ext`` and ``sizes.n_el`` are set), so events with a short
    S2 window are not padded to the longest one.
    """

    idx: np.ndarray  # (n,) event indices of the rows
    c: Array  # (n, n_sources, n_el) S1 factor x quanta table, scaled by exp(-log_scale)
    log_scale: Array  # (n,)
    el_lo: Array  # (n,) electron grid shared by the sources (covers the margin)
    el_hi: Array  # (n,)
    parts: tuple  # ((start, stop, WindowSizes), ...)


class FrozenS1(NamedTuple):
    """One source's frozen S1 side: column ``column`` of the groups' ``c``. Sources frozen
    together (same detector S1 response and event groups) share ``groups`` (the same object),
    so their S2 factor is computed once."""

    groups: tuple[FrozenGroup, ...]
    column: int
    n_events: int
    s1_table: np.ndarray  # (n_nodes, n_el') S1 acceptance x quanta table, for mu


def can_freeze(model: SourceRateModel, free) -> bool:
    """True if none of ``free`` changes the S1 side or the quanta table of ``model``."""
    fixed_names = set(S1_PARAMETERS) | set(model.table_parameter_names())
    return not (set(free) & fixed_names)


def _frozen_inputs(model: SourceRateModel, theta0: dict[str, Any], events, table_shape=None):
    """(EventInputs, ResponseParams, Windows) at ``theta0`` with electron windows covering
    the S2 gain and the electron survival each within [1/margin, margin] of ``theta0``,
    stopped at the edge of a quanta table of shape ``table_shape`` (default: the model's)."""
    rp, *_ = model._resolve(theta0)
    ev = model.event_inputs(theta0, events)

    def windows(e):
        return diffrate.event_windows(
            e, rp.double_pe_fraction, rp.pe_resolution, rp.s1_divisor, rp.se_width, model.n_sigma
        )

    w = windows(ev)
    # the 3 x 3 (gain, survival) corners in a loop: one copy of the window code in the
    # compiled program, and (n,) temporaries (as one (9, n) computation, five (9, n) arrays:
    # 36 MB at 10^5 events)
    m = model.margin
    fg, fs = (jnp.asarray(a.ravel()) for a in np.meshgrid([1 / m, 1, m], [1 / m, 1, m]))

    def widen(k, el):
        surv = jnp.minimum(ev.electron_survival * fs[k], 1.0 - 1e-9)
        wk = windows(ev._replace(s2_gain=ev.s2_gain * fg[k], electron_survival=surv))
        return jnp.minimum(el[0], wk.el[0]), jnp.maximum(el[1], wk.el[1])

    w = w._replace(el=jax.lax.fori_loop(0, 9, widen, w.el))
    table_shape = table_shape or (model.bounds["n_ph"] + 1, model.bounds["n_el"] + 1)
    return ev, rp, diffrate.clip_to_table(w, table_shape)


def freeze(
    model: SourceRateModel,
    theta0: dict[str, Any],
    events,
    plan: EventPlan | diffrate.WindowSizes,
    batch_size: int = 8,
    s2_groups: int | None = None,
) -> FrozenS1:
    """Evaluate the S1 side of every event (and of mu) once, at ``theta0``.

    Each group of ``plan`` is split into ``s2_groups`` parts by the length of the events'
    extracted-electron window (each part with its own static length), which is all the
    fit's S2-side evaluations depend on. Default: one part per :data:`EVENTS_PER_S2_GROUP`
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


def _table_shape(models) -> tuple[int, int]:
    """The smallest quanta-table shape (n_ph + 1, n_el + 1) that holds every model's table."""
    return tuple(max(m.bounds[k] for m in models) + 1 for k in ("n_ph", "n_el"))


def _layout(models, theta0s, events, plans, s2_groups) -> list[tuple]:
    """Host-side plan of a set of sources frozen together: per event group, (rows (event
    indices sorted by the length of the extracted-electron window), S1 window lengths per
    source, parts). The extracted-electron window does not depend on the source or on the
    electron margin; one compiled call (the likelihood's own) gives it."""
    ref = max(range(len(models)), key=lambda i: models[i].bounds["n_ph"])
    w = models[ref]._windows_now(theta0s[ref], events)
    ext_len = np.asarray(w.ext[1] - w.ext[0] + 1)
    n_split = s2_groups or min(3, plans[0].n_events // EVENTS_PER_S2_GROUP)
    out = []
    for g, (idx, _) in enumerate(plans[0].groups):
        sizes = [state_sizes(m, p.groups[g][1]) for m, p in zip(models, plans, strict=True)]
        n_el = max(s.n_el for s in sizes)  # one electron grid for all the sources
        sizes = [s._replace(n_el=n_el) for s in sizes]
        n_ext_max = max(s.n_ext for s in sizes)
        ext = ext_len[idx]
        n_parts = max(1, min(n_split, len(idx)))
        # sorted by S2-window length only when split (in event order, the fit's program
        # neither gathers nor scatters the group's events)
        order = np.argsort(ext, kind="stable") if n_parts > 1 else np.arange(len(idx))
        parts, start = [], 0
        for sub in np.array_split(ext[order], n_parts):
            if sub.size:
                n_ext = min(n_ext_max, int(np.ceil(models[ref].margin * sub.max() + 4)))
                s2 = diffrate.WindowSizes(0, 0, 0, n_ext, n_el)
                parts.append((start, start + sub.size, s2))
                start += sub.size
        out.append((idx[order], sizes, tuple(parts)))
    return out


def freeze_sources(
    models: Sequence[SourceRateModel],
    theta0s: Sequence[dict[str, Any]],
    events,
    plans: Sequence[EventPlan | diffrate.WindowSizes],
    batch_size: int = 8,
    s2_groups: int | None = None,
) -> list[FrozenS1]:
    """:func:`freeze` of several sources of the same events.

    The S1 factor A(s1 | Nph) of an event depends on the detector, not on the source: sources
    that share it (same detector, S1 parameters and event groups) compute it once, on the
    photon window of the source with the largest quanta table (the others' windows are its
    cuts at their tables' edges, and their tables are padded with zeros beyond them), and each
    contracts it with its own table, on one electron grid per event, so that the fit computes
    the S2 factor once for all of them (:func:`log_densities`). So is the S1 acceptance of mu.

    The per-event computation is dispatched without waiting for it (JAX runs it
    asynchronously): the caller can trace and compile the fit's program meanwhile, which
    needs only the shapes of the frozen arrays.
    """
    n = len(events["s1"])
    plans = [
        EventPlan(((np.arange(n), p),), n) if isinstance(p, diffrate.WindowSizes) else p
        for p in plans
    ]
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
    sets = list(sets.values())
    pick = lambda seq, members: [seq[i] for i in members]  # noqa: E731
    layouts = [
        _layout(pick(models, mb), pick(theta0s, mb), data, pick(plans, mb), s2_groups)
        for mb in sets
    ]

    def full(ths):
        return [{**f, **t} for f, t in zip(fixed, ths, strict=True)]

    def mu_kernel(ths):  # S1 acceptance x quanta table per source (small; needed on the host)
        ths = full(ths)
        out = [None] * len(models)
        for mb in sets:
            ref = max(mb, key=lambda i: models[i].bounds["n_ph"])
            acc1 = models[ref].s1_acceptance(ths[ref])
            for i in mb:
                t = models[i].quanta_table(ths[i])  # P(Nph, Ne)
                out[i] = acc1[:, : t.shape[0]] @ t
        return out

    def kernel(ths, d):
        ths = full(ths)
        return [
            _freeze_set(pick(models, mb), pick(ths, mb), d, lay, batch_size)
            for mb, lay in zip(sets, layouts, strict=True)
        ]

    # the per-event kernel is compiled on a second thread (XLA releases the GIL) while mu's
    # kernel is traced, compiled and run on this one
    lowered = jax.jit(kernel).lower(varying, data)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        compiled = pool.submit(lowered.compile)
        s1_tables = [_cut_s1_table(t) for t in jax.device_get(jax.jit(mu_kernel)(varying))]
        res = compiled.result()(varying, data)  # not waited for
    out: list = [None] * len(models)
    for mb, lay, r in zip(sets, layouts, res, strict=True):
        groups = tuple(
            FrozenGroup(rows, c, scale, lo, hi, parts)
            for (rows, _, parts), (c, scale, lo, hi) in zip(lay, r, strict=True)
        )
        for col, i in enumerate(mb):
            out[i] = FrozenS1(groups, col, n, s1_tables[i])
    return out


def _freeze_set(models, thetas, data, layout, batch_size) -> list[tuple]:
    """Traced body of :func:`freeze_sources` for sources sharing their S1 factor: per event
    group (c (n, n_sources, n_el), log_scale, el_lo, el_hi) in the layout's row order."""
    tables = [m.quanta_table(th, transposed=True) for m, th in zip(models, thetas, strict=True)]
    ref = max(range(len(models)), key=lambda i: models[i].bounds["n_ph"])
    shape = _table_shape(models)
    ev, rp, win = _frozen_inputs(models[ref], thetas[ref], data, shape)
    padded = [jnp.pad(t, ((0, 0), (0, shape[0] - t.shape[1]))) for t in tables]
    lf = max((m._lf(m._lf_size()) for m in models), key=len)
    out = []
    for rows, sizes, _ in layout:
        e, w = _take((ev, win), rows)
        c, scale = _s1_sides(
            e, w, padded, sizes, rp, models[ref].detector.s1_coincidence, lf, batch_size
        )
        out.append((c, scale, w.el[0], w.el[1]))
    return out


def _s1_sides(ev, win, tables_t, sizes, rp, coincidence, lf, batch_size):
    """Per event, the S1 factor on the photon window ``win.ph`` contracted with each of
    ``tables_t`` (P(Ne, Nph), padded to one Nph length) on the event's electron grid
    ``win.el``: (c of shape (n, len(tables_t), n_el), log_scale of shape (n,))."""
    shared = max(sizes, key=lambda s: s.n_ph)  # n_pe, n_det, n_el: equal
    n_tab = tables_t[0].shape[1]
    unit_det = diffrate.unit_det_step(win, shared)

    def one(args):
        e, w = args
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
        for t, s in zip(tables_t, sizes, strict=True):
            # a source with a smaller table needs only its own photon-window length of the
            # shared factor: the slice from the window's start (a is zero before it), moved
            # back to end with the shared window where it would run past it (flamedisx
            # preset, 10^4 events: the ER contraction on 733 instead of 1596 photon numbers,
            # freeze 3.4 -> 2.5 s); beyond its table's electron numbers its c is 0
            off = jnp.clip(w.ph[0] - i0, 0, shared.n_ph - s.n_ph)
            a_s = jax.lax.dynamic_slice(a, (off.astype(jnp.int32),), (s.n_ph,))
            cs.append(diffrate.contract_table(t, a_s, i0 + off, w, s))
        return jnp.stack(cs), d_max

    return jax.lax.map(one, (ev, win), batch_size=batch_size)


def _is_all(idx: np.ndarray, n: int) -> bool:
    return len(idx) == n and bool(np.all(idx == np.arange(n)))


def _take(tree, idx: np.ndarray):
    """The per-event arrays of ``tree`` at the events ``idx`` (no gather, which is one more
    compiled kernel per array, when ``idx`` is every event in order)."""
    n = len(jax.tree_util.tree_leaves(tree)[0])
    if _is_all(idx, n):
        return tree
    # one array for all the leaves (indexing with the NumPy array itself adds three (n,)
    # constants per leaf to the compiled program: the index, its sign and its wrapped value)
    idx = jnp.asarray(idx)
    return jax.tree_util.tree_map(lambda a: a[idx], tree)


def _put(out: Array, idx: np.ndarray, values: Array) -> Array:
    """``out`` with ``values`` at the events ``idx``."""
    if _is_all(idx, len(out)):
        return values
    return out.at[jnp.asarray(idx)].set(values, unique_indices=True)


#: Relative size below which the trailing electron numbers of the frozen S1 x table factor of
#: mu are dropped: mu then needs Acc2(Ne) only up to the last kept Ne. The dropped terms are
#: each < this x the largest, so P(ROI) changes by < n_el x this (relative). With the flamedisx
#: preset the NR factor (524 electron numbers) is above 1e-20 of its largest only up to Ne = 310
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


def _map_rows(fn, c: Array, per_event, start: int, stop: int, batch_size: int):
    """``vmap(fn)`` over rows ``start:stop`` of ``c`` and of the (n,) arrays ``per_event``,
    ``batch_size`` rows at a time. Each batch is a dynamic slice of the whole arrays (the last
    one moved back to end at ``stop``), so no copy of a part of ``c`` is made (lax.map over
    ``c[start:stop]`` copies it: at 10^5 events a 205 MB temporary)."""
    b = min(batch_size, stop - start)
    n_b = -(-(stop - start) // b)
    offsets = jnp.asarray(np.minimum(start + b * np.arange(n_b), stop - b), dtype=jnp.int32)

    def body(_, off):
        rows = lambda a: jax.lax.dynamic_slice_in_dim(a, off, b)  # noqa: E731
        return None, jax.vmap(fn)(rows(c), jax.tree_util.tree_map(rows, per_event))

    _, ys = jax.lax.scan(body, None, offsets)
    shift = n_b * b - (stop - start)  # rows of the last batch already in the one before

    def flat(y):
        y = y.reshape(n_b * b, *y.shape[2:])
        return jnp.concatenate([y[: (n_b - 1) * b], y[(n_b - 1) * b + shift :]])

    return jax.tree_util.tree_map(flat, ys)


def log_densities(
    models: Sequence[SourceRateModel],
    thetas: Sequence[dict[str, Any]],
    events,
    frozens: Sequence[FrozenS1],
    batch_size: int = 64,
) -> list[Array]:
    """:func:`log_density` of several sources of the same events.

    The S2 factor B(s2 | Ne) does not depend on the source: sources frozen together (sharing
    ``groups``) with the same S2-side parameters share one evaluation of it per event,
    contracted with each one's S1 factor (flamedisx preset, ER + NR, 10^4 events, 2 cores:
    value + gradient 0.28 -> 0.14 s, the same log-likelihood to the last bit; at 10^5 events
    the compiled program's arguments are one copy of the frozen factors (205 MB) and 10 MB of
    per-event arrays, and its temporaries 43 MB, where concatenating the sources' groups took
    274 MB).
    """
    lf = max((m._lf(m._lf_size()) for m in models), key=len)  # log n! table: one covers all
    sets: dict = {}
    for k, (theta, frozen) in enumerate(zip(thetas, frozens, strict=True)):
        key = (id(frozen.groups), tuple(sorted((n, id(v)) for n, v in theta.items())))
        sets.setdefault(key, []).append(k)
    out: list = [None] * len(models)
    for members in sets.values():
        k0 = members[0]
        ev, rp, win = models[k0]._windows(thetas[k0], events)
        cols = [frozens[k].column for k in members]
        logfs = [jnp.zeros(frozens[k0].n_events) for _ in members]
        for grp in frozens[k0].groups:
            # one tracer for all parts (each part's scan closing over the array itself made
            # value_and_grad hoist one copy per part into the compiled program's arguments)
            c = jax.lax.stop_gradient(grp.c)
            c = c if cols == list(range(c.shape[1])) else c[:, cols]
            e, w = _take((ev, win), grp.idx)
            w = w._replace(el=(grp.el_lo, grp.el_hi))
            se = jnp.broadcast_to(rp.se_width, grp.idx.shape)
            fs, e_maxs = [], []
            for start, stop, sizes in grp.parts:
                f, e_max = _map_rows(
                    lambda ci, a, sizes=sizes: diffrate.event_s2_contracted(ci, *a, lf, sizes),
                    c,
                    (e, w, se),
                    start,
                    stop,
                    batch_size,
                )
                fs.append(f)
                e_maxs.append(e_max)
            f, scale = jnp.concatenate(fs), grp.log_scale + jnp.concatenate(e_maxs)
            for j in range(len(members)):
                logfs[j] = _put(logfs[j], grp.idx, diffrate.log_density_sum(f[:, j]) + scale)
        for k, logf in zip(members, logfs, strict=True):
            out[k] = logf
    return out


def roi_fraction(model: SourceRateModel, theta: dict[str, Any], frozen: FrozenS1) -> Array:
    """P(ROI) at ``theta`` from the frozen S1 x table factor."""
    return model.roi_fraction(theta, s1_table=frozen.s1_table)


def covers(model: SourceRateModel, theta: dict[str, Any], events, frozen: FrozenS1) -> bool:
    """True if every event's electron window at ``theta`` lies inside its frozen grid."""
    win = model._windows_now(theta, events)  # one compiled call, not dozens of eager ops
    lo, hi = (np.asarray(a) for a in win.el)
    ok = True
    for grp in frozen.groups:
        idx = grp.idx
        ok &= bool(
            np.all(lo[idx] >= np.asarray(grp.el_lo)) and np.all(hi[idx] <= np.asarray(grp.el_hi))
        )
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
    "FrozenGroup",
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
