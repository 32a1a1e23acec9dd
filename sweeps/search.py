"""The search as Ray Tune runs it: each axis as a Tune domain, the searcher that draws the
points, and every point once per seed.

A search type is a name in ``sweeps.searchtypes.SEARCHES`` plus its rules on the sweep file
and its trial count (there, below ``sweeps.spec``, which validates with them) and, here, the
Tune searcher that draws its points (``searcher``: None for Tune's own grid) and what Tune is
told (``tune_num_samples``).  Nothing else in the project branches on the search type, so
adding one is those two modules.

Seeds: one path for every search type.  A trial's config carries its replicate's ``seed`` as
a plain ``ExperimentConfig`` field, and the trainable, the Parquet writer and the console
read it like any other field.  Who writes it there depends only on how points are made:

* ``grid``: ``seed`` is one more grid axis of ``param_space``, so Tune's grid expansion
  makes every point once per seed;
* searched (``random``, ``optuna``): ``SeedRepeater`` asks the searcher for one point and
  hands it out once per seed, ``seed = seeds[k]`` for replicate k; the searcher is told the
  replicates' mean once all of them are done, so it never mistakes seed noise for signal.

Why two writers for one path: Tune expands grids in its own variant generator, which takes no
searcher, and a searcher (Optuna) cannot take a grid axis; replicating grid points in a
searcher too would change the order in which Tune creates trials, and with it the trial ids
that results are keyed by.  The trial configs are the same as before the seed path was one
(config.seed, the set of trials), so results are bit-identical.

Importing this module imports no Ray; Ray is imported where a Tune object is built.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any

from .design import tune_space
from .searchtypes import GRID_SEARCHES
from .spec import SweepSpec


# ------------------------------------------------------------------------------ Tune objects
def tune_num_samples(spec: SweepSpec) -> int:
    """``TuneConfig.num_samples``: for a grid, how often Tune repeats the whole grid (seeds are
    in it); for a searcher, every trial it hands out, replicates included."""
    return spec.num_samples if spec.search in GRID_SEARCHES else spec.num_trials()


def domain(value: Any, search: str):
    """One axis of the sweep file as a Tune domain: a list is a grid axis for grid search and a
    uniform choice for the searchers (which cannot take grid axes)."""
    from ray import tune

    if isinstance(value, list):
        return tune.grid_search(value) if search in GRID_SEARCHES else tune.choice(value)
    (kind, args), = value.items()
    return {"choice": lambda: tune.choice(args), "uniform": lambda: tune.uniform(*args),
            "loguniform": lambda: tune.loguniform(*args),
            "randint": lambda: tune.randint(*args)}[kind]()


def param_space(spec: SweepSpec) -> dict[str, Any]:
    """Tune's param_space: the preset, the base fields, one domain per axis, and (grid) the seed
    axis.  A searcher's trials get their seed from ``SeedRepeater`` instead (module docstring)."""
    from ray import tune

    space: dict[str, Any] = {"preset": spec.preset, **spec.base}
    if spec.search == "design":  # its points, not the product of its axes (sweeps.design)
        return {**space, **tune_space(spec.design_points()), "seed": tune.grid_search(spec.seeds)}
    for key, value in spec.axes.items():
        space[key] = domain(value, spec.search)
    if spec.search in GRID_SEARCHES:
        space["seed"] = tune.grid_search(spec.seeds)
    return space


def searcher(spec: SweepSpec):
    """The Tune searcher that draws the sweep's points (one branch per searched type), or None
    for Tune's own grid expansion.  Seeded: the same sweep file draws the same points."""
    if spec.search in GRID_SEARCHES:
        return None
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    if spec.search == "random":
        sampler = optuna.samplers.RandomSampler(seed=0)
    elif len(spec.metric) == 1:
        sampler = optuna.samplers.TPESampler(seed=0)
    else:  # several objectives: TPE models one; NSGA-II keeps a Pareto front
        from .samplers import PicklableNSGAIISampler  # imports Optuna: only when building
        sampler = PicklableNSGAIISampler(seed=0)
    metric = spec.metric if len(spec.metric) > 1 else spec.metric[0]
    mode = spec.mode if len(spec.mode) > 1 else spec.mode[0]
    return OptunaSearch(metric=metric, mode=mode, sampler=sampler)


def search_alg(spec: SweepSpec):
    """``TuneConfig.search_alg``: the searcher with its points replicated over the seeds."""
    inner = searcher(spec)
    return None if inner is None else _seed_repeater_class()(inner, spec.seeds)


# ------------------------------------------------------------------------------ replicates
@dataclass
class Point:
    """One point a searcher suggested, and its replicates (one trial per seed)."""

    primary: str  # the trial id the searcher knows the point by (its first replicate's)
    config: dict[str, Any]
    trials: list[str] = field(default_factory=list)  # replicate k is trials[k], seed seeds[k]
    results: dict[str, dict[str, float]] = field(default_factory=dict)  # trial id -> metrics


def _define_seed_repeater():
    from ray.tune.search import Searcher

    class SeedRepeater(Searcher):
        """A searcher's points, each handed out once per seed (``seed = seeds[k]``).

        What Ray's ``Repeater`` does, with the seed written into the config (not an index the
        trainable has to look up) and each of several metrics (Optuna multi-objective)
        averaged over the replicates before the searcher sees them.  Each replicate stays its
        own trial (its own row in trials.parquet): only the searcher's view is averaged.

        Tune checkpoints a wrapping searcher through ``get_state``/``set_state`` (and the
        innermost one, reached through ``.searcher``, with its own files), so ``launch.py
        resume`` continues the same study: replicates of a point in flight still run with
        that point's config, and the searcher is told once per point.
        """

        def __init__(self, searcher, seeds: list[int]):
            # Named `searcher`: Tune walks wrappers through that attribute to checkpoint each.
            self.searcher = searcher
            self.seeds = list(seeds)
            self.points: list[Point] = []
            self.point_of: dict[str, Point] = {}
            super().__init__(metric=searcher.metric, mode=searcher.mode)

        def set_search_properties(self, metric, mode, config, **spec) -> bool:
            return self.searcher.set_search_properties(metric, mode, config, **spec)

        def suggest(self, trial_id: str) -> dict | None:
            if not self.points or len(self.points[-1].trials) == len(self.seeds):
                config = self.searcher.suggest(trial_id)
                if config is None or config == Searcher.FINISHED:
                    return config
                self.points.append(Point(trial_id, copy.deepcopy(config)))
            point = self.points[-1]
            point.trials.append(trial_id)
            self.point_of[trial_id] = point
            return {**point.config, "seed": self.seeds[len(point.trials) - 1]}

        def on_trial_complete(self, trial_id: str, result: dict | None = None, **kwargs):
            import numpy as np

            point = self.point_of.get(trial_id)
            if point is None:  # not suggested through us (cannot happen after a proper restore)
                return
            metrics = self.searcher.metric
            metrics = metrics if isinstance(metrics, list) else [metrics]
            # A failed replicate reports nothing: NaN, which the mean below leaves out.
            point.results[trial_id] = {m: (result or {}).get(m, np.nan) for m in metrics}
            if len(point.results) < len(self.seeds):
                return
            # Averaged in seed order, whatever order the replicates finished in: float sums
            # depend on order, and the searcher's next draw on the sum.
            done = [point.results[t] for t in point.trials]
            averaged = {m: float(np.nanmean([r[m] for r in done])) for m in metrics}
            self.searcher.on_trial_complete(point.primary, result=averaged, **kwargs)

        # Plain data (no Ray or Optuna objects): what Tune pickles into the experiment state.
        def get_state(self) -> dict:
            return {"seeds": self.seeds, "points": [asdict(p) for p in self.points]}

        def set_state(self, state: dict) -> None:
            self.seeds = state["seeds"]
            self.points = [Point(**p) for p in state["points"]]
            self.point_of = {t: p for p in self.points for t in p.trials}

        def save(self, checkpoint_path: str):
            self.searcher.save(checkpoint_path)

        def restore(self, checkpoint_path: str):
            self.searcher.restore(checkpoint_path)

    # Pickles (Tune's tuner.pkl holds the search algorithm) find the class by this name.
    SeedRepeater.__module__, SeedRepeater.__qualname__ = __name__, "SeedRepeater"
    return SeedRepeater


def _seed_repeater_class():
    # ``SeedRepeater`` subclasses Ray's Searcher, and importing Ray Tune takes a second: the
    # class is defined on first use, once, so importing this module imports no Ray (a Tune
    # object is built only when a sweep runs).
    if "SeedRepeater" not in globals():
        globals()["SeedRepeater"] = _define_seed_repeater()
    return globals()["SeedRepeater"]


def __getattr__(name: str):
    # ``sweeps.search.SeedRepeater`` (an unpickled Tune experiment looks it up by that name)
    # works before anything here has built one (PEP 562: called for names not yet defined).
    if name == "SeedRepeater":
        return _seed_repeater_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
