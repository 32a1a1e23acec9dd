"""Which factors matter, for any search type: Optuna's fANOVA and PED-ANOVA importances on the
validation metric, with a 95% interval from resampling the seeds.

Optuna computes importance from one study of (params, value) trials and gives one number per
factor; its issue #1233 notes there is no way to get its uncertainty.  Here the study is built
in memory from trials.parquet (``optuna.trial.create_trial``, one trial per *point*: a setting
of every factor, with the seed mean of the metric as its value), so that:

* the seed noise is what the interval measures: each bootstrap replicate resamples, for every
  point separately, its seed replicates with replacement, takes their mean as the point's
  value, and runs the evaluator on that study (fANOVA's forest seeded by the replicate index);
  the interval is the 2.5-97.5 percentile of the replicates' importances, the mean their mean.
  A point run with one seed contributes the same value to every replicate, so a sweep of one
  seed gets an interval of the evaluator's own randomness only, and the text says so.
* continuous factors stay continuous: a sampled axis keeps its distribution (``loguniform`` on
  a log scale), a listed numeric axis is an ordered numeric range (log scale when its levels
  are all positive and span a factor of 10 or more), only text and booleans are categorical.

Only completed trials with the metric count (errored, diverged and early-stopped trials have no
comparable final value).  Imports optuna, never torch or Ray.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from contract.schema import CONFIG_PREFIX

from .load import Results
from .columns import values
from .selection import selection_metric

EVALUATORS = ("fanova", "ped_anova")
LABELS = {"fanova": "fANOVA", "ped_anova": "PED-ANOVA"}
REPLICATES = 40  # bootstrap replicates: percentiles of 40 draws, seconds for a small sweep
FANOVA_TREES = 16  # Optuna's default is 64; 16 moved the intervals of tests/ fixtures by
# under 0.02 (a2: [0.49, 0.74] vs [0.51, 0.72] with 32) in 60% of the time
#: Optuna's default depth is 64: on noisy points its trees grow deep and the variance walk
#: with them (one fANOVA on 1,000 points: 35 s; 300: 3.5 s).  Depth 6 (at most 64 leaves, many
#: for a handful of factors) took 0.8 s on 1,000 and 0.7 s on 3,000 points and gave the same
#: importances within 0.02 on a synthetic 5-factor sweep.
FANOVA_DEPTH = 6
LOG_SPAN = 10.0  # listed positive levels spanning this factor or more are read on a log scale
PED_MIN_TOP = 5  # PED-ANOVA's note: at least 5 trials in the top quantile to be stable


@dataclass
class Importance:
    """``table``: one row per (evaluator, factor): importance on the seed means (``point``),
    the replicates' ``mean`` and 95% interval (``ci_low``, ``ci_high``), how the factor was
    read (``scale``).  ``metric``/``mode``: what was ranked; ``points``/``seeds``: how many
    points and the most seeds any point has; ``notes``: what a reader must know."""
    table: pd.DataFrame
    metric: str
    mode: str
    points: int
    seeds: int
    replicates: int
    notes: list[str] = field(default_factory=list)


def distributions(results: Results, frame: pd.DataFrame, factors: list[str]) -> dict[str, Any]:
    """One ``optuna.distributions`` object per factor that took more than one value."""
    from optuna.distributions import (CategoricalDistribution, FloatDistribution,
                                      IntDistribution)
    out: dict[str, Any] = {}
    for f in factors:
        col = frame[CONFIG_PREFIX + f].dropna()
        if col.nunique() < 2:
            continue  # one value: nothing to attribute
        axis = results.contract["factors"].get(f, {})
        sampled = axis.get("sampled") if isinstance(axis.get("sampled"), dict) else {}
        kind, args = next(iter(sampled.items()), (None, None))
        numeric = pd.api.types.is_numeric_dtype(col) and col.dtype != bool
        if not numeric or kind == "choice" and not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in args or []):
            out[f] = CategoricalDistribution(sorted(col.unique().tolist(), key=str))
            continue
        low, high = float(col.min()), float(col.max())
        if kind in ("uniform", "loguniform", "randint") and args:
            low, high = min(low, float(args[0])), max(high, float(args[1]))
            if kind == "randint":
                high = max(float(col.max()), float(args[1]) - 1)  # Ray's randint excludes b
        log = kind == "loguniform" or (kind not in ("uniform", "randint") and low > 0
                                      and high / low >= LOG_SPAN)
        if pd.api.types.is_integer_dtype(col) or kind == "randint":
            out[f] = IntDistribution(int(low), int(high), log=log and low >= 1)
        else:
            out[f] = FloatDistribution(low, high, log=log)
    return out


def scale_of(dist: Any) -> str:
    name = type(dist).__name__
    if name == "CategoricalDistribution":
        return f"categorical ({len(dist.choices)} levels)"
    return ("continuous, log scale" if dist.log else "continuous") + (
        ", integer" if name == "IntDistribution" else "")


def _point_table(results: Results, metric: str, factors: list[str]) -> pd.DataFrame:
    """Completed trials with the metric: one row each, the factors, the seed and the value."""
    done = results.completed
    vals = values(done, metric) if len(done) else pd.Series(dtype=float)
    frame = done.assign(_value=vals.to_numpy() if len(done) else [])
    frame = frame[np.isfinite(frame["_value"].astype(float))]
    keys = [CONFIG_PREFIX + f for f in factors]
    # a key per point: its factor values as text (NaN-safe, hashable whatever the dtype)
    frame = frame.assign(_point=frame[keys].astype(str).agg("|".join, axis=1) if keys else "")
    return frame


def _study(frame: pd.DataFrame, point_values: np.ndarray, dists: dict[str, Any], mode: str):
    import optuna
    from optuna.trial import create_trial

    study = optuna.create_study(direction="maximize" if mode == "max" else "minimize")
    trials = []
    for row, value in zip(frame.to_dict("records"), point_values):
        params = {}
        for f, d in dists.items():
            v = row[f]
            if type(d).__name__ == "IntDistribution":
                v = int(v)
            elif type(d).__name__ == "FloatDistribution":
                v = float(v)
            params[f] = v
        trials.append(create_trial(value=float(value), params=params, distributions=dists))
    study.add_trials(trials)
    return study


def _evaluator(name: str, seed: int, n_points: int):
    from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator
    if name == "fanova":
        return FanovaImportanceEvaluator(n_trees=FANOVA_TREES, max_depth=FANOVA_DEPTH, seed=seed)
    # the top quantile holds at least PED_MIN_TOP points where the sweep has enough of them
    return PedAnovaImportanceEvaluator(target_quantile=ped_quantile(n_points))


def ped_quantile(n_points: int) -> float:
    """PED-ANOVA's target quantile: Optuna's 0.1, raised so that the top holds
    ``PED_MIN_TOP`` points (at most 0.5: the top half against the whole)."""
    return float(min(0.5, max(0.1, PED_MIN_TOP / max(n_points, 1))))


def importance(results: Results, evaluators: tuple[str, ...] = EVALUATORS,
               replicates: int = REPLICATES, metric: str | None = None,
               seed: int = 0, mode: str | None = None) -> Importance | None:
    """Each factor's importance on ``metric`` (default: the selection metric, validation
    split) by each evaluator, with a 95% bootstrap interval over seeds; None when there is
    nothing to rank (no factor with two values, fewer than 3 points with the metric, or a
    metric with the same mean at every point).
    ``mode``: which end is good (default: the sweep's mode for a metric it optimised, else
    the selection's)."""
    unknown = [e for e in evaluators if e not in EVALUATORS]
    if unknown:
        raise ValueError(f"evaluator {unknown[0]!r}: allowed {', '.join(EVALUATORS)}")
    chosen, chosen_mode, _ = selection_metric(results)
    metric = metric or chosen
    mode = mode or objective_mode(results, metric) or chosen_mode
    factors = list(results.factors)
    found = _points(results, metric, factors)
    if found is None:
        return None
    points, seeds_of, dists = found
    means = np.array([s.mean() for s in seeds_of])
    if np.ptp(means) == 0:  # a metric that never varies ranks nothing (fANOVA would raise)
        return None
    rng = np.random.default_rng(seed)
    draws = [means] + [np.array([rng.choice(s, size=len(s), replace=True).mean()
                                 for s in seeds_of]) for _ in range(replicates)]
    table = _evaluate(points, draws, dists, mode, evaluators, replicates)
    return Importance(table, metric, mode, len(points), max(len(s) for s in seeds_of),
                      replicates, _notes(factors, dists, seeds_of))


def objective_mode(results: Results, metric: str) -> str | None:
    """The mode the sweep optimised ``metric`` in, where it is one of its ``metric:`` list."""
    metrics, modes = results.spec.get("metric"), results.spec.get("mode")
    metrics = metrics if isinstance(metrics, list) else [metrics]
    modes = modes if isinstance(modes, list) else [modes] * len(metrics)
    return next((str(d) for m, d in zip(metrics, modes) if m == metric and d), None)


def _points(results: Results, metric: str, factors: list[str]
            ) -> tuple[pd.DataFrame, list[np.ndarray], dict[str, Any]] | None:
    """(one row per point with its factors' values, each point's seed values, the factors'
    distributions), or None when there is nothing to rank."""
    frame = _point_table(results, metric, factors)
    if frame.empty:
        return None
    dists = distributions(results, frame, factors)
    if not dists:
        return None
    groups = [g for _, g in frame.groupby("_point", sort=True)]
    if len(groups) < 3:
        return None
    points = pd.DataFrame([{f: g[CONFIG_PREFIX + f].iloc[0] for f in dists}
                           for g in groups])
    return points, [g["_value"].to_numpy(dtype=float) for g in groups], dists


def _evaluate(points: pd.DataFrame, draws: list[np.ndarray], dists: dict[str, Any], mode: str,
              evaluators: tuple[str, ...], replicates: int) -> pd.DataFrame:
    """Each evaluator's importances on the seed means (``draws[0]``) and on every bootstrap
    replicate: the point estimate, the replicates' mean and 95% interval, and the rank."""
    import optuna
    from optuna.importance import get_param_importances

    rows = []
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        with warnings.catch_warnings():
            # Optuna warns that PED-ANOVA's importances are of "low" values under a target,
            # and that constant studies give equal importances; both are handled below.
            warnings.simplefilter("ignore")
            for name in evaluators:
                got = []
                for b, vals in enumerate(draws):
                    study = _study(points, vals, dists, mode)
                    imp = get_param_importances(study, evaluator=_evaluator(name, b, len(points)),
                                                params=list(dists), normalize=True)
                    got.append([float(imp.get(f, 0.0)) for f in dists])
                arr = np.array(got)
                boot = arr[1:] if replicates else arr
                for j, f in enumerate(dists):
                    rows.append({"evaluator": name, "factor": f, "point": arr[0, j],
                                 "mean": boot[:, j].mean(),
                                 "ci_low": np.percentile(boot[:, j], 2.5),
                                 "ci_high": np.percentile(boot[:, j], 97.5),
                                 "scale": scale_of(dists[f])})
    finally:
        optuna.logging.set_verbosity(previous)
    table = pd.DataFrame(rows)
    table["rank"] = table.groupby("evaluator")["mean"].rank(ascending=False, method="min")
    return table.sort_values(["evaluator", "rank"], kind="stable").reset_index(drop=True)


def _notes(factors: list[str], dists: dict[str, Any], seeds_of: list[np.ndarray]) -> list[str]:
    """What a reader of the importances must know: factors left out, seeds too few to
    carry the seed noise, points too few for the evaluators."""
    notes = []
    left = [f for f in factors if f not in dists]
    if left:
        notes.append("Left out (one value among the completed trials): " + ", ".join(left) + ".")
    if max(len(s) for s in seeds_of) < 2:
        notes.append("Every point ran with one seed: the intervals hold fANOVA's own "
                     "randomness only, not the seed noise.")
    elif min(len(s) for s in seeds_of) < 2:
        single = sum(len(s) < 2 for s in seeds_of)
        notes.append(f"{single} of {len(seeds_of)} points have a single completed seed; they "
                     "add no seed noise to the intervals.")
    if len(seeds_of) < 2 * PED_MIN_TOP:
        notes.append(f"Only {len(seeds_of)} points: PED-ANOVA compares the top "
                     f"{ped_quantile(len(seeds_of)):.0%} against all, and both evaluators are "
                     "rough at this size.")
    return notes


def fmt_importance(row: Any) -> str:
    """``0.62 [0.48, 0.77]`` (shares of the total, as Optuna normalises them)."""
    def num(x: float) -> str:
        return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"
    return f"{num(row.mean)} [{num(row.ci_low)}, {num(row.ci_high)}]"
