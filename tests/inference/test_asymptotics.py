"""Asymptotic laws, critical values, Asimov data, expected limits and discovery significance
(arXiv:1007.1727) against Monte Carlo of the Wald approximation, closed forms written here,
and a numerically integrated expected likelihood."""

from __future__ import annotations

import numpy as np
from scipy import integrate, optimize, stats

from darkfit.inference import asymptotics as asy
from darkfit.inference.rate_fit import RateModel
from darkfit.inference.toys import counting_model

Z90 = stats.norm.ppf(0.9)


def wald_statistics(rng, a, a_prime, n=200_000):
    """Statistics built from mu_hat ~ N(mu', sigma) by their definitions (eqs. 8-16 in the
    Wald approximation -2 ln lambda = (mu - mu_hat)^2 / sigma^2), in units of sigma."""
    m = rng.normal(a_prime, 1.0, n)  # mu_hat / sigma; the tested mu / sigma is a
    q_mu = np.where(m <= a, (a - m) ** 2, 0.0)
    q_tilde = np.where(m < 0, a**2 - 2 * a * m, q_mu)
    t_mu = (a - m) ** 2
    q0 = np.where(m >= 0, m**2, 0.0)  # discovery: tested mu = 0, mu_hat / sigma = m
    return q_mu, q_tilde, t_mu, q0


def test_cdfs_match_wald_monte_carlo():
    rng = np.random.default_rng(1)
    for a, ap in [(0.7, 0.7), (2.0, 2.0), (2.0, 0.0), (1.5, 0.5)]:
        q_mu, q_tilde, t_mu, q0 = wald_statistics(rng, a, ap)
        grid = np.linspace(0.01, 12, 60)
        for sample, cdf in [
            (q_mu, asy.cdf_q_mu(grid, a - ap)),
            (q_tilde, asy.cdf_q_tilde(grid, a, ap)),
            (t_mu, asy.cdf_t_mu(grid, a - ap)),
            (q0, asy.cdf_q0(grid, ap)),
        ]:
            emp = np.searchsorted(np.sort(sample), grid, side="right") / sample.size
            assert np.max(np.abs(emp - cdf)) < 5e-3  # ~4.5 sigma of the empirical CDF
    # p-values at mu' = mu are the complements of those CDFs
    q = np.array([0.3, 1.0, 5.0, 9.0])
    np.testing.assert_allclose(asy.p_value_q_tilde(q, 2.0), 1 - asy.cdf_q_tilde(q, 2.0))
    np.testing.assert_allclose(asy.p_value_t_mu(q), stats.chi2.sf(q, 1))
    np.testing.assert_allclose(asy.p_value_q0(q), 0.5 * stats.chi2.sf(q, 1))


def test_t_tilde_p_value_matches_wald_monte_carlo():
    rng = np.random.default_rng(2)
    for a in (0.8, 2.5):
        m = rng.normal(a, 1.0, 200_000)
        t = np.where(m < 0, a**2 - 2 * a * m, (a - m) ** 2)
        for t_obs in (0.5, 2.0, 4.0, 8.0):
            assert abs(np.mean(t >= t_obs) - asy.p_value_t_tilde(t_obs, a)) < 3e-3


def test_critical_values():
    assert asy.critical_value("q_mu", 0.9) == Z90**2  # 1.6424
    assert abs(asy.critical_value("q_tilde", 0.9, 3.0) - 1.6424) < 1e-4
    a = 0.5  # below Phi^-1(CL): the other branch of F(q~|mu)
    c = asy.critical_value("q_tilde", 0.9, a)
    assert abs(asy.p_value_q_tilde(c, a) - 0.1) < 1e-12 and c > a**2
    assert abs(asy.critical_value("t_mu", 0.95) - 3.8415) < 1e-4
    assert abs(asy.critical_value("q0", stats.norm.cdf(5.0)) - 25.0) < 1e-9
    for a in (0.5, 3.0):
        c = asy.critical_value("t_tilde", 0.9, a)
        assert abs(asy.p_value_t_tilde(c, a) - 0.1) < 1e-9


def known_b_limit(b, target):
    """Root of sqrt(2 (s - b ln(1 + s/b))) = target (q_s on n = b), written here."""
    return optimize.brentq(lambda s: np.sqrt(2 * (s - b * np.log1p(s / b))) - target, 1e-9, 1e5)


def test_expected_limits_and_discovery_of_counting_experiment():
    """Known b: Asimov fits reproduce the closed forms; eq. 97 for the median significance."""
    for b in (3.0, 100.0):
        model, templates = counting_model(b)
        asimov = asy.asimov_binned(templates, [0.0, 1.0])
        lim = asy.expected_limits(model, asimov, 0.9)
        for n_sig, value in lim.items():
            want = known_b_limit(b, Z90 + n_sig) if Z90 + n_sig > 0 else 0.0
            assert abs(value - want) <= 1e-6 * max(want, 1)
        cls = asy.expected_limits(model, asimov, 0.9, (-1, 0, 1), cls=True)
        for n_sig, value in cls.items():
            target = n_sig + stats.norm.ppf(1 - 0.1 * stats.norm.cdf(n_sig))
            assert abs(value - known_b_limit(b, target)) <= 1e-6 * value
        s = 2.0 * np.sqrt(b)
        z = asy.median_discovery_significance(model, asy.asimov_binned(templates, [s, 1.0]))
        assert abs(z - np.sqrt(2 * ((s + b) * np.log(1 + s / b) - s))) < 1e-7


def test_asimov_q_with_background_constraint_matches_profile():
    """10% constraint: q~_s,A = 2 [min_theta NLL(s, theta) - NLL(0, 1)] on n = b, c = 1,
    profiled here with scipy."""
    b, rel = 50.0, 0.1
    model, templates = counting_model(b, rel)
    asimov = asy.asimov_binned(templates, [0.0, 1.0])
    tested = np.array([5.0, 15.0, 30.0])

    def profile(s):
        f = lambda th: (s + b * th) - b * np.log(s + b * th) + 0.5 * ((th - 1) / rel) ** 2  # noqa: E731
        return optimize.minimize_scalar(
            f, bounds=(0.2, 2), method="bounded", options={"xatol": 1e-10}
        ).fun

    want = [2 * (profile(s) - profile(0.0)) for s in tested]
    np.testing.assert_allclose(asy.asimov_q(model, asimov, tested), want, rtol=1e-7)


def test_pool_asimov_matches_integrated_expected_likelihood():
    """Rate-only unbinned model (Gaussian signal on a flat background in [0, 10]): Asimov
    q_s from a weighted pool vs the expected NLL integrated with scipy. The background pool
    is stratified (bin centres: the weighted sum is then the midpoint rule, no MC noise; a
    random pool of 40k events scatters q_A by ~5% at s = 4)."""
    rng = np.random.default_rng(4)
    n = 40_000
    x = np.r_[rng.normal(5, 0.5, n), (np.arange(n) + 0.5) * 10 / n]
    lp = np.column_stack([stats.norm.logpdf(x, 5, 0.5), np.full(x.size, -np.log(10))])
    mu = np.array([1.0, 50.0])  # signal multiplier = events
    model = RateModel(mu, poi=0, constraint_sigma=[np.inf, 0.1])
    asimov = asy.asimov_pool(lp, np.repeat([0, 1], n), [0.0, 50.0])
    tested = np.array([4.0, 10.0])

    def expected_nll(s, theta):  # background-only truth: density 50/10 on [0, 10]
        rate = lambda v: s * stats.norm.pdf(v, 5, 0.5) + 5.0 * theta  # noqa: E731
        val = integrate.quad(lambda v: 5.0 * np.log(rate(v)), 0, 10, points=[5], limit=200)[0]
        return s + 50 * theta - val + 0.5 * ((theta - 1) / 0.1) ** 2

    def profile(s):
        return optimize.minimize_scalar(
            lambda th: expected_nll(s, th), bounds=(0.5, 1.5), method="bounded",
            options={"xatol": 1e-9},
        ).fun  # fmt: skip

    want = [2 * (profile(s) - profile(0.0)) for s in tested]
    np.testing.assert_allclose(asy.asimov_q(model, asimov, tested), want, rtol=1e-5)


def test_discovery_potential_solves_eq_97():
    """Known b = 20: the signal with median Z = 3 solves eq. 97 (written here) = 3."""
    model, templates = counting_model(20.0)
    s3 = asy.discovery_potential(model, lambda s: asy.asimov_binned(templates, [s, 1.0]), 3.0)
    want = optimize.brentq(lambda s: np.sqrt(2 * ((s + 20) * np.log1p(s / 20) - s)) - 3, 0.1, 1e3)
    assert abs(s3 - want) < 1e-6 * want
