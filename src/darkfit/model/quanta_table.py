"""The joint distribution of produced photons and electrons of a source, as a table.

For every quanta model in darkfit the electrons depend on the event only through the total
number of quanta Nq (see :mod:`darkfit.model.quanta`), so

    P(Nph, Ne) = P(Nq = Nph + Ne) * P(Ne | Nq),   P(Nq) = sum_E w(E) P(Nq | E) / sum_E w(E)

where w(E) are the quadrature weights of the source's energy spectrum. This table depends on
the source and the yield/field parameters, not on the events: the per-event rate kernels and
the expected-count kernel both read it. All functions are pure JAX and differentiable in the
yield parameters.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.scipy.stats import norm

from darkfit.model import quanta
from darkfit.model._counting import (
    log_beta_binom_pmf,
    log_binom_pmf,
    log_factorial_table,
    log_poisson_pmf,
    rounded_normal_pmf,
)


class EnergyCells(NamedTuple):
    """A spectrum discretised for the quanta table.

    Continuous parts are cells ``[cell_lo[i], cell_hi[i]]`` [keV] holding ``cell_weights[i]``
    (the rate integrated over the cell, events/(tonne year)); lines are points ``line_kev`` with
    ``line_weights``. The total rate is the sum of all weights.
    """

    cell_lo: np.ndarray
    cell_hi: np.ndarray
    cell_weights: np.ndarray
    line_kev: np.ndarray
    line_weights: np.ndarray

    @property
    def total(self) -> float:
        return float(self.cell_weights.sum() + self.line_weights.sum())


#: Number of energy cells used for continuous spectra (half log-, half linearly spaced).
N_ENERGY_CELLS = 800


def energy_cells(spectrum, n_cells: int = N_ENERGY_CELLS) -> EnergyCells:
    """Discretise a spectrum into cells (continuous parts) and lines (discrete parts).

    Cell weights are integrated with 4-point Gauss-Legendre inside each cell.
    """
    comps = getattr(spectrum, "components", (spectrum,))
    los, his, w_all, lines, lw = [], [], [], [], []
    for c in comps:
        if getattr(c, "is_discrete", False):
            e, w = c.energy_grid()
            lines.append(np.asarray(e, dtype=float))
            lw.append(np.asarray(w, dtype=float))
            continue
        lo, hi = float(c.e_min_kev), float(c.e_max_kev)
        lin = np.linspace(lo, hi, n_cells // 2 + 1)
        log = np.geomspace(max(lo, hi * 1e-4, 1e-3), hi, n_cells // 2 + 1)
        edges = np.unique(np.concatenate([lin, log[log > lo]]))
        x, gw = np.polynomial.legendre.leggauss(4)
        mid, half = (edges[1:] + edges[:-1]) / 2, (edges[1:] - edges[:-1]) / 2
        nodes = mid[:, None] + half[:, None] * x[None, :]
        rate = np.asarray(c.rate(jnp.asarray(nodes.ravel())), dtype=float).reshape(nodes.shape)
        los.append(edges[:-1])
        his.append(edges[1:])
        w_all.append((rate * gw[None, :]).sum(axis=1) * half)

    def cat(parts):
        return np.concatenate(parts) if parts else np.zeros(0)

    return EnergyCells(cat(los), cat(his), cat(w_all), cat(lines), cat(lw))


def _g(z: Array) -> Array:
    """Antiderivative of the normal CDF, G(z) = z Phi(z) + phi(z) (G' = Phi)."""
    return z * norm.cdf(z) + norm.pdf(z)


def _cell_avg_cdf(x: Array, u_a: Array, u_b: Array, s: Array) -> Array:
    """Average over u in [u_a, u_b] of Phi((x - u) / s) (u_a < u_b)."""
    za, zb = (x - u_a) / s, (x - u_b) / s
    # G(z) = max(z, 0) + G(-|z|): separate the exactly cancelling linear part
    lin = jnp.maximum(za, 0.0) - jnp.maximum(zb, 0.0)
    return s * (lin + _g(-jnp.abs(za)) - _g(-jnp.abs(zb))) / (u_b - u_a)


def _cell_avg_rounded_normal(n: Array, u_a: Array, u_b: Array, s: Array) -> Array:
    """Average over the mean u in [u_a, u_b] of P(max(0, round(Normal(u, s))) = n).

    Above the cell's middle the difference is taken between the small upper-tail averages
    1 - avg Phi, i.e. avg Phi((u - x) / s) = the same average at -x over [-u_b, -u_a], not
    between two averages near 1: those cancel to ~1e-16 absolute, so P(Nq) beyond a spectrum's
    endpoint was rounding noise below ~1e-13 (NEST ER, 0.5-10 keV: entries of the quanta table
    ~1e-20 of its largest off by up to 17%, and up to 1e-4 relative at 1e-10, between two
    compilations of the same table).
    """
    right = n - 0.5 > 0.5 * (u_a + u_b)
    # on the right, the mirror image: P(n) = avg over u' in [-u_b, -u_a] of
    # Phi((-n + 1/2 - u') / s) - Phi((-n - 1/2 - u') / s)
    m = jnp.where(right, -n, n)
    lo, hi = jnp.where(right, -u_b, u_a), jnp.where(right, -u_a, u_b)
    upper = _cell_avg_cdf(m + 0.5, lo, hi, s)
    lower = jnp.where(~right & (n <= 0), 0.0, _cell_avg_cdf(m - 0.5, lo, hi, s))
    return jnp.maximum(upper - lower, 0.0)


def quanta_pmf(
    cells: EnergyCells,
    n_max: int,
    *,
    model: str,
    recoil_type: str,
    field_v_cm: float,
    density_g_cm3: float,
    quanta_params=None,
) -> Array:
    """P(Nq) for Nq = 0..n_max, marginalised over the (normalised) energy spectrum.

    For the ``nest`` model the mean quanta is taken linear in E across each energy cell and the
    Gaussian is averaged over the cell analytically (so narrow Fano widths need no fine energy
    grid); lines use the rounded Normal directly. For the ``flamedisx`` model, ER quanta are
    floor(E/W) and NR quanta Poisson(E L(E)/W), evaluated at cell centres and lines.
    Probability above n_max is dropped (the caller chooses n_max beyond the ROI).
    """
    nq = jnp.arange(n_max + 1, dtype=jnp.float64)
    total = cells.total
    out = jnp.zeros(n_max + 1)
    if model == "nest":
        args = (recoil_type, field_v_cm, density_g_cm3, quanta_params)
        if cells.cell_weights.size:
            lo, hi = jnp.asarray(cells.cell_lo), jnp.asarray(cells.cell_hi)
            u_a = quanta.nest_total_quanta(lo, *args).n_quanta
            u_b = quanta.nest_total_quanta(hi, *args).n_quanta
            m_mid = quanta.nest_total_quanta((lo + hi) / 2, *args)
            s = jnp.sqrt(jnp.maximum(m_mid.fano * m_mid.n_quanta, 1e-6))
            wide = (u_b - u_a) > 1e-3 * s
            u_b_safe = jnp.where(wide, u_b, u_a + 1.0)
            avg = _cell_avg_rounded_normal(nq[None, :], u_a[:, None], u_b_safe[:, None], s[:, None])
            mid = rounded_normal_pmf(nq[None, :], m_mid.n_quanta[:, None], s[:, None], 0.0, jnp.inf)
            p = jnp.where(wide[:, None], avg, mid)
            out = out + jnp.asarray(cells.cell_weights) @ p
        if cells.line_weights.size:
            m = quanta.nest_total_quanta(jnp.asarray(cells.line_kev), *args)
            s = jnp.sqrt(jnp.maximum(m.fano * m.n_quanta, 1e-6))
            p = rounded_normal_pmf(nq[None, :], m.n_quanta[:, None], s[:, None], 0.0, jnp.inf)
            out = out + jnp.asarray(cells.line_weights) @ p
        return out / total
    e = np.concatenate([(cells.cell_lo + cells.cell_hi) / 2, cells.line_kev])
    w = jnp.asarray(np.concatenate([cells.cell_weights, cells.line_weights]))
    e = jnp.asarray(e)
    if recoil_type == "er":  # flamedisx ER: Nq = floor(E / W), no fluctuation
        # cells: the part of each cell's weight inside [Nq W, (Nq + 1) W) (uniform in the cell)
        edges = jnp.arange(n_max + 2, dtype=jnp.float64) * quanta.FLAMEDISX_WORK_KEV
        lo, hi = jnp.asarray(cells.cell_lo), jnp.asarray(cells.cell_hi)
        frac = jnp.clip((edges[:, None] - lo[None, :]) / (hi - lo)[None, :], 0.0, 1.0)
        cdf = frac @ jnp.asarray(cells.cell_weights)
        out = jnp.diff(cdf)
        nq_l = jnp.floor(jnp.asarray(cells.line_kev) / quanta.FLAMEDISX_WORK_KEV)
        p_l = (nq[None, :] == nq_l[:, None]).astype(jnp.float64)
        return (out + jnp.asarray(cells.line_weights) @ p_l) / total
    else:  # flamedisx NR: Poisson around E L(E) / W
        mu = e * quanta.flamedisx_lindhard(e) / quanta.FLAMEDISX_WORK_KEV
        p = jnp.exp(log_poisson_pmf(nq[None, :], mu[:, None], log_factorial_table(n_max)))
    return (w @ p) / total


def electron_pmf(
    n_el: Array,
    n_q: Array,
    lf: Array,
    *,
    model: str,
    recoil_type: str,
    field_v_cm: float,
    density_g_cm3: float,
    quanta_params=None,
) -> Array:
    """P(Ne = n_el | Nq = n_q), broadcasting over ``n_el`` and ``n_q`` (integer-valued floats).

    ``lf`` is a log-factorial table covering the largest ``n_q``.
    """
    n_el, n_q = jnp.broadcast_arrays(
        jnp.asarray(n_el, dtype=jnp.float64), jnp.asarray(n_q, dtype=jnp.float64)
    )
    kw = dict(model=model, recoil_type=recoil_type)
    shape = _electron_shape(
        n_q, **kw, field_v_cm=field_v_cm, density_g_cm3=density_g_cm3, quanta_params=quanta_params
    )
    return _electron_pmf_given_shape(n_el, n_q, shape, lf, **kw)


def _electron_shape(
    n_q: Array,
    *,
    model: str,
    recoil_type: str,
    field_v_cm: float,
    density_g_cm3: float,
    quanta_params=None,
) -> tuple[Array, ...]:
    """The parameters of P(Ne | Nq) as functions of Nq alone: (mean, sd) of the rounded normal
    (NEST), (a, b) of the beta-binomial (flamedisx ER) or (p,) of the binomial (flamedisx NR)."""
    if model == "nest":
        rec = quanta.nest_recombination(n_q, recoil_type, field_v_cm, density_g_cm3, quanta_params)
        sd = jnp.maximum(quanta.electron_sd_given_quanta(n_q, rec), 1e-9)
        return rec.electron_fraction * n_q, sd
    if recoil_type == "er":
        return quanta.beta_params(
            1.0 - quanta.flamedisx_er_electron_fraction(n_q), quanta.flamedisx_er_fluctuation(n_q)
        )
    return (quanta.flamedisx_nr_electron_fraction(n_q, field_v_cm),)


def electron_moments(n_q: Array, **model_kw) -> tuple[Array, Array]:
    """Mean and standard deviation of Ne given ``n_q`` total quanta, in each quanta model
    (``model_kw`` as for :func:`electron_pmf`: model, recoil_type, field_v_cm, density_g_cm3,
    quanta_params).

    NEST: the rounded normal's (mean, sd). flamedisx ER: photons ~ BetaBinomial(Nq, a, b), so
    Ne = Nq - Nph has mean Nq b / (a + b) and variance Nq p q (a + b + Nq) / (a + b + 1) with
    p = a / (a + b), q = 1 - p (the beta-binomial's moments). flamedisx NR: Binomial(Nq, p_e).
    """
    n_q = jnp.asarray(n_q, dtype=jnp.float64)
    shape = _electron_shape(n_q, **model_kw)
    model, recoil_type = model_kw["model"], model_kw["recoil_type"]
    if model == "nest":
        return shape
    if recoil_type == "er":
        a, b = shape
        p = a / (a + b)
        var = n_q * p * (1.0 - p) * (a + b + n_q) / (a + b + 1.0)
        return n_q * (1.0 - p), jnp.sqrt(var)
    (p_e,) = shape
    return n_q * p_e, jnp.sqrt(n_q * p_e * (1.0 - p_e))


def _electron_pmf_given_shape(
    n_el: Array, n_q: Array, shape: tuple[Array, ...], lf: Array, *, model: str, recoil_type: str
) -> Array:
    if model == "nest":
        mean, sd = shape
        p = rounded_normal_pmf(n_el, mean, sd, 0.0, n_q)
        # Nq = 0: all mass at Ne = 0
        return jnp.where(n_q == 0, (n_el == 0).astype(jnp.float64), p)
    if recoil_type == "er":
        a, b = shape
        return jnp.exp(log_beta_binom_pmf(n_q - n_el, n_q, a, b, lf))
    (p_e,) = shape
    return jnp.exp(log_binom_pmf(n_el, n_q, p_e, lf))


def joint_quanta_table(
    nq_pmf: Array,
    n_ph_max: int,
    n_el_max: int,
    lf: Array,
    **model_kw,
) -> Array:
    """P(Nph, Ne) on the grid 0..n_ph_max x 0..n_el_max (shape (n_ph_max+1, n_el_max+1)).

    ``nq_pmf`` must cover Nq up to n_ph_max + n_el_max. The parameters of P(Ne | Nq) (NEST's
    recombination: a log-log interpolation and the yield formulas) are evaluated once per Nq,
    on n_ph_max + n_el_max + 1 values, and gathered onto the table, instead of once per table
    element: measured on the toy pull study's NEST NR table (701 x 701, derivatives in NEST
    alpha, 2 cores) value 0.107 -> 0.087 s, gradient 0.35 -> 0.19 s, Hessian 1.01 -> 0.31 s (its
    compilation 8.3 -> 5.7 s), equal to 1e-13; a toy fit with alpha free 12.9 -> 5.9 s.
    """
    nph = jnp.arange(n_ph_max + 1, dtype=jnp.float64)[:, None]
    nel = jnp.arange(n_el_max + 1, dtype=jnp.float64)[None, :]
    nq = nph + nel
    idx = nq.astype(jnp.int32)
    nq_1d = jnp.arange(n_ph_max + n_el_max + 1, dtype=jnp.float64)
    shape = tuple(a[idx] for a in _electron_shape(nq_1d, **model_kw))
    kw = {k: model_kw[k] for k in ("model", "recoil_type")}
    return nq_pmf[idx] * _electron_pmf_given_shape(nel, nq, shape, lf, **kw)


__all__ = ["electron_moments", "electron_pmf", "joint_quanta_table", "quanta_pmf"]
