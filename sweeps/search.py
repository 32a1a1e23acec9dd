"""Replicates for searched sweeps: every point a searcher suggests runs once per seed.

Ray's ``Repeater`` does this for one metric and forgets its groups on restore (it checkpoints
only the inner searcher), so a resumed Optuna sweep would crash on the first replicate that
finishes.  ``SeedRepeater``:

* averages each of several metrics (Optuna multi-objective) over the replicates before the
  searcher sees them;
* checkpoints its own grouping next to the searcher's (as JSON, which also carries the NaN and
  -inf a diverged replicate reports; plain data, nothing that runs code when read back), so ``launch.py resume`` continues the same study: the replicates of a
  point in flight still run with that point's config, and the searcher is told once per point.

Each replicate stays its own trial (its own row in trials.parquet): only the searcher's view
is averaged.
"""

from __future__ import annotations

import json
import os

import numpy as np
from ray.tune.search import Repeater
from ray.tune.search.repeater import _TrialGroup

STATE_SUFFIX = ".seed-groups.json"


class SeedRepeater(Repeater):
    def __init__(self, searcher, repeat: int):
        super().__init__(searcher, repeat=repeat, set_index=True)
        self._results: dict[str, dict] = {}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, **kwargs):
        group = self._trial_id_to_group.get(trial_id)
        if group is None:  # not suggested through us (cannot happen after a proper restore)
            return
        metrics = self.searcher.metric
        if not isinstance(metrics, list):
            return super().on_trial_complete(trial_id, result=result, **kwargs)
        self._results[trial_id] = {m: (result or {}).get(m, np.nan) for m in metrics}
        group.report(trial_id, np.nan)  # the group's own score slot is unused here
        if group.finished_reporting():
            members = [self._results.pop(t) for t in list(self._results)
                       if self._trial_id_to_group.get(t) is group]
            averaged = {m: float(np.nanmean([r[m] for r in members])) for m in metrics}
            self.searcher.on_trial_complete(group.primary_trial_id, result=averaged, **kwargs)

    # ---------------------------------------------------------------- checkpointing
    def save(self, checkpoint_path: str):
        self.searcher.save(checkpoint_path)
        groups = [{"primary": g.primary_trial_id, "config": g.config, "max": g.max_trials,
                   "trials": dict(g._trials)} for g in self._groups]
        current = self._groups.index(self._current_group) if self._current_group in self._groups else None
        state = {"groups": groups, "current": current, "results": self._results}
        tmp = checkpoint_path + STATE_SUFFIX + ".tmp"
        with open(tmp, "w") as handle:
            json.dump(state, handle)
        os.replace(tmp, checkpoint_path + STATE_SUFFIX)

    def restore(self, checkpoint_path: str):
        self.searcher.restore(checkpoint_path)
        path = checkpoint_path + STATE_SUFFIX
        if not os.path.exists(path):
            return
        with open(path) as handle:
            state = json.load(handle)
        self._groups, self._trial_id_to_group = [], {}
        for saved in state["groups"]:
            group = _TrialGroup(saved["primary"], saved["config"], max_trials=saved["max"])
            group._trials = dict(saved["trials"])
            self._groups.append(group)
            for trial_id in group._trials:
                self._trial_id_to_group[trial_id] = group
        current = state["current"]
        self._current_group = self._groups[current] if current is not None else None
        self._results = state["results"]

