"""A sweep's life, Ray-free: which stage runs next, decided from the records, and each stage
recorded in sweep.yaml.

A sweep is a sequence of stages, each one Tune experiment, each ended by finishing, by its
time budget (``sweeps.budget``), by a fault or by a signal:

* ``first``: the sweep file's trials (``tune/``);
* ``resume``: an interrupted stage whose Tune state is there, restored by Tune (a trial
  resumes from its checkpoint);
* ``continue``: the trials the records lack, as a new experiment (``continued/<n>/``): after
  a budget ended the last stage, or where Tune's state is gone (deleted, never copied, never
  saved: only the records were kept);
* ``extension`` and ``adaptive``: trials added to a finished sweep (``sweeps.extend``,
  ``sweeps.adaptive``; recorded in sweep.yaml's ``extensions`` too, which the report reads).

The records (sweep.yaml, trials.parquet, epochs/) are the truth; Tune's state only makes a
resume cheaper.  ``Sweep`` reads sweep.yaml once, holds it, plans each stage as a plain
``Stage`` value and records it in sweep.yaml's ``stages`` list (what ran, at which commit, by
which command, how it ended); the Tune adapter (``sweeps.tune.run``) runs the one stage it is
handed and never decides what comes next.

A continuation from the records runs exactly the missing trials of a grid or a design: every
(point, seed) of the pooled sweep without a finished row (completed, stopped by ASHA, or
diverged); a row left running, pending or errored is dropped with its files and run again.
ASHA's rungs start with the finished trials' recorded values at each milestone.  A searched
sweep (random, Optuna) gives its searcher every finished point with the mean of its seeds;
points with some seeds missing run those seeds first, and the searcher draws only the rest,
from a sampler seeded by the stage number (the first stage's seed would draw its points
again).  The numbers must come from the same code: the check ``extend`` makes
(``sweeps.extend.code_problem``) is made first.
"""

from __future__ import annotations

import collections
import datetime as dt
import math
import platform
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from contract import schema
from contract.resultsdir import trial_rows

from .adaptive import second_stage
from .budget import Budget
from .environment import environment
from .extend import code_problem, point_key
from .stage import Stage
from .storage import EXPERIMENT_STATE, damaged_state, state_from_older_version
from .sweepdoc import (EXTENSIONS_KEY, STAGES_KEY, SweepError, extensions, git, record,
                       spec_from_doc, sweep_part, write_doc)
#: rows that are a trial's outcome; any other is an interruption, run again
FINISHED = ("completed", "stopped", "diverged")


class Sweep:
    """A results directory's sweep.yaml, read once and held, and its rows; it plans stages and
    records them.  The caller holds the driver lock (``sweeps.guard.driver_lock``)."""

    def __init__(self, results_dir: Path, doc: dict[str, Any], command: list[str]):
        self.results_dir = Path(results_dir)
        self.doc = doc
        self.command = command
        self.spec = spec_from_doc(doc, self.results_dir)

    # ------------------------------------------------------------------ records
    def rows(self) -> list[dict[str, Any]]:
        return trial_rows(self.results_dir)

    def stages(self) -> list[dict[str, Any]]:
        value = self.doc.get(STAGES_KEY)
        return value if isinstance(value, list) else []

    def target(self) -> list[dict[str, Any]]:
        """Every trial of the pooled grid or design (axes and seed), adaptive seeds' too."""
        points = [dict(p) for p in self.spec.trial_configs()]
        for entry in extensions(self.doc):
            if "adaptive" in entry:
                points += [dict(p) for p in entry.get("points") or []]
            points += [dict(p) for p in entry.get("repeats") or []]  # extend --repeat: again
        return points

    def finished(self) -> list[dict[str, Any]]:
        return [r for r in self.rows() if r["status"] in FINISHED]

    def remaining(self) -> int:
        return max(0, self.spec.num_trials() - len(self.finished()))

    def missing(self, done: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The target's trials without a row among ``done`` (the finished rows), in the
        target's order."""
        names = list(self.spec.axes) + ["seed"]
        have = collections.Counter(
            point_key({k[len(schema.CONFIG_PREFIX):]: v for k, v in r.items()
                       if k.startswith(schema.CONFIG_PREFIX)}, names) for r in done)
        out = []
        for point in self.target():
            key = point_key(point, names)
            if have[key]:
                have[key] -= 1
            else:
                out.append(point)
        return out

    def trial_seconds(self) -> float | None:
        """A full trial's wall time in the records (the mean of completed rows), or None."""
        times = [r["wall_seconds"] for r in self.rows()
                 if r["status"] == "completed" and r.get("wall_seconds")]
        return sum(times) / len(times) if times else None

    # ------------------------------------------------------------------ planning
    def first(self, budget_s: float | None) -> Stage:
        return self._numbered(Stage("first", self.spec, schema.TUNE_DIR,
                                    budget=self._budget(budget_s),
                                    trials=self.spec.num_trials(),
                                    what=f"{self.spec.num_trials()} trial(s)"))

    def next_to_resume(self, budget_s: float | None) -> Stage | None:
        """What ``resume`` runs: the interrupted stage restored from Tune's state, or the
        missing trials from the records (None: nothing remains).  With a time budget always
        the latter: Tune restores a stage with the search algorithm it started with, which
        no budget gates (its interrupted trials then start again instead of from their
        checkpoints)."""
        last = self._last_stage()
        if self.remaining() == 0:
            return None
        state = self.results_dir / last["tune_dir"]
        why = ""
        if budget_s is None and last.get("ended") is None and any(state.glob(EXPERIMENT_STATE)):
            # Tune restarts from scratch what it cannot read (and drops every row with it):
            # state it cannot restore is passed over for the records, saying why.
            problem = damaged_state(state) or state_from_older_version(state)
            if not problem:
                return self._numbered(Stage(
                    "resume", self.spec, last["tune_dir"], restore=True,
                    points=self._points_of(last["tune_dir"]),
                    what=f"resuming {last['tune_dir']}/ from Tune's state"))
            why = f"Tune's state cannot be restored ({problem}); "
        stage = self.continuation(budget_s)
        if stage is not None:
            stage.what = why + stage.what
        return stage

    def continuation(self, budget_s: float | None) -> Stage | None:
        """The missing trials, continued from the records as a new stage."""
        problem = code_problem(self.doc.get("provenance"), str(self.results_dir / schema.SPEC_FILE))
        if problem:
            raise SweepError(problem)
        done = self.finished()
        kept = frozenset(r["trial_id"] for r in done)
        number = sum(1 for s in self.stages() if s.get("kind") == "continue") + 1
        experiment = f"{schema.CONTINUED_DIR}/{number}"
        stage = Stage("continue", self.spec, experiment, kept=kept, budget=self._budget(budget_s))
        if self.spec.search_type.enumerates:
            listed = [k for k, v in self.spec.axes.items() if isinstance(v, list)
                      and any(isinstance(x, (list, tuple, dict)) for x in v)]
            if listed:  # a row holds such a value as text: matching it is not yet written
                raise SweepError(f"{self.results_dir / schema.SPEC_FILE}: axes.{listed[0]}: "
                                 "levels that are lists cannot be matched to the records yet; "
                                 "continue it from Tune's state, or run a new sweep")
            stage.points = self.missing(done)
            if not stage.points:
                return None
            stage.trials = len(stage.points)
            stage.rungs = self._rungs(done)
        else:
            self._searched(stage, done)
            if stage.trials <= 0:
                return None
            stage.sampler_seed = number
        stage.what = (f"continuing from the records: {stage.trials} missing trial(s) of "
                      f"{self.spec.num_trials()}, {len(done)} recorded")
        return self._numbered(stage)

    def _searched(self, stage: Stage, done: list[dict[str, Any]]) -> None:
        """A searched sweep's recorded points for its searcher, and the seeds still to run."""
        axes, seeds = list(self.spec.axes), list(self.spec.seeds)
        columns = [schema.metric_column(m) for m in self.spec.metric]
        points: dict[tuple, dict[str, Any]] = {}
        for row in done:
            config = {a: row.get(schema.CONFIG_PREFIX + a) for a in axes}
            entry = points.setdefault(point_key(config, axes), {"config": config, "runs": {}})
            entry["runs"][row.get(schema.CONFIG_PREFIX + "seed")] = [row.get(c) for c in columns]
        for entry in points.values():
            values = _means(list(entry["runs"].values()), len(columns))
            left = [s for s in seeds if s not in entry["runs"]]
            if left:
                stage.pending.append({"config": entry["config"], "seeds": left,
                                      "values": list(entry["runs"].values())})
            else:
                stage.history.append({"config": entry["config"], "values": values})
        stage.trials = self.spec.num_trials() - len(done)

    def _rungs(self, done: list[dict[str, Any]]) -> dict[str, dict[int, float]]:
        """ASHA's recorded values: each finished trial's metric at each epoch it reported."""
        if self.spec.scheduler.get("type") != "asha":
            return {}
        column = schema.metric_column(self.spec.metric[0])
        out = {}
        for row in done:
            path = self.results_dir / schema.EPOCHS_DIR / f"{row['trial_id']}.parquet"
            if not path.is_file():
                continue
            epochs = pq.read_table(path, columns=["epoch", column]).to_pylist()
            out[row["trial_id"]] = {int(e["epoch"]): e[column] for e in epochs
                                    if e[column] is not None and math.isfinite(e[column])}
        return out

    def adaptive(self, budget_s: float | None) -> Stage | None:
        """Adaptive seeds' second stage once the first has finished (``sweeps.adaptive``),
        recorded in sweep.yaml's extensions; None where there is none to run."""
        spec = self.spec
        if spec.adaptive is None or any("adaptive" in e for e in extensions(self.doc)):
            return None
        rows = self.rows()
        if sum(r["status"] in FINISHED for r in rows) < spec.num_trials():
            return None
        added, table = second_stage(spec, rows)
        rule = spec.adaptive
        doc = record(self.doc, sweep_part(self.doc), f"adaptive seeds, second stage: "
                     f"{len(added)} trial(s) for a 95% half-width of "
                     f"{rule['until']['halfwidth']:g} on {rule['until']['metric']}", added,
                     self.command)
        doc[EXTENSIONS_KEY][-1]["adaptive"] = table
        self._write(doc)
        if not added:
            return None
        return self.extension("adaptive", budget_s)

    def record_extension(self, pooled: dict[str, Any], what: str, points: list[dict[str, Any]],
                         repeats: list[dict[str, Any]] | None = None) -> None:
        """An extension (``sweeps.extend.plan``) in sweep.yaml's extensions."""
        self._write(record(self.doc, pooled, what, points, self.command, repeats))

    def extension(self, kind: str, budget_s: float | None) -> Stage:
        """The last extension recorded in sweep.yaml, as a new stage."""
        entry = extensions(self.doc)[-1]
        return self._numbered(Stage(
            kind, self.spec, entry["tune_dir"], points=entry["points"],
            kept=frozenset(r["trial_id"] for r in self.rows()),
            budget=self._budget(budget_s), trials=len(entry["points"]),
            what=f"extension {entry['number']}: {len(entry['points'])} trial(s)"))

    # ------------------------------------------------------------------ recording
    def started(self, stage: Stage) -> None:
        """The stage in sweep.yaml's stages, before it runs (a driver that dies leaves it
        without ``ended``: interrupted)."""
        entry = {"number": stage.number, "kind": stage.kind, "tune_dir": stage.experiment,
                 "started": _now(), "git_commit": git("rev-parse", "HEAD"),
                 "command": " ".join(self.command), "trials": stage.trials or None,
                 "host": platform.node(), "environment": environment()}
        if stage.budget is not None:
            entry["budget_s"] = round(stage.budget.seconds, 1)
        if stage.kind == "continue" and stage.points is not None:
            entry["points"] = stage.points
        if stage.kind == "resume":
            entry["resumes"] = stage.experiment
        self._write({**self.doc, STAGES_KEY: self.stages() + [entry]})

    def ended(self, stage: Stage) -> None:
        """How the stage ended: ``budget`` (its time budget stopped it) or ``finished`` (every
        trial of the sweep so far has its outcome).  A stage that returned with trials still
        to run (a signal stopped Tune; trials errored past their retries) stays unmarked, as
        a driver that died leaves it: ``resume`` restores it from Tune's state."""
        stages = self.stages()
        if not stages or stages[-1].get("number") != stage.number:
            return
        if stage.budget is not None and stage.budget.stopped:
            how = "budget"
        elif self.remaining() == 0:
            how = "finished"
        else:
            return
        # An interrupted stage restored by a resume ends with it.
        for entry in stages:
            if entry.get("tune_dir") == stage.experiment and entry.get("ended") is None:
                entry.update(ended=how, ended_at=_now())
        self._write({**self.doc, STAGES_KEY: stages})

    def _write(self, doc: dict[str, Any]) -> None:
        write_doc(doc, self.results_dir)
        self.doc = doc
        self.spec = spec_from_doc(doc, self.results_dir)

    # ------------------------------------------------------------------ helpers
    def _last_stage(self) -> dict[str, Any]:
        """The last stage run; a sweep from before stages were recorded: its last
        experiment, taken as interrupted."""
        if self.stages():
            return self.stages()[-1]
        done = extensions(self.doc)
        return {"tune_dir": done[-1]["tune_dir"] if done else schema.TUNE_DIR}

    def _points_of(self, tune_dir: str) -> list[dict[str, Any]] | None:
        """The listed trials of the experiment in ``tune_dir``: an extension's or a
        continuation's (recorded where they were planned); None for the sweep's own."""
        for entry in extensions(self.doc) + self.stages():
            if entry.get("tune_dir") == tune_dir and entry.get("points") is not None:
                return entry["points"]
        return None

    def _numbered(self, stage: Stage) -> Stage:
        stage.number = len(self.stages()) + 1
        return stage

    def _budget(self, seconds: float | None) -> Budget | None:
        return None if seconds is None else Budget(seconds, prior_s=self.trial_seconds())


def _means(runs: list[list[Any]], width: int) -> list[float] | None:
    """Per objective, the mean of the finite values of a point's seeds (None: none finite)."""
    out = []
    for i in range(width):
        values = [r[i] for r in runs if r[i] is not None and math.isfinite(r[i])]
        if not values:
            return None
        out.append(sum(values) / len(values))
    return out


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
