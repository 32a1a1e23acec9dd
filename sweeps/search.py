"""Replicates for searched sweeps: every point a searcher suggests runs once per seed.

Ray's ``Repeater`` does this for one metric; Optuna's multi-objective search reports a list of
metrics, so this subclass averages each of them over the replicates before the searcher sees
them.  Each replicate stays its own trial (its own row in trials.parquet): only the searcher's
view is averaged.
"""

from __future__ import annotations

import numpy as np
from ray.tune.search import Repeater


class SeedRepeater(Repeater):
    def __init__(self, searcher, repeat: int):
        super().__init__(searcher, repeat=repeat, set_index=True)
        self._results: dict[str, dict] = {}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, **kwargs):
        metrics = self.searcher.metric
        if not isinstance(metrics, list):
            return super().on_trial_complete(trial_id, result=result, **kwargs)
        group = self._trial_id_to_group[trial_id]
        self._results[trial_id] = {m: (result or {}).get(m, np.nan) for m in metrics}
        group.report(trial_id, np.nan)  # the group's own score slot is unused here
        if group.finished_reporting():
            members = [self._results.pop(t) for t in list(self._results)
                       if self._trial_id_to_group.get(t) is group]
            averaged = {m: float(np.nanmean([r[m] for r in members])) for m in metrics}
            self.searcher.on_trial_complete(group.primary_trial_id, result=averaged, **kwargs)
