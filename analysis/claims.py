"""The paper's four claims as measurements with confidence intervals (sweeps/paper_cpu.yaml).

Each claim is a difference whose sign the paper predicts, estimated over seeds:

1. Representations beat pixels: latent-MLP and weight-CNN accuracy minus the pixel MLP's
   (variant ``plain``; paired by seed, since the pixel baseline is trained on the same split
   with the same seed).
2. The classifier loss raises latent accuracy (``classifier_loss`` minus ``plain``), and what it
   costs in test PSNR.
3. Pretrained embeddings converge faster (test PSNR at the first epochs, ``pretrained`` minus
   ``plain``) and collapse toward class prototypes (``proto_ratio``: a reconstruction's distance
   to its input over its distance to its class mean; higher = more prototypical).
4. The image operations beat their naive baselines (``*_gain_db`` > 0, one-sample over all
   completed trials of each variant).

Verdicts: "supported" when the 95% CI lies on the predicted side of zero, "contradicted" when it
lies on the other side, "inconclusive" otherwise.  Intervals are not multiplicity-corrected:
each row is its own pre-registered question, not a search.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sweeps.schema import CONFIG_PREFIX, METRIC_PREFIX

from .load import Results
from .stats import t_interval

VARIANT = CONFIG_PREFIX + "variant"
SEED = CONFIG_PREFIX + "seed"


def _verdict(low: float, high: float, predicted: int) -> str:
    if not np.isfinite(low):
        return "too few seeds"
    if predicted * low > 0 and predicted * high > 0:
        return "supported"
    if predicted * low < 0 and predicted * high < 0:
        return "contradicted"
    return "inconclusive"


def _by_seed(frame: pd.DataFrame, variant: str, column: str) -> pd.Series:
    rows = frame[frame[VARIANT] == variant] if VARIANT in frame else frame.iloc[0:0]
    if column not in rows:
        return pd.Series(dtype=float)
    return rows.groupby(SEED)[column].mean()


def _row(claim: str, question: str, diffs: pd.Series | np.ndarray, unit: str, scale: float,
         predicted: int, detail: str) -> dict[str, Any]:
    values = np.asarray(diffs, dtype=float) * scale
    mean, low, high, p = t_interval(values)  # a difference: unbounded, t-based
    return {"claim": claim, "question": question, "estimate": mean, "ci_low": low,
            "ci_high": high, "unit": unit, "n": int(np.isfinite(values).sum()), "p": p,
            "verdict": _verdict(low, high, predicted), "detail": detail}


def _paired(done: pd.DataFrame, a: tuple[str, str], b: tuple[str, str]) -> pd.Series:
    """(variant, column) a minus b, matched by seed."""
    left, right = _by_seed(done, *a), _by_seed(done, *b)
    both = left.index.intersection(right.index)
    return (left[both] - right[both]).dropna()


def claims_table(results: Results, early_epochs: tuple[int, ...] = (1, 2)) -> pd.DataFrame:
    """One row per measured claim; empty unless the sweep varied ``variant`` (with plain)."""
    done = results.completed
    if "variant" not in results.factors or VARIANT not in done or "plain" not in set(done[VARIANT]):
        return pd.DataFrame()
    m = METRIC_PREFIX
    rows = []
    for probe, name in (("latent_acc", "latent MLP"), ("weight_acc", "weight CNN")):
        for base, base_name in (("pixel_mlp_acc", "pixel MLP"), ("pixel_cnn_acc", "pixel CNN")):
            d = _paired(done, ("plain", m + probe), ("plain", m + base))
            if len(d):
                rows.append(_row("1. representations classify well",
                                 f"{name} on HyperINR ({'v' if probe == 'latent_acc' else 'theta*'})"
                                 f" minus {base_name}", d, "pp", 100.0, +1,
                                 "variant plain, paired by seed"))
    if "classifier_loss" in set(done[VARIANT]):
        rows.append(_row("2. classifier loss helps classification",
                         "latent-MLP accuracy: classifier_loss minus plain",
                         _paired(done, ("classifier_loss", m + "latent_acc"), ("plain", m + "latent_acc")),
                         "pp", 100.0, +1, "paired by seed"))
        rows.append(_row("2. ... at what reconstruction cost",
                         "test PSNR: classifier_loss minus plain",
                         _paired(done, ("classifier_loss", m + "test_psnr"), ("plain", m + "test_psnr")),
                         "dB", 1.0, -1, "a cost is predicted: 'supported' = PSNR lower"))
    if "pretrained" in set(done[VARIANT]):
        epochs = results.epochs
        if len(epochs) and m + "test_psnr" in epochs:
            meta = done[["trial_id", VARIANT, SEED]]
            curve = epochs.merge(meta, on="trial_id")
            for epoch in early_epochs:
                at = curve[curve["epoch"] == epoch]
                d = _paired(at, ("pretrained", m + "test_psnr"), ("plain", m + "test_psnr"))
                if len(d):
                    rows.append(_row("3. pretrained embeddings converge faster",
                                     f"test PSNR after epoch {epoch}: pretrained minus plain", d,
                                     "dB", 1.0, +1, "paired by seed"))
        rows.append(_row("3. ... and collapse toward class prototypes",
                         "prototype ratio d(recon, input) / d(recon, class mean): pretrained minus plain",
                         _paired(done, ("pretrained", m + "proto_ratio"), ("plain", m + "proto_ratio")),
                         "", 1.0, +1, "higher = closer to the class prototype"))
    for op, base in (("sr", "bilinear upsampling"), ("inpaint", "mean fill"),
                     ("denoise", "the noisy input")):
        column = m + f"{op}_gain_db"
        if column in done:
            for variant in sorted(set(done[VARIANT])):
                gains = _by_seed(done, variant, column)
                rows.append(_row("4. image operations beat naive baselines",
                                 f"{op} PSNR gain over {base} ({variant})", gains.dropna(), "dB",
                                 1.0, +1, "one sample over seeds"))
    return pd.DataFrame(rows)
