"""The report's headline, one block per sweep: which factors changed accuracy and PSNR, by
how much and with what confidence, significant findings first (the paired comparisons
against the reference setting, or the linear model's terms for a declared design), then the
best setting chosen on validation."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .document import Doc
from .formatting import FAMILY, fmt_num, fmt_p_eq, status_text, unit_gap, unit_of
from .load import Results
from .model_effects import DesignAnalysis
from .columns import metric_info
from .failures import status_counts
from .levels import fmt_level
from .selection import best_config

MAX_HEADLINE = 12  # significant effects listed in the headline before "and N more"


def headline(doc: Doc, res: Results, eff: pd.DataFrame, multi: bool,
             da: DesignAnalysis | None = None) -> None:
    if multi:
        doc.h(3, res.name)
    counts = status_counts(res)
    if not len(res.completed):
        doc.warn(f"No trial finished in this sweep ({status_text(counts) or 'no trials'}); "
                 f"there are no final metrics to compare.")
        return
    if not res.factors:
        doc.p("This sweep varied no factor besides the seed; the tables give means and 95% "
              "CIs over seeds.")
        return
    if da is not None and da.design.declared:
        _design_headline(doc, da)  # a fraction has no seed pairs: the model answers
        return
    if da is not None and da.rung_epochs:
        doc.p("Early stopping: the comparisons below use only the trials the scheduler let "
              "finish, which favours each setting's lucky seeds; the rung table in the sweep's "
              "section gives the effects from every trial at the first rung.")
    sig = eff[eff["significant"]] if len(eff) else eff
    if not len(eff):
        # sampled factors (a random or Optuna search): no setting repeats, so there is no
        # reference to pair against; what such a sweep shows is in its importance section
        doc.p("No paired comparison: the sweep's settings were sampled (no two share every "
              "factor but one), so effects against a reference setting cannot be tested; the "
              "factor importance and the best configuration below describe it.")
        return
    if len(sig):
        _findings(doc, f"**{len(sig)} significant effect(s)** of the {len(eff)} comparisons "
                  f"against the reference setting (Holm-corrected p < 0.05 over {FAMILY}), "
                  "largest evidence first:", [_effect_sentence(r) for r in sig.itertuples()],
                  "effects table")
    else:
        doc.p(f"**No significant effect**: none of the {len(eff)} comparisons against the "
              f"reference setting survives Holm correction at p < 0.05 ({FAMILY}).")
    quiet = [f for f in res.factors if f not in set(sig["factor"])]
    if quiet and len(eff):
        doc.p("No significant effect on any metric: " + ", ".join(f"**{f}**" for f in quiet)
              + ".")
    rest = eff[~eff["significant"]].dropna(subset=["diff"]) if len(eff) else eff
    if len(rest) and len(sig):
        biggest = rest.reindex(rest["diff"].abs().sort_values(ascending=False).index).head(3)
        doc.p("Largest differences that are not significant: " + "; ".join(
            f"{r.factor}={fmt_level(r.level)} on {metric_info(r.metric).label} "
            f"{fmt_num(r.diff, sign=True)} {r.unit} (Holm p {fmt_p_eq(r.p_holm)})"
            for r in biggest.itertuples()) + ".")
    best = [b for b in (best_config(res, "test_psnr"), best_config(res, "latent_acc")) if b]
    if best:
        doc.p(" ".join(
            f"Best setting on {metric_info(b.chosen_on).label} ({_split(b.chosen_on)}): "
            f"{b.config}, {metric_info(b.reported).label} {fmt_num(b.value)}{unit_gap(b.reported)}"
            f"{unit_of(b.reported)} (chosen at {fmt_num(b.score)}{unit_gap(b.chosen_on)}"
            f"{unit_of(b.chosen_on)}; {b.n} trial{'s' if b.n != 1 else ''})." for b in best))


def _findings(doc: Doc, intro: str, sentences: list[str], table: str) -> None:
    """A headline's significant findings: at most MAX_HEADLINE, then how many more."""
    doc.p(intro)
    items = sentences[:MAX_HEADLINE]
    if len(sentences) > MAX_HEADLINE:
        items.append(f"... and {len(sentences) - MAX_HEADLINE} more in the {table} below.")
    doc.bullets(items)


def _effect_sentence(r: Any) -> str:
    n = f"{r.n_pairs} seed pairs" if r.test == "paired t" else f"{r.n_level} vs {r.n_ref} trials"
    return (f"**{r.factor} = {fmt_level(r.level)}** vs {fmt_level(r.reference)} "
            f"({r.reference_source}): "
            f"{metric_info(r.metric).label} **{fmt_num(r.diff, sign=True)} {r.unit}** "
            f"[95% CI {fmt_num(r.ci_low, sign=True)}, {fmt_num(r.ci_high, sign=True)}], "
            f"{r.test} over {n}, Holm-corrected p {fmt_p_eq(r.p_holm)}")


def _term_sentence(r: Any, da: DesignAnalysis | None = None) -> str:
    levels = (f" ({r.high} vs {r.low})" if r.kind in ("main", "block") else " (interaction)")
    text = (f"**{r.term}**{levels}: {metric_info(r.metric).label} "
            f"**{fmt_num(r.effect, sign=True)} {r.unit}** [95% CI {fmt_num(r.ci_low, sign=True)}, "
            f"{fmt_num(r.ci_high, sign=True)}], {fmt_num(100 * r.share, 1)}% of the variance, "
            f"Holm-corrected p {fmt_p_eq(r.p_holm)}")
    if r.kind == "main" and da is not None:
        # an average over a factor it interacts with is no one setting's effect: say both
        for metric, f, g in da.significant_pairs:
            if metric != r.metric or r.term not in (f, g):
                continue
            cond = da.conditional_for(metric, f"{f}:{g}")
            cond = cond[cond["factor"] == r.term]
            if len(cond):
                text += (f"; it interacts with {cond['at'].iloc[0]}: " + ", ".join(
                    f"{fmt_num(c.effect, sign=True)} {r.unit} at {c.at}={fmt_level(c.at_level)}"
                    for c in cond.itertuples()))
    return text


def _design_headline(doc: Doc, da: DesignAnalysis) -> None:
    eff = da.effects
    sig = eff[eff["significant"]] if len(eff) else eff
    if not len(eff):
        # sampled factors (a random or Optuna search): no setting repeats, so there is no
        # reference to pair against; what such a sweep shows is in its importance section
        doc.p("No paired comparison: the sweep's settings were sampled (no two share every "
              "factor but one), so effects against a reference setting cannot be tested; the "
              "factor importance and the best configuration below describe it.")
        return
    if len(sig):
        _findings(doc, f"**{len(sig)} significant term(s)** of the {len(eff)} of a linear model "
                  f"over the design (Holm-corrected p < 0.05 over {FAMILY}; "
                  f"{da.trials_label}), largest evidence first:",
                  [_term_sentence(r, da)
                   for r in sig.sort_values("p", kind="stable").itertuples()],
                  "model's table")
    else:
        doc.p(f"**No significant term**: none of the {len(eff)} terms of the linear model "
              f"survives Holm correction at p < 0.05 ({FAMILY}; {da.trials_label}).")
    if da.rung_epochs:
        doc.p("Early stopping: these final-epoch numbers use only the trials the scheduler let "
              "finish, which favours the settings' lucky seeds; the rung table below gives "
              "the effects from every trial at the first rung.")


def _split(metric: str) -> str:
    return "validation split" if metric.startswith("val_") else \
        "test split: no validation metric in these results"
