"""The report's section on a designed sweep: effects from the linear model of
``analysis.model_effects`` (why this analysis, the terms with Holm, conditional effects where
factors interact, aliases, shares of variance, the setting chosen on validation, the
interaction figures, the effects per rung under early stopping)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from . import plots
from .document import Doc
from .formatting import FAMILY, adjusted_p, fmt_num, fmt_p, unit_gap, unit_of
from .load import Results
from .model_effects import DesignAnalysis
from .columns import metric_info
from .levels import fmt_level


def section(doc: Doc, da: DesignAnalysis, figures: Sequence[tuple[Path, str]]) -> None:
    """Effects from the linear model: why this analysis, the effects with Holm, the aliases,
    the variance shares, the chosen setting's test numbers, interactions, rungs."""
    doc.h(3, "Effects from a linear model (designed sweep)")
    _method(doc, da)
    _effects(doc, da)
    _conditional(doc, da)
    _shifts(doc, da)
    _aliases(doc, da)
    _variance(doc, da)
    if da.selected:
        doc.p("The test split, reported once for the setting chosen on validation: " + " ".join(
            f"{metric_info(b.reported).label} {fmt_num(b.value)}{unit_gap(b.reported)}"
            f"{unit_of(b.reported)} at {b.config} (chosen on {b.chosen_on}, {b.n} trials)."
            for b in da.selected))
    for path, caption in figures:
        doc.figure(path, caption)
    _rungs(doc, da)


def _method(doc: Doc, da: DesignAnalysis) -> None:
    """Why the model answers, and what its effects mean."""
    paired = ("A fraction has no seed pairs (no two runs differ in one factor only), so the "
              "paired table is left out." if da.design.declared else
              "The paired comparisons against the reference follow below; the model adds "
              "the interactions.")
    doc.p(f"Analysis used: model-based, because {da.design.why}. Each metric gets one least-"
          "squares model with the factors coded -1 (low level) / +1 (high level), every main "
          "effect and every two-factor interaction the design can estimate, and the seed as "
          "a block. Effect = 2 x the coded coefficient = mean at high minus mean at low (an "
          "interaction: half the change of one factor's effect across the other's levels), "
          "in the metric's units (accuracy: percentage points). " + paired)


def _effects(doc: Doc, da: DesignAnalysis) -> None:
    """The model's terms, Holm-corrected over the report's family."""
    eff = da.effects
    if eff.empty:
        doc.p("No effect estimated: the model needs more completed trials than terms to "
              "estimate its error (a single-seed fraction is saturated: run more seeds).")
    else:
        df = ", ".join(sorted({f"{int(d)}" for d in eff["df_resid"]}))
        doc.table(_terms_print(eff), f"Trials: {da.trials_label}. Effects on the validation "
                  "split (the split that chooses settings); 95% CIs and p-values from the "
                  f"model's t-statistics ({df} residual degrees of freedom); p (Holm) "
                  f"corrected over {FAMILY}. Share of variance: the "
                  "term's type-II sum of squares over the metric's total sum of squares.")


def _shifts(doc: Doc, da: DesignAnalysis) -> None:
    """The runs as blocks: the shift measured on repeated trials alone."""
    shifts = da.shifts
    if not len(shifts):
        return
    doc.h(3, "The shift between runs, on repeated trials")
    doc.table(pd.DataFrame({
        "metric": [metric_info(m).label for m in shifts["metric"]],
        "run": [f"stage {r.stage} - stage {r.versus}" for r in shifts.itertuples()],
        "repeated trials": shifts["pairs"],
        "shift [95% CI]": [f"{fmt_num(r.shift, sign=True)} {r.unit} "
                           f"[{fmt_num(r.ci_low, sign=True)}, {fmt_num(r.ci_high, sign=True)}]"
                           for r in shifts.itertuples()],
        "sd of the differences": [fmt_num(v) for v in shifts["sd"]]}),
        "Each (point, seed) that ran in the first stage and again in a later one (launch.py "
        "extend --repeat): later minus first, mean over the pairs with a t-based 95% CI. "
        "Zero with sd 0: the later run computed the same numbers. The model above has the "
        "run as a block (rows of kind block), estimated from these pairs and the design "
        "together.")


def _conditional(doc: Doc, da: DesignAnalysis) -> None:
    """A factor's effect at each level of another where their interaction is significant."""
    conditional = _conditional_print(da)
    if not len(conditional):
        return
    doc.h(3, "Conditional effects where factors interact")
    doc.table(conditional, "Where an interaction is significant, a factor's main effect "
              "averages over the other factor's levels and describes neither: each row is "
              "the factor's effect at one level of the other, from the same model (2 x "
              "(b_factor -+ b_interaction), 95% CI from the coefficients' covariance). "
              "Estimates, not further tests. In a fraction, the interaction's estimate "
              "also holds the terms it is aliased with (the design's resolution).")


def _aliases(doc: Doc, da: DesignAnalysis) -> None:
    """The terms a fraction cannot separate, and what each estimate holds instead."""
    if not len(da.aliased):
        return
    doc.table(pd.DataFrame({"metric": [metric_info(m).label for m in da.aliased["metric"]],
                            "term not estimated": da.aliased["term"],
                            "confounded with (estimated as)": da.aliased["aliased with"]}),
              "Terms the design cannot separate from an earlier term (read off the model "
              "matrix: their column equals a combination of the columns before them); "
              "each estimate above holds the sum of the terms it is aliased with.")


def _variance(doc: Doc, da: DesignAnalysis) -> None:
    """Each metric's variance shared out over the terms, the seed block and the residual."""
    var = da.variance
    if not len(var):
        return
    wide = var.assign(label=[metric_info(m).label for m in var["metric"]]).pivot_table(
        index="source", columns="label", values="share", sort=False)
    shown = wide.map(lambda v: f"{fmt_num(100 * v, 1)}%").reset_index()
    doc.table(shown, "Share of each metric's variance (type-II sums of squares over the "
              "total sum of squares): main effects, interactions, the seed block and what "
              "no term explains (residual). In a balanced design the column adds to 100%.")


def _rungs(doc: Doc, da: DesignAnalysis) -> None:
    """Under early stopping: the effects at each rung from every trial that reached it."""
    if not da.rung_epochs:
        return
    doc.h(3, "Effects under early stopping: per rung")
    doc.p(f"A scheduler stopped trials early (rungs at epochs "
          f"{', '.join(map(str, da.rung_epochs))}; {da.rung_source}). The trials that "
          "finish are survivors, chosen partly for their luck, so effects computed on them "
          "lean towards zero for a setting whose bad seeds were stopped. Each rung's "
          "effects below use every trial that reached that rung's epoch, at that epoch "
          "(the first rung: every trial, no selection yet); the final rows use only the "
          f"survivors. p (Holm) is corrected over {FAMILY}, rungs included.")
    if len(da.rungs):
        doc.table(_terms_print(da.rungs, with_rung=True),
                  "Per-epoch validation metric at each rung's epoch; accuracies are "
                  "measured only at the end, so they have no rung estimate.")


def _terms_print(eff: pd.DataFrame, with_rung: bool = False) -> pd.DataFrame:
    out = pd.DataFrame({
        "metric": [metric_info(m).label for m in eff["metric"]],
        "term": eff["term"],
        "levels (low -> high)": [f"{r.low} -> {r.high}" if r.kind in ("main", "block")
                                 else "interaction" for r in eff.itertuples()],
        "effect [95% CI]": [f"{fmt_num(r.effect, sign=True)} {r.unit} "
                            f"[{fmt_num(r.ci_low, sign=True)}, "
                            f"{fmt_num(r.ci_high, sign=True)}]" for r in eff.itertuples()],
        "p": eff["p"].map(fmt_p), **adjusted_p(eff),
        # bold only what survives Holm: an uncorrected p < 0.05 is not a finding
        "significant": ["**yes**" if s else "no" for s in eff["significant"]],
        "share of variance": [f"{fmt_num(100 * v, 1)}%" for v in eff["share"]]})
    if with_rung:
        out.insert(0, "trials used", eff["trials"].to_numpy())
        out.insert(0, "rung (epoch)", [f"{r.rung} (epoch {r.epoch})" for r in eff.itertuples()])
        out = out.drop(columns=["levels (low -> high)", "share of variance"])
    return out


def _conditional_print(da: DesignAnalysis) -> pd.DataFrame:
    """Each factor of a significant interaction, its effect at each level of the other."""
    rows = []
    for metric, f, g in da.significant_pairs:
        for c in da.conditional_for(metric, f"{f}:{g}").itertuples():
            lo, hi = da.design.levels[c.factor]
            rows.append({"metric": metric_info(metric).label, "interaction": c.interaction,
                         "effect of": f"{c.factor} ({fmt_level(lo)} -> {fmt_level(hi)})",
                         "at": f"{c.at} = {fmt_level(c.at_level)}",
                         "effect [95% CI]": f"{fmt_num(c.effect, sign=True)} {unit_of(metric)} "
                                            f"[{fmt_num(c.ci_low, sign=True)}, "
                                            f"{fmt_num(c.ci_high, sign=True)}]"})
    return pd.DataFrame(rows)


def interaction_figures(res: Results, da: DesignAnalysis | None, folder: Path,
                        prefix: str) -> list[tuple[Path, str]]:
    """One figure per metric with an interaction significant after Holm."""
    if da is None:
        return []
    out = []
    by_metric: dict[str, list[tuple[str, str]]] = {}
    for metric, f, g in da.significant_pairs:
        by_metric.setdefault(metric, []).append((f, g))
    for metric, pairs in by_metric.items():
        fig = plots.interaction_plot(res, res.completed, metric, pairs)
        if fig is not None:
            path = plots.save(fig, folder / f"{prefix}-interactions-{plots.slug(metric)}.png")
            out.append((path, f"Interactions significant after Holm on "
                              f"{metric_info(metric).label}: mean at each level of the first "
                              "factor, one line per level of the second, 95% CI over trials "
                              f"({da.trials_label}). Non-parallel lines are the interaction."))
    return out
