"""The report's blocks (``analysis.document``) as Markdown: ``report.md``, its figures linked
from ``figures/`` beside it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .document import Doc
from .formatting import cell_text


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
            lines += ["| " + " | ".join(_md_escape(cell_text(v)) for v in row) + " |"
                      for row in t.itertuples(index=False)]
            if b.text:
                lines += ["", f"*{b.text}*"]
            lines.append("")
        elif b.kind == "figure":
            rel = os.path.relpath(b.path, out)
            lines += [f"![{b.text}]({Path(rel).as_posix()})", "", f"*{b.text}*", ""]
        elif b.kind == "details":
            for text in b.items:
                lines += [text, ""]
        elif b.kind == "raw" and b.text:
            lines += [f"*{b.text}*", ""]
        elif b.kind == "gallery":
            lines += [f"**{b.text}**", ""]
            for path, caption in b.items:
                rel = Path(os.path.relpath(path, out)).as_posix()
                lines += [f"![{caption}]({rel})", "", f"*{caption}*", ""]
    return "\n".join(lines)
