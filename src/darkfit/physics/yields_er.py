"""NEST-v2 electronic-recoil (ER) mean yields and fluctuation widths in liquid xenon.

Pure JAX kernels. Formulas from ``NESTcalc::GetYieldBetaGR``, ``GetYieldGamma``,
``GetYieldERWeighted``, ``FanoER``, ``RecombOmegaER`` and ``GetQuanta`` of the NEST C++ code
bound by nestpy 2.1.3 (``NESTCollaboration/nest`` ``src/NEST.cpp``, commit 6f889f9) and the
NEST review, Szydagis et al., arXiv:2211.10726 (sections on ER yields and fluctuations).
Every default number below is the constant written in those functions (or
``default_NRERWidthsParam`` in ``include/NEST/NEST.hh``). Energies in keVee, fields in V/cm,
densities in g/cm^3. See ``docs/physics/yields.md``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
from jax import Array
from jax.scipy.special import erf

from darkfit._errors import bad_value
from darkfit.physics._yields_common import (
    NEST_REF_DENSITY,
    MeanYields,
    cap_yields,
    field_logistic,
    inv_pow1p,
    safe_div,
    skew_gauss_shape,
    split_moments,
    work_function,
    zero_below_threshold,
)


class ERYieldParams(NamedTuple):
    """NEST beta-model charge yield Q_y(E, F) (``GetYieldBetaGR`` defaults, NEST.cpp).

    Field dependences m(F) = a + (b - a) / (1 + (F / f0)^p)^q; m3 = s log10(F) + c.
    m5 = N_q/E / (1 + alpha_W erf(0.05 E)) - m1 is derived (not a parameter), as in NEST.
    """

    m1_a: float = 30.66
    m1_b: float = 6.1978
    m1_f0: float = 73.855
    m1_p: float = 2.0318
    m1_q: float = 0.41883
    m2: float = 77.2931084
    m3_slope: float = 0.13946236
    m3_offset: float = 0.52561312
    m4_a: float = 1.82217496
    m4_b: float = 2.82528809
    m4_f0: float = 144.65029656
    m4_p: float = -2.80532006
    m6: float = 0.0
    m7_a: float = 7.02921301
    m7_b: float = 98.27936794
    m7_f0: float = 256.48156448
    m7_p: float = 1.29119251
    m8: float = 4.285781736
    m9: float = 0.3344049589
    m10_a: float = 0.0508273937
    m10_b: float = 0.1166087199
    m10_f0: float = 139.260460
    m10_p: float = -0.65763592


class ERGammaYieldParams(NamedTuple):
    """NEST gamma-model (photo-absorption) charge yield (``GetYieldGamma`` defaults, NEST.cpp).

    m1(F), m5(F) as a + (b - a)/(1 + (F/f0)^p); m7 the same with f0 = m7_dens_a / rho^m7_dens_p;
    m2 = N_q/E = 1/W_q (derived).
    """

    m1_a: float = 33.951
    m1_b: float = 3.3284
    m1_f0: float = 165.34
    m1_p: float = 0.72665
    m3: float = 2.0
    m4: float = 2.0
    m5_a: float = 23.156
    m5_b: float = 10.737
    m5_f0: float = 34.195
    m5_p: float = 0.87459
    m6: float = 0.0
    m7_a: float = 66.825
    m7_b: float = 829.25
    m7_dens_a: float = 240720.0
    m7_dens_p: float = 8.2076
    m7_p: float = 0.83344
    m8: float = 2.0


class ERWeightedParams(NamedTuple):
    """NEST's gamma/beta mixture (``GetYieldERWeighted``): weight of the gamma model
    w_G = e0 + e1 erf(e2 (ln E + e3)) (1 - 1/(1 + (F/f0)^f1)) (defaults ``default_EnergyParams``
    and ``default_FieldParams``, NEST.hh)."""

    beta: ERYieldParams = ERYieldParams()
    gamma: ERGammaYieldParams = ERGammaYieldParams()
    e0: float = 0.23
    e1: float = 0.77
    e2: float = 2.95
    e3: float = -1.44
    f0: float = 421.15
    f1: float = 3.27


class ERWidthParams(NamedTuple):
    """NEST ER fluctuation parameters (``FanoER``, ``RecombOmegaER``; NRERWidthsParam[6..10]).

    Attributes:
        fano_c0..fano_c3: density polynomial of the Fano factor (0.12707, -0.029623,
            -0.0057042, 0.0015957; Bolotnikov et al. 1995 / E. Dahl thesis, per NEST).
        fano_field: coefficient of sqrt(N_q F) added in liquid (0.001 = |NRERWidthsParam[6]|).
        omega_low_field: omega amplitude below ~295 V/cm (0.046452, NRERWidthsParam[7]).
        omega_high_field: omega amplitude at high field (0.07, constant in RecombOmegaER).
        omega_f0, omega_p, omega_q: field switch of the amplitude (295.2, 251.6, 0.0069114).
        omega_center, omega_width, omega_skew: skew-Gaussian of omega vs electron fraction
            (0.45, 0.205, -0.2; NRERWidthsParam[8..10]).
    """

    fano_c0: float = 0.12707
    fano_c1: float = -0.029623
    fano_c2: float = -0.0057042
    fano_c3: float = 0.0015957
    fano_field: float = 0.001
    omega_low_field: float = 0.046452
    omega_high_field: float = 0.07
    omega_f0: float = 295.2
    omega_p: float = 251.6
    omega_q: float = 0.0069114
    omega_center: float = 0.45
    omega_width: float = 0.205
    omega_skew: float = -0.2


_DEFAULTS = {"beta": ERYieldParams(), "gamma": ERGammaYieldParams(), "weighted": ERWeightedParams()}


def _qy_beta(e: Array, field: Array, rho: Array, p: ERYieldParams) -> Array:
    """Beta-model charge yield Q_y [electrons/keV] (GetYieldBetaGR, NEST.cpp)."""
    w_kev, alpha_w = work_function(rho)
    m1 = field_logistic(field, p.m1_a, p.m1_b, p.m1_f0, p.m1_p, p.m1_q)
    m3 = p.m3_slope * jnp.log10(field) + p.m3_offset
    m4 = field_logistic(field, p.m4_a, p.m4_b, p.m4_f0, p.m4_p)
    m5 = 1.0 / w_kev / (1.0 + alpha_w * erf(0.05 * e)) - m1
    m7 = field_logistic(field, p.m7_a, p.m7_b, p.m7_f0, p.m7_p)
    m10 = field_logistic(field, p.m10_a, p.m10_b, p.m10_f0, p.m10_p)
    qy = m1 + (p.m2 - m1) * inv_pow1p(e, m3, m4, p.m9)
    qy = qy + m5 + (p.m6 - m5) * inv_pow1p(e, m7, p.m8, m10)
    # Density correction (GetYieldBetaGR, ERYieldsParam[5] < 0, the default):
    # Q_y *= [rho0^1.7 / ln(1 + c rho0^1.7)] ln(1 + c rho^1.7) rho^-1.7, c = rho0^-0.3 rho0^-1.4.
    c = NEST_REF_DENSITY ** (-0.3) * NEST_REF_DENSITY ** (-1.4)
    ref = NEST_REF_DENSITY**1.7 / jnp.log1p(c * NEST_REF_DENSITY**1.7)
    return qy * ref * jnp.log1p(c * rho**1.7) * rho ** (-1.7)


def _qy_gamma(e: Array, field: Array, rho: Array, p: ERGammaYieldParams) -> Array:
    """Gamma-model charge yield Q_y [electrons/keV] (GetYieldGamma, NEST.cpp)."""
    w_kev, _ = work_function(rho)
    m1 = field_logistic(field, p.m1_a, p.m1_b, p.m1_f0, p.m1_p)
    m5 = field_logistic(field, p.m5_a, p.m5_b, p.m5_f0, p.m5_p)
    m7 = field_logistic(field, p.m7_a, p.m7_b, p.m7_dens_a / rho**p.m7_dens_p, p.m7_p)
    qy = m1 + (1.0 / w_kev - m1) * inv_pow1p(e, p.m3, p.m4)
    return qy + m5 + (p.m6 - m5) * inv_pow1p(e, m7, p.m8)


def _split(e: Array, qy: Array, rho: Array) -> MeanYields:
    """N_q = E/W_q, N_e = Q_y E, N_ph = N_q - N_e, NEST caps, exciton ratio alpha erf(0.05 E)."""
    w_kev, alpha_w = work_function(rho)
    n_ph, n_e = cap_yields(e, e / w_kev - qy * e, qy * e)
    return MeanYields(n_ph + n_e, n_ph, n_e, alpha_w * erf(0.05 * e))


def er_mean_yields(
    e_kev: Array,
    field_v_cm: Array,
    density_g_cm3: Array,
    params: ERYieldParams | ERGammaYieldParams | ERWeightedParams | None = None,
    model: str = "beta",
) -> MeanYields:
    """NEST-v2 mean ER photon and electron numbers.

    ``model`` (static): ``"beta"`` (``GetYieldBetaGR``, NEST's default for betas, e.g. 3H,
    14C, 214Pb, pp-neutrino ER), ``"gamma"`` (``GetYieldGamma``, photo-absorption) or
    ``"weighted"`` (``GetYieldERWeighted``, their energy/field-weighted mixture). In all
    three N_q = E / W_q(rho), N_e = Q_y E, N_ph = N_q - N_e:

    beta:  Q_y = m1 + (m2 - m1)/(1 + (E/m3)^m4)^m9 + m5 + (m6 - m5)/(1 + (E/m7)^m8)^m10, times
           NEST's density correction;
    gamma: Q_y = m1 + (1/W_q - m1)/(1 + (E/m3)^m4) + m5 + (m6 - m5)/(1 + (E/m7)^m8).

    Args:
        e_kev: energies [keVee] (yields 0 below E = W_q and for E <= 0).
        field_v_cm: drift field [V/cm], > 0.
        density_g_cm3: liquid density [g/cm^3].
        params: parameters of ``model`` (NEST defaults when None).
        model: "beta", "gamma" or "weighted".
    """
    if model not in _DEFAULTS:
        raise bad_value("model", model, "'beta', 'gamma' or 'weighted'")
    params = _DEFAULTS[model] if params is None else params
    if type(params) is not type(_DEFAULTS[model]):
        allowed = f"a {type(_DEFAULTS[model]).__name__} for model {model!r}"
        raise bad_value("params", type(params).__name__, allowed)
    e_in = jnp.asarray(e_kev, dtype=jnp.float64)
    e = jnp.where(e_in > 0, e_in, 1.0)  # safe value; masked below
    field = jnp.asarray(field_v_cm, dtype=jnp.float64)
    rho = jnp.asarray(density_g_cm3, dtype=jnp.float64)
    if model == "beta":
        mean = _split(e, _qy_beta(e, field, rho, params), rho)
    elif model == "gamma":
        mean = _split(e, _qy_gamma(e, field, rho, params), rho)
    else:
        b = _split(e, _qy_beta(e, field, rho, params.beta), rho)
        g = _split(e, _qy_gamma(e, field, rho, params.gamma), rho)
        p = params
        w_g = p.e0 + p.e1 * erf(p.e2 * (jnp.log(e) + p.e3)) * (1.0 - inv_pow1p(field, p.f0, p.f1))
        mix = [w_g * gi + (1.0 - w_g) * bi for gi, bi in zip(g[:3], b[:3], strict=True)]
        n_ph, n_e = cap_yields(e, mix[1], mix[2])
        mean = MeanYields(n_ph + n_e, n_ph, n_e, b.exciton_ratio)
    # NEST: no quanta below one quantum's energy, E < W_q (YieldResultValidity, L = 1).
    return zero_below_threshold(mean, (e_in > 0) & (e_in >= work_function(rho)[0]))


def fano_er(
    n_quanta: Array, field_v_cm: Array, density_g_cm3: Array, params: ERWidthParams
) -> Array:
    """NEST ER Fano factor of the total quanta (``NESTcalc::FanoER``, liquid branch):
    F = c0 + c1 rho + c2 rho^2 + c3 rho^3 + k sqrt(<N_q>) sqrt(F_drift)."""
    rho = jnp.asarray(density_g_cm3, dtype=jnp.float64)
    p = params
    poly = p.fano_c0 + p.fano_c1 * rho + p.fano_c2 * rho**2 + p.fano_c3 * rho**3
    x = jnp.maximum(n_quanta, 0.0) * field_v_cm
    # sqrt with a zero (not NaN = 0/0) derivative at <N_q> = 0: the quanta table asks for Nq = 0
    pos = x > 0
    return poly + p.fano_field * jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1.0)), 0.0)


def recomb_omega_er(field_v_cm: Array, electron_fraction: Array, params: ERWidthParams) -> Array:
    """NEST ER recombination width omega(F, f_e) (``NESTcalc::RecombOmegaER``, center < 1).

    A(F) = A_hi + (A_lo - A_hi) / (1 + (F/295.2)^251.6)^0.0069114, times a skew-Gaussian in
    the electron fraction with center 0.45, width 0.205, skew -0.2, normalised to peak 1.
    """
    p = params
    ampl = field_logistic(
        field_v_cm, p.omega_high_field, p.omega_low_field, p.omega_f0, p.omega_p, p.omega_q
    )
    shape = skew_gauss_shape(electron_fraction, p.omega_center, p.omega_width, p.omega_skew)
    return jnp.maximum(jnp.maximum(ampl, 0.0) * shape, 0.0)


def er_nest_covariance(
    mean: MeanYields,
    field_v_cm: Array,
    density_g_cm3: Array,
    params: ERWidthParams = ERWidthParams(),  # noqa: B008
) -> tuple[Array, Array, Array]:
    """Second moments (Var N_ph, Var N_e, Cov(N_ph, N_e)) of NEST's ER ``GetQuanta``.

    N_q ~ N(n, sqrt(F n)), N_i ~ Binomial(N_q, a), N_e | N_i ~ skew-N((1-r) N_i,
    sqrt(r(1-r) N_i + w^2 N_i^2)); with (1-r) a = f and ignoring rounding and clamps:
    Var(N_e | N_q) = f(1-f) N_q + w^2 (a^2 N_q^2 + a(1-a) N_q), E[N_e | N_q] = f N_q.
    """
    if mean.exciton_ratio is None:
        raise bad_value("mean.exciton_ratio", None, "the exciton ratio from er_mean_yields")
    n = mean.n_quanta
    fano = fano_er(n, field_v_cm, density_g_cm3, params)
    a = 1.0 / (1.0 + mean.exciton_ratio)
    f = jnp.clip(safe_div(mean.n_electrons, n), 0.0, 1.0)
    w = recomb_omega_er(field_v_cm, f, params)
    e_n2 = n * n + fano * n  # E[N_q^2]
    return split_moments(n, f, fano, f * (1.0 - f) * n + w * w * (a * a * e_n2 + a * (1 - a) * n))


def er_widths(
    mean: MeanYields | Array,
    field_v_cm: Array,
    density_g_cm3: Array,
    params: ERWidthParams = ERWidthParams(),  # noqa: B008 (immutable NamedTuple)
    yield_params: ERYieldParams | ERGammaYieldParams | ERWeightedParams | None = None,
    model: str = "beta",
) -> tuple[Array, Array]:
    """Fano factor and recombination width of darkfit's Gaussian chain, matched to NEST ER.

    NEST's GetQuanta for ER: N_q ~ N(n, sqrt(F n)), N_i ~ Binomial(N_q, a), a = 1/(1 + x),
    N_e | N_i ~ N((1-r) N_i, sqrt(r(1-r) N_i + w^2 N_i^2)), r = 1 - (1 + x) f, f = <N_e>/n.
    Then E[N_e | N_q] = f N_q and Var(N_e | N_q) = f(1-f) N_q + w^2 (a^2 N_q^2 + a(1-a) N_q),
    which is darkfit's chain with fano = F and omega^2 = w^2 (a^2 + a(1-a)/(n + F)) (the
    N_q-linear term folded in using E[N_q] = n, E[N_q^2] = n^2 + F n): means, variances and
    the covariance of N_e and N_ph match NEST's (``er_nest_covariance``) up to the skewness
    NEST adds.

    Args:
        mean: ``er_mean_yields`` output, or energies [keVee] (computed with ``yield_params``
            and ``model``).
        field_v_cm: drift field [V/cm].
        density_g_cm3: liquid density [g/cm^3].
        params: width parameters (NEST defaults).

    Returns:
        (fano, omega): arrays shaped like the mean yields.
    """
    if not isinstance(mean, MeanYields):
        mean = er_mean_yields(mean, field_v_cm, density_g_cm3, yield_params, model)
    if mean.exciton_ratio is None:
        raise bad_value("mean.exciton_ratio", None, "the exciton ratio from er_mean_yields")
    n = mean.n_quanta
    fano = fano_er(n, field_v_cm, density_g_cm3, params)
    a = 1.0 / (1.0 + mean.exciton_ratio)
    f = jnp.clip(safe_div(mean.n_electrons, n), 0.0, 1.0)
    w = recomb_omega_er(field_v_cm, f, params)
    omega = w * jnp.sqrt(a * a + safe_div(a * (1.0 - a), n + fano))
    return fano, omega
