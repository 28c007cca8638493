"""The Toeplitz binomial thinning sum against scipy's binomial pmf, element by element."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import binom

import darkfit  # noqa: F401  (float64)
from darkfit.model._counting import binom_thinning, log_factorial_table

LF = log_factorial_table(4000)


def _reference(p, w, n0, k0, n_rows):
    """log sum_j Binom(k0 + j | n0 + i, p) w_j by scipy, in log space (no underflow)."""
    n = n0 + np.arange(n_rows)[:, None]
    k = k0 + np.arange(len(w))[None, :]
    with np.errstate(divide="ignore"):
        return logsumexp(binom.logpmf(k, n, p) + np.log(w)[None, :], axis=1)


def _w(n_k, centre, width, zeros=()):
    w = np.exp(-0.5 * ((np.arange(n_k) - centre) / width) ** 2)
    w[list(zeros)] = 0.0
    return w


CASES = [
    # p, n0, k0, n_rows, w: typical S1 window, low counts with k > n rows, extreme p, a w
    # spanning 1e-300 (far tails of a(n)), a w with zeros inside
    (0.12, 300, 30, 400, _w(80, 40, 6)),
    (0.14, 0, 0, 120, _w(40, 3, 2)),
    (0.14, 0, 5, 60, _w(40, 10, 4)),
    (0.5, 1000, 480, 90, _w(80, 40, 10)),
    (0.9, 40, 30, 30, _w(20, 8, 3)),
    (0.03, 200, 2, 600, _w(30, 6, 0.8)),
    (0.12, 500, 50, 700, _w(80, 20, 20, zeros=(5, 6, 50))),
]


@pytest.mark.parametrize(("p", "n0", "k0", "n_rows", "w"), CASES)
def test_thinning_equals_scipy_elementwise(p, n0, k0, n_rows, w):
    a = np.asarray(binom_thinning(jnp.float64(p), jnp.asarray(w), n0 * 1.0, k0 * 1.0, LF, n_rows))
    ref = _reference(p, w, n0, k0, n_rows)
    assert np.all(np.isfinite(a)) and np.all(a >= 0)
    zero = ~np.isfinite(ref)  # no k <= n with w > 0
    assert np.all(a[zero] == 0)
    # relative to each element, down to 1e-280 (far below the window's peak)
    ok = ref > np.log(1e-280)
    assert ok.sum() > n_rows // 3
    assert np.max(np.abs(np.log(a[ok]) - ref[ok])) < 1e-11


def test_thinning_derivatives_equal_autodiff_of_the_plain_sum():
    """Gradient in p and w (the hand-written rule) and Hessian in p equal autodiff of the
    plain binomial-matrix sum."""
    n0, k0, n_rows, n_k = 200.0, 15.0, 260, 50
    n = n0 + jnp.arange(n_rows)
    k = k0 + jnp.arange(n_k)
    rng = np.random.default_rng(3)
    weights = jnp.asarray(rng.uniform(0.5, 1.5, n_rows))

    def plain(p, w):
        nk = n[:, None] - k[None, :]
        ok = nk >= 0
        idx = jnp.maximum(nk, 0).astype(jnp.int32)
        lb = LF[n.astype(jnp.int32)][:, None] - LF[k.astype(jnp.int32)][None, :] - LF[idx]
        lb = lb + k[None, :] * jnp.log(p) + nk * jnp.log1p(-p)
        return jnp.where(ok, jnp.exp(jnp.where(ok, lb, 0.0)), 0.0) @ w

    def loss(f):
        return lambda p, w: jnp.sum(weights * jnp.log(f(p, w) + 1e-300))

    fast = lambda p, w: binom_thinning(p, w, n0, k0, LF, n_rows)  # noqa: E731
    p0, w0 = jnp.float64(0.13), jnp.asarray(_w(n_k, 22, 5))
    g_fast = jax.grad(loss(fast), argnums=(0, 1))(p0, w0)
    g_plain = jax.grad(loss(plain), argnums=(0, 1))(p0, w0)
    np.testing.assert_allclose(g_fast[0], g_plain[0], rtol=1e-10)
    np.testing.assert_allclose(
        g_fast[1], g_plain[1], rtol=1e-9, atol=1e-9 * np.abs(g_plain[1]).max()
    )
    h_fast = jax.jacfwd(jax.grad(loss(fast)))(p0, w0)
    h_plain = jax.jacfwd(jax.grad(loss(plain)))(p0, w0)
    np.testing.assert_allclose(h_fast, h_plain, rtol=1e-9)
    # and the slope itself against a central finite difference
    eps = 1e-7
    fd = (loss(fast)(p0 + eps, w0) - loss(fast)(p0 - eps, w0)) / (2 * eps)
    np.testing.assert_allclose(g_fast[0], fd, rtol=1e-6)
