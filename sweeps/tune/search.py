"""The search as Ray Tune runs it: each axis as a Tune domain, the searcher that draws the
points, and every point once per seed.

What is particular to a search type is asked of its object (``sweeps.searchtypes``): whether
it ``enumerates`` its points (then Tune expands them as a grid and ``num_samples`` repeats the
whole grid), how Tune gets them (``tune_space``: one builder each in ``SPACES``) and which
Optuna sampler draws them (``sampler``: one each in ``SAMPLERS``).  Nothing here branches on
the search type's name.

Seeds: one path for every search type.  A trial's config carries its replicate's ``seed`` as
a plain ``TrainingConfig`` field, and the trainable, the Parquet writer and the console
read it like any other field.  Who writes it there depends only on how points are made:

* enumerated (``grid``, ``design``): ``seed`` is one more grid axis of ``param_space``, so
  Tune's grid expansion makes every point once per seed;
* searched (``random``, ``optuna``): ``SeedRepeater`` asks the searcher for one point and
  hands it out once per seed, ``seed = seeds[k]`` for replicate k; the searcher is told the
  replicates' mean once all of them are done, so it never mistakes seed noise for signal.

Why two writers for one path: Tune expands grids in its own variant generator, which takes no
searcher, and a searcher (Optuna) cannot take a grid axis; replicating grid points in a
searcher too would change the order in which Tune creates trials, and with it the trial ids
that results are keyed by.  The trial configs are the same as before the seed path was one
(config.seed, the set of trials), so results are bit-identical.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np
from ray import tune
from ray.tune.search import Searcher

from ..samplers import PicklableNSGAIISampler
from ..spec import SweepSpec

# A design's point index in a trial's config (one of contract.schema.NOT_FIELDS: not a field).
DESIGN_POINT = "design_point"


# ------------------------------------------------------------------------------ the space
def tune_num_samples(spec: SweepSpec) -> int:
    """``TuneConfig.num_samples``: for enumerated points, how often Tune repeats the whole grid
    (seeds are in it); for a searcher, every trial it hands out, replicates included."""
    return spec.num_samples if spec.search_type.enumerates else spec.num_trials()


def domain(value: Any, grid: bool):
    """One axis of the sweep file as a Tune domain: a list is a grid axis where Tune expands
    the grid (``grid``) and a uniform choice for the searchers (which cannot take grid axes)."""
    if isinstance(value, list):
        return tune.grid_search(value) if grid else tune.choice(value)
    (kind, args), = value.items()
    return {"choice": lambda: tune.choice(args), "uniform": lambda: tune.uniform(*args),
            "loguniform": lambda: tune.loguniform(*args),
            "randint": lambda: tune.randint(*args)}[kind]()


def param_space(spec: SweepSpec) -> dict[str, Any]:
    """Tune's param_space: the preset, the base fields, and the points as the search type's
    ``tune_space`` says; an enumerated search's seeds as one more grid axis.  A searcher's
    trials get their seed from ``SeedRepeater`` instead (module docstring)."""
    space: dict[str, Any] = {"preset": spec.preset, **spec.base,
                             **SPACES[spec.search_type.tune_space](spec)}
    if spec.search_type.enumerates:
        space["seed"] = tune.grid_search(spec.seeds)
    return space


def points_space(points: list[dict[str, Any]]) -> dict[str, Any]:
    """Listed points as a Ray Tune space: a grid over the point index, each axis read from its
    point (``sample_from`` resolves after the grid), so a trial's config holds the real values
    and Tune's own grid state is what resume restores.  Tune keeps the functions out of its
    saved state (placeholders), so a resume passes this space again (``space_is_saved``)."""
    space: dict[str, Any] = {DESIGN_POINT: tune.grid_search(list(range(len(points))))}
    for name in points[0]:
        space[name] = tune.sample_from(_Pick(points, name))
    return space


class _Pick:
    """``spec -> points[spec.config.design_point][name]``."""

    def __init__(self, points: list[dict[str, Any]], name: str) -> None:
        self.values = [p[name] for p in points]

    def __call__(self, spec) -> Any:
        return self.values[spec.config[DESIGN_POINT]]


# How Tune gets the points, by ``SearchType.tune_space``: the axes part of param_space.
SPACES: dict[str, Callable[[SweepSpec], dict[str, Any]]] = {
    "axes": lambda spec: {k: domain(v, grid=True) for k, v in spec.axes.items()},
    "points": lambda spec: points_space(spec.points()),
    "domains": lambda spec: {k: domain(v, grid=False) for k, v in spec.axes.items()},
}


def space_is_saved(spec: SweepSpec) -> bool:
    """Whether Tune's saved state holds the sweep's space whole, so that a resume need not
    give it again (``points_space`` holds functions, which Tune saves as placeholders)."""
    return spec.search_type.tune_space != "points"


# ------------------------------------------------------------------------------ the searcher
# The Optuna sampler of each ``SearchType.sampler``, seeded: the same sweep file draws the same
# points (a continuation from the records draws with its stage's seed: the first stage's
# would draw the recorded points again).  Optuna takes a while to import: only when a
# searcher is built.
def _random_sampler(seed: int = 0):
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)


def _tpe_sampler(seed: int = 0):
    import optuna

    return optuna.samplers.TPESampler(seed=seed)


def _nsga2_sampler(seed: int = 0):  # several objectives: TPE models one; NSGA-II a Pareto front

    return PicklableNSGAIISampler(seed=seed)


SAMPLERS: dict[str, Callable[..., Any]] = {"random": _random_sampler, "tpe": _tpe_sampler,
                                            "nsga2": _nsga2_sampler}


def searcher(spec: SweepSpec, history: list[dict[str, Any]] | None = None, seed: int = 0):
    """The Tune searcher that draws the sweep's points, or None for Tune's own grid expansion.
    ``history``: recorded points ({"config", "values"}: the mean of their seeds per objective,
    None where none was finite) that the searcher is told before it draws (Tune's
    ``points_to_evaluate`` with ``evaluated_rewards``)."""
    kind = spec.search_type.sampler(spec.metric)
    if kind is None:
        return None
    # imports Optuna (0.2 s, ray.tune.search.optuna more): only when building a searcher
    from .recorded import RecordedOptunaSearch

    metric = spec.metric if len(spec.metric) > 1 else spec.metric[0]
    mode = spec.mode if len(spec.mode) > 1 else spec.mode[0]
    told = {}
    if history:
        told = {"points_to_evaluate": [dict(h["config"]) for h in history],
                "evaluated_rewards": [h["values"] for h in history]}
    return RecordedOptunaSearch(metric=metric, mode=mode, sampler=SAMPLERS[kind](seed), **told)


def search_alg(spec: SweepSpec, history: list[dict[str, Any]] | None = None,
               pending: list[dict[str, Any]] | None = None, seed: int = 0):
    """``TuneConfig.search_alg``: the searcher with its points replicated over the seeds (a
    continuation's: told the recorded points, and the recorded points' missing seeds first)."""
    inner = searcher(spec, history, seed)
    return None if inner is None else SeedRepeater(inner, spec.seeds, pending)


# ------------------------------------------------------------------------------ replicates
@dataclass
class Point:
    """One point a searcher suggested, and its replicates (one trial per seed)."""

    # the trial id the searcher knows the point by (its first replicate's); None for a
    # recorded point whose missing seeds a continuation runs (the searcher never suggested it)
    primary: str | None
    config: dict[str, Any]
    trials: list[str] = field(default_factory=list)  # replicate k is trials[k], seed seeds[k]
    results: dict[str, dict[str, float]] = field(default_factory=dict)  # trial id -> metrics
    seeds: list[int] | None = None  # a recorded point's missing seeds (None: the sweep's)
    recorded: list[list[float | None]] = field(default_factory=list)  # its recorded seeds' values


class SeedRepeater(Searcher):
    """A searcher's points, each handed out once per seed (``seed = seeds[k]``).

    What Ray's ``Repeater`` does, with the seed written into the config (not an index the
    trainable has to look up) and each of several metrics (Optuna multi-objective) averaged
    over the replicates before the searcher sees them.  Each replicate stays its own trial
    (its own row in trials.parquet): only the searcher's view is averaged.

    Tune checkpoints a wrapping searcher through ``get_state``/``set_state`` (and the
    innermost one, reached through ``.searcher``, with its own files), so ``launch.py
    resume`` continues the same study: replicates of a point in flight still run with that
    point's config, and the searcher is told once per point.
    """

    def __init__(self, searcher, seeds: list[int], pending: list[dict[str, Any]] | None = None):
        # Named `searcher`: Tune walks wrappers through that attribute to checkpoint each.
        self.searcher = searcher
        self.seeds = list(seeds)
        self.points: list[Point] = []
        self.point_of: dict[str, Point] = {}
        # A continuation's recorded points with seeds still to run: handed out first.
        self.queue = [Point(None, dict(p["config"]), seeds=list(p["seeds"]),
                            recorded=list(p["values"])) for p in pending or []]
        super().__init__(metric=searcher.metric, mode=searcher.mode)

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return self.searcher.set_search_properties(metric, mode, config, **spec)

    def _seeds(self, point: Point) -> list[int]:
        return point.seeds if point.seeds is not None else self.seeds

    def suggest(self, trial_id: str) -> dict | None:
        if not self.points or len(self.points[-1].trials) == len(self._seeds(self.points[-1])):
            if getattr(self, "queue", None):  # getattr: a searcher pickled before the queue
                self.points.append(self.queue.pop(0))
            else:
                config = self.searcher.suggest(trial_id)
                if config is None or config == Searcher.FINISHED:
                    return config
                self.points.append(Point(trial_id, copy.deepcopy(config)))
        point = self.points[-1]
        point.trials.append(trial_id)
        self.point_of[trial_id] = point
        return {**point.config, "seed": self._seeds(point)[len(point.trials) - 1]}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, **kwargs):
        point = self.point_of.get(trial_id)
        if point is None:  # not suggested through us (cannot happen after a proper restore)
            return
        metrics = self.searcher.metric
        metrics = metrics if isinstance(metrics, list) else [metrics]
        # A failed replicate reports nothing: NaN, which the mean below leaves out.
        point.results[trial_id] = {m: (result or {}).get(m, np.nan) for m in metrics}
        if len(point.results) < len(self._seeds(point)):
            return
        # Averaged in seed order, whatever order the replicates finished in: float sums
        # depend on order, and the searcher's next draw on the sum.
        done = [point.results[t] for t in point.trials]
        done += [{m: np.nan if v is None else v for m, v in zip(metrics, values)}
                 for values in point.recorded]
        averaged = {m: float(np.nanmean([r[m] for r in done])) for m in metrics}
        if point.primary is None:  # a recorded point: the searcher learns it as evaluated
            values = [averaged[m] for m in metrics]
            finite = all(np.isfinite(values))
            self.searcher.add_evaluated_point(point.config, values if finite else None)
            return
        self.searcher.on_trial_complete(point.primary, result=averaged, **kwargs)

    # Plain data (no Ray or Optuna objects): what Tune pickles into the experiment state.
    def get_state(self) -> dict:
        return {"seeds": self.seeds, "points": [asdict(p) for p in self.points],
                "queue": [asdict(p) for p in getattr(self, "queue", [])]}

    def set_state(self, state: dict) -> None:
        self.seeds = state["seeds"]
        self.points = [Point(**p) for p in state["points"]]
        self.queue = [Point(**p) for p in state.get("queue", [])]
        self.point_of = {t: p for p in self.points for t in p.trials}

    def save(self, checkpoint_path: str):
        self.searcher.save(checkpoint_path)

    def restore(self, checkpoint_path: str):
        self.searcher.restore(checkpoint_path)
