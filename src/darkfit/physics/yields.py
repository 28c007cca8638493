"""NEST-v2 mean yields and fluctuation widths for nuclear and electronic recoils in LXe.

Public face of :mod:`darkfit.physics.yields_nr` and :mod:`darkfit.physics.yields_er`: pure JAX
kernels (jit-able, vmappable, differentiable in every parameter) that reproduce the mean
photon and electron numbers of NEST v2 as bound by nestpy 2.1.3 (Szydagis et al.,
arXiv:2211.10726; ``NESTCollaboration/nest`` ``src/NEST.cpp``), and the Fano factor and
recombination width of darkfit's Gaussian quanta chain matched to NEST's ``GetQuanta``.
Units: energy keV (keVnr for NR, keVee for ER), drift field V/cm, density g/cm^3.
Formulas, defaults and the measured agreement with nestpy: ``docs/physics/yields.md``.

>>> import darkfit
>>> from darkfit.physics import yields
>>> m = yields.nr_mean_yields(10.0, 193.0, 2.9)
>>> round(float(m.n_electrons), 1), round(float(m.n_photons), 1)
(58.0, 80.4)
"""

from __future__ import annotations

from darkfit.physics._yields_common import MeanYields as MeanYields
from darkfit.physics._yields_common import chain_covariance as chain_covariance
from darkfit.physics._yields_common import work_function as work_function
from darkfit.physics.yields_er import ERGammaYieldParams as ERGammaYieldParams
from darkfit.physics.yields_er import ERWeightedParams as ERWeightedParams
from darkfit.physics.yields_er import ERWidthParams as ERWidthParams
from darkfit.physics.yields_er import ERYieldParams as ERYieldParams
from darkfit.physics.yields_er import er_mean_yields as er_mean_yields
from darkfit.physics.yields_er import er_nest_covariance as er_nest_covariance
from darkfit.physics.yields_er import er_widths as er_widths
from darkfit.physics.yields_er import fano_er as fano_er
from darkfit.physics.yields_er import recomb_omega_er as recomb_omega_er
from darkfit.physics.yields_nr import NRWidthParams as NRWidthParams
from darkfit.physics.yields_nr import NRYieldParams as NRYieldParams
from darkfit.physics.yields_nr import nr_mean_yields as nr_mean_yields
from darkfit.physics.yields_nr import nr_nest_covariance as nr_nest_covariance
from darkfit.physics.yields_nr import nr_widths as nr_widths
from darkfit.physics.yields_nr import recomb_omega_nr as recomb_omega_nr
from darkfit.physics.yields_nr import thomas_imel as thomas_imel

__all__ = [
    "ERGammaYieldParams",
    "ERWeightedParams",
    "ERWidthParams",
    "ERYieldParams",
    "MeanYields",
    "NRWidthParams",
    "NRYieldParams",
    "chain_covariance",
    "er_mean_yields",
    "er_nest_covariance",
    "er_widths",
    "fano_er",
    "nr_mean_yields",
    "nr_nest_covariance",
    "nr_widths",
    "recomb_omega_er",
    "recomb_omega_nr",
    "thomas_imel",
    "work_function",
]
