"""Machine learning for LXe-TPC analyses: waveform simulation, classifiers, compression.

* :mod:`~darkfit.ml.waveforms`, :mod:`~darkfit.ml.hit_pattern`, :mod:`~darkfit.ml.features`,
  :mod:`~darkfit.ml.datasets`: summed S1/S2 waveforms, S2 hit-pattern images and engineered
  features of simulated events (numbers cited in :mod:`~darkfit.ml.pulse_config`);
* :mod:`~darkfit.ml.classifiers`, :mod:`~darkfit.ml.networks`, :mod:`~darkfit.ml.metrics`:
  the NR-band cut, a BDT, an equinox network, and their ROC / acceptance metrics;
* :mod:`~darkfit.ml.electrode`: gate/cathode tagging of S2-only events;
* :mod:`~darkfit.ml.compression`, :mod:`~darkfit.ml.mutual_info`: NN likelihood compression
  with a k-NN mutual-information stopping rule and binned score templates;
* :mod:`~darkfit.ml.limits`: NN-1D versus explicit-likelihood limits on the same toys;
* :mod:`~darkfit.ml.persistence`: save / load with a JSON sidecar;
* :mod:`~darkfit.ml.pipeline`, :mod:`~darkfit.ml.cli`: end-to-end runs and the ``darkfit ml``
  commands. User guide: ``docs/ml.md``.
"""

from darkfit.ml.classifiers import BDTClassifier as BDTClassifier
from darkfit.ml.classifiers import NRBandCut as NRBandCut
from darkfit.ml.compression import CompressionModel as CompressionModel
from darkfit.ml.compression import score_templates as score_templates
from darkfit.ml.datasets import EventDataset as EventDataset
from darkfit.ml.datasets import render_events as render_events
from darkfit.ml.datasets import simulate_dataset as simulate_dataset
from darkfit.ml.limits import NN1DConfig as NN1DConfig
from darkfit.ml.limits import compare_limits as compare_limits
from darkfit.ml.networks import NetworkClassifier as NetworkClassifier
from darkfit.ml.persistence import load_model as load_model
from darkfit.ml.persistence import save_model as save_model

__all__ = [
    "BDTClassifier",
    "CompressionModel",
    "EventDataset",
    "NN1DConfig",
    "NRBandCut",
    "NetworkClassifier",
    "compare_limits",
    "load_model",
    "render_events",
    "save_model",
    "score_templates",
    "simulate_dataset",
]
