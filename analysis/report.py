"""The report: Markdown (``report.md`` + ``figures/*.png``) and one self-contained HTML file
(``index.html``, figures embedded as base64 PNG, inline CSS, no external link), so it opens
offline and survives being mailed around.

Both formats render the same list of blocks (heading, paragraph, bullets, table, figure),
built once by ``_document``: one content model, two thin renderers, no Markdown-to-HTML
converter to depend on.  The document leads with a headline answering "which factors changed
accuracy and PSNR, by how much, with what confidence" (significant effects first: paired
comparisons for one-factor sweeps and grids, the linear model of ``analysis.model_effects``
for a sweep that declares ``search: design``), then each
sweep's tables and figures, and last the trials' own pictures (``images/<trial>/*.png``): each
factor level's best trial's originals against reconstructions, and the image operations
beside their baselines.  The preamble states the interval method (``analysis.stats``), the
equivalence tests against the sweep file's pre-stated margins, and the one Holm family every
bold verdict of the document belongs to (``analysis.family``).
"""

from __future__ import annotations

import base64
import html
import math
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

from hinr.metrics import LOSS_WEIGHTS
from sweeps.schema import CONFIG_PREFIX

from . import plots
from .model_effects import DesignAnalysis, design_analysis, detect_design
from .explore import Explore, prepare as prepare_explore, section as explore_section
from .load import Results, load_results, summarize_problems
from .claims import claims_table
from .labels import label_differences, label_table
from . import family as families
from .stats import BOOT_METHOD, EQUIVALENCE_METHOD, METHOD
from .tables import (BASELINE_METRICS, BASELINES, COMPARE_METRICS, OP_DIFFERENCES, best_config, compare_sweeps,
                     effects_table, equivalence_table, factor_table, failures_table, metric_info,
                     fmt_level, paper_comparison, pareto_front, selection_metric,
                     status_counts,
                     _sorted_levels)

FORMATS = ("md", "html")
#: (how the trials were chosen, [(group title, [(png, caption)])]): plots.example_pictures
Pictures = tuple[str, list[tuple[str, list[tuple[Path, str]]]]]
MAX_HEADLINE = 12  # significant effects listed in the headline before "and N more"
MAX_FAILURES = 50  # failure rows printed (the DataFrame has them all)


# ------------------------------------------------------------------------------------
# Content model

@dataclass
class Block:
    kind: str  # h1 h2 h3 p warn bullets table figure gallery raw
    text: str = ""
    items: Sequence[Any] = ()  # bullets: str; gallery: (path, caption)
    table: pd.DataFrame | None = None
    path: Path | None = None


class Doc:
    def __init__(self) -> None:
        self.blocks: list[Block] = []

    def h(self, level: int, text: str) -> None:
        self.blocks.append(Block(f"h{level}", text))

    def p(self, text: str) -> None:
        self.blocks.append(Block("p", text))

    def warn(self, text: str) -> None:
        self.blocks.append(Block("warn", text))

    def bullets(self, items: Sequence[str]) -> None:
        if items:
            self.blocks.append(Block("bullets", items=list(items)))

    def table(self, frame: pd.DataFrame, caption: str = "") -> None:
        self.blocks.append(Block("table", caption, table=frame))

    def figure(self, path: Path, caption: str) -> None:
        self.blocks.append(Block("figure", caption, path=path))

    def raw(self, markup: str, markdown: str) -> None:
        """Ready HTML (an interactive widget, ``analysis.explore``); Markdown shows the
        ``markdown`` text in its place (nothing when empty)."""
        self.blocks.append(Block("raw", markdown, items=[markup]))

    def gallery(self, title: str, items: Sequence[tuple[Path, str]]) -> None:
        """Small pictures side by side (HTML) or in sequence (Markdown), under a title."""
        self.blocks.append(Block("gallery", title, items=list(items)))


# ------------------------------------------------------------------------------------
# Number formatting

def _num(x: Any, digits: int = 2, sign: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def _p(p: float) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "-"
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}" if p < 0.01 else f"{p:.3f}"


def _p_eq(p: float) -> str:
    text = _p(p)
    return text if text.startswith("<") else f"= {text}"


def _cell(row: pd.Series, n_main: int | None) -> str:
    """mean ± half-width (sd) for t-intervals; mean [low, high] (sd) for a proportion's
    bounded, asymmetric interval."""
    text = _num(row["mean"])
    if not math.isnan(row["ci_half"]):
        if metric_info(str(row.name)).bounded:
            text += f" [{_num(row['ci_low'])}, {_num(row['ci_high'])}] (sd {_num(row['std'])})"
        else:
            text += f" ± {_num(row['ci_half'])} (sd {_num(row['std'])})"
    if n_main is None or row["n"] != n_main:
        text += f" [n={row['n']}]"
    return text


def _unit(metric: str) -> str:
    return metric_info(metric).unit


# ------------------------------------------------------------------------------------
# Tables for print

def _factor_tables(ft: pd.DataFrame, factor: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(main metrics, image operations beside baselines) for one factor, one row per level."""
    part = ft[ft["factor"] == factor]
    main_rows, op_rows = [], []
    for level in _sorted_levels(part["level"]):
        rows = part[part["level"] == level].set_index("metric")
        n_main = int(rows["n"].max())
        seeds = int(rows["seeds"].max())
        label = f"{fmt_level(level)} (ref)" if rows["reference"].any() else fmt_level(level)
        main = {factor if factor != "(all trials)" else "cell": label,
                "n (seeds)": f"{n_main} ({seeds})"}
        for m in rows.index:
            if m in BASELINE_METRICS or m in OP_DIFFERENCES:
                continue
            main[f"{metric_info(m).label} ({_unit(m)})"] = _cell(rows.loc[m], n_main)
        main_rows.append(main)
        ops = {factor if factor != "(all trials)" else "cell": label}
        for op, bases in BASELINES.items():
            if op in rows.index:
                named = [f"{metric_info(b).short} {_num(rows.loc[b]['mean'])}" for b in bases
                         if b in rows.index]
                ops[f"{metric_info(op).label}: ours vs baselines (dB)"] = \
                    f"{_cell(rows.loc[op], n_main)} vs {', '.join(named) or '-'}"
        if len(ops) > 1:
            op_rows.append(ops)
    return pd.DataFrame(main_rows), pd.DataFrame(op_rows)


def _effects_print(eff: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "factor": eff["factor"],
        "level vs reference": [f"{fmt_level(r.level)} vs {fmt_level(r.reference)}"
                               for r in eff.itertuples()],
        "metric": [metric_info(m).label for m in eff["metric"]],
        "difference [95% CI]": [f"{_num(r.diff, sign=True)} {r.unit} [{_num(r.ci_low, sign=True)}"
                                f", {_num(r.ci_high, sign=True)}]" for r in eff.itertuples()],
        "interval over": eff["interval"] if "interval" in eff else "seeds only",
        "test (n)": [f"{r.test} ({r.n_pairs} pairs)" if r.test == "paired t" else
                     f"{r.test} ({r.n_level} vs {r.n_ref})" for r in eff.itertuples()],
        "p": [_p(p) for p in eff["p"]],
        "p (Holm)": [_p(p) for p in eff["p_holm"]],
        "significant": ["**yes**" if s else "no" for s in eff["significant"]],
    })


def _effect_sentence(r: Any) -> str:
    n = f"{r.n_pairs} seed pairs" if r.test == "paired t" else f"{r.n_level} vs {r.n_ref} trials"
    return (f"**{r.factor} = {fmt_level(r.level)}** vs {fmt_level(r.reference)} "
            f"({r.reference_source}): "
            f"{metric_info(r.metric).label} **{_num(r.diff, sign=True)} {r.unit}** "
            f"[95% CI {_num(r.ci_low, sign=True)}, {_num(r.ci_high, sign=True)}], "
            f"{r.test} over {n}, Holm-corrected p {_p_eq(r.p_holm)}")


#: verdicts a report may bold: each one survived the document's Holm family
BOLD_VERDICTS = ("equivalent", "better", "worse")


def _verdict_cell(verdict: str) -> str:
    return f"**{verdict}**" if verdict in BOLD_VERDICTS else verdict


def _margin_cell(r: Any) -> str:
    if not isinstance(r.margin, float) or math.isnan(r.margin):
        return "-"
    return f"+-{_num(r.margin)} ({r.margin_source}; stated {r.stated})"


def _paper_print(pc: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "result": pc["claim"], "variant": pc["variant"],
        "paper (%)": pc["paper"],
        "ours (%) [95% CI]": [f"{_num(r.ours)} [{_num(r.ci_low)}, {_num(r.ci_high)}]"
                              if r.n else "left out" for r in pc.itertuples()],
        "interval over": pc["interval"],
        "n": pc["n"], "ours - paper (pp)": [_num(d, sign=True) for d in pc["diff"]],
        "margin (pp; source; stated)": [_margin_cell(r) for r in pc.itertuples()],
        "90% interval (TOST)": [f"[{_num(r.tost_low)}, {_num(r.tost_high)}]"
                                if isinstance(r.tost_low, float) and not math.isnan(r.tost_low)
                                else "-" for r in pc.itertuples()],
        "p (Holm)": [_p(p) for p in pc["p_holm"]],
        "verdict": [_verdict_cell(v) for v in pc["verdict"]],
        "our data and budget": pc["budget"], "comparable?": pc["comparable"],
        "trials used": pc["selection"],
    })


#: how captions name the one testing family of a report (analysis.family)
FAMILY = "the report's single testing family, stated in the preamble"


def _tested_tables(res: Results, eff: pd.DataFrame,
                   da: DesignAnalysis | None) -> dict[str, pd.DataFrame]:
    """The tables of one sweep whose verdicts the report prints (``analysis.family``'s keys):
    the paired effects where they are printed (not for a fraction: its model answers), the
    model's terms and rungs, the claims and the equivalence tests."""
    designed = da is not None and da.design.declared
    return {"effects": eff if not designed else eff.iloc[0:0],
            "design": da.effects if da is not None else pd.DataFrame(),
            "rungs": da.rungs if da is not None else pd.DataFrame(),
            "claims": claims_table(res), "labels": label_differences(res),
            "paper": paper_comparison(res), "equivalence": equivalence_table(res)}


def _labels_section(doc: Doc, res: Results, diffs: pd.DataFrame,
                    figures: Sequence[tuple[Path, str]]) -> None:
    """Label efficiency (issue 28), for a sweep whose trials ran label counts: accuracy
    against training labels per variant and probe, its figure, and the paired differences
    HyperINR minus each control, tested in the report's family."""
    table = label_table(res)
    if table.empty:
        return
    doc.h(3, "Label efficiency: accuracy against training labels")
    doc.p("Each probe trained again on n class-balanced training labels (a seeded subset, "
          "the same for every variant of a seed, so variants are compared on the same labels; "
          "smaller subsets inside larger ones) and scored on the whole test split. Statistics "
          "of the probes' inputs come from every training image: only labels are counted. "
          "With every label ('all') the latent MLP, weight CNN and pixel probes are the "
          "full-label ones of the tables above. A probe on n < all labels trains for at least "
          "500 steps. The pixel probes do not depend on the variant: one row per seed.")
    doc.table(pd.DataFrame({
        "variant": table["variant"], "probe": table["probe"], "labels": table["labels"],
        "accuracy (%) [95% CI]": [f"{_num(r.mean)} [{_num(r.ci_low)}, {_num(r.ci_high)}]"
                                  for r in table.itertuples()],
        "n (seeds)": table["n"], "interval over": table["interval"]}),
        "Mean over seeds; 95% interval over seeds (logit-scale t) widened to the two-level "
        "bootstrap's over seeds and test images where 'interval over' says so.")
    for path, caption in figures:
        doc.figure(path, caption)
    if len(diffs):
        doc.h(3, "Label efficiency: HyperINR minus each control")
        doc.table(pd.DataFrame({
            "difference": [f"{r.variant} minus {r.control}" for r in diffs.itertuples()],
            "probe": diffs["probe"], "labels": diffs["labels"],
            "difference [95% CI]": [f"{_num(r.diff, sign=True)} pp [{_num(r.ci_low, sign=True)}"
                                    f", {_num(r.ci_high, sign=True)}]"
                                    for r in diffs.itertuples()],
            "interval over": diffs["interval"],
            "test (n)": [f"{r.test} ({r.n_pairs} pairs)" if r.test == "paired t" else r.test
                         for r in diffs.itertuples()],
            "p": diffs["p"].map(_p), "p (Holm)": diffs["p_holm"].map(_p),
            "significant": ["**yes**" if s else "no" for s in diffs["significant"]]}),
            "Accuracy of the HyperINR's probe minus the control's, in percentage points, "
            "paired by seed (same labels, same test images): the paired t-interval widened "
            "to the paired two-level bootstrap's where 'interval over' says so. Positive: the "
            "HyperINR's v is the more label-efficient. p (Holm) corrected over "
            f"{FAMILY}; a no-difference claim is tested only against a margin stated in the "
            "sweep file (the equivalence table).")


def _equivalence_section(doc: Doc, eq: pd.DataFrame) -> None:
    """The sweep file's pre-stated equivalence tests that are not paper rows (no-effect
    claims, other references)."""
    if not len(eq):
        return
    doc.h(3, "Equivalence tests stated before the run")
    doc.table(pd.DataFrame({
        "name": eq["name"], "metric": [metric_info(m).label for m in eq["metric"]],
        "compared": eq["compared"],
        "reference +- margin": [f"{_num(r.reference)} +- {_num(r.margin)} {r.unit}"
                                for r in eq.itertuples()],
        "margin from (stated)": [f"{r.margin_source} ({r.stated})" for r in eq.itertuples()],
        "estimate [90% interval]": [f"{_num(r.estimate)} [{_num(r.tost_low)}, "
                                    f"{_num(r.tost_high)}]" for r in eq.itertuples()],
        "interval over": eq["interval"], "n": eq["n"],
        "p (Holm)": [_p(p) for p in eq["p_holm"]],
        "verdict": [_verdict_cell(v) for v in eq["verdict"]]}),
        "Each row a margin written in the sweep file's equivalence: section before the run "
        "(source and date beside it). TOST: equivalent when the 90% interval lies inside "
        "reference +- margin; better / worse when it lies wholly beyond it; otherwise "
        f"inconclusive. p (Holm) over {FAMILY}.")


# ------------------------------------------------------------------------------------
# The document

def _headline(doc: Doc, res: Results, eff: pd.DataFrame, multi: bool,
              da: DesignAnalysis | None = None) -> None:
    if multi:
        doc.h(3, res.name)
    counts = status_counts(res)
    if not len(res.completed):
        doc.warn(f"No trial finished in this sweep ({_status_text(counts) or 'no trials'}); "
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
            f"{_num(r.diff, sign=True)} {r.unit} (Holm p {_p_eq(r.p_holm)})"
            for r in biggest.itertuples()) + ".")
    best = [b for b in (best_config(res, "test_psnr"), best_config(res, "latent_acc")) if b]
    if best:
        doc.p(" ".join(
            f"Best setting on {metric_info(b.chosen_on).label} ({_split(b.chosen_on)}): "
            f"{b.config}, {metric_info(b.reported).label} {_num(b.value)}{_gap(b.reported)}"
            f"{_unit(b.reported)} (chosen at {_num(b.score)}{_gap(b.chosen_on)}"
            f"{_unit(b.chosen_on)}; {b.n} trial{'s' if b.n != 1 else ''})." for b in best))


def _findings(doc: Doc, intro: str, sentences: list[str], table: str) -> None:
    """A headline's significant findings: at most MAX_HEADLINE, then how many more."""
    doc.p(intro)
    items = sentences[:MAX_HEADLINE]
    if len(sentences) > MAX_HEADLINE:
        items.append(f"... and {len(sentences) - MAX_HEADLINE} more in the {table} below.")
    doc.bullets(items)


def _term_sentence(r: Any, da: DesignAnalysis | None = None) -> str:
    levels = f" ({r.high} vs {r.low})" if r.kind == "main" else " (interaction)"
    text = (f"**{r.term}**{levels}: {metric_info(r.metric).label} "
            f"**{_num(r.effect, sign=True)} {r.unit}** [95% CI {_num(r.ci_low, sign=True)}, "
            f"{_num(r.ci_high, sign=True)}], {_num(100 * r.share, 1)}% of the variance, "
            f"Holm-corrected p {_p_eq(r.p_holm)}")
    if r.kind == "main" and da is not None:
        # an average over a factor it interacts with is no one setting's effect: say both
        for metric, f, g in da.significant_pairs:
            if metric != r.metric or r.term not in (f, g):
                continue
            cond = da.conditional_for(metric, f"{f}:{g}")
            cond = cond[cond["factor"] == r.term]
            if len(cond):
                text += (f"; it interacts with {cond['at'].iloc[0]}: " + ", ".join(
                    f"{_num(c.effect, sign=True)} {r.unit} at {c.at}={fmt_level(c.at_level)}"
                    for c in cond.itertuples()))
    return text


def _conditional_print(da: DesignAnalysis) -> pd.DataFrame:
    """Each factor of a significant interaction, its effect at each level of the other."""
    rows = []
    for metric, f, g in da.significant_pairs:
        for c in da.conditional_for(metric, f"{f}:{g}").itertuples():
            lo, hi = da.design.levels[c.factor]
            rows.append({"metric": metric_info(metric).label, "interaction": c.interaction,
                         "effect of": f"{c.factor} ({fmt_level(lo)} -> {fmt_level(hi)})",
                         "at": f"{c.at} = {fmt_level(c.at_level)}",
                         "effect [95% CI]": f"{_num(c.effect, sign=True)} {_unit(metric)} "
                                            f"[{_num(c.ci_low, sign=True)}, "
                                            f"{_num(c.ci_high, sign=True)}]"})
    return pd.DataFrame(rows)


def _design_headline(doc: Doc, da: DesignAnalysis) -> None:
    eff = da.effects
    sig = eff[eff["significant"]] if len(eff) else eff
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


def _gap(metric: str) -> str:
    return "" if _unit(metric) == "%" else " "


def _split(metric: str) -> str:
    return "validation split" if metric.startswith("val_") else \
        "test split: no validation metric in these results"


def _selection_text(all_results: list[Results]) -> str:
    """The preamble's statement of which split chose and which split is reported."""
    chose = []
    for res in all_results:
        metric = selection_metric(res)[0]
        split = "the validation split" if metric.startswith("val_") else \
            "the test split, as these results have no validation metric"
        chose.append(f"{res.name + ': ' if len(all_results) > 1 else ''}{metric}, {split}")
    return ("Which split chose and which reported: every best setting and best trial below is "
            f"chosen on {'; '.join(chose)} (the best accuracy on val_latent_acc where present), "
            "and the number reported is the test split's, scored once per trial at its last "
            "epoch. Per-epoch curves show validation PSNR (test PSNR only in older results "
            "that scored test every epoch).")


def _status_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{v} {k}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


def _overview(doc: Doc, res: Results) -> None:
    counts = status_counts(res)
    done = res.completed
    facts = [f"Results directory: `{res.path}`",
             f"Trials: {len(res.trials)} ({_status_text(counts) or 'none readable'}); "
             f"epoch rows: {len(res.epochs):,} from {res.epoch_files} files"]
    for field in ("dataset", "variant", "preset", "epochs", "train_subset"):
        col = res.trials.get(CONFIG_PREFIX + field)
        if col is not None and col.notna().any():
            facts.append(f"{field}: {', '.join(map(str, _sorted_levels(col.dropna())))}")
    seeds = res.trials.get(CONFIG_PREFIX + "seed")
    if seeds is not None and seeds.notna().any():
        facts.append(f"seeds: {', '.join(map(str, _sorted_levels(seeds.dropna())))}")
    doc.bullets(facts)
    if res.factors:
        rows = []
        for f in res.factors:
            ref, source = res.reference(f)
            col = res.trials[CONFIG_PREFIX + f]
            lv = _sorted_levels(col.dropna())
            shown = ", ".join(map(fmt_level, lv)) if len(lv) <= 12 else \
                f"{len(lv)} sampled values in {fmt_level(lv[0])}..{fmt_level(lv[-1])}"
            rows.append({"factor": f, "levels": shown,
                         "reference": "-" if ref is None else fmt_level(ref),
                         "reference from": source,
                         # a1/a2 are only letters: say which prior each one weighs
                         "weighs": LOSS_WEIGHTS.get(f, "")})
        table = pd.DataFrame(rows)
        if not table["weighs"].any():
            table = table.drop(columns="weighs")
        doc.table(table, "Varied factors and the reference setting each effect is "
                  "measured against; a loss weight's row says which term it weighs.")
    if len(done) and len(res.factors) > 1:
        doc.p("Several factors vary: each per-factor row pools the other factors' levels "
              "(a main effect); " + ("effects come from the linear model below."
                                     if res.declared_design is not None else
                                     "effects pair trials with the same seed and the same "
                                     "levels of the other factors."))


def _terms_print(eff: pd.DataFrame, with_rung: bool = False) -> pd.DataFrame:
    out = pd.DataFrame({
        "metric": [metric_info(m).label for m in eff["metric"]],
        "term": eff["term"],
        "levels (low -> high)": [f"{r.low} -> {r.high}" if r.kind == "main" else "interaction"
                                 for r in eff.itertuples()],
        "effect [95% CI]": [f"{_num(r.effect, sign=True)} {r.unit} [{_num(r.ci_low, sign=True)}"
                            f", {_num(r.ci_high, sign=True)}]" for r in eff.itertuples()],
        "p": eff["p"].map(_p), "p (Holm)": eff["p_holm"].map(_p),
        # bold only what survives Holm: an uncorrected p < 0.05 is not a finding
        "significant": ["**yes**" if s else "no" for s in eff["significant"]],
        "share of variance": [f"{_num(100 * v, 1)}%" for v in eff["share"]]})
    if with_rung:
        out.insert(0, "trials used", eff["trials"].to_numpy())
        out.insert(0, "rung (epoch)", [f"{r.rung} (epoch {r.epoch})" for r in eff.itertuples()])
        out = out.drop(columns=["levels (low -> high)", "share of variance"])
    return out


def _design_section(doc: Doc, da: DesignAnalysis,
                    figures: Sequence[tuple[Path, str]]) -> None:
    """Effects from the linear model: why this analysis, the effects with Holm, the aliases,
    the variance shares, the chosen setting's test numbers, interactions, rungs."""
    doc.h(3, "Effects from a linear model (designed sweep)")
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
    conditional = _conditional_print(da)
    if len(conditional):
        doc.h(3, "Conditional effects where factors interact")
        doc.table(conditional, "Where an interaction is significant, a factor's main effect "
                  "averages over the other factor's levels and describes neither: each row is "
                  "the factor's effect at one level of the other, from the same model (2 x "
                  "(b_factor -+ b_interaction), 95% CI from the coefficients' covariance). "
                  "Estimates, not further tests. In a fraction, the interaction's estimate "
                  "also holds the terms it is aliased with (the design's resolution).")
    if len(da.aliased):
        doc.table(pd.DataFrame({"metric": [metric_info(m).label for m in da.aliased["metric"]],
                                "term not estimated": da.aliased["term"],
                                "confounded with (estimated as)": da.aliased["aliased with"]}),
                  "Terms the design cannot separate from an earlier term (read off the model "
                  "matrix: their column equals a combination of the columns before them); "
                  "each estimate above holds the sum of the terms it is aliased with.")
    var = da.variance
    if len(var):
        wide = var.assign(label=[metric_info(m).label for m in var["metric"]]).pivot_table(
            index="source", columns="label", values="share", sort=False)
        shown = wide.map(lambda v: f"{_num(100 * v, 1)}%").reset_index()
        doc.table(shown, "Share of each metric's variance (type-II sums of squares over the "
                  "total sum of squares): main effects, interactions, the seed block and what "
                  "no term explains (residual). In a balanced design the column adds to 100%.")
    if da.selected:
        doc.p("The test split, reported once for the setting chosen on validation: " + " ".join(
            f"{metric_info(b.reported).label} {_num(b.value)}{_gap(b.reported)}"
            f"{_unit(b.reported)} at {b.config} (chosen on {b.chosen_on}, {b.n} trials)."
            for b in da.selected))
    for path, caption in figures:
        doc.figure(path, caption)
    if da.rung_epochs:
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


def _interaction_figures(res: Results, da: DesignAnalysis | None, folder: Path,
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


def _sweep_section(doc: Doc, res: Results, eff: pd.DataFrame, figures: list[tuple[Path, str]],
                   pictures: Pictures = ("", []), da: DesignAnalysis | None = None,
                   design_figures: Sequence[tuple[Path, str]] = (),
                   tested: dict[str, pd.DataFrame] | None = None,
                   explore: Explore | None = None,
                   label_figures: Sequence[tuple[Path, str]] = ()) -> None:
    """One sweep's section; ``tested``: its tables with the report's one Holm family applied
    (``analysis.family``; computed here, each table corrected alone, when not given)."""
    tested = tested if tested is not None else _tested_tables(res, eff, da)
    doc.h(2, f"Sweep {res.name}")
    if res.problems:
        doc.warn("Parts of this results directory are missing or could not be read; "
                 "everything below comes from the readable rest:")
        doc.bullets([f"`{p}`" for p in summarize_problems(res.problems, 20)])
    _overview(doc, res)
    from .extended import section as extended_section
    extended_section(doc, res)  # its extensions, and adaptive seeds' rule and intervals

    ft = factor_table(res)
    doc.h(3, "Results per factor level" if res.factors else "Results over seeds")
    if ft.empty:
        doc.p("No completed trial with final metrics: nothing to tabulate.")
    for factor in pd.unique(ft["factor"]):
        main, ops = _factor_tables(ft, factor)
        doc.table(main, f"{factor}: over n completed trials, PSNR in dB as mean ± 95% CI "
                  "half-width (sd), accuracies in % as mean [95% CI] (sd) with the bounded "
                  "interval. [n=..] marks a metric with fewer trials.")
        if len(ops):
            doc.table(ops, f"{factor}: image operations, ours (mean ± 95% CI (sd)) vs the "
                      "baselines' means: naive (bilinear upsampling, mean fill, the noisy input clipped to "
                      "the image range and unclipped) and standard (bicubic upsampling, "
                      "scikit-image's biharmonic inpainting and TV denoising).")

    designed = da is not None and da.design.declared
    if da is not None:
        _design_section(doc, da, design_figures)
    elif res.factors and len(res.completed):
        doc.p(f"Analysis used: paired comparisons against the reference setting, because "
              f"{detect_design(res)[1]}.")
    if res.factors and len(res.completed) and not designed:
        doc.h(3, "Effects against the reference setting")
        if eff.empty:
            doc.p("No comparison possible (a factor needs trials at its reference and at "
                  "another level).")
        else:
            doc.table(_effects_print(eff), "Difference = level minus reference (accuracy in "
                      "percentage points). Paired t-test over trials sharing seed and other "
                      "factors' levels, Welch's t-test otherwise; 'interval over' says whether "
                      "the test set's sampling error is in it (per-image files) or the seeds "
                      f"alone. p (Holm) corrected over {FAMILY}. Significant effects first.")

    if explore is not None:
        explore_section(doc, explore)  # importance, parallel coordinates, every trial

    pc = tested["paper"]
    if len(pc):
        doc.h(3, "The paper's numbers beside ours")
        doc.table(_paper_print(pc), "Paper: Egri, Hyper-network based Implicit Neural "
                  "Representations for Image Classification (MNIST; CIFAR-10 in its appendix B). "
                  "Ours: mean [bounded 95% CI]; 'interval over' says whether it holds the test "
                  "set's sampling error (seeds and test images) or the seeds alone. Verdict: "
                  "an equivalence test (TOST) against the margin the sweep file stated before "
                  "the run (its source and date beside it), on the 90% interval shown, Holm-"
                  f"corrected over {FAMILY}: equivalent, better, worse or inconclusive; a row "
                  "without a stated margin is not tested. 'comparable?' says whether our data "
                  "and model match the paper's; a subset or a small preset is a reduced budget, "
                  "not a reproduction. Classifier-loss rows use only trials that ran that loss "
                  "(cls_weight > 0); 'trials used' says how the setting was chosen, or why a "
                  "row is left out.")
        notes = [f"{r.claim}: {r.note}" for r in pc.itertuples() if r.note]
        doc.bullets(notes)

    _labels_section(doc, res, tested["labels"], label_figures)
    _equivalence_section(doc, tested["equivalence"])

    claims = tested["claims"]
    if len(claims):
        doc.h(3, "The paper's claims, measured")
        shown = pd.DataFrame({
            "claim": claims["claim"], "question": claims["question"],
            "source: the paper (section), or this project's test": claims["source"],
            "predicted": ["> 0" if d > 0 else "< 0" for d in claims["predicted"]],
            "estimate [95% CI]": [f"{_num(r.estimate, sign=True)} {r.unit} "
                                  f"[{_num(r.ci_low, sign=True)}, {_num(r.ci_high, sign=True)}]"
                                  for r in claims.itertuples()],
            "interval over": claims["interval"] if "interval" in claims else "seeds only",
            "n": claims["n"], "p": claims["p"].map(_p), "p (Holm)": claims["p_holm"].map(_p),
            # bold only what survives Holm: an uncorrected 'supported' is not a finding
            "verdict": [f"**{v}**" if v in ("supported", "contradicted") else v
                        for v in claims["verdict"]],
            "how": claims["detail"]})
        doc.table(shown, "Each row a difference whose sign was predicted in advance (t-based "
                  "95% CI over seeds, widened to the two-level bootstrap's over seeds and test "
                  "images where 'interval over' says so); the third column quotes the paper's "
                  "statement with its section, or says the comparison is this project's own "
                  f"test. p (Holm) is corrected over {FAMILY}. supported = Holm p "
                  "< 0.05 with the estimate on the predicted side; contradicted = Holm p < "
                  "0.05 on the other side; inconclusive = not significant after correction.")

    front = pareto_front(res)
    if len(front) > 1:
        doc.h(3, "Pareto front: reconstruction vs classification")
        shown = front[front["on_front"]]
        doc.table(pd.DataFrame({"#": shown["front_rank"], "configuration": shown["config"],
                                "test PSNR (dB)": shown["test_psnr"].map(_num),
                                "latent-classifier accuracy (%)": shown["latent_acc"].map(_num),
                                "trials": shown["n"]}),
                  f"The {len(shown)} of {len(front)} configurations (seed means) that no other "
                  "beats on both PSNR and accuracy.")

    fail = failures_table(res)
    doc.h(3, "Failures")
    if fail.empty:
        doc.p("No trial errored or diverged.")
    else:
        shown = fail.head(MAX_FAILURES).copy()
        shown["error"] = shown["error"].fillna("").map(
            lambda e: (e.strip().splitlines() or [""])[-1][:200])
        doc.table(shown, f"{len(fail)} trial(s) errored or diverged"
                  + (f"; the first {MAX_FAILURES} shown" if len(fail) > MAX_FAILURES else "")
                  + " (last line of each error message).")

    if figures:
        doc.h(3, "Figures")
        for path, caption in figures:
            doc.figure(path, caption)

    if pictures[1]:
        doc.h(3, "Pictures: what was learned")
        doc.p(f"Fixed test images (the first 8 of the test split), written by each trial at "
              f"its last epoch. Trials chosen on {pictures[0]}.")
        for title, items in pictures[1]:
            doc.gallery(title, items)


def _document(all_results: list[Results], figures: dict[int, list[tuple[Path, str]]],
              pictures: dict[int, Pictures] | None = None,
              designs: dict[int, DesignAnalysis | None] | None = None,
              design_figures: dict[int, list[tuple[Path, str]]] | None = None,
              tested: list[dict[str, pd.DataFrame]] | None = None,
              family: families.Family | None = None,
              explores: dict[int, Explore | None] | None = None,
              label_figures: dict[int, list[tuple[Path, str]]] | None = None) -> Doc:
    """The report's content.  ``tested``/``family``: each sweep's tables with the one Holm
    family already applied (``build_report`` does it before drawing the interaction figures,
    which show only significant interactions); computed here when not given."""
    doc = Doc()
    names = ", ".join(r.name for r in all_results)
    designs = designs if designs is not None else {
        i: design_analysis(r) for i, r in enumerate(all_results)}
    if tested is None:
        tested, family = _family(all_results, designs)
    effects = [t["effects"] for t in tested]
    doc.h(1, f"HyperINR sweep report: {names}")
    images = any(r.predictions for r in all_results)
    doc.p(f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} from "
          + ", ".join(f"`{r.path}`" for r in all_results) + ". " + METHOD + " "
          + (BOOT_METHOD if images else "These results have no per-image test outputs "
             "(predictions/): every interval below is over seeds only.") + " Effects are "
          "tested with paired t-tests where seeds match (Welch's t-test otherwise). "
          + EQUIVALENCE_METHOD + " Joint-head accuracy is left out (null) for trials with "
          "cls_weight 0, whose head was never trained. " + _selection_text(all_results))
    doc.p(family.text() if family is not None else "")
    problems = [p for r in all_results for p in r.problems]
    if problems:
        doc.warn(f"{len(problems)} file(s) missing or unreadable; the report uses the rest. "
                 "Details in each sweep's section.")
    doc.h(2, "Headline: which factors changed accuracy and PSNR")
    for i, (res, eff) in enumerate(zip(all_results, effects)):
        _headline(doc, res, eff, multi=len(all_results) > 1, da=designs.get(i))
    if len(all_results) > 1:
        doc.h(2, "Sweeps side by side")
        doc.table(_compare_print(compare_sweeps(all_results)),
                  "Each sweep at its reference setting: mean [95% CI] [n].")
    for i, (res, eff) in enumerate(zip(all_results, effects)):
        _sweep_section(doc, res, eff, figures.get(i, []), (pictures or {}).get(i, ("", [])),
                       designs.get(i), (design_figures or {}).get(i, []), tested[i],
                       (explores or {}).get(i), (label_figures or {}).get(i, []))
    return doc


def _family(all_results: list[Results], designs: dict[int, DesignAnalysis | None]
            ) -> tuple[list[dict[str, pd.DataFrame]], families.Family]:
    """Every sweep's tested tables, with one Holm correction over all of them."""
    tested = [_tested_tables(r, effects_table(r), designs.get(i))
              for i, r in enumerate(all_results)]
    return tested, families.apply(tested, [r.name for r in all_results])


def _compare_print(cmp: pd.DataFrame) -> pd.DataFrame:
    out = cmp[["sweep", "dataset", "variant", "preset", "epochs", "trials", "completed"]].copy()
    for m in COMPARE_METRICS:
        if cmp[f"{m}.n"].sum() == 0:
            continue
        out[f"{metric_info(m).label} ({_unit(m)})"] = [
            "-" if not r[f"{m}.n"] else
            f"{_num(r[f'{m}.mean'])} [{_num(r[f'{m}.ci_low'])}, {_num(r[f'{m}.ci_high'])}] "
            f"[n={r[f'{m}.n']}]"
            for _, r in cmp.iterrows()]
    return out


# ------------------------------------------------------------------------------------
# Renderers

def _md_escape(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(doc: Doc, out: Path) -> str:
    lines: list[str] = []
    for b in doc.blocks:
        if b.kind.startswith("h"):
            lines += ["#" * int(b.kind[1]) + " " + b.text, ""]
        elif b.kind == "p":
            lines += [b.text, ""]
        elif b.kind == "warn":
            lines += [f"> **Warning:** {b.text}", ""]
        elif b.kind == "bullets":
            lines += [f"- {item}" for item in b.items] + [""]
        elif b.kind == "table":
            t = b.table
            lines.append("| " + " | ".join(_md_escape(c) for c in t.columns) + " |")
            lines.append("|" + "|".join("---" for _ in t.columns) + "|")
            lines += ["| " + " | ".join(_md_escape(_plain(v)) for v in row) + " |"
                      for row in t.itertuples(index=False)]
            if b.text:
                lines += ["", f"*{b.text}*"]
            lines.append("")
        elif b.kind == "figure":
            rel = os.path.relpath(b.path, out)
            lines += [f"![{b.text}]({Path(rel).as_posix()})", "", f"*{b.text}*", ""]
        elif b.kind == "raw" and b.text:
            lines += [f"*{b.text}*", ""]
        elif b.kind == "gallery":
            lines += [f"**{b.text}**", ""]
            for path, caption in b.items:
                rel = Path(os.path.relpath(path, out)).as_posix()
                lines += [f"![{caption}]({rel})", "", f"*{caption}*", ""]
    return "\n".join(lines)


def _plain(v: Any) -> str:
    if isinstance(v, float):  # only raw values reach here (config levels, ids): keep them short
        return fmt_level(v) if not math.isnan(v) else "-"
    if v is None or (not isinstance(v, str) and pd.isna(v) is True):
        return "-"
    return str(v)


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1200px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.86em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f2f2f2}tr:nth-child(even) td{background:#fafafa}
caption{caption-side:bottom;text-align:left;font-style:italic;color:#555;padding-top:.3em}
.warn{background:#fff4e0;border-left:4px solid #e69500;padding:.5em .8em}
figure{margin:1.2em 0}figure img{max-width:100%}figcaption{color:#555;font-style:italic}
code{background:#f4f4f4;padding:0 .2em}
td.nw{white-space:nowrap}
.gallery{display:flex;flex-wrap:wrap;gap:1em}.gallery figure{margin:.4em 0;max-width:100%}
.gallery figcaption{max-width:32em}img.pixels{image-rendering:pixelated;max-width:100%}
"""


def _inline(text: str) -> str:
    """The few Markdown marks used in text (**bold**, `code`) as HTML, escaped first."""
    out = html.escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


SHORT_CELL = 28  # characters: a number with its interval; kept on one line


def _td(text: str) -> str:
    # a short cell (a value with its interval) never wraps: beside a long text column the
    # browser would otherwise break "22.66 [2.89, 73.90]" over three lines
    nowrap = " class=\"nw\"" if len(text) <= SHORT_CELL else ""
    return f"<td{nowrap}>{_inline(text)}</td>"


PIXEL_ZOOM = 2  # the trials' grids are 28-pixel digits: shown enlarged, pixels kept sharp


def _img(path: Path, alt: str, zoom: int = 0) -> str:
    """An <img> with the PNG embedded as a data URI; ``zoom`` > 0 enlarges it by that factor
    with crisp pixels (width from the PNG header: bytes 16-24 hold width and height)."""
    raw = path.read_bytes()
    size = ""
    if zoom and raw[12:16] == b"IHDR":
        width = int.from_bytes(raw[16:20], "big")
        size = f" class=\"pixels\" style=\"width:{width * zoom}px\""
    data = base64.b64encode(raw).decode("ascii")
    return f"<img alt=\"{html.escape(alt)}\"{size} src=\"data:image/png;base64,{data}\">"


def to_html(doc: Doc) -> str:
    title = next((b.text for b in doc.blocks if b.kind == "h1"), "HyperINR sweep report")
    parts = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
             f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"]
    for b in doc.blocks:
        if b.kind.startswith("h"):
            parts.append(f"<{b.kind}>{_inline(b.text)}</{b.kind}>")
        elif b.kind == "p":
            parts.append(f"<p>{_inline(b.text)}</p>")
        elif b.kind == "warn":
            parts.append(f"<p class=\"warn\"><strong>Warning:</strong> {_inline(b.text)}</p>")
        elif b.kind == "bullets":
            parts.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b.items) + "</ul>")
        elif b.kind == "table":
            t = b.table
            head = "".join(f"<th>{html.escape(str(c))}</th>" for c in t.columns)
            body = "".join("<tr>" + "".join(_td(_plain(v)) for v in row)
                           + "</tr>" for row in t.itertuples(index=False))
            cap = f"<caption>{_inline(b.text)}</caption>" if b.text else ""
            parts.append(f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
                         "</table>")
        elif b.kind == "figure":
            parts.append(f"<figure>{_img(b.path, b.text)}"
                         f"<figcaption>{_inline(b.text)}</figcaption></figure>")
        elif b.kind == "raw":
            parts.append(b.items[0])
        elif b.kind == "gallery":
            figs = "".join(f"<figure>{_img(path, caption, PIXEL_ZOOM)}<figcaption>"
                           f"{_inline(caption)}</figcaption></figure>"
                           for path, caption in b.items)
            parts.append(f"<p><strong>{_inline(b.text)}</strong></p>"
                         f"<div class=\"gallery\">{figs}</div>")
    parts.append("</body></html>")
    return "\n".join(parts)


# ------------------------------------------------------------------------------------
def default_out(dirs: Sequence[Path]) -> Path:
    """``<dir>/report`` for one sweep; ``<common parent>/report`` for several."""
    if len(dirs) == 1:
        return Path(dirs[0]) / "report"
    return Path(os.path.commonpath([str(Path(d).resolve()) for d in dirs])) / "report"


def _formats(formats: str | Iterable[str]) -> list[str]:
    if isinstance(formats, str):
        formats = FORMATS if formats == "both" else [formats]
    chosen = list(dict.fromkeys(formats))
    bad = [f for f in chosen if f not in FORMATS]
    if bad:
        raise ValueError(f"format {bad[0]!r}: allowed md, html, both")
    return chosen


def build_report(dirs: Sequence[str | os.PathLike | Results], out: str | os.PathLike | None = None,
                 formats: str | Iterable[str] = FORMATS) -> list[Path]:
    """Write the report of one or more results directories; returns the files written.

    ``dirs``: results directories (or already loaded ``Results``); several are compared side
    by side.  ``out``: the report folder (default ``<dir>/report``, or ``<common parent>/report``
    for several).  ``formats``: "md", "html", "both" or a list.  Files: ``report.md`` and
    ``figures/*.png`` for md, ``index.html`` (self-contained) for html.  Unreadable parts of a
    directory are stated in the report (and in each ``Results.problems``); a path that is not
    a directory raises ``ResultsNotFound``."""
    fmts = _formats(formats)
    all_results = [d if isinstance(d, Results) else load_results(d) for d in dirs]
    if not all_results:
        raise ValueError("build_report needs at least one results directory")
    out = Path(out) if out is not None else default_out([r.path for r in all_results])
    figdir = out / "figures"
    figures: dict[int, list[tuple[Path, str]]] = {}
    pictures: dict[int, Pictures] = {}
    designs = {i: design_analysis(res) for i, res in enumerate(all_results)}
    tested, family = _family(all_results, designs)  # before the figures of significant terms
    design_figures: dict[int, list[tuple[Path, str]]] = {}
    explores: dict[int, Explore | None] = {}
    label_figures: dict[int, list[tuple[Path, str]]] = {}
    seen: set[str] = set()
    for i, res in enumerate(all_results):
        prefix = plots.slug(res.name)
        if prefix in seen:  # two sweeps of the same name: keep their figures apart
            prefix = f"{prefix}-{i + 1}"
        seen.add(prefix)
        figures[i] = plots.sweep_figures(res, figdir, prefix)
        pictures[i] = plots.example_pictures(res, figdir, prefix)
        design_figures[i] = _interaction_figures(res, designs[i], figdir, prefix)
        explores[i] = prepare_explore(res, figdir, prefix, designs[i])
        label_figures[i] = plots.label_figures(res, figdir, prefix)
    doc = _document(all_results, figures, pictures, designs, design_figures, tested, family,
                    explores, label_figures)
    files = [p for paths in list(figures.values()) + list(design_figures.values())
             + list(label_figures.values()) for p, _ in paths] + [p for ex in explores.values() if ex for p in ex.files] + [
        p for _, groups in pictures.values() for _, items in groups for p, _ in items]
    written: list[Path] = []
    out.mkdir(parents=True, exist_ok=True)
    if "md" in fmts:
        path = out / "report.md"
        path.write_text(to_markdown(doc, out), encoding="utf-8")
        written.append(path)
    if "html" in fmts:
        path = out / "index.html"
        path.write_text(to_html(doc), encoding="utf-8")
        written.append(path)
    if "md" in fmts:
        written += files
    else:  # the figures live inside index.html; leave no loose PNGs behind
        for p in files:
            p.unlink(missing_ok=True)
        if figdir.is_dir() and not any(figdir.iterdir()):
            figdir.rmdir()
    return written
