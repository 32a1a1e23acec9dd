"""The report's content model: one list of blocks (heading, paragraph, warning, bullets,
table, figure, gallery, ready HTML), built once by ``analysis.report`` and drawn by two thin
renderers (``render_markdown``, ``render_html``), so the two formats cannot disagree and no
Markdown-to-HTML converter is needed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import pandas as pd


@dataclass
class Block:
    kind: str  # h1 h2 h3 p warn bullets table figure gallery raw details
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

    def details(self, summary: str, paragraphs: Sequence[str]) -> None:
        """Paragraphs a reader opens when needed (HTML: a closed ``<details>`` under
        ``summary``; Markdown: the paragraphs, in place)."""
        self.blocks.append(Block("details", summary, items=list(paragraphs)))

    def gallery(self, title: str, items: Sequence[tuple[Path, str]]) -> None:
        """Small pictures side by side (HTML) or in sequence (Markdown), under a title."""
        self.blocks.append(Block("gallery", title, items=list(items)))
