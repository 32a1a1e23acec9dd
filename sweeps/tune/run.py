"""``run_stage``: one stage of a sweep (``sweeps.stage.Stage``, a plain value the Ray-free core
planned) -> a Ray Tune Tuner (search, scheduler, resources, callbacks) -> results.

Embedded by default (``ray.init`` on this machine, bound to 127.0.0.1, no dashboard); with an
address (``auto`` or ``host:port``) it joins an existing cluster.  A stage either starts a new
Tune experiment (the first run, a continuation from the records, an extension) or restores an
interrupted one from its Tune state (errored trials retried) with the same trainable and
callbacks.  What runs next is never decided here: ``sweeps.life`` does, and records it.
``run_sweep`` runs a spec as a first stage without records (benchmarks, tests).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

# Ray's environment is set by sweeps/__init__ (rayenv.configure), which runs before this.
from ray import tune

from contract import metrics as metrics_registry
from contract import schema
from hinr import data as hinr_data

from ..spec import CHECKPOINTS_KEPT, SweepSpec
from ..storage import storage_filesystem
from ..stage import Stage
from . import oldnames
from .budget import BudgetGate, BudgetStopper, gate
from .cluster import Prepared, prepare
from .progress import SweepProgress, ray_console
from .results import ParquetResults
from .search import param_space, points_space, search_alg, space_is_saved, tune_num_samples
from .trainable import train_hinr

# Ray's verbose table: val_psnr every epoch (what searches select on); test_psnr and the
# accuracies once, at the end.  "epoch" is a column of its own, not a registered metric.
PROGRESS_METRICS = ["epoch", *metrics_registry.names("progress", when="epoch"),
                    *metrics_registry.names("progress", when="final")]


# ------------------------------------------------------------------------------ scheduler
def scheduler(spec: SweepSpec, epochs: int, rungs: dict[str, dict[int, float]] | None = None):
    """ASHA, or None (FIFO); ``rungs``: recorded trials' metric by epoch, which a continuation's
    rungs start with, so that its trials are cut against the whole sweep's."""
    if spec.scheduler["type"] != "asha":
        return None
    asha = tune.schedulers.ASHAScheduler(
        metric=spec.metric[0], mode=spec.mode[0], time_attr="training_iteration",
        max_t=epochs, grace_period=min(spec.scheduler.get("grace_period", 1), epochs),
        reduction_factor=spec.scheduler.get("reduction_factor", 2))
    sign = 1.0 if spec.mode[0] == "max" else -1.0  # ASHA records max-is-better values
    # Private (Ray 2.60.0): the brackets' rungs, (milestone, {trial id: value}); Tune has no
    # public way to tell ASHA results it did not see.  One bracket (ASHA's default).
    for milestone, recorded in asha._brackets[0]._rungs:
        for trial_id, values in (rungs or {}).items():
            if int(milestone) in values:
                recorded[trial_id] = sign * values[int(milestone)]
    return asha


def trainable(spec: SweepSpec, results_dir: Path, data: dict[str, Any], fn=train_hinr):
    objectives = dict(zip(spec.metric, spec.mode))
    fn = tune.with_parameters(fn, data=data, results_dir=str(results_dir.resolve()),
                              objectives=objectives,
                              checkpoint_every_s=spec.budget["checkpoint_every_s"],
                              varying=[*spec.axes, "seed"])  # TensorBoard's run names
    return tune.with_resources(fn, {"cpu": spec.resources["cpus"], "gpu": spec.resources["gpus"]})


def _reporter(spec: SweepSpec):
    params = [k for k in spec.axes] + ["seed"]
    return tune.CLIReporter(metric_columns=PROGRESS_METRICS, parameter_columns=params,
                            max_report_frequency=15, sort_by_metric=False)


def _console(run_config: tune.RunConfig, spec: SweepSpec, verbose: bool, stage: Stage) -> None:
    """Quiet: our progress view only (Tune's verbose=0 prints no table and no trial lines).
    Verbose: Ray's table as well, and our view as plain lines (an in-place line would be torn
    by the table)."""
    results = next(c for c in run_config.callbacks if isinstance(c, ParquetResults))
    # A resumed sweep brings its pickled callbacks; its progress view starts afresh.
    run_config.callbacks = [c for c in run_config.callbacks if not isinstance(c, SweepProgress)]
    run_config.callbacks.append(SweepProgress(results, spec, live=False if verbose else None,
                                              budget=stage.budget))
    run_config.progress_reporter = _reporter(spec) if verbose else None
    run_config.verbose = 1 if verbose else 0


def run_sweep(spec: SweepSpec, results_dir: Path, address: str | None = None,
              max_concurrent: int | None = None, verbose: bool = False,
              **options) -> tune.ResultGrid:
    """``spec`` as a first stage with no sweep.yaml of its own (benchmarks and tests that
    measure one Tune run); ``options`` as ``run_stage``'s."""
    return run_stage(Stage("first", spec, schema.TUNE_DIR), results_dir, address,
                     max_concurrent, verbose, **options)


def run_stage(stage: Stage, results_dir: Path, address: str | None = None,
              max_concurrent: int | None = None, verbose: bool = False, *,
              prepared: Prepared | None = None, trainable_fn=None,
              writer: ParquetResults | None = None,
              datasets: Callable[[SweepSpec], dict[str, hinr_data.ImageData]] | None = None,
              reuse_actors: bool = True,
              checkpoints_kept: int = CHECKPOINTS_KEPT) -> tune.ResultGrid:
    """Run ``stage`` (``sweeps.stage.Stage``): a new Tune experiment, or its Tune state
    restored.  ``prepared`` is what ``sweeps.tune.cluster.prepare`` returned (it runs here if
    not given, loading the datasets with ``datasets``, default ``shared_datasets``:
    benchmarks/sweep.py passes a timed one).  Ray's logs go to <results>/driver.log (and the console too if ``verbose``).
    ``trainable_fn`` (default ``train_hinr``, same signature) and ``writer`` (default a new
    ``ParquetResults``) are for benchmarks/scale.py: a no-op trainable through the real
    pipeline, and the writer whose ``stats`` it reads afterwards.

    ``reuse_actors``: a slot's next trial runs in the worker process its last trial used
    (Tune's ``reuse_actors``), which saves a process start, torch's import and the dataset's
    transfer per trial.  Results do not depend on it: a trial seeds everything it draws
    (``hinr.training``, ``hinr.evaluate``), sets its own threads, and keeps no state in the process
    (tests/test_sweeps_e2e.py runs a sweep both ways and compares).  False only for
    benchmarks/sweep.py, which measures what it saves.

    ``checkpoints_kept``: Tune's ``num_to_keep`` (see ``sweeps.spec.CHECKPOINTS_KEPT``); other
    than the default only for benchmarks/scale.py, which measures what it saves."""
    owns_ray = prepared is not None and prepared.owns_ray
    with ray_console(results_dir, verbose, owns_ray=owns_ray) as console:
        data = (prepared or prepare(stage.spec, address, datasets)).data
        console.after_init()
        if stage.restore:
            return _restore(stage, results_dir, verbose, data)
        return _fit(stage, results_dir, max_concurrent, verbose, data,
                    trainable_fn or train_hinr, writer, reuse_actors, checkpoints_kept)


def stage_space(stage: Stage) -> dict[str, Any] | None:
    """Tune's param_space: a listed stage's grid over its points (axis values and seed each,
    as a design's points are: ``sweeps.tune.search.points_space``), else the sweep's."""
    spec = stage.spec
    if stage.points is not None:
        return {"preset": spec.preset, **spec.base, **points_space(stage.points)}
    return param_space(spec)


def _samples(stage: Stage) -> int:
    """``TuneConfig.num_samples``: a continuation's listed points once each, a searched
    continuation's remaining trials; otherwise the sweep's (``tune_num_samples``)."""
    if stage.kind == "continue":
        return 1 if stage.points is not None else stage.trials
    return tune_num_samples(stage.spec)


def _fit(stage: Stage, results_dir: Path, max_concurrent: int | None, verbose: bool,
         data: dict[str, hinr_data.ImageData], trainable_fn, writer: ParquetResults | None,
         reuse_actors: bool, checkpoints_kept: int) -> tune.ResultGrid:
    spec = stage.spec
    concurrent = max_concurrent if max_concurrent is not None else spec.budget["max_concurrent"]
    alg = search_alg(spec, stage.history, stage.pending, stage.sampler_seed)
    if stage.budget is not None:  # the gate takes the concurrency limit over
        alg = gate(alg, stage.spec, stage.budget, concurrent)
        concurrent = 0
    tune_config = tune.TuneConfig(
        search_alg=alg, scheduler=scheduler(spec, spec.base_config.epochs, stage.rungs),
        num_samples=_samples(stage), max_concurrent_trials=concurrent or None,
        time_budget_s=spec.budget["time_limit_s"] or None, reuse_actors=reuse_actors)
    where = results_dir / stage.experiment
    writer = writer or ParquetResults(str(results_dir), spec.name, spec_doc=spec.raw)
    if writer.contract is None:  # benchmarks/scale.py's own writer
        writer.contract = schema.contract_metadata(spec.raw)
    writer.kept, writer.budget, writer.stage = stage.kept, stage.budget, stage.number or None
    run_config = tune.RunConfig(
        name=where.name, storage_path=str(where.parent.resolve()),
        storage_filesystem=storage_filesystem(),  # whole files only (sweeps/storage.py)
        failure_config=tune.FailureConfig(max_failures=spec.budget["max_failures"]),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=checkpoints_kept),
        stop=BudgetStopper(stage.budget) if stage.budget is not None else None,
        callbacks=[writer])
    _console(run_config, spec, verbose, stage)
    tuner = tune.Tuner(trainable(spec, results_dir, data, trainable_fn),
                       param_space=stage_space(stage), tune_config=tune_config,
                       run_config=run_config)
    return tuner.fit()


def _restore(stage: Stage, results_dir: Path, verbose: bool,
             data: dict[str, hinr_data.ImageData]) -> tune.ResultGrid:
    spec = stage.spec
    # A design's space holds functions (sweeps.tune.search.points_space), which Tune saves as
    # placeholders only: the space itself is given again, rebuilt from sweep.yaml (a listed
    # stage's too: its points are in sweep.yaml).
    space = stage_space(stage) if stage.points is not None or not space_is_saved(spec) else None
    given = {"param_space": space} if space is not None else {}
    oldnames.accept()  # tuner.pkl of a sweep started before sweeps.tune existed
    # The file system is given again: Tune replaces the pickled one with this argument (None
    # would be plain local writes), and a sweep started before it gets it now.
    tuner = tune.Tuner.restore(str((results_dir / stage.experiment).resolve()),
                               trainable(spec, results_dir, data),
                               resume_unfinished=True, resume_errored=True,
                               storage_filesystem=storage_filesystem(), **given)
    # Tuner.restore has no run_config argument: the restored one (the callbacks and verbosity
    # the sweep started with) is only reachable on the internal tuner.
    # Private (Ray 2.60.0): Tuner._local_tuner has no public equivalent.
    run_config = tuner._local_tuner.get_run_config()
    # A stage restored after its driver died runs without the budget it had (sweeps.life
    # continues from the records instead when a new budget is asked for).
    if isinstance(run_config.stop, BudgetStopper):
        run_config.stop.budget = None
    gate = tuner._local_tuner._tune_config.search_alg  # private too (Ray 2.60.0)
    if isinstance(gate, BudgetGate):
        gate.budget = None
    # Tune restores the callbacks pickled when the sweep started, results directory included:
    # a directory copied or moved since would get its Parquet in the old place.
    for callback in run_config.callbacks or []:
        # The contract is set again too: a sweep started by a version that wrote none gets it
        # from this resume on.
        if isinstance(callback, ParquetResults):
            callback.results_dir = str(results_dir)
            callback.contract = schema.contract_metadata(spec.raw)
            callback.budget = None
            callback.stage = stage.number or None
    _console(run_config, spec, verbose, stage)
    return tuner.fit()
