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
    from sweeps import guard

    results_dir = Path(args.results or Path("results") / spec.name)
    refusal = guard.unsafe_results_dir(results_dir)
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
        from sweeps.dryrun import print_dry_run
        print_dry_run(spec, results_dir, args.gpu_tflops)
        if args.pilot:
            print(pilot)
        return 0
    from sweeps.lock import SweepInUse, driver_lock
    from sweeps.sweepdoc import SweepError, write_spec
    from sweeps.tune.run import prepare, run_sweep

    refusal = (guard.unwritable(results_dir)
               or guard.check_results_dir(spec, results_dir, args.overwrite, locked=False))
    if refusal:
        return _fail(refusal)
    command = ["launch.py"] + sys.argv[1:]
    try:
        # The lock first: a live driver is the answer to give before "already holds this
        # sweep; resume it", and --overwrite must not delete a directory in use.
        with driver_lock(results_dir, command):
            refusal = guard.check_results_dir(spec, results_dir, args.overwrite)
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
    from sweeps.console import summary
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


def _memory_bytes() -> int | None:
    import os
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system that says
        return None


def cmd_resume(args) -> int:
    results_dir = Path(args.results_dir)
    from sweeps.guard import damaged

    refusal = damaged(results_dir, epochs=True)  # before Ray starts, not inside it
    if refusal:
        return _fail(refusal)
    from sweeps.lock import SweepInUse, driver_lock
    from sweeps.sweepdoc import SweepError, read_spec
    from sweeps.tune.run import resume_sweep

    try:
        read_spec(results_dir)  # not a results directory: say so before taking any lock
        with driver_lock(results_dir, ["launch.py"] + sys.argv[1:]):
            started = time.monotonic()
            resume_sweep(results_dir, args.address, args.verbose)
    except (SweepError, SweepInUse) as err:
        return _fail(str(err))
    except Exception as err:  # noqa: BLE001
        return _stopped(err)
    from sweeps.console import summary
    summary(results_dir, time.monotonic() - started)
    return 0


def cmd_extend(args) -> int:
    from sweeps.extend import cli
    from sweeps.console import summary
    from sweeps.tune.run import resume_sweep, run_stage
    return cli(args, ["launch.py"] + sys.argv[1:], summary, _fail, _stopped, resume_sweep,
               run_stage)


def cmd_status(args) -> int:
    from sweeps.console import print_status
    from sweeps.guard import damaged
    from sweeps.sweepdoc import SweepError

    results_dir = Path(args.results_dir)
    try:
        refusal = damaged(results_dir)
        if refusal:
            return _fail(refusal)
        print_status(results_dir)
    except SweepError as err:
        return _fail(str(err))
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
        from sweeps.console import progress_seconds
        try:
            progress_seconds()
        except ValueError as err:
            return _fail(str(err))
    return {"run": cmd_run, "resume": cmd_resume, "extend": cmd_extend, "status": cmd_status,
            "report": cmd_report, "export-optuna": cmd_export_optuna}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
