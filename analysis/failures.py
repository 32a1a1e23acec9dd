"""Trials that errored or diverged (``failures_table``), and trials by status."""

from __future__ import annotations

import pandas as pd

from contract.schema import CONFIG_PREFIX

from .load import Results


FAILURE_CORE = ["trial_id", "status", "epochs_done", "diverged_epoch", "diverged_step",
                "retries", "node", "device"]


def failures_table(results: Results) -> pd.DataFrame:
    """Trials that errored or diverged, with their factor levels, seed and message."""
    t = results.trials
    if "status" not in t:
        return pd.DataFrame(columns=FAILURE_CORE + ["error"])
    bad = t[t["status"].isin(["errored", "diverged"])]
    cfg = [CONFIG_PREFIX + f for f in results.factors + ["seed", "variant", "dataset"]]
    cols = [c for c in FAILURE_CORE if c in t] + list(dict.fromkeys(c for c in cfg if c in t))
    out = bad[cols + (["error"] if "error" in t else [])].rename(
        columns=lambda c: c.removeprefix(CONFIG_PREFIX))
    for c in ("epochs_done", "diverged_epoch", "diverged_step", "retries"):
        if c in out:  # nullable ints come back from Parquet as float when a null is present
            out[c] = out[c].astype("Int64")
    return out.sort_values(["status", "trial_id"]).reset_index(drop=True)


def status_counts(results: Results) -> dict[str, int]:
    if "status" not in results.trials:
        return {}
    return {str(k): int(v) for k, v in results.trials["status"].value_counts().items()}
