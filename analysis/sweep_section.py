"""One sweep's section of the report (``section``), from the parts drawn for it before its
text is written (``SweepParts``): its overview and results per factor level, its effects
(paired, or a design's model), the explore, verdict and label sections, the Pareto front,
failures, figures and the trials' own pictures."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from contract.metrics import LOSS_WEIGHTS
from contract.schema import CONFIG_PREFIX

from .extended import section as extended_section
from .design_model import detect_design
from .model_effects import DesignAnalysis
from .explore import section as explore_section
from .explore_model import Explore
from .load import Results, summarize_problems
from .document import Doc
from .formatting import FAMILY, adjusted_p, fmt_num, fmt_p, status_text, unit_gap, unit_of
from .model_effects_section import section as model_effects_section
from .columns import BASELINES, BASELINE_METRICS, METRICS, OP_DIFFERENCES, metric_info
from .failures import failures_table, status_counts
from .levels import factor_table, fmt_level, sorted_levels
from .selection import DESCRIBED_PAIR, pareto_front, pareto_objectives
from .verdict_sections import claims_section, equivalence_section, labels_section, paper_section

#: (how the trials were chosen, [(group title, [(png, caption)])]): example_pictures
Pictures = tuple[str, list[tuple[str, list[tuple[Path, str]]]]]
MAX_FAILURES = 50  # failure rows printed (the DataFrame has them all)


@dataclass
class SweepParts:
    """One sweep's share of the report, ready before its text is written: its model-based
    analysis (None: not a two-level design), its tested tables with the report's one Holm
    family applied (``analysis.family``), and the figures and pictures drawn for it."""
    results: Results
    design: DesignAnalysis | None
    tested: dict[str, pd.DataFrame]
    figures: list[tuple[Path, str]]
    pictures: Pictures
    design_figures: list[tuple[Path, str]]
    explore: Explore | None
    label_figures: list[tuple[Path, str]]


# ------------------------------------------------------------------------------------
# Tables for print

def _cell(row: pd.Series, n_main: int | None) -> str:
    """mean ± half-width (sd) for t-intervals; mean [low, high] (sd) for a proportion's
    bounded, asymmetric interval."""
    text = fmt_num(row["mean"])
    if not math.isnan(row["ci_half"]):
        if metric_info(str(row.name)).bounded:
            text += (f" [{fmt_num(row['ci_low'])}, {fmt_num(row['ci_high'])}] "
                     f"(sd {fmt_num(row['std'])})")
        else:
            text += f" ± {fmt_num(row['ci_half'])} (sd {fmt_num(row['std'])})"
    if n_main is None or row["n"] != n_main:
        text += f" [n={row['n']}]"
    return text


def _factor_tables(ft: pd.DataFrame, factor: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(main metrics, image operations beside baselines) for one factor, one row per level."""
    part = ft[ft["factor"] == factor]
    main_rows, op_rows = [], []
    for level in sorted_levels(part["level"]):
        rows = part[part["level"] == level].set_index("metric")
        n_main = int(rows["n"].max())
        seeds = int(rows["seeds"].max())
        label = f"{fmt_level(level)} (ref)" if rows["reference"].any() else fmt_level(level)
        main = {factor if factor != "(all trials)" else "cell": label,
                "n (seeds)": f"{n_main} ({seeds})"}
        for m in rows.index:
            if m in BASELINE_METRICS or m in OP_DIFFERENCES:
                continue
            main[f"{metric_info(m).label} ({unit_of(m)})"] = _cell(rows.loc[m], n_main)
        main_rows.append(main)
        ops = {factor if factor != "(all trials)" else "cell": label}
        for op, bases in BASELINES.items():
            if op in rows.index:
                named = [f"{metric_info(b).short} {fmt_num(rows.loc[b]['mean'])}" for b in bases
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
        "difference [95% CI]": [f"{fmt_num(r.diff, sign=True)} {r.unit} "
                                f"[{fmt_num(r.ci_low, sign=True)}, "
                                f"{fmt_num(r.ci_high, sign=True)}]" for r in eff.itertuples()],
        "interval over": eff["interval"] if "interval" in eff else "seeds only",
        "test (n)": [f"{r.test} ({r.n_pairs} pairs)" if r.test == "paired t" else
                     f"{r.test} ({r.n_level} vs {r.n_ref})" for r in eff.itertuples()],
        "p": [fmt_p(p) for p in eff["p"]],
        **adjusted_p(eff),
        "significant": ["**yes**" if s else "no" for s in eff["significant"]],
    })


def _overview(doc: Doc, res: Results) -> None:
    counts = status_counts(res)
    done = res.completed
    facts = [f"Results directory: `{res.path}`",
             f"Trials: {len(res.trials)} ({status_text(counts) or 'none readable'}); "
             f"epoch rows: {len(res.epochs):,} from {res.epoch_files} files"]
    for field in ("dataset", "variant", "preset", "epochs", "train_subset"):
        col = res.trials.get(CONFIG_PREFIX + field)
        if col is not None and col.notna().any():
            facts.append(f"{field}: {', '.join(map(str, sorted_levels(col.dropna())))}")
    seeds = res.trials.get(CONFIG_PREFIX + "seed")
    if seeds is not None and seeds.notna().any():
        facts.append(f"seeds: {', '.join(map(str, sorted_levels(seeds.dropna())))}")
    doc.bullets(facts)
    if res.factors:
        rows = []
        for f in res.factors:
            ref, source = res.reference(f)
            col = res.trials[CONFIG_PREFIX + f]
            lv = sorted_levels(col.dropna())
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


def section(doc: Doc, part: SweepParts) -> None:
    """One sweep's section, in the order the module doc gives."""
    res, tested = part.results, part.tested
    doc.h(2, f"Sweep {res.name}")
    if res.problems:
        doc.warn("Parts of this results directory are missing or could not be read; "
                 "everything below comes from the readable rest:")
        doc.bullets([f"`{p}`" for p in summarize_problems(res.problems, 20)])
    _overview(doc, res)
    extended_section(doc, res)  # its extensions, and adaptive seeds' rule and intervals
    _per_level_section(doc, res)
    _effects_section(doc, res, tested["effects"], part.design, part.design_figures)
    if part.explore is not None:
        explore_section(doc, part.explore)  # importance, parallel coordinates, every trial
    paper_section(doc, tested["paper"])
    labels_section(doc, res, tested["labels"], part.label_figures)
    equivalence_section(doc, tested["equivalence"])
    claims_section(doc, tested["claims"])
    _pareto_section(doc, res)
    _failures_section(doc, res)
    _figures_section(doc, part.figures, part.pictures)


def _per_level_section(doc: Doc, res: Results) -> None:
    """The results per factor level (over seeds, for a sweep without factors)."""
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
                      "baselines' means: naive (bilinear upsampling, mean fill, the noisy input "
                      "clipped to the image range and unclipped) and standard (bicubic "
                      "upsampling, scikit-image's biharmonic inpainting and TV denoising).")


def _effects_section(doc: Doc, res: Results, eff: pd.DataFrame, da: DesignAnalysis | None,
                     design_figures: Sequence[tuple[Path, str]]) -> None:
    """The linear model's section for a two-level design, and the paired effects against the
    reference setting wherever they are printed (not for a declared design: a fraction has
    no seed pairs)."""
    designed = da is not None and da.design.declared
    if da is not None:
        model_effects_section(doc, da, design_figures)
    elif res.factors and len(res.completed):
        doc.p(f"Analysis used: paired comparisons against the reference setting, because "
              f"{detect_design(res)[1]}.")
    if not (res.factors and len(res.completed)) or designed:
        return
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


def _pareto_section(doc: Doc, res: Results) -> None:
    """The configurations no other beats on every objective: the sweep's own objectives
    when it optimised several (``selection.pareto_objectives``), else accuracy vs PSNR."""
    metrics, modes, why = pareto_objectives(res)
    front = pareto_front(res, metrics=metrics, modes=modes)
    if len(front) < 2:
        return
    optimised = metrics != list(DESCRIBED_PAIR)
    doc.h(3, "Pareto front: " + (" vs ".join(metric_info(m).label for m in metrics)
                                 if optimised else "reconstruction vs classification"))
    shown = front[front["on_front"]]
    table = {"#": shown["front_rank"], "configuration": shown["config"]}
    for m in [c for c in front.columns if c in METRICS]:
        table[f"{metric_info(m).label}{unit_gap(m)}({unit_of(m)})" if unit_of(m) else
              metric_info(m).label] = shown[m].map(fmt_num)
    table["trials"] = shown["n"]
    twins = [c for c in front.columns if c in METRICS and c not in metrics]
    doc.table(pd.DataFrame(table),
              f"The {len(shown)} of {len(front)} configurations (seed means) that no other "
              f"beats on every objective. Objectives: {why}."
              + (f" The front is chosen on validation; {', '.join(twins)} (test split) is "
                 "reported beside it once, never used to choose." if twins else ""))


def _failures_section(doc: Doc, res: Results) -> None:
    """Every trial that errored or diverged, with its error message's last line."""
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


def _figures_section(doc: Doc, figures: Sequence[tuple[Path, str]], pictures: Pictures) -> None:
    """The sweep's figures, then the trials' own pictures."""
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
