"""Ablation tables as DataFrames: per-factor statistics, effects with tests, the paper's
numbers beside ours, the Pareto front, failures.

Every function takes a ``Results`` (``analysis.load``) and returns a tidy DataFrame, so a
notebook gets the same numbers the report prints.  Only *completed* trials enter the
statistics: a diverged or errored trial has no comparable final metrics (they are listed by
``failures_table``).

Units: PSNRs in dB; accuracies are stored as fractions in Parquet and shown here in percent
(the paper reports percent), so differences of accuracies are percentage points.

Statistics (why these):
* 95% confidence intervals (``analysis.stats``): t-based, mean +- t(0.975, n-1) * sd /
  sqrt(n), for PSNR and differences (seeds per cell are few, 2-10, where the normal
  approximation is visibly too narrow); a logit-scale t-interval for accuracies and other
  proportions, so that their interval never leaves [0, 100]%.  ``ci_half`` is half the
  interval's width (the bounded one is asymmetric: print ``ci_low``/``ci_high``).
* Joint-head metrics (``joint_acc``) are null where cls_weight is 0: that head was never
  trained (``analysis.load`` applies this to older files too).
* An effect is "level minus reference".  Trials that share a seed (and the levels of every
  other factor) are paired: seeds fix initialisation, data order, masks and noise, so the
  paired difference removes that shared variance and a paired t-test is the right test.
  Without enough matches the two groups are compared by Welch's t-test (no equal-variance
  assumption: an ablation often changes the spread too).
* Many effects are tested at once (factors x levels x metrics), so p-values are corrected by
  Holm's step-down method over the whole effects table of a sweep: it controls the
  family-wise error like Bonferroni but is uniformly more powerful, and needs no
  independence assumption between the tests (metrics of one trial are correlated).  The
  report corrects once over every test it prints instead (``analysis.family``).
* Where trials saved per-image test outputs (``analysis.images``), paired effects and the
  paper's rows also carry the test set's sampling error (``stats.two_level_bootstrap``);
  an ``interval`` column says "seeds and test images" or "seeds only".
* A comparison with the paper's number, or a no-effect claim, is an equivalence test
  against the margin the sweep file stated before the run (``paper_comparison``,
  ``equivalence_table``; ``stats.equivalence``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, NamedTuple

import numpy as np
import pandas as pd

from contract import metrics as metrics_registry
from contract.metrics import Metric
from contract.schema import CONFIG_PREFIX, METRIC_PREFIX

from . import images
from .load import Results
from .stats import (ALPHA, EVIDENCE, Boot, Equivalence, Interval, coverage,  # noqa: F401
                    equivalence, holm, interval, proportion_interval, t_halfwidth, t_interval,
                    two_level_bootstrap, union, welch_interval)


#: every registered metric by name (contract.metrics, the one registry: names, labels, units)
METRICS = metrics_registry.REGISTRY
#: image operation -> its baselines, naive first, then the library's (their PSNR columns)
BASELINES = {op: tuple(m.name for m in metrics_registry.METRICS if m.baseline_of == op)
             for op in dict.fromkeys(m.baseline_of for m in metrics_registry.METRICS
                                     if m.baseline_of)}
#: image operation minus a baseline: shown with the operations, not in the main table
OP_DIFFERENCES = metrics_registry.names("op_difference")
BASELINE_METRICS = frozenset(b for bases in BASELINES.values() for b in bases)
#: metrics of the per-factor table, in display order
TABLE_METRICS = metrics_registry.names("table")
#: metrics whose effects are tested.  Baselines are not (no model produces them), and neither
#: are the op-minus-baseline differences: a factor moves them exactly as it moves the op's
#: own PSNR (the baselines do not depend on the model), so they would double the Holm family
#: without a new question.  Validation metrics neither: the test split reports.
EFFECT_METRICS = metrics_registry.names("effect")


PROPORTION_SUFFIXES = ("_acc", "_frac")


def metric_info(name: str) -> Metric:
    """The registry's entry; a column no registry entry names (a file written by a version
    that reported other metrics) is still shown, as a proportion if its name says so."""
    proportion = name.endswith(PROPORTION_SUFFIXES)
    return metrics_registry.get(name) or Metric(
        name, when="final", split="test", label=name, unit="%" if proportion else "",
        scale=100.0 if proportion else 1.0)


def values(frame: pd.DataFrame, metric: str) -> pd.Series:
    """The metric column in display units (NaN where missing or absent)."""
    col = METRIC_PREFIX + metric
    if col not in frame:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return frame[col].astype(float) * metric_info(metric).scale


def scaled(frame: pd.DataFrame, metrics: Iterable[str]) -> pd.DataFrame:
    """The given metrics of ``frame`` in display units, columns named without the prefix."""
    return pd.DataFrame({m: values(frame, m) for m in metrics}, index=frame.index)


def present_metrics(frame: pd.DataFrame, names: Iterable[str]) -> list[str]:
    return [m for m in names
            if METRIC_PREFIX + m in frame and frame[METRIC_PREFIX + m].notna().any()]


# ------------------------------------------------------------------------------------
# Factors and reference settings

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


# ------------------------------------------------------------------------------------
# Tables

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


EFFECT_COLUMNS = ["sweep", "factor", "level", "reference", "reference_source", "metric",
                  "unit", "n_level", "n_ref", "test", "n_pairs", "diff", "ci_low", "ci_high",
                  "interval", "p", "p_holm", "significant"]


def effects_table(results: Results, metrics: Iterable[str] = EFFECT_METRICS,
                  alpha: float = ALPHA) -> pd.DataFrame:
    """Each factor level against the sweep's reference setting, per metric.

    ``diff`` = mean(level) - mean(reference) in the metric's unit (accuracy: percentage
    points), with its 95% CI and the p-value of a paired t-test on trials matched by seed
    and the other factors' levels (``test`` = "paired t") or of Welch's t-test
    ("Welch t").  Paired rows whose trials saved per-image test outputs also carry the test
    set's sampling error (``interval`` = "seeds and test images": the CI widened to the
    two-level bootstrap's, p the larger of the two; ``analysis.stats``); the others say
    "seeds only".  ``p_holm`` is Holm-corrected over the whole table (the report corrects
    over all of a document's tests instead); ``significant`` means p_holm < alpha.  Sorted:
    significant effects first, then by p."""
    done = results.completed.reset_index(drop=True)
    metrics = present_metrics(done, metrics)
    shown = scaled(done, metrics).to_numpy()  # positional: rows of done, columns of metrics
    rows = []
    for factor in results.factors:
        ref, source = results.reference(factor)
        if ref is None:
            continue
        col = done[CONFIG_PREFIX + factor]
        # the pairing key: seed plus every other factor's level
        key_cols = [c for c in [CONFIG_PREFIX + "seed"] + [CONFIG_PREFIX + f for f in
                    results.factors if f != factor] if c in done]
        ref_pos = np.flatnonzero((col == ref).to_numpy())
        for level in sorted_levels(col):
            if level == ref:
                continue
            lvl_pos = np.flatnonzero((col == level).to_numpy())
            i_lvl, i_ref = pair_positions(done, lvl_pos, ref_pos, key_cols)
            for j, metric in enumerate(metrics):
                a, b = shown[lvl_pos, j], shown[ref_pos, j]
                # NaN: a trial without this metric (the joint head's at cls_weight 0, a metric
                # newer than the trial); it drops out of this metric's comparison only
                a, b = a[~np.isnan(a)], b[~np.isnan(b)]
                if not len(a) or not len(b):
                    continue
                d = shown[i_lvl, j] - shown[i_ref, j]
                test = compare_groups(a, b, d[~np.isnan(d)])
                boot = paired_bootstrap(results, done["trial_id"].to_numpy()[i_lvl[~np.isnan(d)]],
                                        done["trial_id"].to_numpy()[i_ref[~np.isnan(d)]], metric) \
                    if test["test"] == "paired t" else None
                test = with_images(test, boot)
                rows.append({"sweep": results.name, "factor": factor, "level": level,
                             "reference": ref, "reference_source": source, "metric": metric,
                             "unit": "pp" if metric_info(metric).unit == "%" else
                             metric_info(metric).unit, "n_level": len(a), "n_ref": len(b),
                             **test})
    if not rows:
        return pd.DataFrame(columns=EFFECT_COLUMNS)
    out = pd.DataFrame(rows)
    out["level"] = pd.Series([r["level"] for r in rows], dtype=object)  # 16 stays 16, not 16.0
    out["reference"] = pd.Series([r["reference"] for r in rows], dtype=object)
    out["p_holm"] = holm(out["p"])
    out["significant"] = out["p_holm"] < alpha
    out = out.sort_values(["significant", "p_holm", "p"], ascending=[False, True, True],
                          kind="stable", na_position="last")
    return out[EFFECT_COLUMNS].reset_index(drop=True)


def pair_positions(done: pd.DataFrame, lvl_pos: np.ndarray, ref_pos: np.ndarray,
          key_cols: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Positions (level trial, reference trial) sharing the key; a key that occurs more than
    once on either side is ambiguous and left unpaired."""
    if not key_cols or not len(lvl_pos) or not len(ref_pos):
        return np.array([], dtype=int), np.array([], dtype=int)
    left = done.iloc[lvl_pos][key_cols].assign(_i=lvl_pos).drop_duplicates(key_cols, keep=False)
    right = done.iloc[ref_pos][key_cols].assign(_j=ref_pos).drop_duplicates(key_cols, keep=False)
    both = left.merge(right, on=key_cols, how="inner")
    return both["_i"].to_numpy(dtype=int), both["_j"].to_numpy(dtype=int)


def paired_bootstrap(results: Results, trials_a: Iterable[str], trials_b: Iterable[str] | None,
                     metric: str, metric_b: str | None = None) -> Boot | None:
    """The two-level bootstrap (``stats.two_level_bootstrap``) of ``metric`` over the trials
    ``trials_a`` (display units), or of its paired difference from ``trials_b`` (same seed,
    same images; ``metric_b`` of those trials, default ``metric``); None without per-image
    files for all of them."""
    preds = results.predictions
    if not preds:
        return None
    trials_a = list(trials_a)
    rows = list(zip(trials_a, list(trials_b) if trials_b is not None else [None] * len(trials_a)))
    # the paper table, its equivalence test, the claims and the effects ask for the same
    # comparisons; a bootstrap of 10,000 images costs seconds, so each is drawn once
    cache = results.__dict__.setdefault("_bootstraps", {})
    key = (tuple(rows), metric, metric_b)
    if key not in cache:
        cells = images.cells(preds, rows, metric, metric_info(metric).scale, metric_b)
        cache[key] = None if cells is None else two_level_bootstrap(cells)
    return cache[key]




def with_images(test: dict[str, Any], boot: Boot | None) -> dict[str, Any]:
    """A paired comparison's CI and p widened by the two-level bootstrap when there is one."""
    if boot is None:  # "interval over": what it covers (stats.EVIDENCE)
        tested = test["test"] != "too few trials" and np.isfinite(test["p"])
        return {**test, "interval": EVIDENCE["seeds" if tested else "none"]}
    iv = union(Interval(test["diff"], test["ci_low"], test["ci_high"], test["p"]), boot)
    return {**test, "diff": iv.mean, "ci_low": iv.low, "ci_high": iv.high, "p": iv.p,
            "interval": EVIDENCE["images" if test["test"] == "too few trials" else "both"]}


def compare_groups(a: np.ndarray, b: np.ndarray, d: np.ndarray) -> dict[str, Any]:
    """Level values ``a``, reference values ``b``, paired differences ``d``: a paired t-test
    where most trials pair up, else Welch; the difference and its 95% CI."""
    # Pair when at least half the smaller group has a partner: dropping a few unmatched
    # trials (a diverged seed) costs less power than ignoring the pairing would.
    if len(d) >= 2 and len(d) >= 0.5 * min(len(a), len(b)):
        test, n_pairs, iv = "paired t", len(d), t_interval(d)
    elif len(a) < 2 or len(b) < 2:
        test, n_pairs, iv = "too few trials", 0, welch_interval(a, b)
    else:
        test, n_pairs, iv = "Welch t", 0, welch_interval(a, b)
    return {"test": test, "n_pairs": n_pairs, "diff": iv.mean, "ci_low": iv.low,
            "ci_high": iv.high, "p": iv.p}


# ------------------------------------------------------------------------------------
# The paper's numbers

@dataclass(frozen=True)
class PaperClaim:
    what: str
    family: str  # "mnist" or "cifar10"
    variant: str
    metric: str
    value: float  # percent
    approx: bool = False
    note: str = ""
    #: the row names an experiment trained with the classifier loss (section 5): it is built
    #: only from trials where that loss was on (cls_weight > 0), never from an untrained head
    needs_cls_loss: bool = False


PAPER = (
    PaperClaim("latent-vector MLP (sec. 4.1)", "mnist", "plain", "latent_acc", 98.42),
    PaperClaim("weight-tensor CNN (sec. 4.1)", "mnist", "plain", "weight_acc", 97.96),
    PaperClaim("embeddings with classifier loss (sec. 5)", "mnist", "classifier_loss",
               "latent_acc", 98.84, note="the paper's 'embeddings ... achieve' reads as a "
               "classifier on v; the joint head is shown in the next row",
               needs_cls_loss=True),
    PaperClaim("joint classifier head (sec. 5)", "mnist", "classifier_loss", "joint_acc",
               98.84, note="same paper number as the row above", needs_cls_loss=True),
    PaperClaim("pixel MLP before pretraining, 3 epochs (sec. 4.2)", "mnist", "pretrained",
               "pretrain_mlp_acc", 99.0, approx=True),
    PaperClaim("CIFAR-10 latent-vector MLP (app. B)", "cifar10", "plain", "latent_acc", 70.0,
               approx=True),
)
DATASET_FAMILY = {"mnist": "mnist", "mnist-5k": "mnist", "cifar10": "cifar10"}
PAPER_DATA = {"mnist": "MNIST 60,000 train / 10,000 test", "cifar10": "CIFAR-10 50,000 / 10,000"}

PAPER_COLUMNS = ["sweep", "claim", "variant", "metric", "paper", "ours", "ci_low", "ci_high",
                 "interval", "n", "diff", "dataset", "budget", "comparable", "selection", "note",
                 "margin", "margin_source", "stated", "tost_low", "tost_high", "p", "candidate",
                 "p_holm", "verdict"]
#: a paper row without a margin in the sweep file: no test, and no verdict drawn by eye
NO_MARGIN = "not tested: no margin stated before the run"
#: a margin dated after the sweep began: it may have been chosen knowing the result
LATE_MARGIN = "not tested: margin stated after the run began"


def _late(results: Results, entry: dict[str, Any] | None) -> bool:
    """The entry's ``stated`` day is after the day the sweep first ran (sweep.yaml's
    provenance); unknown days count as in time (the sweep file's own check refused future
    dates)."""
    started = results.started
    stated = str((entry or {}).get("stated", ""))
    return bool(started and stated and stated > started)


def equivalence_entries(results: Results) -> dict[str, dict[str, Any]]:
    """The sweep file's pre-stated margins (``sweeps.equivalence``), as run; {} for a sweep
    without them (every result before issue 26)."""
    section = results.spec.get("equivalence")
    return {str(k): v for k, v in section.items() if isinstance(v, dict)} \
        if isinstance(section, dict) else {}


def _matches_claim(entry: dict[str, Any], claim: PaperClaim) -> bool:
    """An entry is about a paper row when it names the row's metric and number (and, if it
    names one, its variant)."""
    ref = entry.get("reference")
    if entry.get("metric") != claim.metric or not isinstance(ref, (int, float)):
        return False
    variant = (entry.get("where") or {}).get("variant", claim.variant)
    return variant == claim.variant and \
        abs(float(ref) * metric_info(claim.metric).scale - claim.value) < 1e-6


def _test(results: Results, trials: pd.DataFrame, metric: str, reference: float,
          margin: float, versus: pd.DataFrame | None = None) -> Equivalence:
    """TOST of ``metric`` over ``trials`` (or of its difference from the paired ``versus``
    trials) against ``reference`` +- ``margin`` (display units)."""
    info = metric_info(metric)
    if versus is None:
        vals = values(trials, metric)
        ok = vals.notna()
        boot = paired_bootstrap(results, trials.loc[ok, "trial_id"], None, metric)
        return equivalence(vals[ok], reference, margin, boot, bounded=info.bounded,
                           scale=info.scale)
    d = values(trials, metric).to_numpy() - values(versus, metric).to_numpy()
    ok = ~np.isnan(d)
    boot = paired_bootstrap(results, trials["trial_id"].to_numpy()[ok],
                            versus["trial_id"].to_numpy()[ok], metric)
    return equivalence(d[ok], reference, margin, boot)


def _tested(eq: Equivalence | None, entry: dict[str, Any] | None, scale: float) -> dict[str, Any]:
    if eq is None:
        return {"margin": math.nan, "margin_source": "", "stated": "", "tost_low": math.nan,
                "tost_high": math.nan, "p": math.nan, "candidate": "", "verdict": NO_MARGIN}
    return {"margin": float(entry["margin"]) * scale, "margin_source": str(entry.get("source", "")),
            "stated": str(entry.get("stated", "")), "tost_low": eq.low, "tost_high": eq.high,
            "p": eq.p, "candidate": eq.candidate, "verdict": ""}


def _verdicts(frame: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """p_holm over the rows with a test and the verdict each then supports."""
    if not len(frame):
        return frame
    frame["p_holm"] = holm(frame["p"])
    frame["verdict"] = [r.verdict if r.verdict == NO_MARGIN else
                        (r.candidate if np.isfinite(r.p_holm) and r.p_holm < alpha
                         else "inconclusive") for r in frame.itertuples()]
    return frame


def paper_comparison(results: Results) -> pd.DataFrame:
    """The paper's reported accuracies beside ours, for the experiments this sweep ran.

    Ours = completed trials of the claim's variant on the claim's dataset family (mnist or
    the mnist-5k subset; cifar10), at the sweep's reference setting of every other factor when
    such trials exist.  Rows that name the classifier loss (section 5) use only trials that
    ran it (cls_weight > 0), at the best such setting on the selection metric
    (``selection_metric``: the validation split when the results have it); when no trial ran
    it the row is kept with no number and ``selection`` saying why it is left out.  The
    interval is the bounded (logit-scale) one of ``analysis.stats`` over seeds, widened to the
    two-level bootstrap's over seeds and test images where the trials saved per-image outputs
    (``interval`` says which).  ``budget`` states our data, model preset and epochs;
    ``comparable`` says "paper setting" only for the full dataset with the paper preset,
    otherwise names what is reduced.

    The verdict is an equivalence test (``stats.equivalence``, TOST) against the margin the
    sweep file stated before the run (``equivalence:``, ``sweeps.equivalence``): equivalent,
    better, worse or inconclusive, Holm-corrected over this table's tested rows (``p_holm``;
    the report corrects over the whole document).  A row without a stated margin is not
    tested (``NO_MARGIN``), nor is one whose margin is dated after the sweep first ran
    (``LATE_MARGIN``: sweep.yaml's provenance); nothing is "matched" by eye."""
    done = results.completed
    rows = []
    need = [CONFIG_PREFIX + c for c in ("variant", "dataset")]
    if not all(c in done for c in need):
        return pd.DataFrame(columns=PAPER_COLUMNS)
    entries = equivalence_entries(results)
    family = done[CONFIG_PREFIX + "dataset"].map(DATASET_FAMILY)
    for claim in PAPER:
        match = done[(done[CONFIG_PREFIX + "variant"] == claim.variant) & (family == claim.family)]
        row = _paper_row(results, claim, match, entries)
        if row is not None:
            rows.append(row)
    out = pd.DataFrame(rows, columns=PAPER_COLUMNS)
    tested = out["verdict"] == ""
    out.loc[tested] = _verdicts(out.loc[tested].copy())
    return out


def _paper_row(results: Results, claim: PaperClaim, match: pd.DataFrame,
               entries: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """One row of ``paper_comparison`` from ``match`` (the completed trials of the claim's
    variant and dataset family), before Holm; None when none of them has the metric."""
    base = {"sweep": results.name, "claim": claim.what, "variant": claim.variant,
            "metric": claim.metric, "paper": f"{'~' if claim.approx else ''}{claim.value:g}",
            "note": claim.note}
    if claim.needs_cls_loss and len(match):
        match = match[cls_loss_on(match)]
        if match.empty:
            return {**base, "ours": math.nan, "ci_low": math.nan,
                    "ci_high": math.nan, "interval": "-", "n": 0, "diff": math.nan,
                    "dataset": "", "budget": "", "comparable": "", "selection":
                    "left out: every such trial has cls_weight 0, so its head and v "
                    "got no classifier gradient (an untrained head is not the "
                    "paper's experiment)", **_tested(None, None, 1.0),
                    "verdict": "left out"}
    match = match[values(match, claim.metric).notna()]
    if match.empty:
        return None
    if claim.needs_cls_loss:
        match, selection = _best_setting(results, match)
    else:
        match, selection = _reference_setting(results, match)
    info = metric_info(claim.metric)
    seed_iv = interval(values(match, claim.metric), info.bounded, info.scale)
    boot = paired_bootstrap(results, match["trial_id"], None, claim.metric)
    iv = union(seed_iv, boot)
    entry = next((e for e in entries.values() if _matches_claim(e, claim)), None)
    late = _late(results, entry)
    eq = None if entry is None or late else _test(
        results, match, claim.metric, claim.value, float(entry["margin"]) * info.scale)
    budget, comparable = _budget(match, claim.family)
    return {**base, "ours": iv.mean, "ci_low": iv.low, "ci_high": iv.high,
            "interval": coverage(values(match, claim.metric), boot),
            "n": len(match), "diff": iv.mean - claim.value,
            "dataset": ", ".join(sorted(match[CONFIG_PREFIX + "dataset"].unique())),
            "budget": budget, "comparable": comparable, "selection": selection,
            **_tested(eq, entry, info.scale),
            **({"verdict": LATE_MARGIN, "stated": str(entry["stated"]),
                "margin": float(entry["margin"]) * info.scale,
                "margin_source": str(entry.get("source", ""))} if late else {})}


EQUIVALENCE_COLUMNS = ["sweep", "name", "metric", "unit", "compared", "reference", "margin",
                       "margin_source", "stated", "n", "estimate", "tost_low", "tost_high",
                       "interval", "p", "candidate", "p_holm", "verdict"]


def equivalence_table(results: Results, skip_paper: bool = True) -> pd.DataFrame:
    """Every pre-stated equivalence of the sweep file (``equivalence:``), tested.

    A ``reference`` entry: the mean of ``metric`` over the completed trials at ``where``
    (the other factors at their reference setting when such trials exist) against
    reference +- margin.  A ``versus`` entry (a no-effect claim): ``where`` minus ``versus``,
    paired by seed and the levels of the factors neither names, against 0 +- margin.  Values
    in display units (accuracy: %, its margin in pp).  ``skip_paper``: leave out entries
    that a row of ``paper_comparison`` already tests (one test per entry in a report)."""
    done = results.completed
    rows = []
    for name, entry in equivalence_entries(results).items():
        metric = str(entry.get("metric", name))
        if skip_paper and any(_matches_claim(entry, c) for c in PAPER):
            continue
        info = metric_info(metric)
        late = _late(results, entry)
        where, versus = dict(entry.get("where") or {}), entry.get("versus")
        sel = _at(results, done, where, exclude=list(where) + list(versus or {}))
        base = {"sweep": results.name, "name": name, "metric": metric,
                "unit": "pp" if info.unit == "%" and versus else info.unit,
                "margin": float(entry.get("margin", math.nan)) * info.scale,
                "margin_source": str(entry.get("source", "")),
                "stated": str(entry.get("stated", ""))}
        if versus is None:
            ref = float(entry.get("reference", math.nan)) * info.scale
            sel = sel[values(sel, metric).notna()]
            compared = _setting_text(where) + " vs the stated reference"
            eq = _test(results, sel, metric, ref, base["margin"]) if len(sel) and not late \
                else None
            n = len(sel)
        else:
            ref = 0.0
            other = _at(results, done, dict(versus), exclude=list(where) + list(versus))
            keys = [c for c in [CONFIG_PREFIX + "seed"] + [CONFIG_PREFIX + f for f in
                    results.factors if f not in where and f not in versus] if c in done]
            pos = done.reset_index(drop=True)
            ia, ib = pair_positions(pos, np.flatnonzero(pos["trial_id"].isin(sel["trial_id"])),
                           np.flatnonzero(pos["trial_id"].isin(other["trial_id"])), keys)
            compared = f"{_setting_text(where)} minus {_setting_text(versus)}, paired by seed"
            eq = _test(results, pos.iloc[ia], metric, 0.0, base["margin"], pos.iloc[ib]) \
                if len(ia) and not late else None
            n = len(ia)
        rows.append({**base, "compared": compared, "reference": ref, "n": n,
                     "estimate": eq.estimate if eq else math.nan,
                     "tost_low": eq.low if eq else math.nan,
                     "tost_high": eq.high if eq else math.nan,
                     "interval": eq.evidence if eq else "", "p": eq.p if eq else math.nan,
                     "candidate": eq.candidate if eq else "",
                     "verdict": "" if eq else LATE_MARGIN if late else "no trials to test"})
    out = pd.DataFrame(rows, columns=EQUIVALENCE_COLUMNS)
    tested = out["verdict"] == ""
    out.loc[tested] = _verdicts(out.loc[tested].copy())
    return out


def _at(results: Results, frame: pd.DataFrame, levels: dict[str, Any],
        exclude: list[str]) -> pd.DataFrame:
    """Rows of ``frame`` at ``levels``, and at the reference of every other factor when any
    such row exists."""
    mask = pd.Series(True, index=frame.index)
    for field_, level in levels.items():
        col = frame.get(CONFIG_PREFIX + field_)
        if col is None:
            return frame.iloc[0:0]
        mask &= col == level
    ref = at_reference(results, frame, exclude=exclude)
    return frame[mask & ref] if (mask & ref).any() else frame[mask]


def _setting_text(levels: dict[str, Any]) -> str:
    return ", ".join(f"{k}={fmt_level(v)}" for k, v in levels.items()) or "all trials"


def cls_loss_on(frame: pd.DataFrame) -> pd.Series:
    """Trials that trained with the classifier loss: variant classifier_loss and cls_weight > 0
    (results without a cls_weight column ran the config default, 0.1)."""
    on = frame.get(CONFIG_PREFIX + "variant", pd.Series("", index=frame.index)) == "classifier_loss"
    weight = frame.get(CONFIG_PREFIX + "cls_weight")
    if weight is not None:
        on &= weight.astype(float).fillna(0.1) > 0
    return on


def selection_metric(results: Results) -> tuple[str, str, str]:
    """(metric, mode, how it was chosen) for picking a best setting.

    The validation split when the results have it: the sweep's own metric if it is a
    ``val_*`` one, else its ``val_`` twin (test_psnr -> val_psnr), else val_psnr.  Without
    any validation column, the sweep's metric itself, and the text says which split chose."""
    metric, mode = results.spec.get("metric", "test_psnr"), results.spec.get("mode", "max")
    metric = metric[0] if isinstance(metric, list) and metric else metric
    mode = mode[0] if isinstance(mode, list) and mode else mode
    metric, mode = str(metric or "test_psnr"), str(mode or "max")
    present = set(present_metrics(results.completed, [metric, "val_psnr",
                                                      "val_" + metric.removeprefix("test_")]))
    if metric.startswith("val_") and metric in present:
        return metric, mode, f"{metric} (validation split, the sweep's metric)"
    twin = "val_" + metric.removeprefix("test_")
    if twin in present:
        return twin, mode, f"{twin} (validation split; the sweep's metric is {metric})"
    if "val_psnr" in present:
        return "val_psnr", "max", "val_psnr (validation split)"
    split = "test split" if metric.startswith("test_") else "final metric"
    return metric, mode, f"{metric} ({split}: these results have no validation metric)"


def _best_setting(results: Results, match: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The trials of the best setting (other factors' levels, seeds pooled) on the
    selection metric, and a text naming the setting and the split that chose it."""
    others = [f for f in results.factors if f not in ("variant", "dataset")]
    metric, mode, how = selection_metric(results)
    score = values(match, metric)
    if not others:
        return match, "all trials with the classifier loss on (cls_weight > 0)"
    if score.isna().all():
        return match, (f"all trials with the classifier loss on (cls_weight > 0); no {metric} "
                       f"to choose a setting with")
    keys = [CONFIG_PREFIX + f for f in others]
    means = score.groupby([match[k] for k in keys], dropna=False, sort=False).mean().dropna()
    best = means.idxmax() if mode == "max" else means.idxmin()
    best = best if isinstance(best, tuple) else (best,)
    chosen = pd.Series(True, index=match.index)
    for key, level in zip(keys, best):
        chosen &= match[key] == level
    setting = ", ".join(f"{f}={fmt_level(v)}" for f, v in zip(others, best))
    return match[chosen], (f"best setting with the classifier loss on (cls_weight > 0), "
                           f"chosen on {how}: {setting}")


def _reference_setting(results: Results, match: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    ref = at_reference(results, match, exclude=("variant", "dataset"))
    others = set(results.factors) - {"variant", "dataset"}
    if not others:
        return match, "all completed trials"
    if ref.any():
        return match[ref], "reference setting: " + ", ".join(
            f"{f}={fmt_level(results.reference(f)[0])}" for f in results.factors
            if f in others and results.reference(f)[0] is not None)
    return match, "all completed trials (none at the reference setting)"


def _distinct(frame: pd.DataFrame, field: str) -> list[Any]:
    col = frame.get(CONFIG_PREFIX + field)
    return [] if col is None else sorted_levels(col.dropna())


def _budget(match: pd.DataFrame, family: str) -> tuple[str, str]:
    """A plain statement of our data/model/epochs, and what differs from the paper."""
    datasets, presets = _distinct(match, "dataset"), _distinct(match, "preset")
    subsets, tests = _distinct(match, "train_subset"), _distinct(match, "test_subset")
    epochs = _distinct(match, "epochs")
    parts, reduced = [], []
    if "mnist-5k" in datasets:
        parts.append("mnist-5k (4,000 train / 1,000 test real digits)")
        reduced.append("5k-image MNIST subset")
    if any(s for s in subsets):
        parts.append(f"first {', '.join(f'{s:,}' for s in subsets if s)} training images")
        reduced.append("training subset")
    if any(s for s in tests):
        parts.append(f"first {', '.join(f'{s:,}' for s in tests if s)} test images")
        reduced.append("test subset")
    if not parts:
        parts.append(PAPER_DATA[family])
    parts.append(f"preset {'/'.join(map(str, presets)) or 'unknown'}")
    if presets != ["paper"]:
        reduced.append(f"{'/'.join(map(str, presets)) or 'unknown'} model (not the paper's)")
    if epochs:
        parts.append(f"{'/'.join(map(str, epochs))} epochs")
    comparable = "paper setting" if not reduced else "reduced: " + "; ".join(reduced)
    return ", ".join(parts), comparable


# ------------------------------------------------------------------------------------
# Pareto front, failures, overview

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
    twin = "val_" + reported.removeprefix("test_")
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


FAILURE_CORE = ["trial_id", "status", "epochs_done", "diverged_epoch", "diverged_step",
                "retries", "node", "device"]


def failures_table(results: Results) -> pd.DataFrame:
    """Trials that errored or diverged, with their factor levels, seed and message."""
    t = results.trials
    if "status" not in t:
        return pd.DataFrame(columns=FAILURE_CORE + ["error"])
    bad = t[t["status"].isin(["errored", "diverged"])]
    cfg = [CONFIG_PREFIX + f for f in results.factors + ["seed", "variant", "dataset"]]
    cols = [c for c in FAILURE_CORE if c in t] + list(dict.fromkeys(c for c in cfg if c in t))
    out = bad[cols + (["error"] if "error" in t else [])].rename(
        columns=lambda c: c.removeprefix(CONFIG_PREFIX))
    for c in ("epochs_done", "diverged_epoch", "diverged_step", "retries"):
        if c in out:  # nullable ints come back from Parquet as float when a null is present
            out[c] = out[c].astype("Int64")
    return out.sort_values(["status", "trial_id"]).reset_index(drop=True)


def status_counts(results: Results) -> dict[str, int]:
    if "status" not in results.trials:
        return {}
    return {str(k): int(v) for k, v in results.trials["status"].value_counts().items()}


COMPARE_METRICS = metrics_registry.names("compare")


def compare_sweeps(all_results: Iterable[Results],
                   metrics: Iterable[str] = COMPARE_METRICS) -> pd.DataFrame:
    """One row per sweep: data, model, trials, and each metric's mean and 95% CI at the
    sweep's reference setting (all completed trials when none sits at it)."""
    rows = []
    for res in all_results:
        done = res.completed
        ref = at_reference(res, done)
        sel = done[ref] if ref.any() else done
        row = {"sweep": res.name, "results": str(res.path),
               "dataset": "/".join(map(str, _distinct(done, "dataset"))) or "-",
               "variant": "/".join(map(str, _distinct(done, "variant"))) or "-",
               "preset": "/".join(map(str, _distinct(done, "preset"))) or "-",
               "epochs": "/".join(map(str, _distinct(done, "epochs"))) or "-",
               "trials": len(res.trials), "completed": len(done),
               "selection": "reference setting" if ref.any() and res.factors else
               "all completed trials"}
        for m in metrics:
            v = values(sel, m).dropna()
            row[f"{m}.mean"] = v.mean() if len(v) else np.nan
            iv = interval(v, metric_info(m).bounded, metric_info(m).scale)
            row[f"{m}.ci_low"], row[f"{m}.ci_high"] = iv.low, iv.high
            row[f"{m}.n"] = len(v)
        rows.append(row)
    return pd.DataFrame(rows)


def all_tables(results: Results) -> dict[str, pd.DataFrame]:
    """Every table of one sweep, by name (what the report prints; the benchmark's unit)."""
    return {"factors": factor_table(results), "effects": effects_table(results),
            "paper": paper_comparison(results), "equivalence": equivalence_table(results),
            "pareto": pareto_front(results), "failures": failures_table(results)}
