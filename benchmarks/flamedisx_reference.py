"""flamedisx 2.1.0 reference harness for darkfit's explicit-likelihood benchmark.

This script is NOT part of darkfit and must not import it. It runs in flamedisx's own
virtualenv (flamedisx 2.1.0, tensorflow 2.16.1, float32, CPU) and exchanges only plain files
(Parquet / JSON) with darkfit, so the two codes can be compared side by side::

    python3 -m venv /work/fd-venv
    /work/fd-venv/bin/pip install "flamedisx[strict-deps]==2.1.0" pandas pyarrow
    /work/fd-venv/bin/python benchmarks/flamedisx_reference.py --workdir /work/fd-run SUBCOMMAND

``import flamedisx`` downloads two XENON1T maps unless ``./resource_cache/`` holds them (see
shared/reference/flamedisx_offline/README.md); ``--workdir`` (default: $FLAMEDISX_WORKDIR, else
the current directory) must contain a copy of that folder and becomes the working directory
before flamedisx is imported (file arguments are resolved before that).

Subcommands
-----------
``diffrate --events IN.parquet --out OUT.parquet [--source er|nr|both] [--batch-size 1]``
    Per-event differential rates of the DEFAULT ``fd.ERSource`` / ``fd.NRSource``, as returned by
    ``source.batched_differential_rate()``: columns ``rate_er``, ``rate_nr`` (units: events per
    PE(s1) per PE(s2) for the source's default normalisation, ``mu_before_efficiencies`` = 1000
    for ER and 100 for NR; there is no spatial factor). Events outside flamedisx's default cuts
    (s1 in [2, 70], s2 in [2, 6000]) would make flamedisx raise; they get rate 0 and
    ``fd_accepted = False``. ``OUT.json`` (same stem) holds mu_er, mu_nr (``estimate_mu``: a
    Monte-Carlo estimate, here chunked, with its binomial standard error), versions, timings.
    ``--set NAME=VALUE`` (repeatable) evaluates at non-default flamedisx parameters
    (e.g. ``--set elife=500e3 --set g2=22``; flamedisx units: ns for elife).
    ``--max-sigma`` widens flamedisx's hidden-variable windows (default 3 sigma): the default
    windows truncate the sums, by ~1% (median) and up to ~50% for tail events.
    ``--dim-size-factor F`` multiplies flamedisx's caps on each hidden dimension's number of
    points (``max_dim_size``, 70-240; a wider window is summed with an integer step > 1):
    with ``--max-sigma 10 --dim-size-factor 8`` its rates converge (validation/
    flamedisx_rates_check.py).
``simulate --n N --source er|nr --seed S --out OUT.parquet``
    ``source.simulate()`` output until N events pass flamedisx's acceptance, with darkfit's
    column names and units (drift_time in microseconds, energy_kev; flamedisx truth columns kept).
``bench --events IN.parquet --sizes 1000,10000 --out bench.json``
    ``fd.LogLikelihood`` with sources er=ERSource, nr=NRSource, free rates er and nr, and shape
    parameters elife and g2 (4 fit parameters). Per size (each in a fresh subprocess, so peak RSS
    is per size): construction time (annotation + mu interpolation), first value+gradient call
    (tracing), median of later calls, events/s, peak RSS. On the smallest size also
    ``bestfit()`` (default scipy optimizer with flamedisx's Hessian) from the defaults, and
    differential-rate throughput of each source alone at batch size 10. The optimizer's
    evaluations are logged; ``--bestfit-max-s`` caps the fit (the last point is kept).

Input conversions (darkfit -> flamedisx; see DESIGN.md "Data and configuration")
--------------------------------------------------------------------------------
* ``drift_time``: darkfit microseconds -> flamedisx nanoseconds (x 1000). flamedisx uses it in
  ``DetectElectrons.electron_detection_eff`` = extraction_eff * exp(-drift_time / elife), elife
  in ns (flamedisx/lxe_blocks/detection.py). If absent it is derived from ``z`` with flamedisx's
  ``drift_velocity`` = 1.335e-4 cm/ns (lxe_blocks/energy_spectrum.py::EnergySpectrum).
* ``z`` [cm] (0 at the gate, negative downwards, same convention in both codes): only used for
  the shape of ``MakeS2.electron_gain_mean(z, g2)``; derived from drift_time if absent.
* ``x``, ``y``, ``r``, ``theta``, ``event_time`` are not used by the default ER/NR rates; they
  are filled (x = y = 0, event_time = middle of flamedisx's default window) when absent.
* ``s1``, ``s2``: taken as is (flamedisx's default model counts PE, darkfit phd).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: flamedisx's default drift velocity [cm/ns] (lxe_blocks/energy_spectrum.py::EnergySpectrum).
FD_DRIFT_VELOCITY_CM_PER_NS = 1.335e-4
#: flamedisx's default cuts (lxe_blocks/reconstruct_signals.py::ReconstructS1/S2 *_acceptance).
FD_S1_RANGE = (2.0, 70.0)
FD_S2_RANGE = (2.0, 6000.0)
US_TO_NS = 1000.0

_fd = None  # flamedisx module, imported lazily after chdir to the workdir


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _import_flamedisx(workdir: str | None):
    """chdir to a folder with resource_cache/ and import flamedisx (offline)."""
    global _fd
    if _fd is not None:
        return _fd
    wd = Path(workdir or os.environ.get("FLAMEDISX_WORKDIR") or ".").resolve()
    if not (wd / "resource_cache").is_dir():
        raise SystemExit(
            f"--workdir {wd} has no resource_cache/ folder: copy "
            "shared/reference/flamedisx_offline/resource_cache there (flamedisx downloads its "
            "XENON1T maps at import time otherwise)"
        )
    os.chdir(wd)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import flamedisx as fd
    _fd = fd
    return fd


def machine_info() -> dict:
    """Versions and machine description (printed by every subcommand)."""
    import numpy as np
    import pandas as pd
    import tensorflow as tf
    import tensorflow_probability as tfp

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "flamedisx": _fd.__version__,
        "tensorflow": tf.__version__,
        "tensorflow_probability": tfp.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "python": platform.python_version(),
        "float_type": str(_fd.float_type().name),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "tf_inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "tf_gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
    }


def _print_info() -> dict:
    info = machine_info()
    _log(
        "flamedisx {flamedisx} | tensorflow {tensorflow} | tfp {tensorflow_probability} | "
        "numpy {numpy} | python {python} | {float_type}".format(**info)
    )
    _log("machine: {cpu} | {cpus_usable}/{cpu_count} cores usable | GPUs: {tf_gpus}".format(**info))
    return info


def _seed_global(seed: int) -> None:
    """Seed the global numpy (and tensorflow) state: flamedisx's simulator draws from
    np.random / scipy.stats with the global state, so a Generator cannot be passed in."""
    import numpy as np
    import tensorflow as tf

    np.random.seed(seed)  # noqa: NPY002 (flamedisx uses the legacy global state)
    tf.random.set_seed(seed)


def peak_rss_mb() -> float:
    """Peak resident set size of this process [MiB] (getrusage ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _source_classes(which: str, dim_size_factor: float = 1.0) -> dict:
    fd = _fd
    classes = {"er": fd.ERSource, "nr": fd.NRSource}
    if dim_size_factor != 1.0:
        classes = {k: _finer_steps(c, dim_size_factor) for k, c in classes.items()}
    if which == "both":
        return classes
    return {which: classes[which]}


def _finer_steps(cls, factor: float):
    """``cls`` with every hidden dimension's size cap (flamedisx's ``max_dim_size``: beyond it a
    dimension is summed with an integer step > 1) multiplied by ``factor``."""

    class Finer(cls):
        def _calculate_dimsizes(self):
            if not getattr(self, "_caps_scaled", False):
                self.max_dim_sizes = {k: int(v * factor) for k, v in self.max_dim_sizes.items()}
                self.default_max_dim_size = int(cls.default_max_dim_size * factor)
                self._caps_scaled = True
            super()._calculate_dimsizes()

    Finer.__name__ = cls.__name__
    return Finer


# --------------------------------------------------------------------------- data conversion


def to_flamedisx_events(df):
    """Return (flamedisx events table, boolean mask of events inside flamedisx's default cuts).

    Input: darkfit conventions (drift_time [us], z [cm]); see the module docstring.
    """
    import numpy as np
    import pandas as pd

    if "s1" not in df.columns or "s2" not in df.columns:
        raise SystemExit(f"events table needs columns s1 and s2 (has {list(df.columns)[:12]})")
    out = pd.DataFrame(
        {
            "s1": df["s1"].to_numpy(float),
            "s2": df["s2"].to_numpy(float),
        }
    )
    if "drift_time" in df.columns:
        out["drift_time"] = df["drift_time"].to_numpy(float) * US_TO_NS
    elif "z" in df.columns:
        out["drift_time"] = -df["z"].to_numpy(float) / FD_DRIFT_VELOCITY_CM_PER_NS
    else:
        raise SystemExit("events table needs drift_time [us] or z [cm]")
    if "z" in df.columns:
        out["z"] = df["z"].to_numpy(float)
    else:
        out["z"] = -out["drift_time"].to_numpy() * FD_DRIFT_VELOCITY_CM_PER_NS
    out["x"] = df["x"].to_numpy(float) if "x" in df.columns else 0.0
    out["y"] = df["y"].to_numpy(float) if "y" in df.columns else 0.0
    out["r"] = np.hypot(out["x"], out["y"])
    out["theta"] = np.arctan2(out["y"], out["x"])
    if "event_time" in df.columns:
        out["event_time"] = df["event_time"].to_numpy()
    else:
        t0 = pd.Timestamp("2019-09-01T08:28:00").value  # EnergySpectrum.t_start (ns)
        t1 = pd.Timestamp("2020-09-01T08:28:00").value  # EnergySpectrum.t_stop (ns)
        out["event_time"] = (t0 + t1) // 2
    s1, s2 = out["s1"].to_numpy(), out["s2"].to_numpy()
    ok = (
        (s1 >= FD_S1_RANGE[0])
        & (s1 <= FD_S1_RANGE[1])
        & (s2 >= FD_S2_RANGE[0])
        & (s2 <= FD_S2_RANGE[1])
        & np.isfinite(out["drift_time"].to_numpy())
        & (out["drift_time"].to_numpy() >= 0)
    )
    return out, ok


def from_flamedisx_sim(d, source: str):
    """flamedisx simulate() output -> darkfit column names and units (keeps fd truth columns)."""
    import numpy as np
    import pandas as pd

    out = pd.DataFrame(
        {
            "source": pd.Categorical([source] * len(d)),
            "recoil_type": pd.Categorical([source] * len(d)),
            "energy_kev": d["energy"].to_numpy(float),
            "n_quanta": d["quanta_produced"].to_numpy(np.int64),
            "n_photons": d["photons_produced"].to_numpy(np.int64),
            "n_electrons": d["electrons_produced"].to_numpy(np.int64),
            "n_photons_detected": d["photons_detected"].to_numpy(np.int64),
            "n_photoelectrons": d["photoelectrons_detected"].to_numpy(np.int64),
            "n_electrons_detected": d["electrons_detected"].to_numpy(np.int64),
            "s1_raw": d["s1_raw"].to_numpy(float),
            "s2_raw": d["s2_raw"].to_numpy(float),
            "s1": d["s1"].to_numpy(float),
            "s2": d["s2"].to_numpy(float),
            "x": d["x"].to_numpy(float),
            "y": d["y"].to_numpy(float),
            "z": d["z"].to_numpy(float),
            "r": d["r"].to_numpy(float),
            "theta": d["theta"].to_numpy(float),
            "drift_time": d["drift_time"].to_numpy(float) / US_TO_NS,
            "event_time": d["event_time"].to_numpy(np.int64),
            "p_el_mean": d["p_el_mean"].to_numpy(float),
            "p_el_fluct": d["p_el_fluct"].to_numpy(float),
            "p_el_actual": d["p_el_actual"].to_numpy(float),
        }
    )
    out["in_roi"] = True  # flamedisx's simulate() already dropped events failing its cuts
    return out


def _parse_sets(items: list[str] | None) -> dict:
    params = {}
    for item in items or []:
        name, _, value = item.partition("=")
        if not name or not value:
            raise SystemExit(f"--set expects NAME=VALUE, got {item!r}")
        params[name] = float(value)
    return params


def estimate_mu_chunked(source, n_trials: int, chunk: int = 1_000_000, **params) -> dict:
    """flamedisx's Source.estimate_mu (mu_before_efficiencies * accepted fraction of simulated
    events, source.py::Source.estimate_mu), done in chunks to bound memory; with the binomial
    standard error of the accepted fraction."""
    n_acc = 0
    done = 0
    while done < n_trials:
        n = min(chunk, n_trials - done)
        n_acc += len(source.simulate(n, **params))
        done += n
    mu_before = float(source.mu_before_efficiencies(**params))
    frac = n_acc / n_trials
    return {
        "mu": mu_before * frac,
        "mu_stat_err": mu_before * math.sqrt(frac * (1 - frac) / n_trials),
        "mu_before_efficiencies": mu_before,
        "accepted_fraction": frac,
        "n_trials": n_trials,
    }


# --------------------------------------------------------------------------- subcommands


def cmd_diffrate(args) -> None:
    import numpy as np
    import pandas as pd

    info = _print_info()
    events = pd.read_parquet(args.events)
    data, ok = to_flamedisx_events(events)
    n_ok = int(ok.sum())
    _log(f"{len(events)} events, {n_ok} inside flamedisx's default cuts")
    params = _parse_sets(args.set)
    out = pd.DataFrame({"event": np.arange(len(events)), "fd_accepted": ok})
    meta = {"machine": info, "events": str(args.events), "batch_size": args.batch_size}
    meta["max_sigma"] = args.max_sigma
    meta["params"] = params
    meta["n_events"] = len(events)
    meta["n_accepted"] = n_ok
    meta["conversions"] = {
        "drift_time": "darkfit us * 1000 -> flamedisx ns",
        "z": "cm, same convention; derived as -drift_time * 1.335e-4 cm/ns when absent",
    }
    meta["dim_size_factor"] = args.dim_size_factor
    for name, cls in _source_classes(args.source, args.dim_size_factor).items():
        t0 = time.perf_counter()
        src = cls(
            data[ok].reset_index(drop=True),
            batch_size=args.batch_size,
            max_sigma=args.max_sigma,
        )
        t_init = time.perf_counter() - t0
        t0 = time.perf_counter()
        rates = src.batched_differential_rate(progress=False, **params)
        t_rate = time.perf_counter() - t0
        col = np.zeros(len(events))
        col[ok] = rates
        out[f"rate_{name}"] = col
        _seed_global(args.seed)
        t0 = time.perf_counter()
        mu = estimate_mu_chunked(src, args.mu_trials, **params)
        t_mu = time.perf_counter() - t0
        meta[f"mu_{name}"] = mu["mu"]
        meta[f"mu_{name}_detail"] = mu
        meta[f"timing_{name}"] = {
            "init_annotate_trace_s": t_init,
            "diffrate_s": t_rate,
            "events_per_s": n_ok / t_rate if t_rate > 0 else None,
            "estimate_mu_s": t_mu,
        }
        _log(
            f"{name}: init {t_init:.1f} s, rates {t_rate:.1f} s ({n_ok / t_rate:.0f} ev/s), "
            f"mu = {mu['mu']:.3f} +- {mu['mu_stat_err']:.3f} ({args.mu_trials:.0e} trials)"
        )
    meta["peak_rss_mb"] = peak_rss_mb()
    out.to_parquet(args.out)
    side = Path(args.out).with_suffix(".json")
    side.write_text(json.dumps(meta, indent=2, sort_keys=True))
    _log(f"wrote {args.out} and {side}")


def cmd_simulate(args) -> None:
    import pandas as pd

    _print_info()
    _seed_global(args.seed)
    cls = _source_classes(args.source)[args.source]
    src = cls(batch_size=10)
    parts, n_have, n_tried = [], 0, 0
    while n_have < args.n:
        n_try = max(1000, int(1.3 * (args.n - n_have) / 0.2))
        d = src.simulate(n_try)
        n_tried += n_try
        parts.append(d)
        n_have += len(d)
    d = pd.concat(parts, ignore_index=True).iloc[: args.n]
    out = from_flamedisx_sim(d, args.source)
    out.to_parquet(args.out)
    _log(f"wrote {len(out)} accepted {args.source} events ({n_tried} simulated) to {args.out}")


def _param_spec(text: str) -> tuple:
    lo, hi, n = (float(v) for v in text.split(","))
    return (lo, hi, int(n))


def _bench_likelihood(args) -> dict:
    """One size, in its own process: likelihood construction, ll+grad calls, bestfit."""
    import numpy as np
    import pandas as pd

    fd = _fd
    info = machine_info()
    events = pd.read_parquet(args.events)
    data, ok = to_flamedisx_events(events)
    data = data[ok].reset_index(drop=True)
    n = args.size
    if n > len(data):
        raise SystemExit(f"--size {n} > {len(data)} accepted events in {args.events}")
    data = data.iloc[:n].reset_index(drop=True)
    res = {"size": n, "batch_size": args.batch_size, "machine": info}
    _seed_global(args.seed)
    t0 = time.perf_counter()
    lf = fd.LogLikelihood(
        sources={"er": fd.ERSource, "nr": fd.NRSource},
        free_rates=("er", "nr"),
        elife=_param_spec(args.elife),
        g2=_param_spec(args.g2),
        data=data,
        batch_size=args.batch_size,
        progress=False,
    )
    res["construct_s"] = time.perf_counter() - t0
    res["param_names"] = list(lf.param_names)
    res["guess"] = {k: float(v) for k, v in lf.guess().items()}
    res["rss_after_construct_mb"] = peak_rss_mb()
    _log(f"size {n}: LogLikelihood built in {res['construct_s']:.1f} s, params {lf.param_names}")
    times, lls = [], []
    for i in range(args.repeats):
        t0 = time.perf_counter()
        ll, grad, _ = lf.log_likelihood()
        dt = time.perf_counter() - t0
        times.append(dt)
        lls.append(float(ll))
        _log(f"size {n}: call {i} ll+grad {dt:.2f} s, ll = {ll:.4f}, grad = {np.round(grad, 4)}")
    steady = statistics.median(times[1:]) if len(times) > 1 else float("nan")
    res.update(
        first_call_s=times[0],
        steady_calls_s=times[1:],
        median_steady_s=steady,
        events_per_s=n / steady,
        ll_at_guess=lls[0],
        grad_at_guess=[float(g) for g in grad],
    )
    if args.bestfit:
        t0 = time.perf_counter()
        n_eval = [0]
        inner = lf.minus2_ll

        def logged_minus2_ll(**kw):
            # Progress log of every objective evaluation of the optimizer (and a time cap).
            if time.perf_counter() - t0 > args.bestfit_max_s:
                raise TimeoutError(f"bestfit exceeded {args.bestfit_max_s} s")
            out = inner(**kw)
            n_eval[0] += 1
            pars = {k: round(float(v), 6) for k, v in kw.items() if k in lf.param_names}
            res["bestfit_last_eval"] = {"params": pars, "ll": float(out[0]) / -2.0}
            dt = time.perf_counter() - t0
            _log(f"bestfit eval {n_eval[0]} at {dt:.0f} s: -2lnL = {out[0]:.4f} {pars}")
            return out

        lf.minus2_ll = logged_minus2_ll
        try:
            bf = lf.bestfit()
            res["bestfit_s"] = time.perf_counter() - t0
            res["bestfit"] = {k: float(v) for k, v in bf.items()}
            res["bestfit_ll"] = float(inner(**bf)[0]) / -2.0
            _log(f"size {n}: bestfit {res['bestfit_s']:.1f} s -> {res['bestfit']}")
        except Exception as exc:  # flamedisx raises on optimizer failure; record it
            res["bestfit_s"] = time.perf_counter() - t0
            res["bestfit_error"] = f"{type(exc).__name__}: {exc}"
            _log(f"size {n}: bestfit failed: {res['bestfit_error']}")
        res["bestfit_n_evals"] = n_eval[0]
        lf.minus2_ll = inner
    res["peak_rss_mb"] = peak_rss_mb()
    res["loadavg_1_5_15_at_end"] = os.getloadavg()
    return res


def _bench_diffrate(args) -> dict:
    """Differential-rate throughput of one source alone, in its own process."""
    import pandas as pd

    events = pd.read_parquet(args.events)
    data, ok = to_flamedisx_events(events)
    data = data[ok].reset_index(drop=True).iloc[: args.size].reset_index(drop=True)
    cls = _source_classes(args.source)[args.source]
    t0 = time.perf_counter()
    src = cls(data, batch_size=args.batch_size)
    t_init = time.perf_counter() - t0
    times = []
    for i in range(args.repeats):
        t0 = time.perf_counter()
        src.batched_differential_rate(progress=False)
        times.append(time.perf_counter() - t0)
        _log(
            f"diffrate {args.source} n={len(data)} bs={args.batch_size}: call {i} {times[-1]:.2f} s"
        )
    steady = statistics.median(times[1:]) if len(times) > 1 else times[0]
    return {
        "source": args.source,
        "size": len(data),
        "batch_size": args.batch_size,
        "init_annotate_trace_s": t_init,
        "first_call_s": times[0],
        "steady_calls_s": times[1:],
        "events_per_s": len(data) / steady,
        "peak_rss_mb": peak_rss_mb(),
        "loadavg_1_5_15_at_end": os.getloadavg(),
    }


def cmd_bench_worker(args) -> None:
    _print_info()
    res = _bench_diffrate(args) if args.kind == "diffrate" else _bench_likelihood(args)
    Path(args.out).write_text(json.dumps(res, indent=2, sort_keys=True))


def cmd_bench(args) -> None:
    info = _print_info()
    sizes = [int(s) for s in args.sizes.split(",")]
    out = Path(args.out)
    result = {
        "machine": info,
        "events": str(args.events),
        "model": "fd.LogLikelihood(sources=dict(er=fd.ERSource, nr=fd.NRSource), "
        f"free_rates=('er','nr'), elife={args.elife}, g2={args.g2}) (4 fit parameters)",
        "likelihood": [],
        "diffrate": [],
    }
    common = ["--events", str(args.events), "--seed", str(args.seed)]

    def run_worker(extra: list[str], tag: str) -> dict:
        tmp = out.with_name(f"{out.stem}.{tag}.json")
        cmd = [sys.executable, os.path.abspath(__file__), "--workdir", os.getcwd()]
        cmd += ["_bench_worker", *common, *extra]
        cmd += ["--out", str(tmp)]
        _log(f"running {tag}")
        subprocess.run(cmd, check=True)
        return json.loads(tmp.read_text())

    for i, n in enumerate(sorted(sizes)):
        extra = ["--kind", "likelihood", "--size", str(n), "--repeats", str(args.repeats)]
        extra += ["--batch-size", str(args.batch_size), "--elife", args.elife, "--g2", args.g2]
        if i == 0 and not args.no_bestfit:
            extra += ["--bestfit", "--bestfit-max-s", str(args.bestfit_max_s)]
        res = run_worker(extra, f"ll{n}")
        res.pop("machine", None)
        result["likelihood"].append(res)
        out.write_text(json.dumps(result, indent=2, sort_keys=True))
    for src in ("er", "nr"):
        extra = ["--kind", "diffrate", "--source", src, "--size", str(args.diffrate_size)]
        extra += ["--batch-size", str(args.diffrate_batch_size), "--repeats", "3"]
        result["diffrate"].append(run_worker(extra, f"dr_{src}"))
        out.write_text(json.dumps(result, indent=2, sort_keys=True))
    _log(f"wrote {out}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", default=None, help="folder containing resource_cache/")
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("diffrate", help="per-event differential rates + mu")
    p.add_argument("--events", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--source", choices=("er", "nr", "both"), default="both")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--mu-trials", type=float, default=1e7)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", metavar="NAME=VALUE")
    p.add_argument(
        "--max-sigma",
        type=float,
        default=None,
        help="hidden-variable window half-width in sigma (flamedisx default 3)",
    )
    p.add_argument(
        "--dim-size-factor",
        type=float,
        default=1.0,
        help="multiply flamedisx's hidden-dimension size caps (finer steps on wide windows)",
    )

    p = sub.add_parser("simulate", help="flamedisx's own simulator, darkfit units")
    p.add_argument("--n", type=int, required=True, help="number of ACCEPTED events")
    p.add_argument("--source", choices=("er", "nr"), required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True)

    p = sub.add_parser("bench", help="likelihood and differential-rate timings")
    p.add_argument("--events", type=Path, required=True)
    p.add_argument("--sizes", default="1000,10000")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--repeats", type=int, default=3, help="first call + (repeats-1) more")
    p.add_argument("--batch-size", type=int, default=10, help="LogLikelihood batch_size")
    p.add_argument("--elife", default="100e3,800e3,5", help="lo,hi,n_anchors [ns]")
    p.add_argument("--g2", default="15,25,5", help="lo,hi,n_anchors [PE per electron]")
    p.add_argument("--diffrate-size", type=int, default=1000)
    p.add_argument("--diffrate-batch-size", type=int, default=10)
    p.add_argument("--no-bestfit", action="store_true")
    p.add_argument("--bestfit-max-s", type=float, default=1800.0, help="time cap for bestfit")
    p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser("_bench_worker", help=argparse.SUPPRESS)
    p.add_argument("--kind", choices=("likelihood", "diffrate"), required=True)
    p.add_argument("--events", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--source", choices=("er", "nr"), default="er")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--elife", default="100e3,800e3,5")
    p.add_argument("--g2", default="15,25,5")
    p.add_argument("--bestfit", action="store_true")
    p.add_argument("--bestfit-max-s", type=float, default=1800.0)
    p.add_argument("--seed", type=int, default=0)

    args = ap.parse_args(argv)
    for name in ("events", "out"):
        if getattr(args, name, None) is not None:
            setattr(args, name, Path(getattr(args, name)).resolve())
    if hasattr(args, "mu_trials"):
        args.mu_trials = int(args.mu_trials)
    _import_flamedisx(args.workdir)
    {
        "diffrate": cmd_diffrate,
        "simulate": cmd_simulate,
        "bench": cmd_bench,
        "_bench_worker": cmd_bench_worker,
    }[args.cmd](args)


if __name__ == "__main__":
    main()
