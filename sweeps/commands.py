"""What ``launch.py run``, ``resume``, ``extend``, ``status`` and ``records`` do once their
arguments are parsed.

launch.py is the front door: it parses flags and dispatches here.  Each command checks what it
is given before anything heavy loads (the sweep file, the results directory, the lock; no Ray,
no torch).  ``run``, ``resume`` and ``extend`` then hold the driver lock and hand launch.py a
``Drive``: the stages to run, planned one at a time by the sweep's owner (``sweeps.life``),
which launch.py hands to the Tune adapter (``sweeps.tune.run``).  This Ray-free core never
imports the adapter, takes no callable, and prints no error: a refusal is raised as one of
``REFUSED`` (launch.py prints the line and exits 2, nothing written); any other error in a
sweep that started is reported by ``stopped`` (exit 1); a stage ended by its time budget exits
with ``EXIT_BUDGET`` (3).
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from contract import schema

from . import guard
from .budget import EXIT_BUDGET, BudgetError, parse_duration
from .console import print_status, summary
from .dryrun import print_dry_run
from .extend import code_problem, plan
from .invocation import launch_command
from .life import Sweep
from .power import PilotError, cli as pilot_cli
from .records import RecordsError, copy_records
from .results import ResultsWriteError
from .modelsize import check_model_size
from .spec import SpecError, SweepSpec, load_spec
from .tiny import tiny_mode
from .stage import Stage
from .sweepdoc import (ExtendError, SweepError, extensions, read_doc, read_spec, sweep_part,
                       write_spec)

EXIT_STOPPED = 1  # a sweep that started and had to stop (results disk full, ...)
#: refused before anything ran or changed: one line, exit 2
REFUSED = (SweepError, guard.SweepInUse, SpecError, ExtendError, BudgetError, PilotError,
           RecordsError)


class Refused(SweepError):
    """A command's own refusal (bad flags, unsafe results directory); one line."""


def _refuse(reason: str | None) -> None:
    if reason:
        raise Refused(reason)


# ------------------------------------------------------------------------------ a drive
@dataclass
class Drive:
    """A sweep whose driver lock is held: ``stages()`` yields each stage for launch.py to run
    on the Tune adapter, records it before and after, and plans the next; ``finish()`` prints
    the closing lines and says the exit code."""

    results_dir: Path
    spec: SweepSpec
    command: list[str]
    budget_s: float | None = None
    max_concurrent: int | None = None
    sweep: Sweep | None = None  # None until a new sweep's sweep.yaml is written
    first: Stage | None = None
    overwrite: bool = False  # run --overwrite: the old results go just before the first stage
    # extend's plan: pooled sweep, what in words, added points, the repeated ones among them
    extension: tuple[dict[str, Any], str, list[dict[str, Any]], list[dict[str, Any]]] | None = None
    started: float = field(default_factory=time.monotonic)
    budget_stopped: bool = False

    def _left(self) -> float | None:
        """The command's budget left: one deadline for every stage it runs."""
        if self.budget_s is None:
            return None
        return max(1.0, self.budget_s - (time.monotonic() - self.started))

    def stages(self) -> Iterator[Stage]:
        stage = self._begin()
        if stage is None:
            print(f"sweep {self.spec.name}: all {self.sweep.spec.num_trials()} trials have "
                  f"their outcome; nothing to run")
        while stage is not None:
            if stage.kind != "first":
                print(f"sweep {self.spec.name}: {stage.what}")
            self.sweep.started(stage)
            yield stage
            self.sweep.ended(stage)
            if stage.budget is not None and stage.budget.stopped:
                self.budget_stopped = True
                return
            stage = self._next()

    def _begin(self) -> Stage | None:
        if self.sweep is None:  # run: a new sweep, written once Ray and the data are ready
            if self.overwrite and self.results_dir.exists():
                shutil.rmtree(self.results_dir)
            write_spec(self.spec, self.results_dir, self.command)
            self.sweep = Sweep(self.results_dir, read_doc(self.results_dir), self.command)
            return self.sweep.first(self._left())
        return self.first or self._next()

    def _next(self) -> Stage | None:
        if self.extension is not None:  # extend: recorded once what was unfinished is done
            pooled, what, points, repeats = self.extension
            self.extension = None
            self.sweep.record_extension(pooled, what, points, repeats)
            stage = self.sweep.extension("extension", self._left())
            stage.what = (f"extension {len(extensions(self.sweep.doc))} adds {len(points)} "
                          f"trial(s): {what}")
            return stage
        return self.sweep.adaptive(self._left())

    def finish(self) -> int:
        summary(self.results_dir, time.monotonic() - self.started)
        if not self.budget_stopped:
            return 0
        done = len(self.sweep.finished())
        print(f"budget reached: {done} of {self.sweep.spec.num_trials()} trials finished; "
              f"launch.py resume {self.results_dir} continues")
        return EXIT_BUDGET


def _budget(args) -> float | None:
    value = getattr(args, "time_budget", None)
    return None if value is None else parse_duration(value)


# ------------------------------------------------------------------------------ commands
@contextmanager
def run(args, command: list[str]) -> Iterator[Drive | None]:
    """``launch.py run``: validate the sweep file and the results directory, then hold the
    lock and drive it (None: the dry run, printed)."""
    _refuse(_bad_run_flags(args))
    budget_s = _budget(args)
    spec = load_spec(args.sweep, args.overrides)
    if args.tiny:
        spec = tiny_mode(spec)
    # A cluster's nodes are checked once Ray is up; here, this machine's memory.
    check_model_size(spec, None if args.address else _memory_bytes())
    results_dir = Path(args.results or Path("results") / spec.name)
    _refuse(guard.unsafe_results_dir(results_dir))
    if (args.pilot or args.halfwidth is not None) and not args.dry_run:
        raise Refused("--pilot, --halfwidth: allowed only with --dry-run")
    if args.dry_run:
        _dry_run(spec, results_dir, args)
        yield None
        return
    _refuse(guard.unwritable(results_dir)
            or guard.check_results_dir(spec, results_dir, args.overwrite, locked=False))
    # The lock first: a live driver is the answer to give before "already holds this sweep;
    # resume it", and --overwrite must not delete a directory in use.
    with guard.driver_lock(results_dir, command):
        _refuse(guard.check_results_dir(spec, results_dir, args.overwrite))
        yield Drive(results_dir, spec, command, budget_s, args.max_concurrent,
                    overwrite=args.overwrite)


def _bad_run_flags(args) -> str | None:
    if args.gpu_tflops is not None and not (math.isfinite(args.gpu_tflops) and args.gpu_tflops > 0):
        return f"--gpu-tflops: allowed finite numbers > 0 (got {args.gpu_tflops})"
    return _bad_concurrency(args)


def _bad_concurrency(args) -> str | None:
    if args.max_concurrent is not None and args.max_concurrent < 0:
        return "--max-concurrent: allowed integers >= 0"
    return None


def _dry_run(spec, results_dir: Path, args) -> None:
    """The trials and their cost (and, with --pilot, what the pilot says); writes nothing."""
    pilot = None
    if args.pilot or args.halfwidth is not None:
        pilot = pilot_cli(spec, args.pilot, args.halfwidth)
    print_dry_run(spec, results_dir, args.gpu_tflops)
    if args.pilot:
        print(pilot)


@contextmanager
def resume(args, command: list[str]) -> Iterator[Drive]:
    """``launch.py resume``: check the directory before Ray starts, take the lock, and drive
    what remains: the interrupted stage from Tune's state, or the missing trials from the
    records (``sweeps.life``)."""
    budget_s = _budget(args)
    results_dir = Path(args.results_dir)
    _refuse(guard.damaged(results_dir, epochs=True))  # before Ray starts, not inside it
    read_spec(results_dir)  # not a results directory: say so before taking any lock
    with guard.driver_lock(results_dir, command):
        sweep = Sweep(results_dir, read_doc(results_dir), command)
        drive = Drive(results_dir, sweep.spec, command, budget_s, sweep=sweep)
        drive.first = sweep.next_to_resume(drive._left())
        yield drive


@contextmanager
def extend(args, command: list[str]) -> Iterator[Drive]:
    """``launch.py extend`` (``sweeps.extend``): refuse, or finish what is unfinished first,
    then record the extension and drive it."""
    budget_s = _budget(args)
    results_dir = Path(args.results_dir)
    if args.seeds is not None and args.seeds < 1:
        raise Refused(f"--seeds: allowed integers >= 1 (got {args.seeds})")
    _refuse(_bad_concurrency(args))
    read_spec(results_dir)  # not a results directory, or damaged: before any lock
    with guard.driver_lock(results_dir, command):
        sweep = Sweep(results_dir, read_doc(results_dir), command)
        where = str(results_dir / schema.SPEC_FILE)
        planned = plan(sweep_part(sweep.doc), where, args.seeds, args.overrides, args.fraction,
                       args.repeat)
        problem = code_problem(sweep.doc.get("provenance"), where)
        if problem:
            raise ExtendError(problem)
        drive = Drive(results_dir, sweep.spec, command, budget_s, args.max_concurrent,
                      sweep=sweep, extension=planned)
        left = sweep.remaining()
        if left > 0:  # an interrupted sweep (or extension) is finished first
            drive.first = sweep.next_to_resume(drive._left())
            if drive.first is not None:
                drive.first.what = f"finishing its {left} remaining trial(s) first"
        yield drive


def status(args) -> int:
    """``launch.py status``: Ray-free and torch-free, so it answers at once."""
    results_dir = Path(args.results_dir)
    _refuse(guard.damaged(results_dir))
    print_status(results_dir)
    return 0


def records(args) -> int:
    """``launch.py records DIR DEST`` (``sweeps.records``)."""
    source, dest = Path(args.results_dir), Path(args.dest)
    _refuse(guard.damaged(source, epochs=True))
    read_spec(source)
    _refuse(guard.unsafe_results_dir(dest))
    copied = copy_records(source, dest)
    print(f"records of {source} -> {dest}: {copied.files} file(s), {copied.bytes / 1e6:.1f} MB "
          f"(no Tune state, no checkpoints); continue with: {launch_command()} resume {dest}")
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
