"""The report of one or more sweeps: ``build_report`` writes ``report.md`` (+ ``figures/*.png``)
and one self-contained ``index.html`` from the same blocks (``analysis.document``), built once
here and drawn by ``render_markdown`` and ``render_html``.

The document leads with its first screen: the headline answering "which factors changed
accuracy and PSNR, by how much, with what confidence" (``analysis.headline``) and one figure
(``_lead_figure``), then, collapsed in the HTML, the Methods (the interval method of
``analysis.stats``, the equivalence tests against the sweep file's pre-stated margins, and
the one Holm family every bold verdict of the document belongs to, ``analysis.family``).
Then each sweep's section (``analysis.sweep_section``): its overview and results per factor
level; the effects (paired
comparisons for one-factor sweeps and grids, the linear model of ``analysis.model_effects``
for a two-level design: ``analysis.model_effects_section``); the explore section
(``analysis.explore``); the sections with verdicts (``analysis.verdict_sections``); the
Pareto front, failures, figures, and last the trials' own pictures (``images/<trial>/*.png``):
each factor level's best trial's originals against reconstructions, and the image operations
beside their baselines.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from . import plots
from .model_effects import DesignAnalysis, design_analysis
from .explore_model import prepare as prepare_explore
from .load import Results, load_results
from .claims import claims_table
from .labels import label_differences
from . import family as families
from .document import Doc
from .formatting import fmt_num, unit_of
from .headline import headline
from .pictures import example_pictures
from .model_effects_section import interaction_figures
from .render_html import to_html
from .render_markdown import to_markdown
from .stats import BOOT_METHOD, EQUIVALENCE_METHOD, METHOD
from .columns import metric_info
from .compare import COMPARE_METRICS, compare_sweeps
from .effects import effects_table
from .paper import equivalence_table, paper_comparison
from .selection import selection_metric
from .sweep_section import SweepParts, section as sweep_section

FORMATS = ("md", "html")


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
        sweep_section(doc, part)
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
