"""Detector presets (YAML files shipped with the package) and :func:`load_detector`.

Each preset YAML cites the source of every number in a comment next to it; numbers that are
not published are marked ``assumed:`` with the reason. See ``docs/detector.md`` for a table.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from darkfit._errors import bad_value
from darkfit.detector.config import Detector, _parse_yaml

__all__ = ["PRESETS", "load_detector", "preset_text"]

#: Names of the shipped presets (files ``presets/<name>.yaml``).
PRESETS: tuple[str, ...] = ("darwin", "flamedisx", "lz", "xenon1t", "xenonnt")


def preset_text(name: str) -> str:
    """The YAML text (with its citation comments) of a shipped preset."""
    if name not in PRESETS:
        raise bad_value("detector", name, _expected())
    ref = resources.files("darkfit.detector").joinpath("presets", f"{name}.yaml")
    return ref.read_text(encoding="utf-8")


@functools.cache
def _load_preset(name: str) -> Detector:
    # Detectors are immutable, so one validated instance per preset can be shared.
    return Detector.from_dict(_parse_yaml(preset_text(name), f"preset {name}"))


def _expected() -> str:
    return f"a preset name ({', '.join(PRESETS)}) or the path of a detector YAML file"


def load_detector(name_or_path: str | Path) -> Detector:
    """Load a detector from a preset name (see :data:`PRESETS`) or a YAML file path.

    A string that names a preset wins over a file of the same name in the working
    directory; pass a :class:`~pathlib.Path` (or a path with a suffix) to force a file.

    >>> load_detector("lz").drift_field_v_cm
    310.0
    """
    if isinstance(name_or_path, str) and name_or_path in PRESETS:
        return _load_preset(name_or_path)
    if not isinstance(name_or_path, str | Path):
        raise bad_value("detector", name_or_path, _expected())
    path = Path(name_or_path)
    if not path.is_file():
        raise bad_value("detector", str(name_or_path), _expected())
    return Detector.from_yaml(path)
