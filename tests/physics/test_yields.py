"""NEST-v2 yields and widths against nestpy 2.1.3 (the NEST C++ code itself).

Mean yields are compared with ``NESTcalc.GetYields`` / ``GetYieldERWeighted`` (deterministic),
NEST's second moments with ``NESTcalc.GetQuanta`` sampling (fixed seed; tolerance = a stated
systematic allowance for NEST's rounding, clamping and skewness + 4.5 standard errors), and
the gradients with central finite differences. Density is passed explicitly everywhere.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import nestpy
import numpy as np
import pytest

import darkfit  # noqa: F401  (float64)
from darkfit import DarkfitInputError
from darkfit.physics import yields as y

RHO = 2.9
FIELDS = (23.0, 193.0, 500.0)
ENERGIES = np.geomspace(1.0, 50.0, 25)
#: NEST scales NR yields by sqrt(131.293 / A) for the recoiling isotope A; nestpy's GetYields
#: default A = 131.293 -> int 131 (NEST.cpp GetYieldNR). darkfit uses the mean atom (factor 1).
NEST_NR_ISOTOPE_FACTOR = np.sqrt(131.293 / 131.0)
N_SAMPLES = 20_000
Z_TOL = 4.5


@pytest.fixture(scope="module")
def nc():
    return nestpy.NESTcalc(nestpy.detectors.VDetector())


def _nest_yields(nc, interaction, energies, field, rho=RHO):
    res = [nc.GetYields(interaction, float(e), rho, field) for e in energies]
    return tuple(
        np.array([getattr(r, k) for r in res])
        for k in ("PhotonYield", "ElectronYield", "ExcitonRatio")
    )


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("rho", [2.85, RHO, 2.95])
def test_nr_mean_yields_match_nestpy(nc, field, rho):
    m = y.nr_mean_yields(ENERGIES, field, rho)
    ph, el, ratio = _nest_yields(nc, nestpy.interactions.NR, ENERGIES, field, rho)
    # The required agreement (<= 3%) ...
    assert np.max(np.abs(np.asarray(m.n_photons) / ph - 1)) < 0.03
    assert np.max(np.abs(np.asarray(m.n_electrons) / el - 1)) < 0.03
    # ... and the actual one once NEST's isotope factor (only) is divided out.
    np.testing.assert_allclose(m.n_photons, ph / NEST_NR_ISOTOPE_FACTOR, rtol=1e-10)
    np.testing.assert_allclose(m.n_electrons, el / NEST_NR_ISOTOPE_FACTOR, rtol=1e-10)
    # NEST computes N_ex/N_i from its scaled N_e: agreement to the same 0.2% level.
    np.testing.assert_allclose(m.exciton_ratio, ratio, rtol=3e-3)


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("rho", [2.85, RHO, 2.95])
@pytest.mark.parametrize("model", ["beta", "gamma"])
def test_er_mean_yields_match_nestpy(nc, field, rho, model):
    inter = nestpy.interactions.beta if model == "beta" else nestpy.interactions.gammaRay
    m = y.er_mean_yields(ENERGIES, field, rho, model=model)
    ph, el, ratio = _nest_yields(nc, inter, ENERGIES, field, rho)
    np.testing.assert_allclose(m.n_photons, ph, rtol=1e-10)
    np.testing.assert_allclose(m.n_electrons, el, rtol=1e-10)
    np.testing.assert_allclose(m.exciton_ratio, ratio, rtol=1e-10)


@pytest.mark.parametrize("field", FIELDS)
def test_er_weighted_matches_nestpy(nc, field):
    m = y.er_mean_yields(ENERGIES, field, RHO, model="weighted")
    res = [nc.GetYieldERWeighted(float(e), RHO, field) for e in ENERGIES]
    np.testing.assert_allclose(m.n_photons, [r.PhotonYield for r in res], rtol=1e-10)
    np.testing.assert_allclose(m.n_electrons, [r.ElectronYield for r in res], rtol=1e-10)


def test_sub_kev_and_threshold_match_nestpy(nc):
    """Below 1 keV, incl. NEST's zero-yield threshold (< 1 quantum) and E = 0 (darkfit: 0)."""
    e = np.array([0.0, 0.005, 0.0134, 0.0135, 0.1, 0.2, 0.25, 0.3, 0.5, 0.8])
    e_nest = np.maximum(e, 1e-9)
    m = y.nr_mean_yields(e, 193.0, RHO)
    ph, el, _ = _nest_yields(nc, nestpy.interactions.NR, e_nest, 193.0)
    np.testing.assert_allclose(m.n_photons, ph / NEST_NR_ISOTOPE_FACTOR, rtol=1e-10, atol=0)
    np.testing.assert_allclose(m.n_electrons, el / NEST_NR_ISOTOPE_FACTOR, rtol=1e-10, atol=0)
    m = y.er_mean_yields(e, 193.0, RHO)
    ph, el, _ = _nest_yields(nc, nestpy.interactions.beta, e_nest, 193.0)
    np.testing.assert_allclose(m.n_photons, ph, rtol=1e-10, atol=0)
    np.testing.assert_allclose(m.n_electrons, el, rtol=1e-10, atol=0)
    grad = jax.grad(lambda x: y.er_mean_yields(x, 193.0, RHO, model="weighted").n_electrons)
    assert float(grad(0.0)) == 0.0


def test_work_function_matches_nestpy():
    for rho in (2.8, 2.9, 3.0):
        w = nestpy.NESTcalc.WorkFunction(rho, 131.293, True)
        w_kev, alpha = y.work_function(rho)
        assert float(w_kev) == pytest.approx(w.Wq_eV * 1e-3, rel=1e-12)
        assert float(alpha) == pytest.approx(w.alpha, rel=1e-12)


def _sample_nest(nc, interaction, e, field, n=N_SAMPLES, seed=12345):
    nestpy.RandomGen.rndm().set_seed(seed)
    yr = nc.GetYields(interaction, e, RHO, field)
    out = np.empty((n, 2))
    for k in range(n):
        q = nc.GetQuanta(yr, RHO)
        out[k] = q.photons, q.electrons
    return out


def _check_means(sample, m, syst):
    """Sample means against the model within syst (relative) + Z_TOL standard errors."""
    want = np.array([float(m.n_photons), float(m.n_electrons)])
    se = sample.std(0) / np.sqrt(len(sample))
    assert np.all(np.abs(sample.mean(0) - want) <= syst * want + Z_TOL * se), (sample.mean(0), want)


def _check_moments(sample, var_ph, var_e, cov, syst):
    """Sample (Var N_ph, Var N_e, Cov) against the model within syst + Z_TOL standard errors."""
    n = len(sample)
    c = np.cov(sample.T)
    sd = np.sqrt([var_ph, var_e])
    for got, want, se in (
        (c[0, 0], var_ph, np.sqrt(2.0 / n) * var_ph),
        (c[1, 1], var_e, np.sqrt(2.0 / n) * var_e),
        (c[0, 1], cov, np.sqrt((var_ph * var_e + cov**2) / n)),
    ):
        assert abs(got - want) <= syst * sd[0] * sd[1] + Z_TOL * se, (got, want)


ER_CASES = [(e, f) for f in FIELDS for e in (1.5, 5.0, 20.0, 50.0)]


@pytest.mark.parametrize(("e", "field"), ER_CASES)
def test_er_second_moments_match_nest_getquanta(nc, e, field):
    """NEST ER moments (analytic) = GetQuanta sampling; darkfit's chain reproduces them."""
    sample = _sample_nest(nc, nestpy.interactions.beta, e, field)
    m = y.er_mean_yields(e, field, RHO)
    fano, omega = y.er_widths(m, field, RHO)
    nest = y.er_nest_covariance(m, field, RHO)
    # Our own algebra: the chain with (fano, omega) has NEST's covariance (not an external ref).
    np.testing.assert_allclose(y.chain_covariance(m, fano, omega), nest, rtol=1e-10, atol=1e-10)
    # Means: NEST's skew-Gaussian keeps the mean; clamps at 0 and N_i are negligible here.
    _check_means(sample, m, syst=0.002)
    # 2% allowance: rounding (+1/12 per draw) and NEST's clamps; skewness keeps the variance.
    _check_moments(sample, *map(float, nest), syst=0.02)


NR_CASES = [(e, f) for f in FIELDS for e in (1.0, 3.0, 10.0, 30.0, 50.0)]


@pytest.mark.parametrize(("e", "field"), NR_CASES)
def test_nr_second_moments_of_nest(nc, e, field):
    """``nr_nest_covariance`` describes NEST's NR GetQuanta (5% allowance for its rounding and
    the clamps of N_i, N_ex, N_e at a few quanta; 1 keV has ~10 quanta)."""
    sample = _sample_nest(nc, nestpy.interactions.NR, e, field)
    m = y.nr_mean_yields(e, field, RHO)
    _check_means(sample, m, syst=0.03 if e < 5 else 0.002)
    _check_moments(sample, *map(float, y.nr_nest_covariance(m)), syst=0.05 if e < 5 else 0.02)


def test_nr_chain_widths_vs_nest():
    """darkfit's NR chain: Var N_e and Var N_ph equal NEST's where omega > 0, exceed them
    (binomial floor of the chain) where omega = 0, by at most 35% in sd over 1-50 keV."""
    for field in FIELDS:
        m = y.nr_mean_yields(ENERGIES, field, RHO)
        fano, omega = y.nr_widths(m, field, RHO)
        np.testing.assert_allclose(fano, 0.4, rtol=1e-12)  # F_i a + F_ex (1-a), F_i = F_ex
        var_ph, var_e, _ = map(np.asarray, y.chain_covariance(m, fano, omega))
        n_ph, n_e, _ = map(np.asarray, y.nr_nest_covariance(m))
        matched = np.asarray(omega) > 0
        np.testing.assert_allclose(var_e[matched], n_e[matched], rtol=1e-10)
        np.testing.assert_allclose(var_ph[matched], n_ph[matched], rtol=1e-10)
        assert np.all(var_e >= n_e * (1 - 1e-12)) and np.all(var_ph >= n_ph * (1 - 1e-12))
        assert np.max(np.sqrt(var_ph / n_ph)) < 1.35 and np.max(np.sqrt(var_e / n_e)) < 1.35
    # At 500 V/cm the chain matches NEST exactly from 20 keV up.
    m = y.nr_mean_yields(ENERGIES, 500.0, RHO)
    assert np.all(np.asarray(y.nr_widths(m, 500.0, RHO)[1])[ENERGIES > 20] > 0)


def test_widths_from_energy_equal_widths_from_means():
    e = jnp.array([2.0, 10.0])
    m = y.nr_mean_yields(e, 193.0, RHO)
    np.testing.assert_array_equal(y.nr_widths(e, 193.0, RHO), y.nr_widths(m, 193.0, RHO))
    m = y.er_mean_yields(e, 193.0, RHO, model="gamma")
    np.testing.assert_array_equal(
        y.er_widths(e, 193.0, RHO, model="gamma"), y.er_widths(m, 193.0, RHO)
    )


def _scalar(kind, params):
    e = jnp.array([2.0, 7.0, 25.0])
    if kind == "nr_yield":
        m = y.nr_mean_yields(e, 193.0, RHO, params)
        return jnp.sum(m.n_photons + 2 * m.n_electrons + sum(y.nr_widths(m, 193.0, RHO)))
    if kind == "nr_width":
        m = y.nr_mean_yields(jnp.array([30.0, 50.0]), 500.0, RHO)  # omega > 0 here
        fano, omega = y.nr_widths(m, 500.0, RHO, params)
        return jnp.sum(fano + 10 * omega)
    if kind == "er_width":
        return jnp.sum(sum(y.er_widths(e, 193.0, RHO, params)))
    m = y.er_mean_yields(e, 193.0, RHO, params, model=kind)
    return jnp.sum(m.n_photons + 2 * m.n_electrons)


PARAM_CASES = [
    ("nr_yield", y.NRYieldParams()),
    ("nr_width", y.NRWidthParams()),
    ("beta", y.ERYieldParams()),
    ("gamma", y.ERGammaYieldParams()),
    ("weighted", y.ERWeightedParams()),
    ("er_width", y.ERWidthParams()),
]


@pytest.mark.parametrize(("kind", "params"), PARAM_CASES)
def test_gradients_finite_and_correct(kind, params):
    """jax.grad is finite for every parameter and matches a central finite difference along
    a random direction (each parameter moved by a random fraction of its own size)."""
    params = jax.tree.map(lambda v: jnp.asarray(v, dtype=jnp.float64), params)
    fn = jax.jit(lambda p: _scalar(kind, p))
    grads = jax.grad(fn)(params)
    leaves = jax.tree.leaves(grads)
    assert len(leaves) == len(jax.tree.leaves(params))
    assert all(bool(jnp.isfinite(g)) for g in leaves)
    rng = np.random.default_rng(7)
    step = jax.tree.map(lambda v: rng.uniform(-1, 1) * max(abs(float(v)), 1e-2), params)
    h = 1e-6
    plus = jax.tree.map(lambda v, d: v + h * d, params, step)
    minus = jax.tree.map(lambda v, d: v - h * d, params, step)
    fd = (fn(plus) - fn(minus)) / (2 * h)
    ad = sum(float(g * d) for g, d in zip(leaves, jax.tree.leaves(step), strict=True))
    assert ad == pytest.approx(float(fd), rel=1e-5, abs=1e-8)


def test_gradients_wrt_energy_field_density():
    for fn in (y.nr_mean_yields, y.er_mean_yields):
        g = jax.jit(jax.grad(lambda e, f, r, fn=fn: fn(e, f, r).n_electrons, argnums=(0, 1, 2)))
        assert all(np.isfinite(float(v)) for v in g(5.0, 193.0, 2.9))


def test_jit_and_vmap():
    fields = jnp.array([23.0, 193.0, 500.0])
    e = jnp.linspace(1.0, 50.0, 7)
    f_nr = jax.jit(jax.vmap(lambda f: y.nr_mean_yields(e, f, RHO).n_electrons))
    f_er = jax.jit(jax.vmap(lambda f: y.er_widths(e, f, RHO)[1]))
    assert f_nr(fields).shape == (3, 7) and f_er(fields).shape == (3, 7)
    np.testing.assert_allclose(f_nr(fields)[1], y.nr_mean_yields(e, 193.0, RHO).n_electrons)


def test_field_dependence_direction():
    """Physics sanity: more field, more charge and less light (NR and ER, 5 keV)."""
    for fn in (y.nr_mean_yields, y.er_mean_yields):
        lo, hi = fn(5.0, 50.0, RHO), fn(5.0, 1000.0, RHO)
        assert hi.n_electrons > lo.n_electrons and hi.n_photons < lo.n_photons


def test_bad_input_raises():
    with pytest.raises(DarkfitInputError, match="model"):
        y.er_mean_yields(5.0, 193.0, RHO, model="alpha")
    with pytest.raises(DarkfitInputError, match="params"):
        y.er_mean_yields(5.0, 193.0, RHO, y.ERYieldParams(), model="gamma")
    with pytest.raises(DarkfitInputError, match="exciton_ratio"):
        y.nr_widths(y.MeanYields(jnp.ones(1), jnp.ones(1), jnp.ones(1)), 193.0, RHO)
