"""A source in a detector as pure functions of the parameters: per-event rates and mu(theta).

:class:`SourceRateModel` is the thin object; it builds the static pieces once (energy cells of
the spectrum, table bounds from the ROI, quadrature nodes, log-factorials) and exposes pure,
jit-able functions of a parameter dict ``theta``:

* ``log_density(theta, events)``: log of the event density in (s1, s2) given its position,
  f(s1, s2 | x) [1/phd^2];
* ``roi_fraction(theta)``: the probability that an interaction of this source in the fiducial
  volume passes the S1 coincidence and the S1/S2 ROI (exact; see :mod:`.acceptance`);
* ``expected_events(theta, exposure)`` = total_rate * exposure * roi_fraction.

Parameters ``theta`` (any subset; the rest take the detector's/NEST's defaults):
detector ``g1``, ``g2`` [phd/electron], ``double_pe_fraction``, ``pe_resolution``,
``extraction_efficiency``, ``se_width``, ``electron_lifetime_us``, ``drift_field_v_cm``,
``liquid_density_g_cm3``; and for ``nest`` quanta models the fields of the NEST yield/width
parameter tuples of the source's recoil type (e.g. ``alpha``, ``beta`` ... for NR).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from darkfit._errors import bad_value
from darkfit.detector import Detector
from darkfit.model import acceptance, diffrate
from darkfit.model._counting import log_factorial_table
from darkfit.model.quanta_table import (
    EnergyCells,
    electron_moments,
    energy_cells,
    joint_quanta_table,
    quanta_pmf,
)
from darkfit.model.response import (
    ResponseParams,
    electron_survival,
    photon_detection_efficiency,
    response_params,
    s2_gain,
)
from darkfit.model.sources import Source

DETECTOR_PARAMETERS = (
    "g1",
    "g2",
    "double_pe_fraction",
    "pe_resolution",
    "extraction_efficiency",
    "se_width",
    "electron_lifetime_us",
    "drift_field_v_cm",
    "liquid_density_g_cm3",
)
#: Gauss-Legendre nodes in z (and in r^2 when the detector has position maps) for mu(theta).
#: 8 nodes agree with 32 to 5e-13 relative (flamedisx NR, lz WIMP and ER, shortened lifetime).
N_Z_NODES = 8
N_R_NODES = 8
#: Largest binomial matrix [bytes] of the S2 acceptance evaluated for several position nodes
#: at once (more nodes are looped over in batches, so memory stays bounded for large tables).
ACC2_BATCH_BYTES = 16 * 2**20


def _yield_param_types(recoil_type: str):
    from darkfit.physics import yields as y

    if recoil_type == "nr":
        return y.NRYieldParams, y.NRWidthParams
    return y.ERYieldParams, y.ERWidthParams


@dataclass(frozen=True, eq=False)
class SourceRateModel:
    """Per-event rates and exact expected counts of one source in one detector.

    Args:
        detector: the detector (ROI, response, fiducial volume).
        source: the source (spectrum, recoil type).
        n_sigma: half-width of the hidden-variable windows, in standard deviations.
        margin: relative slack of table bounds and window lengths, so parameters can move in
            a fit without re-tracing (g1, g2 within about +-1/margin).
    """

    detector: Detector
    source: Source
    n_sigma: float = diffrate.N_SIGMA
    margin: float = 1.15
    caps: diffrate.WindowSizes | None = diffrate.DEFAULT_CAPS
    cells: EnergyCells = field(init=False)
    bounds: dict = field(init=False)
    _cache: dict = field(init=False, default_factory=dict)

    def __post_init__(self):
        if self.detector.pe_resolution <= 0 or self.detector.se_width <= 0:
            raise bad_value(
                "pe_resolution/se_width",
                (self.detector.pe_resolution, self.detector.se_width),
                "both > 0 for the likelihood (the S1/S2 densities need a width)",
            )
        object.__setattr__(self, "cells", energy_cells(self.source.spectrum))
        object.__setattr__(self, "bounds", self._roi_bounds())

    # ------------------------------------------------------------------ parameters
    @property
    def recoil_type(self) -> str:
        return self.source.recoil_type

    def parameter_names(self) -> tuple[str, ...]:
        """Names this source's rate depends on (detector and, for NEST, yield parameters)."""
        names = list(DETECTOR_PARAMETERS)
        if self.detector.quanta_model == "nest":
            for t in _yield_param_types(self.recoil_type):
                names += list(t._fields)
        return tuple(names)

    def defaults(self) -> dict[str, float]:
        """Default value of every parameter (detector config and NEST defaults)."""
        d = self.detector
        out = {
            "g1": d.g1,
            "g2": d.g2,
            "double_pe_fraction": d.double_pe_fraction,
            "pe_resolution": d.pe_resolution,
            "extraction_efficiency": d.extraction_efficiency,
            "se_width": d.se_width,
            "electron_lifetime_us": d.electron_lifetime_us,
            "drift_field_v_cm": d.drift_field_v_cm,
            "liquid_density_g_cm3": d.liquid_density_g_cm3,
        }
        if d.quanta_model == "nest":
            for t in self._quanta_params():
                out.update({k: float(v) for k, v in t._asdict().items()})
        return out

    def _quanta_params(self) -> tuple:
        """(yield, width) NEST parameters at the defaults: the source's own
        ``quanta_params`` (the ones its events are simulated with) or NEST's."""
        qp = self.source.quanta_params
        return (
            tuple(qp)
            if qp is not None
            else tuple(t() for t in _yield_param_types(self.recoil_type))
        )

    def check_parameters(self, theta: dict[str, Any]) -> None:
        """Raise a one-line error for parameter names this source does not know."""
        known = set(self.parameter_names())
        for k in theta:
            if k not in known:
                raise bad_value("parameter", k, f"one of {sorted(known)}")

    def _resolve(self, theta: dict[str, Any]):
        """(ResponseParams, field, density, quanta_params) at ``theta``."""
        d = self.detector
        rp = response_params(d)
        upd = {k: theta[k] for k in ResponseParams._fields if k in theta}
        rp = rp._replace(**upd)
        if "double_pe_fraction" in theta and d.s1_units == "phd":
            rp = rp._replace(s1_divisor=1.0 + theta["double_pe_fraction"])
        if "g2" in theta:
            rp = rp._replace(se_gain=theta["g2"] / rp.extraction_efficiency)
        elif "extraction_efficiency" in theta:  # keep the single-electron gain fixed
            rp = rp._replace(se_gain=d.se_gain)
        fld = theta.get("drift_field_v_cm", d.drift_field_v_cm)
        rho = theta.get("liquid_density_g_cm3", d.liquid_density_g_cm3)
        qp = None
        if d.quanta_model == "nest":
            qp = tuple(
                t._replace(**{k: theta[k] for k in t._fields if k in theta})
                for t in self._quanta_params()
            )
        return rp, fld, rho, qp

    # ------------------------------------------------------------------ static bounds
    def _roi_bounds(self) -> dict:
        """Largest hidden counts that can still reach the ROI (with margin)."""
        d, roi, m, z = self.detector, self.detector.roi, self.margin, self.n_sigma
        rp = response_params(d)
        div = float(rp.s1_divisor)
        npe_max = roi.s1_max * div + z * d.pe_resolution * np.sqrt(roi.s1_max * div) + 5
        ndet_max = npe_max  # n_pe >= n_det
        eff_min = float(g1_min(d)) / m
        nph_max = _thinning_upper(ndet_max, eff_min, z)
        gain_min = d.se_gain * float(s2_map_min(d)) / m
        next_max = (
            roi.s2_max / gain_min + z * d.se_width * np.sqrt(roi.s2_max / gain_min) / gain_min + 5
        )
        t_max = -d.fiducial.z_min_cm / d.drift_velocity_cm_us
        surv_min = d.extraction_efficiency * np.exp(-t_max * m / d.electron_lifetime_us) / m
        nel_max = _thinning_upper(next_max, surv_min, z)
        nq_max = self._source_nq_max()
        return {
            "n_pe": int(np.ceil(npe_max)),
            "n_det": int(np.ceil(ndet_max)),
            "n_ph": int(np.ceil(min(nph_max, nq_max))),
            "n_ext": int(np.ceil(next_max)),
            "n_el": int(np.ceil(min(nel_max, self._source_ne_max(nq_max)))),
        }

    def _source_nq_max(self) -> float:
        """Largest number of quanta the source's spectrum can produce (10 sigma, with margin)."""
        from darkfit.model import quanta

        c = self.cells
        e_top = max(
            float(np.max(c.cell_hi)) if c.cell_hi.size else 0.0,
            float(np.max(c.line_kev)) if c.line_kev.size else 0.0,
        )
        d = self.detector
        if d.quanta_model == "nest":
            m = quanta.nest_total_quanta(
                np.array([e_top]), self.recoil_type, d.drift_field_v_cm, d.liquid_density_g_cm3
            )
            mu, sd = float(m.n_quanta[0]), float(np.sqrt(m.fano[0] * m.n_quanta[0]))
            return self.margin * (mu + 10 * sd) + 10
        if self.recoil_type == "er":
            return e_top / quanta.FLAMEDISX_WORK_KEV + 2
        mu = e_top * float(quanta.flamedisx_lindhard(e_top)) / quanta.FLAMEDISX_WORK_KEV
        return mu + 12 * np.sqrt(mu) + 20

    def _source_ne_max(self, nq_max: float) -> float:
        """Largest number of electrons the source can produce: over Nq <= ``nq_max``, the
        largest mean + 10 sd of P(Ne | Nq) at the defaults, with margin, and at most Nq.

        An NR's electrons are a fraction of its quanta, so its table needs far fewer electron
        numbers than the S2 ROI allows (flamedisx preset, NR to 150 keV: P(Nph, Ne) > 1e-30 of
        its largest only up to Ne = 448; the table 2246 x 3610 -> 2246 x 524, 62 -> 9 MiB; lz,
        flat NR to 100 keV, 2166 x 2320 -> 2166 x 583). The probability beyond the bound is
        1e-52 .. 1e-86 of the table's (tests/model/test_quanta_table.py asserts < 1e-40).
        NEST NR alpha free, lz, 1272 events, full path (2 cores): value + gradient 1.77 ->
        1.12 s, Hessian 11.3 -> 5.9 s.
        """
        _, fld, rho, qp = self._resolve({})
        nq = np.arange(int(np.ceil(nq_max)) + 1, dtype=float)
        hi = _electron_hi(
            nq, fld, rho, qp, model=self.detector.quanta_model, recoil=self.recoil_type
        )
        return min(nq_max, self.margin * float(hi) + 10.0)

    def _lf(self, n_max: int) -> Array:
        return log_factorial_table(n_max)

    # ------------------------------------------------------------------ kernels
    def joint_table(self, theta: dict[str, Any], n_ph: int, n_el: int) -> Array:
        """P(Nph, Ne) on 0..n_ph x 0..n_el at ``theta``."""
        _, fld, rho, qp = self._resolve(theta)
        kw = dict(
            model=self.detector.quanta_model,
            recoil_type=self.recoil_type,
            field_v_cm=fld,
            density_g_cm3=rho,
            quanta_params=qp,
        )
        p_nq = quanta_pmf(self.cells, n_ph + n_el, **kw)
        return joint_quanta_table(p_nq, n_ph, n_el, self._lf(n_ph + n_el), **kw)

    def table_parameter_names(self) -> tuple[str, ...]:
        """Parameters the joint quanta table depends on (field, density, yield parameters)."""
        yields = [k for k in self.parameter_names() if k not in DETECTOR_PARAMETERS]
        return (*yields, "drift_field_v_cm", "liquid_density_g_cm3")

    def quanta_table(self, theta: dict[str, Any], transposed: bool = False) -> Array:
        """The joint table P(Nph, Ne) on the ROI bounds (or P(Ne, Nph) with ``transposed``).

        When ``theta`` sets none of :meth:`table_parameter_names` (or sets them to their
        default values, as plain numbers) the table is computed once, at the defaults, and
        reused as a constant, so fits of detector parameters do not recompute it.
        """
        b = self.bounds
        defaults = self.defaults()
        if any(
            k in theta and (isinstance(theta[k], jax.core.Tracer) or theta[k] != defaults[k])
            for k in self.table_parameter_names()
        ):
            table = self.joint_table(theta, b["n_ph"], b["n_el"])
            return table.T if transposed else table
        if "table_t" not in self._cache:
            # a compiled executable returns concrete arrays even when called inside a trace;
            # only P(Ne, Nph) is kept (the NR table of the flamedisx preset is 65 MB): inside
            # compiled code the transpose below folds into the contraction that uses it
            compiled = (
                jax.jit(lambda: self.joint_table({}, b["n_ph"], b["n_el"]).T).lower().compile()
            )
            with jax.ensure_compile_time_eval():
                self._cache["table_t"] = compiled()
        table_t = self._cache["table_t"]
        return table_t if transposed else table_t.T

    def _position_nodes(self, rp: ResponseParams):
        """Quadrature over the fiducial volume: (weights, photon eff., survival, S2 gain)."""
        d = self.detector
        fv = d.fiducial
        z, wz = acceptance.gauss_legendre(fv.z_min_cm, fv.z_max_cm, N_Z_NODES)
        if d.s1_map is not None or d.s2_map is not None:
            r2, wr = acceptance.gauss_legendre(0.0, fv.r_max_cm**2, N_R_NODES)
        else:
            r2, wr = np.array([0.0]), np.array([1.0])
        rr, zz = np.meshgrid(np.sqrt(r2), z, indexing="ij")
        ww = jnp.asarray((wr[:, None] * wz[None, :]).ravel())
        rr, zz = jnp.asarray(rr.ravel()), jnp.asarray(zz.ravel())
        eff = photon_detection_efficiency(rp, rr, zz)
        surv = electron_survival(rp, -zz / d.drift_velocity_cm_us)
        return ww, eff, surv, s2_gain(rp, rr)

    def s1_acceptance(self, theta: dict[str, Any]) -> Array:
        """Acc1(Nph) at the position nodes, shape (1, n_ph + 1) without an S1 map, else
        (n_nodes, n_ph + 1)."""
        d, b = self.detector, self.bounds
        rp, *_ = self._resolve(theta)
        lf = self._lf(self._lf_size())
        _, eff, _, _ = self._position_nodes(rp)

        def acc1(e):
            return acceptance.s1_acceptance(
                b["n_ph"],
                b["n_det"],
                b["n_pe"],
                e,
                rp,
                d.roi.s1_min,
                d.roi.s1_max,
                d.s1_coincidence,
                lf,
            )

        return acc1(eff[0])[None, :] if d.s1_map is None else jax.lax.map(acc1, eff)

    def s2_acceptance(self, theta: dict[str, Any], n_el: int | None = None) -> tuple[Array, Array]:
        """(quadrature weights, Acc2(Ne) at the position nodes, shape (n_nodes, n_el + 1));
        ``n_el`` defaults to the quanta table's largest electron number."""
        d, b = self.detector, self.bounds
        n_el = b["n_el"] if n_el is None else n_el
        rp, *_ = self._resolve(theta)
        lf = self._lf(self._lf_size())
        ww, _, surv, gain = self._position_nodes(rp)
        roi = d.roi
        s2w = acceptance.s2_windows(
            roi.s2_min,
            roi.s2_max,
            d.se_gain * s2_map_min(d) / self.margin,
            d.se_width * self.margin,
        )

        def acc2(p, g):
            return acceptance.s2_acceptance(n_el, s2w, p, g, rp, roi.s2_min, roi.s2_max, lf)

        # all nodes by one vectorised call when their binomial matrices are small (fewer
        # compiled kernels than a loop: value + gradient + Hessian of a fit's mu, flamedisx
        # preset, 0.4 s less compilation), else in batches of at most ACC2_BATCH_BYTES
        per_node = 8 * (n_el + 1) * (s2w.low + s2w.high)
        batch = max(1, ACC2_BATCH_BYTES // per_node)
        if batch >= len(surv):
            return ww, jax.vmap(acc2)(surv, gain)
        return ww, jax.lax.map(lambda pg: acc2(*pg), (surv, gain), batch_size=batch)

    def roi_fraction(
        self,
        theta: dict[str, Any],
        s1_table: Array | None = None,
        s2_acceptance: tuple[Array, Array] | None = None,
    ) -> Array:
        """P(pass S1 coincidence and S1/S2 ROI) for an interaction in the fiducial volume.

        ``s1_table``: optionally Acc1 @ P(Nph, Ne) precomputed (:meth:`s1_table`) when
        neither the S1 response nor the quanta table change with ``theta``; it may stop at a
        smaller Ne than the table (Acc2 is computed only as far as it goes).
        ``s2_acceptance``: optionally :meth:`s2_acceptance` at ``theta`` precomputed (it does
        not depend on the source), on at least as many Ne as ``s1_table``.
        """
        if s1_table is None:
            s1_table = self.s1_table(theta)
        n = s1_table.shape[1]
        ww, a2 = s2_acceptance or self.s2_acceptance(theta, n - 1)
        a2 = a2[:, :n]
        if s1_table.shape[0] == 1:
            return s1_table[0] @ (ww @ a2)
        return jnp.sum(ww * jnp.einsum("nj,nj->n", s1_table, a2))

    def s1_table(self, theta: dict[str, Any]) -> Array:
        """sum_Nph Acc1(Nph) P(Nph, Ne) per position node, shape (1 or n_nodes, n_el + 1)."""
        return self.s1_acceptance(theta) @ self.quanta_table(theta)

    def expected_events(self, theta: dict[str, Any], exposure_tonne_year: float) -> Array:
        """mu = total interaction rate x exposure x ROI fraction [events]."""
        return self.cells.total * exposure_tonne_year * self.roi_fraction(theta)

    def event_inputs(self, theta: dict[str, Any], events) -> diffrate.EventInputs:
        """Per-event observables and position-dependent detector factors at ``theta``."""
        rp, *_ = self._resolve(theta)
        return _event_inputs(rp, events)

    def _windows(self, theta: dict[str, Any], events):
        """(EventInputs, ResponseParams, Windows) of these events at ``theta``."""
        rp, *_ = self._resolve(theta)
        ev = self.event_inputs(theta, events)
        w = diffrate.event_windows(
            ev,
            rp.double_pe_fraction,
            rp.pe_resolution,
            rp.s1_divisor,
            rp.se_width,
            self.n_sigma,
            (self.bounds["n_ph"] + 1, self.bounds["n_el"] + 1),
        )
        return ev, rp, w

    def _windows_now(self, theta: dict[str, Any], events) -> diffrate.Windows:
        """The events' windows at ``theta`` as NumPy arrays (for static sizes), computed by one
        compiled call shared by all sources and parameter points."""
        rp, *_ = self._resolve({k: float(v) for k, v in theta.items()})
        rp = jax.tree_util.tree_map(lambda a: np.asarray(a, dtype=np.float64), rp)
        cols = ("s1", "s2", "r", "z", "drift_time")
        ev = {c: np.asarray(events[c], dtype=float) for c in cols}
        table_shape = (self.bounds["n_ph"] + 1, self.bounds["n_el"] + 1)
        return jax.device_get(_windows_kernel(rp, self.n_sigma, ev, table_shape))

    def _sizes_for(self, need: diffrate.WindowSizes) -> diffrate.WindowSizes:
        caps = self.caps or (1 << 30,) * 5
        table = (1 << 30, 1 << 30, self.bounds["n_ph"] + 1, 1 << 30, self.bounds["n_el"] + 1)
        # a capped axis always uses its cap, so an event's step depends only on the event
        # itself (batch independence); uncapped axes cover the widest window (masked beyond).
        return diffrate.WindowSizes(
            *(
                min(cap if cap < (1 << 30) else int(np.ceil(self.margin * n + 4)), t)
                for n, cap, t in zip(need, caps, table, strict=True)
            )
        )

    def window_sizes(self, theta: dict[str, Any], events) -> diffrate.WindowSizes:
        """Static window lengths for these events (with this model's margin, capped)."""
        return self._sizes_for(diffrate.window_sizes(self._windows_now(theta, events)))

    def plan(self, theta: dict[str, Any], events, n_buckets: int = 4) -> EventPlan:
        """Group events by the length of their photon window, each group with its own static
        window lengths, so a few wide events do not pad everyone (results are unchanged:
        windows are masked per event)."""
        w = self._windows_now(theta, events)
        need_ph = np.asarray(w.ph[1] - w.ph[0] + 1)
        order = np.argsort(need_ph, kind="stable")
        groups = [g for g in np.array_split(order, max(1, min(n_buckets, len(order)))) if g.size]
        out = []
        for g in groups:
            sub = diffrate.Windows(*((np.asarray(a)[g], np.asarray(b)[g]) for a, b in w))
            out.append((np.sort(g), self._sizes_for(diffrate.window_sizes(sub))))
        return EventPlan(tuple(out), len(order))

    def _lf_size(self) -> int:
        b = self.bounds
        return int(2 * max(b.values()) + 10)

    def log_density(
        self,
        theta: dict[str, Any],
        events,
        sizes: diffrate.WindowSizes | EventPlan,
        batch_size: int = 64,
    ) -> Array:
        """log f(s1, s2 | position) per event [log(1/phd^2)].

        ``sizes``: static window lengths for all events (:meth:`window_sizes`) or an
        :class:`EventPlan` (:meth:`plan`) that groups events by window length.
        """
        ev, rp, win = self._windows(theta, events)
        table = self.quanta_table(theta, transposed=True)
        lf = self._lf(self._lf_size())

        def run(e, w, s):
            return diffrate.log_diff_rate(
                e, w, table, rp, self.detector.s1_coincidence, lf, s, batch_size
            )

        if isinstance(sizes, diffrate.WindowSizes):
            return run(ev, win, sizes)
        out = jnp.zeros(sizes.n_events)
        for idx, s in sizes.groups:
            pick = jax.tree_util.tree_map(lambda a, idx=idx: a[idx], (ev, win))
            out = out.at[idx].set(run(*pick, s))
        return out


def _event_inputs(rp: ResponseParams, events) -> diffrate.EventInputs:
    s1, s2, r, z, t = (
        jnp.asarray(events[c] if isinstance(events[c], jax.Array) else np.asarray(events[c], float))
        for c in ("s1", "s2", "r", "z", "drift_time")
    )
    return diffrate.EventInputs(
        s1, s2, photon_detection_efficiency(rp, r, z), electron_survival(rp, t), s2_gain(rp, r)
    )


@functools.partial(jax.jit, static_argnames=("model", "recoil"))
def _electron_hi(nq, field_v_cm, density_g_cm3, quanta_params, *, model: str, recoil: str):
    """max over ``nq`` of the mean + 10 sd of P(Ne | Nq) (one compiled call: op by op, the
    NEST recombination's dozens of operations took 0.8 s and 50 MB to build a likelihood)."""
    mean, sd = electron_moments(
        nq,
        model=model,
        recoil_type=recoil,
        field_v_cm=field_v_cm,
        density_g_cm3=density_g_cm3,
        quanta_params=quanta_params,
    )
    return jnp.max(mean + 10.0 * sd)


@functools.partial(jax.jit, static_argnames="n_sigma")
def _windows_kernel(rp: ResponseParams, n_sigma: float, events, table_shape) -> diffrate.Windows:
    """Hidden-variable windows of ``events`` stopped at the edge of a quanta table of shape
    ``table_shape`` (an argument, not a constant: one compilation serves every source)."""
    ev = _event_inputs(rp, events)
    return diffrate.event_windows(
        ev,
        rp.double_pe_fraction,
        rp.pe_resolution,
        rp.s1_divisor,
        rp.se_width,
        n_sigma,
        table_shape,
    )


class EventPlan(NamedTuple):
    """Events grouped by window length: ((indices, WindowSizes), ...) and the event count."""

    groups: tuple
    n_events: int


def _thinning_upper(k: float, p: float, n_sigma: float) -> float:
    """Largest N compatible with k ~ Binomial(N, p) at n_sigma (as the per-event windows)."""
    sd = np.sqrt(k * (1 - p)) / p
    return k / p + n_sigma * sd + 0.5 * n_sigma**2 * (1 - p) / p + 2


def g1_min(d: Detector) -> float:
    """Smallest photon detection efficiency in the fiducial volume."""
    if d.s1_map is None:
        return d.g1
    return d.g1 * float(np.min(d.s1_map.values))


def s2_map_min(d: Detector) -> float:
    """Smallest relative S2 gain."""
    return 1.0 if d.s2_map is None else float(np.min(d.s2_map.values))


__all__ = ["SourceRateModel"]
