"""Several sweeps side by side, each at its reference setting (``compare_sweeps``)."""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from contract import metrics as metrics_registry

from .columns import metric_info, values
from .levels import at_reference, distinct_levels
from .load import Results
from .stats import interval


COMPARE_METRICS = metrics_registry.names("compare")


def compare_sweeps(all_results: Iterable[Results],
                   metrics: Iterable[str] = COMPARE_METRICS) -> pd.DataFrame:
    """One row per sweep: data, model, trials, and each metric's mean and 95% CI at the
    sweep's reference setting (all completed trials when none sits at it)."""
    rows = []
    for res in all_results:
        done = res.completed
        ref = at_reference(res, done)
        sel = done[ref] if ref.any() else done
        row = {"sweep": res.name, "results": str(res.path),
               "dataset": "/".join(map(str, distinct_levels(done, "dataset"))) or "-",
               "variant": "/".join(map(str, distinct_levels(done, "variant"))) or "-",
               "preset": "/".join(map(str, distinct_levels(done, "preset"))) or "-",
               "epochs": "/".join(map(str, distinct_levels(done, "epochs"))) or "-",
               "trials": len(res.trials), "completed": len(done),
               "selection": "reference setting" if ref.any() and res.factors else
               "all completed trials"}
        for m in metrics:
            v = values(sel, m).dropna()
            row[f"{m}.mean"] = v.mean() if len(v) else np.nan
            iv = interval(v, metric_info(m).bounded, metric_info(m).scale)
            row[f"{m}.ci_low"], row[f"{m}.ci_high"] = iv.low, iv.high
            row[f"{m}.n"] = len(v)
        rows.append(row)
    return pd.DataFrame(rows)
