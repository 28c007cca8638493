"""Imported by pytest before any test module: darkfit first, so the JAX settings it makes at
import (float64, closed-over arrays passed as arguments, the CPU emitters: see
``darkfit/__init__.py``) hold in every test, whichever test files run and whatever they import
first (JAX reads some of them only when it is first imported; running ``tests/likelihood``
alone once imported jax first, through test_binned.py, and the frozen-factor test failed)."""

import darkfit  # noqa: F401
