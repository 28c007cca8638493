"""Test statistics (arXiv:1007.1727 eqs. 8-16) against closed forms of the known-background
counting experiment, and their toy distributions against the asymptotic laws."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from darkfit.inference import asymptotics as asy
from darkfit.inference.rate_fit import binned_data, profile_scan
from darkfit.inference.test_statistics import q_tilde_mu, scan_statistic
from darkfit.inference.toys import binned_toys, counting_model

B = 10.0
N = np.arange(0, 26, dtype=float)  # observed counts
S = np.array([2.0, 8.0, 15.0])  # tested signals


def nll(n, lam):
    """Poisson NLL without ln n! (written here, independent of the fit code)."""
    return lam - np.where(n > 0, n * np.log(np.where(lam > 0, lam, 1.0)), 0.0)


def test_statistics_match_counting_closed_forms():
    """n ~ Pois(s + b), b known: s_hat = n - b (>= 0 for q0, q~; unbounded for q_mu, t_mu)."""
    model, templates = counting_model(B)
    data = binned_data(templates, N[:, None])
    n, s = N[:, None], S[None, :]
    hat = np.maximum(n - B, 0.0)
    expect = {
        "q0": np.where(N > B, 2 * (nll(N, B) - nll(N, N)), 0.0)[:, None],
        "q_tilde": np.where(hat <= s, 2 * (nll(n, s + B) - nll(n, hat + B)), 0.0),
        "t_tilde": 2 * (nll(n, s + B) - nll(n, hat + B)),
    }
    for name, want in expect.items():
        scan = scan_statistic(model, data, [0.0] if name == "q0" else S, name)
        assert scan.ok.all()
        np.testing.assert_allclose(scan.q, want, atol=1e-8)
    pos = N > 0  # n = 0 puts the unbounded s_hat = -b on the s + b >= 0 boundary (flagged)
    unb = {
        "q_mu": np.where(n - B <= s, 2 * (nll(n, s + B) - nll(n, n)), 0.0),
        "t_mu": 2 * (nll(n, s + B) - nll(n, n)),
    }
    for name, want in unb.items():
        scan = scan_statistic(model, data, S, name)
        assert scan.ok[pos].all() and not scan.ok[~pos].any()
        np.testing.assert_allclose(scan.q[pos], want[pos], atol=1e-8)


def test_q_tilde_with_nll_zero_equals_bounded_fit():
    """Eq. 16 from the unbounded fit (mu_hat < 0 branch through NLL(0)) == the mu >= 0 fit."""
    model, templates = counting_model(B)
    data = binned_data(templates, N[1:, None])
    free = profile_scan(model, data, [0.0, *S], poi_lower=-np.inf)
    mu_hat = free.poi_hat[:, None]
    q = q_tilde_mu(free.cond.nll[:, 1:], free.hat.nll[:, None], mu_hat, S, free.cond.nll[:, :1])
    bounded = scan_statistic(model, data, S, "q_tilde")
    assert (mu_hat < 0).sum() >= 5
    np.testing.assert_allclose(q, bounded.q, atol=1e-8)


def _ks_continuous(q, cdf):
    """KS test of the q > 0 part against the conditional law (F(q) - F(0)) / (1 - F(0))."""
    f0 = cdf(0.0)
    pos = q[q > 1e-9]
    return stats.kstest(pos, lambda v: (cdf(v) - f0) / (1 - f0)), (q <= 1e-9).mean()


def _toy_stats(b, rel, n_toys, seed):
    """q0 of background-only toys and q~_mu at mu = 2 sigma_A of toys generated at mu."""
    model, templates = counting_model(b, rel)
    asimov = asy.asimov_binned(templates, [0.0, 1.0])
    sigma = np.sqrt(b + (rel * b) ** 2)  # Gaussian approximation, only to place mu
    mu = 2.0 * sigma
    a = np.sqrt(asy.asimov_q(model, asimov, [mu])[0])  # mu / sigma_A
    rng = np.random.default_rng(seed)
    bkg = binned_toys(rng, templates, [0.0, 1.0], n_toys, model.constraint_sigma)
    sig = binned_toys(rng, templates, [mu, 1.0], n_toys, model.constraint_sigma)
    q0 = scan_statistic(model, bkg, [0.0], "q0")
    qt = scan_statistic(model, sig, [mu], "q_tilde")
    assert q0.ok.all() and qt.ok.all()
    return q0.q[:, 0], qt.q[:, 0], a


@pytest.mark.slow
def test_toy_distributions_match_asymptotic_laws_at_large_counts():
    """b = 2000 with a 5% constraint, 2048 toys: q0 ~ 1/2 delta + 1/2 chi2_1 and q~_mu ~
    F(q~|mu) of CCGV Sec. 3.7 (KS p > 0.01; point masses at 0 within 3 binomial sigma)."""
    q0, qt, a = _toy_stats(2000.0, 0.05, 2048, seed=7)
    (ks0, frac0) = _ks_continuous(q0, asy.cdf_q0)
    (kst, fract) = _ks_continuous(qt, lambda v: asy.cdf_q_tilde(v, a))
    tol = 3 * np.sqrt(0.25 / q0.size)
    print(f"\nlarge counts: q0 KS p={ks0.pvalue:.3f} P(q0=0)={frac0:.3f}; "
          f"q~ KS p={kst.pvalue:.3f} P(q~=0)={fract:.3f} (a={a:.2f})")  # fmt: skip
    assert ks0.pvalue > 0.01 and kst.pvalue > 0.01
    assert abs(frac0 - 0.5) < tol and abs(fract - 0.5) < tol


@pytest.mark.slow
def test_low_count_deviations_are_measured():
    """b = 2, no constraint: the discreteness is visible (KS p < 1e-3 for both statistics:
    the test above has the power to see a wrong law). Measured numbers are printed."""
    q0, qt, a = _toy_stats(2.0, 0.0, 2048, seed=8)
    (ks0, frac0) = _ks_continuous(q0, asy.cdf_q0)
    (kst, fract) = _ks_continuous(qt, lambda v: asy.cdf_q_tilde(v, a))
    c90 = np.quantile(qt, 0.9, method="inverted_cdf")
    print(f"\nlow counts (b=2): q0 KS D={ks0.statistic:.3f} P(q0=0)={frac0:.3f}, "
          f"P(q0>=2.71)={np.mean(q0 >= 2.706):.4f} (asym 0.05); q~ KS D={kst.statistic:.3f} "
          f"P(q~=0)={fract:.3f}; toy 90% crit {c90:.3f} vs asym "
          f"{asy.critical_value('q_tilde', 0.9, a):.3f} (a={a:.2f})")  # fmt: skip
    assert ks0.pvalue < 1e-3 and kst.pvalue < 1e-3
