"""Matplotlib figures of one sweep, readable at a glance: labelled axes with units, the
reference level marked, seeds' spread shown.

The Agg backend is forced: reports are written on headless cluster nodes and laptops alike,
and nothing here ever opens a window.  Every function returns a ``Figure`` (for notebooks);
``sweep_figures`` saves them all as PNG for the report.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from contract import metrics as metrics_registry  # noqa: E402
from contract.schema import CONFIG_PREFIX, METRIC_PREFIX  # noqa: E402

from .labels import PIXELS, all_label_count, curve_points, label_table  # noqa: E402
from .load import Results  # noqa: E402
from .stats import interval, t_halfwidth  # noqa: E402
from .columns import BASELINES, metric_info, present_metrics  # noqa: E402
from .levels import factor_levels, factor_table, fmt_level, sorted_levels  # noqa: E402
from .selection import pareto_front, pareto_objectives  # noqa: E402

DPI = 100
#: per-epoch curves show validation PSNR: test is scored once, at the last epoch
CURVE_METRICS = metrics_registry.names("curve")
#: older results (before the validation split) scored test every epoch: their curves show it
CURVE_FALLBACK = {"val_psnr": "test_psnr"}
SCATTER_METRICS = metrics_registry.names("scatter")
#: interaction panels in one figure (the strongest pairs; the table lists them all)
MAX_PANELS = 6


def _axis_label(metric: str) -> str:
    info = metric_info(metric)
    if metric == "train_loss":
        return "training loss (MSE + priors + CE, log scale)"
    if metric.endswith("_psnr"):
        return f"{info.label} (dB)"
    return f"{info.label} ({info.unit})" if info.unit else info.label


def level_name(factor: str, level, ref) -> str:
    return f"{factor}={fmt_level(level)}" + (" (ref)" if level == ref else "")


def _plain_axes(ax, min_span: tuple[float | None, float | None] = (None, None)) -> None:
    """No "+9.499e1" offsets on the tick labels, and a minimum visible span per axis so
    that near-identical values are not blown up into a steep-looking difference."""
    for axis, span, get, set_ in ((ax.xaxis, min_span[0], ax.get_xlim, ax.set_xlim),
                                  (ax.yaxis, min_span[1], ax.get_ylim, ax.set_ylim)):
        fmt = axis.get_major_formatter()
        if hasattr(fmt, "set_useOffset"):
            fmt.set_useOffset(False)
        if span is not None:
            lo, hi = get()
            if hi - lo < span:
                mid = (lo + hi) / 2
                set_(mid - span / 2, mid + span / 2)


def _colors(n: int) -> list:
    cmap = plt.get_cmap("viridis" if n > 6 else "tab10")
    return [cmap(i / max(n - 1, 1)) if n > 6 else cmap(i) for i in range(n)]


# ------------------------------------------------------------------------------------
def curve_metrics(epochs: pd.DataFrame, metrics: Iterable[str] = CURVE_METRICS) -> list[str]:
    """The per-epoch columns to draw: each metric present, else its fallback (val_psnr ->
    test_psnr in results from before the validation split)."""
    out = []
    for m in metrics:
        found = present_metrics(epochs, [m]) or present_metrics(
            epochs, [CURVE_FALLBACK[m]] if m in CURVE_FALLBACK else [])
        out += found
    return out


def learning_curves(results: Results, factor: str | None,
                    metrics: Iterable[str] = CURVE_METRICS) -> Figure | None:
    """Per-epoch metrics, one line per factor level: mean over seeds with a 95% CI band."""
    trials = results.completed if len(results.completed) else results.trials
    epochs = results.epochs
    metrics = curve_metrics(epochs, metrics)
    if epochs.empty or not metrics:
        return None
    if trials.empty:  # trials.parquet unreadable: the curves still stand, without factors
        trials, factor = pd.DataFrame({"trial_id": epochs["trial_id"].unique()}), None
    if factor:
        levels = factor_levels(results, factor, trials)
        ref = results.reference(factor)[0]
    else:
        levels, ref = pd.Series("all trials", index=trials.index), None
    lookup = pd.Series(levels.to_numpy(), index=trials["trial_id"].to_numpy())
    data = epochs[epochs["trial_id"].isin(lookup.index)]
    if data.empty:
        return None
    level = data["trial_id"].map(lookup)
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 3.8), squeeze=False)
    order = sorted_levels(level.dropna())
    for ax, metric in zip(axes[0], metrics):
        frame = pd.DataFrame({"level": level, "epoch": data["epoch"],
                              "v": data[METRIC_PREFIX + metric] * metric_info(metric).scale})
        agg = _bands(frame.dropna(), metric_info(metric))
        for color, lvl in zip(_colors(len(order)), order):
            if lvl not in agg.index.get_level_values(0):
                continue
            cur = agg.loc[lvl]
            label = level_name(factor, lvl, ref) if factor else str(lvl)
            ax.plot(cur.index, cur["mean"], color=color, lw=2 if lvl == ref else 1.4, label=label)
            ax.fill_between(cur.index, cur["low"].fillna(cur["mean"]),
                            cur["high"].fillna(cur["mean"]), color=color, alpha=0.18, lw=0)
        if metric == "train_loss" and (agg["mean"] > 0).all():
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(_axis_label(metric))
        ax.grid(alpha=0.3)
        _plain_axes(ax)
    axes[0][0].legend(fontsize=8, title=None, loc="best")
    title = f"{results.name}: learning curves by {factor}" if factor else \
        f"{results.name}: learning curves"
    fig.suptitle(f"{title} (mean, 95% CI band over seeds)", fontsize=11)
    fig.tight_layout()
    return fig


def _bands(frame: pd.DataFrame, info) -> pd.DataFrame:
    """Mean and 95% CI bounds of ``v`` per (level, epoch): t-based, or the bounded interval
    of ``analysis.stats`` for a proportion (a band never leaves [0, 100]%)."""
    grouped = frame.groupby(["level", "epoch"])["v"]
    if info.bounded:
        cells = grouped.apply(lambda v: pd.Series(interval(v, True, info.scale)._asdict()))
        return cells.unstack()[["mean", "low", "high"]]
    agg = grouped.agg(["mean", "std", "count"])
    half = t_halfwidth(agg["std"], agg["count"])
    return pd.DataFrame({"mean": agg["mean"], "low": agg["mean"] - half,
                         "high": agg["mean"] + half})


def _categorical_axis(ax, order: list, factor: str, ref) -> dict:
    pos = {lvl: i for i, lvl in enumerate(order)}
    ax.set_xticks(range(len(order)))
    ax.set_xticklabels([f"{fmt_level(lvl)}\n(ref)" if lvl == ref else fmt_level(lvl)
                        for lvl in order],
                       fontsize=8)
    ax.set_xlabel(factor)
    ax.set_xlim(-0.5, len(order) - 0.5)
    return pos


def metric_vs_factor(results: Results, factor: str,
                     metrics: Iterable[str] = SCATTER_METRICS) -> Figure | None:
    """Final metrics against the factor's levels: each trial a grey dot, the mean with its
    95% CI as a bar.  Levels are evenly spaced (grids like a2 in 0, 1, 100 have no good
    linear or log axis)."""
    done = results.completed
    metrics = present_metrics(done, metrics)
    if done.empty or not metrics:
        return None
    table = factor_table(results, factor, metrics)
    levels = factor_levels(results, factor)
    order = sorted_levels(levels.dropna())
    ref = results.reference(factor)[0]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3.4), squeeze=False)
    rng = np.random.default_rng(0)
    for ax, metric in zip(axes[0], metrics):
        pos = _categorical_axis(ax, order, factor, ref)
        vals = done[METRIC_PREFIX + metric] * metric_info(metric).scale
        ok = vals.notna() & levels.notna()
        x = levels[ok].map(pos).to_numpy(dtype=float)
        ax.scatter(x + rng.uniform(-0.12, 0.12, len(x)), vals[ok], s=9, color="0.6",
                   alpha=0.6, lw=0, label="trial")
        rows = table[table["metric"] == metric]
        xs = rows["level"].map(pos).to_numpy(dtype=float)
        mean = rows["mean"].to_numpy(dtype=float)
        # asymmetric bars: an accuracy's interval is the bounded one, inside [0, 100]%
        # (clipped at 0: a constant proportion's logit interval comes back a rounding error
        # off its mean, and matplotlib refuses a negative bar)
        yerr = np.clip(np.nan_to_num([mean - rows["ci_low"].to_numpy(dtype=float),
                                      rows["ci_high"].to_numpy(dtype=float) - mean]), 0, None)
        ax.errorbar(xs, mean, yerr=yerr, fmt="o", color="C3", capsize=4, ms=5,
                    label="mean, 95% CI")
        ax.set_ylabel(_axis_label(metric))
        ax.grid(alpha=0.3, axis="y")
        _plain_axes(ax, (None, 1.0))
    axes[0][0].legend(fontsize=8, loc="best")
    fig.suptitle(f"{results.name}: final metrics against {factor}", fontsize=11)
    fig.tight_layout()
    return fig


def operations_vs_factor(results: Results, factor: str | None) -> Figure | None:
    """Image-operation PSNRs against the factor, each beside its naive and library baselines."""
    done = results.completed
    ops = present_metrics(done, BASELINES)
    if done.empty or not ops:
        return None
    fac = factor or None
    levels = factor_levels(results, fac) if fac else pd.Series("all", index=done.index)
    order = sorted_levels(levels.dropna())
    ref = results.reference(fac)[0] if fac else None
    fig, axes = plt.subplots(1, len(ops), figsize=(3.8 * len(ops), 3.4), squeeze=False)
    for ax, op in zip(axes[0], ops):
        pos = _categorical_axis(ax, order, fac or "", ref)
        styles = ((op, "C0", "o"), *zip(BASELINES[op], ("0.4", "C1", "C2"), ("s", "^", "v")))
        for metric, color, marker in styles:
            if METRIC_PREFIX + metric not in done:
                continue
            frame = pd.DataFrame({"level": levels, "v": done[METRIC_PREFIX + metric]}).dropna()
            agg = frame.groupby("level")["v"].agg(["mean", "std", "count"])
            half = np.nan_to_num(t_halfwidth(agg["std"], agg["count"]))
            ax.errorbar(agg.index.map(pos), agg["mean"], yerr=half, fmt=marker + "-",
                        color=color, capsize=3, ms=5, label=metric_info(metric).label)
        ax.set_ylabel(f"{metric_info(op).label} (dB)")
        ax.legend(fontsize=7, loc="best")
        ax.grid(alpha=0.3, axis="y")
        _plain_axes(ax, (None, 1.0))
    fig.suptitle(f"{results.name}: image operations vs their baselines"
                 + (f" against {fac}" if fac else ""), fontsize=11)
    fig.tight_layout()
    return fig


def pareto_plot(results: Results) -> Figure | None:
    """The first two Pareto objectives (``selection.pareto_objectives``: the sweep's own when it
    optimised several, else accuracy vs PSNR) per configuration; the front joined."""
    metrics, modes, _ = pareto_objectives(results)
    points = pareto_front(results, metrics=metrics, modes=modes)
    if points.empty:
        return None
    accuracy, psnr = metrics[0], metrics[1]  # x and y
    fig, ax = plt.subplots(figsize=(6, 4.2))
    rest, front = points[~points["on_front"]], points[points["on_front"]]
    ax.scatter(rest[accuracy], rest[psnr], s=18, color="0.6", alpha=0.7,
               label="configuration (seed mean)")
    front = front.sort_values(accuracy)
    ax.plot(front[accuracy], front[psnr], "o-", color="C3", ms=6, label="Pareto front")
    if len(front) <= 15:  # numbers, not configs: long labels would squeeze the axes
        for _, row in front.iterrows():
            ax.annotate(str(row["front_rank"]), (row[accuracy], row[psnr]), fontsize=8,
                        xytext=(4, 4), textcoords="offset points", color="C3")
    ax.set_xlabel(_axis_label(accuracy))
    ax.set_ylabel(_axis_label(psnr))
    ax.set_title(f"{results.name}: {_axis_label(psnr)} vs {_axis_label(accuracy)}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    _plain_axes(ax, (1.0, 1.0))  # at least 1 percentage point and 1 dB visible
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------
#: label-efficiency panels: the linear probes, then the non-linear ones (analysis.labels)
LABEL_PANELS = (("linear probes", ("linear probe on v", "linear probe on theta*")),
                ("non-linear probes", ("latent-MLP probe on v", "weight-CNN probe on theta*",
                                       "pixel MLP", "pixel CNN")))


def label_efficiency_plot(results: Results, table: pd.DataFrame | None = None
                          ) -> Figure | None:
    """Test accuracy against training labels (log scale; "all" at the training split's
    size): one curve per variant and probe, the band its 95% interval (``analysis.labels``:
    seeds and, where saved, test images).  Left the linear probes, right the non-linear ones;
    probes on theta* dashed, pixels dotted.  None without label counts."""
    table = label_table(results) if table is None else table
    if table.empty:
        return None
    all_labels = all_label_count(results)
    table = table.assign(x=curve_points(table, all_labels)).dropna(subset=["x"])
    variants = [v for v in pd.unique(table["variant"]) if v != PIXELS]
    colors = dict(zip(variants, _colors(max(len(variants), 1))))
    styles = {"v": "-", "theta*": "--", "pixels": ":"}
    # the pixel probes are one grey each, told apart by shade and marker
    pixel_looks = {"pixel MLP": ("0.55", "v"), "pixel CNN": ("0.2", "^")}
    fig, axes = plt.subplots(1, len(LABEL_PANELS), figsize=(6.2 * len(LABEL_PANELS), 5.0),
                             squeeze=False, sharey=True)
    for ax, (title, probes) in zip(axes[0], LABEL_PANELS):
        part = table[table["probe"].isin(probes)]
        for (variant, probe), rows in part.groupby(["variant", "probe"], sort=False):
            rows = rows.sort_values("x")
            reads = rows["reads"].iloc[0]
            color, marker = pixel_looks.get(probe, ("0.4", "o")) if variant == PIXELS else \
                (colors[variant], "s" if reads == "theta*" else "o")
            name = probe if variant == PIXELS else f"{variant}: {probe}"
            ax.plot(rows["x"], rows["mean"], styles.get(reads, "-"), marker=marker, ms=4,
                    color=color, lw=1.6, label=name)
            ax.fill_between(rows["x"], rows["ci_low"].fillna(rows["mean"]),
                            rows["ci_high"].fillna(rows["mean"]), color=color, alpha=0.15, lw=0)
        ax.set_xscale("log")
        ticks = sorted(set(part["x"]))
        ax.set_xticks(ticks)
        ax.set_xticklabels([f"all\n{int(t):,}" if t == all_labels else f"{int(t):,}"
                            for t in ticks], fontsize=8)
        ax.minorticks_off()
        ax.set_xlabel("training labels (class-balanced, seeded subsets)")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        # below the axes: with a curve per variant and probe, no corner is free of data
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2,
                  frameon=False)
    axes[0][0].set_ylabel("test accuracy (%)")
    fig.suptitle(f"{results.name}: label efficiency (mean, 95% interval band)", fontsize=11)
    fig.tight_layout()
    return fig


def label_figures(results: Results, folder: Path, prefix: str | None = None,
                  table: pd.DataFrame | None = None) -> list[tuple[Path, str]]:
    """The label-efficiency figure as PNG for the report ([] without label counts)."""
    fig = label_efficiency_plot(results, table)
    if fig is None:
        return []
    path = save(fig, folder / f"{slug(prefix or results.name)}-label-efficiency.png")
    return [(path, "Label efficiency: test accuracy of each probe trained on n class-balanced "
                   "training labels (log scale; 'all' at the training split's size), one curve "
                   "per variant and probe (solid, circles: on v; dashed, squares: on theta*; "
                   "dotted grey: on pixels, the same for every variant). Band: the 95% interval of the table "
                   "above (seeds, and test images where per-image predictions were saved).")]


# ------------------------------------------------------------------------------------
def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(text)).strip("-") or "sweep"


def save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def sweep_figures(results: Results, folder: Path, prefix: str | None = None,
                  ) -> list[tuple[Path, str]]:
    """Write every figure of one sweep to ``folder``; returns (path, caption) in report order."""
    prefix = slug(prefix or results.name)
    out: list[tuple[Path, str]] = []

    def add(fig: Figure | None, name: str, caption: str) -> None:
        if fig is not None:
            out.append((save(fig, folder / f"{prefix}-{slug(name)}.png"), caption))

    factors = [f for f in results.factors] or [None]
    for fac in factors:
        add(learning_curves(results, fac), f"curves-{fac or 'all'}",
            f"Learning curves{' per ' + fac + ' level' if fac else ''}: mean over seeds, "
            f"band = 95% CI.")
    for fac in results.factors:
        add(metric_vs_factor(results, fac), f"metrics-{fac}",
            f"Final accuracy and PSNR against {fac}: grey dots are trials, red the mean "
            f"with its 95% CI.")
    for fac in results.factors or [None]:
        add(operations_vs_factor(results, fac), f"operations-{fac or 'all'}",
            "Image operations (blue) against their baselines: naive in grey (bilinear "
            "upsampling, mean fill, the clipped noisy input), standard in colour (bicubic "
            "upsampling, scikit-image's biharmonic inpainting; for denoising the unclipped "
            "noisy input, then scikit-image's TV denoising)"
            + (f", by {fac}." if fac else "."))
    add(pareto_plot(results), "pareto",
        f"The Pareto front's first two objectives per configuration (seed means; "
        f"{pareto_objectives(results)[2]}); the red line joins the configurations no other "
        "beats on every objective, numbered as in the Pareto table.")
    return out


def interaction_plot(results: Results, frame: pd.DataFrame, metric: str,
                     pairs: list[tuple[str, str]]) -> Figure | None:
    """One panel per factor pair: the metric's mean (95% CI over trials) at each level of
    the first factor, one line per level of the second.  Parallel lines mean no interaction;
    the report draws the pairs whose interaction survives Holm (``analysis.model_effects``)."""
    if not pairs or METRIC_PREFIX + metric not in frame:
        return None
    info = metric_info(metric)
    pairs = pairs[:MAX_PANELS]  # the caller lists them strongest first
    # one panel is narrower than the title: keep the figure wide enough for it
    fig, axes = plt.subplots(1, len(pairs), figsize=(max(6.0, 4.2 * len(pairs)), 3.6),
                             squeeze=False)
    raw = frame[METRIC_PREFIX + metric].astype(float)  # interval() applies the display scale
    for ax, (f, g) in zip(axes[0], pairs):
        xs = sorted_levels(frame[CONFIG_PREFIX + f].dropna())
        for color, lg in zip(_colors(2), sorted_levels(frame[CONFIG_PREFIX + g].dropna())):
            cells = [interval(raw[(frame[CONFIG_PREFIX + f] == lf)
                                  & (frame[CONFIG_PREFIX + g] == lg)].dropna(), info.bounded,
                              info.scale) for lf in xs]
            mean = np.array([c.mean for c in cells])
            err = np.nan_to_num([mean - [c.low for c in cells], [c.high for c in cells] - mean])
            ax.errorbar(range(len(xs)), mean, yerr=err, color=color, marker="o", capsize=4,
                        label=f"{g}={fmt_level(lg)}")
        ax.set_xticks(range(len(xs)))
        ax.set_xticklabels([fmt_level(x) for x in xs])
        ax.set_xlabel(f)
        ax.set_ylabel(_axis_label(metric))
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=8, loc="best")
        _plain_axes(ax)
    fig.suptitle(f"{results.name}: interactions on {info.label} (mean, 95% CI)", fontsize=11)
    fig.tight_layout()
    return fig
