"""One Holm family per report: every test whose verdict a document can bold.

Each table function corrects its own rows (a notebook asks one question at a time).  A
report asks them all at once, and a p-value called significant in a 12-row family can be
ordinary in the document's 44 (issue 26: pretrained's -3.22 dB, Holm 0.031 among the
effects, about 0.1 among everything the document tests).  So the report pools the p-values
of every table it prints with a verdict, across every sweep it covers, corrects them once
with Holm (``stats.holm``), and redraws each table's verdicts from the pooled p:

* paired effects against the reference (``effects.effects_table``), where printed;
* a designed sweep's model terms (``design``'s final table and each rung's);
* the paper's claims (``claims.claims_table``);
* label efficiency: each HyperINR variant minus each control at each label count
  (``labels.label_differences``, issue 28);
* the equivalence tests against pre-stated margins: the paper table's tested rows and the
  sweep file's other entries (``paper.paper_comparison``, ``paper.equivalence_table``).

What is tested, how many, is stated in the report's Methods (``Family.text``).

A sweep that names its confirmatory tests before the run (its ``primary:`` section,
``sweeps/primary.py``) splits that family in two (issue 41): Holm over the primary tests
alone, which carry the document's confirmatory verdicts; Benjamini-Hochberg over every other
test (secondary: a bounded share of false discoveries, read as exploratory).  Each table then
gets a ``family`` column, ``p_holm`` holds the row's adjusted p in its family, and a row is
in one family only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .claims import claim_verdict
from .stats import ALPHA, benjamini_hochberg, holm

#: table key -> what the Methods text calls its rows
KINDS = {"effects": "paired effects against the reference setting",
         "design": "terms of a designed sweep's linear model",
         "rungs": "model terms at the early-stopping rungs",
         "claims": "the paper's claims",
         "labels": "label-efficiency differences, HyperINR minus a control",
         "paper": "equivalence tests of the paper's numbers",
         "equivalence": "other pre-stated equivalence tests"}


PRIMARY, SECONDARY = "primary (Holm)", "secondary (BH)"


@dataclass
class Family:
    """The pooled tests: (sweep, table key, rows tested) in document order, and the size;
    with primary tests declared, also the primary rows (sweep, description) and the
    declared tests that matched no row, or several."""
    parts: list[tuple[str, str, int]] = field(default_factory=list)
    size: int = 0
    primary: list[tuple[str, str]] | None = None
    unmatched: list[str] = field(default_factory=list)

    def text(self) -> str:
        if self.primary is not None:
            return self._split_text()
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

    def _split_text(self) -> str:
        named = "; ".join(f"{what}" + (f" ({sweep})" if len({s for s, _ in self.primary}) > 1
                                       else "") for sweep, what in self.primary)
        text = (f"Two testing families. Primary, named in the sweep file before the run: "
                f"{len(self.primary)} test(s) ({named}), Holm-corrected among themselves at "
                f"p < {ALPHA:g}: only these carry confirmatory verdicts. Secondary: the other "
                f"{self.size - len(self.primary)} tests of this report, Benjamini-Hochberg "
                f"false-discovery rate at {ALPHA:g}, exploratory. Each table's family column "
                "says which a row is in, and its adjusted p is that family's.")
        if self.unmatched:
            text += " Declared but not found as one row: " + "; ".join(self.unmatched) + "."
        return text


def describe(test: dict) -> str:
    """A primary test in words: ``equivalence name=depth_strong_prior``."""
    return f"{test['table']} " + ", ".join(f"{k}={v}" for k, v in test["where"].items())


def _matches(frame: pd.DataFrame, where: dict) -> np.ndarray:
    """Rows of ``frame`` whose columns hold ``where``'s values (numbers compared as numbers)."""
    mask = np.ones(len(frame), dtype=bool)
    for column, value in where.items():
        if column not in frame:
            return np.zeros(len(frame), dtype=bool)
        col = frame[column]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            numbers = pd.to_numeric(col, errors="coerce").to_numpy(float)
            mask &= np.isclose(numbers, float(value), rtol=1e-9, atol=0.0)
        else:
            mask &= col.astype(str).to_numpy() == str(value)
    return mask


def _primary_rows(pieces: list, primaries: dict[str, dict]) -> tuple[list, list, list]:
    """Per piece, the mask of its rows that a declared primary test names (a test naming
    exactly one tested row); the primary rows in words; the declared tests that named no
    tested row, or several (those stay secondary)."""
    hits: dict[tuple[str, int], list[tuple[int, np.ndarray]]] = {}
    for at, (sweep, key, frame, tested) in enumerate(pieces):
        for i, test in enumerate((primaries.get(sweep) or {}).get("tests", [])):
            if test["table"] == key:
                hits.setdefault((sweep, i), []).append((at, _matches(frame, test["where"])
                                                        & tested))
    masks = [np.zeros(len(f), dtype=bool) for _, _, f, _ in pieces]
    named, unmatched = [], []
    for sweep, declared in primaries.items():
        for i, test in enumerate((declared or {}).get("tests", [])):
            found = hits.get((sweep, i), [])
            n = sum(int(h.sum()) for _, h in found)
            if n == 1 and any((masks[at] & h).any() for at, h in found):
                unmatched.append(f"{describe(test)} (the same row as an earlier primary test: "
                                 "it enters the family once)")
            elif n == 1:
                for at, h in found:
                    masks[at] |= h
                named.append((sweep, describe(test)))
            else:
                unmatched.append(f"{describe(test)} ({n} rows: "
                                 + ("not in this report" if not n else "not one test: name "
                                    "it by more columns; left secondary") + ")")
    return masks, named, unmatched


def apply(tables: list[dict[str, pd.DataFrame]], sweeps: list[str],
          alpha: float = ALPHA, primaries: list[dict | None] | None = None) -> Family:
    """Holm over every ``p`` of every table in ``tables`` (one dict per sweep, keys of
    ``KINDS``; a missing or empty table counts nothing), in place: each table's ``p_holm``
    becomes the family's and its verdict column is redrawn from it.  ``primaries`` (each
    sweep's ``primary:`` section, or None): where any is declared, Holm over the primary
    rows and Benjamini-Hochberg over the rest instead (the module docstring)."""
    pieces = []
    for sweep, group in zip(sweeps, tables):
        for key in KINDS:
            frame = group.get(key)
            if frame is None or not len(frame) or "p" not in frame:
                continue
            tested = np.isfinite(pd.to_numeric(frame["p"], errors="coerce").to_numpy(float))
            pieces.append((sweep, key, frame, tested))
    family = Family([(s, k, int(t.sum())) for s, k, _, t in pieces])
    declared = {s: p for s, p in zip(sweeps, primaries or []) if p}
    if declared:
        masks, family.primary, family.unmatched = _primary_rows(pieces, declared)
    else:
        masks = [np.zeros(len(f), dtype=bool) for _, _, f, _ in pieces]
    ps = [pd.to_numeric(f["p"], errors="coerce").to_numpy(float) for _, _, f, _ in pieces]
    pooled = np.concatenate([p[t] for p, (_, _, _, t) in zip(ps, pieces)]) if pieces \
        else np.array([])
    family.size = len(pooled)
    first = np.concatenate([m[t] for m, (_, _, _, t) in zip(masks, pieces)]) if pieces \
        else np.array([], dtype=bool)
    adjusted = np.full(len(pooled), np.nan)
    if declared:  # two families: Holm over the primary rows, BH over the rest
        adjusted[first] = holm(pooled[first])
        adjusted[~first] = benjamini_hochberg(pooled[~first])
    else:
        adjusted = holm(pooled)
    at = 0
    for (sweep, key, frame, tested), mask in zip(pieces, masks):
        n = int(tested.sum())
        p_holm = np.full(len(frame), np.nan)
        p_holm[tested] = adjusted[at:at + n]
        at += n
        frame["p_holm"] = p_holm
        if declared:
            frame["family"] = np.where(mask, PRIMARY, np.where(tested, SECONDARY, None))
        if key in ("paper", "equivalence"):
            first_n = len(family.primary or [])
            size = np.where(mask, first_n, family.size - first_n)
            frame["passable"] = passable(frame, np.maximum(size, 1), alpha)
        _redraw(key, frame, alpha)
    return family


def passable(frame: pd.DataFrame, tests: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """The largest |estimate - reference| each equivalence row could have and still be
    called equivalent in its family: margin minus the half-width of its interval at the
    family's strictest level, alpha / tests (Holm's first step; BH's smallest threshold),
    scaled from its 90% interval by the t quantiles over its n seeds (approximate for an
    interval widened by the bootstrap).  0 where even a zero difference cannot pass: the
    interval is wider than the margin; NaN without a test."""
    from scipy import stats as st

    half = (pd.to_numeric(frame["tost_high"], errors="coerce")
            - pd.to_numeric(frame["tost_low"], errors="coerce")).to_numpy(float) / 2
    n = pd.to_numeric(frame["n"], errors="coerce").to_numpy(float)
    df = np.where(n > 1, n - 1, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = st.t.ppf(1 - alpha / np.asarray(tests, float), df) / st.t.ppf(1 - alpha, df)
        room = pd.to_numeric(frame["margin"], errors="coerce").to_numpy(float) - half * scale
    return np.where(np.isfinite(room), np.maximum(room, 0.0), np.nan)


def _redraw(key: str, frame: pd.DataFrame, alpha: float) -> None:
    """A table's verdict column from its (new) ``p_holm``, by the table's own rule."""
    if key in ("effects", "design", "rungs", "labels"):
        frame["significant"] = frame["p_holm"] < alpha
    elif key == "claims":
        frame["verdict"] = [claim_verdict(r.estimate, r.p_holm, r.predicted, alpha, r.n)
                            for r in frame.itertuples()]
    else:  # paper / equivalence: the candidate verdict survives, or it is inconclusive
        tested = np.isfinite(frame["p_holm"].to_numpy(float))
        frame.loc[tested, "verdict"] = [
            c if p < alpha else "inconclusive"
            for c, p in zip(frame.loc[tested, "candidate"], frame.loc[tested, "p_holm"])]
