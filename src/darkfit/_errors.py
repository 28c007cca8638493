"""Errors raised for bad user input.

Every message is one line that names the field, the bad value and what is allowed, so the
CLI can print it without a traceback (exit code 2).
"""

from __future__ import annotations

from typing import Any


class DarkfitInputError(ValueError):
    """Bad user input: message names the field, the value and what is allowed."""


def bad_value(field: str, value: Any, allowed: str) -> DarkfitInputError:
    """Build a one-line :class:`DarkfitInputError`.

    >>> str(bad_value("exposure", -1.0, "a positive number of tonne-years"))
    'exposure = -1.0 is invalid: expected a positive number of tonne-years'
    """
    return DarkfitInputError(f"{field} = {value!r} is invalid: expected {allowed}")
