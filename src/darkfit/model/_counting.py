"""Numerically safe log-pmfs of counting distributions, shared by the rate kernels.

Log-factorials come from a table (``log_factorial_table``) built once for the largest count in
play, so a binomial coefficient is three gathers instead of three ``lgamma`` calls. All
functions accept float arrays holding integers; out-of-support arguments give ``-inf``.
"""

from __future__ import annotations

import functools

import jax
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


def binom_thinning(p: Array, w: Array, n0: Array, k0: Array, lf: Array, n_rows: int) -> Array:
    """a_i = sum_j Binom(k0 + j | n0 + i, p) w_j for i < ``n_rows``, j < len(w): a distribution
    over the thinned count k pulled back to the count n before thinning (e.g. detected photons
    -> produced photons).

    ``k0``, ``n0``: non-negative integers (float arrays), ``w >= 0``, ``n0 + n_rows <= lf.size``.
    Exact, with no two-dimensional exp or table lookup: log Binom(k | n, p) = R(n) + H(k) +
    G(n - k) with R = lf(n) - gamma n, H = -lf(k) + k (log p + gamma), G = -lf(m) + m (log q +
    gamma) for any gamma, so the (n, k) matrix is diag(e^R) T diag(e^H) with T_ij = e^G(n_i -
    k_j) a Toeplitz matrix: its rows are slices of ONE vector e^G on the n_rows + n_k - 1
    values of m = n - k. gamma centres G on the (n, k) region that matters (m ~ k q / p at the
    largest w) and each factor is scaled by its maximum, so nothing overflows and the terms
    that matter do not underflow. The derivative in p (d Binom / dp = Binom (k - n p) / (p q))
    is the same product with k w, so reverse mode has no scatter. Measured on the S1 factor of
    the 10^4-event flamedisx benchmark sample (1596 photon x 80 detected-photon windows, 2
    cores): 2.2 -> 0.5 s (equal to 3.5e-13 relative).
    """
    return _thinning(p, w, n0, k0, lf, n_rows)


def _thinning_parts(p, w, n0, k0, lf, n_rows):
    """(T (n_k, n_rows) with T_ji = e^(G(n0 + i - k0 - j) - G_max), column scales e^(H_j -
    H_max) (zero where w_j = 0), log row scales R_i + G_max + H_max, k, n)."""
    n_k = w.shape[0]
    valid = w > 0
    log_p, log_q = jnp.log(p), jnp.log1p(-p)
    n_max = lf.size - 1
    k = k0 + jnp.arange(n_k, dtype=jnp.float64)
    # centre: the k of the largest w, taken back to n by the mean of the thinning
    k_c = jax.lax.stop_gradient(k[jnp.argmax(w)])
    gam = jax.lax.stop_gradient(jnp.log(k_c * jnp.exp(log_q - log_p) + 0.5) - log_q)
    m = n0 - k0 - (n_k - 1) + jnp.arange(n_rows + n_k - 1, dtype=jnp.float64)
    mi = jnp.clip(m, 0, n_max).astype(jnp.int32)
    g = jnp.where(m >= 0, -lf[mi] + m * (log_q + gam), -jnp.inf)  # m < 0: k > n, impossible
    g_max = jax.lax.stop_gradient(jnp.max(g))
    u = jnp.exp(g - g_max)
    # written into a buffer at an offset the compiler cannot see is 0, so u is stored once:
    # otherwise XLA fuses its exp into the slicing below and recomputes it for each of the
    # n_k x n_rows elements (measured: 0.7 s instead of 0.2 s for 10^4 events)
    u = jax.lax.dynamic_update_slice(jnp.zeros(u.size), u, (jnp.minimum(n0, 0).astype(jnp.int32),))
    t = jax.vmap(lambda s: jax.lax.dynamic_slice(u, (s,), (n_rows,)))(n_k - 1 - jnp.arange(n_k))
    h = -lf[jnp.clip(k, 0, n_max).astype(jnp.int32)] + k * (log_p + gam)
    h_max = jax.lax.stop_gradient(jnp.max(jnp.where(valid, h, -jnp.inf)))
    h_max = jnp.where(jnp.isfinite(h_max), h_max, 0.0)
    col = jnp.where(valid, jnp.exp(jnp.where(valid, h - h_max, 0.0)), 0.0)
    n = n0 + jnp.arange(n_rows, dtype=jnp.float64)
    log_row = lf[jnp.clip(n, 0, n_max).astype(jnp.int32)] - gam * n + g_max + h_max
    return t, col, log_row, k, n


@functools.partial(jax.custom_jvp, nondiff_argnums=(5,))
def _thinning(p, w, n0, k0, lf, n_rows):
    t, col, log_row, _, _ = _thinning_parts(p, w, n0, k0, lf, n_rows)
    s = (col * w) @ t
    pos = s > 0
    return jnp.where(pos, jnp.exp(log_row + jnp.log(jnp.where(pos, s, 1.0))), 0.0)


@_thinning.defjvp
def _thinning_jvp(n_rows, primals, tangents):
    p, w, n0, k0, lf = primals
    dp, dw = tangents[0], tangents[1]  # n0, k0: integers; lf: a constant table
    valid = w > 0
    t, col, log_row, k, n = _thinning_parts(p, w, n0, k0, lf, n_rows)
    s, sk = jnp.stack([col * w, col * w * k]) @ t
    pos = s > 0
    safe = jnp.where(pos, s, 1.0)
    a = jnp.where(pos, jnp.exp(log_row + jnp.log(safe)), 0.0)
    slope = jnp.where(pos, a * (sk / safe - n * p) / (p * (1.0 - p)), 0.0)  # da/dp
    # da/dw_j = a_i col_j t_ji / s_i (a ratio of sums of the same scale: no overflow)
    da = slope * dp + a * ((col * jnp.where(valid, dw, 0.0)) @ t) / safe
    return a, da


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
