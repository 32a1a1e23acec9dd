"""The driver's writer of the Parquet contract (contract/schema.py), Ray-free: ``ResultsWriter``
keeps every trial's row and epoch rows and writes them; the Tune callback that feeds it what
Tune reports is ``sweeps.tune.results.ParquetResults``.

Every reported epoch goes to ``epochs/<trial>.parquet`` keyed by epoch, so a trial that
restarts from a checkpoint and repeats an epoch replaces that row instead of duplicating it.
``trials.parquet`` is rewritten (atomically) at once when a trial errors or diverges and when
the experiment ends; other changes (a trial starts, reports, finishes) are batched with the
epochs files that lag: they are rewritten at most every ``flush_seconds``, or every 19x the
last flush's duration if that is longer, so that writing costs at most ~5% of the driver's time
however many trials there are (rewriting trials.parquet on every start and finish was
O(trials^2) per sweep; an fsynced epochs file per result was ~10% of a fast driver's time).
``on_step_end`` writes pending changes once the period is up, so the files lag the sweep by
about one period at most; a trial's epochs file is also written at once when the trial ends
and when it checkpoints.  The last is what a resume needs: Tune reports a checkpoint before it
records it, so every epoch a resume skips is on disk; rows lost with a dying driver are of
epochs after the trial's last checkpoint, which the resumed trial reports again.  On ``load``
(at the callback's setup, also after ``Tuner.restore``) the writer reloads what is on disk,
so a resumed sweep neither loses nor duplicates rows; a row that lagged its epochs file when
the driver died is caught up from that file, and a trial Tune restores as finished gets its
final status at the end.

A driver that dies leaves the Parquet files ahead of Tune's experiment state (saved every few
seconds): a trial started after Tune's last save is unknown to the restored Tune, which runs
that point again under a new id, and a trial that finished after it may never report again.
So at the first step of a run and at its end, the rows are reconciled with Tune's trials:
rows of trials Tune does not know are dropped (with their epoch files and TensorBoard logs),
and a trial Tune has finished is ``completed`` if its last epoch is on disk, else ``stopped``
(``reconcile``).
"""

from __future__ import annotations

import math
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import pyarrow.parquet as pq

from contract import metrics as metrics_registry
from contract import schema
from contract.resultsdir import trial_rows

from .invocation import launch_command


def metric_items(result: dict[str, Any]) -> dict[str, float]:
    """The metric columns of one Tune result: the registered metrics (contract.metrics) it holds.

    Why the registry and not "every number but Tune's keys": Tune adds its own numbers
    (time_total_s, pid, ...) and may add more in any release; a column that appears in some
    versions only would break the contract.  A metric that is computed but not registered is
    caught by tests/test_metrics.py, which runs a real trial against the registry."""
    out = {}
    for key, value in result.items():
        if key not in metrics_registry.REGISTRY or isinstance(value, bool) or not isinstance(
                value, (int, float)):
            continue
        # A non-finite value (a diverged trial's objective is reported as -inf to the search)
        # is stored as null: Parquet readers and the tables treat null as "no value".
        out[schema.METRIC_PREFIX + key] = float(value) if math.isfinite(value) else None
    return out


def _reported_at(result: dict[str, Any]) -> datetime:
    """When a result was made: Tune's ``timestamp`` (whole seconds, set in the worker), else
    now (a trainable that reports through something else than Tune's loop)."""
    stamp = result.get("timestamp")
    stamp = stamp if isinstance(stamp, (int, float)) and math.isfinite(stamp) else time.time()
    return datetime.fromtimestamp(stamp, timezone.utc)


class ResultsWriteError(RuntimeError):
    """The results directory stopped accepting writes (disk full, unwritable); the message says
    which file, and that everything written before it is intact (writes are atomic)."""


def _write(table, path: Path, results_dir: str) -> None:
    try:
        schema.write_atomic(table, path)
    except OSError as err:
        raise ResultsWriteError(
            f"{path}: cannot write results ({err.strerror or err}); the sweep stops here, and every "
            f"file written before is intact; free space, then: {launch_command()} resume "
            f"{results_dir}") from None


STATS = ("hook_s", "hook_calls", "trials_writes", "trials_write_s", "trials_write_max_s",
         "trials_rows", "epoch_writes", "epoch_write_s", "epoch_write_max_s")


class ResultsWriter:
    """Rows of trials.parquet and epochs/ held on the driver, and when they are written (the
    module docstring).  ``trial_row`` looks a trial's row up (made on first sight); the
    methods after it are what happens to a trial, each written as the policy says."""

    def __init__(self, results_dir: str, sweep: str, flush_seconds: float = 5.0,
                 spec_doc: dict[str, Any] | None = None):
        self.results_dir = str(results_dir)
        self.sweep = sweep
        self.flush_seconds = flush_seconds
        # trials.parquet's meaning (factors, references, seeds, the spec) in its own metadata,
        # so that analysis reads one file; sweeps.tune.run sets it for a restored callback too.
        self.contract = schema.contract_metadata(spec_doc) if spec_doc is not None else None
        # What the writer cost (benchmarks/scale.py reads it): seconds in Tune hooks, and
        # number / seconds / slowest / rows of the trials.parquet and epochs/ writes.
        self.stats: dict[str, float] = dict.fromkeys(STATS, 0)
        # Trials of earlier runs of an extended sweep (sweeps/extend.py): this Tune experiment
        # does not know them, and reconciling must not drop them; their rows are written back
        # as read.  Pickled with the callback, so a resumed extension keeps the same set.
        self.kept: frozenset[str] = frozenset()
        # The stage's time budget (sweeps.budget.Budget), whose deadline may cut trials.
        self.budget = None
        # The stage's number (sweep.yaml's stages), written in the rows it creates: the block
        # of a sweep run in chunks.  Set for a restored callback too (sweeps.tune.run).
        self.stage: int | None = None
        self._reset()

    def _reset(self) -> None:
        self.trials: dict[str, dict[str, Any]] = {}
        self.epochs: dict[str, dict[int, dict[str, Any]]] = {}
        self._epochs_dirty: set[str] = set()  # trials whose epochs file lags their rows
        self._write_error: ResultsWriteError | None = None  # raised in checkpoint()
        self._last_flush = -math.inf  # the first change is written at once
        self._period = self.flush_seconds
        self._dirty = False
        self._reconciled = False  # reconcile() done in this run (at its first step)

    # ---------------------------------------------------------------- paths and loading
    @property
    def root(self) -> Path:
        return Path(self.results_dir)

    def _epoch_path(self, trial_id: str) -> Path:
        return self.root / schema.EPOCHS_DIR / f"{trial_id}.parquet"

    def load(self) -> None:
        """Reload what earlier runs of this sweep wrote (a resume continues those files)."""
        self._reset()
        for row in trial_rows(self.root):
            if not schema.is_trial_id(row.get("trial_id")):
                continue  # never a path: ids name files under epochs/, tb/ and images/
            self.trials[row["trial_id"]] = row
            if row["status"] in ("running", "pending"):
                self._catch_up(row)

    def _catch_up(self, row: dict[str, Any]) -> None:
        """trials.parquet is rewritten in batches, epochs/ on every result: after a driver
        died, an unfinished row may lag its epochs file.  Take the last epoch row's metrics
        (the last one holds the finish() metrics too), and "completed" when it is the trial's
        last epoch: a resumed Tune does not rerun a trial whose final checkpoint it has."""
        epochs = self._epochs_of(row["trial_id"])
        if not epochs or max(epochs) <= (row.get("epochs_done") or 0):
            return
        last = epochs[max(epochs)]
        row.update({k: v for k, v in last.items() if k.startswith(schema.METRIC_PREFIX)})
        row["epochs_done"] = int(last["epoch"])
        row["wall_seconds"] = float(last["wall_seconds"])
        planned = row.get(schema.CONFIG_PREFIX + "epochs")
        row["status"] = ("completed" if planned is not None and row["epochs_done"] >= planned
                         else "running")

    def _epochs_of(self, trial_id: str) -> dict[int, dict[str, Any]]:
        if trial_id not in self.epochs:
            path = self._epoch_path(trial_id)
            rows = pq.read_table(path).to_pylist() if path.exists() else []
            self.epochs[trial_id] = {int(r["epoch"]): r for r in rows}
        return self.epochs[trial_id]

    # ---------------------------------------------------------------- rows
    def trial_row(self, trial_id: str, config: dict[str, Any], retries: int) -> dict[str, Any]:
        """The trial's row (``config``: the point and seed the sweep gave it; ``retries``: its
        failures so far), made on first sight."""
        row = self.trials.get(trial_id)
        if row is None:
            row = {"trial_id": trial_id, "sweep": self.sweep, "status": "pending",
                   "epochs_done": 0, "wall_seconds": 0.0, "retries": 0}
            # Until the trial's first result (which carries its resolved config: see
            # _record_config) the row holds the sweep's own scalar values for it: its point
            # and seed (a tuple such as label_counts arrives resolved, as text).
            for key, value in config.items():
                if key not in schema.NOT_FIELDS and not isinstance(value, (list, tuple, dict)):
                    row[schema.CONFIG_PREFIX + key] = value
            row[schema.CONFIG_PREFIX + "preset"] = config.get("preset", "small")
            if getattr(self, "stage", None):  # getattr: a callback pickled before stages
                row["stage"] = self.stage
            self.trials[trial_id] = row
            self._catch_up(row)  # a trial a died driver reported but never batched out
        row["retries"] = retries
        self._dirty = True  # every event that looks a trial up may change its row
        return row

    def write(self, force: bool = False) -> None:
        """If (``force`` or) the period is up: the epochs files that lag, then trials.parquet
        if it changed (in that order, so that a trial's row never runs ahead of its epochs)."""
        # getattr: a writer unpickled from a sweep started before this attribute existed
        if getattr(self, "_write_error", None) is not None:
            raise self._write_error  # from checkpoint(), where Tune swallowed it
        now = time.monotonic()
        if not (self._dirty or self._epochs_dirty) or (
                not force and now - self._last_flush < self._period):
            return
        start = time.perf_counter()
        for trial_id in sorted(self._epochs_dirty):
            self._write_epochs(trial_id)
        rows = list(self.trials.values())
        if rows and self._dirty:
            # getattr: a callback pickled (in Tune's state) by a version without a contract
            meta = getattr(self, "contract", None)
            self._timed_write("trials", lambda: schema.build_table(rows, schema.TRIAL_CORE, meta,
                                                                 schema.TRIAL_OPTIONAL),
                              self.root / schema.TRIALS_FILE)
            self.stats["trials_rows"] = len(rows)
        # 19x the flush's own time: writing then takes at most 1/20 (5%) of the driver's
        self._period = max(self.flush_seconds, 19 * (time.perf_counter() - start))
        self._dirty = False
        self._last_flush = time.monotonic()

    def _write_epochs(self, trial_id: str) -> None:
        """Rewrite one trial's epochs file, if it lags the rows held here (it still lags after
        a write that failed: the next flush tries again)."""
        if trial_id not in getattr(self, "_epochs_dirty", ()):
            return
        epochs = self.epochs.get(trial_id)
        if epochs:
            self._timed_write("epoch", lambda: schema.build_table(list(epochs.values()),
                                                                 schema.EPOCH_CORE),
                              self._epoch_path(trial_id))
        self._epochs_dirty.discard(trial_id)

    def _timed_write(self, kind: str, table: Callable[[], Any], path: Path) -> float:
        """Build (``table()``) and write atomically, counted in ``stats[kind + "_write*"]``;
        the seconds it took."""
        start = time.perf_counter()
        _write(table(), path, self.results_dir)
        took = time.perf_counter() - start
        self.stats[kind + "_writes"] += 1
        self.stats[kind + "_write_s"] += took
        self.stats[kind + "_write_max_s"] = max(self.stats[kind + "_write_max_s"], took)
        return took

    # ---------------------------------------------------------------- what happens to a trial
    def start(self, row: dict[str, Any]) -> None:
        # "stopped" too: a trial that an interrupted driver settled as stopped and that
        # ``resume`` restarts from its checkpoint is running again (ASHA's stops never restart)
        if row["status"] in ("pending", "errored", "stopped"):
            row["status"] = "running"
        self.write()

    @staticmethod
    def _record_config(row: dict[str, Any], result: dict[str, Any]) -> None:
        """Every TrainingConfig field as the trial resolved it (preset defaults, the
        replicate's seed, the threads its CPU share gave it), from its first result, so that
        analysis never has to know the presets."""
        resolved = result.get(schema.RESOLVED_CONFIG_KEY)
        if isinstance(resolved, dict):
            for key, value in resolved.items():  # TrainingConfig.flat_dict: all scalars
                if key == "label_counts" and not value:
                    continue  # at its default (none) the columns stay those of before issue 28
                row[schema.CONFIG_PREFIX + key] = value

    def result(self, row: dict[str, Any], result: dict[str, Any]) -> None:
        """One reported result: an epoch row, or a divergence."""
        self._record_config(row, result)
        # "node" is ours (ip/node id: several nodes on one host share an ip); Tune's node_ip
        # stands in for a trainable that reports none (benchmarks/scale.py's no-op trials)
        row["node"] = result.get("node") or result.get("node_ip")
        row["device"] = result.get("device")
        row["finished_at"] = _reported_at(result)  # the last result's: the trial's end
        if result.get("status") == "diverged":
            row.update(status="diverged", error=result.get("error"),
                       diverged_epoch=int(result["diverged_epoch"]),
                       diverged_step=int(result["diverged_step"]))
            self.write(force=True)
            return
        trial_id = row["trial_id"]
        epoch = int(result["epoch"])
        metrics = metric_items(result)
        epochs = self._epochs_of(trial_id)
        epochs[epoch] = {"trial_id": trial_id, "sweep": self.sweep, "epoch": epoch,
                         "wall_seconds": float(result.get("trial_seconds", 0.0)), **metrics}
        # Older epochs past this one belong to a run that was rolled back to a checkpoint.
        for stale in [e for e in epochs if e > epoch]:
            del epochs[stale]
        self._epochs_dirty.add(trial_id)  # written with the next flush or checkpoint
        row.update(metrics)
        row["epochs_done"] = epoch
        row["wall_seconds"] = float(result.get("trial_seconds", 0.0))
        row["status"] = "completed" if result.get("status") == "completed" else "running"
        self.write()

    def checkpoint(self, trial_id: str) -> None:
        """The trial is about to checkpoint: its epochs on disk first."""
        try:
            self._write_epochs(trial_id)
        except ResultsWriteError as err:
            # Raising here makes Tune skip recording the checkpoint (right: its epochs are not
            # on disk), but Tune logs the error and goes on; the next write raises it again,
            # which stops the sweep as a failed write anywhere else does.
            self._write_error = err
            raise

    def complete(self, row: dict[str, Any]) -> None:
        if row["status"] in ("running", "pending"):
            self._settle(row)
        self._write_epochs(row["trial_id"])  # a finished trial is whole on disk at once
        self.write()

    def error(self, row: dict[str, Any], message: str) -> None:
        row["status"] = "errored"
        row["error"] = message
        self.write(force=True)

    # ---------------------------------------------------------------- reconciling with Tune
    def reconcile(self, ended: dict[str, bool]) -> None:
        """Rows against Tune's trials, ``ended``: each trial id Tune knows -> whether Tune has
        ended it (the module docstring)."""
        known = set(ended)
        # Rows, and files a trial writes before its (batched) row: an epochs file, TensorBoard
        # and images of a trial Tune never recorded would sit beside its rerun under a new id.
        seen = set(self.trials) | self._ids_on_disk()
        known |= getattr(self, "kept", frozenset())  # getattr: a callback pickled before it
        for trial_id in sorted(i for i in seen if i not in known):
            self._forget(trial_id)
        for trial_id, done in ended.items():
            row = self.trials.get(trial_id)
            if row is not None and done and row["status"] in ("running", "pending"):
                self._settle(row)
        self.write(force=True)

    def _settle(self, row: dict[str, Any]) -> None:
        """A trial Tune has ended without an error: completed if its last epoch is on disk
        (restored from its final checkpoint, it reports nothing more), else stopped early."""
        self._dirty = True
        epochs = self._epochs_of(row["trial_id"])
        last = max(epochs, default=0)
        if epochs and last >= (row.get(schema.CONFIG_PREFIX + "epochs") or math.inf):
            final = epochs[last]
            row.update({k: v for k, v in final.items() if k.startswith(schema.METRIC_PREFIX)})
            row.update(status="completed", epochs_done=last, wall_seconds=final["wall_seconds"])
        else:
            row["status"] = "stopped"

    def _ids_on_disk(self) -> set[str]:
        """Trial ids that have an epochs file, a predictions file, a TensorBoard run or
        images here."""
        ids = {p.stem for p in (self.root / schema.EPOCHS_DIR).glob("*.parquet")}
        ids |= {p.stem for p in (self.root / schema.PREDICTIONS_DIR).glob("*.parquet")}
        for folder in (schema.TB_DIR, schema.IMAGES_DIR):
            if (self.root / folder).is_dir():
                ids |= {p.name for p in (self.root / folder).iterdir() if p.is_dir()}
        return {i for i in ids if schema.is_trial_id(i)}

    def _forget(self, trial_id: str) -> None:
        """A trial of an earlier driver that Tune never recorded: it runs again under a new id,
        so its partial rows would be a duplicate of that point."""
        self._dirty = True
        self.trials.pop(trial_id, None)
        self.epochs.pop(trial_id, None)
        self._epochs_dirty.discard(trial_id)
        if not schema.is_trial_id(trial_id):  # deletes only inside the results directory
            return
        self._epoch_path(trial_id).unlink(missing_ok=True)
        schema.predictions_path(self.root, trial_id).unlink(missing_ok=True)
        shutil.rmtree(self.root / schema.TB_DIR / trial_id, ignore_errors=True)
        shutil.rmtree(schema.image_dir(self.root, trial_id), ignore_errors=True)
