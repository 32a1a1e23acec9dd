"""hinr: hyper-network implicit neural representations (HyperINR), PyTorch only.

The science layer of hinr-sweeps: config, data, models, losses, classifiers, image operations
and ``TrainingRun`` and ``evaluate.finish``, what sweeps wrap.  It imports neither Ray nor
pyarrow; of the project it imports only the results contract (``contract``: the metric
registry, the atomic write).  ``hinr.config`` imports no torch, so validating a sweep file is
instant; the torch-backed names below load on first use.
"""

from importlib import import_module

from .config import ConfigError, TrainingConfig, preset

_LAZY = {"DatasetNotFound": ".data", "ImageData": ".data", "Diverged": ".training",
         "TrainingRun": ".training"}

__all__ = ["ConfigError", "DatasetNotFound", "Diverged", "TrainingConfig", "ImageData",
           "TrainingRun", "preset"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'hinr' has no attribute {name!r}")
