"""The search types a sweep file may name (``search:``), one object each, with everything that
is particular to it.

A search type is one ``SearchType`` in ``TYPES``:

1. its rules on the sweep file: the sections it needs and every other type refuses
   (``sections_problem``: ``design:``), the axes it takes (``axes_problem``) and how many
   metrics (``objectives_problem``), checked by ``sweeps.spec`` while it validates and
   reported as one ``error:`` line;
2. how many trials it runs (``num_trials``), and whether its points are known before the run
   (``enumerates``: a grid or a design; then ``points`` lists them, which ``--dry-run``,
   adaptive seeds and ``launch.py extend`` read);
3. the hook the Tune adapter builds from (``sweeps.tune.search``): ``tune_space``, how Tune gets
   the points, and ``sampler``, the Optuna sampler that draws them for a searched type.

Nothing else in the project branches on the search type: it asks this object
(``SweepSpec.search_type``), so adding a type is one class here (and, for a new kind of Tune
space or sampler, its builder in ``sweeps.tune.search``).

Importing this module imports no Ray, numpy or Optuna.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from .design import build
from .specerror import show

# Sections of a sweep file that belong to one search type: only a type that lists it in
# ``needs`` takes it.
SECTIONS = ("design",)


class SearchType:
    """A search type's rules, trial count and Tune hook (module docstring).  The defaults are a
    searched type's: a searcher draws ``num_samples`` points, each run once per seed."""

    name = ""
    #: the points are known before the sweep starts: Tune expands them as a grid (seeds one
    #: more grid axis) and ``num_samples`` repeats the whole grid
    enumerates = False
    #: takes several metrics (a Pareto front); the others optimise one
    multi_objective = False
    #: the sections of ``SECTIONS`` it needs (``design:``)
    needs: tuple[str, ...] = ()
    #: a grid axis may gain levels after the run (``launch.py extend --set axes.X=[...]``)
    takes_new_levels = False
    #: how the Tune adapter (``sweeps.tune.search``) gives Tune the points: "axes" (each list
    #: axis a grid axis), "points" (a grid over the index of ``points``, each axis read from
    #: its point) or "domains" (each axis a Tune domain, drawn by ``sampler``)
    tune_space = "domains"

    def __repr__(self) -> str:
        return f"<search type {self.name}>"

    # ---------------------------------------------------------------- rules
    def sections_problem(self, doc: dict[str, Any]) -> str | None:
        """What is wrong with the type-particular sections of ``doc`` (``field: message``)."""
        for section in SECTIONS:
            if section in self.needs and doc.get(section) is None:
                return self._missing(section)
            if section not in self.needs and doc.get(section) is not None:
                owner = next(t.name for t in TYPES.values() if section in t.needs)
                return (f"{section}: a {section} needs search: {owner} "
                        f"(got search: {show(self.name)})")
        return None

    def _missing(self, section: str) -> str:
        return f"{section}: search: {self.name} needs a {section} section"

    def objectives_problem(self, metrics: list[str]) -> str | None:
        """What is wrong with optimising ``metrics`` by this search, or None."""
        if len(metrics) > 1 and not self.multi_objective:
            owners = " or ".join(t.name for t in TYPES.values() if t.multi_objective)
            return f"metric: several metrics need search: {owners} (multi-objective)"
        return None

    def axes_problem(self, axes: dict[str, Any]) -> str | None:
        """What is wrong with searching ``axes`` (validated, ``sweeps.spec``), or None."""
        return None

    # ---------------------------------------------------------------- trials and points
    def num_trials(self, axes: dict[str, Any], seeds: int, num_samples: int,
                   design: dict | None = None) -> int:
        """Trials a sweep runs: every point per seed per sample (counted, not expanded: a grid
        may be refused for its size), or each drawn point per seed."""
        if self.enumerates:
            return self.num_points(axes, design) * seeds * num_samples
        return num_samples * seeds

    def num_points(self, axes: dict[str, Any], design: dict | None = None) -> int:
        return math.prod(len(v) for v in axes.values() if isinstance(v, list))

    def points(self, axes: dict[str, Any], design: dict | None = None) -> list[dict[str, Any]]:
        """The points, one dict of axis values each: every one (a type that ``enumerates``), or
        the list axes of one draw (distributions left out)."""
        grid = {k: v for k, v in axes.items() if isinstance(v, list)}
        keys = list(grid)
        return [dict(zip(keys, combo)) for combo in itertools.product(*grid.values())] or [{}]

    # ---------------------------------------------------------------- the Tune hook
    def sampler(self, metrics: list[str]) -> str | None:
        """The Optuna sampler that draws the points (``sweeps.tune.search.SAMPLERS``), or None
        where Tune expands them itself."""
        return None


class Grid(SearchType):
    """Every combination of the list axes."""

    name = "grid"
    enumerates = True
    takes_new_levels = True
    tune_space = "axes"

    def axes_problem(self, axes: dict[str, Any]) -> str | None:
        dists = [k for k, v in axes.items() if not isinstance(v, list)]
        if dists:
            searched = " or ".join(t.name for t in TYPES.values() if t.tune_space == "domains")
            return (f"axes.{dists[0]}: a distribution needs search: {searched}; grid "
                    "search takes lists")
        return None


class Design(SearchType):
    """A designed experiment: the points of ``design:`` (``sweeps.design``, which checks its
    own axes: a Latin hypercube takes ranges)."""

    name = "design"
    enumerates = True
    needs = ("design",)
    tune_space = "points"

    def _missing(self, section: str) -> str:
        return ("design: search: design needs design: full, fractional or lhs "
                "(or {type: fractional, resolution: V})")

    def num_points(self, axes: dict[str, Any], design: dict | None = None) -> int:
        return build(design, axes).num_points

    def points(self, axes: dict[str, Any], design: dict | None = None) -> list[dict[str, Any]]:
        return build(design, axes).crossed_points()


class Random(SearchType):
    """Points drawn at random from every axis (a list axis: a uniform choice)."""

    name = "random"

    def sampler(self, metrics: list[str]) -> str | None:
        return "random"


class Optuna(SearchType):
    """Points chosen by Optuna from the results so far: TPE for one metric, NSGA-II (a Pareto
    front) for several."""

    name = "optuna"
    multi_objective = True

    def axes_problem(self, axes: dict[str, Any]) -> str | None:
        if not axes:  # a study of nothing: TPE has no parameter to model
            return "axes: optuna needs at least one axis to search over"
        return None

    def sampler(self, metrics: list[str]) -> str | None:
        return "tpe" if len(metrics) == 1 else "nsga2"


TYPES: dict[str, SearchType] = {t.name: t for t in (Grid(), Random(), Optuna(), Design())}
SEARCHES = tuple(TYPES)  # the names a sweep file may give, in the order error messages list them


def get(name: str) -> SearchType:
    """The search type called ``name`` (validated by ``sweeps.spec``: one of ``SEARCHES``)."""
    return TYPES[name]
