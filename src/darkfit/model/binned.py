"""Exact expected counts per bin of (s1, s2) [and drift time]: the binned templates.

The same chain as :mod:`darkfit.model.acceptance`, with the ROI edges replaced by a vector of
bin edges. For an interaction of the source at a position with photon detection efficiency
eps, electron survival p and S2 gain G, the probability to land in S1 bin i and S2 bin j is

    P_ij = sum_{Nph, Ne} P(Nph, Ne) A_i(Nph) B_j(Ne)
    A_i(Nph) = sum_{n_det >= k} Binom(n_det | Nph, eps) sum_{n_pe} Binom(n_pe - n_det | n_det,
               p_dpe) [Phi((c e_{i+1} - n_pe) / (sigma_pe sqrt n_pe)) - Phi((c e_i - ...) / ...)]
    B_j(Ne)  = sum_{n_ext >= 1} Binom(n_ext | Ne, p) [Phi((f_{j+1} - n_ext G) / (sigma_SE
               sqrt n_ext)) - Phi((f_j - n_ext G) / (sigma_SE sqrt n_ext))]

(k the S1 coincidence, c = 1 + p_dpe for S1 in phd; e_i, f_j the S1, S2 bin edges). The sum
over extracted electrons runs up to S2_EDGE_SIGMA = 10 standard deviations above the highest S2
edge (the neglected tail is below 1e-23); the theta-independent binomial coefficients are
computed once per call and shared by all position nodes. Positions are
integrated by Gauss-Legendre quadrature in z inside each drift-time bin (uniform in z over the
fiducial volume, drift_time = -z / v_drift) and in r^2 when the detector has position maps.
Everything is a pure JAX function of theta: exact (no Monte Carlo, no interpolation) and
differentiable in every parameter. Summed over a binning that covers the ROI it equals
:meth:`SourceRateModel.roi_fraction` (tests/likelihood/test_binned.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.scipy.stats import norm

from darkfit._errors import bad_value
from darkfit.model import acceptance
from darkfit.model._counting import log_binom_pmf, log_factorial_table
from darkfit.model.rate_model import (
    DETECTOR_PARAMETERS,
    N_R_NODES,
    SourceRateModel,
    g1_min,
    s2_map_min,
)
from darkfit.model.response import (
    electron_survival,
    photon_detection_efficiency,
    response_params,
    s2_gain,
)

#: Gauss-Legendre nodes in z per drift-time bin (16 over the whole fiducial height when there
#: are no drift-time bins; 3 x 8 and 16 nodes agree to < 1e-5 relative per bin,
#: tests/likelihood/test_binned.py).
N_Z_NODES_PER_BIN = 8
#: How far the extracted-electron sum reaches above the highest S2 edge [standard deviations].
S2_EDGE_SIGMA = 10.0


def normal_interval(lo: Array, hi: Array, mean: Array, sd: Array) -> Array:
    """P(lo <= X <= hi) for X ~ Normal(mean, sd), taken on the small-tail side of the mean."""
    z_hi, z_lo = (hi - mean) / sd, (lo - mean) / sd
    right = z_lo > 0
    return jnp.where(right, norm.cdf(-z_lo) - norm.cdf(-z_hi), norm.cdf(z_hi) - norm.cdf(z_lo))


def s1_bin_acceptance(
    n_ph_max: int,
    n_det_max: int,
    n_pe_max: int,
    eff: Array,
    rp,
    s1_edges: Array,
    coincidence: int,
    lf: Array,
) -> Array:
    """A_i(Nph) for Nph = 0..n_ph_max and the S1 bins between ``s1_edges`` [phd or PE].

    Shape (n_ph_max + 1, len(s1_edges) - 1); ``eff`` is the photon detection efficiency
    (scalar). The S1 coincidence (n_det >= ``coincidence``) is included.
    """
    npe = jnp.arange(1, n_pe_max + 1, dtype=jnp.float64)[:, None]
    sd = jnp.maximum(rp.pe_resolution, 1e-9) * jnp.sqrt(npe)
    edges = jnp.asarray(s1_edges) * rp.s1_divisor
    window = normal_interval(edges[None, :-1], edges[None, 1:], npe, sd)  # (n_pe, bins)
    ndet = jnp.arange(n_det_max + 1, dtype=jnp.float64)
    dpe = jnp.exp(log_binom_pmf(npe.T - ndet[:, None], ndet[:, None], rp.double_pe_fraction, lf))
    t1 = jnp.where((ndet >= coincidence)[:, None], dpe @ window, 0.0)
    nph = jnp.arange(n_ph_max + 1, dtype=jnp.float64)
    det = jnp.exp(log_binom_pmf(ndet[None, :], nph[:, None], eff, lf))
    return det @ t1


def s2_n_ext_max(edge_max: float, gain_min: float, se_width: float) -> int:
    """Largest extracted-electron count whose S2 can fall below ``edge_max`` [phd].

    ``gain_min`` and ``se_width`` should carry the slack in which the parameters may move; the
    normal tail beyond is below Phi(-S2_EDGE_SIGMA) ~ 1e-23.
    """
    c = max(edge_max / gain_min, 1.0)
    return int(np.ceil(c + S2_EDGE_SIGMA * se_width * np.sqrt(c) / gain_min + 5))


def log_choose_matrix(n_max: int, k_max: int, lf: Array) -> Array:
    """log C(n, k) for n = 0..n_max, k = 1..k_max (-inf where k > n); theta-independent."""
    n = jnp.arange(n_max + 1, dtype=jnp.int32)[:, None]
    k = jnp.arange(1, k_max + 1, dtype=jnp.int32)[None, :]
    ok = k <= n
    return jnp.where(ok, lf[n] - lf[k] - lf[jnp.where(ok, n - k, 0)], -jnp.inf)


def s2_bin_acceptance(
    log_choose: Array,
    survival: Array,
    gain: Array,
    se_width: Array,
    s2_edges: Array,
) -> Array:
    """B_j(Ne) for Ne = 0..n_el_max and the S2 bins between ``s2_edges`` (all > 0) [phd].

    ``log_choose`` is :func:`log_choose_matrix` (n_el_max, n_ext_max): the sum over extracted
    electrons runs over 1..n_ext_max (none extracted gives S2 = 0, below every bin), which must
    reach n_sigma above the highest edge (:func:`s2_n_ext_max`). ``survival`` and ``gain``
    are scalars. Shape (n_el_max + 1, len(s2_edges) - 1).
    """
    n_el_max, n_ext_max = log_choose.shape[0] - 1, log_choose.shape[1]
    nel = jnp.arange(n_el_max + 1, dtype=jnp.float64)[:, None]
    k = jnp.arange(1, n_ext_max + 1, dtype=jnp.float64)[None, :]
    # Binom(k | Ne, p) = C(Ne, k) p^k (1 - p)^(Ne - k); -inf (-> 0) where k > Ne
    log_b = (
        log_choose
        + k * jnp.log(survival)
        + jnp.where(k <= nel, nel - k, 0.0) * jnp.log1p(-survival)
    )
    w = jnp.maximum(se_width, 1e-9)
    edges = jnp.asarray(s2_edges)[None, :]
    kk = k.T
    t2 = normal_interval(edges[:, :-1], edges[:, 1:], kk * gain, w * jnp.sqrt(kk))
    return jnp.exp(log_b) @ t2


def _thinning_upper(k: float, p: float, n_sigma: float) -> float:
    """Largest N compatible with k ~ Binomial(N, p) at n_sigma (normal approximation of N | k
    with a skew margin for small k; the same bound as the rate model's table)."""
    sd = np.sqrt(k * (1 - p)) / p
    return k / p + n_sigma * sd + 0.5 * n_sigma**2 * (1 - p) / p + 2


def check_edges(name: str, edges: Sequence[float], lo: float, hi: float) -> np.ndarray:
    """Validate bin edges: finite, strictly increasing, at least two, inside [lo, hi]."""
    try:
        e = np.asarray(edges, dtype=float).ravel()
    except (TypeError, ValueError):
        raise bad_value(name, edges, "a sequence of numbers (bin edges)") from None
    if e.size < 2 or not np.all(np.isfinite(e)):
        raise bad_value(name, edges, "at least two finite bin edges")
    if np.any(np.diff(e) <= 0):
        i = int(np.flatnonzero(np.diff(e) <= 0)[0])
        raise bad_value(
            name, f"[..., {e[i]:g}, {e[i + 1]:g}, ...]", "strictly increasing bin edges"
        )
    tol = 1e-9 * max(abs(lo), abs(hi), 1.0)
    if e[0] < lo - tol or e[-1] > hi + tol:
        raise bad_value(name, f"[{e[0]:g} .. {e[-1]:g}]", f"edges inside [{lo:g}, {hi:g}]")
    return np.clip(e, lo, hi)


@dataclass(frozen=True, eq=False)
class BinnedRateModel:
    """Exact bin probabilities and expected counts of one source on an (s1, s2[, t]) binning.

    Args:
        model: the source's :class:`SourceRateModel` (quanta table, table bounds, parameters).
        s1_edges: S1 bin edges [phd] inside the detector's S1 ROI.
        s2_edges: S2 bin edges [phd] inside the S2 ROI (the ROI's s2_min must be > 0).
        drift_edges: optional drift-time bin edges [us] inside the fiducial drift range
            [-z_max / v, -z_min / v].
        n_z_nodes: Gauss-Legendre nodes in z per drift-time bin (16 in all without drift
            bins).
    """

    model: SourceRateModel
    s1_edges: np.ndarray
    s2_edges: np.ndarray
    drift_edges: np.ndarray | None = None
    n_z_nodes: int | None = None
    nodes: tuple = field(init=False)
    sizes: dict = field(init=False)
    _table: Array = field(init=False, repr=False)

    def __post_init__(self):
        d = self.model.detector
        roi, fv = d.roi, d.fiducial
        s1 = check_edges("s1_edges", self.s1_edges, roi.s1_min, roi.s1_max)
        s2 = check_edges("s2_edges", self.s2_edges, roi.s2_min, roi.s2_max)
        if s2[0] <= 0:
            raise bad_value("s2_edges", s2[0], "a lowest S2 edge > 0 phd")
        v = d.drift_velocity_cm_us
        t_lo, t_hi = -fv.z_max_cm / v, -fv.z_min_cm / v
        t = None
        if self.drift_edges is not None:
            t = check_edges("drift_edges", self.drift_edges, t_lo, t_hi)
        object.__setattr__(self, "s1_edges", s1)
        object.__setattr__(self, "s2_edges", s2)
        object.__setattr__(self, "drift_edges", t)
        n_z = self.n_z_nodes or (N_Z_NODES_PER_BIN if t is not None else 16)
        if not (isinstance(n_z, int) and n_z >= 1):
            raise bad_value("n_z_nodes", self.n_z_nodes, "a positive integer")
        object.__setattr__(self, "nodes", self._position_nodes(t, t_lo, t_hi, n_z))
        object.__setattr__(self, "sizes", self._sizes())
        sz = self.sizes
        table = jax.jit(lambda: self.model.joint_table({}, sz["n_ph"], max(sz["n_el"])))()
        object.__setattr__(self, "_table", np.asarray(table))

    def table_parameter_names(self) -> tuple[str, ...]:
        """Parameters the joint quanta table P(Nph, Ne) depends on (field, density, yields)."""
        return tuple(
            k
            for k in self.model.parameter_names()
            if k not in DETECTOR_PARAMETERS or k in ("drift_field_v_cm", "liquid_density_g_cm3")
        )

    def quanta_table(self, theta: dict[str, Any]) -> Array:
        """P(Nph, Ne) on this binning's ranges: computed at construction for the defaults and
        reused when ``theta`` sets none of :meth:`table_parameter_names`."""
        if any(k in theta for k in self.table_parameter_names()):
            sz = self.sizes
            return self.model.joint_table(theta, sz["n_ph"], max(sz["n_el"]))
        return jnp.asarray(self._table)

    @property
    def shape(self) -> tuple[int, ...]:
        """Number of bins along s1, s2 (and drift time)."""
        out = (self.s1_edges.size - 1, self.s2_edges.size - 1)
        return out if self.drift_edges is None else (*out, self.drift_edges.size - 1)

    def _sizes(self) -> dict:
        """Static sum ranges for this binning: the ROI bounds of the rate model, cut down to
        the highest S1/S2 edge (same n_sigma and margin), and per position-node group the
        largest produced-electron count that can reach the top S2 edge at the group's smallest
        electron survival."""
        sm, d = self.model, self.model.detector
        b, m, ns = sm.bounds, sm.margin, sm.n_sigma
        div = float(response_params(d).s1_divisor)
        x1 = float(self.s1_edges[-1]) * div
        n_pe = min(b["n_pe"], int(np.ceil(x1 + ns * d.pe_resolution * np.sqrt(x1) + 5)))
        n_ph = min(b["n_ph"], int(np.ceil(_thinning_upper(n_pe, g1_min(d) / m, ns))))
        gain_min = d.se_gain * s2_map_min(d) / m
        n_ext = s2_n_ext_max(float(self.s2_edges[-1]), gain_min, d.se_width * m)
        _, z, _, _, groups = self.nodes
        n_el = []
        for g in groups:
            t_max = -float(np.min(z[g])) / d.drift_velocity_cm_us
            p_min = d.extraction_efficiency * np.exp(-t_max * m / d.electron_lifetime_us) / m
            n_el.append(min(b["n_el"], int(np.ceil(_thinning_upper(n_ext, p_min, S2_EDGE_SIGMA)))))
        return {"n_pe": n_pe, "n_det": n_pe, "n_ph": n_ph, "n_ext": n_ext, "n_el": tuple(n_el)}

    def _position_nodes(self, t_edges, t_lo, t_hi, n_z):
        """(r, z, weight, drift-bin index, node groups) of the position quadrature.

        Weights sum to 1 over the fiducial volume. Groups (index arrays of at most n_z nodes,
        by depth) get their own static electron range.
        """
        d = self.model.detector
        fv, v = d.fiducial, d.drift_velocity_cm_us
        t_edges = np.array([t_lo, t_hi]) if t_edges is None else t_edges
        length = fv.z_max_cm - fv.z_min_cm
        zs, ws, ks = [], [], []
        for k in range(t_edges.size - 1):
            z_a, z_b = -t_edges[k + 1] * v, -t_edges[k] * v  # z_a < z_b
            z, wz = acceptance.gauss_legendre(z_a, z_b, n_z)
            zs.append(z)
            ws.append(wz * (z_b - z_a) / length)
            ks.append(np.full(n_z, k))
        z, wz, kz = (np.concatenate(a) for a in (zs, ws, ks))
        if d.s1_map is not None or d.s2_map is not None:
            r2, wr = acceptance.gauss_legendre(0.0, fv.r_max_cm**2, N_R_NODES)
        else:
            r2, wr = np.array([0.0]), np.array([1.0])
        rr, zz = np.meshgrid(np.sqrt(r2), z, indexing="ij")
        ww = wr[:, None] * wz[None, :]
        kk = np.broadcast_to(kz[None, :], rr.shape)
        rr, zz, ww, kk = rr.ravel(), zz.ravel(), ww.ravel(), kk.ravel()
        order = np.argsort(-zz, kind="stable")  # shallow (high survival) first
        n_groups = max(1, int(np.ceil(order.size / max(n_z, 8))))
        return rr, zz, ww, kk, tuple(np.array_split(order, n_groups))

    def bin_fractions(self, theta: dict[str, Any]) -> Array:
        """P(bin) for an interaction of the source in the fiducial volume, shape :attr:`shape`.

        Includes the S1 coincidence; summed over a binning covering the ROI it is the ROI
        fraction.
        """
        sm, d, sz = self.model, self.model.detector, self.sizes
        rp, *_ = sm._resolve(theta)
        n_el_all = max(sz["n_el"])
        lf = log_factorial_table(int(max(sz["n_ph"], n_el_all) + sz["n_ext"] + 10))
        log_choose = log_choose_matrix(n_el_all, sz["n_ext"], lf)
        table = self.quanta_table(theta)
        r, z, w, k, groups = self.nodes
        eff = photon_detection_efficiency(rp, jnp.asarray(r), jnp.asarray(z))
        surv = electron_survival(rp, -jnp.asarray(z) / d.drift_velocity_cm_us)
        gain = s2_gain(rp, jnp.asarray(r))
        s1e, s2e = jnp.asarray(self.s1_edges), jnp.asarray(self.s2_edges)

        def left_of(e):  # sum_Nph A_i(Nph) P(Nph, Ne), shape (n1, n_el + 1)
            a1 = s1_bin_acceptance(
                sz["n_ph"], sz["n_det"], sz["n_pe"], e, rp, s1e, d.s1_coincidence, lf
            )
            return a1.T @ table

        left = left_of(eff[0]) if d.s1_map is None else None
        per_node = jnp.zeros((r.size, *self.shape[:2]))
        for g, n_el in zip(groups, sz["n_el"], strict=True):
            # rematerialised in the backward pass: the gradient does not keep one binomial
            # matrix per node
            @jax.checkpoint
            def one(args, n_el=n_el):
                e, p, gn = args
                lt = left if left is not None else left_of(e)
                b2 = s2_bin_acceptance(log_choose[: n_el + 1], p, gn, rp.se_width, s2e)
                return lt[:, : n_el + 1] @ b2

            per_node = per_node.at[g].set(jax.lax.map(one, (eff[g], surv[g], gain[g])))
        per_node = per_node * jnp.asarray(w)[:, None, None]
        if self.drift_edges is None:
            return per_node.sum(axis=0)
        onehot = jnp.asarray(k[:, None] == np.arange(self.shape[2])[None, :], dtype=jnp.float64)
        return jnp.einsum("nij,nt->ijt", per_node, onehot)

    def expected_counts(self, theta: dict[str, Any], exposure_tonne_year: float) -> Array:
        """Expected events per bin = total rate x exposure x P(bin) [events]."""
        return self.model.cells.total * exposure_tonne_year * self.bin_fractions(theta)


__all__ = [
    "BinnedRateModel",
    "check_edges",
    "log_choose_matrix",
    "normal_interval",
    "s1_bin_acceptance",
    "s2_bin_acceptance",
    "s2_n_ext_max",
]
