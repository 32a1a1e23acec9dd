"""Effects from a linear model for designed sweeps, and effects early stopping does not bias.

A *designed* sweep runs two-level factors on a factorial design: ``search: design`` in
sweep.yaml (``design: full | fractional``, a ``resolution`` for a fraction), or any grid in
which every factor has two levels and every combination ran.  Pairing trials that differ in
one factor only (``analysis.effects.effects_table``) cannot work on a fraction, where no two
runs differ in one factor only, and it never estimates interactions.  Here each metric gets
one linear model instead (statsmodels OLS)::

    y = b0 + C(seed) + sum_f b_f x_f + sum_{f<g} b_fg x_f x_g + e,   x in {-1, +1}

* Factors are coded -1 (the lower level) / +1 (the higher): the columns of a two-level
  design are then orthogonal, and ``effect = 2 b`` is "mean at high minus mean at low" in
  the metric's units (an interaction's effect: half the difference between the other
  factor's effect at f high and at f low, the textbook definition).
* Seed is a block (``C(seed)``): a seed fixes initialisation, data order and masks for
  every point of the design, so its shared variance leaves the residual as pairing does.
* So is the run (``C(run)``), where the trials come from more than one stage (trials.parquet's
  ``stage``: a sweep run in chunks, an extension on another day or machine; rows without it
  ran in the first).  A half-fraction's two halves run as two stages confound the run with the
  defining contrast only (ABCDE: no main effect or two-factor interaction), and points
  repeated in the later run (``launch.py extend --repeat``) separate the two.  Each run's
  shift from the first is a row of kind ``block`` (the difference itself, not 2 b).
* Which terms a fraction can estimate is read off the model matrix, not taken on trust
  from the spec: a term whose column lies in the span of the columns before it (intercept,
  seed and run blocks, main effects, earlier interactions) is aliased, left out of the model and
  listed with the terms it is confounded with.  The same rule covers a design that lost
  trials (to failures, or to early stopping at a later rung).
* 95% CIs and p-values are the model's t-based ones (residual degrees of freedom);
  p-values are Holm-corrected over every term and metric of one table (``analysis.stats``),
  as the paired effects table is (the report: over all of its tests, ``analysis.family``).
  They are over seeds: the test set's own sampling error is not in them.
* Where two factors interact, a main effect averages over the other factor's levels; each
  factor's effect at each level of the other (``DesignAnalysis.conditional``) comes from the
  same fit, 2 (b_f -+ b_fg), with a CI from the coefficients' covariance.
* Share of variance: each term's type-II sum of squares (``anova_lm(typ=2)``) over the
  total sum of squares of the metric about its mean.  The seed block and the residual get
  rows too; in a balanced design the shares add to 100%.

Effects are estimated on the validation split (val_psnr, val_latent_acc, val_weight_acc):
the split that chooses settings, where a design's answer is used.  The test split is
reported once, for the setting chosen on validation (``selection.best_config``), as elsewhere
in the project.  Results without a validation metric fall back to the test metric, and the
table says so.

Early stopping (ASHA).  A scheduler stops the trials that look bad at a rung, so the trials
that finish are survivors, selected partly on their noise: effects computed on them are
biased (the bad settings' survivors are their lucky seeds).  So effects are also estimated
at each rung, from the per-epoch metric at that rung's epoch, using every trial that reached
it: at the first rung that is every trial (no selection yet, unbiased for the effect at that
epoch); later rungs hold the trials earlier rungs kept.  The final-epoch effects use the
trials the scheduler did not stop and say so, with their count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

import pandas as pd

from contract import metrics as metrics_registry
from contract.schema import CONFIG_PREFIX, METRIC_PREFIX

from .load import Results
from .stats import ALPHA, holm
from .columns import metric_info, present_metrics
from .levels import fmt_level
from .selection import Best, best_config

#: metrics whose effects the model estimates (validation split: see the module doc), each
from .design_model import (CONDITIONAL_COLUMNS, SHIFT_COLUMNS, Design, Fit, detect_design,
                           fit_model, repeat_shifts)

#: with the test metric that stands in for results without it
DESIGN_METRICS = {metrics_registry.get(name).val_twin: name
                  for name in metrics_registry.names("design")}
#: test metrics reported once, for the setting chosen on validation
REPORTED = tuple(metrics_registry.names("design"))
#: per-epoch metrics a rung can use (accuracies are measured once, at the end)
RUNG_METRICS = tuple(val for val in DESIGN_METRICS if metrics_registry.get(val).when == "epoch")
#: a column whose residual after projection on the earlier columns is below this (relative

EFFECT_COLUMNS = ["sweep", "trials", "rung", "epoch", "n", "n_all", "metric", "unit", "term",
                  "kind", "low", "high", "effect", "ci_low", "ci_high", "p", "p_holm",
                  "significant", "share", "df_resid"]


# ------------------------------------------------------------------------------------
# Tables of a sweep

@dataclass
class DesignAnalysis:
    """Everything the report prints about a designed sweep (``design_analysis``)."""
    design: Design
    effects: pd.DataFrame  # final effects (EFFECT_COLUMNS), Holm over the table
    variance: pd.DataFrame  # metric, source, share, ... of the final models
    aliased: pd.DataFrame  # metric, term, aliased with
    rungs: pd.DataFrame  # EFFECT_COLUMNS per rung and the final epoch; Holm per rung
    rung_epochs: list[int]
    rung_source: str  # where the rung epochs came from ("" without early stopping)
    trials_label: str  # which trials the final effects use
    selected: list[Best] = field(default_factory=list)
    #: the final models' conditional effects (``conditional_effects``): a factor's effect at
    #: each level of a factor it interacts with; the report shows those of significant
    #: interactions
    conditional: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=CONDITIONAL_COLUMNS))
    #: the shift between runs on repeated trials alone (``repeat_shifts``)
    shifts: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SHIFT_COLUMNS))

    def conditional_for(self, metric: str, term: str) -> pd.DataFrame:
        """The conditional effects of one interaction term (``f:g``) on ``metric``."""
        c = self.conditional
        return c[(c["metric"] == metric) & (c["interaction"] == term)] if len(c) else c

    @property
    def significant_pairs(self) -> list[tuple[str, str, str]]:
        """(metric, factor, factor) of each interaction significant after Holm, smallest p
        first."""
        sig = self.effects[self.effects["significant"] & (self.effects["kind"] == "interaction")]
        sig = sig.sort_values("p", kind="stable")
        return [(r.metric, *r.term.split(":")) for r in sig.itertuples()]


def design_metrics(frame: pd.DataFrame) -> list[str]:
    """The metrics the model uses: each validation metric present, else its test twin."""
    out = []
    for val, test in DESIGN_METRICS.items():
        out += present_metrics(frame, [val]) or present_metrics(frame, [test])
    return out


def early_stopping(results: Results) -> tuple[list[int], str]:
    """(epochs of the rungs where a scheduler could stop trials, where they came from).

    From sweep.yaml's ASHA section when it has one: rungs at grace_period * reduction_factor^k
    below max_t (= the trials' epochs; Ray's ASHA records a trial at a rung on the first
    epoch >= the milestone, hence the ceiling).  Else, when trials were ``stopped``, the
    epochs where they stopped, from epochs/.  ([], "") when nothing stopped trials early."""
    sched = results.spec.get("scheduler")
    epochs = results.trials.get(CONFIG_PREFIX + "epochs")
    max_t = int(epochs.max()) if epochs is not None and epochs.notna().any() else None
    if isinstance(sched, dict) and sched.get("type") == "asha" and max_t:
        grace = min(int(sched.get("grace_period", 1)), max_t)
        factor = float(sched.get("reduction_factor", 2))
        rungs, k = [], 0
        while grace * factor ** k < max_t:
            rungs.append(int(math.ceil(grace * factor ** k - 1e-9)))
            k += 1
        return sorted(set(rungs)), (f"sweep.yaml's scheduler: ASHA, grace_period {grace}, "
                                    f"reduction_factor {factor:g}, max_t {max_t} epochs")
    status = results.trials.get("status")
    if status is None or not (status == "stopped").any():
        return [], ""
    stopped = results.trials.loc[status == "stopped", "trial_id"]
    ep = results.epochs
    last = ep[ep["trial_id"].isin(stopped)].groupby("trial_id")["epoch"].max()
    if last.empty:
        return [], ""
    return sorted(int(e) for e in last.unique()), ("inferred: the epochs where the stopped "
                                                   "trials' curves end in epochs/")


def _table(results: Results, design: Design, frame: pd.DataFrame, metrics: Iterable[str],
           label: str, rung: str, epoch: int | None, n_all: int,
           fits: list[Fit] | None = None) -> pd.DataFrame:
    """EFFECT_COLUMNS rows of every metric's model on ``frame``; Holm over them all."""
    rows = []
    for metric in metrics:
        fit = fit_model(design, frame, metric)
        if fit is None:
            continue
        if fits is not None:
            fits.append(fit)
        for r in fit.effects.itertuples():
            low, high = ("-", "-") if r.kind == "interaction" else \
                tuple(r.term.split(": ", 1)[1].split(" - ")[::-1]) if r.kind == "block" else \
                tuple(fmt_level(v) for v in design.levels[r.term])
            rows.append({"sweep": results.name, "trials": label, "rung": rung, "epoch": epoch,
                         "n": fit.n, "n_all": n_all, "metric": metric,
                         "unit": metric_info(metric).unit, "term": r.term, "kind": r.kind,
                         "low": low, "high": high, "effect": r.effect, "ci_low": r.ci_low,
                         "ci_high": r.ci_high, "p": r.p, "share": r.share,
                         "df_resid": fit.df_resid})
    out = pd.DataFrame(rows, columns=EFFECT_COLUMNS)
    if len(out):
        out["p_holm"] = holm(out["p"])
        out["significant"] = out["p_holm"] < ALPHA
    return out


def rung_frame(results: Results, epoch: int, metrics: Iterable[str]) -> pd.DataFrame:
    """Every trial with a per-epoch value at ``epoch``: its config columns and that epoch's
    metrics (under ``metric.*``, so ``values`` reads them as it reads final metrics)."""
    ep = results.epochs
    cols = [METRIC_PREFIX + m for m in metrics if METRIC_PREFIX + m in ep]
    at = ep.loc[ep["epoch"] == epoch, ["trial_id"] + cols]
    config = [c for c in results.trials.columns if c.startswith(CONFIG_PREFIX)]
    return results.trials[["trial_id", "status"] + config].merge(at, on="trial_id")


def design_analysis(results: Results) -> DesignAnalysis | None:
    """The model-based analysis of a designed sweep; None when it is not one
    (``detect_design`` says why)."""
    design, _ = detect_design(results)
    if design is None:
        return None
    rung_epochs, source = early_stopping(results)
    done = results.completed
    n_all = len(results.trials)
    stopped = int((results.trials.get("status", pd.Series(dtype=str)) == "stopped").sum())
    if rung_epochs or stopped:
        label = (f"survivors only: the {len(done)} of {n_all} trials not stopped by the "
                 f"scheduler ({stopped} stopped early)")
    else:
        label = f"all {len(done)} completed trials (of {n_all})"
    fits: list[Fit] = []
    effects = _table(results, design, done, design_metrics(done), label, "final", None, n_all,
                     fits)
    variance = pd.concat([f.variance.assign(metric=f.metric) for f in fits],
                         ignore_index=True) if fits else pd.DataFrame(
        columns=["source", "sum_sq", "share", "df", "metric"])
    aliased = pd.DataFrame([{"metric": f.metric, "term": t, "aliased with":
                             " = ".join(p) if p else "the intercept, seed or run blocks"}
                            for f in fits for t, p in f.aliased.items()],
                           columns=["metric", "term", "aliased with"])
    rungs = _rung_tables(results, design, rung_epochs, n_all)
    selected = [b for b in (best_config(results, m) for m in REPORTED) if b]
    conditional = pd.concat([f.conditional for f in fits if len(f.conditional)],
                            ignore_index=True) if any(len(f.conditional) for f in fits) else \
        pd.DataFrame(columns=CONDITIONAL_COLUMNS)
    shifts = repeat_shifts(design, done, design_metrics(done) + present_metrics(done, REPORTED))
    return DesignAnalysis(design, effects, variance, aliased, rungs, rung_epochs, source, label,
                          selected, conditional, shifts)


def _rung_tables(results: Results, design: Design, rung_epochs: list[int],
                 n_all: int) -> pd.DataFrame:
    """Effects at each rung from every trial that reached it, then at the final epoch from
    the trials not stopped; Holm within each rung (each is its own question: the effect
    after that many epochs)."""
    if not rung_epochs:
        return pd.DataFrame(columns=EFFECT_COLUMNS)
    metrics = present_metrics(results.epochs, RUNG_METRICS)
    parts = []
    for k, epoch in enumerate(rung_epochs, start=1):
        frame = rung_frame(results, epoch, metrics)
        label = (f"every trial that reached epoch {epoch}: {len(frame)} of {n_all}"
                 + (" (no selection yet)" if k == 1 and len(frame) == n_all else
                    " (kept by earlier rungs: selected, like survivors)" if k > 1 else ""))
        parts.append(_table(results, design, frame, metrics, label, f"rung {k}", epoch, n_all))
    done = results.completed
    if len(done) and "epochs_done" in done:
        final = int(done["epochs_done"].max())
        frame = rung_frame(results, final, metrics)
        frame = frame[frame["status"] == "completed"]
        parts.append(_table(results, design, frame, metrics,
                            f"survivors only: {len(frame)} of {n_all} trials not stopped by the "
                            "scheduler", "final", final, n_all))
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=EFFECT_COLUMNS)
