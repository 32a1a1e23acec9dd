"""The Explore section's interactive widgets in index.html: parallel coordinates as inline SVG
whose axes can be brushed, and a sortable, filterable table of every trial, in about 4 KB of
plain JavaScript and CSS written here (no CDN, no library: the HTML stays one offline file).
Brushing the parallel coordinates filters the same sweep's trial table.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np

from . import plots
from .columns import metric_info
from .explore_model import MAX_TABLE_ROWS, Explore

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
