"""Shared pieces of the NEST-v2 yield models: result type, work function, numerical guards.

Formulas follow the NEST C++ code bound by nestpy 2.1.3 (``NESTCollaboration/nest``,
``src/NEST.cpp`` and ``include/NEST/NEST.hh`` at commit 6f889f9, 2026) and the NEST review,
Szydagis et al., arXiv:2211.10726. Energies in keV, fields in V/cm, densities in g/cm^3.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
from jax import Array
from jax.scipy.special import erf

from darkfit.physics.units import XENON_A, XENON_Z

#: Reference liquid-xenon density of NEST's density corrections [g/cm^3] (NEST.hh ``DENSITY``).
NEST_REF_DENSITY = 2.90
#: Avogadro's number as written in NEST (NEST.hh ``NEST_AVO``).
NEST_AVOGADRO = 6.0221409e23
#: Largest possible energy of one scintillation photon [keV]: yields are capped at E / W_SCINT
#: (NEST.hh ``W_SCINT``; used in ``NESTcalc::YieldResultValidity``).
NEST_W_SCINT_KEV = 8.5e-3
#: EXO-200 rescaling of W applied when NEST's ``OldW13eV`` is true, the VDetector default
#: (NEST.cpp ``ZurichEXOW``; VDetector.hh ``OldW13eV = true``).
NEST_ZURICH_EXO_W = 1.1716263232


class MeanYields(NamedTuple):
    """Mean numbers of quanta for one recoil energy (arrays shaped like the energy).

    Attributes:
        n_quanta: mean total quanta, ``n_photons + n_electrons``.
        n_photons: mean number of scintillation photons produced.
        n_electrons: mean number of free electrons (escaping recombination).
        exciton_ratio: NEST's N_ex / N_i, needed by the widths (None if unknown).
    """

    n_quanta: Array
    n_photons: Array
    n_electrons: Array
    exciton_ratio: Array | None = None


def work_function(density_g_cm3: Array) -> tuple[Array, Array]:
    """NEST's work function W_q [keV] and exciton-to-ion ratio alpha of liquid xenon.

    W_q = (18.7263 eV - 1.01e-23 eV cm^3 n_e) * 1.1716263232 with the electron density
    n_e = rho N_A Z / A, and alpha = 0.067366 + 0.039693 rho (``NESTcalc::WorkFunction``,
    NEST.cpp; EXO-200 factor applied as for NEST's default ``OldW13eV = true``;
    arXiv:2211.10726, section on the work function). W_q = 13.44 eV at 2.9 g/cm^3.
    """
    rho = jnp.asarray(density_g_cm3, dtype=jnp.float64)
    n_e = rho / XENON_A * NEST_AVOGADRO * XENON_Z
    w_ev = (18.7263 - 1.01e-23 * n_e) * NEST_ZURICH_EXO_W
    alpha = 0.067366 + 0.039693 * rho
    return 1e-3 * w_ev, alpha


def zero_below_threshold(mean: MeanYields, valid: Array) -> MeanYields:
    """Zero yields where ``valid`` is False: NEST returns no quanta below one quantum's energy,
    E < W_q / (1000 L) (``YieldResultValidity``), and darkfit also for E <= 0."""
    zero = lambda v: jnp.where(valid, v, 0.0)  # noqa: E731
    return MeanYields(
        zero(mean.n_quanta), zero(mean.n_photons), zero(mean.n_electrons), mean.exciton_ratio
    )


def cap_yields(e_kev: Array, n_photons: Array, n_electrons: Array) -> tuple[Array, Array]:
    """NEST's ``YieldResultValidity`` caps: each yield in [0, E / W_SCINT]."""
    cap = e_kev / NEST_W_SCINT_KEV
    return jnp.clip(n_photons, 0.0, cap), jnp.clip(n_electrons, 0.0, cap)


def safe_div(num: Array, den: Array) -> Array:
    """num / den with 0 where den == 0, safe under autodiff (double-where)."""
    ok = den != 0
    return jnp.where(ok, num / jnp.where(ok, den, 1.0), 0.0)


def safe_sqrt(x: Array) -> Array:
    """sqrt(max(x, 0)) with a finite (zero) gradient at and below 0 (double-where)."""
    pos = x > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1.0)), 0.0)


def skew_gauss_shape(x: Array, center: Array, width: Array, skew: Array) -> Array:
    """Skew-Gaussian shape normalised to a maximum of 1 (NEST's omega(x) shape).

    g(x) = exp(-(x-c)^2 / (2 w^2)) (1 + erf(a (x-c) / (w sqrt 2))) / norm, with norm the same
    expression at NEST's approximate mode c + 2 a w / (sqrt(2 pi) sqrt(1 + a^2))
    (``NESTcalc::RecombOmegaER``, NEST.cpp).
    """
    sqrt2 = jnp.sqrt(2.0)

    def shape(y: Array) -> Array:
        z = (y - center) / width
        return jnp.exp(-0.5 * z * z) * (1.0 + erf(skew * z / sqrt2))

    mode = center + 2.0 / jnp.sqrt(2.0 * jnp.pi) * skew * width / jnp.sqrt(1.0 + skew * skew)
    return shape(x) / shape(mode)


def inv_pow1p(x: Array, x0: Array, p: Array, q: Array = 1.0) -> Array:
    """(1 + (x / x0)^p)^(-q) for x / x0 > 0, computed as exp(-q softplus(p ln(x / x0))).

    The log-space form keeps NEST's steep field switches (e.g. exponent 251.6 in
    ``RecombOmegaER``) finite and differentiable at any field.
    """
    return jnp.exp(-q * jnp.logaddexp(0.0, p * jnp.log(x / x0)))


def field_logistic(field: Array, a: Array, b: Array, f0: Array, p: Array, q: Array = 1.0) -> Array:
    """NEST's recurring field dependence a + (b - a) / (1 + (F / f0)^p)^q.

    Equals b at F -> 0 and a at F -> infinity when p, q > 0.
    """
    return a + (b - a) * inv_pow1p(field, f0, p, q)


def chain_covariance(mean: MeanYields, fano: Array, omega: Array) -> tuple[Array, Array, Array]:
    """(Var N_ph, Var N_e, Cov(N_ph, N_e)) of darkfit's Gaussian quanta chain.

    N_q ~ N(n, sqrt(F n)), N_e | N_q ~ N(f N_q, sqrt(f(1-f) N_q + omega^2 N_q^2)),
    N_ph = N_q - N_e, ignoring rounding and clipping: with P = f(1-f) n + omega^2 (n^2 + F n),
    Var N_e = P + f^2 F n, Var N_ph = P + (1-f)^2 F n, Cov = -P + f(1-f) F n.
    """
    n = mean.n_quanta
    f = jnp.clip(safe_div(mean.n_electrons, n), 0.0, 1.0)
    return split_moments(n, f, fano, f * (1.0 - f) * n + omega**2 * (n * n + fano * n))


def split_moments(n: Array, f: Array, fano: Array, part: Array) -> tuple[Array, Array, Array]:
    """(Var N_ph, Var N_e, Cov) when N_q has variance F n and N_e = f N_q + a partition noise
    of variance ``part`` (uncorrelated with N_q), N_ph = N_q - N_e."""
    fn = fano * n
    return part + (1.0 - f) ** 2 * fn, part + f * f * fn, -part + f * (1.0 - f) * fn
