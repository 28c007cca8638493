"""Brazil-band figure of a sensitivity result: median expected 90% CL limit, +-1/2 sigma bands,
3 and 5 sigma discovery potential, versus WIMP mass or exposure."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from darkfit.plotting._style import plt, save

GREEN, YELLOW = "#00cc00", "#ffcc00"


def plot_sensitivity(
    table: pd.DataFrame,
    paths: str | Path | Sequence[str | Path],
    *,
    x: str = "mass_gev",
    title: str | None = None,
    reference: dict[str, tuple[float, float]] | None = None,
) -> list[Path]:
    """Draw the band of ``table`` (rows of :func:`darkfit.inference.sensitivity.run_sensitivity`).

    Args:
        table: columns ``x``, ``status``, ``sigma_median``, ``sigma_m2`` ... ``sigma_p2``
            [cm^2], optionally ``disc3_sigma``, ``disc5_sigma`` [cm^2].
        paths: one or more output files (``.png``, ``.pdf``).
        x: ``mass_gev`` or ``exposure_tonne_year``.
        title: figure title.
        reference: labelled published points {label: (x, sigma_cm2)} drawn as stars.
    """
    ok = table[table["status"] == "ok"].sort_values(x)
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    xs = ok[x].to_numpy(float)
    if len(ok):
        m2 = ok["sigma_m2"].to_numpy(float)
        pos = np.concatenate([m2[m2 > 0], ok["sigma_m1"].to_numpy(float)])
        floor = 0.3 * np.nanmin(pos[pos > 0]) if np.any(pos > 0) else 1e-50
        lab2 = r"$\pm2\sigma$" + (r" ($-2\sigma$ edge at 0)" if np.any(m2 <= 0) else "")
        ax.fill_between(xs, np.maximum(m2, floor), ok["sigma_p2"], color=YELLOW, label=lab2)
        ax.set_ylim(bottom=floor)
        ax.fill_between(xs, ok["sigma_m1"], ok["sigma_p1"], color=GREEN, label=r"$\pm1\sigma$")
        ax.plot(xs, ok["sigma_median"], "k--", marker="o", ms=3, label="median 90% CL limit")
        for col, style, lab in (
            ("disc3_sigma", "b-.", r"3$\sigma$ discovery (median)"),
            ("disc5_sigma", "r:", r"5$\sigma$ discovery (median)"),
        ):
            if col in ok and np.isfinite(ok[col].to_numpy(float)).any():
                ax.plot(xs, ok[col], style, label=lab)
    for label, (px, py) in (reference or {}).items():
        ax.plot([px], [py], "k*", ms=10, label=label)
    none = table[table["status"] != "ok"]
    if len(none):
        for v in none[x].to_numpy(float):
            ax.annotate(
                "no sensitivity", (v, 0.03), xycoords=("data", "axes fraction"), rotation=90,
                ha="right", va="bottom", fontsize=7,
            )  # fmt: skip
            ax.axvline(v, color="0.6", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"WIMP mass [GeV/$c^2$]" if x == "mass_gev" else r"exposure [tonne$\,$year]")
    ax.set_ylabel(r"SI WIMP-nucleon cross-section [cm$^2$]")
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8, loc="best")
    if isinstance(paths, (str, Path)):
        paths = [paths]
    out = []
    for i, p in enumerate(paths):
        out.append(save(fig, p) if i == len(paths) - 1 else _save_keep(fig, p))
    return out


def _save_keep(fig, path) -> Path:
    """Save without closing (several formats of one figure)."""
    path = Path(path)
    save_path = path
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix not in (".png", ".pdf"):
        from darkfit._errors import bad_value

        raise bad_value("plot", str(path), "a file name ending in .png or .pdf")
    fig.tight_layout()
    fig.savefig(save_path, dpi=150)
    return save_path


__all__ = ["plot_sensitivity"]
