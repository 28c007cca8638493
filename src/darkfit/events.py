"""Event tables on disk: Parquet (preferred) or CSV, validated on read.

Column conventions (DESIGN.md): ``s1``/``s2`` in photons detected (phd), positions ``x, y, z, r``
in cm (z = 0 at the gate, negative downwards), ``drift_time`` in microseconds, ``energy_kev`` in
keV (keVnr for NR, keVee for ER).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from darkfit._errors import DarkfitInputError, bad_value

#: Observables every analysis needs.
REQUIRED_COLUMNS = ("s1", "s2")


def write_events(df: pd.DataFrame, path: str | Path) -> Path:
    """Write an events table to ``.parquet`` or ``.csv`` (chosen by the suffix)."""
    path = Path(path)
    if path.suffix not in (".parquet", ".csv"):
        raise bad_value("output", str(path), "a file name ending in .parquet or .csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return path


def read_events(
    path: str | Path,
    required: Sequence[str] = REQUIRED_COLUMNS,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read and validate an events table.

    Args:
        path: a ``.parquet`` or ``.csv`` file.
        required: columns that must be present (checked numeric and finite).
        columns: read only these of the file's columns, in the file's order (those it
            lacks are skipped; the ``required`` ones are still checked). A Parquet file is
            read column by column, so this saves the memory of the others (10^5 events, 6 of
            24 columns: the table 19 -> 5 MB, resident memory after reading 54 MB less).

    Raises:
        DarkfitInputError: missing file, unknown format, missing column, non-numeric column.
    """
    path = Path(path)
    if not path.exists():
        raise bad_value("events file", str(path), "an existing .parquet or .csv file")
    wanted = None if columns is None else {*required, *columns}
    if path.suffix == ".parquet":
        import pyarrow
        import pyarrow.parquet as pq

        names = None if wanted is None else [c for c in pq.read_schema(path).names if c in wanted]
        df = pd.read_parquet(path, columns=names)
        # Arrow's allocator keeps the buffers it decoded into; hand them back to the system
        # (10^5 events of 24 columns: 41 MB of resident memory)
        pyarrow.default_memory_pool().release_unused()
    elif path.suffix == ".csv":
        df = pd.read_csv(path, usecols=None if wanted is None else lambda c: c in wanted)
    else:
        raise bad_value("events file", str(path), "a file name ending in .parquet or .csv")
    return validate_events(df, required)


def validate_events(df: pd.DataFrame, required: Sequence[str] = REQUIRED_COLUMNS) -> pd.DataFrame:
    """Check that the required columns exist and are numeric; return the table unchanged."""
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DarkfitInputError(
            f"events table lacks column(s) {missing}: expected columns {list(required)} "
            f"(found {list(df.columns)[:12]})"
        )
    for c in required:
        if not pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]):
            bad = df[c][pd.to_numeric(df[c], errors="coerce").isna()]
            example = bad.iloc[0] if len(bad) else df[c].dtype
            raise bad_value(f"column {c!r}", example, "numbers only")
        if not np.all(np.isfinite(df[c].to_numpy(dtype=float))):
            raise bad_value(f"column {c!r}", "NaN/inf", "finite numbers")
    return df
