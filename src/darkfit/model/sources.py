"""Sources: a recoil-energy spectrum plus the quanta-model parameters it uses.

A source is described on the command line as ``name[:key=value,key=value...]``:

* ``wimp:mass=50,sigma=1e-47`` — spin-independent WIMP (mass in GeV/c^2, per-nucleon
  cross-section in cm^2; optional ``e_min``, ``e_max`` in keVnr), standard halo model
  (:mod:`darkfit.physics.wimp`);
* any named background of :data:`darkfit.physics.backgrounds.BACKGROUNDS` (``flat_er``,
  ``ar37``, ``xe124``, ``solar_nu_er``, ``b8_cevns``, ``atm_nu_nr``, ``neutrons``) with its
  keyword overrides, e.g. ``flat_er:rate=20``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from darkfit._errors import DarkfitInputError, bad_value
from darkfit.physics import backgrounds
from darkfit.physics.spectra import FunctionSpectrum, Spectrum

#: Default recoil-energy window for WIMP spectra [keVnr]: below 0.1 keVnr no signal is
#: detectable in LXe; 200 keVnr contains the whole S1 < 100 phd region for any mass.
WIMP_E_MIN_KEV = 0.1
WIMP_E_MAX_KEV = 200.0


@dataclass(frozen=True)
class Source:
    """A population of events: name, energy spectrum, optional quanta-model parameters.

    Attributes:
        name: label used in event tables and likelihoods.
        spectrum: recoil spectrum in events / (tonne year keV), tagged ER or NR.
        quanta_params: ``(yield_params, width_params)`` for the NEST quanta model, or None for
            NEST defaults (ignored by the ``flamedisx`` quanta model).
    """

    name: str
    spectrum: Spectrum
    quanta_params: Any = field(default=None)

    @property
    def recoil_type(self) -> str:
        return self.spectrum.recoil_type


def wimp_source(
    mass_gev: float,
    sigma_cm2: float,
    *,
    e_min: float = WIMP_E_MIN_KEV,
    e_max: float = WIMP_E_MAX_KEV,
    name: str = "wimp",
) -> Source:
    """A spin-independent WIMP source (standard halo model, time-averaged Earth velocity)."""
    from darkfit.physics import wimp

    mass_gev, sigma_cm2 = wimp.check_wimp_parameters(mass_gev, sigma_cm2)

    def rate(e_kev):
        return wimp.dr_de_si(e_kev, mass_gev, sigma_cm2)

    spec = FunctionSpectrum(rate, e_min, e_max, "nr", f"wimp_{mass_gev:g}GeV")
    return Source(name, spec)


def _parse_value(key: str, text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def parse_source(text: str) -> Source:
    """Build a :class:`Source` from ``name[:key=value,...]`` (see the module docstring)."""
    name, _, rest = text.strip().partition(":")
    kwargs: dict[str, float | str] = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise bad_value(f"source {name!r} option", item, "key=value pairs separated by commas")
        kwargs[key.strip()] = _parse_value(key.strip(), value.strip())
    if name == "wimp":
        allowed = {"mass", "sigma", "e_min", "e_max"}
        unknown = set(kwargs) - allowed
        if unknown:
            raise bad_value(
                f"wimp option {sorted(unknown)[0]!r}", text, f"one of {sorted(allowed)}"
            )
        for required in ("mass", "sigma"):
            if required not in kwargs:
                raise bad_value(f"wimp {required}", None, "e.g. wimp:mass=50,sigma=1e-47")
        try:
            return wimp_source(
                kwargs.pop("mass"),
                kwargs.pop("sigma"),
                **kwargs,  # type: ignore[arg-type]
            )
        except (TypeError, ValueError) as exc:
            if isinstance(exc, DarkfitInputError):
                raise
            raise bad_value("wimp option", text, "numbers for mass, sigma, e_min, e_max") from exc
    if name not in backgrounds.BACKGROUNDS:
        raise bad_value("source", name, f"'wimp' or one of {sorted(backgrounds.BACKGROUNDS)}")
    return Source(name, backgrounds.make_background(name, **kwargs))
