"""Any sweep's trials as an Optuna study, so that ``optuna-dashboard`` opens it.

``export(results_dir, storage)`` writes one study named after the sweep into an Optuna
storage: an RDB URL (``sqlite:///path.db``) or, for anything without ``://``, a journal file
(``optuna.storages.journal.JournalFileBackend``).  Default: ``sqlite:///<results_dir>/report/
optuna.db`` (``report/`` is the analysis's own output, which ``--overwrite`` may replace).

Each trial becomes one Optuna trial:

* params: the sweep's factors, with the distributions ``analysis.importance`` builds (a sampled
  axis keeps its distribution; listed numeric levels an ordered range; text categorical);
* values: the sweep's metric(s), on the validation split (``val_psnr`` for a ``test_psnr``
  sweep, as the report chooses), directions from its ``mode``; metric names set on the study;
* intermediate values: the first metric per epoch, from ``epochs/``;
* user attrs: the seed (a replicate, not a param: the search never chose it), the trial id,
  its status, and every final metric (test split included);
* state: completed -> COMPLETE, stopped by the scheduler -> PRUNED, errored or diverged ->
  FAIL; trials still running or pending are left out (they have nothing final yet).

Imports optuna, never torch or Ray.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract.schema import CONFIG_PREFIX, METRIC_PREFIX, REPORT_DIR

from .cli import not_results_dir
from .importance import distributions
from .load import Results, load_results
from .tables import selection_metric

DEFAULT_DB = "optuna.db"


class ExportError(ValueError):
    """Bad input (the message names the path or field); nothing was written."""


@dataclass
class Exported:
    storage: str
    study_name: str
    trials: int
    left_out: int  # running or pending trials, not exported


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
        twin = "val_" + str(name).removeprefix("test_")
        out.append(twin if METRIC_PREFIX + twin in present else str(name))
    return out, [str(m or "max") for m in modes]


def open_storage(storage: str):
    import optuna
    if "://" in storage:
        return optuna.storages.RDBStorage(storage)
    from optuna.storages.journal import JournalFileBackend, JournalStorage
    return JournalStorage(JournalFileBackend(storage))


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
    study = _new_study(store, study_name, modes, names)
    study.set_user_attr("results_dir", str(root.resolve()))
    study.set_user_attr("search", str(results.spec.get("search", "")))
    study.add_trials(trials)
    return Exported(url, study_name, len(trials), left_out)


def _trials(results: Results, names: list[str]) -> tuple[list[Any], int]:
    """(every finished trial as an Optuna trial, how many running or pending were left out)."""
    dists = distributions(results, results.trials, list(results.factors))
    epochs = results.epochs
    first = METRIC_PREFIX + names[0]
    per_epoch: dict[str, dict[int, float]] = {}
    if len(epochs) and first in epochs:
        for tid, part in epochs[["trial_id", "epoch", first]].dropna().groupby("trial_id"):
            per_epoch[tid] = {int(e): float(v) for e, v in zip(part["epoch"], part[first])
                              if _finite(v)}
    # the numbers a reader filters on (PSNR, accuracies, losses by split), not bookkeeping
    # (steps, seconds, images/s)
    metric_cols = [c for c in results.trials.columns if c.startswith(METRIC_PREFIX) and (
        c[len(METRIC_PREFIX):].startswith(("val_", "test_")) or c.endswith(("_acc", "_psnr")))]
    trials, left_out = [], 0
    for row in results.trials.to_dict("records"):
        status = row.get("status")
        if status in ("running", "pending") or status is None:
            left_out += 1
            continue
        trials.append(_trial(row, dists, names, metric_cols, per_epoch.get(row["trial_id"], {})))
    return trials, left_out


def _trial(row: dict[str, Any], dists: dict[str, Any], names: list[str], metric_cols: list[str],
           intermediate: dict[int, float]) -> Any:
    """One finished trial (a trials.parquet row) as an Optuna trial: see the module doc."""
    from optuna.trial import TrialState, create_trial

    params, used = {}, {}
    for f, d in dists.items():
        v = row.get(CONFIG_PREFIX + f)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        kind = type(d).__name__
        params[f] = int(v) if kind == "IntDistribution" else \
            float(v) if kind == "FloatDistribution" else _plain(v)
        used[f] = d
    status = row.get("status")
    vals = [row.get(METRIC_PREFIX + n) for n in names]
    state = {"completed": TrialState.COMPLETE, "stopped": TrialState.PRUNED}.get(
        status, TrialState.FAIL)
    if state == TrialState.COMPLETE and not all(_finite(v) for v in vals):
        state = TrialState.FAIL  # no final value to rank it by
    attrs = {"trial_id": row["trial_id"], "status": status}
    seed = row.get(CONFIG_PREFIX + "seed")
    if _finite(seed):
        attrs["seed"] = int(seed)
    attrs.update({c[len(METRIC_PREFIX):]: float(row[c]) for c in metric_cols
                  if _finite(row.get(c))})
    return create_trial(
        state=state, values=[float(v) for v in vals] if state == TrialState.COMPLETE
        else None, params=params, distributions=used, user_attrs=attrs,
        intermediate_values=intermediate)


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


def _new_study(store: Any, study_name: str, modes: list[str], names: list[str]) -> Any:
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
    import sys

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
    left = f"; {done.left_out} running or pending trial(s) left out" if done.left_out else ""
    print(f"exported {done.trials} trial(s) of {results_dir} as study {done.study_name!r} "
          f"into {done.storage}{left}")
    print(f"open it with: optuna-dashboard {done.storage}")
    return 0
