"""The paper's numbers beside ours (``paper_comparison``) and the sweep file's other
pre-stated margins (``equivalence_table``): each an equivalence test (TOST) against a margin
stated before the run, on the setting the selection rule chose or the reference setting."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from contract.schema import CONFIG_PREFIX

from .columns import metric_info, values
from .effects import pair_positions, paired_bootstrap
from .levels import at_reference, distinct_levels, fmt_level
from .load import Results
from .selection import selection_metric
from .stats import ALPHA, Equivalence, coverage, equivalence, holm, interval, union


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


def _budget(match: pd.DataFrame, family: str) -> tuple[str, str]:
    """A plain statement of our data/model/epochs, and what differs from the paper."""
    datasets, presets = distinct_levels(match, "dataset"), distinct_levels(match, "preset")
    subsets, tests = distinct_levels(match, "train_subset"), distinct_levels(match, "test_subset")
    epochs = distinct_levels(match, "epochs")
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
