"""Exact probability that an event passes the ROI and S1 coincidence cuts.

The same chain as :mod:`darkfit.model.diffrate`, with the observables integrated analytically
over the region of interest (normal CDFs) instead of evaluated at a point:

    P_ROI = sum_{Nph, Ne} P(Nph, Ne) Acc1(Nph) Acc2(Ne)
    Acc1(Nph) = sum_{n_det >= k} Binom(n_det | Nph, eps) T1(n_det)
    T1(n_det) = sum_{n_pe} Binom(n_pe - n_det | n_det, p_dpe)
                [Phi((c s1_max - n_pe)/(sigma_pe sqrt n_pe)) - Phi((c s1_min - n_pe)/(...))]
    Acc2(Ne)  = sum_{n_ext >= 1} Binom(n_ext | Ne, p) [Phi((s2_max - n_ext G)/(sigma_SE sqrt n_ext))
                                                     - Phi((s2_min - n_ext G)/(...))]

averaged over positions in the fiducial volume by Gauss-Legendre quadrature in z (and in r^2
when the detector has position maps). No Monte Carlo, no interpolation: differentiable in every
parameter. Monte Carlo is used only to test it (tests/model/test_acceptance.py).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.scipy.stats import norm

from darkfit.model._counting import log_binom_pmf


def _cdf_window(lo: Array, hi: Array, mean: Array, sd: Array) -> Array:
    """P(lo <= X <= hi) for X ~ Normal(mean, sd), computed on the small-tail side."""
    z_hi = (hi - mean) / sd
    z_lo = (lo - mean) / sd
    right = z_lo > 0
    return jnp.where(right, norm.cdf(-z_lo) - norm.cdf(-z_hi), norm.cdf(z_hi) - norm.cdf(z_lo))


def s1_acceptance(
    n_ph_max: int, n_det_max: int, n_pe_max: int, eff: Array, rp, s1_min, s1_max, coincidence, lf
) -> Array:
    """Acc1(Nph) for Nph = 0..n_ph_max at photon detection efficiency ``eff`` (scalar)."""
    npe = jnp.arange(1, n_pe_max + 1, dtype=jnp.float64)
    sd = jnp.maximum(rp.pe_resolution, 1e-9) * jnp.sqrt(npe)
    window = _cdf_window(s1_min * rp.s1_divisor, s1_max * rp.s1_divisor, npe, sd)
    ndet = jnp.arange(n_det_max + 1, dtype=jnp.float64)
    dpe = jnp.exp(
        log_binom_pmf(npe[None, :] - ndet[:, None], ndet[:, None], rp.double_pe_fraction, lf)
    )
    t1 = jnp.where(ndet >= coincidence, dpe @ window, 0.0)
    nph = jnp.arange(n_ph_max + 1, dtype=jnp.float64)
    det = jnp.exp(log_binom_pmf(ndet[None, :], nph[:, None], eff, lf))
    return det @ t1


def s2_acceptance(
    n_el_max: int, n_ext_max: int, survival: Array, gain: Array, rp, s2_min, s2_max, lf
) -> Array:
    """Acc2(Ne) for Ne = 0..n_el_max at electron survival ``survival`` and gain (scalars)."""
    next_ = jnp.arange(1, n_ext_max + 1, dtype=jnp.float64)
    sd = jnp.maximum(rp.se_width, 1e-9) * jnp.sqrt(next_)
    t2 = _cdf_window(s2_min, s2_max, next_ * gain, sd)
    nel = jnp.arange(n_el_max + 1, dtype=jnp.float64)
    surv = jnp.exp(log_binom_pmf(next_[None, :], nel[:, None], survival, lf))
    return surv @ t2


def gauss_legendre(lo: float, hi: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of n-point Gauss-Legendre on [lo, hi], weights normalised to 1."""
    x, w = np.polynomial.legendre.leggauss(n)
    return lo + (x + 1) * (hi - lo) / 2, w / 2


__all__ = ["gauss_legendre", "s1_acceptance", "s2_acceptance"]
