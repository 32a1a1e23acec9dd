"""How the report writes numbers, p-values, units and a sweep's status counts: one way in
every section and in both formats."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from .columns import metric_info
from .levels import fmt_level

#: how captions name the testing family of a report (analysis.family)
FAMILY = ("the report's testing family, stated under Methods (a primary family named "
          "before the run has its own, Holm, and the rest Benjamini-Hochberg)")


def fmt_num(x: Any, digits: int = 2, sign: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def fmt_p(p: float) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "-"
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}" if p < 0.01 else f"{p:.3f}"


def fmt_p_eq(p: float) -> str:
    text = fmt_p(p)
    return text if text.startswith("<") else f"= {text}"


def unit_of(metric: str) -> str:
    return metric_info(metric).unit


def unit_gap(metric: str) -> str:
    return "" if unit_of(metric) == "%" else " "


def status_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{v} {k}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


def cell_text(v: Any) -> str:
    """A table cell's value as text, the same in both formats."""
    if isinstance(v, float):  # only raw values reach here (config levels, ids): keep them short
        return fmt_level(v) if not math.isnan(v) else "-"
    if v is None or (not isinstance(v, str) and pd.isna(v) is True):
        return "-"
    return str(v)


def adjusted_p(frame: pd.DataFrame) -> dict[str, list[str]]:
    """A table's adjusted-p column(s): ``p (Holm)`` in a report with one family; with a
    primary family named before the run (``analysis.family``), the row's family and its p
    adjusted there."""
    ps = [fmt_p(p) for p in frame["p_holm"]]
    if "family" not in frame:
        return {"p (Holm)": ps}
    return {"family": [cell_text(f) for f in frame["family"]], "p (adjusted)": ps}
