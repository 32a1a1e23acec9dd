"""One Holm family per report: every test whose verdict a document can bold.

Each table function corrects its own rows (a notebook asks one question at a time).  A
report asks them all at once, and a p-value called significant in a 12-row family can be
ordinary in the document's 44 (issue 26: pretrained's -3.22 dB, Holm 0.031 among the
effects, about 0.1 among everything the document tests).  So the report pools the p-values
of every table it prints with a verdict, across every sweep it covers, corrects them once
with Holm (``stats.holm``), and redraws each table's verdicts from the pooled p:

* paired effects against the reference (``tables.effects_table``), where printed;
* a designed sweep's model terms (``design``'s final table and each rung's);
* the paper's claims (``claims.claims_table``);
* label efficiency: each HyperINR variant minus each control at each label count
  (``labels.label_differences``, issue 28);
* the equivalence tests against pre-stated margins: the paper table's tested rows and the
  sweep file's other entries (``tables.paper_comparison``, ``tables.equivalence_table``).

What is tested, how many, is stated in the report's preamble (``Family.text``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .claims import _verdict
from .stats import ALPHA, holm

#: table key -> what the preamble calls its rows
KINDS = {"effects": "paired effects against the reference setting",
         "design": "terms of a designed sweep's linear model",
         "rungs": "model terms at the early-stopping rungs",
         "claims": "the paper's claims",
         "labels": "label-efficiency differences, HyperINR minus a control",
         "paper": "equivalence tests of the paper's numbers",
         "equivalence": "other pre-stated equivalence tests"}


@dataclass
class Family:
    """The pooled tests: (sweep, table key, rows tested) in document order, and the size."""
    parts: list[tuple[str, str, int]] = field(default_factory=list)
    size: int = 0

    def text(self) -> str:
        if not self.size:
            return "This report draws no verdict from a test."
        counts: dict[str, int] = {}
        for _, key, n in self.parts:
            counts[key] = counts.get(key, 0) + n
        which = "; ".join(f"{KINDS[k]}: {n}" for k, n in counts.items() if n)
        sweeps = sorted({s for s, _, n in self.parts if n})
        return (f"One testing family for the whole report: every bold verdict below (a "
                f"significant effect or term, a supported or contradicted claim, an "
                f"equivalent, better or worse number) comes from Holm's correction over the "
                f"same {self.size} tests ({which}"
                f"{'; from ' + ', '.join(sweeps) if len(sweeps) > 1 else ''}), at p < "
                f"{ALPHA:g}. A result that is not significant after it is inconclusive, "
                "whatever side its estimate falls on.")


def apply(tables: list[dict[str, pd.DataFrame]], sweeps: list[str],
          alpha: float = ALPHA) -> Family:
    """Holm over every ``p`` of every table in ``tables`` (one dict per sweep, keys of
    ``KINDS``; a missing or empty table counts nothing), in place: each table's ``p_holm``
    becomes the family's and its verdict column is redrawn from it."""
    pieces = []
    for sweep, group in zip(sweeps, tables):
        for key in KINDS:
            frame = group.get(key)
            if frame is None or not len(frame) or "p" not in frame:
                continue
            tested = np.isfinite(pd.to_numeric(frame["p"], errors="coerce").to_numpy(float))
            pieces.append((sweep, key, frame, tested))
    family = Family([(s, k, int(t.sum())) for s, k, _, t in pieces])
    pooled = np.concatenate([pd.to_numeric(f["p"], errors="coerce").to_numpy(float)[t]
                             for _, _, f, t in pieces]) if pieces else np.array([])
    family.size = len(pooled)
    adjusted = holm(pooled)
    at = 0
    for sweep, key, frame, tested in pieces:
        n = int(tested.sum())
        p_holm = np.full(len(frame), np.nan)
        p_holm[tested] = adjusted[at:at + n]
        at += n
        frame["p_holm"] = p_holm
        _redraw(key, frame, alpha)
    return family


def _redraw(key: str, frame: pd.DataFrame, alpha: float) -> None:
    """A table's verdict column from its (new) ``p_holm``, by the table's own rule."""
    if key in ("effects", "design", "rungs", "labels"):
        frame["significant"] = frame["p_holm"] < alpha
    elif key == "claims":
        frame["verdict"] = [_verdict(r.estimate, r.p_holm, r.predicted, alpha, r.n)
                            for r in frame.itertuples()]
    else:  # paper / equivalence: the candidate verdict survives, or it is inconclusive
        tested = np.isfinite(frame["p_holm"].to_numpy(float))
        frame.loc[tested, "verdict"] = [
            c if p < alpha else "inconclusive"
            for c, p in zip(frame.loc[tested, "candidate"], frame.loc[tested, "p_holm"])]
