"""hinr: hyper-network implicit neural representations (HyperINR), PyTorch only.

The science layer of hinr-sweeps: config, data, models, losses, classifiers, image operations
and ``Experiment``, the plain training object that sweeps wrap.  It imports neither Ray nor
pyarrow; see DESIGN.md.
"""

from .config import ConfigError, ExperimentConfig, preset
from .data import DatasetNotFound, ImageData
from .experiment import Diverged, Experiment

__all__ = ["ConfigError", "DatasetNotFound", "Diverged", "Experiment", "ExperimentConfig",
           "ImageData", "preset"]
