"""``ParquetResults``: the ``ray.tune.Callback`` on the driver that feeds Tune's trials and
results to the Parquet writer (``sweeps.results.ResultsWriter``, which holds the rows and the
policy of when they are written; see there).

What is Tune's here: the hooks, each timed (``stats["hook_s"]``, what the Parquet contract
costs Tune's event loop); the trial's id, config and failures read off Tune's ``Trial``;
reconciling at the first step, when Tune's restored trials are all there, and at the end; and
a restored trial whose checkpoint is gone: Tune deletes a trial's older checkpoint as soon as
it registers a newer one, so the restored state may point at a checkpoint that no longer
exists (every retry then failed); such a trial starts over, which training's determinism
makes equal to continuing.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

from pyarrow.fs import FileType
from ray import tune

from ..results import STATS, ResultsWriter


def _timed(hook):
    """Count a Tune hook's wall time in ``stats["hook_s"]``: the time it holds Tune's event
    loop, which is what the Parquet contract costs the driver."""
    @functools.wraps(hook)
    def timed(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return hook(self, *args, **kwargs)
        finally:
            self.stats["hook_s"] += time.perf_counter() - start
            self.stats["hook_calls"] += 1
    return timed


class ParquetResults(ResultsWriter, tune.Callback):
    """The writer as a Tune callback (module docstring).  Its state is the writer's: Tune
    pickles it with the experiment (tuner.pkl), and a resume restores it."""

    def _row(self, trial) -> dict[str, Any]:
        return self.trial_row(trial.trial_id, trial.config,
                              int(getattr(trial, "num_failures", 0) or 0))

    def setup(self, **info) -> None:
        if not hasattr(self, "stats"):  # a callback pickled by a version without counters
            self.stats = dict.fromkeys(STATS, 0)
        self.load()

    @_timed
    def on_trial_start(self, iteration, trials, trial, **info):
        self.start(self._row(trial))

    @_timed
    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.result(self._row(trial), result)

    @_timed
    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info):
        # Tune calls this before it records the checkpoint (Ray 2.60: TuneController.
        # _process_trial_save), so every epoch a resume from it skips is on disk first.
        self.checkpoint(trial.trial_id)

    @_timed
    def on_trial_complete(self, iteration, trials, trial, **info):
        self.complete(self._row(trial))

    @_timed
    def on_trial_recover(self, iteration, trials, trial, **info):
        self._row(trial)
        self.write()

    @_timed
    def on_step_end(self, iteration, trials, **info):
        self.write()  # changes batched since the last rewrite, once the period is up

    @_timed
    def on_trial_error(self, iteration, trials, trial, **info):
        self.error(self._row(trial), error_message(trial))

    @_timed
    def on_step_begin(self, iteration, trials, **info):
        if not self._reconciled:  # the first step: Tune's restored trials are all there
            self._reconciled = True
            for trial in trials:
                if trial.status != trial.TERMINATED:
                    _forget_missing_checkpoint(trial)
            self.reconcile(_ended(trials))

    @_timed
    def on_experiment_end(self, trials, **info):
        for trial in trials:
            self._row(trial)
        # A trial the time budget cut at its deadline was interrupted, not stopped by the
        # scheduler: its row stays running, and the next stage runs it again.
        budget = getattr(self, "budget", None)  # getattr: a callback pickled before budgets
        self.reconcile(_ended(trials, budget.cut if budget is not None else frozenset()))


def _ended(trials, cut: frozenset[str] = frozenset()) -> dict[str, bool]:
    return {t.trial_id: t.status == t.TERMINATED and t.trial_id not in cut for t in trials}


def _forget_missing_checkpoint(trial) -> None:
    """A restored trial whose checkpoint was deleted after Tune's last state save: start it
    from scratch instead of failing to restore it (Ray 2.60 keeps the checkpoint list in the
    trial's checkpoint manager; clearing it is what a trial without checkpoints looks like)."""
    manager = trial.run_metadata.checkpoint_manager
    latest = manager.latest_checkpoint_result
    if latest is None or latest.checkpoint is None:
        return
    checkpoint = latest.checkpoint
    # The checkpoint's own (public) filesystem handle: local or cloud storage alike.
    if checkpoint.filesystem.get_file_info(checkpoint.path).type == FileType.NotFound:
        # Private attributes, checked against Ray 2.60.0: Tune has no public way to drop a
        # trial's checkpoints (test_faults covers this path).
        manager._latest_checkpoint_result = None
        manager._checkpoint_results = []


def error_message(trial) -> str:
    """The last line of the trial's error (the exception), not the whole traceback."""
    text = ""
    path = getattr(trial, "error_file", None)
    try:
        if path and Path(path).exists():
            text = Path(path).read_text()
    except OSError:
        pass
    text = text or str(getattr(trial, "error_msg", "") or "")
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:500] if lines else "unknown error"
