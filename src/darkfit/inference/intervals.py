"""Feldman-Cousins intervals, CLs limits, discovery p-values, and asymptotic (toy-free)
limits of observed data.

API summary (names are stable)::

    feldman_cousins(tested, t_obs (n, K), crit (K,)) -> Intervals      # toy-based, any model
    feldman_cousins_counting(n_obs, b, cl=0.9, step=0.001) -> (lower, upper)   # exact Poisson
    toy_p_values(q_obs (n, K), q_toys (T, K), ok=None) -> (n, K)  P(q_toy >= q_obs)
    cls_values(q_obs, q_sb_toys, q_b_toys, ok_sb=None, ok_b=None) -> ClsValues
    cls_upper_limits(tested, cls (n, K), cl=0.9) -> UpperLimits
    discovery(q0_obs, q0_toys=None) -> Discovery      # toy or asymptotic p0 and Z
    asymptotic_upper_limits(tested, q_obs (n, K), q_asimov (K,), cl=0.9,
                            statistic="q_tilde", cls=False) -> UpperLimits

Feldman-Cousins (arXiv:physics/9711021): the acceptance region at each mu holds the data with
the largest likelihood ratio L(mu)/L(mu_best), mu_best the best *physically allowed* value.
With nuisance parameters this is the profile statistic t~_mu (CCGV arXiv:1007.1727 eqs.
10-11, fits with mu >= 0): mu is in the interval when t~_mu(data) <= c(mu), the CL quantile
of t~_mu in toys generated at mu (:func:`.neyman.toy_critical_values` with
``statistic="t_tilde"``). :func:`feldman_cousins_counting` is the exact construction for a
Poisson count with known background (FC Sec. IV), used as a reference.

CLs (A. L. Read, J. Phys. G 28 (2002) 2693): CLs(mu) = p_mu / (1 - p_b), p_mu = P(q_mu >=
q_obs | mu), 1 - p_b = P(q_mu >= q_obs | background only); mu is excluded when CLs < 1 - CL.

Asymptotic limits use the p-values of :mod:`.asymptotics` with mu/sigma = sqrt(q_mu,A) from
background-only Asimov data, and interpolate in Z = Phi^-1(1 - p) (nearly linear in mu).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import stats

from darkfit._errors import bad_value
from darkfit.inference import asymptotics as asy
from darkfit.inference.neyman import UpperLimits, crossing


class Intervals(NamedTuple):
    """Two-sided intervals [lower, upper] (n,), with flags: ``empty`` (no tested value
    accepted), ``lower_at_edge`` / ``upper_at_edge`` (accepted at the first / last tested value:
    the bound is that value; at tested[0] = 0 the interval is a genuine upper limit)."""

    lower: np.ndarray
    upper: np.ndarray
    empty: np.ndarray
    lower_at_edge: np.ndarray
    upper_at_edge: np.ndarray


def feldman_cousins(tested, t_obs, crit) -> Intervals:
    """Intervals {mu : t(mu) <= c(mu)} from a curve t_obs (n, K) and critical values (K,),
    with the end points interpolated linearly in d = t - c."""
    t = np.asarray(tested, dtype=float)
    d = np.atleast_2d(np.asarray(t_obs, dtype=float)) - np.asarray(crit, dtype=float)[None, :]
    if d.shape[1] != t.size or np.any(np.diff(t) <= 0) or np.isnan(d).any():
        raise bad_value("tested / t_obs", (t.size, d.shape), "increasing grid, finite curves")
    acc = d <= 0
    n, k = d.shape
    rows = np.arange(n)
    empty = ~acc.any(axis=1)
    i0 = np.argmax(acc, axis=1)
    i1 = k - 1 - np.argmax(acc[:, ::-1], axis=1)

    def interp(a, b):  # zero of d between grid indices a and b
        da, db = d[rows, a], d[rows, b]
        f = np.clip(da / np.where(da != db, da - db, 1.0), 0.0, 1.0)
        return t[a] + f * (t[b] - t[a])

    lower = np.where(i0 == 0, t[0], interp(np.maximum(i0 - 1, 0), i0))
    upper = np.where(i1 == k - 1, t[-1], interp(i1, np.minimum(i1 + 1, k - 1)))
    nan = np.full(n, np.nan)
    return Intervals(
        np.where(empty, nan, lower), np.where(empty, nan, upper), empty,
        ~empty & (i0 == 0), ~empty & (i1 == k - 1),
    )  # fmt: skip


def feldman_cousins_counting(
    n_obs: int, b: float, cl: float = 0.9, step: float = 0.001, mu_max: float | None = None
) -> tuple[float, float]:
    """Exact Feldman-Cousins interval for n ~ Poisson(mu + b), b known (FC Sec. IV): at each
    mu on a grid of ``step``, add counts n in decreasing order of
    R = P(n | mu + b) / P(n | max(0, n - b) + b) until their probability reaches CL."""
    if int(n_obs) != n_obs or n_obs < 0:
        raise bad_value("n_obs", n_obs, "a count >= 0")
    if not (np.isfinite(b) and b >= 0):
        raise bad_value("b", b, "a known background >= 0")
    top = mu_max if mu_max is not None else n_obs + 6 * np.sqrt(n_obs + b + 1) + 5
    mu = np.arange(0.0, top + step / 2, step)
    n = np.arange(0, int(top + b + 10 * np.sqrt(top + b + 1) + 15))
    lam = mu[:, None] + b
    logp = stats.poisson.logpmf(n[None, :], lam)
    best = np.maximum(n - b, 0.0) + b
    log_r = logp - stats.poisson.logpmf(n, np.where(best > 0, best, 1e-300))[None, :]
    order = np.argsort(-log_r, axis=1, kind="stable")
    p_sorted = np.take_along_axis(np.exp(logp), order, axis=1)
    before = np.cumsum(p_sorted, axis=1) - p_sorted
    taken = np.zeros_like(p_sorted, dtype=bool)
    np.put_along_axis(taken, order, before < cl, axis=1)
    inside = mu[taken[:, int(n_obs)]]
    return float(inside.min()), float(inside.max())


def toy_p_values(q_obs, q_toys, ok=None) -> np.ndarray:
    """P(q_toy >= q_obs) per tested value: q_obs (n, K), q_toys (T, K); failed toys (``ok``
    False) are left out."""
    qo = np.atleast_2d(np.asarray(q_obs, dtype=float))
    qt = np.asarray(q_toys, dtype=float)
    ok = np.ones(qt.shape, bool) if ok is None else np.asarray(ok, bool)
    out = np.empty(qo.shape)
    for k in range(qt.shape[1]):
        col = np.sort(qt[ok[:, k], k])
        if col.size == 0:
            raise bad_value("toys at tested value", k, "at least one converged toy")
        out[:, k] = 1.0 - np.searchsorted(col, qo[:, k] - 1e-12, side="left") / col.size
    return out


class ClsValues(NamedTuple):
    """CLs = p_sb / one_minus_pb per dataset and tested value (n, K)."""

    cls: np.ndarray
    p_sb: np.ndarray
    one_minus_pb: np.ndarray


def cls_values(q_obs, q_sb_toys, q_b_toys, ok_sb=None, ok_b=None) -> ClsValues:
    """Toy CLs: p_mu from signal+background toys at each tested mu (T, K), 1 - p_b from
    background-only toys evaluated at the same tested values (T', K)."""
    p_sb = toy_p_values(q_obs, q_sb_toys, ok_sb)
    pb = toy_p_values(q_obs, q_b_toys, ok_b)
    return ClsValues(p_sb / np.maximum(pb, 1e-300), p_sb, pb)


def cls_upper_limits(tested, cls, cl: float = 0.9) -> UpperLimits:
    """First mu where CLs drops below 1 - CL (CLs = 1 at mu = 0)."""
    c = np.atleast_2d(np.asarray(cls, dtype=float))
    return crossing(tested, (1 - cl) - c, (1 - cl) - 1.0)


class Discovery(NamedTuple):
    """p0, Z = Phi^-1(1 - p0) (inf when no toy reaches q0_obs; then ``p_upper`` = 3 / n_toys
    is the 95% upper bound), with ``n_toys`` (0: asymptotic, p0 = 1 - Phi(sqrt(q0)))."""

    p: np.ndarray
    z: np.ndarray
    p_upper: np.ndarray
    n_toys: int


def discovery(q0_obs, q0_toys=None, ok=None) -> Discovery:
    """Discovery p-value of q0 (CCGV eq. 12): from background-only toys, or asymptotic
    (half chi2, CCGV Sec. 3.5) when ``q0_toys`` is None."""
    q = np.asarray(q0_obs, dtype=float)
    if np.isnan(q).any():
        raise bad_value("q0_obs", "NaN", "a number >= 0")
    if q0_toys is None:
        p = asy.p_value_q0(q)
        return Discovery(p, asy.significance(p), p, 0)
    toys = np.asarray(q0_toys, dtype=float).reshape(-1)
    toys = toys if ok is None else toys[np.asarray(ok, bool).reshape(-1)]
    p = toy_p_values(q.reshape(-1, 1), toys[:, None])[:, 0].reshape(q.shape)
    upper = np.where(p > 0, p + 2 * np.sqrt(p * (1 - p) / toys.size), 3.0 / toys.size)
    return Discovery(p, asy.significance(p), upper, toys.size)


def asymptotic_upper_limits(
    tested, q_obs, q_asimov, cl: float = 0.9, statistic: str = "q_tilde", cls: bool = False
) -> UpperLimits:
    """Upper limits without toys: p_mu from the asymptotic law of ``statistic`` ("q_tilde" or
    "q_mu") with mu/sigma = sqrt(q_asimov) (background-only Asimov q at each tested mu), the
    crossing p_mu = 1 - CL (or CLs = 1 - CL) interpolated in Z."""
    q = np.atleast_2d(np.asarray(q_obs, dtype=float))
    a = np.sqrt(np.maximum(np.asarray(q_asimov, dtype=float), 0.0))[None, :]
    if statistic == "q_tilde":
        p = asy.p_value_q_tilde(q, a)
        pb = 1.0 - asy.cdf_q_tilde(q, a, 0.0)
    elif statistic == "q_mu":
        p = asy.p_value_q_mu(q)
        pb = 1.0 - asy.cdf_q_mu(q, a)
    else:
        raise bad_value("statistic", statistic, "'q_tilde' or 'q_mu'")
    if cls:
        p = p / np.maximum(pb, 1e-300)
    z_alpha = asy.significance(1 - cl)
    d = asy.significance(np.clip(p, 1e-300, 1.0)) - z_alpha
    return crossing(tested, d, -z_alpha)


__all__ = [
    "ClsValues",
    "Discovery",
    "Intervals",
    "asymptotic_upper_limits",
    "cls_upper_limits",
    "cls_values",
    "discovery",
    "feldman_cousins",
    "feldman_cousins_counting",
    "toy_p_values",
]
