"""The report's sections whose rows carry verdicts of its one Holm family
(``analysis.family``): the paper's numbers beside ours, label efficiency, the equivalence
tests stated before the run, and the paper's claims, measured."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .document import Doc
from .formatting import FAMILY, adjusted_p, fmt_num, fmt_p
from .labels import label_table
from .load import Results
from .columns import metric_info

#: verdicts a report may bold: each one survived the document's Holm family
BOLD_VERDICTS = ("equivalent", "better", "worse")


def _verdict_cell(verdict: str) -> str:
    return f"**{verdict}**" if verdict in BOLD_VERDICTS else verdict


def _margin_cell(r: Any) -> str:
    if not isinstance(r.margin, float) or math.isnan(r.margin):
        return "-"
    return f"+-{fmt_num(r.margin)} ({r.margin_source}; stated {r.stated})"


def _paper_print(pc: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "result": pc["claim"], "variant": pc["variant"],
        "paper (%)": pc["paper"],
        "ours (%) [95% CI]": [f"{fmt_num(r.ours)} [{fmt_num(r.ci_low)}, {fmt_num(r.ci_high)}]"
                              if r.n else "left out" for r in pc.itertuples()],
        "interval over": pc["interval"],
        "n": pc["n"], "ours - paper (pp)": [fmt_num(d, sign=True) for d in pc["diff"]],
        "margin (pp; source; stated)": [_margin_cell(r) for r in pc.itertuples()],
        "90% interval (TOST)": [f"[{fmt_num(r.tost_low)}, {fmt_num(r.tost_high)}]"
                                if isinstance(r.tost_low, float) and not math.isnan(r.tost_low)
                                else "-" for r in pc.itertuples()],
        **adjusted_p(pc),
        "largest passable diff (pp)": _passable_cells(pc),
        "verdict": [_verdict_cell(v) for v in pc["verdict"]],
        "our data and budget": pc["budget"], "comparable?": pc["comparable"],
        "trials used": pc["selection"],
    })


def paper_section(doc: Doc, pc: pd.DataFrame) -> None:
    """The paper's reported accuracies beside ours (``paper.paper_comparison``), each row
    tested against the margin the sweep file stated before the run."""
    if not len(pc):
        return
    doc.h(3, "The paper's numbers beside ours")
    doc.table(_paper_print(pc), "Paper: Egri, Hyper-network based Implicit Neural "
              "Representations for Image Classification (MNIST; CIFAR-10 in its appendix B). "
              "Ours: mean [bounded 95% CI]; 'interval over' says whether it holds the test "
              "set's sampling error (seeds and test images) or the seeds alone. Verdict: "
              "an equivalence test (TOST) against the margin the sweep file stated before "
              "the run (its source and date beside it), on the 90% interval shown, Holm-"
              f"corrected over {FAMILY}: equivalent, better, worse or inconclusive; a row "
              "without a stated margin is not tested. 'comparable?' says whether our data "
              "and model match the paper's; a subset or a small preset is a reduced budget, "
              "not a reproduction. Classifier-loss rows use only trials that ran that loss "
              "(cls_weight > 0); 'trials used' says how the setting was chosen, or why a "
              "row is left out.")
    notes = [f"{r.claim}: {r.note}" for r in pc.itertuples() if r.note]
    doc.bullets(notes)


def labels_section(doc: Doc, res: Results, diffs: pd.DataFrame,
                   figures: Sequence[tuple[Path, str]]) -> None:
    """Label efficiency (issue 28), for a sweep whose trials ran label counts: accuracy
    against training labels per variant and probe, its figure, and the paired differences
    HyperINR minus each control, tested in the report's family."""
    table = label_table(res)
    if table.empty:
        return
    doc.h(3, "Label efficiency: accuracy against training labels")
    doc.p("Each probe trained again on n class-balanced training labels (a seeded subset, "
          "the same for every variant of a seed, so variants are compared on the same labels; "
          "smaller subsets inside larger ones) and scored on the whole test split. Statistics "
          "of the probes' inputs come from every training image: only labels are counted. "
          "With every label ('all') the latent MLP, weight CNN and pixel probes are the "
          "full-label ones of the tables above. A probe on n < all labels trains for at least "
          "500 steps. The pixel probes do not depend on the variant: one row per seed.")
    doc.table(pd.DataFrame({
        "variant": table["variant"], "probe": table["probe"], "labels": table["labels"],
        "accuracy (%) [95% CI]": [f"{fmt_num(r.mean)} [{fmt_num(r.ci_low)}, {fmt_num(r.ci_high)}]"
                                  for r in table.itertuples()],
        "n (seeds)": table["n"], "interval over": table["interval"]}),
        "Mean over seeds; 95% interval over seeds (logit-scale t) widened to the two-level "
        "bootstrap's over seeds and test images where 'interval over' says so.")
    for path, caption in figures:
        doc.figure(path, caption)
    if len(diffs):
        doc.h(3, "Label efficiency: HyperINR minus each control")
        doc.table(pd.DataFrame({
            "difference": [f"{r.variant} minus {r.control}" for r in diffs.itertuples()],
            "probe": diffs["probe"], "labels": diffs["labels"],
            "difference [95% CI]": [f"{fmt_num(r.diff, sign=True)} pp "
                                    f"[{fmt_num(r.ci_low, sign=True)}, "
                                    f"{fmt_num(r.ci_high, sign=True)}]"
                                    for r in diffs.itertuples()],
            "interval over": diffs["interval"],
            "test (n)": [f"{r.test} ({r.n_pairs} pairs)" if r.test == "paired t" else r.test
                         for r in diffs.itertuples()],
            "p": diffs["p"].map(fmt_p), **adjusted_p(diffs),
            "significant": ["**yes**" if s else "no" for s in diffs["significant"]]}),
            "Accuracy of the HyperINR's probe minus the control's, in percentage points, "
            "paired by seed (same labels, same test images): the paired t-interval widened "
            "to the paired two-level bootstrap's where 'interval over' says so. Positive: the "
            "HyperINR's v is the more label-efficient. p (Holm) corrected over "
            f"{FAMILY}; a no-difference claim is tested only against a margin stated in the "
            "sweep file (the equivalence table).")


def equivalence_section(doc: Doc, eq: pd.DataFrame) -> None:
    """The sweep file's pre-stated equivalence tests that are not paper rows (no-effect
    claims, other references)."""
    if not len(eq):
        return
    doc.h(3, "Equivalence tests stated before the run")
    doc.table(pd.DataFrame({
        "name": eq["name"], "metric": [metric_info(m).label for m in eq["metric"]],
        "compared": eq["compared"],
        "reference +- margin": [f"{fmt_num(r.reference)} +- {fmt_num(r.margin)} {r.unit}"
                                for r in eq.itertuples()],
        "margin from (stated)": [f"{r.margin_source} ({r.stated})" for r in eq.itertuples()],
        "estimate [90% interval]": [f"{fmt_num(r.estimate)} [{fmt_num(r.tost_low)}, "
                                    f"{fmt_num(r.tost_high)}]" for r in eq.itertuples()],
        "interval over": eq["interval"], "n": eq["n"],
        **adjusted_p(eq),
        "largest passable diff": [f"{c} {r.unit}" if c[0].isdigit() else c
                                for c, r in zip(_passable_cells(eq), eq.itertuples())],
        "verdict": [_verdict_cell(v) for v in eq["verdict"]]}),
        "Each row a margin written in the sweep file's equivalence: section before the run "
        "(source and date beside it). TOST: equivalent when the 90% interval lies inside "
        "reference +- margin; better / worse when it lies wholly beyond it; otherwise "
        f"inconclusive. p (Holm) over {FAMILY}. Largest passable diff: the largest "
        "|estimate - reference| that could still be called equivalent in the row's family "
        "with this interval's width (the margin minus its half-width at alpha / the family's "
        "size); 'none' where even no difference could pass.")


def claims_section(doc: Doc, claims: pd.DataFrame) -> None:
    """The paper's claims (``analysis.claims``): each a difference whose sign was predicted."""
    if not len(claims):
        return
    doc.h(3, "The paper's claims, measured")
    shown = pd.DataFrame({
        "claim": claims["claim"], "question": claims["question"],
        "source: the paper (section), or this project's test": claims["source"],
        "predicted": ["> 0" if d > 0 else "< 0" for d in claims["predicted"]],
        "estimate [95% CI]": [f"{fmt_num(r.estimate, sign=True)} {r.unit} "
                              f"[{fmt_num(r.ci_low, sign=True)}, {fmt_num(r.ci_high, sign=True)}]"
                              for r in claims.itertuples()],
        "interval over": claims["interval"] if "interval" in claims else "seeds only",
        "n": claims["n"], "p": claims["p"].map(fmt_p), **adjusted_p(claims),
        # bold only what survives Holm: an uncorrected 'supported' is not a finding
        "verdict": [f"**{v}**" if v in ("supported", "contradicted") else v
                    for v in claims["verdict"]],
        "how": claims["detail"]})
    doc.table(shown, "Each row a difference whose sign was predicted in advance (t-based "
              "95% CI over seeds, widened to the two-level bootstrap's over seeds and test "
              "images where 'interval over' says so); the third column quotes the paper's "
              "statement with its section, or says the comparison is this project's own "
              f"test. p (Holm) is corrected over {FAMILY}. supported = Holm p "
              "< 0.05 with the estimate on the predicted side; contradicted = Holm p < "
              "0.05 on the other side; inconclusive = not significant after correction.")


def _passable_cells(frame: pd.DataFrame) -> list[str]:
    """Each row's power line (``family.passable``): the largest difference that could still
    be called equivalent in its family with this interval's width."""
    if "passable" not in frame:
        return ["-"] * len(frame)
    return ["-" if not np.isfinite(v) else "none (interval wider than the margin)" if v == 0
            else fmt_num(v) for v in pd.to_numeric(frame["passable"], errors="coerce")]
