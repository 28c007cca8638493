"""Tests of the Detector config, its validation errors and the shipped presets.

References are independent of the code: analytic cylinder volumes, the published numbers the
presets cite (typed here from the papers / flamedisx 2.1.0 defaults), and hand-built configs.
"""

from __future__ import annotations

import math
import re
from importlib import resources
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from darkfit._errors import DarkfitInputError
from darkfit.detector import PRESETS, Detector, load_detector, preset_text


def _base() -> dict:
    """A small valid detector; every number chosen by hand for easy analytic checks."""
    return {
        "name": "toy",
        "g1": 0.1,
        "double_pe_fraction": 0.2,
        "pe_resolution": 0.4,
        "extraction_efficiency": 0.8,
        "se_gain": 25.0,
        "se_width": 5.0,
        "electron_lifetime_us": 500.0,
        "drift_field_v_cm": 100.0,
        "drift_velocity_cm_us": 0.2,
        "liquid_density_g_cm3": 2.9,
        "radius_cm": 50.0,
        "drift_length_cm": 100.0,
        "fiducial": {"r_max_cm": 40.0, "z_min_cm": -90.0, "z_max_cm": -10.0},
        "roi": {"s1_min": 2.0, "s1_max": 70.0, "s2_min": 100.0, "s2_max": 1e4},
    }


def _with(path: str, value):
    """Copy of the base config with one (dotted) field set; value None-sentinel deletes."""
    data = _base()
    *parents, leaf = path.split(".")
    target = data
    for p in parents:
        target = target.setdefault(p, {})
    if value is _DELETE:
        del target[leaf]
    else:
        target[leaf] = value
    return data


_DELETE = object()


# ---- presets --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_loads_and_validates(name):
    det = load_detector(name)
    assert isinstance(det, Detector)
    assert det.name == name
    assert det.references, "a preset must list its sources"
    fv = det.fiducial
    assert fv.r_max_cm <= det.radius_cm
    assert -det.drift_length_cm <= fv.z_min_cm < fv.z_max_cm <= 0
    assert load_detector(name) is det  # cached: presets are immutable


def test_preset_list_matches_shipped_files():
    folder = resources.files("darkfit.detector").joinpath("presets")
    shipped = {p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml")}
    assert shipped == set(PRESETS)


_NUMBER_LINE = re.compile(r"^\s*[a-z0-9_]+:\s*-?[0-9][0-9.eE+-]*\s*(#.*)?$")


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_number_carries_a_comment(name):
    """Project rule: every number in a preset is cited (or marked assumed) on its line."""
    lines = [ln for ln in preset_text(name).splitlines() if _NUMBER_LINE.match(ln)]
    assert len(lines) >= 20
    bare = [ln for ln in lines if "#" not in ln]
    assert not bare, f"uncommented numbers in {name}.yaml: {bare}"


def test_flamedisx_preset_is_flamedisx_2_1_0_default_model():
    """Numbers from /work/shared/reference/flamedisx_model.md ("Default ER/NR")."""
    det = load_detector("flamedisx")
    expected = {
        "g1": 0.1,
        "double_pe_fraction": 0.219,
        "pe_resolution": 0.5,
        "s1_units": "pe",
        "s1_coincidence": 3,
        "extraction_efficiency": 0.96,
        "electron_lifetime_us": 452e3 * 1e-3,  # 452e3 ns
        "se_gain": 20.0,
        "se_width": 5.0,
        "drift_velocity_cm_us": 1.335e-4 * 1e3,  # 1.335e-4 cm/ns
        "drift_field_v_cm": 120.0,
        "quanta_model": "flamedisx",
    }
    for key, value in expected.items():
        if isinstance(value, str):
            assert getattr(det, key) == value, key
        else:
            assert getattr(det, key) == pytest.approx(value, rel=1e-12), key
    assert (det.fiducial.r_max_cm, det.fiducial.z_min_cm, det.fiducial.z_max_cm) == (
        47.9,
        -97.6,
        0.0,
    )
    roi = det.roi
    assert (roi.s1_min, roi.s1_max, roi.s2_min, roi.s2_max) == (2.0, 70.0, 2.0, 6000.0)


@pytest.mark.parametrize(
    ("name", "g1_pe", "g2"),
    [
        # published g1 in PE/photon and (total) g2, arXiv:1805.12562 SR1 (g2_b = 11.4 with
        # area fraction top 0.63) and the XENONnT SR0 appletree priors (0.1515, 16.45)
        ("xenon1t", 0.142, 11.4 / (1 - 0.63)),
        ("xenonnt", 0.1515, 16.45),
    ],
)
def test_xenon_presets_reproduce_published_g1_g2_in_pe(name, g1_pe, g2):
    det = load_detector(name)
    assert det.s1_units == "pe"
    assert det.g1_pe == pytest.approx(g1_pe, rel=1e-6)
    assert det.g2 == pytest.approx(g2, rel=1e-6)


def test_lz_preset_matches_projection_paper_masses():
    """arXiv:1802.06039 abstract: 5.6 t fiducial, 7 t active (verified numbers only; the
    response numbers of its Table I could not be checked here and are not asserted)."""
    det = load_detector("lz")
    assert det.fiducial_mass_tonne == pytest.approx(5.6, rel=0.02)
    assert det.active_mass_tonne == pytest.approx(7.0, rel=0.02)


def test_darwin_and_flamedisx_masses_match_their_sources():
    # arXiv:1606.07001: 40 t active; flamedisx energy_spectrum.py: "full (2t) XENON1T".
    assert load_detector("darwin").active_mass_tonne == pytest.approx(40.0, rel=0.02)
    assert load_detector("flamedisx").fiducial_mass_tonne == pytest.approx(2.0, rel=0.01)


# ---- derived properties ----------------------------------------------------------------------
def test_derived_properties_analytic():
    det = Detector.from_dict(_base())
    assert det.g2 == pytest.approx(0.8 * 25.0, rel=1e-15)
    assert det.photon_efficiency == 0.1
    assert det.g1_pe == pytest.approx(0.1 * 1.2, rel=1e-15)
    assert det.max_drift_time_us == pytest.approx(100.0 / 0.2, rel=1e-15)
    # cylinder r = 40 cm, height 80 cm, density 2.9 g/cm3 -> tonnes
    assert det.fiducial_mass_tonne == pytest.approx(math.pi * 1600 * 80 * 2.9 / 1e6, rel=1e-14)
    assert det.active_mass_tonne == pytest.approx(math.pi * 2500 * 100 * 2.9 / 1e6, rel=1e-14)


def test_defaults_of_optional_fields():
    data = _base()
    for key in ("double_pe_fraction", "pe_resolution", "se_width", "liquid_density_g_cm3"):
        del data[key]
    det = Detector.from_dict(data)
    assert det.double_pe_fraction == 0.0 and det.pe_resolution == 0.0 and det.se_width == 0.0
    assert det.liquid_density_g_cm3 == 2.9 and det.s1_units == "phd"
    assert det.s1_coincidence == 1 and det.quanta_model == "nest"
    assert det.s1_map is None and det.s2_map is None and det.description == ""


# ---- validation errors -------------------------------------------------------------------------
BAD = [
    # (dotted field, bad value, text the message must contain)
    ("g1", 1.7, "g1 = 1.7 is invalid: expected a finite number in (0, 1]"),
    ("g1", 0.0, "g1 = 0.0"),
    ("g1", "abc", "g1 = 'abc'"),
    ("g1", True, "g1 = True"),
    ("g1", float("nan"), "g1 = nan"),
    ("double_pe_fraction", 1.0, "[0, 1)"),
    ("pe_resolution", -0.1, ">= 0"),
    ("s1_units", "kev", "one of 'phd', 'pe'"),
    ("s1_coincidence", 0, "an integer >= 1"),
    ("s1_coincidence", 2.5, "s1_coincidence = 2.5"),
    ("extraction_efficiency", 1.2, "(0, 1]"),
    ("se_gain", 0.0, "> 0"),
    ("se_width", -1.0, ">= 0"),
    ("electron_lifetime_us", -5.0, "electron_lifetime_us = -5.0"),
    ("drift_field_v_cm", "high", "drift_field_v_cm = 'high'"),
    ("drift_velocity_cm_us", float("inf"), "drift_velocity_cm_us = inf"),
    ("liquid_density_g_cm3", 3.5, "(2.5, 3.2)"),
    ("radius_cm", 0.0, "radius_cm = 0.0"),
    ("drift_length_cm", -1.0, "drift_length_cm = -1.0"),
    ("quanta_model", "lindhard", "one of 'nest', 'flamedisx'"),
    ("name", "", "name = ''"),
    ("references", "arXiv:1", "a list of strings"),
    ("fiducial", 5, "fiducial = 5"),
    (
        "fiducial.r_max_cm",
        60.0,
        "fiducial.r_max_cm = 60.0 is invalid: expected a radius <= radius_cm = 50",
    ),
    ("fiducial.z_min_cm", -120.0, "fiducial.z_min_cm = -120.0"),
    ("fiducial.z_max_cm", 5.0, "fiducial.z_max_cm = 5.0"),
    ("fiducial.z_min_cm", -5.0, "fiducial.z_min_cm = -5.0 is invalid: expected a number below"),
    ("roi.s1_min", -1.0, "roi.s1_min = -1.0"),
    ("roi.s1_max", 1.0, "roi.s1_max = 1.0"),
    ("roi.s2_max", 50.0, "roi.s2_max = 50.0"),
    ("roi.s2_min", "x", "roi.s2_min = 'x'"),
    ("foo", 1, "unknown field foo = 1"),
    ("fiducial.q", 1, "unknown field fiducial.q = 1"),
    ("s2_map", {"r_cm": [0.0, 2.0, 1.0], "values": [1, 1, 1]}, "s2_map.r_cm[2] = 1.0"),
    ("s2_map", {"r_cm": [0.0, 2.0], "values": [1.0]}, "s2_map.values"),
    ("s2_map", {"r_cm": [-1.0, 2.0], "values": [1.0, 1.0]}, "s2_map.r_cm[0] = -1.0"),
    ("s2_map", {"r_cm": [0.0, 2.0], "values": [1.0, -0.5]}, "s2_map.values[1] = -0.5"),
    ("s2_map", {"r_cm": [0.0], "values": [1.0]}, "at least 2 grid points"),
    (
        "s1_map",
        {"r_cm": [0.0, 1.0], "z_cm": [-2.0, -1.0], "values": [[1.0, 1.0], [1.0]]},
        "s1_map.values[1]",
    ),
    (
        "s1_map",
        {"r_cm": [0.0, 1.0], "z_cm": [-1.0, -2.0], "values": [[1.0, 1.0], [1.0, 1.0]]},
        "s1_map.z_cm[1] = -2.0",
    ),
    (
        "s1_map",
        {"r_cm": [0.0, 1.0], "z_cm": [-2.0, -1.0], "values": [[1.0, 1.0], [1.0, "a"]]},
        "s1_map.values[1][1] = 'a'",
    ),
    (
        "s1_map",
        {"r_cm": [0.0, 1.0], "z_cm": [-2.0, -1.0], "values": [[1.0, 1.0], [1.0, 20.0]]},
        "factors <= 1/g1 = 10",
    ),
    ("s1_map", {"r_cm": [0.0, 1.0], "z_cm": [-2.0, -1.0]}, "s1_map.values is missing"),
]


@pytest.mark.parametrize(("field", "value", "text"), BAD, ids=[f"{b[0]}={b[1]!r}" for b in BAD])
def test_bad_input_gives_one_line_error_naming_field_and_value(field, value, text):
    with pytest.raises(DarkfitInputError) as info:
        Detector.from_dict(_with(field, value))
    msg = str(info.value)
    assert "\n" not in msg
    assert text in msg
    assert "expected" in msg


@pytest.mark.parametrize("field", ["g1", "fiducial.z_max_cm", "roi"])
def test_missing_field_is_named(field):
    with pytest.raises(DarkfitInputError, match=rf"^{re.escape(field)} is missing: expected"):
        Detector.from_dict(_with(field, _DELETE))


def test_several_problems_reported_in_one_line():
    data = _with("g1", 2.0)
    data["se_gain"] = -1.0
    with pytest.raises(DarkfitInputError, match=r"g1 = 2\.0 .* \(and 1 more problem"):
        Detector.from_dict(data)


def test_constructor_and_from_dict_reject_non_mapping():
    with pytest.raises(DarkfitInputError, match=r"^detector = \[1, 2\] is invalid"):
        Detector.from_dict([1, 2])
    with pytest.raises(DarkfitInputError, match=r"g1 = 1\.7"):
        Detector(**_with("g1", 1.7))


def test_valid_maps_are_accepted():
    data = _base()
    data["s1_map"] = {
        "r_cm": [0, 20, 50],
        "z_cm": [-100, 0],
        "values": [[1, 1.1], [0.9, 1], [1, 1]],
    }
    data["s2_map"] = {"r_cm": [0.0, 50.0], "values": [1.0, 0.8]}
    det = Detector.from_dict(data)
    assert det.s1_map.values[0][1] == 1.1 and det.s2_map.values == [1.0, 0.8]
    assert Detector.from_dict(det.to_dict()) == det


# ---- load_detector ------------------------------------------------------------------------------
def test_unknown_preset_lists_available():
    with pytest.raises(DarkfitInputError) as info:
        load_detector("nosuch")
    msg = str(info.value)
    assert "'nosuch'" in msg and "\n" not in msg
    for name in PRESETS:
        assert name in msg


@pytest.mark.parametrize("bad", [3, None, ["lz"]])
def test_load_detector_rejects_non_path(bad):
    with pytest.raises(DarkfitInputError, match="detector = "):
        load_detector(bad)


def test_load_from_yaml_path(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(_base()))
    det = load_detector(path)
    assert det == Detector.from_dict(_base())
    assert load_detector(str(path)) == det


def test_yaml_errors_are_one_line(tmp_path):
    syntax = tmp_path / "syntax.yaml"
    syntax.write_text("name: x\ng1: [0.1\n")
    with pytest.raises(DarkfitInputError, match="not valid YAML at line"):
        load_detector(syntax)
    top_list = tmp_path / "list.yaml"
    top_list.write_text("- 1\n- 2\n")
    with pytest.raises(DarkfitInputError, match="detector = "):
        load_detector(top_list)
    bad_value = tmp_path / "bad.yaml"
    bad_value.write_text(yaml.safe_dump(_with("extraction_efficiency", 1.5)))
    with pytest.raises(DarkfitInputError, match=r"extraction_efficiency = 1\.5"):
        load_detector(bad_value)
    with pytest.raises(DarkfitInputError, match=r"missing\.yaml"):
        load_detector(tmp_path / "missing.yaml")


# ---- round trips and updates ---------------------------------------------------------------------
@pytest.mark.parametrize("name", PRESETS)
def test_yaml_round_trip(name, tmp_path):
    det = load_detector(name)
    path = tmp_path / f"{name}.yaml"
    text = det.to_yaml(path)
    assert Path(path).read_text() == text
    assert Detector.from_yaml(path) == det
    assert Detector.from_dict(yaml.safe_load(text)) == det
    assert Detector.from_dict(det.to_dict()) == det


def test_with_updates_returns_validated_copy():
    det = load_detector("lz")
    new = det.with_updates(g1=0.1, electron_lifetime_us=600.0)
    assert new.g1 == 0.1 and new.electron_lifetime_us == 600.0
    assert det.g1 == 0.119  # original untouched
    assert new.g2 == det.g2
    nested = det.with_updates(fiducial={"r_max_cm": 50.0})
    assert nested.fiducial.r_max_cm == 50.0 and nested.fiducial.z_min_cm == det.fiducial.z_min_cm
    dotted = det.with_updates(**{"roi.s1_max": 50.0})
    assert dotted.roi.s1_max == 50.0 and dotted.roi.s2_min == det.roi.s2_min
    assert det.with_updates(g1="0.1").g1 == 0.1  # numeric strings (CLI overrides) parse


@pytest.mark.parametrize(
    ("changes", "text"),
    [
        ({"g1": 1.5}, "g1 = 1.5"),
        ({"fiducial": {"r_max_cm": 100.0}}, "fiducial.r_max_cm = 100.0"),
        ({"roi.s1_min": 100.0}, "roi.s1_max = 80.0"),
        ({"nosuch": 1}, "unknown field nosuch"),
        ({"g1.x": 1}, "g1 = 0.119 is invalid: expected a nested group"),
    ],
)
def test_with_updates_validates(changes, text):
    with pytest.raises(DarkfitInputError) as info:
        load_detector("lz").with_updates(**changes)
    assert text in str(info.value) and "\n" not in str(info.value)


def test_detector_is_frozen():
    det = load_detector("lz")
    with pytest.raises(ValidationError):
        det.g1 = 0.5
    with pytest.raises(ValidationError):
        det.fiducial.r_max_cm = 1.0
