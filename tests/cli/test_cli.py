"""The darkfit command line: outputs, and one-line errors with exit code 2 for bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from darkfit.cli import main


def run(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["darkfit", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_commands():
    # a real subprocess: the installed console script must work
    res = subprocess.run(
        [sys.executable, "-m", "darkfit.cli", "--help"], capture_output=True, text=True, check=False
    )
    assert res.returncode == 0
    for cmd in ("spectrum", "yields", "simulate", "presets"):
        assert cmd in res.stdout


def test_spectrum_json_matches_library(monkeypatch, capsys):
    from darkfit.physics.wimp import dr_de_si

    code, out, _ = run(
        monkeypatch,
        capsys,
        "spectrum",
        "-s",
        "wimp:mass=50,sigma=1e-47",
        "--points",
        "5",
        "--json",
    )
    assert code == 0
    rows = json.loads(out)
    e = np.array([r["energy_kev"] for r in rows])
    got = np.array([r["wimp_50GeV"] for r in rows])
    np.testing.assert_allclose(got, np.asarray(dr_de_si(e, 50.0, 1e-47)), rtol=1e-12)


def test_yields_table_and_plot(monkeypatch, capsys, tmp_path):
    png = tmp_path / "y.png"
    code, out, _ = run(
        monkeypatch, capsys, "yields", "--recoil", "er", "--json", "--plot", str(png)
    )
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == 20 and all(r["n_photons"] > 0 for r in rows)
    assert png.stat().st_size > 1000


def test_simulate_writes_table(monkeypatch, capsys, tmp_path):
    path = tmp_path / "ev.parquet"
    code, out, _ = run(
        monkeypatch,
        capsys,
        "simulate",
        "--detector",
        "lz",
        "-s",
        "wimp:mass=50,sigma=1e-45",
        "-s",
        "flat_er",
        "--exposure",
        "0.1",
        "-o",
        str(path),
        "--json",
        "--plot",
        str(tmp_path / "ev.png"),
    )
    assert code == 0, out
    summary = json.loads(out)
    df = pd.read_parquet(path)
    assert len(df) == sum(v["events"] for v in summary["sources"].values())
    assert set(df.source.unique()) <= {"wimp", "flat_er"}
    assert (tmp_path / "ev.png").exists()


def test_simulate_roi_only_writes_what_fit_takes(monkeypatch, capsys, tmp_path):
    path = tmp_path / "ev.parquet"
    args = ["simulate", "--detector", "lz", "-s", "flat_er", "--exposure", "0.05", "-o"]
    code, out, _ = run(monkeypatch, capsys, *args, str(path), "--roi-only", "--json")
    assert code == 0, out
    summary = json.loads(out)
    df = pd.read_parquet(path)
    n_roi = summary["sources"]["flat_er"]["in_roi"]
    assert 0 < n_roi < summary["sources"]["flat_er"]["events"]  # some events fail the cuts
    assert len(df) == summary["written"] == n_roi and df.in_roi.all()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["simulate", "--detector", "nosuch", "-s", "flat_er", "--exposure", "1"], "nosuch"),
        (["simulate", "--detector", "lz", "-s", "flat_er", "--exposure", "-1"], "-1"),
        (
            ["simulate", "--detector", "lz", "-s", "wimp:mass=0,sigma=1e-47", "--exposure", "1"],
            "mass",
        ),
        (
            ["simulate", "--detector", "lz", "-s", "wimp:mass=-5,sigma=1e-47", "--exposure", "1"],
            "-5",
        ),
        (["simulate", "--detector", "lz", "-s", "nosuchsource", "--exposure", "1"], "nosuchsource"),
        (["simulate", "--detector", "lz", "-s", "wimp:mass=50", "--exposure", "1"], "sigma"),
        (["spectrum", "-s", "wimp:mass=abc,sigma=1e-47"], "abc"),
        (["yields", "--recoil", "xx"], "xx"),
        (["yields", "--field", "-3"], "-3"),
        (["spectrum", "-s", "flat_er", "--e-min", "10", "--e-max", "5"], "5"),
    ],
)
def test_bad_input_one_line_exit_2(monkeypatch, capsys, args, needle):
    code, _, err = run(monkeypatch, capsys, *args)
    assert code == 2
    assert "Traceback" not in err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert needle in lines[0]


def test_invalid_yaml_detector_one_line(monkeypatch, capsys, tmp_path):
    from darkfit.detector import load_detector

    text = load_detector("lz").model_dump()
    text["g1"] = 1.7
    import yaml

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(text))
    code, _, err = run(
        monkeypatch, capsys, "simulate", "--detector", str(path), "-s", "flat_er", "--exposure", "1"
    )
    assert code == 2
    assert "g1" in err and "1.7" in err and len(err.strip().splitlines()) == 1


def test_events_reader_errors(tmp_path):
    from darkfit._errors import DarkfitInputError
    from darkfit.events import read_events

    p = tmp_path / "e.csv"
    p.write_text("s1,s3\n1,2\n")
    with pytest.raises(DarkfitInputError, match="s2"):
        read_events(p)
    p.write_text("s1,s2\n1,abc\n")
    with pytest.raises(DarkfitInputError, match="abc"):
        read_events(p)
    p.write_text("s1,s2\n1,nan\n")
    with pytest.raises(DarkfitInputError, match="NaN"):
        read_events(p)
    with pytest.raises(DarkfitInputError, match="parquet"):
        read_events(tmp_path / "e.txt")


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_events_reader_columns(tmp_path, suffix):
    """``columns`` keeps those columns the file has, in the file's values, plus the required
    ones; a required column the file lacks is still an error."""
    from darkfit._errors import DarkfitInputError
    from darkfit.events import read_events, write_events
    from darkfit.likelihood.unbinned import INPUT_COLUMNS

    df = pd.DataFrame(
        {c: np.arange(5.0) + k for k, c in enumerate("s1 s2 x y z energy_kev".split())}
    )
    p = write_events(df, tmp_path / f"e{suffix}")
    got = read_events(p, columns=INPUT_COLUMNS)
    assert list(got.columns) == ["s1", "s2", "x", "y", "z"]
    pd.testing.assert_frame_equal(got, df[["s1", "s2", "x", "y", "z"]])
    assert list(read_events(p, columns=["z"]).columns) == ["s1", "s2", "z"]
    assert list(read_events(p).columns) == list(df.columns)
    p = write_events(df.drop(columns="s2"), tmp_path / f"f{suffix}")
    with pytest.raises(DarkfitInputError, match="s2"):
        read_events(p, columns=INPUT_COLUMNS)


@pytest.fixture(scope="module")
def fd_events_file(tmp_path_factory):
    from darkfit.detector import load_detector
    from darkfit.model.simulate import simulate
    from darkfit.model.sources import parse_source

    det = load_detector("flamedisx")
    df = simulate(det, [parse_source("flat_er")], 2.0, seed=5)
    path = tmp_path_factory.mktemp("ev") / "ev.parquet"
    df[df.in_roi].reset_index(drop=True).iloc[:60].to_parquet(path)
    return path


def test_diffrate_writes_rates(monkeypatch, capsys, tmp_path, fd_events_file):
    out = tmp_path / "rates.parquet"
    code, _, err = run(
        monkeypatch,
        capsys,
        "diffrate",
        str(fd_events_file),
        "--detector",
        "flamedisx",
        "-s",
        "flat_er",
        "--exposure",
        "0.01",
        "-o",
        str(out),
    )
    assert code == 0, err
    df = pd.read_parquet(out)
    assert len(df) == len(pd.read_parquet(fd_events_file)) == 60
    assert np.all(np.isfinite(df["log_rate_flat_er"]))


def test_fit_json_and_bad_parameter(monkeypatch, capsys, fd_events_file):
    code, out, err = run(
        monkeypatch,
        capsys,
        "fit",
        str(fd_events_file),
        "--detector",
        "flamedisx",
        "-s",
        "flat_er",
        "--free",
        "flat_er_rate",
        "--exposure",
        "0.01",
        "--json",
    )
    assert code == 0, err
    res = json.loads(out)
    assert res["valid"] and res["values"]["flat_er_rate"] > 0 and res["errors"]["flat_er_rate"] > 0
    code, _, err = run(
        monkeypatch,
        capsys,
        "fit",
        str(fd_events_file),
        "--detector",
        "flamedisx",
        "-s",
        "flat_er",
        "--free",
        "nosuch",
        "--exposure",
        "0.01",
    )
    assert code == 2 and "nosuch" in err and len(err.strip().splitlines()) == 1
