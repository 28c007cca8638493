"""The frozen-S1 likelihood equals the full unbinned likelihood (several sources, mu included)."""

from __future__ import annotations

import pytest

import darkfit  # noqa: F401  (float64)
from darkfit.detector import load_detector
from darkfit.likelihood.frozen import FrozenS1Likelihood
from darkfit.likelihood.unbinned import UnbinnedLikelihood
from darkfit.model.simulate import simulate
from darkfit.model.sources import Source
from darkfit.physics.spectra import FlatSpectrum

DET = load_detector("flamedisx")
SOURCES = [
    Source("er", FlatSpectrum(1.0, 0.0, 10.0, "er")),
    Source("nr", FlatSpectrum(1.0, 1.0, 60.0, "nr")),
]
THETA0 = {"er_rate": 1.0, "nr_rate": 1.0, "g2": DET.g2, "electron_lifetime_us": 452.0}


@pytest.fixture(scope="module")
def liks():
    df = simulate(DET, SOURCES, n_events=[600, 200], seed=5)
    ev = df[df.in_roi].iloc[:200].reset_index(drop=True)
    lik = UnbinnedLikelihood(DET, SOURCES, ev, 1.0)
    return lik, FrozenS1Likelihood(lik, THETA0)


@pytest.mark.parametrize(
    "shift", [{}, {"er_rate": 1.3, "nr_rate": 0.6, "g2": 1.04, "electron_lifetime_us": 0.93}]
)
def test_frozen_likelihood_equals_full(liks, shift):
    lik, fz = liks
    th = {k: v * shift.get(k, 1.0) for k, v in THETA0.items()}
    assert fz.covers(th)
    mu_full = {k: float(v) for k, v in lik.expected_events(th).items()}
    mu_fast = {k: float(v) for k, v in fz.expected_events(th).items()}
    for k in mu_full:
        assert mu_fast[k] == pytest.approx(mu_full[k], rel=1e-12)
    # per-event log rates agree to the window truncation tolerance (1e-6)
    assert float(fz.log_likelihood(th)) == pytest.approx(float(lik.log_likelihood(th)), abs=2e-4)
    # the two sources' frozen mu factors stop at different electron numbers
    lens = {k: f.s1_table.shape[1] for k, f in fz.frozen.items()}
    assert lens["er"] != lens["nr"]


def test_frozen_gradient_and_hessian_equal_full(liks):
    """The two paths' hand-written S2 derivatives differ (the frozen one contracts the slopes
    with the S1 factor, diffrate._s2_dot; the full one keeps them per electron, _s2_sum):
    gradient and Hessian (forward over reverse, as the fits compute it) agree to the
    truncation tolerance, away from the frozen point too (a 0.1% error in the frozen S2-gain
    slope fails this)."""
    import jax
    import numpy as np

    lik, fz = liks
    th = {"er_rate": 1.3, "nr_rate": 0.6, "g2": 1.04 * DET.g2, "electron_lifetime_us": 420.0}
    for f in (jax.grad, lambda ll: jax.jacfwd(jax.grad(ll))):
        full = jax.jit(f(lambda t: lik.log_likelihood(t)))(th)
        fast = jax.jit(f(lambda t: fz.log_likelihood(t)))(th)
        a, b = (np.array(jax.tree_util.tree_leaves(x)) for x in (full, fast))
        assert np.all(np.isfinite(a)) and np.all(a != 0)
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-7 * np.abs(a).max())


def test_source_that_cannot_make_some_events():
    """A 0-0.5 keV ER source cannot make most NR events with S1 > 55 phd (their photon windows
    start beyond its quanta table's 39 photons): its density there is exactly 0, and the
    likelihood's gradient stays finite (log'(0) x 0 was NaN) on both paths, which agree."""
    import jax
    import numpy as np

    from darkfit.model import frozen_s1

    sources = [
        Source("er", FlatSpectrum(1.0, 0.0, 0.5, "er")),
        Source("nr", FlatSpectrum(1.0, 20.0, 80.0, "nr")),
    ]
    df = simulate(DET, sources[1:], n_events=[3000], seed=6)
    df = df[df.in_roi]
    ev = df[df.s1 > 55].iloc[:20].reset_index(drop=True)
    lik = UnbinnedLikelihood(DET, sources, ev, 1.0)
    fz = FrozenS1Likelihood(lik, THETA0)
    m = lik.models["er"]
    logf_er = frozen_s1.log_density(m, fz._s2_theta(THETA0, m), lik.data, fz.frozen["er"])
    assert len(ev) == 20 and np.sum(np.isneginf(np.asarray(logf_er))) >= 10
    full = jax.value_and_grad(lambda th: lik.log_likelihood(th))(THETA0)
    fast = jax.value_and_grad(lambda th: fz.log_likelihood(th))(THETA0)
    assert np.isfinite(float(full[0])) and float(fast[0]) == pytest.approx(float(full[0]), abs=2e-4)
    for k in THETA0:
        assert np.isfinite(float(full[1][k])), k
        assert float(fast[1][k]) == pytest.approx(float(full[1][k]), rel=1e-5, abs=1e-8), k


def test_compiled_gradient_holds_one_copy_of_the_frozen_factors(monkeypatch):
    """Several S2-window parts read one array of frozen factors: the compiled value +
    gradient takes it as one argument (each part's loop closing over the array itself gave
    one copy per part: 633 instead of 224 MB of arguments at 10^5 events). Counted in the
    lowered program's signature, which a persistent compilation cache does not change (the
    memory statistics of an executable loaded from it report no arguments)."""
    import jax

    from darkfit.model import frozen_s1

    monkeypatch.setattr(frozen_s1, "EVENTS_PER_S2_GROUP", 50)
    df = simulate(DET, SOURCES, n_events=[600, 200], seed=5)
    ev = df[df.in_roi].iloc[:200].reset_index(drop=True)
    fz = FrozenS1Likelihood(UnbinnedLikelihood(DET, SOURCES, ev, 1.0), THETA0)
    (grp,) = fz.frozen["er"].groups
    assert len(grp.parts) == 3 and fz.frozen["nr"].groups is fz.frozen["er"].groups
    text = jax.jit(jax.value_and_grad(lambda th: fz.log_likelihood(th))).lower(THETA0).as_text()
    start = text.index("func.func public @main(")
    signature = text[start : text.index("\n", start)]
    c_type = "tensor<" + "x".join(map(str, grp.c.shape)) + "xf64>"
    assert signature.count(c_type) == 1
