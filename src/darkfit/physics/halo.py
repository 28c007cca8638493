"""Standard halo model: local dark-matter density, velocity distribution, Earth's motion.

Conventions of Baxter et al., "Recommended conventions for reporting results from direct dark
matter searches", arXiv:2105.00599, Sec. 2: rho = 0.3 GeV/cm^3, a Maxwellian with
v0 = 238 km/s truncated sharply at v_esc = 544 km/s in the galactic frame, the local standard of
rest moving at (0, v0, 0), the Sun's peculiar velocity (11.1, 12.24, 7.25) km/s
(Schoenrich, Binney & Dehnen 2010) and the Earth's orbit around the Sun, 29.8 km/s on a circle
(their Eq. 4-6, after Lee, Lisanti & Safdi, arXiv:1307.5323 / McCabe, arXiv:1312.1355).

The mean inverse speed eta(v_min) = int_{v > v_min} f(v)/v d^3v of the truncated Maxwellian in the
Earth frame is analytic (Savage, Freese & Gondolo, arXiv:astro-ph/0607121, Eq. B3; McCabe,
arXiv:1005.0579, Eq. B2). All functions are pure JAX and differentiable.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.scipy.special import erf

#: Velocity of the local standard of rest is (0, v0, 0) in galactic coordinates (2105.00599).
#: Solar peculiar velocity [km/s] (Schoenrich et al. 2010, MNRAS 403, 1829; 2105.00599 Eq. 5).
SUN_PECULIAR_KM_S = np.array([11.1, 12.24, 7.25])
#: Earth's mean orbital speed [km/s] (2105.00599 Sec. 2.2).
EARTH_ORBIT_KM_S = 29.8
#: Unit vectors of the Earth's orbital velocity at t1 and t1 + 1/4 yr, galactic coordinates
#: (Lee, Lisanti & Safdi, arXiv:1307.5323, Eq. 13; as used in 2105.00599 Eq. 6).
_E1 = np.array([0.9940, 0.1095, 0.003116])
_E2 = np.array([-0.05173, 0.4945, -0.8677])
#: t1: the vernal equinox, 2000 March 20 07:35 UT, in days since J2000.0 (2000-01-01 12:00 TT).
_T1_J2000_DAYS = 79.3
_OMEGA_PER_DAY = 2 * np.pi / 365.25


class StandardHalo(NamedTuple):
    """Parameters of the standard halo model (2105.00599 defaults).

    Attributes:
        rho_gev_cm3: local dark-matter density [GeV/cm^3].
        v0_km_s: most probable speed of the Maxwellian = circular speed [km/s].
        vesc_km_s: galactic escape speed [km/s].
    """

    rho_gev_cm3: float = 0.3
    v0_km_s: float = 238.0
    vesc_km_s: float = 544.0


def days_since_j2000(time) -> float:
    """Days since J2000.0 (2000-01-01T12:00) for a datetime, numpy datetime64 or ISO string."""
    t = np.datetime64(time, "ns") if not isinstance(time, np.datetime64) else time.astype("M8[ns]")
    return float((t - np.datetime64("2000-01-01T12:00", "ns")) / np.timedelta64(1, "D"))


def earth_velocity_km_s(t_days: Array, v0_km_s: float = 238.0) -> Array:
    """Earth's velocity in the galactic frame [km/s], shape (..., 3).

    ``t_days`` are days since J2000.0 (see :func:`days_since_j2000`).
    """
    t = jnp.asarray(t_days, dtype=jnp.float64)[..., None]
    phase = _OMEGA_PER_DAY * (t - _T1_J2000_DAYS)
    orbit = EARTH_ORBIT_KM_S * (_E1 * jnp.cos(phase) + _E2 * jnp.sin(phase))
    return jnp.asarray([0.0, v0_km_s, 0.0]) + SUN_PECULIAR_KM_S + orbit


def earth_speed_km_s(t_days: Array, v0_km_s: float = 238.0) -> Array:
    """Earth's speed in the galactic frame [km/s] at ``t_days`` since J2000.0."""
    return jnp.linalg.norm(earth_velocity_km_s(t_days, v0_km_s), axis=-1)


def mean_earth_speed_km_s(v0_km_s: float = 238.0) -> float:
    """Annual mean of the Earth's galactic-frame speed [km/s] (about 250.7 km/s by default)."""
    phase = _OMEGA_PER_DAY * np.linspace(0.0, 365.25, 730, endpoint=False)[:, None]
    v = (
        np.array([0.0, v0_km_s, 0.0])
        + SUN_PECULIAR_KM_S
        + EARTH_ORBIT_KM_S * (_E1 * np.cos(phase) + _E2 * np.sin(phase))
    )
    return float(np.mean(np.linalg.norm(v, axis=1)))  # NumPy: safe to call under jit


def mean_inverse_speed(vmin_km_s: Array, v_earth_km_s: Array, halo: StandardHalo) -> Array:
    """eta(v_min) [s/km] of the sharply truncated Maxwellian seen from the Earth.

    With x = v_min/v0, y = v_E/v0, z = v_esc/v0 and N = erf(z) - 2 z exp(-z^2)/sqrt(pi):
    eta = [erf(x+y) - erf(x-y) - 4 y e^{-z^2}/sqrt(pi)] / (2 N v0 y)      for x < z - y,
    eta = [erf(z) - erf(x-y) - 2 (z+y-x) e^{-z^2}/sqrt(pi)] / (2 N v0 y)  for z-y <= x < z+y,
    and 0 beyond (Savage, Freese & Gondolo, arXiv:astro-ph/0607121, Eq. B3). Assumes v_E < v_esc.
    """
    v0 = halo.v0_km_s
    x = jnp.asarray(vmin_km_s, dtype=jnp.float64) / v0
    y = jnp.asarray(v_earth_km_s, dtype=jnp.float64) / v0
    z = halo.vesc_km_s / v0
    sqrt_pi = jnp.sqrt(jnp.pi)
    norm = erf(z) - 2.0 * z * jnp.exp(-(z**2)) / sqrt_pi
    low = erf(x + y) - erf(x - y) - 4.0 * y * jnp.exp(-(z**2)) / sqrt_pi
    mid = erf(z) - erf(x - y) - 2.0 * (z + y - x) * jnp.exp(-(z**2)) / sqrt_pi
    val = jnp.where(x < z - y, low, jnp.where(x < z + y, mid, 0.0))
    return val / (2.0 * norm * v0 * y)
