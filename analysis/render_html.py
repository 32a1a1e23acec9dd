"""The report's blocks (``analysis.document``) as one self-contained HTML file: figures
embedded as base64 PNG, inline CSS, no external link, so ``index.html`` opens offline and
survives being mailed around."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from .document import Doc
from .formatting import cell_text

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
.tw{overflow-x:auto;max-width:100%}
details{margin:.8em 0;color:#333}details>summary{cursor:pointer;font-weight:600}
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
            body = "".join("<tr>" + "".join(_td(cell_text(v)) for v in row)
                           + "</tr>" for row in t.itertuples(index=False))
            cap = f"<caption>{_inline(b.text)}</caption>" if b.text else ""
            # a wide table scrolls in its own box: the page never runs off the right edge
            parts.append(f"<div class=\"tw\"><table>{cap}<thead><tr>{head}</tr></thead>"
                         f"<tbody>{body}</tbody></table></div>")
        elif b.kind == "figure":
            parts.append(f"<figure>{_img(b.path, b.text)}"
                         f"<figcaption>{_inline(b.text)}</figcaption></figure>")
        elif b.kind == "details":
            parts.append(f"<details><summary>{_inline(b.text)}</summary>"
                         + "".join(f"<p>{_inline(t)}</p>" for t in b.items) + "</details>")
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
