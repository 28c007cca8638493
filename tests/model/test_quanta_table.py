"""The joint quanta table equals P(Nq) P(Ne | Nq) evaluated element by element."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import darkfit  # noqa: F401  (float64)
from darkfit.model._counting import log_factorial_table
from darkfit.model.quanta_table import electron_pmf, joint_quanta_table


@pytest.mark.parametrize(
    ("model", "recoil_type"),
    [("nest", "er"), ("nest", "nr"), ("flamedisx", "er"), ("flamedisx", "nr")],
)
def test_table_equals_elementwise_product(model, recoil_type):
    """The table evaluates P(Ne | Nq)'s parameters once per Nq and gathers them; the result is
    the same function as evaluating them at every (Nph, Ne), value and derivative in the field."""
    n_ph, n_el = 140, 90
    lf = log_factorial_table(n_ph + n_el + 10)
    p_nq = np.random.default_rng(5).uniform(size=n_ph + n_el + 1)
    kw = dict(model=model, recoil_type=recoil_type, density_g_cm3=2.862)

    def table(field):
        return joint_quanta_table(p_nq, n_ph, n_el, lf, field_v_cm=field, **kw)

    def elementwise(field):
        nph = np.arange(n_ph + 1.0)[:, None]
        nel = np.arange(n_el + 1.0)[None, :]
        nq = nph + nel
        return p_nq[nq.astype(int)] * electron_pmf(nel, nq, lf, field_v_cm=field, **kw)

    a, b = np.asarray(table(193.0)), np.asarray(elementwise(193.0))
    assert a.shape == (n_ph + 1, n_el + 1) and np.all(np.isfinite(a))
    assert b.max() > 0.1  # not a table of zeros
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15 * b.max())
    w = np.random.default_rng(6).uniform(size=a.shape)
    ga = jax.grad(lambda f: (w * table(f)).sum())(193.0)
    gb = jax.grad(lambda f: (w * elementwise(f)).sum())(193.0)
    # finite also for NEST ER at Nq = 0 (its Fano factor's sqrt(Nq F) gave 0/0 = NaN before)
    assert np.isfinite(float(ga))
    assert float(ga) == pytest.approx(float(gb), rel=1e-10)


def _cell_avg_reference(n: int, u_a: float, u_b: float, s: float) -> float:
    """(1 / (u_b - u_a)) int_{u_a}^{u_b} P(round(Normal(u, s)) = n) du by adaptive quadrature
    (scipy), the integrand from the normal's survival function on the side of the tail (an
    independent route: no antiderivative, no complement)."""
    from scipy import integrate
    from scipy.stats import norm

    def p(u):
        if n - 0.5 > u:  # upper tail: P(x > n - 1/2) - P(x > n + 1/2)
            return norm.sf((n - 0.5 - u) / s) - norm.sf((n + 0.5 - u) / s)
        return norm.cdf((n + 0.5 - u) / s) - norm.cdf((n - 0.5 - u) / s)

    val, _ = integrate.quad(p, u_a, u_b, epsabs=0.0, epsrel=1e-13, limit=200)
    return val / (u_b - u_a)


@pytest.mark.parametrize(("u_a", "u_b", "s"), [(700.0, 701.3, 6.6), (40.0, 40.2, 2.1)])
def test_cell_averaged_quanta_pmf_is_accurate_in_both_tails(u_a, u_b, s):
    """P(Nq) averaged over an energy cell (NEST, :func:`quanta_pmf`) is accurate to 1e-9
    relative from the bulk out to ~35 sigma on both sides. Above the cell it used to be the
    difference of two averages of Phi near 1, i.e. rounding noise below ~1e-13 (17% off at
    1e-29 of the largest entry in a NEST ER table)."""
    from darkfit.model.quanta_table import _cell_avg_rounded_normal

    mid = 0.5 * (u_a + u_b)
    zs = np.array([-35.0, -20.0, -8.0, -2.0, 0.0, 1.0, 3.0, 8.0, 20.0, 35.0])
    ns = np.unique(np.maximum(np.round(mid + zs * s), 1.0))
    got = np.asarray(_cell_avg_rounded_normal(ns, u_a, u_b, s))
    ref = np.array([_cell_avg_reference(int(n), u_a, u_b, s) for n in ns])
    assert ref.min() < 1e-200 and ref.max() > 1e-2  # spans the bulk and the far tails
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=0)


@pytest.mark.parametrize(("recoil_type", "e_max_kev"), [("er", 10.0), ("nr", 30.0)])
def test_quanta_pmf_beyond_the_endpoint_falls_to_zero(recoil_type, e_max_kev):
    """NEST P(Nq) of a spectrum ending at ``e_max_kev`` (``lz`` preset): beyond its 99.9%
    quantile it falls at every step until it underflows, instead of levelling off at rounding
    noise (it stayed at ~1e-14 per Nq out to Nq = 3000, both recoil types, before the upper-tail
    differences were taken between small numbers)."""
    from darkfit.detector import load_detector
    from darkfit.model.quanta_table import quanta_pmf
    from darkfit.model.rate_model import SourceRateModel
    from darkfit.model.sources import Source
    from darkfit.physics.spectra import FlatSpectrum

    src = Source(recoil_type, FlatSpectrum(1.0, 0.5, e_max_kev, recoil_type))
    m = SourceRateModel(load_detector("lz"), src)
    _, field, rho, qp = m._resolve({})
    p = np.asarray(
        quanta_pmf(
            m.cells,
            3000,
            model="nest",
            recoil_type=recoil_type,
            field_v_cm=field,
            density_g_cm3=rho,
            quanta_params=qp,
        )
    )
    assert p.sum() == pytest.approx(1.0, abs=1e-9)
    tail = p[int(np.argmax(np.cumsum(p) > 0.999)) :]
    normal = tail[tail > 1e-290]  # above the subnormal range
    assert normal.size > 100 and np.all(np.diff(normal) < 0)
    assert tail[-1] == 0.0  # Nq = 3000 is far beyond the endpoint (< 1500 quanta)


@pytest.mark.parametrize(
    ("model", "recoil_type"),
    [("nest", "er"), ("nest", "nr"), ("flamedisx", "er"), ("flamedisx", "nr")],
)
def test_electron_moments_equal_those_of_the_pmf(model, recoil_type):
    """The closed-form mean and sd of Ne given Nq (which bound the tables' electron numbers)
    equal the moments summed from :func:`electron_pmf` itself."""
    from darkfit.model.quanta_table import electron_moments

    nq = np.array([3.0, 40.0, 400.0, 2500.0])
    lf = log_factorial_table(3000)
    kw = dict(model=model, recoil_type=recoil_type, field_v_cm=193.0, density_g_cm3=2.862)
    ne = np.arange(3001.0)[:, None]
    p = np.asarray(electron_pmf(ne, nq[None, :], lf, **kw))
    assert np.allclose(p.sum(axis=0), 1.0, atol=1e-9)
    mean = (ne * p).sum(axis=0)
    sd = np.sqrt(((ne - mean) ** 2 * p).sum(axis=0))
    m, s = (np.asarray(a) for a in electron_moments(nq, **kw))
    # NEST's rounded normal is clipped to [0, Nq]: its moments are the unclipped ones only
    # where the clipping is many sd away, and rounding adds 1/12 to the variance
    ok = (m > 5 * s) & (nq - m > 5 * s) if model == "nest" else np.ones(nq.size, bool)
    assert ok.sum() >= 2
    np.testing.assert_allclose(m[ok], mean[ok], rtol=1e-6, atol=1e-6)
    var_r = 1.0 / 12.0 if model == "nest" else 0.0
    np.testing.assert_allclose(np.sqrt(s[ok] ** 2 + var_r), sd[ok], rtol=1e-4)


@pytest.mark.parametrize(
    ("preset", "recoil_type", "e_max_kev"),
    [
        ("lz", "er", 20.0),
        ("lz", "nr", 100.0),
        ("flamedisx", "er", 10.0),
        ("flamedisx", "nr", 150.0),
    ],
)
def test_table_electron_bound_drops_no_probability(preset, recoil_type, e_max_kev):
    """A source's table stops at the most electrons it can produce (the largest mean + 10 sd
    of P(Ne | Nq) over its Nq range, with margin), not at the S2 ROI's bound: the probability
    beyond it, in a table running to the S2 ROI's bound, is < 1e-40 of the whole, also with the
    yields moved within the margin (flamedisx preset, NR to 150 keV: 524 instead of 3610
    electron numbers)."""
    from darkfit.detector import load_detector
    from darkfit.model.rate_model import SourceRateModel
    from darkfit.model.sources import Source
    from darkfit.physics.spectra import FlatSpectrum

    det = load_detector(preset)
    src = Source(recoil_type, FlatSpectrum(1.0, 0.5, e_max_kev, recoil_type))
    m = SourceRateModel(det, src)
    n_ph, n_el = m.bounds["n_ph"], m.bounds["n_el"]
    wide = int(min(m._source_nq_max(), 4000))
    assert wide > n_el  # the bound is tighter than before
    points = [{}]
    if preset == "lz":  # NEST: yields moved by about the margin
        d = m.defaults()
        k = "alpha" if recoil_type == "nr" else "m1_a"  # more quanta / more charge
        points.append({k: d[k] * 1.1})
    for th in points:
        t = np.asarray(m.joint_table(th, n_ph, wide))
        assert t.sum() > 0.5
        assert t[:, n_el + 1 :].sum() < 1e-40 * t.sum(), th
