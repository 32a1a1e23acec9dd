"""The results of one sweep for a program or a notebook: ``analysis.open_results(DIR)``.

What a Ray Tune user has in ``ResultGrid`` (a DataFrame, the best result, its checkpoint),
on this project's records and with its selection rule::

    import analysis
    sweep = analysis.open_results("results/demo")
    sweep.dataframe()          # one row per trial: trial_id, status, the config, the metrics
    best = sweep.best()        # the point (factor levels) best on the validation metric
    best.config, best.score    # {'a2': 1.0, 'cls_weight': 0.1}, its mean over seeds
    best.test                  # the test numbers of that point, reported once
    best.checkpoints           # each of its trials' last checkpoint (None: not kept)

"Best" is chosen as the report chooses (``selection.selection_metric``): on the sweep's own
metric where it is a validation one, else its validation twin, in the sweep's mode, by the
mean over a point's seeds (``selection.config_means``); the test split is only reported.  The
report's best settings come from ``selection.best_point`` too, so the API and the report give
one answer.  Checkpoints live in Tune's experiment directories (``tune/``, ``extensions/<n>/``,
``continued/<n>/``), which a copy of the records alone does not have.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from contract import metrics as metrics_registry
from contract import schema
from contract.schema import CONFIG_PREFIX, METRIC_PREFIX

from .load import load_results
from .columns import present_metrics, values
from .selection import best_point

#: where Tune keeps a sweep's trial directories (the sweep's own run, extensions,
#: continuations from the records)
EXPERIMENTS = (schema.TUNE_DIR, f"{schema.EXTENSIONS_DIR}/*", f"{schema.CONTINUED_DIR}/*")


@dataclass(frozen=True)
class BestPoint:
    """The best point of a sweep: its factor levels, how it was chosen, its test numbers."""
    config: dict[str, Any]  # factor -> level (the point; seeds pooled)
    chosen_on: str  # the metric that chose it (validation where the results have it)
    mode: str  # max or min
    score: float  # the mean of ``chosen_on`` over the point's seeds, in the report's units
    test: dict[str, float]  # each test metric present: its mean over the seeds (% for accuracy)
    trial_ids: list[str] = field(default_factory=list)  # the point's completed trials
    checkpoints: list[Path | None] = field(default_factory=list)  # each trial's last one


class SweepResults:
    """One results directory, read (``open_results``)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.results = load_results(self.path)

    @property
    def name(self) -> str:
        return self.results.name

    def dataframe(self) -> pd.DataFrame:
        """One row per trial: trial_id, status, epochs_done, wall_seconds (and stage,
        finished_at where recorded), then the config and the metrics under their own names
        (``a2``, ``seed``, ``val_psnr``, ...)."""
        t = self.results.trials
        core = [c for c in ("trial_id", "status", "epochs_done", "wall_seconds", "stage",
                            "finished_at") if c in t]
        config = [c for c in t if c.startswith(CONFIG_PREFIX)]
        metric = [c for c in t if c.startswith(METRIC_PREFIX)]
        return t[core + config + metric].rename(
            columns=lambda c: c.removeprefix(CONFIG_PREFIX).removeprefix(METRIC_PREFIX)
        ).reset_index(drop=True)

    def best(self, metric: str | None = None, mode: str | None = None) -> BestPoint | None:
        """The point best on ``metric`` (default: the report's validation choice), with its
        test numbers and its trials' checkpoints; None before any trial completed."""
        found = best_point(self.results, metric, mode)
        if found is None:
            return None
        row, metric, mode = found
        factors = self.results.factors
        config = {f: _plain(row[CONFIG_PREFIX + f]) for f in factors if CONFIG_PREFIX + f in row}
        done = self.results.completed
        match = done
        for f, level in config.items():
            match = match[match[CONFIG_PREFIX + f] == level]
        tests = [m.name for m in metrics_registry.REGISTRY.values()
                 if m.split == "test" and m.when == "final"]
        test = {m: float(values(match, m).mean()) for m in present_metrics(match, tests)}
        ids = [str(i) for i in match["trial_id"]]
        return BestPoint(config, metric, mode, float(row[metric]), test, ids,
                         [self.checkpoint(i) for i in ids])

    def checkpoint(self, trial_id: str) -> Path | None:
        """The last checkpoint Tune kept for ``trial_id``, or None (not kept, or only the
        records were copied)."""
        if not schema.is_trial_id(trial_id):
            return None
        found = []
        for pattern in EXPERIMENTS:
            for experiment in sorted(self.path.glob(pattern)):
                for trial_dir in experiment.glob(f"*_{trial_id}_*"):
                    found += [p for p in trial_dir.glob("checkpoint_*") if p.is_dir()]
        return max(found, key=lambda p: p.name) if found else None


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python number it holds (a config level as the sweep file wrote it)."""
    return value.item() if hasattr(value, "item") else value


def open_results(path: str | os.PathLike) -> SweepResults:
    """A sweep's results for a program: ``dataframe()``, ``best()``, ``checkpoint(id)``
    (module docstring).  Raises ``analysis.ResultsNotFound`` for a path that is not one."""
    return SweepResults(path)
