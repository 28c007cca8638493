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
