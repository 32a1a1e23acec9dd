"""A two-level design read back from a sweep's results (``detect_design``: its factors,
their coded levels, the terms it can estimate) and the linear model of one metric on it
(``fit_model``: main effects, two-factor interactions, seed and run blocks, each effect with
its 95% interval and share of variance; the conditional effects where an interaction is
estimated; the shift between runs of repeated points, ``repeat_shifts``).  The tables of a
sweep built from these are ``analysis.model_effects``'s.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import pandas as pd

from contract.schema import CONFIG_PREFIX

from .load import Results
from .stats import ALPHA
from .columns import metric_info, values
from .levels import sorted_levels

#: metrics whose effects the model estimates (validation split: see the module doc), each

#: to its own norm) is aliased: +-1 columns of a design are either orthogonal or identical
ALIAS_TOL = 1e-8

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


def fit_model(design: Design, frame: pd.DataFrame, metric: str) -> Fit | None:
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
               float(model.df_resid), conditional_effects(design, model, names, metric))


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


def conditional_effects(design: Design, model: Any, names: dict[str, str],
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
