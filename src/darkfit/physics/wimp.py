"""Spin-independent WIMP-xenon elastic recoil spectrum dR/dE.

    dR/dE = rho sigma_n A^2 F^2(E) eta(v_min) / (2 m_chi mu_n^2),
    v_min = sqrt(m_N E / (2 mu_N^2)),

per unit target mass, with sigma_n the WIMP-nucleon cross-section, mu_n (mu_N) the WIMP-nucleon
(-nucleus) reduced mass, A^2 coherent scaling, F the Helm form factor and eta the mean inverse
speed of the standard halo model (Lewin & Smith, Astropart. Phys. 6 (1996) 87, Eq. 3.1 and
Sec. 7; Baxter et al., arXiv:2105.00599, Eq. 12). Xenon is one nucleus of the mean atomic mass
A = 131.293 (as wimprates does); the nucleon mass in mu_n is the atomic mass unit (as wimprates).

Result in events / (tonne year keV). The kernel :func:`dr_de_si` is pure JAX, vectorised in
energy and differentiable in mass, cross-section and halo parameters.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax import Array

from darkfit._errors import bad_value
from darkfit.physics.form_factor import helm_form_factor_sq
from darkfit.physics.halo import StandardHalo, mean_earth_speed_km_s, mean_inverse_speed
from darkfit.physics.units import (
    AMU_GEV,
    C_KM_S,
    KG_PER_GEV,
    KG_PER_TONNE,
    SECONDS_PER_YEAR,
    XENON_A,
)

#: The standard halo of arXiv:2105.00599.
DEFAULT_HALO = StandardHalo()
#: Xenon nucleus mass [GeV/c^2] (mean atomic mass times the atomic mass unit).
XENON_MASS_GEV = XENON_A * AMU_GEV


def vmin_km_s(e_kev: Array, mass_gev: Array) -> Array:
    """Smallest WIMP speed [km/s] that gives a xenon recoil of ``e_kev`` [keV]."""
    mu = mass_gev * XENON_MASS_GEV / (mass_gev + XENON_MASS_GEV)
    return jnp.sqrt(XENON_MASS_GEV * e_kev * 1e-6 / (2.0 * mu**2)) * C_KM_S


def dr_de_si(
    e_kev: Array,
    mass_gev: Array,
    sigma_cm2: Array,
    *,
    halo: StandardHalo = DEFAULT_HALO,
    v_earth_km_s: Array | None = None,
) -> Array:
    """SI WIMP recoil spectrum dR/dE [events / (tonne year keV)] on xenon.

    Args:
        e_kev: recoil energies [keVnr].
        mass_gev: WIMP mass [GeV/c^2].
        sigma_cm2: spin-independent WIMP-nucleon cross-section [cm^2].
        halo: standard-halo parameters.
        v_earth_km_s: Earth's galactic-frame speed [km/s]; default the annual mean
            (:func:`darkfit.physics.halo.mean_earth_speed_km_s`). For a date use
            ``earth_speed_km_s(days_since_j2000(date))``.
    """
    if v_earth_km_s is None:
        v_earth_km_s = _MEAN_V_EARTH.get(halo.v0_km_s) or _mean_v_earth(halo.v0_km_s)
    e = jnp.asarray(e_kev, dtype=jnp.float64)
    mu_n = mass_gev * AMU_GEV / (mass_gev + AMU_GEV)
    eta_s_per_cm = mean_inverse_speed(vmin_km_s(e, mass_gev), v_earth_km_s, halo) * 1e-5
    c_cm_s = C_KM_S * 1e5
    # [1/(GeV s)] per nucleus-mass-in-GeV -> per kg -> per tonne year keV
    rate = (
        halo.rho_gev_cm3
        * sigma_cm2
        * XENON_A**2
        * helm_form_factor_sq(e, XENON_MASS_GEV, XENON_A)
        * c_cm_s**2
        * eta_s_per_cm
        / (2.0 * mass_gev * mu_n**2)
    )
    return jnp.where(e > 0, rate / KG_PER_GEV * KG_PER_TONNE * SECONDS_PER_YEAR * 1e-6, 0.0)


_MEAN_V_EARTH: dict[float, float] = {}


def _mean_v_earth(v0_km_s: float) -> float:
    _MEAN_V_EARTH[v0_km_s] = mean_earth_speed_km_s(v0_km_s)
    return _MEAN_V_EARTH[v0_km_s]


def check_wimp_parameters(mass_gev: float, sigma_cm2: float) -> tuple[float, float]:
    """Validate a WIMP mass [GeV] and cross-section [cm^2]; one-line errors otherwise."""
    try:
        m, s = float(mass_gev), float(sigma_cm2)
    except (TypeError, ValueError):
        raise bad_value("wimp mass/sigma", (mass_gev, sigma_cm2), "numbers") from None
    if not (math.isfinite(m) and m > 0):
        raise bad_value("mass", mass_gev, "a WIMP mass > 0 GeV")
    if not (math.isfinite(s) and s >= 0):
        raise bad_value("sigma", sigma_cm2, "a cross-section >= 0 cm^2")
    return m, s
