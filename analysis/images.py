"""Per-image test outputs: what puts the test set's own sampling error into an interval.

A trial that saves them writes ``predictions/<trial_id>.parquet`` in its results directory:
one row per test image, columns ``trial_id`` (string), ``image`` (int64, its index in the test
split), ``label`` (int64), ``psnr`` (float64, that image's reconstruction PSNR in dB) and
``pred.<probe>`` (int64) per classifier (``pred.latent_mlp``, ``pred.weight_cnn``,
``pred.joint``, ``pred.pixel_mlp``, ``pred.pixel_cnn``, ``pred.pretrain_mlp``; with label
counts also ``pred.latent_linear``, ``pred.latent_mlp_n100``, ...: every key of
``contract.metrics.PROBES``).  ``psnr`` is null for a trial without a decoder (random_encoder).
Results written before they existed have no such folder: everything here then answers None, and
the tables fall back to intervals over seeds only (and say so).

A metric of a trial is the mean over its test images of one per-image value: the probe's
accuracy is the mean of (prediction == label), test PSNR the mean of the per-image PSNR
(``hinr.training`` averages per-image PSNRs, so this is the trial's own ``test_psnr``).
``cells`` lays those values out as (seeds x images) for ``stats.two_level_bootstrap``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa

from contract.metrics import PROBES
from contract.schema import (PRED_PREFIX, PREDICTION_CORE, PREDICTIONS_DIR, SchemaError,
                             prediction_column, read_predictions)

CORE = tuple(PREDICTION_CORE.names)
#: metric -> the per-image column it is the mean of (a ``pred.*`` column: of its correctness),
#: from the registry's probe -> metric table, the one the writer names its columns by
PER_IMAGE = {**{metric: prediction_column(probe) for probe, metric in PROBES.items()},
             "test_psnr": "psnr"}


def files(root: Path) -> list[str]:
    """The per-image files of a results directory (none: an older directory)."""
    folder = Path(root) / PREDICTIONS_DIR
    if not folder.is_dir():
        return []
    return sorted(e.path for e in os.scandir(folder)
                  if e.name.endswith(".parquet") and not e.name.startswith(".") and e.is_file())


def read(paths: Iterable[str]) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """trial id -> its rows indexed by image, and one problem line per unreadable file."""
    out: dict[str, pd.DataFrame] = {}
    problems = []
    for path in paths:
        try:
            frame = read_predictions(path).to_pandas()
        except SchemaError as exc:  # another schema version, or a core column missing
            problems.append(f"{exc}; per-image file ignored")
            continue
        except (OSError, pa.ArrowException) as exc:
            problems.append(f"{path}: unreadable (truncated or corrupted Parquet?): {exc}")
            continue
        if frame["image"].duplicated().any():
            problems.append(f"{path}: an image appears twice; per-image file ignored")
            continue
        tid = Path(path).stem
        out[tid] = frame.set_index("image").sort_index()
    return out, problems


def values(frame: pd.DataFrame, metric: str, scale: float = 1.0) -> pd.Series | None:
    """The per-image values whose mean is ``metric`` (display units), or None when the file
    does not hold them."""
    col = PER_IMAGE.get(metric)
    if col is None or col not in frame or frame[col].isna().all():
        return None
    if col.startswith(PRED_PREFIX):
        ok = frame[col].notna()
        return (frame.loc[ok, col] == frame.loc[ok, "label"]).astype(float) * scale
    return frame[col].astype(float) * scale


def cells(predictions: dict[str, pd.DataFrame], rows: list[tuple[str, str | None]],
          metric: str, scale: float = 1.0, metric_b: str | None = None) -> np.ndarray | None:
    """(len(rows) x images) per-image values for ``rows`` of (trial, paired trial or None):
    the trial's value, or its value minus the paired trial's (``metric_b`` of it, default the
    same metric) on the same image.  Only images every trial holds are kept (the test split
    is the same for every trial of a sweep; a file cut short loses its missing images from
    all rows, so the comparison stays paired).  None when any trial lacks its file or the
    column, or fewer than 2 images are common."""
    series = []
    for a, b in rows:
        if a not in predictions or (b is not None and b not in predictions):
            return None
        va = values(predictions[a], metric, scale)
        if va is None:
            return None
        if b is not None:
            vb = values(predictions[b], metric_b or metric, scale)
            if vb is None:
                return None
            va = (va - vb).dropna()
        series.append(va)
    if not series:
        return None
    common = series[0].index
    for s in series[1:]:
        common = common.intersection(s.index)
    if len(common) < 2:
        return None
    return np.vstack([s.loc[common].to_numpy(dtype=float) for s in series])
