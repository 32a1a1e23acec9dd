"""Which configuration is best, and on what: the selection rule (the validation split where
the results have it: ``selection_metric``), a point's seed means (``config_means``), the best
point (``best_point``, ``best_config``: the report's and the API's one choice) and the Pareto
front on the sweep's own objectives (``pareto_front``)."""

from __future__ import annotations

from typing import Iterable, NamedTuple

import numpy as np
import pandas as pd

from contract import metrics as metrics_registry
from contract.schema import CONFIG_PREFIX

from .columns import present_metrics, values
from .levels import fmt_level
from .load import Results


def validation_twin(metric: str) -> str | None:
    """The metric a selection uses for ``metric`` on the validation split: the metric itself
    if it is a validation one, else its registered twin (contract.metrics: test_psnr ->
    val_psnr, latent_acc -> val_latent_acc); None for a metric without one."""
    info = metrics_registry.get(metric)
    if info is None:
        return None
    return metric if info.split == "val" else info.val_twin


def selection_metric(results: Results) -> tuple[str, str, str]:
    """(metric, mode, how it was chosen) for picking a best setting.

    The validation split when the results have it: the sweep's own metric if it is a
    validation one, else its registered twin (test_psnr -> val_psnr), else the registry's
    default (``contract.metrics.DEFAULT_METRIC``, val_psnr, maximised).  Without any
    validation column, the sweep's metric itself, and the text says which split chose."""
    metric, mode = results.spec.get("metric", "test_psnr"), results.spec.get("mode", "max")
    metric = metric[0] if isinstance(metric, list) and metric else metric
    mode = mode[0] if isinstance(mode, list) and mode else mode
    metric, mode = str(metric or "test_psnr"), str(mode or "max")
    default, twin = metrics_registry.DEFAULT_METRIC, validation_twin(metric)
    present = set(present_metrics(results.completed, [m for m in (metric, twin, default) if m]))
    if twin == metric and metric in present:
        return metric, mode, f"{metric} (validation split, the sweep's metric)"
    if twin is not None and twin in present:
        return twin, mode, f"{twin} (validation split; the sweep's metric is {metric})"
    if default in present:
        return default, "max", f"{default} (validation split)"
    split = "test split" if metric.startswith("test_") else "final metric"
    return metric, mode, f"{metric} ({split}: these results have no validation metric)"


#: the trade-off a single-objective sweep's report describes (both maximised)
DESCRIBED_PAIR = ("latent_acc", "test_psnr")


def pareto_objectives(results: Results) -> tuple[list[str], list[str], str]:
    """(metrics, modes, in words) of the report's Pareto front.  A sweep that optimised two or
    more metrics (sweep.yaml's ``metric:`` list) is judged on exactly those, with their
    modes, on the split they were optimised on; any other sweep gets latent accuracy against
    test PSNR, both maximised, described as a trade-off the sweep did not optimise."""
    metric, mode = results.spec.get("metric"), results.spec.get("mode")
    if isinstance(metric, list) and len(metric) >= 2 and all(isinstance(m, str) for m in metric):
        modes = [str(m) for m in mode] if isinstance(mode, list) and len(mode) == len(metric) \
            else ["max"] * len(metric)
        if present_metrics(results.completed, metric) == list(metric):
            return list(metric), modes, ("the objectives the sweep optimised (its metric: "
                                         "list), each as it optimised it: " + ", ".join(
                                             f"{m} ({d})" for m, d in zip(metric, modes)))
    return list(DESCRIBED_PAIR), ["max", "max"], (
        "latent-classifier accuracy against test PSNR, both higher-is-better: a description "
        "of the trade-off, which this sweep did not optimise")


def reported_twins(metrics: Iterable[str]) -> list[str]:
    """The test metric of each validation metric among ``metrics`` (val_psnr -> test_psnr):
    a front chosen on validation is reported on the test split once."""
    twins = {m.val_twin: m.name for m in metrics_registry.REGISTRY.values() if m.val_twin}
    return [twins[m] for m in metrics if m in twins]


def pareto_front(results: Results, accuracy: str | None = None, psnr: str | None = None,
                 metrics: list[str] | None = None, modes: list[str] | None = None
                 ) -> pd.DataFrame:
    """Configurations (factor levels, seeds averaged) with the mean of each objective (and
    of the test twin of each validation objective); ``on_front`` marks those no other
    configuration dominates (at least as good on every objective, better on one, in its
    mode); ``front_rank`` numbers them from the best on the first objective.  Objectives:
    ``metrics``/``modes``, else ``accuracy`` and ``psnr`` (both max), else
    ``pareto_objectives``."""
    if metrics is None:
        metrics, modes = (([accuracy or DESCRIBED_PAIR[0], psnr or DESCRIBED_PAIR[1]],
                           ["max", "max"]) if accuracy or psnr else
                          pareto_objectives(results)[:2])
    modes = list(modes or ["max"] * len(metrics))
    extra = [t for t in reported_twins(metrics) if t not in metrics]
    columns = ["config", *metrics, *extra, "n", "on_front", "front_rank"]
    if present_metrics(results.completed, metrics) != list(metrics):
        return pd.DataFrame(columns=columns)
    points = config_means(results, [*metrics, *present_metrics(results.completed, extra)])
    points = points.dropna(subset=metrics).reset_index(drop=True)
    signs = np.array([1.0 if m == "max" else -1.0 for m in modes])
    vals = points[metrics].to_numpy(dtype=float) * signs  # higher is better on every column
    # (n, n): row j dominates column i where it is >= everywhere and > somewhere
    geq = (vals[:, None, :] >= vals[None, :, :]).all(axis=2)
    gt = (vals[:, None, :] > vals[None, :, :]).any(axis=2)
    points["on_front"] = ~(geq & gt).any(axis=0)
    order = points[points["on_front"]].sort_values(metrics[0], ascending=modes[0] != "max",
                                                   kind="stable").index
    points["front_rank"] = pd.Series(range(1, len(order) + 1), index=order, dtype="Int64")
    out = points.sort_values(["on_front", metrics[0]], ascending=[False, modes[0] != "max"],
                             kind="stable").reset_index(drop=True)
    return out.reindex(columns=[c for c in columns if c in out] +
                       [c for c in out if c not in columns])


def config_means(results: Results, metrics: list[str]) -> pd.DataFrame:
    """One row per configuration (factor levels, seeds averaged): ``config`` (its text),
    the mean of each metric in display units, and ``n`` trials with the first metric."""
    done = results.completed
    keys = [CONFIG_PREFIX + f for f in results.factors] or ["trial_id"]
    frame = pd.DataFrame({k: done[k] for k in keys})
    for m in metrics:
        frame[m] = values(done, m)
    frame = frame.dropna(subset=metrics[:1])
    grouped = frame.groupby(keys, dropna=False, sort=False)
    points = grouped[metrics].mean()
    points["n"] = grouped.size()
    points = points.reset_index()
    names = [k.removeprefix(CONFIG_PREFIX) for k in keys]
    points.insert(0, "config", [", ".join(f"{k}={fmt_level(v)}" for k, v in zip(names, row))
                                for row in points[keys].itertuples(index=False)]
                  if keys != ["trial_id"] else points["trial_id"])
    return points


class Best(NamedTuple):
    config: str
    chosen_on: str  # the metric that chose (val_* when the results have it)
    score: float  # its mean at the chosen configuration
    reported: str  # the metric reported (test_*)
    value: float
    n: int


def best_point(results: Results, metric: str | None = None, mode: str | None = None,
               also: Iterable[str] = ()) -> tuple[pd.Series, str, str] | None:
    """(the best row of ``config_means``, the metric, the mode): the configuration (seeds
    averaged) best on ``metric`` in ``mode``, else by the report's selection rule
    (``selection_metric``); the row carries the means of ``also`` too.  None without a
    completed trial carrying the metric.  The one choice of a best point: the report's
    (``best_config``) and the API's (``analysis.open_results(...).best()``)."""
    if metric is None:
        metric, mode, _ = selection_metric(results)
    mode = mode or "max"
    if not present_metrics(results.completed, [metric]):
        return None
    points = config_means(results, list(dict.fromkeys([metric, *also])))
    points = points.dropna(subset=[metric])
    if points.empty:
        return None
    index = points[metric].idxmax() if mode == "max" else points[metric].idxmin()
    return points.loc[index], metric, mode


def best_config(results: Results, reported: str = "test_psnr") -> Best | None:
    """The configuration with the best mean ``val_`` twin of ``reported`` (test_psnr ->
    val_psnr, latent_acc -> val_latent_acc), and its mean ``reported``: selection on the
    validation split, the test split only reported.  Results without the validation metric
    choose on ``reported`` itself (``chosen_on`` says so).  Higher is better for both."""
    twin = validation_twin(reported) or reported
    present = present_metrics(results.completed, [twin, reported])
    if reported not in present:
        return None
    chosen_on = twin if twin in present else reported
    found = best_point(results, chosen_on, "max", also=[reported])
    if found is None:
        return None
    row = found[0]
    return Best(str(row["config"]), chosen_on, float(row[chosen_on]), reported,
                float(row[reported]), int(row["n"]))
