"""NEST-v2 nuclear-recoil (NR) mean yields and fluctuation widths in liquid xenon.

Pure JAX kernels. Formulas from ``NESTcalc::GetYieldNR``, ``NESTcalc::GetQuanta`` and
``NESTcalc::RecombOmegaNR`` of the NEST C++ code bound by nestpy 2.1.3
(``NESTCollaboration/nest`` ``src/NEST.cpp``, commit 6f889f9) and the NEST review,
Szydagis et al., arXiv:2211.10726 (section on NR yields); defaults are
NEST's ``default_NRYieldsParam`` and ``default_NRERWidthsParam`` (``include/NEST/NEST.hh``).
Energies in keVnr, fields in V/cm, densities in g/cm^3. See ``docs/physics/yields.md``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
from jax import Array

from darkfit._errors import bad_value
from darkfit.physics._yields_common import (
    NEST_REF_DENSITY,
    MeanYields,
    cap_yields,
    inv_pow1p,
    safe_div,
    safe_sqrt,
    work_function,
    zero_below_threshold,
)


class NRYieldParams(NamedTuple):
    """NEST NR mean-yield parameters (``default_NRYieldsParam``, NEST.hh; arXiv:2211.10726
    NR yield model). Order and meaning as NEST's ``NRYieldsParam[0..11]``.

    Attributes:
        alpha, beta: total quanta N_q = alpha E^beta (11, 1.1).
        gamma, delta: Thomas-Imel box parameter TI = gamma F^delta (rho / 2.9)^0.3
            (0.0480, -0.0533).
        epsilon, kappa: charge yield Q_y = 1 / (TI (E + epsilon)^kappa) (12.6 keV, 0.5).
        zeta, eta, ell: low-energy charge roll-off 1 - (1 + (E/zeta)^eta)^-ell (0.3 keV, 2, 1).
        theta, iota, mu: low-energy light roll-off 1 - (1 + (E/theta)^iota)^-mu (0.3 keV, 2, 1).
    """

    alpha: float = 11.0
    beta: float = 1.1
    gamma: float = 0.0480
    delta: float = -0.0533
    epsilon: float = 12.6
    zeta: float = 0.3
    eta: float = 2.0
    theta: float = 0.3
    iota: float = 2.0
    kappa: float = 0.5
    ell: float = 1.0
    mu: float = 1.0


class NRWidthParams(NamedTuple):
    """NEST NR fluctuation parameters (``default_NRERWidthsParam[0..5, 11, 12]``, NEST.hh).

    The recombination-width (omega) parameters are named ``nr_omega_*``: ER has omega
    parameters of its own (:class:`~darkfit.physics.yields_er.ERWidthParams`, other values),
    and a likelihood with ER and NR sources has one parameter per name.

    Attributes:
        fano_ions: Fano factor of the ion number F_i (0.4).
        fano_excitons: Fano factor of the exciton number F_ex (0.4).
        nr_omega_amplitude: peak of the recombination width omega(f_e) (0.04).
        nr_omega_center: electron fraction at the peak (0.5).
        nr_omega_width: Gaussian width of omega vs electron fraction (0.19).
        skewness: skewness of NEST's recombination skew-Gaussian (2.25); not used by the
            darkfit Gaussian chain, kept for reference.
        fano_ions_slope: d F_i / d <N_i> (0, NRERWidthsParam[11]).
        fano_excitons_slope: d F_ex / d <N_ex> (0, NRERWidthsParam[12]).
    """

    fano_ions: float = 0.4
    fano_excitons: float = 0.4
    nr_omega_amplitude: float = 0.04
    nr_omega_center: float = 0.5
    nr_omega_width: float = 0.19
    skewness: float = 2.25
    fano_ions_slope: float = 0.0
    fano_excitons_slope: float = 0.0


def thomas_imel(field_v_cm: Array, density_g_cm3: Array, params: NRYieldParams) -> Array:
    """Thomas-Imel box parameter TI = gamma F^delta (rho / 2.9)^0.3 (GetYieldNR, NEST.cpp)."""
    field = jnp.asarray(field_v_cm, dtype=jnp.float64)
    rho = jnp.asarray(density_g_cm3, dtype=jnp.float64)
    return params.gamma * field**params.delta * (rho / NEST_REF_DENSITY) ** 0.3


def nr_mean_yields(
    e_kev: Array,
    field_v_cm: Array,
    density_g_cm3: Array,
    params: NRYieldParams = NRYieldParams(),  # noqa: B008 (immutable NamedTuple)
) -> MeanYields:
    """NEST-v2 mean NR photon and electron numbers (``NESTcalc::GetYieldNR``).

    N_q' = alpha E^beta;  Q_y = (1 - (1 + (E/zeta)^eta)^-ell) / (TI (E + epsilon)^kappa);
    L_y = N_q'/E - Q_y (both clipped at 0);  N_e = Q_y E;
    N_ph = L_y E (1 - (1 + (E/theta)^iota)^-mu);  N_q = N_ph + N_e
    (NR yield model of arXiv:2211.10726). The exciton ratio follows from Thomas-Imel recombination:
    N_i = (4/TI)(exp(N_e TI / 4) - 1), N_ex = N_q - N_i, clamped to alpha_W above 100 keV and
    to 1 below 1 keV as in NEST. Below one quantum (N_q < 1) and for E <= 0 the yields are 0.

    NEST also multiplies both yields by sqrt(131.293 / A) for the isotope A of the recoiling
    atom (1.0011 for nestpy's default A = 131); darkfit uses the mean atom (factor 1).

    Args:
        e_kev: recoil energies [keVnr] (yields 0 below one quantum and for E <= 0).
        field_v_cm: drift field [V/cm], > 0.
        density_g_cm3: liquid density [g/cm^3].
        params: yield parameters (NEST defaults).

    Returns:
        MeanYields of arrays broadcast from the inputs, with the exciton ratio.
    """
    e_in = jnp.asarray(e_kev, dtype=jnp.float64)
    e = jnp.where(e_in > 0, e_in, 1.0)  # safe value; masked below
    p = params
    ti = thomas_imel(field_v_cm, density_g_cm3, p)
    nq0 = p.alpha * e**p.beta
    qy = 1.0 / (ti * (e + p.epsilon) ** p.kappa)
    qy = qy * (1.0 - inv_pow1p(e, p.zeta, p.eta, p.ell))
    ly = nq0 / e - qy
    qy, ly = jnp.maximum(qy, 0.0), jnp.maximum(ly, 0.0)
    n_e = qy * e
    n_ph = ly * e * (1.0 - inv_pow1p(e, p.theta, p.iota, p.mu))
    n_ph, n_e = cap_yields(e, n_ph, n_e)
    n_q = n_ph + n_e
    n_i = 4.0 / ti * jnp.expm1(n_e * ti / 4.0)
    x = safe_div(n_q - n_i, n_i)
    _, alpha_w = work_function(density_g_cm3)
    x = jnp.where((x < alpha_w) & (e > 100.0), alpha_w, x)
    x = jnp.where((x > 1.0) & (e < 1.0), 1.0, x)
    # NEST: no quanta if E < W_q / (1000 L), i.e. fewer than one quantum.
    return zero_below_threshold(MeanYields(n_q, n_ph, n_e, x), (e_in > 0) & (n_q >= 1.0))


def recomb_omega_nr(electron_fraction: Array, params: NRWidthParams) -> Array:
    """NEST NR recombination width omega = A exp(-(f - c)^2 / (2 w^2)), >= 0
    (``NESTcalc::RecombOmegaNR``, NEST.cpp)."""
    z = (electron_fraction - params.nr_omega_center) / params.nr_omega_width
    return jnp.maximum(params.nr_omega_amplitude * jnp.exp(-0.5 * z * z), 0.0)


def _nr_split(mean: MeanYields, params: NRWidthParams):
    """Ion fraction a, electron fraction f, recombination r, omega and the Fano factors."""
    if mean.exciton_ratio is None:
        raise bad_value("mean.exciton_ratio", None, "the exciton ratio from nr_mean_yields")
    p = params
    n = mean.n_quanta
    x = mean.exciton_ratio
    a = 1.0 / (1.0 + x)
    f = jnp.clip(safe_div(mean.n_electrons, n), 0.0, 1.0)
    n_i, n_ex = a * n, (1.0 - a) * n
    # Fano factors of ions and excitons, F = F0 + slope * mean (GetQuanta, NEST.cpp), >= 0.
    f_i = jnp.maximum(p.fano_ions + p.fano_ions_slope * n_i, 0.0)
    f_ex = jnp.maximum(p.fano_excitons + p.fano_excitons_slope * n_ex, 0.0)
    r = jnp.clip(1.0 - (1.0 + x) * f, 0.0, 1.0)
    w = recomb_omega_nr(f, p)
    return n, f, n_i, n_ex, f_i, f_ex, r, w


def nr_nest_covariance(
    mean: MeanYields,
    params: NRWidthParams = NRWidthParams(),  # noqa: B008
) -> tuple[Array, Array, Array]:
    """Second moments (Var N_ph, Var N_e, Cov(N_ph, N_e)) of NEST's NR ``GetQuanta``.

    NEST draws N_i ~ N(a n, sqrt(F_i a n)), N_ex ~ N((1-a) n, sqrt(F_ex (1-a) n)) independently
    (a = 1/(1 + N_ex/N_i)), then N_e | N_i ~ skew-N((1-r) N_i, sqrt(r(1-r) N_i + w^2 N_i^2))
    with r = 1 - (1 + N_ex/N_i) f and N_ph = N_i + N_ex - N_e. Ignoring rounding and the
    clamps, with n_i = a n and E = r(1-r) n_i + w^2 (n_i^2 + F_i n_i):
    Var N_e = E + (1-r)^2 F_i n_i;  Var N_ph = E + r^2 F_i n_i + F_ex n_ex;
    Cov = (1-r) F_i n_i - Var N_e.
    """
    _, _, n_i, n_ex, f_i, f_ex, r, w = _nr_split(mean, params)
    eps = r * (1.0 - r) * n_i + w**2 * (n_i**2 + f_i * n_i)
    var_e = eps + (1.0 - r) ** 2 * f_i * n_i
    var_ph = eps + r**2 * f_i * n_i + f_ex * n_ex
    return var_ph, var_e, (1.0 - r) * f_i * n_i - var_e


def nr_widths(
    mean: MeanYields | Array,
    field_v_cm: Array,
    density_g_cm3: Array,
    params: NRWidthParams = NRWidthParams(),  # noqa: B008
    yield_params: NRYieldParams = NRYieldParams(),  # noqa: B008
) -> tuple[Array, Array]:
    """Fano factor and recombination width of darkfit's Gaussian chain, matched to NEST NR.

    darkfit's chain: N_q ~ N(n, sqrt(F n)); N_e | N_q ~ N(f N_q, sqrt(f(1-f) N_q +
    omega^2 N_q^2)); N_ph = N_q - N_e, f = <N_e>/n. NEST's NR chain is in
    ``nr_nest_covariance``. We return

        F = F_i a + F_ex (1-a)              (Var N_q and, for F_i = F_ex, Cov(N_q, N_e) exact)
        omega^2 = max(0, [Var_NEST(N_e) - f(1-f) n - f^2 F n] / (n^2 + F n))

    so Var N_e (and then Var N_ph) equals NEST's wherever omega^2 > 0. Where NEST's N_e
    variance is below the binomial floor f(1-f) n of the darkfit chain (NR below ~10-20 keV
    with the default omega), omega = 0 and darkfit's widths are larger than NEST's
    (up to ~30% in sd at 1 keV; docs/physics/yields.md).

    Args:
        mean: ``nr_mean_yields`` output, or recoil energies [keVnr] (then computed with
            ``yield_params``).
        field_v_cm: drift field [V/cm].
        density_g_cm3: liquid density [g/cm^3].
        params: width parameters (NEST defaults).
        yield_params: used only when ``mean`` is an energy array.

    Returns:
        (fano, omega): arrays shaped like the mean yields.
    """
    if not isinstance(mean, MeanYields):
        mean = nr_mean_yields(mean, field_v_cm, density_g_cm3, yield_params)
    n, f, n_i, n_ex, f_i, f_ex, _, _ = _nr_split(mean, params)
    fano = safe_div(f_i * n_i + f_ex * n_ex, n)
    _, var_e, _ = nr_nest_covariance(mean, params)
    excess = var_e - f * (1.0 - f) * n - f**2 * fano * n
    omega = safe_sqrt(safe_div(excess, n**2 + fano * n))
    return fano, omega
