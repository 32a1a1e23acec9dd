"""A sweep's factors level by level: each factor's levels and reference setting, and the
per-factor table (every metric's mean and 95% interval at each level, ``factor_table``)."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import pandas as pd

from contract.metrics import Metric
from contract.schema import CONFIG_PREFIX

from .columns import TABLE_METRICS, metric_info, present_metrics, scaled
from .load import Results
from .stats import proportion_interval, t_halfwidth


def factor_levels(results: Results, factor: str, frame: pd.DataFrame | None = None) -> pd.Series:
    """The level of ``factor`` for every row of ``frame`` (default: completed trials).

    A continuous (sampled) factor is binned into at most 5 quantile bins, labelled by range."""
    frame = results.completed if frame is None else frame
    col = frame[CONFIG_PREFIX + factor]
    if results.is_continuous(factor):
        bins = pd.qcut(col.astype(float), q=min(5, col.nunique()), duplicates="drop")
        return bins.map(lambda iv: f"{iv.left:.3g}-{iv.right:.3g}").astype(object)
    return col


def sorted_levels(levels: Iterable[Any]) -> list[Any]:
    levels = [v for v in pd.unique(pd.Series(list(levels))) if not _isnull(v)]
    try:
        return sorted(levels)
    except TypeError:
        return sorted(levels, key=str)


def fmt_level(v: Any) -> str:
    """A factor level for display: 100.0 -> "100", 0.01 -> "0.01", strings as they are."""
    if isinstance(v, (float, np.floating)):
        return f"{float(v):g}"
    return str(v)


def _isnull(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def at_reference(results: Results, frame: pd.DataFrame, exclude: Iterable[str] = ()) -> pd.Series:
    """Boolean mask: rows whose factors (except ``exclude``) all sit at the reference."""
    mask = pd.Series(True, index=frame.index)
    for factor in results.factors:
        if factor in exclude:
            continue
        ref, _ = results.reference(factor)
        if ref is not None:
            mask &= frame[CONFIG_PREFIX + factor] == ref
    return mask


FACTOR_COLUMNS = ["sweep", "factor", "level", "reference", "metric", "unit", "n", "seeds",
                  "mean", "std", "ci_low", "ci_high", "ci_half"]


def factor_table(results: Results, factor: str | None = None,
                 metrics: Iterable[str] = TABLE_METRICS) -> pd.DataFrame:
    """Mean, standard deviation and t-based 95% CI over seeds, per factor level and metric.

    One row per (factor, level, metric).  ``n`` counts the trials with a value, ``seeds`` the
    distinct seeds among them; in a grid over several factors a level pools the other
    factors' levels (a main effect).  Without varied factors the whole sweep is one cell,
    factor "(all trials)"."""
    done = results.completed
    metrics = present_metrics(done, metrics)
    if not metrics:  # nothing finished: an empty table, not an error
        return pd.DataFrame(columns=FACTOR_COLUMNS)
    factors = [factor] if factor else (results.factors or [None])
    shown = scaled(done, metrics)
    seeds = done.get(CONFIG_PREFIX + "seed", pd.Series(0, index=done.index))
    parts = []
    for fac in factors:
        if fac is None:
            levels, ref = pd.Series("all", index=done.index), None
        else:
            levels, ref = factor_levels(results, fac), results.reference(fac)[0]
        # one groupby per factor for all metrics; count/std skip NaN per metric
        frame = shown.assign(_level=levels.to_numpy()).dropna(subset=["_level"])
        grouped = frame.groupby("_level", sort=False)
        count, mean, std = grouped[metrics].count(), grouped[metrics].mean(), grouped[metrics].std()
        for metric in metrics:
            ok = frame[metric].notna()
            n = count[metric][count[metric] > 0]
            if n.empty:
                continue
            nseeds = pd.Series(seeds.loc[frame.index[ok]].to_numpy()).groupby(
                frame["_level"][ok].to_numpy()).nunique()
            m, sd = mean[metric].loc[n.index].to_numpy(), std[metric].loc[n.index].to_numpy()
            low, high = _level_intervals(frame[metric], frame["_level"], n.index, m, sd,
                                         metric_info(metric))
            parts.append(pd.DataFrame({
                "sweep": results.name, "factor": fac or "(all trials)",
                "level": pd.Series(list(n.index), dtype=object),
                "reference": [lvl == ref for lvl in n.index], "metric": metric,
                "unit": metric_info(metric).unit, "n": n.to_numpy(),
                "seeds": nseeds.loc[n.index].to_numpy(), "mean": m, "std": sd,
                "ci_low": low, "ci_high": high, "ci_half": (high - low) / 2}))
    if not parts:
        return pd.DataFrame(columns=FACTOR_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    return _order(out, ["factor", "level", "metric"], {"metric": list(metrics)})


def _level_intervals(vals: pd.Series, levels: pd.Series, order: pd.Index, mean: np.ndarray,
                     sd: np.ndarray, info: Metric) -> tuple[np.ndarray, np.ndarray]:
    """95% CI bounds per level (in ``order``): t-based, or logit-scale for a proportion."""
    if not info.bounded:
        half = t_halfwidth(sd, vals.groupby(levels).count().loc[order].to_numpy())
        return mean - half, mean + half
    cells = [proportion_interval(vals[levels == lvl], info.scale) for lvl in order]
    return (np.array([c.low for c in cells], dtype=float),
            np.array([c.high for c in cells], dtype=float))


def _order(frame: pd.DataFrame, by: list[str], categories: dict[str, list]) -> pd.DataFrame:
    """Sort keeping factors in sweep order, levels numerically, metrics in display order."""
    keys = pd.DataFrame(index=frame.index)
    for col in by:
        if col in categories:
            keys[col] = frame[col].map({v: i for i, v in enumerate(categories[col])})
        elif col == "level":
            keys[col] = frame.groupby("factor")["level"].transform(_level_rank)
        else:
            keys[col] = frame[col].map({v: i for i, v in enumerate(pd.unique(frame[col]))})
    return frame.loc[keys.sort_values(by, kind="stable").index].reset_index(drop=True)


def _level_rank(levels: pd.Series) -> pd.Series:
    ranks = {v: i for i, v in enumerate(sorted_levels(levels))}
    return levels.map(lambda v: ranks.get(v, -1))




def distinct_levels(frame: pd.DataFrame, field: str) -> list[Any]:
    """The distinct values of config ``field`` in ``frame``, sorted (none: [])."""
    col = frame.get(CONFIG_PREFIX + field)
    return [] if col is None else sorted_levels(col.dropna())
