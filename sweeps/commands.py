"""What ``launch.py run``, ``resume``, ``extend`` and ``status`` do once their arguments are parsed.

launch.py is the front door: it parses flags and dispatches here.  Each command checks what it
is given before anything heavy loads (the sweep file, the results directory, the lock; no Ray,
no torch), then runs.  Refusals go through ``fail`` (one line, exit 2, nothing written); a sweep
that started and had to stop goes through ``stopped`` (exit 1).  Ray is imported only by the
Tune adapter (``sweeps.tune.run``), which this Ray-free core never imports: launch.py passes
``tune``, a function that imports and returns it once a command has passed its checks, so
refusals and ``status`` never wait for Ray.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Callable

from . import guard
from .console import print_status, summary
from .dryrun import print_dry_run
from .extend import cli as extend_cli
from .power import PilotError, cli as pilot_cli
from .results import ResultsWriteError
from .spec import SpecError, check_model_size, load_spec, tiny_mode
from .sweepdoc import SweepError, read_spec, write_spec

EXIT_STOPPED = 1  # a sweep that started and had to stop (results disk full, ...)

Fail = Callable[[str], int]
Tune = Callable[[], ModuleType]  # returns sweeps.tune.run


def run(args, command: list[str], fail: Fail, tune: Tune) -> int:
    """``launch.py run``: validate the sweep file and the results directory, then run it (or
    print the dry run)."""
    refusal = _bad_run_flags(args)
    if refusal:
        return fail(refusal)
    try:
        spec = load_spec(args.sweep, args.overrides)
        if args.tiny:
            spec = tiny_mode(spec)
        # A cluster's nodes are checked once Ray is up; here, this machine's memory.
        check_model_size(spec, None if args.address else _memory_bytes())
    except SpecError as err:
        return fail(str(err))
    results_dir = Path(args.results or Path("results") / spec.name)
    refusal = guard.unsafe_results_dir(results_dir)
    if refusal:
        return fail(refusal)
    if (args.pilot or args.halfwidth is not None) and not args.dry_run:
        return fail("--pilot, --halfwidth: allowed only with --dry-run")
    if args.dry_run:
        return _dry_run(spec, results_dir, args, fail)
    refusal = (guard.unwritable(results_dir)
               or guard.check_results_dir(spec, results_dir, args.overwrite, locked=False))
    if refusal:
        return fail(refusal)
    return _run_locked(spec, results_dir, args, command, fail, tune())


def _bad_run_flags(args) -> str | None:
    if args.gpu_tflops is not None and not (math.isfinite(args.gpu_tflops) and args.gpu_tflops > 0):
        return f"--gpu-tflops: allowed finite numbers > 0 (got {args.gpu_tflops})"
    if args.max_concurrent is not None and args.max_concurrent < 0:
        return "--max-concurrent: allowed integers >= 0"
    return None


def _dry_run(spec, results_dir: Path, args, fail: Fail) -> int:
    """The trials and their cost (and, with --pilot, what the pilot says); writes nothing."""
    pilot = None
    if args.pilot or args.halfwidth is not None:
        try:
            pilot = pilot_cli(spec, args.pilot, args.halfwidth)
        except (PilotError, SpecError) as err:
            return fail(str(err))
    print_dry_run(spec, results_dir, args.gpu_tflops)
    if args.pilot:
        print(pilot)
    return 0


def _run_locked(spec, results_dir: Path, args, command: list[str], fail: Fail,
                tune: ModuleType) -> int:
    try:
        # The lock first: a live driver is the answer to give before "already holds this
        # sweep; resume it", and --overwrite must not delete a directory in use.
        with guard.driver_lock(results_dir, command):
            refusal = guard.check_results_dir(spec, results_dir, args.overwrite)
            if refusal:
                return fail(refusal)
            # Data, Ray and resources before the first write: a sweep refused here leaves
            # the results directory as it found it.
            data = tune.prepare(spec, args.address)
            if args.overwrite and results_dir.exists():
                import shutil
                shutil.rmtree(results_dir)
            write_spec(spec, results_dir, command)
            started = time.monotonic()
            tune.run_sweep(spec, results_dir, args.address, args.max_concurrent, args.verbose,
                           data=data)
    except (SweepError, guard.SweepInUse) as err:
        return fail(str(err))
    except Exception as err:  # noqa: BLE001 - one clear line for a stop, the trace in the log
        return stopped(err)
    summary(results_dir, time.monotonic() - started)
    return 0


def resume(args, command: list[str], fail: Fail, tune: Tune) -> int:
    """``launch.py resume``: check the directory before Ray starts, take the lock, resume."""
    results_dir = Path(args.results_dir)
    refusal = guard.damaged(results_dir, epochs=True)  # before Ray starts, not inside it
    if refusal:
        return fail(refusal)
    try:
        read_spec(results_dir)  # not a results directory: say so before taking any lock
        resume_sweep = tune().resume_sweep
        with guard.driver_lock(results_dir, command):
            started = time.monotonic()
            resume_sweep(results_dir, args.address, args.verbose)
    except (SweepError, guard.SweepInUse) as err:
        return fail(str(err))
    except Exception as err:  # noqa: BLE001
        return stopped(err)
    summary(results_dir, time.monotonic() - started)
    return 0


def extend(args, command: list[str], fail: Fail, tune: Tune) -> int:
    """``launch.py extend`` (``sweeps.extend``)."""
    adapter = tune()
    return extend_cli(args, command, summary, fail, stopped, adapter.resume_sweep,
                      adapter.run_stage)


def status(args, fail: Fail) -> int:
    """``launch.py status``: Ray-free and torch-free, so it answers at once."""
    results_dir = Path(args.results_dir)
    try:
        refusal = guard.damaged(results_dir)
        if refusal:
            return fail(refusal)
        print_status(results_dir)
    except SweepError as err:
        return fail(str(err))
    return 0


def stopped(err: Exception) -> int:
    """A sweep that had to stop: find our own error inside Tune's wrapping, say it in one line."""
    seen = err
    while seen is not None and not isinstance(seen, ResultsWriteError):
        seen = seen.__cause__ or seen.__context__
    message = str(seen) if seen is not None else f"{type(err).__name__}: {err}"
    print(f"error: sweep stopped: {message}", file=sys.stderr)
    return EXIT_STOPPED


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system that says
        return None
