#!/usr/bin/env python
"""hinr-sweeps command line: run, resume, inspect and report HyperINR sweeps.

Start here (the demo: a real ablation on the offline MNIST subset, about 14 minutes on 2 cores):

    python launch.py run sweeps/demo.yaml

Other commands:

    python launch.py run SWEEP.yaml [--address auto] [--results DIR] [--set key=value ...]
                                    [--max-concurrent N] [--dry-run] [--tiny] [--overwrite]
                                    [--verbose]
    python launch.py resume RESULTS_DIR [--address auto] [--verbose]
    python launch.py extend RESULTS_DIR [--seeds N] [--set axes.NAME=[...]]
                                        [--fraction complementary]
    python launch.py status RESULTS_DIR
    python launch.py report RESULTS_DIR [RESULTS_DIR ...] [-o OUT] [--format md|html|both]
    python launch.py export-optuna RESULTS_DIR [--storage URL|JOURNAL_FILE] [--study NAME]

Results go to results/<sweep name>/ (trials.parquet, epochs/, tb/, tune/, sweep.yaml).
TensorBoard: tensorboard --logdir results/<sweep name>/tb
While a sweep runs: one progress line (in place on a terminal; otherwise a line on trial
state changes, at most one a second, and every $HINR_PROGRESS_SECONDS, default 30); Ray's own log goes to
results/<sweep name>/driver.log unless --verbose.
One driver per results directory: run and resume refuse a directory a live driver holds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

EXIT_BAD_INPUT = 2  # refused before anything ran: bad sweep file, flags or results directory
EXIT_STOPPED = 1  # a sweep that started and had to stop (results disk full, ...)
MIN_FREE_BYTES = 64 << 20  # a sweep's Parquet, checkpoints and TensorBoard need at least this


VERBOSE_HELP = "Ray's status table and logs on the console too (default: in RESULTS/driver.log)"
MAX_ERROR_CHARS = 1000  # an error line quotes user input (paths, values): keep it readable


def _fail(message: str) -> int:
    message = " ".join(str(message).split("\n"))
    if len(message) > MAX_ERROR_CHARS:
        message = message[:MAX_ERROR_CHARS - 15] + "... (truncated)"
    print(f"error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


class _Parser(argparse.ArgumentParser):
    """A bad flag is one line too (argparse's default prints the whole usage first)."""

    def error(self, message: str):
        _fail(f"{self.prog}: {message}; see: python {self.prog} --help")
        sys.exit(EXIT_BAD_INPUT)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="launch.py", description=__doc__.split("\n\n")[0],
        epilog="demo first:  python launch.py run sweeps/demo.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")

    run = sub.add_parser("run", help="run a sweep file (embedded Ray unless --address)")
    run.add_argument("sweep", help="a sweep YAML file, e.g. sweeps/demo.yaml")
    run.add_argument("--address", help="join a Ray cluster: 'auto' or host:port (default: embedded)")
    run.add_argument("--results", help="results directory (default: results/<sweep name>)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a config field (epochs=2) or spec path (budget.max_concurrent=2)")
    run.add_argument("--max-concurrent", type=int, help="trials at once (default: the sweep's budget)")
    run.add_argument("--dry-run", action="store_true", help="print the trials (search: design: its matrix and alias "
                          "structure) and their cost, and exit; writes nothing")
    run.add_argument("--gpu-tflops", type=float, default=None,
                     help="with --dry-run: sustained TFLOP/s per GPU for the GPU-hours estimate")
    run.add_argument("--pilot", metavar="RESULTS_DIR",
                     help="with --dry-run: from an earlier sweep's results, the seeds per point "
                          "a target interval half-width needs, the smallest effect detectable "
                          "at 80%% power and the checkpoint disk (sweeps/power.py)")
    run.add_argument("--halfwidth", type=float, default=None,
                     help="with --pilot: the target 95%% half-width (default: the sweep's "
                          "adaptive seeds' target, else half the width its seeds give)")
    run.add_argument("--tiny", action="store_true",
                     help="tiny mode: tiny preset, 1 epoch, first seed, up to 3 values of the "
                          "first axis and 1 of the others; a design keeps both levels of its "
                          "factors and runs its resolution-III fraction (seconds)")
    run.add_argument("--overwrite", action="store_true",
                     help="replace the results of this sweep (a directory whose sweep.yaml has "
                          "this name); never anything else")
    run.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)

    resume = sub.add_parser("resume", help="continue an interrupted sweep")
    resume.add_argument("results_dir")
    resume.add_argument("--address")
    resume.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)

    extend = sub.add_parser("extend", help="add seeds, axis levels or the complementary "
                            "fraction to a sweep, pooled with its trials (sweeps/extend.py)")
    extend.add_argument("results_dir")
    extend.add_argument("--seeds", type=int, metavar="N",
                        help="every point ends with N seeds (the next unused seed numbers)")
    extend.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="axes.NAME=[...]",
                        help="a grid axis's levels: the old ones first, then the new")
    extend.add_argument("--fraction", choices=("complementary",),
                        help="a fractional design's other fraction (a half becomes the full 2^k)")
    extend.add_argument("--max-concurrent", type=int, help="trials at once (default: the sweep's budget)")
    extend.add_argument("--address")
    extend.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    status = sub.add_parser("status", help="trials by status, best so far, what remains")
    status.add_argument("results_dir")

    report = sub.add_parser("report", help="tables, figures and an HTML/Markdown report")
    report.add_argument("results_dirs", nargs="+")
    report.add_argument("-o", "--out")
    report.add_argument("--format", choices=("md", "html", "both"), default="both")

    export = sub.add_parser("export-optuna", help="write a sweep's trials into an Optuna "
                            "storage, for optuna-dashboard")
    export.add_argument("results_dir")
    export.add_argument("--storage", help="sqlite:///file.db (any RDB URL) or a journal file "
                        "path (default: sqlite:///RESULTS_DIR/report/optuna.db)")
    export.add_argument("--study", help="study name (default: the sweep's name)")
    export.add_argument("--replace", action="store_true",
                        help="rewrite a study of that name already in the storage")
    return parser


def cmd_run(args) -> int:
    import math

    from sweeps.spec import SpecError, check_model_size, load_spec, tiny_mode

    if args.gpu_tflops is not None and not (math.isfinite(args.gpu_tflops) and args.gpu_tflops > 0):
        return _fail(f"--gpu-tflops: allowed finite numbers > 0 (got {args.gpu_tflops})")
    if args.max_concurrent is not None and args.max_concurrent < 0:
        return _fail("--max-concurrent: allowed integers >= 0")
    try:
        spec = load_spec(args.sweep, args.overrides)
        if args.tiny:
            spec = tiny_mode(spec)
        # A cluster's nodes are checked once Ray is up; here, this machine's memory.
        check_model_size(spec, None if args.address else _memory_bytes())
    except SpecError as err:
        return _fail(str(err))
    results_dir = Path(args.results or Path("results") / spec.name)
    refusal = unsafe_results_dir(results_dir)
    if refusal:
        return _fail(refusal)
    if (args.pilot or args.halfwidth is not None) and not args.dry_run:
        return _fail("--pilot, --halfwidth: allowed only with --dry-run")
    if args.dry_run:
        if args.pilot or args.halfwidth is not None:
            from sweeps.power import PilotError, cli as pilot_cli
            try:
                pilot = pilot_cli(spec, args.pilot, args.halfwidth)
            except (PilotError, SpecError) as err:
                return _fail(str(err))
        print_dry_run(spec, results_dir, args.gpu_tflops)
        if args.pilot:
            print(pilot)
        return 0
    from sweeps.lock import SweepInUse, driver_lock
    from sweeps.run import SweepError, prepare, run_sweep, write_spec

    try:
        writable_check(results_dir)
    except SweepError as err:
        return _fail(str(err))
    refusal = check_results_dir(spec, results_dir, args.overwrite, locked=False)
    if refusal:
        return _fail(refusal)
    command = ["launch.py"] + sys.argv[1:]
    try:
        # The lock first: a live driver is the answer to give before "already holds this
        # sweep; resume it", and --overwrite must not delete a directory in use.
        with driver_lock(results_dir, command):
            refusal = check_results_dir(spec, results_dir, args.overwrite)
            if refusal:
                return _fail(refusal)
            # Data, Ray and resources before the first write: a sweep refused here leaves
            # the results directory as it found it.
            data = prepare(spec, args.address)
            if args.overwrite and results_dir.exists():
                import shutil
                shutil.rmtree(results_dir)
            write_spec(spec, results_dir, command)
            started = time.monotonic()
            run_sweep(spec, results_dir, args.address, args.max_concurrent, args.verbose,
                      data=data)
    except (SweepError, SweepInUse) as err:
        return _fail(str(err))
    except Exception as err:  # noqa: BLE001 - one clear line for a stop, the trace in the log
        return _stopped(err)
    summary(results_dir, time.monotonic() - started)
    return 0


def _stopped(err: Exception) -> int:
    """A sweep that had to stop: find our own error inside Tune's wrapping, say it in one line."""
    from sweeps.results import ResultsWriteError

    seen = err
    while seen is not None and not isinstance(seen, ResultsWriteError):
        seen = seen.__cause__ or seen.__context__
    message = str(seen) if seen is not None else f"{type(err).__name__}: {err}"
    print(f"error: sweep stopped: {message}", file=sys.stderr)
    return EXIT_STOPPED


def writable_check(results_dir: Path) -> None:
    """Refuse a results directory that cannot be written, or whose disk is nearly full,
    before Ray starts (root ignores permission bits, so probe with a real write)."""
    import shutil
    import tempfile
    from sweeps.run import SweepError

    probe = results_dir
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise SweepError(f"{results_dir}: cannot create results directory ({probe} is not a directory)")
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as err:
        raise SweepError(f"{probe}: results directory is not writable ({err.strerror})") from None
    free = shutil.disk_usage(probe).free
    if free < MIN_FREE_BYTES:
        raise SweepError(f"{probe}: only {free >> 20} MiB free; a sweep needs at least "
                         f"{MIN_FREE_BYTES >> 20} MiB for results and checkpoints")


def _memory_bytes() -> int | None:
    import os
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system that says
        return None


def unsafe_results_dir(results_dir: Path) -> str | None:
    """A results directory is a directory of its own: never a symlink (deleting or writing
    through it reaches elsewhere), the working directory, or one of its ancestors."""
    import os

    from sweeps.resultsdir import ResultsDirError, check_path

    try:
        check_path(results_dir)  # Parquet, the report and the console need a text path
    except ResultsDirError as err:
        return str(err)
    if results_dir.is_symlink():
        return f"{results_dir}: is a symbolic link; give the real directory with --results"
    if results_dir.parts and results_dir.parts[0].startswith("~"):
        # A quoted ~ reaches us unexpanded: Python would create "./~", pyarrow reads $HOME.
        return f"{results_dir}: starts with ~, which the shell did not expand; write the path out"
    here = Path.cwd().resolve()
    target = results_dir.resolve()
    if target == here or target in here.parents:
        return (f"{results_dir}: is the working directory or one above it; results need a "
                "directory of their own (--results DIR)")
    if target == Path(os.path.expanduser("~")).resolve():
        return f"{results_dir}: is the home directory; results need a directory of their own"
    return None


def check_results_dir(spec, results_dir: Path, overwrite: bool, locked: bool = True) -> str | None:
    """Refuse to mix two sweeps in one directory, and to overwrite without being told.
    --overwrite deletes only a results directory of this product holding this sweep's name.
    Unless ``locked``, only what --overwrite may not delete and what is not a sweep's results
    are refused (before the lock: they leave not even a lock file); "holds this sweep" or "a
    different one" wait for the lock, since a live driver is the better answer then."""
    from sweeps import schema
    from sweeps.spec import safe_load, show

    existing = results_dir / schema.SPEC_FILE
    if results_dir.exists() and not results_dir.is_dir():
        return f"{results_dir}: is not a directory; choose --results elsewhere"
    if not results_dir.exists() or not any(results_dir.iterdir()):
        return None
    if not existing.is_file() or existing.is_symlink():
        return (f"{results_dir}: exists and is not a sweep results directory (no "
                f"{schema.SPEC_FILE}); choose --results elsewhere (--overwrite deletes only a "
                "sweep's own results)")
    try:
        doc = safe_load(existing.read_text())
    except Exception:  # noqa: BLE001 - any damage reads the same: not ours to delete
        doc = None
    if not isinstance(doc, dict):
        return (f"{existing}: damaged sweep file; choose --results elsewhere, or remove "
                f"{results_dir} yourself if it is a sweep you no longer need")
    doc.pop("provenance", None)
    if overwrite:
        if doc.get("name") != spec.name:
            return (f"{results_dir}: holds sweep {show(doc.get('name'))}, not {spec.name}; "
                    "--overwrite replaces only the same sweep: choose --results elsewhere")
        # What a sweep writes there (and atomic writes' hidden temp files); anything else is
        # the user's, and not ours to delete.
        foreign = sorted(p.name for p in results_dir.iterdir() if p.name not in schema.SWEEP_ENTRIES
                         and not (p.name.startswith(".") and p.name.endswith(".tmp")))
        if foreign:
            return (f"{results_dir}: holds {show(foreign[0])}, which a sweep does not write; "
                    "--overwrite deletes only a sweep's own results: move it, or choose "
                    "--results elsewhere")
        # Only regular files and directories, no deeper than a sweep writes: a link or a
        # strange tree inside is refused, never followed or walked by the delete.
        from sweeps.resultsdir import ResultsDirError, check_entries
        try:  # every entry: the sweep's, and the hidden temp files of its atomic writes
            check_entries(results_dir, tuple(p.name for p in results_dir.iterdir()))
        except ResultsDirError as err:
            return str(err)
        return None
    if not locked:
        return None
    started = (results_dir / schema.TUNE_DIR).is_dir() or (results_dir / schema.TRIALS_FILE).exists()
    if doc != spec.raw:
        hint = ("pass --overwrite, --results NEW_DIR, or a new name" if doc.get("name") == spec.name
                else "pass --results NEW_DIR or give the sweep a new name")
        return f"{results_dir}: already holds a different sweep ({existing}); {hint}"
    if not started:  # written, then refused before Tune began (no tune/): run it again
        return None
    return (f"{results_dir}: already holds this sweep; continue it with: python launch.py resume "
            f"{results_dir} (or pass --overwrite to start again)")


def print_dry_run(spec, results_dir: Path, gpu_tflops: float | None = None) -> None:
    from sweeps.search import GRID_SEARCHES

    rows = spec.trial_configs()
    keys = list(rows[0]) if rows else []
    print(f"sweep {spec.name}: {spec.num_trials()} trials ({spec.search} search, "
          f"{spec.scheduler['type']} scheduler), preset {spec.preset}, "
          f"{spec.base_config.epochs} epochs each, resources {spec.resources}")
    if spec.search not in GRID_SEARCHES:
        print(f"  {spec.num_samples} points drawn by {spec.search}, each run with seeds {spec.seeds}")
    if spec.search == "design":  # the design matrix and its aliases, not one row per trial
        from sweeps.design import build, describe as describe_design
        print(describe_design(build(spec.design, spec.axes), spec.seeds, spec.num_samples))
    else:
        widths = [max(len(k), *(len(str(r[k])) for r in rows)) for k in keys]
        print("  " + "  ".join(k.ljust(w) for k, w in zip(keys, widths)))
        for r in rows:
            print("  " + "  ".join(str(r[k]).ljust(w) for k, w in zip(keys, widths)))
    print(f"results would go to {results_dir}")
    from sweeps.estimate import DEFAULT_GPU_TFLOPS, describe, measured_gflops, trial_cost

    # Price one trial per distinct model shape; other axes change the cost negligibly.
    shape_keys = ("latent_dim", "inr_depth", "inr_width", "hyper_hidden", "hyper_layers",
                  "encoder_channels", "encoder_blocks", "encoder_kernel", "dataset", "variant",
                  "epochs", "train_subset")
    cache, costs = {}, []
    for row in rows:
        fields = {k: v for k, v in row.items() if k in shape_keys and not isinstance(v, str)
                  or k in ("dataset", "variant")}
        cfg = spec.base_config.replace(**fields)
        key = tuple(getattr(cfg, k) for k in shape_keys)
        if key not in cache:
            cache[key] = trial_cost(cfg)
        costs.append(cache[key])
    # The rows are one pass (grid: every trial; random/optuna: seeds x grid axes of one draw),
    # so price num_trials() trials by cycling through them, whichever is longer.
    costs = [costs[i % len(costs)] for i in range(spec.num_trials())]
    print(describe(costs, measured_gflops(spec.base_config), spec.resources["gpus"],
                   gpu_tflops or DEFAULT_GPU_TFLOPS))


def _remaining(spec, trials: list[dict]) -> int:
    """Trials a resume would still run: not started, running, interrupted or failed.  Stopped
    (by ASHA) and diverged trials are outcomes, not interruptions: resume never reruns them."""
    return spec.num_trials() - sum(t["status"] in ("completed", "stopped", "diverged") for t in trials)


def _best_text(spec, trials: list[dict]) -> str | None:
    """``best val_psnr 11.73 dB in ID (a2=100, seed=0); test_psnr 11.9 dB, ...``: chosen on the
    sweep's (first) metric, with only the metrics that are defined for that trial."""
    from sweeps.progress import best_row, defined_metrics, metric_text, trial_label
    from sweeps.schema import metric_column

    metric, mode = spec.metric[0], spec.mode[0]
    best = best_row(trials, metric, mode)
    if best is None:
        return None
    others = [m for m in defined_metrics(best, spec.metric) if m != metric]
    text = (f"best {metric_text(metric, best[metric_column(metric)])} ({mode}) in "
            f"{trial_label(best, list(spec.axes))}")
    if others:
        text += "; " + ", ".join(metric_text(m, best[metric_column(m)]) for m in others)
    if len(spec.metric) > 1:
        text += f" (first of {len(spec.metric)} objectives; the Pareto front is in the report)"
    return text


def summary(results_dir: Path, wall_s: float | None = None) -> None:
    """The closing lines of a run or resume: counts by status, time, the best trial, what next."""
    from sweeps import schema
    from sweeps.progress import SHOWN, counts, duration
    from sweeps.run import read_spec

    spec = read_spec(results_dir)
    trials = read_trials(results_dir)
    if not trials:
        print(f"no trial finished; see {results_dir / schema.DRIVER_LOG}")
        return
    n = counts(trials, spec.num_trials())
    timing = f"{duration(sum(t['wall_seconds'] or 0.0 for t in trials))} of training in trials"
    if wall_s is not None:
        timing = f"{duration(wall_s)} wall time, {timing}"
    print(f"\n{spec.num_trials()} trials: " + ", ".join(
        f"{n[status]} {shown}" for status, shown in SHOWN if n[status]) + f"; {timing}")
    best = _best_text(spec, trials)
    if best:
        print(best)
    if n["errored"] or n["diverged"]:
        print(f"failures:    python launch.py status {results_dir}")
    print(f"results:     {results_dir}/trials.parquet, {results_dir}/epochs/ "
          f"(Ray's log: {results_dir / schema.DRIVER_LOG})")
    print(f"tensorboard: tensorboard --logdir {results_dir}/tb")
    print(f"report:      python launch.py report {results_dir}")
    remaining = _remaining(spec, trials)
    if remaining:
        print(f"resume:      python launch.py resume {results_dir}   ({remaining} trial(s) remain)")


def cmd_resume(args) -> int:
    results_dir = Path(args.results_dir)
    refusal = _check_results(results_dir, epochs=True)  # before Ray starts, not inside it
    if refusal:
        return _fail(refusal)
    from sweeps.lock import SweepInUse, driver_lock
    from sweeps.run import SweepError, read_spec, resume_sweep

    try:
        read_spec(results_dir)  # not a results directory: say so before taking any lock
        with driver_lock(results_dir, ["launch.py"] + sys.argv[1:]):
            started = time.monotonic()
            resume_sweep(results_dir, args.address, args.verbose)
    except (SweepError, SweepInUse) as err:
        return _fail(str(err))
    except Exception as err:  # noqa: BLE001
        return _stopped(err)
    summary(results_dir, time.monotonic() - started)
    return 0


STATUS_LIST_MAX = 40  # more trials than this: list only those not completed


def read_trials(results_dir: Path) -> list[dict]:
    """trials.parquet's rows ([] before any trial started), read by the one reader of a results
    directory (sweeps/resultsdir.py), which checks the whole directory first: damage is a
    SweepError naming the file."""
    from sweeps.resultsdir import ResultsDirError, check
    from sweeps.run import SweepError

    try:
        return check(results_dir).rows()
    except ResultsDirError as err:
        raise SweepError(str(err)) from None


def _check_results(results_dir: Path, epochs: bool = False) -> str | None:
    """Why ``results_dir`` breaks the results contract (sweeps/resultsdir.py), or None.  Run
    first: it imports no Ray, so a damaged directory is answered at once."""
    from sweeps.resultsdir import ResultsDirError, check

    if not results_dir.is_dir():
        return None  # not a results directory at all: read_spec says so, and what to run
    try:
        check(results_dir, epochs=epochs)
    except ResultsDirError as err:
        return str(err)
    return None


def cmd_extend(args) -> int:
    from sweeps.extend import cli
    return cli(args, ["launch.py"] + sys.argv[1:], summary, _fail, _stopped)


def cmd_status(args) -> int:
    results_dir = Path(args.results_dir)
    refusal = _check_results(results_dir)
    if refusal:
        return _fail(refusal)
    from sweeps.lock import describe_holder, running_driver
    from sweeps.progress import (axis_values, duration, epoch_seconds, eta_seconds, metric_text,
                                 planned_epochs, trial_label)
    from sweeps.run import SweepError, read_spec

    try:
        spec = read_spec(results_dir, legacy_ok=True)
    except SweepError as err:
        return _fail(str(err))
    from sweeps import schema

    try:
        trials = read_trials(results_dir)
    except SweepError as err:
        return _fail(str(err))
    counts = {s: sum(t["status"] == s for t in trials) for s in schema.STATUSES}
    print(f"sweep {spec.name} in {results_dir}: {len(trials)} of {spec.num_trials()} trials started")
    print("  " + ", ".join(f"{s} {n}" for s, n in counts.items() if n))
    best = _best_text(spec, trials)
    if best:
        print(f"  {best}")
    axes, metric, epochs = list(spec.axes), spec.metric[0], spec.base_config.epochs
    listed = [t for t in trials if len(trials) <= STATUS_LIST_MAX or t["status"] != "completed"]
    if listed:
        print("  trials:")
    for t in listed:
        value = t.get(schema.metric_column(metric))
        score = f"  {metric_text(metric, value)}" if value is not None else ""
        print(f"    {t['trial_id']}  {t['status']:<9}  epoch {t['epochs_done'] or 0}/"
              f"{planned_epochs(t, epochs)}  {axis_values(t, axes)}{score}")
    if len(listed) < len(trials):
        print(f"    ({len(trials) - len(listed)} completed trials not listed; all are in "
              f"{results_dir / schema.TRIALS_FILE})")
    failures = [t for t in trials if t["status"] in ("errored", "diverged")]
    if failures:
        print("  failures:")
    for t in failures:
        retries = f" after {t['retries']} retries" if t.get("retries") else ""
        print(f"    {trial_label(t, axes)} {t['status']}{retries}: {t.get('error') or '?'}")
    remaining = _remaining(spec, trials)
    driver = running_driver(results_dir)
    if driver is not None:
        print(f"  driver: running now ({describe_holder(driver)})")
        running = max(1, counts["running"])
        eta = eta_seconds(trials, spec.num_trials(), epochs, running)
        per_epoch = epoch_seconds(trials)
        if eta is not None and per_epoch is not None:
            print(f"  ETA {duration(eta)} (measured {per_epoch:.1f} s per epoch, {running} "
                  f"trial(s) at once)")
        print(f"  remaining: {remaining} trial(s), in the hands of that driver")
    else:
        print(f"  remaining: {remaining} trial(s)"
              + (f"; continue with: python launch.py resume {results_dir}" if remaining else ""))
    return 0


def cmd_report(args) -> int:
    for d in args.results_dirs:
        if not Path(d).is_dir():
            return _fail(f"{d}: no such results directory")
    from analysis import main as analysis_main

    argv = list(args.results_dirs) + ["--format", args.format] + (["-o", args.out] if args.out else [])
    return analysis_main(argv)


def cmd_export_optuna(args) -> int:
    from analysis.optuna_export import main as export_main  # the work lives in analysis

    return export_main(args.results_dir, args.storage, args.study, args.replace)


def main(argv: list[str] | None = None) -> int:
    # First, before any command imports Ray: Ray reads its settings (token authentication)
    # once, at import (sweeps/rayenv.py).
    from sweeps import rayenv
    rayenv.configure()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command in ("run", "resume", "extend"):
        from sweeps.progress import progress_seconds
        try:
            progress_seconds()
        except ValueError as err:
            return _fail(str(err))
    return {"run": cmd_run, "resume": cmd_resume, "extend": cmd_extend, "status": cmd_status,
            "report": cmd_report, "export-optuna": cmd_export_optuna}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
