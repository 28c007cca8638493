"""Input checks shared by the ML models: one-line :class:`DarkfitInputError` messages."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from darkfit._errors import bad_value


def feature_matrix(table: pd.DataFrame, names: Sequence[str], what: str = "features"):
    """The float64 matrix (n, len(names)) of ``table``'s columns, refusing missing or NaN input."""
    if not isinstance(table, pd.DataFrame):
        raise bad_value(what, type(table).__name__, "a pandas DataFrame with named columns")
    for name in names:
        if name not in table.columns:
            raise bad_value(f"{what} column", name, f"a table with columns {list(names)}")
    x = table[list(names)].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(x)
    if bad.any():
        col = int(np.flatnonzero(bad.any(axis=0))[0])
        raise bad_value(
            f"{what} column {names[col]!r}",
            f"{int(bad[:, col].sum())} NaN/inf values",
            "finite numbers (drop or repair those events first)",
        )
    if x.shape[0] == 0:
        raise bad_value(what, "an empty table", "at least one event")
    return x


def binary_labels(labels, n: int | None = None) -> np.ndarray:
    """Labels as an int array of 0 (ER / background) and 1 (NR / signal), both present."""
    y = np.asarray(labels)
    if n is not None and y.shape != (n,):
        raise bad_value("labels", f"shape {y.shape}", f"shape ({n},), one label per event")
    if y.size == 0:
        raise bad_value("labels", "empty", "at least one event of each class")
    if not np.isin(y, (0, 1)).all():
        raise bad_value("labels", sorted(set(np.unique(y).tolist()))[:5], "only 0 and 1")
    y = y.astype(np.int64)
    for c, name in ((0, "0 (ER / background)"), (1, "1 (NR / signal)")):
        if not (y == c).any():
            raise bad_value(
                "training labels", f"no events of class {name}", "events of both classes"
            )
    return y


def array_shape(name: str, array, expected: tuple[int, ...]) -> np.ndarray:
    """``array`` as float32 with shape (n, *expected) and finite values."""
    a = np.asarray(array, dtype=np.float32)
    if a.ndim != len(expected) + 1 or tuple(a.shape[1:]) != tuple(expected):
        raise bad_value(
            name, f"shape {a.shape}", f"shape (n_events, {', '.join(map(str, expected))})"
        )
    if not np.isfinite(a).all():
        raise bad_value(name, f"{int((~np.isfinite(a)).sum())} NaN/inf values", "finite numbers")
    return a
