"""Nuclear form factors for coherent (spin-independent) scattering."""

from __future__ import annotations

import math

import jax.numpy as jnp

from darkfit.physics.units import HBARC_GEV_FM


def helm_form_factor_sq(e_kev, mass_gev: float, a_nucleons: float):
    """Helm nuclear form factor squared F^2(q) for recoil energy ``e_kev`` [keV].

    Lewin & Smith, Astropart. Phys. 6 (1996) 87, eqs. (4.7)-(4.11): F = 3 j1(q r_n)/(q r_n)
    exp(-(q s)^2/2), r_n^2 = c^2 + 7/3 pi^2 a^2 - 5 s^2, c = 1.23 A^(1/3) - 0.60 fm,
    a = 0.52 fm, s = 0.9 fm; q = sqrt(2 m E) / (hbar c).
    """
    e = jnp.asarray(e_kev, dtype=jnp.float64)
    q = jnp.sqrt(2.0 * mass_gev * e * 1e-6) / HBARC_GEV_FM  # [1/fm]
    a, s = 0.52, 0.9
    c = 1.23 * a_nucleons ** (1.0 / 3.0) - 0.60
    rn = math.sqrt(c**2 + 7.0 / 3.0 * math.pi**2 * a**2 - 5.0 * s**2)
    x = q * rn
    small = x < 1e-3
    xs = jnp.where(small, 1.0, x)
    j1_over_x = jnp.where(small, 1.0 / 3.0 - x**2 / 30.0, (jnp.sin(xs) / xs - jnp.cos(xs)) / xs**2)
    return (3.0 * j1_over_x) ** 2 * jnp.exp(-((q * s) ** 2))
