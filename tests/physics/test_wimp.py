"""SI WIMP spectrum against wimprates 0.5.0 and against direct numerical integration.

wimprates 0.5.0 multiplies its truncated-Maxwellian speed distribution by
N_esc = erf(z) - 2z exp(-z^2)/sqrt(pi) where Lewin & Smith divide by it, so its f(v) integrates
to N_esc^2 = 0.970 instead of 1 (measured below). The comparison removes that factor, measured
from wimprates itself; our own normalisation is checked independently by integrating f(v).
"""

from __future__ import annotations

import warnings

import jax
import numpy as np
import pytest
from scipy import integrate

import darkfit  # noqa: F401  (float64)
from darkfit._errors import DarkfitInputError
from darkfit.physics import halo, wimp

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import numericalunits as nu
    import wimprates as wr

KM_S = nu.km / nu.s


def wimprates_speed_norm(t=None) -> float:
    """Integral of wimprates' observed speed distribution (1 if normalised)."""
    vmax = wr.v_max(t) / KM_S
    return integrate.quad(
        lambda v: wr.observed_speed_dist(v * KM_S, t) * KM_S, 0, vmax, limit=200, epsabs=0
    )[0]


def test_wimprates_speed_distribution_is_not_normalised():
    from math import erf, exp, pi, sqrt

    z = 544.0 / 238.0
    n_esc = erf(z) - 2 * z * exp(-(z**2)) / sqrt(pi)
    assert wimprates_speed_norm() == pytest.approx(n_esc**2, rel=1e-6)


def test_our_eta_matches_numerical_integral_of_normalised_maxwellian():
    h = halo.StandardHalo()
    v_e = 232.0

    def f_gal(v):  # truncated Maxwellian, galactic frame, 3-D density (normalised below)
        return np.exp(-(v**2) / h.v0_km_s**2) * (v < h.vesc_km_s)

    norm = integrate.quad(lambda v: 4 * np.pi * v**2 * f_gal(v), 0, h.vesc_km_s)[0]

    def eta_num(vmin):
        # eta = int d^3v f(v + v_E) / v over |v| > vmin; angular integral done with cos(theta)
        def inner(v):
            # galactic speed below v_esc  <=>  cos(theta) below c_max
            c_max = min(1.0, (h.vesc_km_s**2 - v**2 - v_e**2) / (2 * v * v_e))
            if c_max <= -1.0:
                return 0.0
            return integrate.quad(
                lambda c: np.exp(-(v**2 + v_e**2 + 2 * v * v_e * c) / h.v0_km_s**2), -1, c_max
            )[0]

        top = h.vesc_km_s + v_e
        return integrate.quad(lambda v: 2 * np.pi * v * inner(v), vmin, top, limit=200)[0] / norm

    for vmin in (50.0, 300.0, 500.0, 700.0):
        ours = float(halo.mean_inverse_speed(vmin, v_e, h))
        assert ours == pytest.approx(eta_num(vmin), rel=2e-6, abs=1e-14)


@pytest.mark.parametrize("mass", [10.0, 20.0, 50.0, 100.0, 300.0, 1000.0])
def test_spectrum_matches_wimprates(mass):
    e = np.linspace(1.0, 60.0, 25)
    v_e = wr.v_earth() / KM_S  # same Earth speed on both sides
    ours = np.asarray(wimp.dr_de_si(e, mass, 1e-45, v_earth_km_s=v_e))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = np.asarray(wr.rate_wimp_std(e, mass, 1e-45)) / wimprates_speed_norm()
    keep = ref > 1e-6 * ref.max()
    assert keep.sum() >= 3
    np.testing.assert_allclose(ours[keep], ref[keep], rtol=5e-3)
    # far beyond the kinematic end point both vanish
    assert np.all(ours[~keep] <= 1e-6 * ours.max() * 1.01)


def test_annual_modulation_matches_wimprates():
    date = "2021-06-02T12:00"  # near the maximum of the Earth's speed
    t = halo.days_since_j2000(date)
    assert t == pytest.approx(float(wr.j2000(np.datetime64(date, "ns").astype(np.int64))), abs=1e-9)
    ours_v = float(halo.earth_speed_km_s(t))
    ref_v = wr.v_earth(t) / KM_S
    # different orbit unit vectors (Lee et al. 2013 vs 2012) and peculiar velocity rounding
    assert ours_v == pytest.approx(ref_v, abs=0.5)
    e = np.array([2.0, 10.0, 30.0])
    ours = np.asarray(wimp.dr_de_si(e, 50.0, 1e-45, v_earth_km_s=ref_v))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = np.asarray(wr.rate_wimp_std(e, 50.0, 1e-45, t=t)) / wimprates_speed_norm(t)
    np.testing.assert_allclose(ours, ref, rtol=5e-3)
    # modulation: June speed above the annual mean, December below
    assert (
        ours_v
        > halo.mean_earth_speed_km_s()
        > float(halo.earth_speed_km_s(halo.days_since_j2000("2021-12-02")))
    )


def test_linear_in_sigma_and_differentiable():
    e = np.array([3.0, 20.0])
    a = np.asarray(wimp.dr_de_si(e, 40.0, 1e-46))
    b = np.asarray(wimp.dr_de_si(e, 40.0, 3e-46))
    np.testing.assert_allclose(b, 3 * a, rtol=1e-13)
    for e_kev in (3.0, 20.0):
        g = jax.grad(lambda m, e_kev=e_kev: wimp.dr_de_si(e_kev, m, 1e-46))(40.0)
        fd = (
            wimp.dr_de_si(e_kev, 40.0 * (1 + 1e-6), 1e-46)
            - wimp.dr_de_si(e_kev, 40.0 * (1 - 1e-6), 1e-46)
        ) / (80.0 * 1e-6)
        assert np.isfinite(g) and float(g) == pytest.approx(float(fd), rel=1e-5)
        gs = jax.grad(lambda s, e_kev=e_kev: wimp.dr_de_si(e_kev, 40.0, s))(1e-46)
        assert float(gs) == pytest.approx(float(wimp.dr_de_si(e_kev, 40.0, 1.0)), rel=1e-12)


@pytest.mark.parametrize(
    ("mass", "sigma"),
    [(0.0, 1e-47), (-5.0, 1e-47), (50.0, -1e-47), (float("nan"), 1e-47), ("abc", 1e-47)],
)
def test_bad_wimp_parameters(mass, sigma):
    with pytest.raises(DarkfitInputError, match="invalid"):
        wimp.check_wimp_parameters(mass, sigma)
