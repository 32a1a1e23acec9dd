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
import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from contract.schema import CONFIG_PREFIX

from . import plots
from .importance import (FANOVA_DEPTH, FANOVA_TREES, LABELS, Importance, distributions,
                         fmt_importance, importance, ped_quantile)
from .load import MAX_LEVELS, Results
from .columns import metric_info, present_metrics, values
from .levels import fmt_level
from .selection import selection_metric

#: metrics shown beside the factors (each when present): validation first, then test
SHOWN_METRICS = ("val_psnr", "val_latent_acc", "test_psnr", "latent_acc", "weight_acc",
                 "joint_acc")
MAX_TABLE_ROWS = 10_000  # a sweep's bound on trials: the table holds every one


@dataclass
class Axis:
    name: str
    label: str
    pos: np.ndarray  # each trial's place on the axis, 0 (bottom) .. 1 (top); NaN: none
    ticks: list[tuple[float, str]]


@dataclass
class Explore:
    """What the section shows for one sweep (``prepare``); ``files``: PNGs it wrote."""
    results: Results
    importance: Importance | None
    metrics: list[str]
    frame: pd.DataFrame  # one row per trial, factors raw, metrics in display units
    axes: list[Axis]
    color_by: str
    figures: list[tuple[Path, str]] = field(default_factory=list)
    model: pd.DataFrame | None = None  # a designed sweep's main effects on the same metric
    key: str = ""  # pairs the sweep's parallel coordinates with its table (figure prefix)
    #: a multi-objective sweep's other objectives, each ranked too (``importance`` per metric)
    others: list[Importance] = field(default_factory=list)

    @property
    def files(self) -> list[Path]:
        return [p for p, _ in self.figures]


# ------------------------------------------------------------------------------------
def trial_frame(results: Results, metrics: list[str]) -> pd.DataFrame:
    """Every trial: id, status, seed, the factors' own values, the metrics (display units)."""
    t = results.trials
    out = pd.DataFrame({"trial": t["trial_id"].astype(str), "status": t.get("status")})
    if CONFIG_PREFIX + "seed" in t:
        out["seed"] = t[CONFIG_PREFIX + "seed"]
    for f in results.factors:
        out[f] = t[CONFIG_PREFIX + f]
    for m in metrics:
        out[m] = values(t, m)
    if "epochs_done" in t:
        out["epochs"] = t["epochs_done"]
    return out.reset_index(drop=True)


def _ticks(lo: float, hi: float, log: bool) -> list[tuple[float, str]]:
    if hi <= lo:
        return [(0.5, fmt_level(lo))]
    vals = np.linspace(lo, hi, 5)
    return [((v - lo) / (hi - lo), f"{10 ** v:.3g}" if log else f"{v:.3g}") for v in vals]


def _listed(results: Results, factor: str) -> bool:
    """Levels the sweep named (a grid axis or a choice), not values a search drew."""
    axis = results.contract["factors"].get(factor, {})
    sampled = axis.get("sampled")
    return "levels" in axis or isinstance(sampled, dict) and "choice" in sampled


def axes_of(results: Results, frame: pd.DataFrame, metrics: list[str]) -> list[Axis]:
    """One axis per factor (on the scale ``analysis.importance`` reads it on) and metric."""
    dists = distributions(results, results.trials, results.factors)
    axes = []
    for f in results.factors:
        col = frame[f]
        d = dists.get(f)
        if d is None and col.nunique() < 2:
            continue  # one value: a flat axis says nothing
        if d is not None and type(d).__name__ != "CategoricalDistribution":
            x = col.astype(float).to_numpy()
            log = bool(d.log)
            x = np.log10(np.where(x > 0, x, np.nan)) if log else x
            lo, hi = np.nanmin(x), np.nanmax(x)
            pos = (x - lo) / (hi - lo) if hi > lo else np.full(len(x), 0.5)
            levels = sorted(col.dropna().unique().tolist())
            # a few levels (a grid, a choice): tick each one, still placed on the scale
            ticks = [(float(p), fmt_level(v)) for v, p in zip(levels, (
                (np.log10(levels) if log else np.array(levels, float)) - lo) / (hi - lo))] \
                if len(levels) <= MAX_LEVELS and hi > lo and _listed(results, f) \
                else _ticks(lo, hi, log)
            axes.append(Axis(f, f + (" (log)" if log else ""), pos, ticks))
        else:
            levels = sorted(col.dropna().unique().tolist(), key=str)
            where = {str(v): i / max(len(levels) - 1, 1) for i, v in enumerate(levels)}
            pos = np.array([where.get(str(v), np.nan) if pd.notna(v) else np.nan for v in col])
            axes.append(Axis(f, f, pos, [(where[str(v)], fmt_level(v)) for v in levels]))
    for m in metrics:
        x = frame[m].astype(float).to_numpy()
        if not np.isfinite(x).any():
            continue
        lo, hi = np.nanmin(x), np.nanmax(x)
        pos = (x - lo) / (hi - lo) if hi > lo else np.full(len(x), 0.5)
        axes.append(Axis(m, plots._axis_label(m), pos, _ticks(lo, hi, False)))
    return axes


def prepare(results: Results, folder: Path, prefix: str, da: Any = None) -> Explore | None:
    """Compute the section's content for one sweep and write its PNGs; None when the sweep
    has no completed trial (nothing to explore)."""
    if not len(results.completed):
        return None
    chosen = selection_metric(results)[0]
    metrics = [chosen] + [m for m in present_metrics(results.trials, SHOWN_METRICS)
                          if m != chosen]
    frame = trial_frame(results, metrics)
    axes = axes_of(results, frame, metrics)
    imp = importance(results) if results.factors else None
    model = None
    if da is not None and imp is not None and len(da.effects):
        eff = da.effects
        model = eff[(eff["metric"] == imp.metric) & (eff["kind"] == "main")]
    objectives = results.spec.get("metric")
    others = [i for i in (importance(results, metric=m) for m in objectives
                          if isinstance(m, str) and imp is not None and m != imp.metric)
              if i is not None] if isinstance(objectives, list) else []
    ex = Explore(results, imp, metrics, frame, axes, chosen, model=model, key=prefix,
                 others=others)
    if imp is not None:
        fig = importance_figure(imp)
        ex.figures.append((plots.save(fig, folder / f"{prefix}-importance.png"),
                           f"Factor importance on {metric_info(imp.metric).label}: mean over "
                           f"{imp.replicates} resamplings of the seeds, bar = 95% interval."))
    if len(axes) >= 2:
        fig = parallel_figure(ex)
        ex.figures.append((plots.save(fig, folder / f"{prefix}-parallel.png"),
                           f"Parallel coordinates: every completed trial is one line (seeds "
                           f"are separate lines), coloured by "
                           f"{metric_info(chosen).label} (yellow: highest); each axis "
                           f"runs from its lowest value (bottom) to its highest (top)."))
    return ex


# ------------------------------------------------------------------------------------
# Static figures

def importance_figure(imp: Importance):
    import matplotlib.pyplot as plt
    names = list(dict.fromkeys(imp.table["factor"]))
    evaluators = list(dict.fromkeys(imp.table["evaluator"]))
    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * len(names) * len(evaluators)))
    height = 0.8 / len(evaluators)
    for k, ev in enumerate(evaluators):
        rows = imp.table[imp.table["evaluator"] == ev].set_index("factor").reindex(names)
        y = np.arange(len(names)) + k * height
        ax.barh(y, rows["mean"], height=height, label=LABELS.get(ev, ev),
                # clipped: a degenerate interval's percentile may sit a rounding below the mean
                xerr=[(rows["mean"] - rows["ci_low"]).clip(lower=0),
                      (rows["ci_high"] - rows["mean"]).clip(lower=0)],
                capsize=3, color=plots._colors(max(len(evaluators), 2))[k])
    ax.set_yticks(np.arange(len(names)) + height * (len(evaluators) - 1) / 2, names)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.05)
    ax.set_xlabel(f"importance on {metric_info(imp.metric).label} (share of the total)")
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    return fig


def parallel_figure(ex: Explore):
    import matplotlib.pyplot as plt
    from matplotlib import cm
    done = (ex.frame["status"] == "completed").to_numpy()
    score = ex.frame[ex.color_by].astype(float).to_numpy()
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(ex.axes)), 4.2))
    xs = np.arange(len(ex.axes))
    ys = np.array([a.pos for a in ex.axes])  # axes x trials
    finite = np.isfinite(score)
    lo, hi = (np.nanmin(score), np.nanmax(score)) if finite.any() else (0, 1)
    cmap = plt.get_cmap("viridis")
    order = np.argsort(np.where(finite, score, -np.inf))  # best drawn last, on top
    for j in order:
        if not done[j]:
            continue
        c = cmap((score[j] - lo) / (hi - lo) if hi > lo and finite[j] else 0.5)
        ax.plot(xs, ys[:, j], color=c, alpha=0.8, lw=1.2)
    for i, a in enumerate(ex.axes):
        ax.axvline(i, color="#444", lw=0.8)
        for p, text in a.ticks:
            ax.text(i + 0.03, p, text, fontsize=7, va="center", color="#333")
    ax.set_xticks(xs, [a.label for a in ex.axes], rotation=20, ha="right", fontsize=8)
    ax.set_yticks([])
    ax.set_xlim(-0.2, len(ex.axes) - 0.6)
    ax.set_ylim(-0.05, 1.05)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    sm = cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(lo, hi))
    fig.colorbar(sm, ax=ax, pad=0.01, fraction=0.03).set_label(plots._axis_label(ex.color_by))
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------
# The section

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


# ------------------------------------------------------------------------------------
# Interactive HTML (inline SVG + JS)

PC_W, PC_H, PC_TOP, PC_BOTTOM, PC_LEFT = 1100, 380, 20, 70, 40


def _hex(rgba) -> str:
    return "#%02x%02x%02x" % tuple(int(255 * c) for c in rgba[:3])


def parallel_html(ex: Explore) -> str:
    """An SVG of every completed trial; drag on an axis to keep only the lines that cross it
    in that range (several axes: all of them), a click clears that axis."""
    import matplotlib.pyplot as plt
    n = len(ex.axes)
    step = (PC_W - 2 * PC_LEFT) / max(n - 1, 1)
    xs = [PC_LEFT + i * step for i in range(n)]
    span = PC_H - PC_TOP - PC_BOTTOM

    def y(p: float) -> float:
        return PC_TOP + (1 - p) * span

    done = (ex.frame["status"] == "completed").to_numpy()
    score = ex.frame[ex.color_by].astype(float).to_numpy()
    lo, hi = (np.nanmin(score), np.nanmax(score)) if np.isfinite(score).any() else (0, 1)
    cmap = plt.get_cmap("viridis")
    parts = [f"<svg class=\"pc\" viewBox=\"0 0 {PC_W} {PC_H}\" width=\"{PC_W}\" "
             f"height=\"{PC_H}\" role=\"img\" aria-label=\"parallel coordinates\">"]
    for j in np.argsort(np.where(np.isfinite(score), score, -np.inf)):
        if not done[j]:
            continue
        pts, ys = [], []
        for i, a in enumerate(ex.axes):
            p = a.pos[j]
            ys.append("NaN" if not math.isfinite(p) else f"{y(p):.1f}")
            if math.isfinite(p):
                pts.append(f"{xs[i]:.1f},{y(p):.1f}")
        c = _hex(cmap((score[j] - lo) / (hi - lo))) if hi > lo and math.isfinite(score[j]) \
            else "#888888"
        tip = ", ".join(f"{a.name}={_show(ex.frame[a.name].iloc[j])}" for a in ex.axes)
        parts.append(f"<polyline class=\"pc-line\" data-id=\"{html.escape(ex.frame['trial'].iloc[j])}\""
                     f" data-y=\"{','.join(ys)}\" points=\"{' '.join(pts)}\" stroke=\"{c}\">"
                     f"<title>{html.escape(ex.frame['trial'].iloc[j] + ': ' + tip)}</title>"
                     "</polyline>")
    for i, a in enumerate(ex.axes):
        x = xs[i]
        parts.append(f"<line class=\"pc-axis\" x1=\"{x:.1f}\" y1=\"{PC_TOP}\" x2=\"{x:.1f}\" "
                     f"y2=\"{PC_TOP + span}\"></line>")
        for p, text in a.ticks:
            parts.append(f"<text class=\"pc-tick\" x=\"{x + 4:.1f}\" y=\"{y(p) + 3:.1f}\">"
                         f"{html.escape(text)}</text>")
        parts.append(f"<text class=\"pc-label\" x=\"{x:.1f}\" y=\"{PC_H - PC_BOTTOM + 22}\" "
                     f"text-anchor=\"middle\">{html.escape(a.label)}</text>")
        parts.append(f"<rect class=\"pc-brush\" data-axis=\"{i}\" x=\"{x - 8:.1f}\" y=\"0\" "
                     "width=\"16\" height=\"0\"></rect>")
        parts.append(f"<rect class=\"pc-hit\" data-axis=\"{i}\" x=\"{x - 12:.1f}\" "
                     f"y=\"{PC_TOP - 5}\" width=\"24\" height=\"{span + 10}\"></rect>")
    parts.append("</svg>")
    return (f"<div class=\"pc-box\" data-key=\"{html.escape(ex.key)}\"><p class=\"pc-count\">"
            "</p>" + "".join(parts)
            + f"<p class=\"pc-help\">Drag along an axis to select a range (on several axes: "
              f"trials inside all of them); click an axis to clear it. Colour: "
              f"{html.escape(metric_info(ex.color_by).label)}. Hover a line for its trial. The "
              f"trial table below lists only the selected trials while there is a selection."
              f"</p></div>" + PC_ASSETS)


def _show(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, (float, np.floating)):
        return f"{v:.4g}"
    return str(v)


def table_html(ex: Explore) -> str:
    """Every trial, one row each; click a header to sort (again: the other way), type in
    the box under a header to filter (``>20``, ``<=0.5``, ``1..10``, or text)."""
    frame = ex.frame.head(MAX_TABLE_ROWS)
    cols = list(frame.columns)
    labels = {m: plots._axis_label(m) for m in ex.metrics}
    head = "".join(f"<th title=\"click to sort\">{html.escape(labels.get(c, c))}</th>"
                   for c in cols)
    filters = "".join(f"<th><input class=\"tf\" data-col=\"{i}\" size=\"6\" "
                      f"aria-label=\"filter {html.escape(c)}\"></th>" for i, c in enumerate(cols))
    body = []
    for row in frame.itertuples(index=False):
        cells = []
        for v in row:
            num = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
            if num and not (isinstance(v, (float, np.floating)) and math.isnan(v)):
                cells.append(f"<td data-v=\"{float(v)!r}\">{html.escape(_show(v))}</td>")
            elif num:
                cells.append("<td data-v=\"\">-</td>")
            else:
                cells.append(f"<td>{html.escape(_show(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<div class=\"tt-box\" data-key=\"{html.escape(ex.key)}\"><p class=\"tt-count\"></p>"
            "<table class=\"trials\"><thead>"
            f"<tr>{head}</tr><tr class=\"tt-filters\">{filters}</tr></thead><tbody>"
            + "".join(body) + "</tbody></table><p class=\"tt-help\">Every trial (all "
            "statuses, unless the parallel coordinates above hold a selection; metrics in display "
            "units). Click a header to sort; under it, filter "
            "with text, <code>&gt;20</code>, <code>&lt;=0.5</code> or <code>1..10</code>.</p>"
            "</div>" + TABLE_ASSETS)


# CSS and JS, inlined once per widget (a few KB; the browser test counts them): plain DOM,
# no library, so the report stays a single offline file.
PC_ASSETS = """<style>
svg.pc{max-width:100%;height:auto;font-size:11px}
.pc-line{fill:none;stroke-width:1.4;stroke-opacity:.8}.pc-line.pc-off{stroke:#ddd;stroke-opacity:.35}
.pc-axis{stroke:#444}.pc-tick{fill:#333;font-size:10px}.pc-label{fill:#111}
.pc-hit{fill:transparent;cursor:crosshair}.pc-brush{fill:#e69500;fill-opacity:.3;stroke:#e69500}
</style><script>
(function(){var s=document.currentScript.previousElementSibling.previousElementSibling;
var svg=s.querySelector('svg.pc'),L=[].slice.call(svg.querySelectorAll('.pc-line')),B={},
cnt=s.querySelector('.pc-count'),act=null,y0=0,moved=false;
function Y(e){var p=svg.createSVGPoint();p.x=e.clientX;p.y=e.clientY;
return p.matrixTransform(svg.getScreenCTM().inverse()).y;}
function upd(){var n=0,ids=[];L.forEach(function(l){var y=l.getAttribute('data-y').split(','),on=true;
for(var k in B){var v=+y[k];if(!(v>=B[k][0]&&v<=B[k][1]))on=false;}
l.classList.toggle('pc-off',!on);if(on){n++;ids.push(l.getAttribute('data-id'));}});
cnt.textContent=n+' of '+L.length+' trials selected';
s.dispatchEvent(new CustomEvent('pc-select',{bubbles:true,detail:{key:s.getAttribute('data-key'),
ids:Object.keys(B).length?ids:null}}));}
function box(k){return svg.querySelector('.pc-brush[data-axis="'+k+'"]');}
svg.querySelectorAll('.pc-hit').forEach(function(h){h.addEventListener('mousedown',
function(e){act=h.getAttribute('data-axis');y0=Y(e);moved=false;e.preventDefault();});});
svg.addEventListener('mousemove',function(e){if(act===null)return;var y=Y(e),a=Math.min(y0,y),
b=Math.max(y0,y);if(b-a<2)return;moved=true;B[act]=[a,b];var r=box(act);r.setAttribute('y',a);
r.setAttribute('height',b-a);upd();});
document.addEventListener('mouseup',function(){if(act===null)return;if(!moved){delete B[act];
box(act).setAttribute('height',0);upd();}act=null;});upd();})();
</script>"""

TABLE_ASSETS = """<style>
table.trials th{cursor:pointer;user-select:none}table.trials .tt-filters th{cursor:auto}
table.trials th.asc::after{content:" \\25B2"}table.trials th.desc::after{content:" \\25BC"}
.tt-box{overflow-x:auto}table.trials input{width:4.5em;font-size:.9em}
</style><script>
(function(){var box=document.currentScript.previousElementSibling.previousElementSibling;
var t=box.querySelector('table.trials'),tb=t.tBodies[0],R=[].slice.call(tb.rows),
F=[].slice.call(t.querySelectorAll('input.tf')),H=[].slice.call(t.tHead.rows[0].cells),
cnt=box.querySelector('.tt-count'),dir={},S=null;
document.addEventListener('pc-select',function(e){if(e.detail.key!==box.getAttribute('data-key'))
return;S=e.detail.ids&&new Set(e.detail.ids);filt();});
function V(r,i){var c=r.cells[i];return c.hasAttribute('data-v')?c.getAttribute('data-v'):c.textContent;}
var N='(-?[0-9.]+(?:e[-+]?[0-9]+)?)';
function ok(q,s){q=q.trim();if(!q)return true;var x=parseFloat(s),m=q.match(new RegExp('^(<=|>=|<|>|=)\\\\s*'+N+'$','i'));
if(m){var y=parseFloat(m[2]);if(isNaN(x))return false;return m[1]=='<'?x<y:m[1]=='>'?x>y:
m[1]=='<='?x<=y:m[1]=='>='?x>=y:x==y;}
m=q.match(new RegExp('^'+N+'\\\\s*\\\\.\\\\.\\\\s*'+N+'$','i'));if(m)return x>=parseFloat(m[1])&&x<=parseFloat(m[2]);
return String(s).toLowerCase().indexOf(q.toLowerCase())>=0;}
function filt(){var n=0;R.forEach(function(r){var on=F.every(function(f){
return ok(f.value,V(r,+f.getAttribute('data-col')));})&&(!S||S.has(r.cells[0].textContent));r.style.display=on?'':'none';if(on)n++;});
cnt.textContent=n+' of '+R.length+' trials shown';}
F.forEach(function(f){f.addEventListener('input',filt);});
H.forEach(function(th,i){th.addEventListener('click',function(){var d=dir[i]=dir[i]==1?-1:1;
H.forEach(function(h){h.classList.remove('asc','desc');});th.classList.add(d>0?'asc':'desc');
R.sort(function(a,b){var x=V(a,i),y=V(b,i);
if(a.cells[i].hasAttribute('data-v')){if(x===''||y==='')return (x==='')-(y==='');return d*(x-y);}
return d*x.localeCompare(y);});R.forEach(function(r){tb.appendChild(r);});});});filt();})();
</script>"""
