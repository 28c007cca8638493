"""Detector description: a validated, immutable :class:`Detector` and cited YAML presets.

>>> from darkfit.detector import PRESETS, load_detector
>>> "lz" in PRESETS
True
"""

from darkfit.detector.config import ROI as ROI
from darkfit.detector.config import Detector as Detector
from darkfit.detector.config import FiducialVolume as FiducialVolume
from darkfit.detector.config import S1Map as S1Map
from darkfit.detector.config import S2Map as S2Map
from darkfit.detector.presets import PRESETS as PRESETS
from darkfit.detector.presets import load_detector as load_detector
from darkfit.detector.presets import preset_text as preset_text

__all__ = [
    "PRESETS",
    "ROI",
    "Detector",
    "FiducialVolume",
    "S1Map",
    "S2Map",
    "load_detector",
    "preset_text",
]
