"""The search types a sweep file may name, and what each asks of the sweep file.

A search type is a name in ``SEARCHES`` plus:

1. its rules on the sweep file, if any (``objectives_problem``, ``axes_problem``: checked by
   ``sweeps.spec`` while it validates, and reported as one ``error:`` line);
2. how many trials it runs (``num_trials``);
3. the Tune searcher that draws its points (``sweeps.search.searcher``: None for Tune's own
   grid), and what Tune is told (``sweeps.search.tune_num_samples``).

Nothing else in the project branches on the search type, so adding one is these places.  The
first two are here, below ``sweeps.spec``, which validates with them; the third is in
``sweeps.search``, above it, which builds Tune objects from a validated ``SweepSpec``.  (They
were one module, which imported spec while spec imported it: issue 27.)

Importing this module imports no Ray, numpy or Optuna.
"""

from __future__ import annotations

import math
from typing import Any

from .design import build

SEARCHES = ("grid", "random", "optuna", "design")  # design: the points come from sweeps/design.py
# Searches whose points are known before the sweep starts, which Tune expands as a grid (seeds
# are one more grid axis), and num_samples repeats the whole grid.  The others draw num_samples points.
GRID_SEARCHES = ("grid", "design")
# Searches that take several metrics (a Pareto front); the others optimise one.
MULTI_OBJECTIVE = ("optuna",)


def objectives_problem(search: str, metrics: list[str]) -> str | None:
    """What is wrong with optimising ``metrics`` by ``search`` (``field: message``), or None."""
    if len(metrics) > 1 and search not in MULTI_OBJECTIVE:
        return "metric: several metrics need search: optuna (multi-objective)"
    return None


def axes_problem(search: str, axes: dict[str, Any]) -> str | None:
    """What is wrong with searching ``axes`` (validated, ``sweeps.spec``) by ``search``, or None."""
    if search == "grid":  # a design checks its own axes (sweeps.design.parse): lhs takes ranges
        dists = [k for k, v in axes.items() if not isinstance(v, list)]
        if dists:
            return (f"axes.{dists[0]}: a distribution needs search: random or optuna; grid "
                    "search takes lists")
    if search == "optuna" and not axes:  # a study of nothing: TPE has no parameter to model
        return "axes: optuna needs at least one axis to search over"
    return None


def num_trials(search: str, axes: dict[str, Any], seeds: int, num_samples: int,
               design: dict | None = None) -> int:
    """Trials a sweep runs: every grid (or design) point per seed per sample (counted, not
    expanded: a grid may be refused for its size), or each drawn point per seed."""
    if search == "design":
        return build(design, axes).num_points * seeds * num_samples
    if search in GRID_SEARCHES:
        points = math.prod(len(v) for v in axes.values() if isinstance(v, list))
        return points * seeds * num_samples
    return num_samples * seeds
