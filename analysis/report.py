"""The report of one or more sweeps: ``build_report`` writes ``report.md`` (+ ``figures/*.png``)
and one self-contained ``index.html`` from the same blocks (``analysis.document``), built once
here and drawn by ``render_markdown`` and ``render_html``.

The document leads with its first screen: the headline answering "which factors changed
accuracy and PSNR, by how much, with what confidence" (``analysis.headline``) and one figure
(``_lead_figure``), then, collapsed in the HTML, the Methods (the interval method of
``analysis.stats``, the equivalence tests against the sweep file's pre-stated margins, and
the one Holm family every bold verdict of the document belongs to, ``analysis.family``).
Then each sweep's section: its overview and results per factor level; the effects (paired
comparisons for one-factor sweeps and grids, the linear model of ``analysis.model_effects``
for a two-level design: ``analysis.model_effects_section``); the explore section
(``analysis.explore``); the sections with verdicts (``analysis.verdict_sections``); the
Pareto front, failures, figures, and last the trials' own pictures (``images/<trial>/*.png``):
each factor level's best trial's originals against reconstructions, and the image operations
beside their baselines.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from contract.metrics import LOSS_WEIGHTS
from contract.schema import CONFIG_PREFIX

from . import plots
from .extended import section as extended_section
from .model_effects import DesignAnalysis, design_analysis, detect_design
from .explore import section as explore_section
from .explore_model import Explore, prepare as prepare_explore
from .load import Results, load_results, summarize_problems
from .claims import claims_table
from .labels import label_differences
from . import family as families
from .document import Doc
from .formatting import FAMILY, adjusted_p, fmt_num, fmt_p, status_text, unit_gap, unit_of
from .headline import headline
from .pictures import example_pictures
from .model_effects_section import interaction_figures, section as model_effects_section
from .render_html import to_html
from .render_markdown import to_markdown
from .stats import BOOT_METHOD, EQUIVALENCE_METHOD, METHOD
from .columns import BASELINES, BASELINE_METRICS, METRICS, OP_DIFFERENCES, metric_info
from .compare import COMPARE_METRICS, compare_sweeps
from .effects import effects_table
from .failures import failures_table, status_counts
from .levels import factor_table, fmt_level, sorted_levels
from .paper import equivalence_table, paper_comparison
from .selection import DESCRIBED_PAIR, pareto_front, pareto_objectives, selection_metric
from .verdict_sections import claims_section, equivalence_section, labels_section, paper_section

FORMATS = ("md", "html")
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


# ------------------------------------------------------------------------------------
# The document

def _selection_text(all_results: list[Results]) -> str:
    """The Methods' statement of which split chose and which split is reported."""
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


def _sweep_section(doc: Doc, part: SweepParts) -> None:
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


def _document(parts: list[SweepParts], family: families.Family) -> Doc:
    """The report's content: every sweep's headline, one figure, the Methods, the sweeps side
    by side (several sweeps), then every sweep's section."""
    all_results = [part.results for part in parts]
    doc = Doc()
    names = ", ".join(r.name for r in all_results)
    doc.h(1, f"HyperINR sweep report: {names}")
    images = any(r.predictions for r in all_results)
    # the first screen: what was found and one picture of it; the methods one click away
    doc.p(f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} from "
          + ", ".join(f"`{r.path}`" for r in all_results) + ". How the intervals and tests "
          "are computed, and which tests the bold verdicts are corrected over: Methods, "
          "under the headline.")
    problems = [p for r in all_results for p in r.problems]
    if problems:
        doc.warn(f"{len(problems)} file(s) missing or unreadable; the report uses the rest. "
                 "Details in each sweep's section.")
    doc.h(2, "Headline: which factors changed accuracy and PSNR")
    for part in parts:
        headline(doc, part.results, part.tested["effects"], multi=len(parts) > 1,
                 da=part.design)
    lead = _lead_figure(parts)
    if lead is not None:
        doc.figure(*lead)
    doc.details("Methods: intervals, tests, the testing family, which split chose", [
        METHOD + " " + (BOOT_METHOD if images else "These results have no per-image test "
                        "outputs (predictions/): every interval below is over seeds only.")
        + " Effects are tested with paired t-tests where seeds match (Welch's t-test "
        "otherwise). " + EQUIVALENCE_METHOD + " Joint-head accuracy is left out (null) for "
        "trials with cls_weight 0, whose head was never trained. "
        + _selection_text(all_results), family.text()])
    if len(parts) > 1:
        doc.h(2, "Sweeps side by side")
        doc.table(_compare_print(compare_sweeps(all_results)),
                  "Each sweep at its reference setting: mean [95% CI] [n].")
    for part in parts:
        _sweep_section(doc, part)
    return doc


def _lead_figure(parts: list[SweepParts]) -> tuple[Path, str] | None:
    """The figure under the headline, moved there from its sweep's figures: the first
    sweep's final accuracy and PSNR against the factor its tests find strongest (smallest
    p among its effects or its design's main effects; the first factor without tests)."""
    if not parts:
        return None
    part = parts[0]
    by_factor = {f[0].stem.rsplit("-metrics-", 1)[1]: f for f in part.figures
                 if "-metrics-" in f[0].stem}
    if not by_factor:
        return None
    ranked: list[tuple[float, str]] = []
    for key, column in (("effects", "factor"), ("design", "term")):
        table = part.tested.get(key)
        if table is not None and len(table) and column in table and "p" in table:
            ranked += [(float(p), str(f)) for f, p in zip(table[column], table["p"])
                       if str(f) in by_factor and p == p]
    name = min(ranked)[1] if ranked else next(iter(by_factor))
    found = by_factor[name]
    part.figures.remove(found)
    return found


def _family(all_results: list[Results], designs: list[DesignAnalysis | None]
            ) -> tuple[list[dict[str, pd.DataFrame]], families.Family]:
    """Every sweep's tested tables, with one Holm correction over all of them."""
    tested = [_tested_tables(r, effects_table(r), da) for r, da in zip(all_results, designs)]
    return tested, families.apply(tested, [r.name for r in all_results],
                                  primaries=[r.spec.get("primary") for r in all_results])


def _compare_print(cmp: pd.DataFrame) -> pd.DataFrame:
    out = cmp[["sweep", "dataset", "variant", "preset", "epochs", "trials", "completed"]].copy()
    for m in COMPARE_METRICS:
        if cmp[f"{m}.n"].sum() == 0:
            continue
        out[f"{metric_info(m).label} ({unit_of(m)})"] = [
            "-" if not r[f"{m}.n"] else
            f"{fmt_num(r[f'{m}.mean'])} [{fmt_num(r[f'{m}.ci_low'])}, "
            f"{fmt_num(r[f'{m}.ci_high'])}] [n={r[f'{m}.n']}]"
            for _, r in cmp.iterrows()]
    return out


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
    designs = [design_analysis(res) for res in all_results]
    tested, family = _family(all_results, designs)  # before the figures of significant terms
    parts = [_draw(res, da, t, out / "figures", prefix) for res, da, t, prefix
             in zip(all_results, designs, tested, _prefixes(all_results))]
    return _write(_document(parts, family), parts, out, fmts)


def _prefixes(all_results: list[Results]) -> list[str]:
    """Each sweep's figure names' prefix: its name as a slug, numbered where two sweeps share
    a name (so their figures stay apart)."""
    seen: set[str] = set()
    prefixes = []
    for i, res in enumerate(all_results):
        prefix = plots.slug(res.name)
        if prefix in seen:
            prefix = f"{prefix}-{i + 1}"
        seen.add(prefix)
        prefixes.append(prefix)
    return prefixes


def _draw(res: Results, da: DesignAnalysis | None, tested: dict[str, pd.DataFrame],
          figdir: Path, prefix: str) -> SweepParts:
    """Every figure and picture of one sweep, written under ``figdir``."""
    return SweepParts(res, da, tested,
                      figures=plots.sweep_figures(res, figdir, prefix),
                      pictures=example_pictures(res, figdir, prefix),
                      design_figures=interaction_figures(res, da, figdir, prefix),
                      explore=prepare_explore(res, figdir, prefix, da),
                      label_figures=plots.label_figures(res, figdir, prefix))


def _write(doc: Doc, parts: list[SweepParts], out: Path, fmts: list[str]) -> list[Path]:
    """``doc`` in each format; the figures stay beside report.md, and only there."""
    figdir = out / "figures"
    files = [p for part in parts for p, _ in part.figures] \
        + [p for part in parts for p, _ in part.design_figures] \
        + [p for part in parts for p, _ in part.label_figures] \
        + [p for part in parts if part.explore for p in part.explore.files] \
        + [p for part in parts for _, items in part.pictures[1] for p, _ in items] \
        + [b.path for b in doc.blocks if b.kind == "figure"]  # the lead figure, moved there
    files = list(dict.fromkeys(files))
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
