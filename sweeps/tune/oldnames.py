"""The names that Tune state saved before issue 27 pickled this package's classes by.

A sweep started before the Tune adapter moved into ``sweeps.tune`` has a ``tune/tuner.pkl``
(Tune's TuneConfig and RunConfig, pickled when the sweep started) that names its callbacks
``sweeps.results.ParquetResults`` and ``sweeps.progress.SweepProgress`` and a random or
Optuna sweep's searcher ``sweeps.search.SeedRepeater``.  ``Tuner.restore`` unpickles that file,
so ``launch.py resume`` of such a sweep needs those names to find the classes that moved.
The classes' state is what it was (same attributes), so the moved classes read it as is.

``accept()`` makes the old names resolve, once, just before a restore; nothing else uses them.
(``sweeps.storage.AtomicLocalHandler``, in every trial's saved state, and
``sweeps.samplers.PicklableNSGAIISampler``, in an NSGA-II searcher's, did not move.)
"""

from __future__ import annotations

import sys
import types

from .. import results as core_results
from . import progress, results, search

# old module -> {class name: the class now}; sweeps.results is still a module (the Ray-free
# writer), sweeps.progress and sweeps.search are not.
OLD_NAMES = {
    "sweeps.results": {"ParquetResults": results.ParquetResults},
    "sweeps.progress": {"SweepProgress": progress.SweepProgress},
    "sweeps.search": {"SeedRepeater": search.SeedRepeater},
}


def accept() -> None:
    """Make every name of ``OLD_NAMES`` resolve for pickle (idempotent)."""
    existing = {"sweeps.results": core_results}
    for module, names in OLD_NAMES.items():
        target = existing.get(module) or sys.modules.get(module)
        if target is None:
            target = sys.modules[module] = types.ModuleType(
                module, f"pre-issue-27 names for unpickling ({__name__})")
        for name, cls in names.items():
            if not hasattr(target, name):
                setattr(target, name, cls)
