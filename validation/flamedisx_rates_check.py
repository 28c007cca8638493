"""darkfit's ``flamedisx`` preset against flamedisx 2.1.0's default ER and NR sources, event by
event: the per-event differential rates of both sources on the same events.

Steps (each flamedisx step runs ``benchmarks/flamedisx_reference.py`` in flamedisx's own
virtualenv, ``$FLAMEDISX_PY``, default /work/fd-venv/bin/python, with ``$FLAMEDISX_WORKDIR``
holding ``resource_cache/``; outputs already in ``--workdir`` are reused):

1. events: flamedisx's own simulation of its default ER and NR sources (``simulate``,
   ``--n`` accepted events each, seeds 0 and 1);
2. flamedisx's rates of ``fd.ERSource`` and ``fd.NRSource`` at ``batch_size=1`` (an event's
   flamedisx rate depends on the other events of its batch otherwise), with flamedisx's
   defaults, with +-6 sigma hidden-variable windows, and converged: +-10 sigma windows summed
   with 8x finer steps (:data:`SETTINGS`);
3. darkfit's rates of the same events (``UnbinnedLikelihood(...).log_rates`` at the defaults
   with the comb spectra of flamedisx's sources, 1 tonne-year) times the fiducial volume: events
   per phd(s1) per phd(s2) for the source's whole spectrum (1000 ER and 100 NR events before
   efficiencies), flamedisx's ``batched_differential_rate`` units (PE there: the preset
   has no double-photoelectron emission, so phd = PE);
4. per source, the ratio darkfit / flamedisx on every event inside both codes' regions
   (events outside either are counted and printed, not dropped silently): median |ratio - 1|
   against each flamedisx setting, on each source's own events and on the other's (its far
   tail); every event off by more than ``--outlier`` (5%) against flamedisx's defaults, with
   the relaxation of flamedisx's numerics that brings it within 1% of darkfit (wider windows;
   wider windows and finer steps), and a list of those still off against converged flamedisx.
   The per-event table with ratios and reasons goes to ``WORKDIR/rates_check.csv``.

    python validation/flamedisx_rates_check.py --workdir /tmp/fdcheck \\
        | tee docs/validation/flamedisx_rates_check.txt
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "benchmarks" / "flamedisx_reference.py"


def flamedisx(*args: str) -> None:
    """Run the flamedisx harness in flamedisx's virtualenv (it never imports darkfit)."""
    py = os.environ.get("FLAMEDISX_PY", "/work/fd-venv/bin/python")
    workdir = os.environ.get("FLAMEDISX_WORKDIR", "/work/fd-run")
    cmd = [py, str(HARNESS), "--workdir", workdir, *args]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, stdout=sys.stderr)


def events(workdir: Path, n: int):
    """flamedisx-simulated ER then NR events, with a column ``sim`` naming their source."""
    import pandas as pd

    parts = []
    for seed, src in enumerate(("er", "nr")):
        path = workdir / f"sim_{src}_{n}.parquet"
        if not path.exists():
            sim = ("simulate", "--n", str(n), "--source", src, "--seed", str(seed))
            flamedisx(*sim, "--out", str(path))
        parts.append(pd.read_parquet(path).assign(sim=src))
    return pd.concat(parts, ignore_index=True)


#: flamedisx settings compared: (tag, harness options). Its defaults sum each hidden count over
#: +-3 sigma with at most 70-240 points (flamedisx/source.py ``default_max_sigma``,
#: lxe_blocks' ``max_dim_size``; a wider window is summed with an integer step > 1).
SETTINGS = (
    ("defaults", ()),
    ("+-6 sigma", ("--max-sigma", "6")),
    ("+-10 sigma, 8x finer steps", ("--max-sigma", "10", "--dim-size-factor", "8")),
)


def flamedisx_rates(workdir: Path, ev_path: Path, k: int):
    """flamedisx's per-event rates with ``SETTINGS[k]`` and its side JSON (mu, versions)."""
    import pandas as pd

    out = workdir / f"fd_rates_{k}.parquet"
    if not out.exists():
        trials = "1e7" if k == 0 else "1e4"  # mu does not depend on the windows
        flamedisx("diffrate", "--events", str(ev_path), "--out", str(out), "--batch-size", "1",
                  "--mu-trials", trials, *SETTINGS[k][1])  # fmt: skip
    return pd.read_parquet(out), json.loads(out.with_suffix(".json").read_text())


def darkfit_rates(ev) -> tuple[np.ndarray, np.ndarray, dict]:
    """(rates (n, 2) for ER, NR [events/phd^2], mask of events inside darkfit's ROI and
    fiducial volume, expected events per source in the ROI)."""
    from darkfit.detector import load_detector
    from darkfit.inference.event_pool import fiducial_volume_cm3
    from darkfit.likelihood.unbinned import UnbinnedLikelihood
    from darkfit.model.sources import Source
    from darkfit.physics.spectra import LineSpectrum

    det = load_detector("flamedisx")
    # flamedisx's default spectra: ER 1000 lines on 0-10 keV, NR 100 lines on 0.7-150 keV,
    # one event each before efficiencies (flamedisx/lxe_sources.py ERSource / NRSource)
    er = Source("er", LineSpectrum(np.linspace(0, 10, 1000), np.ones(1000), recoil_type="er"))
    nr = Source("nr", LineSpectrum(np.linspace(0.7, 150, 100), np.ones(100), recoil_type="nr"))
    roi, fv = det.roi, det.fiducial
    r = np.hypot(ev.x, ev.y)
    inside = (
        ev.s1.between(roi.s1_min, roi.s1_max)
        & ev.s2.between(roi.s2_min, roi.s2_max)
        & (r <= fv.r_max_cm)
        & ev.z.between(fv.z_min_cm, fv.z_max_cm)
    ).to_numpy()
    lik = UnbinnedLikelihood(det, [er, nr], ev[inside].reset_index(drop=True), 1.0)
    rates = np.full((len(ev), 2), np.nan)
    rates[inside] = np.exp(np.asarray(lik.log_rates(lik.defaults()))) * fiducial_volume_cm3(det)
    mu = {k: float(v) for k, v in lik.expected_events(lik.defaults()).items()}
    return rates, inside, mu


def reason(dev: np.ndarray) -> str:
    """Why an event's ratio to flamedisx's defaults is off (``dev``: |ratio - 1| per setting)."""
    if dev[1] <= 0.01:
        return "flamedisx's +-3 sigma windows"
    if dev[2] <= 0.01:
        return "flamedisx's windows and stepped sums"
    return "off against converged flamedisx too"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=Path, required=True, help="events and flamedisx outputs")
    ap.add_argument("--n", type=int, default=1000, help="accepted events per source")
    ap.add_argument("--outlier", type=float, default=0.05, help="|ratio - 1| called an outlier")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    import darkfit  # noqa: F401  (float64)

    ev = events(args.workdir, args.n)
    ev_path = args.workdir / f"events_{args.n}.parquet"
    ev.to_parquet(ev_path)
    fds = [flamedisx_rates(args.workdir, ev_path, k) for k in range(len(SETTINGS))]
    rates, inside, mu = darkfit_rates(ev)
    both = inside & np.logical_and.reduce([f.fd_accepted.to_numpy() for f, _ in fds])
    skipped = f": rows {np.flatnonzero(~both).tolist()}" if (~both).any() else ""
    print(f"{len(ev)} events ({args.n} ER + {args.n} NR simulated by flamedisx 2.1.0); "
          f"{int((~both).sum())} outside darkfit's or flamedisx's region, not compared"
          f"{skipped}")  # fmt: skip
    meta = fds[0][1]
    print(f"mu in the ROI: darkfit ER {mu['er']:.3f}, NR {mu['nr']:.3f}; flamedisx "
          f"(10^7 trials) ER {meta['mu_er']:.3f} +- {meta['mu_er_detail']['mu_stat_err']:.3f}, "
          f"NR {meta['mu_nr']:.3f} +- {meta['mu_nr_detail']['mu_stat_err']:.3f}")  # fmt: skip
    print("\nmedian |darkfit / flamedisx - 1| [events > 1%, > 5%], flamedisx at batch_size 1 with")
    print(f"{'rate':5s}{'on events':16s}" + "".join(f"{t:>30s}" for t, _ in SETTINGS))
    table = ev[["sim", "s1", "s2", "drift_time"]].copy()
    outliers = {}
    for j, src in enumerate(("er", "nr")):
        fd = np.stack([f[f"rate_{src}"].to_numpy() for f, _ in fds], axis=1)  # (n, settings)
        ratio = rates[:, j, None] / fd
        dev = np.where(both[:, None], np.abs(ratio - 1), np.nan)
        for name, sel in (
            (f"{src.upper()}-simulated", ev.sim == src),
            ("other source's", ev.sim != src),
            ("all", np.ones(len(ev), bool)),
        ):
            d = dev[np.asarray(sel) & both]
            cells = [
                f"{100 * np.median(c):.3f}% [{(c > 0.01).sum()}, {(c > 0.05).sum()}]" for c in d.T
            ]
            print(f"{src.upper():5s}{name:16s}" + "".join(f"{c:>30s}" for c in cells))
        own = both & (ev.sim == src).to_numpy()
        grow = np.median(fd[own, -1] / fd[own, 0] - 1)
        print(f"{'':5s}flamedisx's own rates, converged / defaults - 1: median {100 * grow:.2f}% "
              f"on {src.upper()}-simulated events")  # fmt: skip
        typical = np.median(rates[own, j])
        for k in range(len(SETTINGS)):
            table[f"ratio_{src}_{k}"] = ratio[:, k]
        table[f"rate_{src}_rel_median"] = rates[:, j] / typical
        off = np.flatnonzero(both & (dev[:, 0] > args.outlier))
        why = [reason(dev[i]) for i in off]
        table[f"why_{src}"] = ""
        table.loc[off, f"why_{src}"] = why
        outliers[src] = (off, why, ratio, rates[:, j] / typical)
    print(f"\nEvents off by more than {100 * args.outlier:g}% against flamedisx's defaults, "
          "by what brings flamedisx to darkfit's value (within 1%):")  # fmt: skip
    for src, (off, why, _, _) in outliers.items():
        counts = {w: why.count(w) for w in dict.fromkeys(why)}
        print(f"  {src.upper()} rate: {len(off)} events: {counts}")
    for src, (off, why, ratio, rel) in outliers.items():
        rest = [i for i, w in zip(off, why, strict=True) if w.startswith("off")]
        print(f"\n{src.upper()} rate, events off by more than 1% against converged flamedisx too "
              f"(all listed; rate relative to the median {src.upper()} event's):")  # fmt: skip
        for i in rest:
            e = ev.iloc[i]
            ratios = " / ".join(f"{r:.4g}" for r in ratio[i])
            print(f"  row {i:5d} ({e.sim} sim) s1 {e.s1:6.2f} s2 {e.s2:7.1f} "
                  f"t {e.drift_time:5.1f} us: rate {rel[i]:.1e}, ratios {ratios}")  # fmt: skip
    csv = args.workdir / "rates_check.csv"
    table.to_csv(csv, index_label="row")
    print(f"\nevery event, ratios and reasons: {csv}")


if __name__ == "__main__":
    main()
