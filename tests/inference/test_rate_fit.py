"""Batched rate-multiplier fits: agreement with one-by-one iminuit fits of an independently
written NLL, closed-form estimators, bad input, flags."""

from __future__ import annotations

import numpy as np
import pytest
from iminuit import Minuit
from scipy import stats

from darkfit._errors import DarkfitInputError
from darkfit.inference.rate_fit import (
    RateModel,
    binned_data,
    binned_model,
    fit_rates,
    nll_values,
    profile_scan,
    unbinned_data,
)
from darkfit.inference.toys import counting_model, pool_toys

LO, HI = 0.0, 10.0  # 1-D observable range of the synthetic model


def log_densities(x):
    """ln p of a Gaussian signal (5, 0.5), a flat and a rising-linear background on [0, 10]."""
    return np.stack(
        [stats.norm.logpdf(x, 5.0, 0.5), np.full_like(x, -np.log(HI - LO)), np.log(x / 50.0)], -1
    )


def synthetic_pool(rng, n=20000):
    x = np.concatenate([rng.normal(5, 0.5, n), rng.uniform(LO, HI, n), HI * np.sqrt(rng.random(n))])
    return log_densities(x), np.repeat([0, 1, 2], n)


MU = np.array([8.0, 60.0, 30.0])  # signal, flat (constrained 10%), linear (free)
SIGMA = np.array([np.inf, 0.1, np.inf])


def reference_fit(log_p, centre, fixed_signal=None):
    """One iminuit MIGRAD fit of the NLL written out here with numpy (independent of the
    kernel): sum m mu - sum ln(sum m mu p) + (m1 - c1)^2 / (2 0.1^2), m >= 0."""
    p = np.exp(log_p) * MU

    def nll(m):
        return m @ MU - np.sum(np.log(p @ m)) + 0.5 * ((m[1] - centre) / 0.1) ** 2

    def grad(m):
        g = MU - p.T @ (1.0 / (p @ m))
        g[1] += (m[1] - centre) / 0.01
        return g

    start = np.array([1.0 if fixed_signal is None else fixed_signal, 1.0, 1.0])
    mn = Minuit(nll, start, grad=grad)
    mn.errordef = Minuit.LIKELIHOOD
    mn.limits = [(0, None)] * 3
    if fixed_signal is not None:
        mn.fixed[0] = True
    mn.strategy = 2
    mn.tol = 1e-8
    mn.migrad()
    assert mn.valid
    return np.array(mn.values), mn.fval


def test_batched_unbinned_fits_match_iminuit():
    """20 toys (~100 events, 3 sources, a constrained and a free background): values to 1e-4,
    NLL to 1e-6 for unconditional fits (signal >= 0) and fits with the signal fixed."""
    rng = np.random.default_rng(11)
    pool_lp, origin = synthetic_pool(rng)
    truth = MU * np.array([0.5, 1.0, 1.0])
    data, _ = pool_toys(rng, pool_lp, origin, truth, 20, x_true=[0.5, 1, 1], constraint_sigma=SIGMA)
    model = RateModel(MU, poi=0, constraint_sigma=SIGMA)
    scan = profile_scan(model, data, [0.0, 1.7])
    assert scan.hat.converged.all() and scan.cond.converged.all()
    hits_bound = 0
    for t in range(20):
        ev = data.log_p[t][data.weights[t] > 0]
        c = data.centres[t, 1]
        x, f = reference_fit(ev, c)
        np.testing.assert_allclose(scan.hat.x[t], x, atol=1e-4)
        assert abs(scan.hat.nll[t] - f) < 1e-6
        hits_bound += x[0] < 1e-6
        for k, s in enumerate([0.0, 1.7]):
            x, f = reference_fit(ev, c, fixed_signal=s)
            np.testing.assert_allclose(scan.cond.x[t, k], x, atol=1e-4)
            assert abs(scan.cond.nll[t, k] - f) < 1e-6
    assert hits_bound >= 1  # the signal bound is exercised


def test_binned_fits_match_iminuit_and_closed_form():
    """Counting experiment n ~ Pois(s + b theta), theta ~ N(c, 0.1): s_hat = n - b c,
    theta_hat = c when n > b c (stationarity of the NLL); a 3-bin template fit vs iminuit."""
    rng = np.random.default_rng(2)
    model, templates = counting_model(20.0, 0.1)
    n = rng.poisson(35, size=(64, 1))
    c = np.column_stack([np.ones(64), rng.normal(1, 0.1, 64)])
    fit = fit_rates(model, binned_data(templates, n, c))
    inside = n[:, 0] > 20 * c[:, 1]
    np.testing.assert_allclose(fit.x[inside, 0], n[inside, 0] - 20 * c[inside, 1], atol=1e-6)
    np.testing.assert_allclose(fit.x[inside, 1], c[inside, 1], atol=1e-8)

    tmpl = np.array([[5.0, 30.0, 5.0], [1.0, 20.0, 10.0], [0.2, 10.0, 30.0]])  # bins x sources
    counts = rng.poisson(tmpl @ np.array([1.5, 1.0, 1.0]), size=(8, 3))
    m3 = binned_model(tmpl, poi=0)
    res = fit_rates(m3, binned_data(tmpl, counts))

    def poisson_nll(k):
        return lambda m: np.sum(tmpl @ m - k * np.log(tmpl @ m))

    for t in range(8):
        mn = Minuit(poisson_nll(counts[t]), np.ones(3))
        mn.errordef = Minuit.LIKELIHOOD
        mn.limits = [(0, None)] * 3
        mn.strategy, mn.tol = 2, 1e-8
        mn.migrad()
        np.testing.assert_allclose(res.x[t], np.array(mn.values), atol=1e-4)
        assert abs(res.nll[t] - mn.fval) < 1e-6


def test_signal_bound_shared_with_an_empty_bin_is_reached():
    """Regression: bins empty under the background but not the signal, and bins with events
    but no signal (an NN-1D template fit, ml/limits.py, without a template floor). The best
    signal is 0, where the empty bins' rates vanish too; the fit must land on the bound
    (converged, a few iterations), not creep towards it, and match iminuit's minimum."""
    tmpl = np.array([  # bins x (background, signal) [events]
        [3.006, 0.0], [2.741, 0.0], [2.659, 2e-4], [3.105, 4.2e-3], [2.030, 0.0614],
        [0.426, 0.1542], [0.0931, 0.1848], [0.0395, 0.21], [0.0, 0.1912], [0.0, 0.194],
    ])  # fmt: skip
    counts = np.array([[1.0, 2, 2, 7, 5, 0, 0, 0, 0, 0], [0.0, 2, 3, 7, 1, 1, 1, 0, 0, 0]])
    res = fit_rates(binned_model(tmpl, poi=1), binned_data(tmpl, counts))
    assert res.converged.all() and res.n_failed == 0 and np.all(res.n_iter < 20)
    for t in range(2):
        k = counts[t]

        def nll(m, k=k):
            nu = tmpl @ m
            return np.sum(nu) - np.sum(k[k > 0] * np.log(nu[k > 0]))

        mn = Minuit(nll, [1.0, 1.0])
        mn.errordef = Minuit.LIKELIHOOD
        mn.limits = [(0, None)] * 2
        mn.strategy, mn.tol = 2, 1e-8
        mn.migrad()
        assert res.nll[t] <= mn.fval + 1e-7
        np.testing.assert_allclose(res.x[t], np.array(mn.values), atol=1e-3)
    assert res.x[0, 1] == 0.0  # the first dataset's best signal is on its bound, exactly


def test_negative_signal_down_to_positive_rates():
    """poi_lower = -inf: known-b counting gives s_hat = n - b, negative included (n = 0: the
    minimum lies on the boundary s + b = 0, reached but flagged, a documented limitation);
    for unbinned data the fit stays where every event's total rate is positive."""
    model, templates = counting_model(10.0)
    n = np.array([[0.0], [3.0], [10.0], [17.0]])
    fit = fit_rates(model, binned_data(templates, n), poi_lower=-np.inf)
    np.testing.assert_allclose(fit.x[:, 0], n[:, 0] - 10.0, atol=1e-6)
    assert fit.converged.tolist() == [False, True, True, True] and fit.n_failed == 1
    # a deficit at the signal peak: 38 flat events away from it, 2 at its centre (their
    # -ln rate is the barrier that keeps the minimum inside: s_hat ~ -0.43 by hand)
    x = np.r_[np.linspace(0.2, 3.9, 19), np.linspace(6.1, 9.8, 19), 5.0, 5.0]
    lp = log_densities(x)[:, :2]
    m2 = RateModel(MU[:2], poi=0)
    res = fit_rates(m2, unbinned_data(lp, np.ones(x.size)), poi_lower=-np.inf)
    rates = np.exp(lp) @ (res.x[0] * MU[:2])
    assert -1 < res.x[0, 0] < -0.1 and np.all(rates > 0) and res.converged[0]

    def nll(m):  # written out here; its gradient must vanish at an interior minimum
        return m @ MU[:2] - np.sum(np.log(np.exp(lp) @ (m * MU[:2])))

    h = 1e-6
    grad = [(nll(res.x[0] + h * e) - nll(res.x[0] - h * e)) / (2 * h) for e in np.eye(2)]
    np.testing.assert_allclose(grad, 0.0, atol=1e-5)


def test_zero_event_dataset_fits():
    """No events: every free multiplier goes to 0, constrained ones to their centre."""
    model = RateModel(MU, poi=0, constraint_sigma=SIGMA)
    data = unbinned_data(np.zeros((2, 8, 3)), np.zeros((2, 8), bool), centres=[1.0, 0.9, 1.0])
    fit = fit_rates(model, data)
    assert fit.converged.all()
    np.testing.assert_allclose(fit.x, [[0.0, 0.9 - 0.01 * 60, 0.0]] * 2, atol=1e-9)
    np.testing.assert_allclose(fit.nll, nll_values(model, data, fit.x[0]), rtol=1e-12)


def test_weights_equal_repeated_events_and_batch_independence():
    """Weight 2 == the event twice; a toy's fit does not depend on the other toys in its
    batch nor on the batch size (to 1e-10)."""
    rng = np.random.default_rng(5)
    lp = log_densities(rng.uniform(0.1, 10, 40))
    model = RateModel(MU, poi=0, constraint_sigma=SIGMA)
    w = np.r_[np.full(20, 2.0), np.zeros(20)]
    a = fit_rates(model, unbinned_data(lp, w))
    b = fit_rates(model, unbinned_data(np.r_[lp[:20], lp[:20]], np.ones(40)))
    np.testing.assert_allclose(a.x, b.x, atol=1e-8)
    np.testing.assert_allclose(a.nll, b.nll, atol=1e-9)
    batch = np.stack([lp] + [log_densities(rng.uniform(0.1, 10, 40)) for _ in range(6)])
    many = fit_rates(model, unbinned_data(batch, np.ones((7, 40))))
    one = fit_rates(model, unbinned_data(lp, np.ones(40)))
    np.testing.assert_allclose(many.x[0], one.x[0], atol=1e-10)


def test_bad_input_gives_one_line_errors():
    lp = np.zeros((1, 4, 3))
    with pytest.raises(DarkfitInputError, match="NaN"):
        unbinned_data(np.where(np.arange(3) == 1, np.nan, lp), np.ones((1, 4)))
    with pytest.raises(DarkfitInputError, match="zero density under every source"):
        unbinned_data(np.full((1, 4, 3), -np.inf), np.ones((1, 4)))
    with pytest.raises(DarkfitInputError, match="weights"):
        unbinned_data(lp, -np.ones((1, 4)))
    with pytest.raises(DarkfitInputError, match="mu"):
        RateModel([1.0, np.nan])
    with pytest.raises(DarkfitInputError, match="counts contain NaN"):
        binned_data([[1.0, 2.0]], [[np.nan]])
    with pytest.raises(DarkfitInputError, match="sources in log_p"):
        fit_rates(RateModel([1.0, 2.0]), unbinned_data(lp, np.ones((1, 4))))
    model = RateModel(MU)
    with pytest.raises(DarkfitInputError, match="poi_value"):
        fit_rates(model, unbinned_data(lp, np.ones((1, 4))), poi_value=np.nan)


def test_non_converged_fits_are_flagged_not_dropped():
    """An impossible tolerance: every fit is flagged and counted, every toy is kept."""
    rng = np.random.default_rng(3)
    lp = np.stack([log_densities(rng.uniform(0.1, 10, 30)) for _ in range(5)])
    model = RateModel(MU, poi=0, constraint_sigma=SIGMA)
    fit = fit_rates(model, unbinned_data(lp, np.ones((5, 30))), tol=-1.0, max_iter=3)
    assert fit.x.shape == (5, 3) and fit.n_failed == 5 and not fit.converged.any()
    assert np.all(np.isfinite(fit.nll))


def test_pool_toys_are_poisson_and_use_distinct_events():
    """Per-source counts have Poisson means and variances (4 sigma), every toy's rows come
    from the right source, and toys share no pool event while the pool suffices."""
    from darkfit.inference.toys import draw_pool_indices

    rng = np.random.default_rng(9)
    origin = np.repeat([0, 1, 2], [3000, 100_000, 100_000])
    draw = draw_pool_indices(rng, origin, MU, 1000)
    for j, m in enumerate(MU):
        c = draw.counts[:, j]
        assert abs(c.mean() - m) < 4 * np.sqrt(m / 1000) and abs(c.var() / m - 1) < 4 * np.sqrt(
            2 / 1000
        )
    rows = draw.index[draw.index >= 0]
    assert rows.size == draw.counts.sum()
    bkg = rows[origin[rows] > 0]  # 60k + 30k drawn from 100k each: no event twice
    assert np.unique(bkg).size == bkg.size
    per_toy = [np.bincount(origin[r[r >= 0]], minlength=3) for r in draw.index]
    np.testing.assert_array_equal(per_toy, draw.counts)
    assert draw.reuse[0] > 1  # 8000 signal events drawn from 3000: reported
