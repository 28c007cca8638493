"""Hidden quanta: from deposited energy to produced photons and electrons.

Two quanta models are available, chosen by ``Detector.quanta_model``:

``"nest"``
    NEST-v2-style means and widths (:mod:`darkfit.physics.yields`) with a Gaussian chain:

    * total quanta ``Nq = round(Normal(n_q, sqrt(F * n_q)))``, clipped at 0, where ``F`` is the
      Fano-like factor of NEST (Szydagis et al., arXiv:2211.10726, Sec. 3);
    * electrons ``Ne = round(Normal(f_e Nq, sqrt(f_e (1 - f_e) Nq + omega^2 Nq^2)))`` clipped to
      ``[0, Nq]``, with ``f_e = n_e / n_q`` the mean electron fraction and ``omega`` NEST's
      recombination-fluctuation width (binomial plus excess variance, NEST's GetQuanta
      without skewness), both evaluated at the energy whose mean quanta equal Nq
      (:func:`nest_recombination`); photons ``Nph = Nq - Ne``.

    The rounding of a Normal is what the likelihood reproduces exactly with differences of
    normal CDFs at half-integers (continuity correction), so simulation and likelihood
    describe the same distribution.

``"flamedisx"``
    The default ERSource/NRSource model of flamedisx 2.1.0 (FlamTeam/flamedisx,
    ``lxe_blocks/quanta_splitting.py`` and ``lxe_sources.py``; numbers summarised in
    ``shared/reference/flamedisx_model.md``):

    * ER: ``Nq = floor(E / W)`` with W = 13.7 eV; photons ~ BetaBinomial(Nq, mean 1 - p_e,
      sd 0.041 (1 - exp(-Nq / 123))), p_e from the quadratic Qy(log10 E) of J. Aalbers' thesis;
    * NR: ``Nq ~ Poisson(E L(E) / W)`` with the Lindhard factor (k = 0.138) and
      electrons ~ Binomial(Nq, p_e) from the Thomas-Imel-based p_e of Lenardo et al.
      (arXiv:1412.4417) as adapted in flamedisx.

All functions here are pure JAX kernels (jit-able, vmappable); energies in keV, fields in V/cm.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

#: flamedisx work function per quantum [keV] (flamedisx ``DEFAULT_WORK_PER_QUANTUM`` 13.7 eV).
FLAMEDISX_WORK_KEV = 13.7e-3
#: Smallest width of a fluctuation probability used by flamedisx (``fd.MIN_FLUCTUATION_P``).
FLAMEDISX_MIN_FLUCTUATION_P = 0.005


class QuantaMoments(NamedTuple):
    """Parameters of the NEST-style Gaussian quanta chain (arrays of one shape).

    Attributes:
        n_quanta: mean number of quanta (photons + electrons) produced at the deposited energy.
        fano: Fano-like factor of the total quanta, Var(Nq) = fano * n_quanta.
    """

    n_quanta: Array
    fano: Array


class Recombination(NamedTuple):
    """Electron fraction and excess recombination width for a given number of quanta.

    Attributes:
        electron_fraction: mean fraction f_e of the quanta that end up as free electrons.
        omega: excess width, Var(Ne | Nq) = f_e (1 - f_e) Nq + omega^2 Nq^2.
    """

    electron_fraction: Array
    omega: Array


#: Energies [keV] on which the mean-quanta curve is inverted (log-log interpolation).
_INVERSION_GRID_KEV = np.geomspace(1e-3, 2e3, 2049)


def _nest_functions(recoil_type: str, params):
    from darkfit.physics import yields as y

    if recoil_type == "nr":
        yp, wp = params if params is not None else (y.NRYieldParams(), y.NRWidthParams())
        return (lambda e, f, d: y.nr_mean_yields(e, f, d, yp)), (
            lambda m, f, d: y.nr_widths(m, f, d, wp)
        )
    if recoil_type == "er":
        yp, wp = params if params is not None else (y.ERYieldParams(), y.ERWidthParams())
        return (lambda e, f, d: y.er_mean_yields(e, f, d, yp)), (
            lambda m, f, d: y.er_widths(m, f, d, wp)
        )
    raise ValueError(f"recoil_type = {recoil_type!r} is invalid: expected 'er' or 'nr'")


def nest_total_quanta(
    e_kev: Array, recoil_type: str, field_v_cm: float, density_g_cm3: float, params=None
) -> QuantaMoments:
    """Mean total quanta and Fano factor at deposited energies ``e_kev`` [keV].

    Args:
        e_kev: recoil energies [keV] (keVnr for NR, keVee for ER).
        recoil_type: ``"er"`` or ``"nr"`` (static).
        field_v_cm: drift field [V/cm].
        density_g_cm3: liquid density [g/cm^3].
        params: optional ``(yield_params, width_params)`` pair; NEST defaults when None.
    """
    mean_fn, width_fn = _nest_functions(recoil_type, params)
    e_kev = jnp.asarray(e_kev, dtype=jnp.float64)
    mean = mean_fn(e_kev, field_v_cm, density_g_cm3)
    fano, _ = width_fn(mean, field_v_cm, density_g_cm3)
    nq = jnp.maximum(mean.n_quanta, 0.0)
    return QuantaMoments(nq, jnp.broadcast_to(fano, nq.shape))


def nest_recombination(
    n_quanta: Array, recoil_type: str, field_v_cm: float, density_g_cm3: float, params=None
) -> Recombination:
    """Electron fraction and recombination width for ``n_quanta`` produced quanta.

    NEST evaluates recombination at the deposited energy. darkfit evaluates it at the energy
    E*(Nq) whose mean quanta equal the drawn Nq (E* = Nq W for ER, (Nq/alpha)^(1/beta) for NR
    with NEST's defaults), so that the electron distribution depends on the event only through
    Nq, as in flamedisx's ER/NR models. This lets the likelihood marginalise the energy
    spectrum into P(Nq) once per source. E*(Nq) is obtained by log-log interpolation of the
    mean-quanta curve, so it follows any yield parameters and stays differentiable.
    """
    mean_fn, width_fn = _nest_functions(recoil_type, params)
    grid = jnp.asarray(_INVERSION_GRID_KEV)
    nq_grid = mean_fn(grid, field_v_cm, density_g_cm3).n_quanta
    nq = jnp.asarray(n_quanta, dtype=jnp.float64)
    # below NEST's yield threshold the mean is 0: keep the abscissa finite and increasing
    log_nq_grid = jnp.log(jnp.maximum(nq_grid, 1e-9 * grid))
    log_e = jnp.interp(jnp.log(jnp.maximum(nq, 1e-3)), log_nq_grid, jnp.log(grid))
    mean = mean_fn(jnp.exp(log_e), field_v_cm, density_g_cm3)
    _, omega = width_fn(mean, field_v_cm, density_g_cm3)
    f_e = jnp.clip(mean.n_electrons / jnp.maximum(mean.n_quanta, 1e-12), 0.0, 1.0)
    return Recombination(f_e, jnp.broadcast_to(omega, nq.shape))


def electron_sd_given_quanta(nq: Array, rec: Recombination) -> Array:
    """Standard deviation of electrons given ``nq`` total quanta in the NEST-style chain."""
    f = rec.electron_fraction
    var = f * (1.0 - f) * nq + (rec.omega * nq) ** 2
    return jnp.sqrt(jnp.maximum(var, 1e-18))  # > 0: finite gradient at Nq = 0


@partial(jax.jit, static_argnames=("recoil_type",))
def _nest_quanta_moments(e_kev, recoil_type, field_v_cm, density_g_cm3, params):
    m = nest_total_quanta(e_kev, recoil_type, field_v_cm, density_g_cm3, params)
    return m.n_quanta, jnp.sqrt(m.fano * m.n_quanta)


@partial(jax.jit, static_argnames=("recoil_type",))
def _nest_electron_moments(nq, recoil_type, field_v_cm, density_g_cm3, params):
    rec = nest_recombination(nq, recoil_type, field_v_cm, density_g_cm3, params)
    return rec.electron_fraction * nq, electron_sd_given_quanta(nq, rec)


def sample_nest_quanta(
    rng: np.random.Generator,
    e_kev: np.ndarray,
    recoil_type: str,
    field_v_cm: float,
    density_g_cm3: float,
    params=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw (photons, electrons) produced from the NEST-style Gaussian chain.

    Means and widths come from the jitted JAX yield functions; the draws use the NumPy
    generator ``rng`` (its binomial/normal samplers are several times faster on the CPU
    than ``jax.random``'s). Returns float arrays holding integers, shaped like ``e_kev``.
    """
    e_kev = np.asarray(e_kev, dtype=np.float64)
    mu, sd = _bucketed(_nest_quanta_moments, e_kev, recoil_type, field_v_cm, density_g_cm3, params)
    nq = np.maximum(np.round(mu + sd * rng.standard_normal(mu.shape)), 0.0)
    mean_e, sd_e = _bucketed(
        _nest_electron_moments, nq, recoil_type, field_v_cm, density_g_cm3, params
    )
    ne = np.clip(np.round(mean_e + sd_e * rng.standard_normal(nq.shape)), 0.0, nq)
    return nq - ne, ne


def _bucketed(fn, x: np.ndarray, *args) -> tuple[np.ndarray, ...]:
    """Call a jitted elementwise ``fn(x, *args)`` with ``x`` padded to a power-of-two length.

    Event counts vary from call to call; padding keeps the number of compilations small.
    """
    n = x.size
    size = max(1024, 1 << int(np.ceil(np.log2(max(n, 1)))))
    padded = np.concatenate([x, np.full(size - n, x[0] if n else 1.0)])
    return tuple(np.asarray(a)[:n] for a in fn(jnp.asarray(padded), *args))


# ---------------------------------------------------------------------------------------------
# flamedisx 2.1.0 default chain
# ---------------------------------------------------------------------------------------------
def flamedisx_er_electron_fraction(nq: Array) -> Array:
    """flamedisx ER mean electron fraction p_e(Nq) ("Jelle's thesis" Qy).

    eps = log10(W Nq / e0 + 1e-9), Qy = a eps^2 + b eps + c [electrons/keV] with a = 15,
    b = -27.7, c = 32.5, e0 = 5 keV; p_e = Qy W clipped to [1e-5, 1 - 1e-5]
    (flamedisx ``lxe_sources.ERSource.p_electron``).
    """
    eps = jnp.log10(FLAMEDISX_WORK_KEV * nq / 5.0 + 1e-9)
    qy = 15.0 * eps**2 - 27.7 * eps + 32.5
    return jnp.clip(qy * FLAMEDISX_WORK_KEV, 1e-5, 1.0 - 1e-5)


def flamedisx_er_fluctuation(nq: Array) -> Array:
    """flamedisx ER recombination fluctuation: sd of the photon fraction, 0.041 (1 - e^{-Nq/123}).

    Clipped below at 0.005 (flamedisx ``p_electron_fluctuation``, XENON1T SR0 BBF model).
    """
    return jnp.maximum(0.041 * (1.0 - jnp.exp(-nq / 123.0)), FLAMEDISX_MIN_FLUCTUATION_P)


def beta_params(mean: Array, sd: Array) -> tuple[Array, Array]:
    """Beta-distribution (a, b) for a given mean and sd, with flamedisx's clamps.

    The mean is clipped to [0.011, 0.95], the sd to >= 0.005 and the variance capped at
    max((m-1)^2 m / (2-m), m^2 (1-m) / (1+m)) so the beta stays unimodal at one end
    (flamedisx issues #36/#37/#83, ``fd.beta_binom_pmf``).
    """
    m = jnp.clip(mean, 0.011, 0.95)
    var = jnp.maximum(sd, FLAMEDISX_MIN_FLUCTUATION_P) ** 2
    cap = jnp.maximum((m - 1.0) ** 2 * m / (2.0 - m), m**2 * (1.0 - m) / (1.0 + m))
    var = jnp.minimum(var, cap)
    k = m * (1.0 - m) / var - 1.0
    return m * k, (1.0 - m) * k


def flamedisx_lindhard(e_kev: Array, k: float = 0.138) -> Array:
    """Lindhard quenching L(E) for xenon (Lindhard 1963; flamedisx ``lindhard_l``, k = 0.138).

    eps = 11.5 E Z^(-7/3), g = 3 eps^0.15 + 0.7 eps^0.6 + eps, L = k g / (1 + k g), Z = 54.
    """
    eps = e_kev * 11.5 * 54.0 ** (-7.0 / 3.0)
    g = 3.0 * eps**0.15 + 0.7 * eps**0.6 + eps
    return k * g / (1.0 + k * g)


def flamedisx_nr_electron_fraction(nq: Array, field_v_cm: float) -> Array:
    """flamedisx NR mean electron fraction (Lenardo et al. arXiv:1412.4417, flamedisx version).

    N_ex/N_i = 1.280 F^-0.045 (1 - exp(-273*0.9e-4 Nq)); N_i = Nq / (1 + N_ex/N_i);
    xi = 0.0141 F^-0.062; p_e = N_i ln(1 + N_i xi) / (N_i xi) / Nq, clipped to (1e-6, 1-1e-6).
    """
    nq_safe = jnp.maximum(nq, 1.0)
    nex_ni = 1.280 * field_v_cm**-0.045 * (1.0 - jnp.exp(-273.0 * 0.9e-4 * nq_safe))
    ni = nq_safe / (1.0 + nex_ni)
    xi = 0.0141 * field_v_cm**-0.062
    p = ni * jnp.log1p(ni * xi) / (ni * xi) / nq_safe
    return jnp.clip(p, 1e-6, 1.0 - 1e-6)


def sample_flamedisx_quanta(
    rng: np.random.Generator, e_kev: np.ndarray, recoil_type: str, field_v_cm: float
) -> tuple[np.ndarray, np.ndarray]:
    """Draw (photons, electrons) produced from flamedisx 2.1.0's default ER or NR chain."""
    e_kev = np.asarray(e_kev, dtype=np.float64)
    if recoil_type == "er":
        nq = np.floor(e_kev / FLAMEDISX_WORK_KEV)
        a, b = (
            np.asarray(x)
            for x in beta_params(
                1.0 - flamedisx_er_electron_fraction(nq), flamedisx_er_fluctuation(nq)
            )
        )
        nph = rng.binomial(nq.astype(np.int64), rng.beta(a, b)).astype(np.float64)
        return nph, nq - nph
    mean_nq = e_kev * np.asarray(flamedisx_lindhard(e_kev)) / FLAMEDISX_WORK_KEV
    nq = rng.poisson(mean_nq).astype(np.float64)
    p_e = np.asarray(flamedisx_nr_electron_fraction(nq, field_v_cm))
    ne = rng.binomial(nq.astype(np.int64), p_e).astype(np.float64)
    return nq - ne, ne
