"""Each factor level against the sweep's reference setting, per metric (``effects_table``):
paired by seed and the other factors' levels where trials match (a paired t-test), Welch's
t-test otherwise, widened by the test set's sampling error where per-image outputs exist
(``paired_bootstrap``, ``with_images``); Holm over the table."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import pandas as pd

from contract.schema import CONFIG_PREFIX

from . import images
from .columns import EFFECT_METRICS, metric_info, present_metrics, scaled
from .levels import sorted_levels
from .load import Results
from .stats import (ALPHA, EVIDENCE, Boot, Interval, holm, t_interval, two_level_bootstrap,
                    union, welch_interval)


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
