"""The detector description: a frozen, validated pydantic model.

A :class:`Detector` holds every number the simulator and the likelihood need to describe a
liquid-xenon TPC: light and charge response, drift, geometry, fiducial volume, region of
interest and optional position maps. It is built from a preset (``darkfit.detector.presets``),
a YAML file or a dict; bad input fails with a one-line
:class:`~darkfit._errors.DarkfitInputError` naming the field, the bad value and the allowed
range.

Conventions
-----------
* ``z = 0`` at the gate, negative downwards; ``drift_time = -z / drift_velocity``.
* ``g1`` is the probability that a scintillation photon gives one detected photon (phd per
  photon). A detected photon gives a second photoelectron with probability
  ``double_pe_fraction`` (Faham et al., arXiv:1506.08748: 17-25% for R11410 PMTs). With
  ``s1_units == "phd"`` the S1 area is reported in phd (PE / (1 + dpe)), as LZ does; with
  ``"pe"`` in raw PE, as XENON does, so a published "g1 in PE/photon" equals
  ``g1 * (1 + double_pe_fraction)`` here (:attr:`Detector.g1_pe`).
* S2 areas (``se_gain``, ``se_width``, ``roi.s2_*``) use the same unit as S1 (phd or PE).
* ``g2 = extraction_efficiency * se_gain``: mean S2 area per electron arriving at the liquid
  surface (e.g. arXiv:1802.06039, Sec. III; arXiv:1902.11297, Sec. II).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import annotated_types
import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from darkfit._errors import DarkfitInputError, bad_value

__all__ = ["ROI", "Detector", "FiducialVolume", "S1Map", "S2Map"]


def _reject_bool(value: Any) -> Any:
    """Pydantic's lax mode turns True into 1.0; a boolean is never a valid detector number."""
    if isinstance(value, bool):
        raise PydanticCustomError("bool_not_number", "a boolean is not a number")
    return value


Num = Annotated[float, BeforeValidator(_reject_bool)]
Int = Annotated[int, BeforeValidator(_reject_bool)]


class _Frozen(BaseModel):
    """Base: immutable, unknown fields forbidden, NaN/inf rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class FiducialVolume(_Frozen):
    """Cylindrical fiducial volume [cm]; z = 0 at the gate, negative downwards."""

    r_max_cm: Annotated[Num, Field(gt=0, description="fiducial radius [cm]")]
    z_min_cm: Annotated[Num, Field(le=0, description="bottom of the fiducial volume [cm]")]
    z_max_cm: Annotated[Num, Field(le=0, description="top of the fiducial volume [cm]")]

    def model_post_init(self, __context: Any) -> None:
        if not self.z_min_cm < self.z_max_cm:
            raise bad_value(
                "fiducial.z_min_cm", self.z_min_cm, f"a number below z_max_cm = {self.z_max_cm}"
            )


class ROI(_Frozen):
    """Region of interest in the observables, in phd (PE when ``s1_units == "pe"``)."""

    s1_min: Annotated[Num, Field(ge=0, description="lower S1 edge [phd or PE]")]
    s1_max: Annotated[Num, Field(gt=0, description="upper S1 edge [phd or PE]")]
    s2_min: Annotated[Num, Field(ge=0, description="lower S2 edge [phd or PE]")]
    s2_max: Annotated[Num, Field(gt=0, description="upper S2 edge [phd or PE]")]

    def model_post_init(self, __context: Any) -> None:
        if not self.s1_min < self.s1_max:
            raise bad_value("roi.s1_max", self.s1_max, f"a number above s1_min = {self.s1_min}")
        if not self.s2_min < self.s2_max:
            raise bad_value("roi.s2_max", self.s2_max, f"a number above s2_min = {self.s2_min}")


def _check_axis(field: str, axis: list[float]) -> None:
    if len(axis) < 2:
        raise bad_value(field, axis, "at least 2 grid points")
    for i in range(len(axis) - 1):
        if not axis[i] < axis[i + 1]:
            raise bad_value(f"{field}[{i + 1}]", axis[i + 1], f"strictly above {axis[i]}")


def _check_factors(field: str, values: list[float]) -> None:
    for i, v in enumerate(values):
        if not v > 0:
            raise bad_value(f"{field}[{i}]", v, "a relative factor > 0")


class S1Map(_Frozen):
    """Relative S1 light-collection map over (r, z): multiplies ``g1``.

    ``values[i][j]`` is the factor at ``r_cm[i]``, ``z_cm[j]``; both axes strictly increasing.
    """

    r_cm: list[Num] = Field(description="radial grid [cm], strictly increasing, >= 0")
    z_cm: list[Num] = Field(description="depth grid [cm], strictly increasing, <= 0")
    values: list[list[Num]] = Field(description="factor per (r, z) node, > 0")

    def model_post_init(self, __context: Any) -> None:
        _check_axis("s1_map.r_cm", self.r_cm)
        _check_axis("s1_map.z_cm", self.z_cm)
        if self.r_cm[0] < 0:
            raise bad_value("s1_map.r_cm[0]", self.r_cm[0], "a radius >= 0")
        if self.z_cm[-1] > 0:
            raise bad_value(f"s1_map.z_cm[{len(self.z_cm) - 1}]", self.z_cm[-1], "a depth <= 0")
        if len(self.values) != len(self.r_cm):
            raise bad_value(
                "s1_map.values", f"{len(self.values)} rows", f"{len(self.r_cm)} rows (one per r)"
            )
        for i, row in enumerate(self.values):
            if len(row) != len(self.z_cm):
                raise bad_value(
                    f"s1_map.values[{i}]", f"{len(row)} entries", f"{len(self.z_cm)} (one per z)"
                )
            _check_factors(f"s1_map.values[{i}]", row)


class S2Map(_Frozen):
    """Relative S2 gain map versus radius: multiplies ``se_gain``."""

    r_cm: list[Num] = Field(description="radial grid [cm], strictly increasing, >= 0")
    values: list[Num] = Field(description="factor per radius node, > 0")

    def model_post_init(self, __context: Any) -> None:
        _check_axis("s2_map.r_cm", self.r_cm)
        if self.r_cm[0] < 0:
            raise bad_value("s2_map.r_cm[0]", self.r_cm[0], "a radius >= 0")
        if len(self.values) != len(self.r_cm):
            raise bad_value(
                "s2_map.values", f"{len(self.values)} entries", f"{len(self.r_cm)} (one per r)"
            )
        _check_factors("s2_map.values", self.values)


class Detector(_Frozen):
    """A liquid-xenon TPC: response, drift, geometry, fiducial volume and ROI.

    Build with :meth:`from_dict`, :meth:`from_yaml` or
    :func:`darkfit.detector.load_detector`; change with :meth:`with_updates`. All three (and
    the constructor) raise a one-line :class:`~darkfit._errors.DarkfitInputError` on bad input.

    >>> from darkfit.detector import load_detector
    >>> det = load_detector("flamedisx")
    >>> round(det.g2, 6)  # extraction_efficiency * se_gain = 0.96 * 20
    19.2
    """

    name: str = Field(min_length=1, description="short identifier")
    description: str = Field("", description="free text")
    references: list[str] = Field(default_factory=list, description="sources of the numbers")
    # light
    g1: Annotated[Num, Field(gt=0, le=1, description="phd per scintillation photon")]
    double_pe_fraction: Annotated[Num, Field(0.0, ge=0, lt=1, description="P(2 PE | photon)")]
    pe_resolution: Annotated[Num, Field(0.0, ge=0, description="single-PE area sigma [PE]")]
    s1_units: Literal["phd", "pe"] = Field("phd", description="unit of S1 (and S2) areas")
    s1_coincidence: Annotated[Int, Field(1, ge=1, description="min. detected photons")]
    # charge
    extraction_efficiency: Annotated[Num, Field(gt=0, le=1, description="P(e- extracted)")]
    se_gain: Annotated[Num, Field(gt=0, description="mean S2 area per extracted electron")]
    se_width: Annotated[Num, Field(0.0, ge=0, description="sigma of single-electron S2 area")]
    electron_lifetime_us: Annotated[Num, Field(gt=0, description="electron lifetime [us]")]
    drift_field_v_cm: Annotated[Num, Field(gt=0, description="drift field [V/cm]")]
    drift_velocity_cm_us: Annotated[Num, Field(gt=0, description="drift velocity [cm/us]")]
    liquid_density_g_cm3: Annotated[
        Num, Field(2.9, gt=2.5, lt=3.2, description="LXe density [g/cm^3]")
    ]
    # geometry
    radius_cm: Annotated[Num, Field(gt=0, description="active TPC radius [cm]")]
    drift_length_cm: Annotated[Num, Field(gt=0, description="gate-to-cathode distance [cm]")]
    fiducial: FiducialVolume
    roi: ROI
    s1_map: S1Map | None = None
    s2_map: S2Map | None = None
    quanta_model: Literal["nest", "flamedisx"] = "nest"

    def __init__(self, **data: Any) -> None:
        # Only the top-level model converts errors: nested models are validated inside this
        # call, so pydantic's error locations keep the full path (e.g. fiducial.r_max_cm).
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _to_input_error(exc, type(self)) from None

    def model_post_init(self, __context: Any) -> None:
        fv = self.fiducial
        if fv.r_max_cm > self.radius_cm:
            raise bad_value(
                "fiducial.r_max_cm", fv.r_max_cm, f"a radius <= radius_cm = {self.radius_cm}"
            )
        if fv.z_min_cm < -self.drift_length_cm:
            raise bad_value(
                "fiducial.z_min_cm",
                fv.z_min_cm,
                f"a depth >= -drift_length_cm = {-self.drift_length_cm}",
            )
        if self.s1_map is not None:
            top = max(max(row) for row in self.s1_map.values)
            if self.g1 * top > 1:
                raise bad_value(
                    "s1_map.values", f"max {top}", f"factors <= 1/g1 = {1 / self.g1:.6g}"
                )

    # ---- derived quantities -------------------------------------------------------------
    @property
    def g2(self) -> float:
        """Mean S2 area per electron reaching the liquid surface [phd/e-, or PE/e-]."""
        return self.extraction_efficiency * self.se_gain

    @property
    def photon_efficiency(self) -> float:
        """Probability that a scintillation photon becomes one detected photon (= ``g1``).

        This is the binomial probability of the photon-detection step; the mean S1 area per
        photon in PE is :attr:`g1_pe`.
        """
        return self.g1

    @property
    def g1_pe(self) -> float:
        """Mean number of photoelectrons per scintillation photon, ``g1 * (1 + dpe)``."""
        return self.g1 * (1.0 + self.double_pe_fraction)

    @property
    def max_drift_time_us(self) -> float:
        """Drift time from the cathode to the gate [us]."""
        return self.drift_length_cm / self.drift_velocity_cm_us

    @property
    def fiducial_mass_tonne(self) -> float:
        """Fiducial cylinder volume times liquid density [tonne]."""
        fv = self.fiducial
        volume = math.pi * fv.r_max_cm**2 * (fv.z_max_cm - fv.z_min_cm)
        return volume * self.liquid_density_g_cm3 * 1e-6

    @property
    def active_mass_tonne(self) -> float:
        """Active (gate-to-cathode) cylinder volume times liquid density [tonne]."""
        volume = math.pi * self.radius_cm**2 * self.drift_length_cm
        return volume * self.liquid_density_g_cm3 * 1e-6

    # ---- construction / serialisation ----------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Detector:
        """Validate a mapping of field names to values into a :class:`Detector`."""
        if not isinstance(data, Mapping):
            raise bad_value("detector", data, "a mapping of field names to values")
        return cls(**dict(data))

    @classmethod
    def from_yaml(cls, path: str | Path) -> Detector:
        """Read and validate a detector YAML file."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise bad_value(
                "detector file", str(path), f"a readable file ({exc.strerror})"
            ) from None
        return cls.from_dict(_parse_yaml(text, str(path)))

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dict (lists, floats, strings) that :meth:`from_dict` accepts back."""
        return self.model_dump(mode="python")

    def to_yaml(self, path: str | Path | None = None) -> str:
        """YAML text of :meth:`to_dict`; also written to ``path`` when given."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def with_updates(self, **changes: Any) -> Detector:
        """Validated copy with some fields changed.

        Nested fields are changed with a dict (``fiducial={"r_max_cm": 40.0}``) or a dotted
        key (``**{"fiducial.r_max_cm": 40.0}``); other nested fields keep their values.
        """
        data = self.to_dict()
        for key, value in changes.items():
            parts = key.split(".")
            target = data
            for i, part in enumerate(parts[:-1]):
                sub = target.get(part)
                if not isinstance(sub, dict):
                    raise bad_value(
                        ".".join(parts[: i + 1]), sub, "a nested group (fiducial, roi, s1_map...)"
                    )
                target = sub
            leaf = parts[-1]
            if isinstance(value, Mapping) and isinstance(target.get(leaf), dict):
                target[leaf] = {**target[leaf], **dict(value)}
            else:
                target[leaf] = value
        return type(self).from_dict(data)


# ---- YAML and error conversion -------------------------------------------------------------
def _parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise DarkfitInputError(
            f"detector file {source!r} is not valid YAML{where}: {problem}"
        ) from None


def _loc_text(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "detector"


def _interval(info: FieldInfo) -> str:
    lo = hi = ""
    for m in info.metadata:
        if isinstance(m, annotated_types.Gt):
            lo = f"({m.gt:g}"
        elif isinstance(m, annotated_types.Ge):
            lo = f"[{m.ge:g}"
        elif isinstance(m, annotated_types.Lt):
            hi = f"{m.lt:g})"
        elif isinstance(m, annotated_types.Le):
            hi = f"{m.le:g}]"
    if lo and hi:
        return f" in {lo}, {hi}"
    if lo:
        return f" {'>' if lo[0] == '(' else '>='} {lo[1:]}"
    if hi:
        return f" {'<' if hi[-1] == ')' else '<='} {hi[:-1]}"
    return ""


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for cand in (annotation, *get_args(annotation)):
        if isinstance(cand, type) and issubclass(cand, BaseModel):
            return cand
    return None


def _allowed(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """Describe what the field at ``loc`` accepts, from its type and constraints."""
    info: FieldInfo | None = None
    in_list = False
    for part in loc:
        if isinstance(part, int):
            in_list = True
            continue
        if model is None or part not in model.model_fields:
            return "a valid value"
        info = model.model_fields[part]
        model = _model_of(info.annotation)
    if info is None:
        return "a valid value"
    ann = info.annotation
    if model is not None:
        fields = ", ".join(model.model_fields)
        return f"a mapping with fields {fields}" + (
            " (or null)" if type(None) in get_args(ann) else ""
        )
    if get_origin(ann) is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(ann))
    desc = f" ({info.description})" if info.description else ""
    if ann is str:
        return "a non-empty string" if info.metadata else "a string"
    if get_origin(ann) is list:
        inner = get_args(ann)[0]
        if inner is str:
            return "a list of strings"
        if in_list:
            return "a finite number" + desc
        return "a list of numbers" + desc
    kind = "an integer" if ann is int else "a finite number"
    return kind + _interval(info) + desc


def _to_input_error(exc: ValidationError, model: type[BaseModel]) -> DarkfitInputError:
    """Turn pydantic's multi-line ValidationError into our one-line DarkfitInputError."""
    errors = exc.errors()
    err = errors[0]
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    loc = tuple(err["loc"])
    field = _loc_text(loc)
    ctx = err.get("ctx") or {}
    if err["type"] == "value_error" and isinstance(ctx.get("error"), DarkfitInputError):
        return DarkfitInputError(f"{ctx['error']}{more}")
    if err["type"] == "missing":
        return DarkfitInputError(
            f"{field} is missing: expected {_allowed(model, loc)} (required field){more}"
        )
    if err["type"] == "extra_forbidden":
        parent = _model_of_path(model, loc[:-1])
        known = ", ".join(parent.model_fields) if parent is not None else "?"
        return DarkfitInputError(
            f"unknown field {field} = {err['input']!r} is invalid: expected one of the known "
            f"fields: {known}{more}"
        )
    if err["type"] in ("model_type", "dict_type", "model_attributes_type") and not loc:
        return DarkfitInputError(
            f"detector = {err['input']!r} is invalid: expected a mapping of fields{more}"
        )
    return DarkfitInputError(f"{bad_value(field, err['input'], _allowed(model, loc))}{more}")


def _model_of_path(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int):
            continue
        if current is None or part not in current.model_fields:
            return None
        current = _model_of(current.model_fields[part].annotation)
    return current
