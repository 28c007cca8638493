"""Toy-based Neyman construction: critical values of a test statistic versus the tested
signal, upper limits by scanning, expected-limit bands and power-constrained limits.

API summary (names are stable)::

    statistic_at(model, data, poi_values, statistic="q_tilde") -> (q (T,), ok (T,))
    critical_values(q_toys (T, K), cl=0.9, ok=None) -> CriticalValues
    toy_critical_values(model, make_toys, tested, n_toys, rng, cl=0.9,
                        statistic="q_tilde") -> CriticalValues
        # make_toys(rng, poi_value, n_toys) -> RateData (toys generated at that signal)
    crossing(tested, d (T, K), d_at_zero=None) -> UpperLimits   # first d <= 0 -> d > 0
    upper_limits(tested, q (T, K), crit (K,), q_zero_at_zero=True) -> UpperLimits
    limit_band(limits, n_sigma=(-2, -1, 0, 1, 2)) -> {N: quantile at Phi(N)}
    power_constrained(limits, background_limits, threshold_sigma=-1.0) -> PowerConstrained

The construction (J. Neyman, Phil. Trans. R. Soc. A 236 (1937) 333; with the profile
likelihood statistics of CCGV, arXiv:1007.1727): at each tested signal mu_k, toys generated
with that signal give the distribution of q_mu; its CL quantile c(mu_k) is the critical value
(the test rejects mu when q_mu(data) > c(mu); for discrete data this is conservative: the size
is <= 1 - CL). A dataset's upper limit is where its q_mu(mu) curve first rises above c(mu)
(linear interpolation of d = q - c between grid points). Limits below the grid (rejected at
the first point) and above it (never rejected) are flagged, never dropped: with
``q_zero_at_zero`` (q~_mu, and q_mu with mu_hat >= 0, vanish at mu = 0) the first interval is
interpolated from d(0) = -c(mu_0).

Power-constrained limits (Cowan, Cranmer, Gross, Vitells, arXiv:1105.3166): the limit is
max(mu_up, mu_min), with mu_min the signal that the background-only experiment excludes with
probability M_min, i.e. the Phi(threshold_sigma) quantile of the background-only limits.
``threshold_sigma = -1`` (M_min = 0.16, the value proposed in arXiv:1105.3166 and used by LZ,
arXiv:2207.03764) or ``0`` (M_min = 0.5, the median, as XENONnT, arXiv:2303.14729).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
from scipy import stats

from darkfit._errors import bad_value
from darkfit.inference.rate_fit import RateData, RateModel, concat_data, fit_configurations
from darkfit.inference.test_statistics import poi_lower_for, q0, q_mu, t_mu


def statistic_at(
    model: RateModel, data: RateData, poi_values, statistic: str = "q_tilde", **fit_kw
) -> tuple[np.ndarray, np.ndarray]:
    """The statistic of every toy at its own tested signal value (``poi_values`` scalar or
    (n_toys,)): one unconditional and one conditional fit per toy. For q0 the tested value is
    0 whatever ``poi_values`` says. Returns q (n_toys,) and both-fits-converged flags."""
    poi_lower = poi_lower_for(statistic)
    mu = np.broadcast_to(np.asarray(poi_values, dtype=float), (data.n_toys,))
    mu = np.zeros_like(mu) if statistic == "q0" else mu
    res = fit_configurations(model, data, [None, mu], poi_lower, **fit_kw)
    nh, ph, nc = res.nll[:, 0], res.x[:, 0, model.poi], res.nll[:, 1]
    if statistic == "q0":
        q = q0(nc, nh, ph)
    elif statistic in ("q_mu", "q_tilde"):
        q = q_mu(nc, nh, ph, mu)
    else:
        q = t_mu(nc, nh)
    return q, res.converged[:, 0] & res.converged[:, 1]


class CriticalValues(NamedTuple):
    """CL quantiles ``values`` (K,) of the toy statistic at each tested value, their 68%
    order-statistic interval [``lower``, ``upper``] (finite-toy uncertainty), the toys used
    and the toys left out because a fit failed (``n_failed``; reported, not hidden)."""

    tested: np.ndarray
    values: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    n_used: np.ndarray
    n_failed: np.ndarray


def critical_values(q_toys, cl: float = 0.9, ok=None, tested=None) -> CriticalValues:
    """c_k = smallest toy value with empirical CDF >= CL (numpy's ``inverted_cdf``), per
    column of ``q_toys`` (n_toys, K); toys with ``ok`` False are left out and counted."""
    q = np.asarray(q_toys, dtype=float)
    q = q[:, None] if q.ndim == 1 else q
    if not 0 < cl < 1:
        raise bad_value("cl", cl, "a confidence level in (0, 1)")
    ok = np.ones(q.shape, bool) if ok is None else np.broadcast_to(np.asarray(ok, bool), q.shape)
    if np.isnan(q[ok]).any():
        raise bad_value("q_toys", "NaN", "test statistics of converged fits are numbers")
    k = q.shape[1]
    vals, lo, hi = np.full(k, np.nan), np.full(k, np.nan), np.full(k, np.nan)
    n_used = ok.sum(axis=0)
    for j in range(k):
        col = np.sort(q[ok[:, j], j])
        n = col.size
        if n == 0:
            continue
        vals[j] = np.quantile(col, cl, method="inverted_cdf")
        half = np.sqrt(n * cl * (1 - cl))  # binomial sd of the number of toys below c
        lo[j] = col[int(np.clip(np.ceil(n * cl - half) - 1, 0, n - 1))]
        hi[j] = col[int(np.clip(np.ceil(n * cl + half) - 1, 0, n - 1))]
    tested = np.arange(k, dtype=float) if tested is None else np.asarray(tested, dtype=float)
    return CriticalValues(tested, vals, lo, hi, n_used, q.shape[0] - n_used)


def toy_critical_values(
    model: RateModel,
    make_toys: Callable[[np.random.Generator, float, int], RateData],
    tested,
    n_toys: int,
    rng: np.random.Generator,
    cl: float = 0.9,
    statistic: str = "q_tilde",
    **fit_kw,
) -> CriticalValues:
    """Critical values from ``n_toys`` toys generated at every tested signal value (all grid
    points fitted in one batched call)."""
    tested = np.asarray(tested, dtype=float)
    data = concat_data([make_toys(rng, float(mu), n_toys) for mu in tested])
    q, ok = statistic_at(model, data, np.repeat(tested, n_toys), statistic, **fit_kw)
    shape = (tested.size, n_toys)
    return critical_values(q.reshape(shape).T, cl, ok.reshape(shape).T, tested)


class UpperLimits(NamedTuple):
    """Upper limits (n,), with flags: ``below_grid`` (rejected at the first tested value;
    the limit is extrapolated or set to that value) and ``above_grid`` (never rejected; the
    limit is the last tested value, a lower bound on the true one)."""

    limits: np.ndarray
    below_grid: np.ndarray
    above_grid: np.ndarray


def crossing(tested, d, d_at_zero=None) -> UpperLimits:
    """First crossing of d from <= 0 (accepted) to > 0 (rejected) along ``tested`` (K,),
    for every row of d (n, K), by linear interpolation. ``d_at_zero``: the value of d at
    signal 0 (n,) or scalar, when known, prepended as a grid point if tested[0] > 0."""
    t = np.asarray(tested, dtype=float)
    d = np.atleast_2d(np.asarray(d, dtype=float))
    if t.ndim != 1 or d.shape[1] != t.size or np.any(np.diff(t) <= 0):
        raise bad_value("tested grid", t.tolist(), f"{d.shape[1]} increasing values")
    if np.isnan(d).any():
        raise bad_value("statistic curve", "NaN", "numbers (check the fit flags)")
    lead = d_at_zero is not None and t[0] > 0
    if lead:
        t = np.concatenate([[0.0], t])
        d = np.concatenate(
            [np.broadcast_to(np.asarray(d_at_zero, float), (d.shape[0],))[:, None], d], 1
        )
    rej = d > 0
    # first rejected point that follows an accepted one
    follows = rej[:, 1:] & ~rej[:, :-1]
    has = follows.any(axis=1)
    k = np.argmax(follows, axis=1) + 1
    rows = np.arange(d.shape[0])
    d0, d1 = d[rows, k - 1], d[rows, k]
    frac = np.clip(-d0 / np.where(d1 > d0, d1 - d0, 1.0), 0.0, 1.0)
    lim = t[k - 1] + frac * (t[k] - t[k - 1])
    below = rej[:, 0] & ~has
    above = ~rej.any(axis=1) | (~has & ~below)
    lim = np.where(below, t[0], np.where(above, t[-1], lim))
    return UpperLimits(lim, below, above & ~below)


def upper_limits(tested, q, crit, q_zero_at_zero: bool = True) -> UpperLimits:
    """Neyman upper limits: first crossing of q(mu) above c(mu) (see the module docstring)."""
    crit = np.asarray(crit, dtype=float)
    d = np.atleast_2d(np.asarray(q, dtype=float)) - crit[None, :]
    return crossing(tested, d, -crit[0] if q_zero_at_zero else None)


def limit_band(limits, n_sigma: Sequence[float] = (-2, -1, 0, 1, 2)) -> dict[float, float]:
    """Quantiles Phi(N) of a set of (background-only toy) limits: median and N-sigma band."""
    lim = np.asarray(limits, dtype=float)
    if lim.size == 0 or np.isnan(lim).any():
        raise bad_value("limits", "empty or NaN", "finite toy limits")
    return {n: float(np.quantile(lim, stats.norm.cdf(n))) for n in n_sigma}


class PowerConstrained(NamedTuple):
    """PCL limits (n,), the power threshold mu_min and which limits it raised."""

    limits: np.ndarray
    mu_min: float
    constrained: np.ndarray


def power_constrained(limits, background_limits, threshold_sigma: float = -1.0):
    """Power-constrained limits max(mu_up, mu_min) with mu_min the Phi(threshold_sigma)
    quantile of the background-only limits (arXiv:1105.3166; see the module docstring)."""
    lim = np.asarray(limits, dtype=float)
    mu_min = limit_band(background_limits, (threshold_sigma,))[threshold_sigma]
    return PowerConstrained(np.maximum(lim, mu_min), mu_min, lim < mu_min)


__all__ = [
    "CriticalValues",
    "PowerConstrained",
    "UpperLimits",
    "critical_values",
    "crossing",
    "limit_band",
    "power_constrained",
    "statistic_at",
    "toy_critical_values",
    "upper_limits",
]
