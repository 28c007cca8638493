"""Numerically safe log-pmfs of counting distributions, shared by the rate kernels.

Log-factorials come from a table (``log_factorial_table``) built once for the largest count in
play, so a binomial coefficient is three gathers instead of three ``lgamma`` calls. All
functions accept float arrays holding integers; out-of-support arguments give ``-inf``.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.scipy.special import gammaln, xlog1py, xlogy
from jax.scipy.stats import norm


def log_factorial_table(n_max: int) -> Array:
    """log(n!) for n = 0..n_max (float64)."""
    return jnp.asarray(np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n_max + 1)))]))


def log_binom_pmf(k: Array, n: Array, p: Array, lf: Array) -> Array:
    """log Binomial(k | n, p) with log-factorial table ``lf``; -inf outside 0 <= k <= n."""
    valid = (k >= 0) & (k <= n) & (n >= 0)
    ki = jnp.clip(k, 0, lf.size - 1).astype(jnp.int32)
    ni = jnp.clip(n, 0, lf.size - 1).astype(jnp.int32)
    nki = jnp.clip(n - k, 0, lf.size - 1).astype(jnp.int32)
    kk = jnp.where(valid, k, 0.0)
    nk = jnp.where(valid, n - k, 0.0)
    out = lf[ni] - lf[ki] - lf[nki] + xlogy(kk, p) + xlog1py(nk, -p)
    return jnp.where(valid, out, -jnp.inf)


def log_binom_matrix(n: Array, k: Array, p: Array, lf: Array) -> Array:
    """log Binomial(k_j | n_i, p) for all pairs, shape (len(n), len(k)); -inf outside support.

    Uses log C(n, k) p^k q^(n-k) = [lf(n) + n log q] + [-lf(k) + k log(p/q)] - lf(n - k): only
    the last term is two-dimensional, so each element costs one table gather instead of three.
    ``n`` and ``k`` are 1-D float arrays of non-negative integers; 0 < p < 1.
    """
    log_q = jnp.log1p(-p)
    row = lf[n.astype(jnp.int32)] + n * log_q
    col = -lf[k.astype(jnp.int32)] + k * (jnp.log(p) - log_q)
    nk = n[:, None] - k[None, :]
    return jnp.where(
        nk >= 0, row[:, None] + col[None, :] - lf[jnp.maximum(nk, 0.0).astype(jnp.int32)], -jnp.inf
    )


def log_beta_binom_pmf(k: Array, n: Array, a: Array, b: Array, lf: Array) -> Array:
    """log BetaBinomial(k | n, a, b); -inf outside 0 <= k <= n."""
    valid = (k >= 0) & (k <= n)
    kk = jnp.where(valid, k, 0.0)
    nn = jnp.where(valid, n, 0.0)
    ni = jnp.clip(n, 0, lf.size - 1).astype(jnp.int32)
    ki = jnp.clip(k, 0, lf.size - 1).astype(jnp.int32)
    nki = jnp.clip(n - k, 0, lf.size - 1).astype(jnp.int32)
    out = (
        lf[ni]
        - lf[ki]
        - lf[nki]
        + gammaln(kk + a)
        + gammaln(nn - kk + b)
        - gammaln(nn + a + b)
        + gammaln(a + b)
        - gammaln(a)
        - gammaln(b)
    )
    return jnp.where(valid, out, -jnp.inf)


def log_poisson_pmf(k: Array, mu: Array, lf: Array) -> Array:
    """log Poisson(k | mu); -inf for k < 0."""
    valid = k >= 0
    ki = jnp.clip(k, 0, lf.size - 1).astype(jnp.int32)
    out = xlogy(jnp.where(valid, k, 0.0), mu) - mu - lf[ki]
    return jnp.where(valid, out, -jnp.inf)


def rounded_normal_pmf(k: Array, mean: Array, sd: Array, lo: Array, hi: Array) -> Array:
    """P(clip(round(Normal(mean, sd)), lo, hi) = k): normal CDF differences at k +- 1/2.

    The end points collect the clipped tails (P(k = lo) = Phi(lo + 1/2), P(k = hi) =
    1 - Phi(hi - 1/2)); zero outside [lo, hi]. ``sd`` must be > 0.
    """
    z_lo = (k - 0.5 - mean) / sd
    z_hi = (k + 0.5 - mean) / sd
    # difference taken on the side of the mean where the CDF is small (no cancellation)
    right = z_lo > 0
    lower = jnp.where(right, norm.cdf(-z_hi), norm.cdf(z_lo))
    upper = jnp.where(right, norm.cdf(-z_lo), norm.cdf(z_hi))
    lower = jnp.where(right & (k >= hi), 0.0, lower)  # clipped upper tail: P(x > k - 1/2)
    upper = jnp.where(~right & (k >= hi), 1.0, upper)
    lower = jnp.where(~right & (k <= lo), 0.0, lower)  # clipped lower tail: P(x < k + 1/2)
    upper = jnp.where(right & (k <= lo), 1.0, upper)
    return jnp.where((k >= lo) & (k <= hi), jnp.maximum(upper - lower, 0.0), 0.0)
