#!/usr/bin/env python
"""hinr-sweeps command line: run, resume, inspect and report HyperINR sweeps.

Start here (the demo: a real ablation on the offline MNIST subset, about 14 minutes on 2 cores):

    python launch.py run sweeps/demo.yaml

Other commands:

    python launch.py run SWEEP.yaml [--address auto] [--results DIR] [--set key=value ...]
                                    [--max-concurrent N] [--dry-run] [--tiny] [--overwrite]
                                    [--time-budget DURATION] [--verbose] [--dashboard]
    python launch.py resume RESULTS_DIR [--address auto] [--time-budget 2h30m] [--verbose]
    python launch.py extend RESULTS_DIR [--seeds N] [--set axes.NAME=[...]]
                                        [--fraction complementary] [--repeat N]
                                        [--time-budget DURATION]
    python launch.py status RESULTS_DIR
    python launch.py records RESULTS_DIR DEST
    python launch.py report RESULTS_DIR [RESULTS_DIR ...] [-o OUT] [--format md|html|both]
    python launch.py export-optuna RESULTS_DIR [--storage URL|JOURNAL_FILE] [--study NAME]

Results go to results/<sweep name>/ (trials.parquet, epochs/, tb/, tune/, sweep.yaml).
TensorBoard: tensorboard --logdir results/<sweep name>/tb
While a sweep runs: one progress line (in place on a terminal; otherwise a line on trial
state changes, at most one a second, and every $HINR_PROGRESS_SECONDS, default 30); Ray's own log goes to
results/<sweep name>/driver.log unless --verbose.
One driver per results directory: run and resume refuse a directory a live driver holds.
Live: the sweep's Optuna study grows in results/<sweep name>/report/live.journal as points
finish; --dashboard serves it with optuna-dashboard on 127.0.0.1 until the sweep ends.
--time-budget 90m: start no trial that cannot end in time, then exit 3 (EXIT_BUDGET);
resume continues it, from Tune's state or from the records alone (sweep.yaml, trials.parquet,
epochs/: what `records` copies).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_BAD_INPUT = 2  # refused before anything ran: bad sweep file, flags or results directory


VERBOSE_HELP = "Ray's status table and logs on the console too (default: in RESULTS/driver.log)"
BUDGET_HELP = ("end this run by the clock (90m, 2h30m, 45s): no trial starts that its measured "
               "time says cannot end before it; exit 3; resume continues")
DASHBOARD_HELP = ("also start optuna-dashboard (a dev extra) on 127.0.0.1 on the sweep's live "
                  "study (RESULTS/report/live.journal), stopped with the sweep")
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
    _add_run(sub)
    _add_resume_and_extend(sub)
    _add_views(sub)
    return parser


def _add_run(sub) -> None:

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
                     help="with --dry-run: from an earlier sweep's results, each metric's "
                          "spread between seeds with its upper bound, the seeds per point a "
                          "target interval half-width needs, the smallest effect detectable "
                          "at 80%% power for 2-12 seeds, after the report's correction and "
                          "alone, and the checkpoint disk (sweeps/power.py)")
    run.add_argument("--halfwidth", type=float, default=None,
                     help="with --pilot: the target 95%% half-width (default: the sweep's "
                          "adaptive seeds' target, else half the width its seeds give)")
    run.add_argument("--tiny", action="store_true",
                     help="tiny mode: tiny preset, 1 epoch, first seed, up to 3 values of the "
                          "first axis and 1 of the others, 3 searched points; a design keeps "
                          "both levels of its factors and runs its resolution-III fraction "
                          "(seconds)")
    run.add_argument("--overwrite", action="store_true",
                     help="replace the results of this sweep (a directory whose sweep.yaml has "
                          "this name); never anything else")
    run.add_argument("--time-budget", metavar="DURATION", help=BUDGET_HELP)
    run.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    run.add_argument("--dashboard", action="store_true", help=DASHBOARD_HELP)


def _add_resume_and_extend(sub) -> None:
    resume = sub.add_parser("resume", help="continue an interrupted sweep: from Tune's state, "
                            "or from the records alone (the missing trials, as a new stage)")
    resume.add_argument("results_dir")
    resume.add_argument("--address")
    resume.add_argument("--time-budget", metavar="DURATION", help=BUDGET_HELP)
    resume.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    resume.add_argument("--dashboard", action="store_true", help=DASHBOARD_HELP)

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
    extend.add_argument("--repeat", type=int, metavar="N",
                        help="also run N of the sweep's points again with every seed, chosen "
                             "balanced: the shift between the two runs, measured (the block)")
    extend.add_argument("--max-concurrent", type=int, help="trials at once (default: the sweep's budget)")
    extend.add_argument("--address")
    extend.add_argument("--time-budget", metavar="DURATION", help=BUDGET_HELP)
    extend.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    extend.add_argument("--dashboard", action="store_true", help=DASHBOARD_HELP)


def _add_views(sub) -> None:
    status = sub.add_parser("status", help="trials by status, best so far, what remains")
    status.add_argument("results_dir")

    records = sub.add_parser("records", help="copy a sweep's records (sweep.yaml, trials.parquet, "
                             "epochs/, predictions/, images/; no Tune state or checkpoints) "
                             "into DEST, which report, status, resume and extend accept")
    records.add_argument("results_dir")
    records.add_argument("dest")

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


# Each command imports only what it uses, inside its function: `status` starts in 0.43 s (720
# modules); at 6c52500, when every command pulled Ray and torch, it took 2.6 s (2,554 modules).
def cmd_run(args) -> int:
    from sweeps import commands
    return _drive(commands.run, args)


def cmd_resume(args) -> int:
    from sweeps import commands
    return _drive(commands.resume, args)


def cmd_extend(args) -> int:
    from sweeps import commands
    return _drive(commands.extend, args)


def _drive(command, args) -> int:
    """Hold the sweep (``command``: the core's checks and lock) and run each stage it plans on
    the Tune adapter, imported (with Ray) only once the checks passed: the Ray-free core never
    imports it (tests/test_layers.py)."""
    from sweeps import commands
    from analysis import live
    if getattr(args, "dashboard", False) and live.dashboard_command() is None:
        return _fail("--dashboard: optuna-dashboard is not installed in this environment; "
                     "pip install -e '.[dev]', or run without --dashboard")
    try:
        with command(args, _command()) as drive:
            if drive is None:
                return 0  # a dry run, printed
            from sweeps.tune import run as adapter
            # Data, Ray and resources before the first write: a sweep refused here leaves
            # the results directory as it found it.
            prepared = adapter.prepare(drive.spec, args.address)
            watch = live.watch(drive.results_dir, getattr(args, "dashboard", False))
            try:
                for stage in drive.stages():
                    adapter.run_stage(stage, drive.results_dir, args.address,
                                      drive.max_concurrent, args.verbose, prepared=prepared)
                    prepared = None  # Ray stopped with the stage; the next one starts its own
            finally:
                watch.stop()
            return drive.finish()
    except commands.REFUSED as err:
        return _fail(str(err))
    except Exception as err:  # noqa: BLE001 - one clear line for a stop, the trace in the log
        return commands.stopped(err)


def cmd_status_or_records(args) -> int:
    """``status`` and ``records``: Ray-free and torch-free, so they answer at once."""
    from sweeps import commands
    try:
        return {"status": commands.status, "records": commands.records}[args.command](args)
    except commands.REFUSED as err:
        return _fail(str(err))


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


def _command() -> list[str]:
    """The command as typed, recorded in sweep.yaml's provenance and the driver lock."""
    return ["launch.py"] + sys.argv[1:]


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
    return {"run": cmd_run, "resume": cmd_resume, "extend": cmd_extend,
            "status": cmd_status_or_records, "records": cmd_status_or_records,
            "report": cmd_report, "export-optuna": cmd_export_optuna}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
