"""Any sweep's trials as an Optuna study, so that ``optuna-dashboard`` opens it.

``export(results_dir, storage)`` writes one study named after the sweep into an Optuna
storage: an RDB URL (``sqlite:///path.db``) or, for anything without ``://``, a journal file
(``optuna.storages.journal.JournalFileBackend``).  Default: ``sqlite:///<results_dir>/report/
optuna.db`` (``report/`` is the analysis's own output, which ``--overwrite`` may replace).

Each *point* (one setting of the sweep's factors; its seeds are replicates, not params)
becomes one Optuna trial, as the searcher saw it (``sweeps.tune.search.SeedRepeater`` tells
Optuna the mean of a point's seeds, never one seed), so the dashboard's Pareto front and
importances are of seed means, like the report's, not of lucky single seeds:

* params: the sweep's factors, with the distributions ``analysis.importance`` builds (a sampled
  axis keeps its distribution; listed numeric levels an ordered range; text categorical);
* values: the sweep's metric(s), on the validation split (``val_psnr`` for a ``test_psnr``
  sweep, as the report chooses), each the mean over the point's completed seeds that have
  them; directions from its ``mode``; metric names set on the study;
* intermediate values: the first metric per epoch, the mean over the seeds that reached it;
* user attrs: ``point`` (the factors' values as text, the point's key), ``trial_ids``,
  ``seeds``, ``statuses`` (one per seed, in seed order),
  ``seeds_scored`` (how many seeds the values average), and every final metric (test split
  included) as that mean and ``"<metric> by seed"`` (a list in seed order, null where a seed
  has none);
* state: COMPLETE where a seed completed with every objective, else PRUNED where the
  scheduler stopped one, else FAIL; a point with a seed still running or pending is left out
  whole (the searcher had not seen it either);
* times: from the first seed's start to the last seed's end (trials.parquet's ``finished_at``
  minus ``wall_seconds``), so the dashboard's timeline shows the sweep as it ran; records
  written before ``finished_at`` existed get the export's moment.

Imports optuna, never torch or Ray.
"""

from __future__ import annotations

import math
import sys
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from contract.schema import CONFIG_PREFIX, METRIC_PREFIX, REPORT_DIR

from .cli import not_results_dir
from .importance import distributions
from .load import Results, load_results
from .selection import selection_metric, validation_twin

DEFAULT_DB = "optuna.db"


class ExportError(ValueError):
    """Bad input (the message names the path or field); nothing was written."""


@dataclass
class Exported:
    storage: str
    study_name: str
    trials: int  # Optuna trials written: one per point
    runs: int  # the sweep's trials they hold (every seed of every exported point)
    left_out: int  # trials not exported: running or pending, and their points' other seeds


def default_storage(results_dir: Path) -> str:
    return f"sqlite:///{(Path(results_dir) / REPORT_DIR / DEFAULT_DB).resolve()}"


def objectives(results: Results) -> tuple[list[str], list[str]]:
    """(metrics, modes) the study optimises: the sweep's metric(s), each on the validation
    split where the results have it (the first one as ``selection_metric`` chooses it)."""
    metric, mode = results.spec.get("metric"), results.spec.get("mode")
    names = list(metric) if isinstance(metric, list) else [metric] if metric else []
    modes = list(mode) if isinstance(mode, list) else [mode] * len(names)
    first, first_mode, _ = selection_metric(results)
    if not names:
        return [first], [first_mode]
    present = set(results.trials.columns)
    out = []
    for name in names:
        twin = validation_twin(str(name)) or str(name)
        out.append(twin if METRIC_PREFIX + twin in present else str(name))
    return out, [str(m or "max") for m in modes]


def open_storage(storage: str):
    import optuna
    if "://" in storage:
        return optuna.storages.RDBStorage(storage)
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage
    # A regular lock file, not Optuna's default symlink: a driver killed while it holds the
    # lock leaves a link in report/, and every command refuses a results directory with a
    # link inside (contract.resultsdir); an open lock older than its grace period is broken.
    return JournalStorage(JournalFileBackend(storage, lock_obj=JournalFileOpenLock(storage)))


def _finite(v) -> bool:
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _plain(v):
    """A user attr JSON can hold (numpy scalars to Python)."""
    return v.item() if hasattr(v, "item") else v


def export(results_dir: str | Path, storage: str | None = None, study_name: str | None = None,
           replace: bool = False) -> Exported:
    """Write the sweep in ``results_dir`` into ``storage`` as one study; see the module doc.

    Raises ``ExportError`` (nothing written) when the directory has no readable trials, or
    the storage already holds a study of that name and ``replace`` is not set."""
    root = Path(results_dir)
    results = load_results(root)
    if results.trials.empty:
        raise ExportError(f"{root}: no readable trials.parquet; nothing to export")
    names, modes = objectives(results)
    bad = [m for m in modes if m not in ("max", "min")]
    if bad:
        raise ExportError(f"{root}: sweep mode {bad[0]!r}: allowed max, min")
    study_name = study_name or results.name
    trials, left_out = _trials(results, names)
    url = storage or default_storage(root)
    store = _storage_without(url, study_name, replace,
                             make=root / REPORT_DIR if storage is None else None)
    study = new_study(store, study_name, modes, names)
    study.set_user_attr("results_dir", str(root.resolve()))
    study.set_user_attr("search", str(results.spec.get("search", "")))
    study.add_trials(trials)
    return Exported(url, study_name, len(trials),
                    sum(len(t.user_attrs["trial_ids"]) for t in trials), left_out)


def _trials(results: Results, names: list[str]) -> tuple[list[Any], int]:
    """(every point whose trials have all finished, as one Optuna trial; how many trials were
    left out: running or pending, and their points' finished seeds with them)."""
    points, left_out = point_trials(results, names)
    return [trial for _, trial in points], left_out


def point_trials(results: Results, names: list[str]) -> tuple[list[tuple[str, Any]], int]:
    """(each finished point's key (its factors' values as text) and Optuna trial, in the
    order of trials.parquet; the trials left out, as ``_trials``).  The key names a point
    across calls: ``analysis.live`` adds each key once."""
    factors = list(results.factors)
    dists = distributions(results, results.trials, factors)
    curves = _curves(results, METRIC_PREFIX + names[0])
    # the numbers a reader filters on (PSNR, accuracies, losses by split), not bookkeeping
    # (steps, seconds, images/s)
    metric_cols = [c for c in results.trials.columns if c.startswith(METRIC_PREFIX) and (
        c[len(METRIC_PREFIX):].startswith(("val_", "test_")) or c.endswith(("_acc", "_psnr")))]
    rows = results.trials.to_dict("records")
    keys = [CONFIG_PREFIX + f for f in factors]
    points: dict[str, list[dict[str, Any]]] = {}
    for row in rows:  # a point: one setting of every factor (the seed is not one)
        points.setdefault("|".join(repr(_plain(row.get(k))) for k in keys), []).append(row)
    trials, left_out = [], 0
    for key, replicates in points.items():
        unfinished = sum(r.get("status") in ("running", "pending", None) for r in replicates)
        if unfinished:  # the searcher had not seen it yet either: only whole points
            left_out += len(replicates)
            continue
        replicates.sort(key=lambda r: (_seed(r) is None, _seed(r) or 0, str(r["trial_id"])))
        trial = _point(replicates, dists, names, metric_cols, curves)
        trial.set_user_attr("point", key)
        trials.append((key, trial))
    return trials, left_out


def _curves(results: Results, column: str) -> dict[str, dict[int, float]]:
    """trial id -> {epoch: the first objective}, from ``epochs/``."""
    epochs, out = results.epochs, {}
    if len(epochs) and column in epochs:
        for tid, part in epochs[["trial_id", "epoch", column]].dropna().groupby("trial_id"):
            out[tid] = {int(e): float(v) for e, v in zip(part["epoch"], part[column])
                        if _finite(v)}
    return out


def _seed(row: dict[str, Any]) -> int | None:
    seed = row.get(CONFIG_PREFIX + "seed")
    return int(seed) if _finite(seed) else None


def _mean(values: list[Any]) -> float | None:
    finite = [float(v) for v in values if _finite(v)]
    return sum(finite) / len(finite) if finite else None


def _point(replicates: list[dict[str, Any]], dists: dict[str, Any], names: list[str],
           metric_cols: list[str], curves: dict[str, dict[int, float]]) -> Any:
    """One point (its seeds' trials.parquet rows, in seed order) as one Optuna trial: see the
    module doc."""
    from optuna.trial import TrialState, create_trial

    params, used = _params(replicates[0], dists)
    # the seeds the searcher averaged: completed ones with every objective (SeedRepeater)
    scored = [r for r in replicates if r.get("status") == "completed"
              and all(_finite(r.get(METRIC_PREFIX + n)) for n in names)]
    statuses = [r.get("status") for r in replicates]
    state = TrialState.COMPLETE if scored else \
        TrialState.PRUNED if "stopped" in statuses else TrialState.FAIL
    values = [_mean([r[METRIC_PREFIX + n] for r in scored]) for n in names] if scored else None
    attrs: dict[str, Any] = {"trial_ids": [str(r["trial_id"]) for r in replicates],
                             "seeds": [_seed(r) for r in replicates], "statuses": statuses,
                             "seeds_scored": len(scored)}
    for c in metric_cols:
        name, each = c[len(METRIC_PREFIX):], [r.get(c) for r in replicates]
        if any(_finite(v) for v in each):
            attrs[name] = _mean([r.get(c) for r in scored] if scored else each)
            attrs[name + " by seed"] = [float(v) if _finite(v) else None for v in each]
    start, end = _span(replicates)
    trial = create_trial(state=state, values=values, params=params, distributions=used,
                         user_attrs=attrs, intermediate_values=_mean_curve(
                             [curves.get(r["trial_id"], {}) for r in replicates]))
    if start is not None:  # records written before finished_at: the export's moment
        trial.datetime_start, trial.datetime_complete = start, end
    return trial


def _params(row: dict[str, Any], dists: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The point's factor values, typed as their distributions, and those distributions."""
    params, used = {}, {}
    for f, d in dists.items():
        v = row.get(CONFIG_PREFIX + f)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        kind = type(d).__name__
        params[f] = int(v) if kind == "IntDistribution" else \
            float(v) if kind == "FloatDistribution" else _plain(v)
        used[f] = d
    return params, used


def _mean_curve(curves: list[dict[int, float]]) -> dict[int, float]:
    """Per epoch, the mean over the seeds that reached it (a pruned seed's curve stops)."""
    epochs = sorted({e for c in curves for e in c})
    return {e: sum(c[e] for c in curves if e in c) / sum(e in c for c in curves)
            for e in epochs}


def _span(replicates: list[dict[str, Any]]) -> tuple[datetime | None, datetime | None]:
    """(the first seed's start, the last one's end) from ``finished_at`` and
    ``wall_seconds``; (None, None) unless every seed has its end recorded."""
    ends = [r.get("finished_at") for r in replicates]
    if not ends or any(e is None or e is pd.NaT for e in ends):
        return None, None
    ends = [pd.Timestamp(e).to_pydatetime() for e in ends]
    starts = [e - timedelta(seconds=float(r.get("wall_seconds") or 0.0))
              for e, r in zip(ends, replicates)]
    # Optuna stores naive datetimes in local time (datetime.now()); the dashboard shows them
    return (min(starts).astimezone().replace(tzinfo=None),
            max(ends).astimezone().replace(tzinfo=None))


def _storage_without(url: str, study_name: str, replace: bool, make: Path | None) -> Any:
    """The storage at ``url``, holding no study ``study_name`` (one there is deleted with
    ``replace``, else ``ExportError``); ``make``: the folder the default storage lives in,
    created first."""
    import optuna

    if _exists(url):  # opening a storage creates it: look only at one that is already there
        store = open_storage(url)
        if study_name in {s.study_name for s in optuna.get_all_study_summaries(store)}:
            if not replace:
                raise ExportError(f"{url}: already holds study {study_name!r}; pass "
                                  "--replace to rewrite it, or --study NAME")
            optuna.delete_study(study_name=study_name, storage=store)
        return store
    if make is not None:
        make.mkdir(parents=True, exist_ok=True)
    return open_storage(url)


def new_study(store: Any, study_name: str, modes: list[str], names: list[str]) -> Any:
    """An empty study of the sweep's objectives, without Optuna's "A new study created" on
    stderr."""
    import optuna

    quiet = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(
            storage=store, study_name=study_name,
            directions=["maximize" if m == "max" else "minimize" for m in modes])
    finally:
        optuna.logging.set_verbosity(quiet)
    with warnings.catch_warnings():  # experimental since 3.2, and what the dashboard labels
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(names)
    return study


def _exists(url: str) -> bool:
    """Whether the storage already exists (any non-SQLite database: assumed to)."""
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///"):]).exists()
    return "://" in url or Path(url).exists()


def main(results_dir: str, storage: str | None, study_name: str | None, replace: bool) -> int:
    """``launch.py export-optuna``: one line on success, one ``error:`` line (exit 2) on bad
    input with nothing written."""

    reason = not_results_dir(Path(results_dir))
    if reason:
        print(f"error: {reason}", file=sys.stderr)
        return 2
    if storage and "://" not in storage and Path(storage).is_dir():
        print(f"error: --storage {storage}: is a directory; give an RDB URL "
              "(sqlite:///file.db) or a journal file path", file=sys.stderr)
        return 2
    try:
        done = export(results_dir, storage, study_name, replace)
    except ExportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    left = (f"; {done.left_out} trial(s) of points still running or pending left out"
            if done.left_out else "")
    print(f"exported {done.trials} point(s) ({done.runs} trial(s), each point's seeds "
          f"averaged) of {results_dir} as study {done.study_name!r} into {done.storage}{left}")
    print(f"open it with: optuna-dashboard {done.storage}")
    return 0
