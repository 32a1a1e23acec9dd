"""A stage's time budget (``sweeps.budget.Budget``) as Tune meets it: ``BudgetGate`` creates a
trial only when a slot is free and the budget admits it, ``BudgetStopper`` ends the stage.

Why at creation: Tune starts every trial it has created as soon as resources allow (its
scheduler only orders them; Ray 2.60 ``TuneController._maybe_add_actors``), and a grid's
generator creates up to 200 ahead.  So the gate wraps Tune's own search algorithm (its grid
generator, or the searcher's) and hands out the next trial only when one can start at once:
then "admitted" and "started" are the same moment, and the budget's arithmetic holds.
Without a budget the gate is not used at all.
"""

from __future__ import annotations

from typing import Any

from ray import tune
from ray.tune.search import SearchAlgorithm

from ..budget import Budget
from ..spec import SweepSpec


class BudgetGate(SearchAlgorithm):
    """Tune's search algorithm ``inner``, its next trial held back unless fewer than
    ``slots`` trials run and ``budget`` admits one more."""

    def __init__(self, inner: SearchAlgorithm, budget: Budget, slots: int):
        self.inner = inner
        self.budget = budget
        self.slots = max(1, int(slots))
        self._finished = False

    # What is not about the budget is the inner algorithm's.
    @property
    def metric(self):
        return self.inner.metric

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return self.inner.set_search_properties(metric, mode, config, **spec)

    @property
    def total_samples(self):
        return self.inner.total_samples

    def add_configurations(self, experiments) -> None:
        self.inner.add_configurations(experiments)

    def next_trial(self):
        budget = self.budget
        if budget is not None and (len(budget.started) >= self.slots or budget.stopped
                                   or not budget.admits()):
            return None
        trial = self.inner.next_trial()
        if trial is not None and budget is not None:
            budget.trial_started(trial.trial_id)
        return trial

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self.inner.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        if self.budget is not None:
            full = not error and (result or {}).get("status") == "completed"
            self.budget.trial_ended(trial_id, full)
        self.inner.on_trial_complete(trial_id, result=result, error=error)

    def is_finished(self) -> bool:
        # Closed for good is finished too: Tune otherwise blocks in its trial queue for up to
        # 600 s waiting for a trial (Ray 2.60 TuneController._update_trial_queue) before it
        # asks the stopper again.
        closed = self.budget is not None and self.budget.should_stop()
        return self.inner.is_finished() or self._finished or closed

    def set_finished(self) -> None:
        self._finished = True
        self.inner.set_finished()

    def has_checkpoint(self, dirpath: str) -> bool:
        return self.inner.has_checkpoint(dirpath)

    def save_to_dir(self, dirpath: str, **kwargs) -> None:
        self.inner.save_to_dir(dirpath, **kwargs)

    def restore_from_dir(self, dirpath: str) -> None:
        self.inner.restore_from_dir(dirpath)


class BudgetStopper(tune.Stopper):
    """Ends the stage once the gate has closed and nothing runs, or at the deadline."""

    def __init__(self, budget: Budget):
        self.budget = budget

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def stop_all(self) -> bool:
        return self.budget is not None and self.budget.should_stop()


def gate(alg, spec: SweepSpec, budget: Budget, concurrent: int) -> BudgetGate:
    """Tune's own search algorithm for a stage (its grid generator when ``alg`` is None, else
    the searcher's), behind the budget's gate, which admits at most as many trials at once as
    ``concurrent`` (0: no limit) and the cluster's largest share of trials allow."""
    import ray
    from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter, SearchGenerator

    if alg is None:
        inner = BasicVariantGenerator(max_concurrent=concurrent)
    else:
        inner = SearchGenerator(ConcurrencyLimiter(alg, concurrent) if concurrent else alg)
    cpus, gpus = spec.resources["cpus"], spec.resources["gpus"]
    have = ray.cluster_resources()
    unlimited = 1 << 20
    fits = [int(have.get("CPU", 1) // cpus) if cpus else unlimited,
            int(have.get("GPU", 0) // gpus) if gpus else unlimited]
    return BudgetGate(inner, budget, min([concurrent or unlimited, *fits]) or 1)
