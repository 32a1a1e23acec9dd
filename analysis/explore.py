"""The report's "explore the sweep" section, for every search type: factor importance with
intervals over seeds (``analysis.importance``), parallel coordinates of every trial (a static
matplotlib figure in both formats; in index.html also an interactive SVG whose axes can be
brushed), and a sortable, filterable table of every trial (index.html).

Everything interactive is inline SVG plus about 4 KB of plain JavaScript and CSS written
here, so the HTML stays one offline file: no CDN, no library.  Brushing the parallel
coordinates filters the same sweep's trial table.  Continuous factors stay continuous in all
three (a log-sampled factor on a log axis); only the per-level tables elsewhere in the report
bin them, and this section says so.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd

from .columns import metric_info
from .explore_html import parallel_html, table_html
from .explore_model import Explore
from .importance import (FANOVA_DEPTH, FANOVA_TREES, LABELS, Importance, fmt_importance,
                         ped_quantile)

def section(doc: Any, ex: Explore) -> None:
    """Add the section's blocks to the report ``doc`` (``analysis.document.Doc``)."""
    res = ex.results
    doc.h(3, "Explore: importance, parallel coordinates, every trial")
    binned = [f for f in res.factors if res.is_continuous(f)]
    if binned:
        doc.p("Continuous factors (" + ", ".join(f"**{f}**" for f in binned) + ") are cut "
              "into at most 5 quantile bins only where a table needs levels (the per-level "
              "tables above); importance, parallel coordinates and the trial table below use "
              "their sampled values.")
    imp = ex.importance
    if imp is None:
        doc.p("Importance: not computed (it needs at least one factor with two values and "
              "3 points with the metric).")
    else:
        _importance_table(doc, ex, imp)
        for other in ex.others:  # every objective a multi-objective sweep optimised
            _importance_table(doc, dataclasses.replace(ex, model=None), other)
    for path, caption in ex.figures:
        doc.figure(path, caption)
    if len(ex.axes) >= 2:
        doc.raw(parallel_html(ex), "")
    doc.raw(table_html(ex), "The interactive trial table is in index.html; in Markdown, "
            "trials.parquet holds every trial.")


def _importance_table(doc: Any, ex: Explore, imp: Importance) -> None:
    wide = {}
    for r in imp.table.itertuples():
        row = wide.setdefault(r.factor, {"factor": r.factor, "read as": r.scale})
        row[f"{LABELS.get(r.evaluator, r.evaluator)} [95% interval]"] = fmt_importance(r)
    table = pd.DataFrame(list(wide.values()))
    model_note = ""
    if ex.model is not None and len(ex.model):
        by = ex.model.set_index("term")
        unit = metric_info(imp.metric).unit
        table["linear model: effect [95% CI] (share of variance)"] = [
            f"{by.loc[f, 'effect']:+.2f} {unit} [{by.loc[f, 'ci_low']:+.2f}, "
            f"{by.loc[f, 'ci_high']:+.2f}] ({100 * by.loc[f, 'share']:.1f}%)"
            if f in by.index else "-" for f in table["factor"]]
        model_note = (" The last column is the designed sweep's model-based main effect on the "
                      "same metric (see the linear model above): both should rank the factors "
                      "alike.")
    doc.p(f"Which factors matter, on {metric_info(imp.metric).label} (validation split), by "
          f"Optuna's fANOVA (a random forest's variance decomposition) and PED-ANOVA (how far "
          f"the top {_top(imp)} of points differ from all points), over {imp.points} points "
          f"(each point's seed replicates averaged).")
    doc.table(table, f"Importance as Optuna normalises it (shares summing to 1 per "
              f"resampling): mean over {imp.replicates} bootstrap resamplings of each point's "
              f"seeds (up to {imp.seeds} per point), with the 2.5-97.5 percentile interval. "
              f"Only completed trials count.{model_note}")
    doc.bullets(imp.notes + [DASHBOARD_NOTE])


#: why optuna-dashboard's importances (on ``launch.py export-optuna``'s study) are not these
DASHBOARD_NOTE = (
    "optuna-dashboard, on the study `launch.py export-optuna` writes, ranks the same points "
    "(one Optuna trial per point, its seeds averaged) with one fit of Optuna's default fANOVA "
    "(64 trees, depth up to 64) and no interval; here each importance is the mean of "
    f"{FANOVA_TREES}-tree, depth-{FANOVA_DEPTH} fits over resamplings of the seeds.  A "
    "dashboard number inside the interval above is the forest's randomness and the seeds' "
    "noise, not a disagreement.")


def _top(imp: Importance) -> str:
    return f"{ped_quantile(imp.points):.0%}"
