"""The metric columns as every table reads them: the registry's metrics by role (what the
per-factor table shows, what effects are tested on, the image operations' baselines), and a
metric's values in display units (accuracy in percent)."""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from contract import metrics as metrics_registry
from contract.metrics import Metric
from contract.schema import METRIC_PREFIX


#: every registered metric by name (contract.metrics, the one registry: names, labels, units)
METRICS = metrics_registry.REGISTRY
#: image operation -> its baselines, naive first, then the library's (their PSNR columns)
BASELINES = {op: tuple(m.name for m in metrics_registry.METRICS if m.baseline_of == op)
             for op in dict.fromkeys(m.baseline_of for m in metrics_registry.METRICS
                                     if m.baseline_of)}
#: image operation minus a baseline: shown with the operations, not in the main table
OP_DIFFERENCES = metrics_registry.names("op_difference")
BASELINE_METRICS = frozenset(b for bases in BASELINES.values() for b in bases)
#: metrics of the per-factor table, in display order
TABLE_METRICS = metrics_registry.names("table")
#: metrics whose effects are tested.  Baselines are not (no model produces them), and neither
#: are the op-minus-baseline differences: a factor moves them exactly as it moves the op's
#: own PSNR (the baselines do not depend on the model), so they would double the Holm family
#: without a new question.  Validation metrics neither: the test split reports.
EFFECT_METRICS = metrics_registry.names("effect")


PROPORTION_SUFFIXES = ("_acc", "_frac")


def metric_info(name: str) -> Metric:
    """The registry's entry; a column no registry entry names (a file written by a version
    that reported other metrics) is still shown, as a proportion if its name says so."""
    proportion = name.endswith(PROPORTION_SUFFIXES)
    return metrics_registry.get(name) or Metric(
        name, when="final", split="test", label=name, unit="%" if proportion else "",
        scale=100.0 if proportion else 1.0)


def values(frame: pd.DataFrame, metric: str) -> pd.Series:
    """The metric column in display units (NaN where missing or absent)."""
    col = METRIC_PREFIX + metric
    if col not in frame:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return frame[col].astype(float) * metric_info(metric).scale


def scaled(frame: pd.DataFrame, metrics: Iterable[str]) -> pd.DataFrame:
    """The given metrics of ``frame`` in display units, columns named without the prefix."""
    return pd.DataFrame({m: values(frame, m) for m in metrics}, index=frame.index)


def present_metrics(frame: pd.DataFrame, names: Iterable[str]) -> list[str]:
    return [m for m in names
            if METRIC_PREFIX + m in frame and frame[METRIC_PREFIX + m].notna().any()]
