"""Asymptotic laws of the profile-likelihood statistics, Asimov data, expected limits and
discovery significance (Cowan, Cranmer, Gross, Vitells, arXiv:1007.1727; "CCGV" below).

API summary (names are stable)::

    significance(p), p_value_from_z(z)                 # Z = Phi^-1(1 - p), CCGV eq. (2)
    cdf_q0(q, mu_prime_over_sigma=0), p_value_q0(q)    # CCGV Sec. 3.5 (half chi2 at mu' = 0)
    cdf_q_mu(q, shift=0), p_value_q_mu(q)              # Sec. 3.6, eqs. (57), (59)
    cdf_q_tilde(q, mu_over_sigma, mu_prime_over_sigma=None), p_value_q_tilde(q, mu_over_sigma)
                                                       # Sec. 3.7
    cdf_t_mu(t, shift=0), p_value_t_mu(t)              # Sec. 3.3 (non-central chi2, 1 dof)
    p_value_t_tilde(t, mu_over_sigma)                  # Sec. 3.4
    critical_value(statistic, cl, mu_over_sigma=inf)   # inverse of the p-values above
    sigma_from_asimov(mu, q_asimov, mu_prime=0)        # Sec. 3.2: sigma_A^2 = (mu-mu')^2/q_A
    asimov_binned(templates, x_true) -> RateData       # Sec. 3.2, eq. (24): n = E[n]
    asimov_pool(pool_log_p, pool_origin, expected, centres=None) -> RateData
    asimov_q(model, asimov, tested, statistic="q_tilde") -> (K,) q on the Asimov data
    expected_limits(model, asimov, cl=0.9, n_sigma=(-2,-1,0,1,2), cls=False) -> dict
                                                       # eqs. (88)-(89), median and bands
    median_discovery_significance(model, asimov_sb) -> sqrt(q0,A)   # Sec. 4
    discovery_potential(model, asimov_for, z=3.0) -> signal with sqrt(q0,A) = z
    solve_increasing(f, targets, scale) -> roots of f(x) = target (batched f)
    counting_z_asimov(s, b)                            # eq. (97)
    counting_q_asimov(s, b)                            # q_s,A of a known-b counting experiment

Conventions: ``mu_over_sigma`` = mu / sigma = sqrt(q_mu,A) (Asimov data with mu' = 0), the
shift of q_mu's law is (mu - mu') / sigma. p-values are right-tail probabilities
P(q >= q_obs). Expected upper limits (eq. 89: mu_up+N = sigma (Phi^-1(CL) + N)) are solved with
sigma = mu / sqrt(q_mu,A(mu)) evaluated at the limit itself, i.e. sqrt(q_mu,A(mu)) = Phi^-1(CL)
+ N; for q~_mu a band with Phi^-1(CL) + N <= 0 is 0 (every mu > 0 is excluded there, Sec. 3.7
p-value with mu_hat = N sigma < 0). With ``cls=True`` the CLs limit band (Read, J. Phys. G 28
(2002) 2693) follows from the same laws: CLs = p_mu / (1 - p_b), with 1 - p_b = Phi(N) at the
N-sigma quantile, so sqrt(q_mu,A) = N + Phi^-1(1 - alpha Phi(N)).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import optimize, stats

from darkfit._errors import bad_value
from darkfit.inference.rate_fit import RateData, RateModel, binned_data, unbinned_data
from darkfit.inference.test_statistics import scan_statistic

Phi = stats.norm.cdf
Phi_inv = stats.norm.ppf


def significance(p):
    """Gaussian significance Z = Phi^-1(1 - p) of a p-value (CCGV eq. 2)."""
    return stats.norm.isf(np.asarray(p, dtype=float))


def p_value_from_z(z):
    """p = 1 - Phi(Z)."""
    return stats.norm.sf(np.asarray(z, dtype=float))


def _sqrt(q):
    return np.sqrt(np.maximum(np.asarray(q, dtype=float), 0.0))


def cdf_q0(q, mu_prime_over_sigma=0.0):
    """F(q0 | mu') = Phi(sqrt(q0) - mu'/sigma) for q0 >= 0 (the point mass at 0 included):
    CCGV Sec. 3.5. At mu' = 0 the law is 1/2 delta(q0) + 1/2 chi2_1."""
    q = np.asarray(q, dtype=float)
    return np.where(q < 0, 0.0, Phi(_sqrt(q) - mu_prime_over_sigma))


def p_value_q0(q):
    """Discovery p-value p0 = 1 - Phi(sqrt(q0)) (CCGV Sec. 3.5; Z0 = sqrt(q0))."""
    return stats.norm.sf(_sqrt(q))


def cdf_q_mu(q, shift=0.0):
    """F(q_mu | mu') = Phi(sqrt(q_mu) - (mu - mu')/sigma), q_mu >= 0: CCGV eq. (57)."""
    q = np.asarray(q, dtype=float)
    return np.where(q < 0, 0.0, Phi(_sqrt(q) - shift))


def p_value_q_mu(q):
    """p_mu = 1 - Phi(sqrt(q_mu)): CCGV eq. (59)."""
    return stats.norm.sf(_sqrt(q))


def cdf_q_tilde(q, mu_over_sigma, mu_prime_over_sigma=None):
    """F(q~_mu | mu') of CCGV Sec. 3.7 (``mu_prime_over_sigma`` default: mu' = mu):
    Phi(sqrt(q) - (mu - mu')/sigma) for 0 <= q <= mu^2/sigma^2, and
    Phi((q - (mu^2 - 2 mu mu')/sigma^2) / (2 mu/sigma)) above."""
    q = np.asarray(q, dtype=float)
    a = np.asarray(mu_over_sigma, dtype=float)
    ap = a if mu_prime_over_sigma is None else np.asarray(mu_prime_over_sigma, dtype=float)
    low = Phi(_sqrt(q) - (a - ap))
    high = Phi((q - a**2 + 2 * a * ap) / (2 * np.where(a > 0, a, 1.0)))
    return np.where(q < 0, 0.0, np.where(q <= a**2, low, high))


def p_value_q_tilde(q, mu_over_sigma):
    """p_mu = 1 - F(q~_mu | mu) (CCGV Sec. 3.7): 1 - Phi(sqrt(q)) below mu^2/sigma^2,
    1 - Phi((q + mu^2/sigma^2)/(2 mu/sigma)) above."""
    q = np.asarray(q, dtype=float)
    a = np.asarray(mu_over_sigma, dtype=float)
    high = stats.norm.sf((q + a**2) / (2 * np.where(a > 0, a, 1.0)))
    return np.where(q <= a**2, stats.norm.sf(_sqrt(q)), high)


def cdf_t_mu(t, shift=0.0):
    """F(t_mu | mu') = Phi(sqrt(t) + L) + Phi(sqrt(t) - L) - 1, L = (mu - mu')/sigma: the
    non-central chi2 (1 dof, non-centrality L^2) of CCGV Sec. 3.3 (chi2_1 at mu' = mu)."""
    s = _sqrt(t)
    return np.where(np.asarray(t) < 0, 0.0, Phi(s + shift) + Phi(s - shift) - 1.0)


def p_value_t_mu(t):
    """p_mu = 1 - F(t_mu | mu) = 2 (1 - Phi(sqrt(t_mu))) (CCGV Sec. 3.3)."""
    return 2.0 * stats.norm.sf(_sqrt(t))


def p_value_t_tilde(t, mu_over_sigma):
    """p_mu = 1 - F(t~_mu | mu) (CCGV Sec. 3.4): 2 (1 - Phi(sqrt t)) for t <= mu^2/sigma^2,
    else 1 - Phi(sqrt t) + 1 - Phi((t + mu^2/sigma^2) / (2 mu/sigma))."""
    t = np.asarray(t, dtype=float)
    a = np.asarray(mu_over_sigma, dtype=float)
    high = stats.norm.sf(_sqrt(t)) + stats.norm.sf((t + a**2) / (2 * np.where(a > 0, a, 1.0)))
    return np.where(t <= a**2, 2.0 * stats.norm.sf(_sqrt(t)), high)


def critical_value(statistic: str, cl: float = 0.9, mu_over_sigma: float = np.inf) -> float:
    """Asymptotic critical value c with P(q > c | mu) = 1 - CL (for q0 under mu = 0:
    c = Phi^-1(CL)^2, so a Z-sigma discovery threshold is c = Z^2 at CL = Phi(Z)).

    ``mu_over_sigma`` (= sqrt(q_mu,A)) matters only for q~_mu and t~_mu (Secs. 3.4, 3.7).
    """
    if not 0 < cl < 1:
        raise bad_value("cl", cl, "a confidence level in (0, 1)")
    z = Phi_inv(cl)
    a = float(mu_over_sigma)
    if statistic in ("q0", "q_mu"):
        return float(max(z, 0.0) ** 2)
    if statistic == "q_tilde":
        return float(z**2 if z <= a else 2 * a * z - a**2)
    if statistic == "t_mu":
        return float(stats.chi2.ppf(cl, 1))
    if statistic == "t_tilde":
        z2 = Phi_inv(0.5 * (1 + cl))
        if z2 <= a:
            return float(z2**2)
        return float(optimize.brentq(lambda t: p_value_t_tilde(t, a) - (1 - cl), a**2, 1e4))
    raise bad_value("statistic", statistic, "one of q0, q_mu, q_tilde, t_mu, t_tilde")


def sigma_from_asimov(mu, q_asimov, mu_prime=0.0):
    """sigma_A = |mu - mu'| / sqrt(q_mu,A) (CCGV Sec. 3.2)."""
    return np.abs(np.asarray(mu) - mu_prime) / _sqrt(q_asimov)


# ---------------------------------------------------------------------- Asimov data
def asimov_binned(templates, x_true, constraint_sigma=None) -> RateData:
    """Asimov data (CCGV eq. 24): every bin at its expectation sum_j T_bj x_j, every global
    observable at its expectation (the true multiplier)."""
    t = np.asarray(templates, dtype=float)
    x = np.asarray(x_true, dtype=float)
    return binned_data(t, (t @ x)[None], centres=x[None])


def asimov_pool(pool_log_p, pool_origin, expected, centres=None) -> RateData:
    """Asimov data for the rate-only unbinned model from a pool: pool event i of source j
    carries weight expected_j / (pool events of source j), so sum_i w_i f(x_i) estimates
    sum_j expected_j E_j[f] (the expected NLL) without sampling noise in the counts.
    ``centres`` (n_src,): the true multipliers (global observables), default 1."""
    origin = np.asarray(pool_origin, dtype=np.int64)
    expected = np.asarray(expected, dtype=float)
    n_per = np.bincount(origin, minlength=expected.size)
    if np.any((n_per == 0) & (expected > 0)):
        raise bad_value("pool", n_per.tolist(), "events of every source with expected > 0")
    w = expected[origin] / np.maximum(n_per[origin], 1)
    c = None if centres is None else np.asarray(centres, dtype=float)[None]
    return unbinned_data(np.asarray(pool_log_p, dtype=float)[None], w[None], c)


def asimov_q(model: RateModel, asimov: RateData, tested, statistic: str = "q_tilde"):
    """The statistic on (one) Asimov dataset at each tested signal value: (K,)."""
    scan = scan_statistic(model, asimov, tested, statistic)
    if not scan.ok.all():
        raise RuntimeError(f"Asimov fits did not converge at {scan.tested[~scan.ok[0]]}")
    return scan.q[0]


def solve_increasing(f, targets, scale: float, rtol: float = 1e-10) -> np.ndarray:
    """Roots x_k > 0 of f(x) = target_k for an increasing f with f(0) = 0, all targets at
    once: ``f`` maps an array of x to an array of values (one batched fit each call). A
    geometric grid brackets every root, then Illinois regula falsi refines them together.
    Targets <= 0 give 0; a target above f on the whole grid gives NaN."""
    targets = np.asarray(targets, dtype=float)
    grid = scale * 2.0 ** np.arange(-10, 41)
    fg = np.asarray(f(grid), dtype=float)
    out = np.full(targets.size, np.nan)
    pos = targets > 0
    out[~pos] = 0.0
    k = np.searchsorted(np.maximum.accumulate(fg), targets)
    ok = pos & (k < grid.size)
    idx = np.flatnonzero(ok)
    if not idx.size:
        return out
    kk = k[idx]
    a = np.where(kk > 0, grid[np.maximum(kk - 1, 0)], 0.0)
    fa = np.where(kk > 0, fg[np.maximum(kk - 1, 0)], 0.0) - targets[idx]
    b, fb = grid[kk], fg[kk] - targets[idx]
    side = np.zeros(idx.size)
    for _ in range(100):
        c = (a * fb - b * fa) / np.where(fb != fa, fb - fa, 1.0)
        c = np.where((c > a) & (c < b), c, 0.5 * (a + b))
        fc = np.asarray(f(c), dtype=float) - targets[idx]
        left = fc * fb > 0  # root in [a, c]: replace b
        a, fa, b, fb = (
            np.where(left, a, c), np.where(left, fa, fc),
            np.where(left, c, b), np.where(left, fc, fb),
        )  # fmt: skip
        # Illinois: halve the retained end's value when the same end is kept twice
        fa = np.where(left & (side == 1), 0.5 * fa, fa)
        fb = np.where(~left & (side == -1), 0.5 * fb, fb)
        side = np.where(left, 1, -1)
        if np.all(np.abs(b - a) <= rtol * np.abs(c)) or np.all(fc == 0):
            break
    out[idx] = c
    return out


def expected_limits(
    model: RateModel,
    asimov: RateData,
    cl: float = 0.9,
    n_sigma: Sequence[float] = (-2, -1, 0, 1, 2),
    *,
    cls: bool = False,
    statistic: str = "q_tilde",
) -> dict[float, float]:
    """Median (N = 0) and N-sigma expected upper limits on the signal multiplier from
    background-only Asimov data (CCGV eqs. 88-89; CLs per the module docstring)."""
    if not 0 < cl < 1:
        raise bad_value("cl", cl, "a confidence level in (0, 1)")
    z, alpha = Phi_inv(cl), 1 - cl
    n_sigma = list(n_sigma)
    targets = [n + Phi_inv(1 - alpha * Phi(n)) if cls else z + n for n in n_sigma]

    def sqrt_q(mu):
        return np.sqrt(np.maximum(asimov_q(model, asimov, mu, statistic), 0.0))

    roots = solve_increasing(sqrt_q, targets, 1.0 / model.mu[model.poi])
    return {n: float(r) for n, r in zip(n_sigma, roots, strict=True)}


def discovery_potential(model: RateModel, asimov_for, z: float = 3.0, scale: float = 1.0):
    """Signal multiplier whose median discovery significance sqrt(q0,A) reaches ``z``;
    ``asimov_for(poi_value) -> RateData`` builds the Asimov data with that signal."""

    def z_of(mus):
        return np.array([median_discovery_significance(model, asimov_for(m)) for m in mus])

    return float(solve_increasing(z_of, [z], scale)[0])


def median_discovery_significance(model: RateModel, asimov_sb: RateData) -> float:
    """med[Z0 | mu'] = sqrt(q0,A) on Asimov data generated with signal mu' (CCGV Sec. 4)."""
    return float(np.sqrt(asimov_q(model, asimov_sb, [0.0], "q0")[0]))


def counting_z_asimov(s, b):
    """Median discovery significance of a counting experiment with known background
    (CCGV eq. 97): Z_A = sqrt(2 ((s + b) ln(1 + s/b) - s))."""
    s, b = np.asarray(s, dtype=float), np.asarray(b, dtype=float)
    return np.sqrt(2 * ((s + b) * np.log1p(s / b) - s))


def counting_q_asimov(s, b):
    """q_s,A = 2 (s - b ln(1 + s/b)) of a known-b counting experiment: eq. (14) evaluated on the
    background-only Asimov count n = b (CCGV eq. 24)."""
    s, b = np.asarray(s, dtype=float), np.asarray(b, dtype=float)
    return 2 * (s - b * np.log1p(s / b))


__all__ = [
    "asimov_binned",
    "asimov_pool",
    "asimov_q",
    "cdf_q0",
    "cdf_q_mu",
    "cdf_q_tilde",
    "cdf_t_mu",
    "counting_q_asimov",
    "counting_z_asimov",
    "critical_value",
    "discovery_potential",
    "expected_limits",
    "median_discovery_significance",
    "p_value_from_z",
    "p_value_q0",
    "p_value_q_mu",
    "p_value_q_tilde",
    "p_value_t_mu",
    "p_value_t_tilde",
    "sigma_from_asimov",
    "significance",
    "solve_increasing",
]
