"""``RecordedOptunaSearch``: Tune's ``OptunaSearch``, told the points a sweep recorded before this
stage (a continuation from the records, ``sweeps.life``) through Tune's own
``points_to_evaluate`` with ``evaluated_rewards``.

Tune's ``add_evaluated_point`` takes one float; a continuation also has points whose every
seed failed (no finite value: told as a failed Optuna trial, as a failed trial is) and
multi-objective sweeps (one value per objective: an Optuna trial with ``values``).
"""

from __future__ import annotations

from typing import Any

import optuna
from ray.tune.search.optuna import OptunaSearch

# The driver's console is its progress line (sweeps.tune.progress); Optuna's INFO lines ("A new
# study created in memory with name: ...") broke into it on every run and resume (issue 43).
optuna.logging.set_verbosity(optuna.logging.WARNING)


class RecordedOptunaSearch(OptunaSearch):
    def add_evaluated_point(self, parameters: dict, value: Any, error: bool = False,
                            pruned: bool = False, intermediate_values=None) -> None:
        if value is None:
            return super().add_evaluated_point(parameters, 0.0, error=True)
        if isinstance(value, (list, tuple)) and len(value) == 1:
            value = value[0]
        if not isinstance(value, (list, tuple)):
            return super().add_evaluated_point(parameters, float(value), error, pruned,
                                               intermediate_values)
        # Private (Ray 2.60.0): the study and the Optuna distributions OptunaSearch keeps.
        trial = optuna.trial.create_trial(state=optuna.trial.TrialState.COMPLETE,
                                          values=[float(v) for v in value], params=parameters,
                                          distributions=self._space)
        self._ot_study.add_trial(trial)
        return None
