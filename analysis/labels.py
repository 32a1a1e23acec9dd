"""Label efficiency (issue 28): accuracy against the number of training labels.

A sweep whose trials ran ``label_counts`` (config) has, per trial, every label-efficiency
probe of ``contract.metrics.LABEL_PROBES`` at each count: a linear probe and the latent MLP on v
(every variant), a linear probe and the weight CNN on theta* (HyperINR variants), the pixel MLP
and CNN (the same for every variant of a seed: computed once, cached).  With every label
("all") a probe's metric is its full-label one (latent_acc, weight_acc, pixel_*_acc,
linear_acc, weight_linear_acc).

* ``label_table``: one row per variant x probe x label count, the mean over seeds and its
  95% interval: over seeds (the bounded logit-scale t-interval of ``analysis.stats``) widened
  to the two-level bootstrap's over seeds and test images where trials saved per-image
  predictions (``stats.union``, like every accuracy of the report).  The pixel probes form one
  extra "variant", ``pixels``, one trial per seed.
* ``label_differences``: each HyperINR variant minus each control (autoencoder,
  random_encoder) on the probes both have (v's), at each count, paired by seed (and the other
  factors' levels): the paired t-interval widened to the paired two-level bootstrap's, and
  its p; the report tests them in its one Holm family (``analysis.family``, key
  ``labels``).  Positive: the HyperINR's v is the more label-efficient.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from contract.fields import CONTROL_VARIANTS, HYPERINR_VARIANTS, LABEL_COUNTS
from contract.metrics import LABEL_PROBES, LabelProbe, label_metric
from contract.schema import CONFIG_PREFIX

from .load import Results
from .stats import ALPHA, coverage, holm, proportion_interval, union
from .columns import values
from .effects import compare_groups, pair_positions, paired_bootstrap, with_images

VARIANT = CONFIG_PREFIX + "variant"
SEED = CONFIG_PREFIX + "seed"
#: the pseudo-variant of the pixel probes (one trial per seed: every variant has the same)
PIXELS = "pixels"
#: the probes a HyperINR and a control both have, compared in ``label_differences``
COMPARED = tuple(p for p in LABEL_PROBES if p.reads == "v")

TABLE_COLUMNS = ["sweep", "variant", "probe", "reads", "count", "labels", "metric", "n", "mean",
                 "ci_low", "ci_high", "interval"]
DIFF_COLUMNS = ["sweep", "variant", "control", "probe", "count", "labels", "metric", "test",
                "n_pairs", "diff", "ci_low", "ci_high", "interval", "p", "p_holm",
                "significant"]


def label_counts(results: Results) -> list[Any]:
    """The label counts the sweep's completed trials ran (config ``label_counts``, written as
    text, "100,300,all"), in ``LABEL_COUNTS`` order; [] for results without them (every
    sweep before issue 28)."""
    col = results.completed.get(CONFIG_PREFIX + "label_counts")
    if col is None:
        return []
    seen = {item.strip() for text in col.dropna().astype(str) for item in text.split(",")
            if item.strip()}
    return [c for c in LABEL_COUNTS if str(c) in seen]


def all_label_count(results: Results) -> float:
    """The training labels "all" stands for (metric label_count_all), NaN if unknown."""
    vals = values(results.completed, "label_count_all").dropna()
    return float(vals.median()) if len(vals) else math.nan


def labels_text(count: Any, all_labels: float) -> str:
    if count != "all":
        return f"{count:,}"
    return f"all ({int(all_labels):,})" if np.isfinite(all_labels) else "all"


def _groups(results: Results) -> list[tuple[str, pd.DataFrame, list[LabelProbe]]]:
    """(variant, its trials, its probes): each variant's probes on v (and theta*), then the
    pixel probes once, from one trial per seed (the first variant that has them)."""
    done = results.completed
    variants = list(pd.unique(done[VARIANT].dropna())) if VARIANT in done else ["all trials"]
    out = []
    for variant in variants:
        trials = done[done[VARIANT] == variant] if VARIANT in done else done
        probes = [p for p in LABEL_PROBES if p.reads != "pixels"
                  and (not p.variants or variant in p.variants or variant == "all trials")]
        out.append((str(variant), trials, probes))
    pixel_probes = [p for p in LABEL_PROBES if p.reads == "pixels"]
    # the first trial of each seed: the pixel probes are cached per seed, the same numbers
    # (and the same per-image predictions) in every variant's trial of that seed
    one = done.drop_duplicates(SEED, keep="first") if SEED in done else done.iloc[:1]
    out.append((PIXELS, one, pixel_probes))
    return out


def label_table(results: Results) -> pd.DataFrame:
    """Accuracy (%) against training labels: one row per variant x probe x label count
    (module docstring); empty for a sweep without label counts."""
    counts = label_counts(results)
    if not counts:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    all_labels = all_label_count(results)
    rows = []
    for variant, trials, probes in _groups(results):
        for probe in probes:
            for count in counts:
                metric = label_metric(probe.metric, count)
                vals = values(trials, metric)
                ok = vals.notna()
                if not ok.any():
                    continue
                seed_iv = proportion_interval(vals[ok], 100.0)
                boot = paired_bootstrap(results, trials.loc[ok, "trial_id"], None, metric)
                iv = union(seed_iv, boot)
                rows.append({"sweep": results.name, "variant": variant, "probe": probe.label,
                             "reads": probe.reads, "count": count,
                             "labels": labels_text(count, all_labels), "metric": metric,
                             "n": int(ok.sum()), "mean": iv.mean, "ci_low": iv.low,
                             "ci_high": iv.high,
                             "interval": coverage(vals[ok], boot)})
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def label_differences(results: Results, alpha: float = ALPHA) -> pd.DataFrame:
    """Each HyperINR variant minus each control at each label count, on the probes on v,
    paired by seed and the other factors' levels (module docstring).  ``p_holm`` is Holm over
    this table (the report corrects over its whole family instead)."""
    counts = label_counts(results)
    done = results.completed.reset_index(drop=True)
    if not counts or VARIANT not in done:
        return pd.DataFrame(columns=DIFF_COLUMNS)
    present = set(done[VARIANT].dropna())
    keys = [SEED] + [CONFIG_PREFIX + f for f in results.factors if f != "variant"
                     and CONFIG_PREFIX + f in done]
    keys = [k for k in keys if k in done]
    all_labels = all_label_count(results)
    ids = done["trial_id"].to_numpy()
    rows = []
    for variant in [v for v in HYPERINR_VARIANTS if v in present]:
        pos = np.flatnonzero((done[VARIANT] == variant).to_numpy())
        for control in [c for c in CONTROL_VARIANTS if c in present]:
            cpos = np.flatnonzero((done[VARIANT] == control).to_numpy())
            i_a, i_b = pair_positions(done, pos, cpos, keys)
            for probe in COMPARED:
                for count in counts:
                    metric = label_metric(probe.metric, count)
                    shown = values(done, metric).to_numpy()  # percent
                    a, b = shown[pos], shown[cpos]
                    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
                    if not len(a) or not len(b):
                        continue
                    d = shown[i_a] - shown[i_b]
                    ok = ~np.isnan(d)
                    test = compare_groups(a, b, d[ok])
                    boot = paired_bootstrap(results, ids[i_a[ok]], ids[i_b[ok]], metric) \
                        if test["test"] == "paired t" else None
                    test = with_images(test, boot)
                    rows.append({"sweep": results.name, "variant": variant, "control": control,
                                 "probe": probe.label, "count": count,
                                 "labels": labels_text(count, all_labels), "metric": metric,
                                 **test})
    if not rows:
        return pd.DataFrame(columns=DIFF_COLUMNS)
    out = pd.DataFrame(rows)
    out["p_holm"] = holm(out["p"])
    out["significant"] = out["p_holm"] < alpha
    return out[DIFF_COLUMNS].reset_index(drop=True)


def curve_points(table: pd.DataFrame, all_labels: float) -> pd.Series:
    """Each row's x position: its count, and "all" at the training labels it stands for."""
    return table["count"].map(lambda c: all_labels if c == "all" else float(c))


__all__ = ["label_counts", "label_table", "label_differences", "curve_points", "PIXELS"]
