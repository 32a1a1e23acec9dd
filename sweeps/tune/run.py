"""run_sweep: a SweepSpec -> a Ray Tune Tuner (search, scheduler, resources, callbacks) -> results.

Embedded by default (``ray.init`` on this machine, bound to 127.0.0.1, no dashboard); with an
address (``auto`` or ``host:port``) it joins an existing cluster.  ``resume_sweep`` restores the
Tuner from ``<results>/tune`` (errored trials retried) with the same trainable and callbacks;
``run_stage`` runs (or resumes) an extension recorded in sweep.yaml (``sweeps.sweepdoc``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable

# Ray's environment is set by sweeps/__init__ (rayenv.configure), which runs before this.
from ray import tune

from contract import metrics as metrics_registry
from contract import schema
from contract.resultsdir import trial_ids, trial_rows
from hinr import data as hinr_data
from hinr.fetch import FetchError

from ..adaptive import second_stage
from ..spec import CHECKPOINTS_KEPT, SpecError, SweepSpec, check_model_size
from ..storage import (SEED_FIELD_COMMIT, damaged_state, state_from_older_version,
                       storage_filesystem)
from ..sweepdoc import SweepError, extensions, read_doc, read_spec, record, sweep_part, write_doc
from . import oldnames
from .progress import SweepProgress, ray_console
from .results import ParquetResults
from .search import param_space, points_space, search_alg, space_is_saved, tune_num_samples
from .trainable import train_hinr

# Ray's verbose table: val_psnr every epoch (what searches select on); test_psnr and the
# accuracies once, at the end.  "epoch" is a column of its own, not a registered metric.
PROGRESS_METRICS = ["epoch", *metrics_registry.names("progress", when="epoch"),
                    *metrics_registry.names("progress", when="final")]


# ------------------------------------------------------------------------------ scheduler
def scheduler(spec: SweepSpec, epochs: int):
    if spec.scheduler["type"] != "asha":
        return None
    return tune.schedulers.ASHAScheduler(
        metric=spec.metric[0], mode=spec.mode[0], time_attr="training_iteration",
        max_t=epochs, grace_period=min(spec.scheduler.get("grace_period", 1), epochs),
        reduction_factor=spec.scheduler.get("reduction_factor", 2))


# ------------------------------------------------------------------------------ Ray
# Did this process's init_ray start Ray?  Then the sweep that used it shuts it down (see
# progress.ray_console), even when Ray was started before the sweep (launch.py starts it in
# prepare(), before anything is written, so that a refused sweep writes nothing).
_ray_started_here = False


def init_ray(address: str | None, spec: SweepSpec) -> None:
    import ray

    global _ray_started_here
    if not ray.is_initialized():
        _start_ray(address)
        _ray_started_here = True
    check_resources(spec)


def _start_ray(address: str | None) -> None:
    import ray

    if address:
        ray.init(address=address, log_to_driver=True)
    else:
        # Embedded: a new local Ray ("local": never join a `ray start` cluster that happens to
        # run on this machine), no dashboard (nothing serves HTTP), token-authenticated gRPC.
        ray.init(address="local", include_dashboard=False, configure_logging=False,
                 log_to_driver=True)


def check_resources(spec: SweepSpec) -> None:
    """Refuse a per-trial request that no node of the cluster can satisfy (Tune would wait
    forever), naming the field and what the largest node has."""
    import ray

    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    best_cpu = max((n.get("CPU", 0.0) for n in nodes), default=0.0)
    best_gpu = max((n.get("GPU", 0.0) for n in nodes), default=0.0)
    cpus, gpus = spec.resources["cpus"], spec.resources["gpus"]
    if cpus > best_cpu or gpus > best_gpu:
        raise SweepError(f"{spec.path}: resources: a trial asks for cpus={cpus:g}, gpus={gpus:g} but "
                         f"the largest node has cpus={best_cpu:g}, gpus={best_gpu:g}")
    memory = max((n.get("memory", 0.0) for n in nodes), default=0.0)
    try:
        check_model_size(spec, int(memory) or None)
    except SpecError as err:
        raise SweepError(str(err)) from None


def prepare(spec: SweepSpec, address: str | None,
            datasets: Callable[[SweepSpec], dict[str, hinr_data.ImageData]] | None = None
            ) -> dict[str, hinr_data.ImageData]:
    """Everything a sweep needs before it may write anything: its datasets (read before Ray
    starts, so a missing one is one line, not a failure inside Ray; by ``datasets``, default
    ``shared_datasets``), then Ray and a node that fits a trial."""
    data = (datasets or shared_datasets)(spec)
    init_ray(address, spec)
    return data


def shared_datasets(spec: SweepSpec) -> dict[str, hinr_data.ImageData]:
    """Load each dataset the sweep uses once on the driver; Tune puts it in the object store
    (tune.with_parameters) so trials on a node share one copy instead of each loading its own."""
    names = spec.axes.get("dataset", [spec.base_config.dataset])
    if isinstance(names, dict):
        names = list(names.values())[0]
    base = spec.base_config
    try:
        return {name: hinr_data.load(base.replace(dataset=name, train_subset=0, test_subset=0))
                for name in names}
    except (hinr_data.DatasetNotFound, OSError, FetchError) as err:
        # The home directory in full is nobody else's business (logs, screenshots, CI output).
        home = str(Path.home())
        message = str(err).replace(home + os.sep, "~" + os.sep) if home != os.sep else str(err)
        raise SweepError(f"{spec.path}: dataset: {message}") from None


def trainable(spec: SweepSpec, results_dir: Path, data: dict[str, Any], fn=train_hinr):
    objectives = dict(zip(spec.metric, spec.mode))
    fn = tune.with_parameters(fn, data=data, results_dir=str(results_dir.resolve()),
                              objectives=objectives,
                              checkpoint_every_s=spec.budget["checkpoint_every_s"])
    return tune.with_resources(fn, {"cpu": spec.resources["cpus"], "gpu": spec.resources["gpus"]})


def _reporter(spec: SweepSpec):
    params = [k for k in spec.axes] + ["seed"]
    return tune.CLIReporter(metric_columns=PROGRESS_METRICS, parameter_columns=params,
                            max_report_frequency=15, sort_by_metric=False)


def _console(run_config: tune.RunConfig, spec: SweepSpec, verbose: bool) -> None:
    """Quiet: our progress view only (Tune's verbose=0 prints no table and no trial lines).
    Verbose: Ray's table as well, and our view as plain lines (an in-place line would be torn
    by the table)."""
    results = next(c for c in run_config.callbacks if isinstance(c, ParquetResults))
    # A resumed sweep brings its pickled callbacks; its progress view starts afresh.
    run_config.callbacks = [c for c in run_config.callbacks if not isinstance(c, SweepProgress)]
    run_config.callbacks.append(SweepProgress(results, spec, live=False if verbose else None))
    run_config.progress_reporter = _reporter(spec) if verbose else None
    run_config.verbose = 1 if verbose else 0


def run_sweep(spec: SweepSpec, results_dir: Path, address: str | None = None,
              max_concurrent: int | None = None, verbose: bool = False,
              data: dict[str, hinr_data.ImageData] | None = None, trainable_fn=None,
              writer: ParquetResults | None = None,
              datasets: Callable[[SweepSpec], dict[str, hinr_data.ImageData]] | None = None,
              reuse_actors: bool = True,
              checkpoints_kept: int = CHECKPOINTS_KEPT) -> tune.ResultGrid:
    """Run ``spec``; ``data`` is what ``prepare`` returned (it runs here if not given, loading
    the datasets with ``datasets``, default ``shared_datasets``: benchmarks/sweep.py passes a
    timed one).  Ray's logs go to <results>/driver.log (and the console too if ``verbose``).
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
    global _ray_started_here
    try:
        with ray_console(results_dir, verbose, owns_ray=_ray_started_here) as console:
            if data is None:
                data = prepare(spec, address, datasets)
            console.after_init()
            grid = _run(spec, results_dir, max_concurrent, verbose, data,
                        trainable_fn or train_hinr, writer, reuse_actors, checkpoints_kept)
    finally:
        _ray_started_here = False  # ray_console shut down the Ray this process started
    return adaptive_stage(results_dir, address, max_concurrent, verbose) or grid


def adaptive_stage(results_dir: Path, address: str | None, max_concurrent: int | None,
                   verbose: bool) -> tune.ResultGrid | None:
    """Adaptive seeds' second stage (sweeps/adaptive.py), once the first has finished: the
    seeds each point needs, recorded in sweep.yaml as an extension and run (None: nothing to
    run: not adaptive, already recorded, the first stage unfinished, or no point needs more)."""
    if not (results_dir / schema.SPEC_FILE).is_file():
        return None  # benchmarks' sweeps write no sweep.yaml
    spec = read_spec(results_dir)
    doc = read_doc(results_dir)
    if spec.adaptive is None or extensions(doc):
        return None
    rows = trial_rows(results_dir)
    if sum(r["status"] in ("completed", "stopped", "diverged") for r in rows) < spec.num_trials():
        return None  # an interrupted first stage: resume finishes it, then comes here
    added, table = second_stage(spec, rows)
    rule = spec.adaptive
    entry = record(doc, sweep_part(doc), f"adaptive seeds, second stage: {len(added)} trial(s) "
                   f"for a 95% half-width of {rule['until']['halfwidth']:g} on "
                   f"{rule['until']['metric']}", added, sys.argv)
    entry["extensions"][-1]["adaptive"] = table
    write_doc(entry, results_dir)
    if not added:
        return None
    return run_stage(results_dir, address, max_concurrent, verbose)


def _run(spec: SweepSpec, results_dir: Path, max_concurrent: int | None, verbose: bool,
         data: dict[str, hinr_data.ImageData], trainable_fn,
         writer: ParquetResults | None, reuse_actors: bool = True,
         checkpoints_kept: int = CHECKPOINTS_KEPT, space: dict[str, Any] | None = None,
         experiment: str = schema.TUNE_DIR) -> tune.ResultGrid:
    """``space`` and ``experiment`` (Tune's param_space and its experiment directory under the
    results directory): an extension's (``run_stage``); by default the sweep's."""
    epochs = spec.base_config.epochs
    concurrent = max_concurrent if max_concurrent is not None else spec.budget["max_concurrent"]
    alg = search_alg(spec)
    tune_config = tune.TuneConfig(
        search_alg=alg, scheduler=scheduler(spec, epochs),
        num_samples=tune_num_samples(spec),
        max_concurrent_trials=concurrent or None,
        time_budget_s=spec.budget["time_limit_s"] or None, reuse_actors=reuse_actors)
    where = results_dir / experiment
    run_config = tune.RunConfig(
        name=where.name, storage_path=str(where.parent.resolve()),
        storage_filesystem=storage_filesystem(),  # whole files only (sweeps/storage.py)
        failure_config=tune.FailureConfig(max_failures=spec.budget["max_failures"]),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=checkpoints_kept),
        callbacks=[writer or ParquetResults(str(results_dir), spec.name, spec_doc=spec.raw)])
    if writer is not None and writer.contract is None:  # benchmarks/scale.py's own writer
        writer.contract = schema.contract_metadata(spec.raw)
    _console(run_config, spec, verbose)
    tuner = tune.Tuner(trainable(spec, results_dir, data, trainable_fn),
                       param_space=space or param_space(spec),
                       tune_config=tune_config, run_config=run_config)
    return tuner.fit()


def resume_sweep(results_dir: Path, address: str | None = None,
                 verbose: bool = False) -> tune.ResultGrid:
    """Continue the sweep's last Tune experiment: its first run's (``tune/``), or, once it has
    been extended, its last extension's (the earlier ones finished before it started)."""
    if extensions(read_doc(results_dir)):
        if extensions(read_doc(results_dir))[-1].get("trials", 1) == 0:
            return None  # adaptive seeds' second stage that needed no trial
        return run_stage(results_dir, address, None, verbose)
    spec = read_spec(results_dir)
    grid = _restore(results_dir, spec, schema.TUNE_DIR, address, verbose,
                    None if space_is_saved(spec) else param_space(spec))
    return adaptive_stage(results_dir, address, None, verbose) or grid


def stage_space(spec: SweepSpec, points: list[dict[str, Any]]) -> dict[str, Any]:
    """An extension's param_space: the base, and a grid over its list of points (axis values
    and seed each), as a design's points are (``sweeps.tune.search.points_space``)."""
    return {"preset": spec.preset, **spec.base, **points_space(points)}


def run_stage(results_dir: Path, address: str | None = None, max_concurrent: int | None = None,
              verbose: bool = False) -> tune.ResultGrid:
    """The last extension recorded in sweep.yaml (``sweeps.sweepdoc``): started, or resumed when
    its Tune experiment already exists (an interrupted extension)."""
    spec = read_spec(results_dir)
    stage = extensions(read_doc(results_dir))[-1]
    experiment = stage["tune_dir"]
    space = stage_space(spec, stage["points"])
    if (results_dir / experiment / "tuner.pkl").exists():
        return _restore(results_dir, spec, experiment, address, verbose, space)
    # Every trial on disk now belongs to an earlier run: kept as it is (ParquetResults.kept).
    kept = trial_ids(results_dir)
    writer = ParquetResults(str(results_dir), spec.name, spec_doc=spec.raw)
    writer.kept = kept
    global _ray_started_here
    try:
        with ray_console(results_dir, verbose, owns_ray=_ray_started_here) as console:
            data = prepare(spec, address)
            console.after_init()
            return _run(spec, results_dir, max_concurrent, verbose, data, train_hinr, writer,
                        space=space, experiment=experiment)
    finally:
        _ray_started_here = False


def _restore(results_dir: Path, spec: SweepSpec, experiment: str, address: str | None,
             verbose: bool, space: dict[str, Any] | None) -> tune.ResultGrid:
    # Tune restarts a sweep whose state it cannot read from scratch (and with the grid lost),
    # and the restart would drop every row as unknown to Tune: refuse before Ray starts.
    damage = damaged_state(results_dir / experiment)
    if damage:
        raise SweepError(f"{damage}: Tune's saved state is damaged and this sweep cannot be "
                         f"resumed; its results so far are intact (python launch.py report "
                         f"{results_dir}); to finish it, run the sweep file again with --results "
                         f"set to a new directory")
    older = state_from_older_version(results_dir / schema.TUNE_DIR)
    if older:
        raise SweepError(f"{older}, which this version cannot resume; its results so far are "
                         f"intact (python launch.py report {results_dir}); to finish it, run the "
                         f"sweep file again with --results set to a new directory, or resume it "
                         f"from a checkout older than {SEED_FIELD_COMMIT}")
    global _ray_started_here
    try:
        with ray_console(results_dir, verbose, owns_ray=_ray_started_here) as console:
            data = prepare(spec, address)
            console.after_init()
            # A design's space holds functions (sweeps.tune.search.points_space), which Tune
            # saves as placeholders only: the space itself is given again, rebuilt from
            # sweep.yaml (an extension's too: its points are in sweep.yaml).
            given = {"param_space": space} if space is not None else {}
            oldnames.accept()  # tuner.pkl of a sweep started before sweeps.tune existed
            # The file system is given again: Tune replaces the pickled one with this argument
            # (None would be plain local writes), and a sweep started before it gets it now.
            tuner = tune.Tuner.restore(str((results_dir / experiment).resolve()),
                                       trainable(spec, results_dir, data),
                                       resume_unfinished=True, resume_errored=True,
                                       storage_filesystem=storage_filesystem(), **given)
            # Tuner.restore has no run_config argument: the restored one (the callbacks and
            # verbosity the sweep started with) is only reachable on the internal tuner.
            # Private (Ray 2.60.0): Tuner._local_tuner has no public equivalent.
            run_config = tuner._local_tuner.get_run_config()
            # Tune restores the callbacks pickled when the sweep started, results directory
            # included: a directory copied or moved since would get its Parquet in the old place.
            for callback in run_config.callbacks or []:
                # The contract is set again too: a sweep started by a version that wrote none
                # gets it from this resume on.
                if isinstance(callback, ParquetResults):
                    callback.results_dir = str(results_dir)
                    callback.contract = schema.contract_metadata(spec.raw)
            _console(run_config, spec, verbose)
            return tuner.fit()
    finally:
        _ray_started_here = False
