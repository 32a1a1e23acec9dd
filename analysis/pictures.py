"""The trials' own pictures in the report (``images/<trial>/*.png``, contract.schema): each
factor level's best trial, chosen on the selection metric, its originals against its
reconstructions, and the image operations beside their baselines (``example_pictures``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from contract.schema import IMAGE_NAMES

from .columns import metric_info, values
from .levels import factor_levels, sorted_levels
from .load import Results
from .plots import level_name, slug
from .selection import selection_metric

OPERATION_CAPTIONS = {
    "superres": "super-resolution: row 1 originals, row 2 the downsampled input upsampled "
                "bilinearly (the baseline), row 3 the HyperINR output",
    "inpainting": "inpainting: row 1 originals, row 2 the input with its hole mean-filled (the "
                  "baseline), row 3 the HyperINR output",
    "denoising": "denoising: row 1 originals, row 2 the noisy input (the baseline), row 3 the "
                 "HyperINR output",
}


def _best_trial(frame: pd.DataFrame, score: pd.Series, mode: str) -> pd.Series | None:
    ranked = score.loc[frame.index].dropna()
    if ranked.empty:
        return frame.iloc[0] if len(frame) else None
    return frame.loc[ranked.idxmax() if mode == "max" else ranked.idxmin()]


def example_pictures(results: Results, folder: Path, prefix: str | None = None,
                     ) -> tuple[str, list[tuple[str, list[tuple[Path, str]]]]]:
    """The trials' example grids for the report, copied into ``folder``.

    Returns (how the trials were chosen, groups); each group is (title, [(png, caption)]):
    per factor (one group per factor), each level's best completed trial on the selection
    metric (``selection.selection_metric``: validation when present) with its originals
    against reconstructions; then the image operations of the best trial overall, each grid
    holding the operation's naive baseline beside its output.  Empty when no trial wrote
    images (results from before images/ existed)."""
    prefix = slug(prefix or results.name)
    done = results.completed
    done = done[done["trial_id"].isin(results.images)] if "trial_id" in done else done.iloc[0:0]
    if done.empty:
        return "", []
    metric, mode, how = selection_metric(results)
    score = values(done, metric)
    unit = metric_info(metric).unit

    def copy(trial: pd.Series, name: str) -> Path | None:
        src = results.images[trial["trial_id"]].get(name)
        if src is None:
            return None
        target = folder / f"{prefix}-images-{slug(trial['trial_id'])}-{slug(name)}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
        return target

    def scored(trial: pd.Series) -> str:
        v = score.get(trial.name)
        return f"trial {trial['trial_id']}" + (
            "" if v is None or pd.isna(v) else f", {metric} {v:.3g}{(' ' + unit) if unit else ''}")

    groups = []
    for factor in results.factors or [None]:
        if factor is None:
            levels, ref = pd.Series("all trials", index=done.index), None
        else:
            levels, ref = factor_levels(results, factor, done), results.reference(factor)[0]
        pictures = []
        for level in sorted_levels(levels.dropna()):
            trial = _best_trial(done[levels == level], score, mode)
            path = copy(trial, "reconstruction") if trial is not None else None
            if path is not None:
                name = level_name(factor, level, ref) if factor else str(level)
                pictures.append((path, f"{name}: {scored(trial)}. Row 1 originals, row 2 "
                                       "reconstructions."))
        if pictures:
            groups.append((f"Originals against reconstructions, best trial per "
                           f"{factor or 'sweep'} level", pictures))
    best = _best_trial(done, score, mode)
    ops = []
    names = [n for n in results.images.get(best["trial_id"], {}) if n != "reconstruction"]
    for name in sorted(names, key=lambda n: (IMAGE_NAMES.index(n) if n in IMAGE_NAMES else 99, n)):
        path = copy(best, name)
        if path is not None:
            ops.append((path, f"{OPERATION_CAPTIONS.get(name, name)} ({scored(best)})."))
    if ops:
        groups.append(("Image operations beside their baselines, best trial overall", ops))
    return how, groups
