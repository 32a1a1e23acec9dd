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

import itertools
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import pandas as pd

from contract import metrics as metrics_registry
from contract.schema import CONFIG_PREFIX, METRIC_PREFIX

from .load import Results
from .stats import ALPHA, holm
from .columns import metric_info, present_metrics, values
from .levels import fmt_level, sorted_levels
from .selection import Best, best_config

#: metrics whose effects the model estimates (validation split: see the module doc), each
#: with the test metric that stands in for results without it
DESIGN_METRICS = {metrics_registry.get(name).val_twin: name
                  for name in metrics_registry.names("design")}
#: test metrics reported once, for the setting chosen on validation
REPORTED = tuple(metrics_registry.names("design"))
#: per-epoch metrics a rung can use (accuracies are measured once, at the end)
RUNG_METRICS = tuple(val for val in DESIGN_METRICS if metrics_registry.get(val).when == "epoch")
#: a column whose residual after projection on the earlier columns is below this (relative
#: to its own norm) is aliased: +-1 columns of a design are either orthogonal or identical
ALIAS_TOL = 1e-8

EFFECT_COLUMNS = ["sweep", "trials", "rung", "epoch", "n", "n_all", "metric", "unit", "term",
                  "kind", "low", "high", "effect", "ci_low", "ci_high", "p", "p_holm",
                  "significant", "share", "df_resid"]


@dataclass(frozen=True)
class Design:
    """The two-level design a sweep ran: factors in sweep order, each (low, high) level."""
    kind: str  # "design" (search: design) or "full two-level grid"
    factors: tuple[str, ...]
    levels: dict[str, tuple[Any, Any]]
    why: str  # one sentence for the report: how it was recognised

    @property
    def declared(self) -> bool:
        """Declared in sweep.yaml (``Results.declared_design``; a fraction has no seed pairs),
        not recognised in a full grid."""
        return self.kind == "design"

    def coded(self, frame: pd.DataFrame, factor: str) -> np.ndarray:
        """-1 at the low level, +1 at the high one (NaN elsewhere)."""
        col = frame[CONFIG_PREFIX + factor]
        low, high = self.levels[factor]
        return np.where(col == high, 1.0, np.where(col == low, -1.0, np.nan))


def detect_design(results: Results) -> tuple[Design | None, str]:
    """(the sweep's two-level design, why) or (None, why the model-based analysis does not
    apply).  A sweep is designed when sweep.yaml says ``search: design``
    (``Results.declared_design``); a grid counts too when every factor has exactly two levels
    and every combination of them ran."""
    declared = results.declared_design
    trials = results.trials
    factors = [f for f in results.factors if not results.is_continuous(f)]
    if len(factors) < 2 or len(factors) < len(results.factors):
        return None, ("one varied factor: the paired comparison against the reference is the "
                      "direct test" if len(results.factors) <= 1 else
                      "a sampled (continuous) factor: no two-level design")
    levels = {}
    for f in factors:
        lv = sorted_levels(trials[CONFIG_PREFIX + f].dropna())
        if len(lv) != 2:
            return None, (f"{f} has {len(lv)} levels: the model-based analysis needs two-level "
                          "factors")
        levels[f] = (lv[0], lv[1])
    if declared is not None:
        what = f"design: {declared.section}" + (f", resolution {declared.resolution}"
                                                if declared.resolution is not None else "")
        return Design("design", tuple(factors), levels,
                      f"sweep.yaml says search: design ({what})"), ""
    points = trials[[CONFIG_PREFIX + f for f in factors]].dropna().drop_duplicates()
    if len(points) < 2 ** len(factors):
        return None, (f"{len(points)} of the {2 ** len(factors)} combinations of the two-level "
                      "factors ran, and sweep.yaml does not declare a design")
    return Design("full two-level grid", tuple(factors), levels,
                  f"every factor has two levels and all {2 ** len(factors)} combinations "
                  "ran (a full two-level grid)"), ""


# ------------------------------------------------------------------------------------
# One model

@dataclass
class Fit:
    """One metric's model on one set of trials."""
    metric: str
    n: int
    effects: pd.DataFrame  # term, kind, effect, ci_low, ci_high, p, share
    variance: pd.DataFrame  # source, sum_sq, share, df
    aliased: dict[str, list[str]]  # term -> the estimated terms it is confounded with
    df_resid: float
    #: each factor's effect at each level of a factor it has an estimated interaction with
    conditional: pd.DataFrame = field(default_factory=pd.DataFrame)


def _terms(design: Design) -> list[tuple[str, ...]]:
    """Main effects, then every two-factor interaction, in sweep order."""
    mains = [(f,) for f in design.factors]
    return mains + list(itertools.combinations(design.factors, 2))


def term_name(term: tuple[str, ...]) -> str:
    return ":".join(term)


def _fit(design: Design, frame: pd.DataFrame, metric: str) -> Fit | None:
    """OLS of ``metric`` (display units) on the coded terms the data can estimate, seed as
    a block; None when too few trials carry the metric to estimate anything."""
    import statsmodels.formula.api as smf
    from statsmodels.stats.anova import anova_lm

    y = values(frame, metric).to_numpy(dtype=float)
    coded = {f: design.coded(frame, f) for f in design.factors}
    ok = np.isfinite(y) & np.all([np.isfinite(c) for c in coded.values()], axis=0)
    if ok.sum() < 3:
        return None
    seeds = frame.get(CONFIG_PREFIX + "seed", pd.Series(0, index=frame.index)).to_numpy()[ok]
    runs = run_blocks(frame)[ok]
    data = pd.DataFrame({"y": y[ok], "seed": seeds, "run": runs})
    base = [np.ones(ok.sum())]
    blocked = len(np.unique(seeds)) > 1
    if blocked:
        base += [(seeds == s).astype(float) for s in np.unique(seeds)[1:]]
    in_runs = len(np.unique(runs)) > 1
    if in_runs:
        base += [(runs == r).astype(float) for r in np.unique(runs)[1:]]
    kept, aliased, columns = [], {}, list(base)
    names = {}  # formula-safe column name -> term (factor names need not be identifiers)
    for i, term in enumerate(_terms(design)):
        col = np.prod([coded[f][ok] for f in term], axis=0)
        partners = _alias_partners(col, columns, len(base), kept)
        if partners is not None:
            aliased[term_name(term)] = partners
            continue
        columns.append(col)
        kept.append(term_name(term))
        names[f"t{i}"] = term_name(term)
        data[f"t{i}"] = col
    df_resid = len(data) - len(columns)
    if not kept or df_resid < 1:
        return None  # nothing to estimate, or an exact fit with no error estimate
    formula = "y ~ " + " + ".join((["C(seed)"] if blocked else []) +
                                  (["C(run)"] if in_runs else []) + list(names))
    with warnings.catch_warnings():  # a saturated seed block warns about its own dummies
        warnings.simplefilter("ignore")
        model = smf.ols(formula, data).fit()
        table = anova_lm(model, typ=2)
    ci = model.conf_int(alpha=ALPHA)
    total = float(((data["y"] - data["y"].mean()) ** 2).sum())
    share = table["sum_sq"] / total if total > 0 else table["sum_sq"] * np.nan
    rows = []
    for col, term in names.items():
        rows.append({"term": term, "kind": "main" if ":" not in term else "interaction",
                     "effect": 2 * model.params[col], "ci_low": 2 * ci.loc[col, 0],
                     "ci_high": 2 * ci.loc[col, 1], "p": model.pvalues[col],
                     "share": float(share[col])})
    rows += _block_rows(model, ci, share, runs) if in_runs else []
    sources = {"C(seed)": "seed (block)", "C(run)": "run (block)", "Residual": "residual"}
    variance = pd.DataFrame({"source": [names.get(i, sources.get(i, i)) for i in table.index],
                             "sum_sq": table["sum_sq"].to_numpy(), "share": share.to_numpy(),
                             "df": table["df"].to_numpy()})
    return Fit(metric, int(ok.sum()), pd.DataFrame(rows), variance, aliased,
               float(model.df_resid), _conditional(design, model, names, metric))


CONDITIONAL_COLUMNS = ["metric", "factor", "at", "at_level", "interaction", "effect", "ci_low",
                       "ci_high", "df_resid"]


def _block_rows(model: Any, ci: pd.DataFrame, share: pd.Series,
                runs: np.ndarray) -> list[dict[str, Any]]:
    """Each later run's shift from the first: the C(run) dummy's coefficient (a difference,
    not 2 b), its CI and p; its share of variance where it is the run term's one contrast."""
    levels = np.unique(runs)
    rows = []
    for r in levels[1:]:
        col = f"C(run)[T.{r}]"
        rows.append({"term": f"run: stage {r} - stage {levels[0]}", "kind": "block",
                     "effect": model.params[col], "ci_low": ci.loc[col, 0],
                     "ci_high": ci.loc[col, 1], "p": model.pvalues[col],
                     "share": float(share["C(run)"]) if len(levels) == 2 else np.nan})
    return rows


def run_blocks(frame: pd.DataFrame) -> np.ndarray:
    """Each trial's run: the stage that created it (trials.parquet's ``stage``), 1 where the
    column is missing or empty (rows written before it existed ran in the first stage)."""
    if "stage" not in frame:
        return np.ones(len(frame), dtype=int)
    return frame["stage"].fillna(1).astype(int).to_numpy()


SHIFT_COLUMNS = ["metric", "unit", "stage", "versus", "pairs", "shift", "ci_low", "ci_high",
                 "sd"]


def repeat_shifts(design: Design, frame: pd.DataFrame, metrics: Iterable[str]) -> pd.DataFrame:
    """The shift between runs measured on repeated trials alone (``extend --repeat``): for
    each (point, seed) that ran in the first stage and again in a later one, later minus
    first; per metric and later stage, their mean with a t-based 95% CI over the pairs.  No
    model and no assumption about ABCDE: the direct answer to "did the later run compute
    the same numbers?" (0 exactly, with sd 0, where nothing changed)."""
    from scipy import stats

    runs = run_blocks(frame)
    keys = [CONFIG_PREFIX + f for f in design.factors] + [CONFIG_PREFIX + "seed"]
    keys = [k for k in keys if k in frame]
    rows = []
    if len(np.unique(runs)) < 2 or not keys:
        return pd.DataFrame(rows, columns=SHIFT_COLUMNS)
    first = runs.min()
    for metric in metrics:
        y = values(frame, metric).to_numpy(dtype=float)
        data = frame[keys].assign(_y=y, _run=runs)
        base = data[data["_run"] == first].drop_duplicates(keys).set_index(keys)["_y"]
        for stage in sorted(set(runs) - {first}):
            later = data[data["_run"] == stage].drop_duplicates(keys).set_index(keys)["_y"]
            both = later.index.intersection(base.index)
            d = (later.loc[both] - base.loc[both]).dropna().to_numpy()
            if not len(d):
                continue
            mean, sd = float(d.mean()), float(d.std(ddof=1)) if len(d) > 1 else np.nan
            half = (stats.t.ppf(1 - ALPHA / 2, len(d) - 1) * sd / math.sqrt(len(d))
                    if len(d) > 1 else np.nan)
            rows.append({"metric": metric, "unit": metric_info(metric).unit, "stage": int(stage),
                         "versus": int(first), "pairs": len(d), "shift": mean,
                         "ci_low": mean - half, "ci_high": mean + half, "sd": sd})
    return pd.DataFrame(rows, columns=SHIFT_COLUMNS)


def _conditional(design: Design, model: Any, names: dict[str, str],
                 metric: str) -> pd.DataFrame:
    """Where two factors interact, neither has one effect: f's effect at g's low level is
    2 (b_f - b_fg), at its high level 2 (b_f + b_fg) (coded -1 / +1), with the model's
    t-based 95% CI from the coefficients' covariance.  One row per (factor, the other factor's
    level) of every estimated interaction whose main effects are estimated too.  These are
    the model's estimates, not further tests (no p-value: nothing new is tested)."""
    from scipy import stats

    col = {term: c for c, term in names.items()}
    cov = model.cov_params()
    q = stats.t.ppf(1 - ALPHA / 2, model.df_resid) if model.df_resid > 0 else np.nan
    rows = []
    for term, c in col.items():
        if ":" not in term:
            continue
        f, g = term.split(":")
        for factor, other in ((f, g), (g, f)):
            if factor not in col:
                continue
            a = col[factor]
            for sign, level in zip((-1, 1), design.levels[other]):
                effect = 2 * (model.params[a] + sign * model.params[c])
                var = 4 * (cov.loc[a, a] + cov.loc[c, c] + 2 * sign * cov.loc[a, c])
                half = q * math.sqrt(max(var, 0.0))
                rows.append({"metric": metric, "factor": factor, "at": other,
                             "at_level": level, "interaction": term, "effect": effect,
                             "ci_low": effect - half, "ci_high": effect + half,
                             "df_resid": float(model.df_resid)})
    return pd.DataFrame(rows, columns=CONDITIONAL_COLUMNS)


def _alias_partners(col: np.ndarray, columns: list[np.ndarray], n_base: int,
                    kept: list[str]) -> list[str] | None:
    """None when ``col`` adds a dimension to ``columns``; else the kept terms it is a
    combination of (empty: confounded with the intercept or the seed or run blocks, e.g. a factor
    that does not vary among these trials)."""
    basis = np.column_stack(columns)
    coef, *_ = np.linalg.lstsq(basis, col, rcond=None)
    residual = col - basis @ coef
    if np.linalg.norm(residual) > ALIAS_TOL * max(np.linalg.norm(col), 1.0):
        return None
    return [kept[j] for j, c in enumerate(coef[n_base:]) if abs(c) > 1e-6]


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
    #: the final models' conditional effects (``_conditional``): a factor's effect at each level
    #: of a factor it interacts with; the report shows those of significant interactions
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
        fit = _fit(design, frame, metric)
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
