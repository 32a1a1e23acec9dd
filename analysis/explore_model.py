"""What the report's Explore section shows for one sweep, prepared once (``prepare``):
importance per objective (``analysis.importance``), every trial's factors and metrics as one
frame, the parallel-coordinates axes (continuous factors stay continuous, a log-sampled one on
a log axis), and the static figures drawn from them.  Rendered by ``analysis.explore`` (the
section) and ``analysis.explore_html`` (the interactive widgets of index.html).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from contract.schema import CONFIG_PREFIX

from . import plots
from .columns import metric_info, present_metrics, values
from .importance import LABELS, Importance, distributions, importance
from .levels import fmt_level
from .load import MAX_LEVELS, Results
from .selection import selection_metric

SHOWN_METRICS = ("val_psnr", "val_latent_acc", "test_psnr", "latent_acc", "weight_acc",
                 "joint_acc")
MAX_TABLE_ROWS = 10_000  # a sweep's bound on trials: the table holds every one


@dataclass
class Axis:
    name: str
    label: str
    pos: np.ndarray  # each trial's place on the axis, 0 (bottom) .. 1 (top); NaN: none
    ticks: list[tuple[float, str]]


@dataclass
class Explore:
    """What the section shows for one sweep (``prepare``); ``files``: PNGs it wrote."""
    results: Results
    importance: Importance | None
    metrics: list[str]
    frame: pd.DataFrame  # one row per trial, factors raw, metrics in display units
    axes: list[Axis]
    color_by: str
    figures: list[tuple[Path, str]] = field(default_factory=list)
    model: pd.DataFrame | None = None  # a designed sweep's main effects on the same metric
    key: str = ""  # pairs the sweep's parallel coordinates with its table (figure prefix)
    #: a multi-objective sweep's other objectives, each ranked too (``importance`` per metric)
    others: list[Importance] = field(default_factory=list)

    @property
    def files(self) -> list[Path]:
        return [p for p, _ in self.figures]


# ------------------------------------------------------------------------------------
def trial_frame(results: Results, metrics: list[str]) -> pd.DataFrame:
    """Every trial: id, status, seed, the factors' own values, the metrics (display units)."""
    t = results.trials
    out = pd.DataFrame({"trial": t["trial_id"].astype(str), "status": t.get("status")})
    if CONFIG_PREFIX + "seed" in t:
        out["seed"] = t[CONFIG_PREFIX + "seed"]
    for f in results.factors:
        out[f] = t[CONFIG_PREFIX + f]
    for m in metrics:
        out[m] = values(t, m)
    if "epochs_done" in t:
        out["epochs"] = t["epochs_done"]
    return out.reset_index(drop=True)


def _ticks(lo: float, hi: float, log: bool) -> list[tuple[float, str]]:
    if hi <= lo:
        return [(0.5, fmt_level(lo))]
    vals = np.linspace(lo, hi, 5)
    return [((v - lo) / (hi - lo), f"{10 ** v:.3g}" if log else f"{v:.3g}") for v in vals]


def _listed(results: Results, factor: str) -> bool:
    """Levels the sweep named (a grid axis or a choice), not values a search drew."""
    axis = results.contract["factors"].get(factor, {})
    sampled = axis.get("sampled")
    return "levels" in axis or isinstance(sampled, dict) and "choice" in sampled


def axes_of(results: Results, frame: pd.DataFrame, metrics: list[str]) -> list[Axis]:
    """One axis per factor (on the scale ``analysis.importance`` reads it on) and metric."""
    dists = distributions(results, results.trials, results.factors)
    axes = []
    for f in results.factors:
        col = frame[f]
        d = dists.get(f)
        if d is None and col.nunique() < 2:
            continue  # one value: a flat axis says nothing
        if d is not None and type(d).__name__ != "CategoricalDistribution":
            x = col.astype(float).to_numpy()
            log = bool(d.log)
            x = np.log10(np.where(x > 0, x, np.nan)) if log else x
            lo, hi = np.nanmin(x), np.nanmax(x)
            pos = (x - lo) / (hi - lo) if hi > lo else np.full(len(x), 0.5)
            levels = sorted(col.dropna().unique().tolist())
            # a few levels (a grid, a choice): tick each one, still placed on the scale
            ticks = [(float(p), fmt_level(v)) for v, p in zip(levels, (
                (np.log10(levels) if log else np.array(levels, float)) - lo) / (hi - lo))] \
                if len(levels) <= MAX_LEVELS and hi > lo and _listed(results, f) \
                else _ticks(lo, hi, log)
            axes.append(Axis(f, f + (" (log)" if log else ""), pos, ticks))
        else:
            levels = sorted(col.dropna().unique().tolist(), key=str)
            where = {str(v): i / max(len(levels) - 1, 1) for i, v in enumerate(levels)}
            pos = np.array([where.get(str(v), np.nan) if pd.notna(v) else np.nan for v in col])
            axes.append(Axis(f, f, pos, [(where[str(v)], fmt_level(v)) for v in levels]))
    for m in metrics:
        x = frame[m].astype(float).to_numpy()
        if not np.isfinite(x).any():
            continue
        lo, hi = np.nanmin(x), np.nanmax(x)
        pos = (x - lo) / (hi - lo) if hi > lo else np.full(len(x), 0.5)
        axes.append(Axis(m, plots._axis_label(m), pos, _ticks(lo, hi, False)))
    return axes


def prepare(results: Results, folder: Path, prefix: str, da: Any = None) -> Explore | None:
    """Compute the section's content for one sweep and write its PNGs; None when the sweep
    has no completed trial (nothing to explore)."""
    if not len(results.completed):
        return None
    chosen = selection_metric(results)[0]
    metrics = [chosen] + [m for m in present_metrics(results.trials, SHOWN_METRICS)
                          if m != chosen]
    frame = trial_frame(results, metrics)
    axes = axes_of(results, frame, metrics)
    imp = importance(results) if results.factors else None
    model = None
    if da is not None and imp is not None and len(da.effects):
        eff = da.effects
        model = eff[(eff["metric"] == imp.metric) & (eff["kind"] == "main")]
    objectives = results.spec.get("metric")
    others = [i for i in (importance(results, metric=m) for m in objectives
                          if isinstance(m, str) and imp is not None and m != imp.metric)
              if i is not None] if isinstance(objectives, list) else []
    ex = Explore(results, imp, metrics, frame, axes, chosen, model=model, key=prefix,
                 others=others)
    if imp is not None:
        fig = importance_figure(imp)
        ex.figures.append((plots.save(fig, folder / f"{prefix}-importance.png"),
                           f"Factor importance on {metric_info(imp.metric).label}: mean over "
                           f"{imp.replicates} resamplings of the seeds, bar = 95% interval."))
    if len(axes) >= 2:
        fig = parallel_figure(ex)
        ex.figures.append((plots.save(fig, folder / f"{prefix}-parallel.png"),
                           f"Parallel coordinates: every completed trial is one line (seeds "
                           f"are separate lines), coloured by "
                           f"{metric_info(chosen).label} (yellow: highest); each axis "
                           f"runs from its lowest value (bottom) to its highest (top)."))
    return ex


# ------------------------------------------------------------------------------------
# Static figures

def importance_figure(imp: Importance):
    import matplotlib.pyplot as plt
    names = list(dict.fromkeys(imp.table["factor"]))
    evaluators = list(dict.fromkeys(imp.table["evaluator"]))
    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * len(names) * len(evaluators)))
    height = 0.8 / len(evaluators)
    for k, ev in enumerate(evaluators):
        rows = imp.table[imp.table["evaluator"] == ev].set_index("factor").reindex(names)
        y = np.arange(len(names)) + k * height
        ax.barh(y, rows["mean"], height=height, label=LABELS.get(ev, ev),
                # clipped: a degenerate interval's percentile may sit a rounding below the mean
                xerr=[(rows["mean"] - rows["ci_low"]).clip(lower=0),
                      (rows["ci_high"] - rows["mean"]).clip(lower=0)],
                capsize=3, color=plots._colors(max(len(evaluators), 2))[k])
    ax.set_yticks(np.arange(len(names)) + height * (len(evaluators) - 1) / 2, names)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.05)
    ax.set_xlabel(f"importance on {metric_info(imp.metric).label} (share of the total)")
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    return fig


def parallel_figure(ex: Explore):
    import matplotlib.pyplot as plt
    from matplotlib import cm
    done = (ex.frame["status"] == "completed").to_numpy()
    score = ex.frame[ex.color_by].astype(float).to_numpy()
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(ex.axes)), 4.2))
    xs = np.arange(len(ex.axes))
    ys = np.array([a.pos for a in ex.axes])  # axes x trials
    finite = np.isfinite(score)
    lo, hi = (np.nanmin(score), np.nanmax(score)) if finite.any() else (0, 1)
    cmap = plt.get_cmap("viridis")
    order = np.argsort(np.where(finite, score, -np.inf))  # best drawn last, on top
    for j in order:
        if not done[j]:
            continue
        c = cmap((score[j] - lo) / (hi - lo) if hi > lo and finite[j] else 0.5)
        ax.plot(xs, ys[:, j], color=c, alpha=0.8, lw=1.2)
    for i, a in enumerate(ex.axes):
        ax.axvline(i, color="#444", lw=0.8)
        for p, text in a.ticks:
            ax.text(i + 0.03, p, text, fontsize=7, va="center", color="#333")
    ax.set_xticks(xs, [a.label for a in ex.axes], rotation=20, ha="right", fontsize=8)
    ax.set_yticks([])
    ax.set_xlim(-0.2, len(ex.axes) - 0.6)
    ax.set_ylim(-0.05, 1.05)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    sm = cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(lo, hi))
    fig.colorbar(sm, ax=ax, pad=0.01, fraction=0.03).set_label(plots._axis_label(ex.color_by))
    fig.tight_layout()
    return fig
