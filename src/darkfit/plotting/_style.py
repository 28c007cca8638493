"""Shared figure helpers: non-interactive backend and saving to PNG/PDF."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from darkfit._errors import bad_value


def save(fig: plt.Figure, path: str | Path) -> Path:
    """Save a figure to ``.png`` or ``.pdf`` and close it."""
    path = Path(path)
    if path.suffix not in (".png", ".pdf"):
        raise bad_value("plot", str(path), "a file name ending in .png or .pdf")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path
