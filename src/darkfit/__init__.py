"""darkfit: liquid-xenon TPC dark-matter analysis in JAX.

Importing darkfit switches JAX to float64 (``jax_enable_x64``): likelihood and rate code
needs double precision (DESIGN.md).
"""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

from ._errors import DarkfitInputError as DarkfitInputError  # noqa: E402

__version__ = "0.1.0"

__all__ = ["DarkfitInputError", "__version__"]
