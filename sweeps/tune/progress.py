"""The sweep's console: one live progress view, Ray kept quiet, one line per warning that matters.

``SweepProgress`` is a ``ray.tune.Callback`` on the driver.  It reads the rows that
``ParquetResults`` (``sweeps.tune.results``) keeps (the same rows as ``trials.parquet``) and
shows, on one line: trials completed / running / pending / failed / diverged, epochs done of
total, images/s, an ETA from the measured epoch times and the best trial so far on the sweep's
first metric with its axis values.  On a terminal the line is rewritten in place (``\\r``, at
most once a second); otherwise (CI, ``nohup``, a pipe) a plain line is printed on trial state
changes (at most one a second: changes closer together share a line) and every
``HINR_PROGRESS_SECONDS`` seconds (default 30).  A trial that failed, is retried or diverged,
and a node that was lost, get one ``warning:`` line each, naming the trial and its full log.

``ray_console`` routes Ray's own logging and the trial workers' output to ``driver.log`` in the
results directory; with ``verbose`` they go to the console as well (Ray's default).

The line's arithmetic is ``sweeps.console``'s (Ray-free, shared with ``launch.py status`` and
the closing summary).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ray import tune  # Ray's environment: set by sweeps/__init__ (rayenv.configure) before this

from contract import schema

from ..console import (  # noqa: F401 - the console's arithmetic, shared
    LIVE_REFRESH_SECONDS, STATE_LINE_GAP_SECONDS, FINISHED, images_per_s, trial_label, progress_line, progress_seconds)
from .results import error_message


def _is_terminal() -> bool:
    return sys.stdout.isatty() and os.environ.get("TERM", "") != "dumb"


class SweepProgress(tune.Callback):
    """The live progress view and the warning lines (see the module docstring).

    ``results`` is the ``ParquetResults`` callback of the same run (listed before this one, so
    its rows are up to date when these hooks run).  ``live``: rewrite one line in place (None:
    when stdout is a terminal).  The stream is looked up at each write, never stored: Tune
    pickles its callbacks with the experiment.
    """

    def __init__(self, results, spec, live: bool | None = None, every_s: float | None = None,
                 budget=None):
        self.results = results
        self.budget = budget  # the stage's time budget (sweeps.budget.Budget), or None
        self.name = spec.name
        self.metric, self.mode = spec.metric[0], spec.mode[0]
        self.axes = list(spec.axes)
        self.total = spec.num_trials()
        self.epochs = spec.base_config.epochs
        self.concurrent = spec.budget["max_concurrent"]
        self.live = live
        self.every_s = every_s
        self._start = time.monotonic()

    # ---------------------------------------------------------------- output
    @property
    def results_dir(self) -> Path:
        return Path(self.results.results_dir)

    def _write(self, text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    def _line(self) -> str:
        return progress_line(list(self.results.trials.values()), self.total, self.epochs,
                             self.metric, self.mode, self.axes, time.monotonic() - self._start,
                             self._slots, self._rate, self._per_epoch(),
                             self.budget.left() if getattr(self, "budget", None) else None)

    def _per_epoch(self) -> float | None:
        """Seconds per epoch of one trial slot as this driver measured them: time since the
        sweep (or resume) started x trials at once / epochs reported since; start-up,
        scheduling and final evaluations are all in it."""
        if not self._epochs_seen:
            return None
        return (time.monotonic() - self._start) * self._slots / self._epochs_seen

    def _show(self, force: bool = False, now_or_never: bool = False) -> None:
        """Redraw the live line, or print a plain one.  ``force``: a state change, shown within
        ``STATE_LINE_GAP_SECONDS`` (by the next step's hook if it came sooner after the last
        line); ``now_or_never``: at once (the end; the live line under a warning)."""
        now = time.monotonic()
        self._owed = self._owed or force
        gap = (STATE_LINE_GAP_SECONDS if self._owed else
               LIVE_REFRESH_SECONDS if self._live else self._every_s)
        if not now_or_never and now - self._last_shown < gap:
            return
        changed, self._owed = self._owed or now_or_never, False
        rows = list(self.results.trials.values())
        # The rate: the last one measured, so that the moment between two trials does not
        # blank it.
        self._rate = images_per_s(rows) or self._rate
        if self._live:
            # one column short: printing into the last column makes terminals wrap
            width = shutil.get_terminal_size((120, 24)).columns - 1
            self._write("\r" + self._line()[:width] + "\x1b[K")
            self._last_shown = now
            self._pending_line = True
        else:
            line = self._line()
            body = line.split("] ", 1)[1]
            # Two hooks for one change (the last trial's end, then the experiment's): one line.
            if changed and body == self._last_body:
                return
            self._write(line + "\n")
            self._last_shown, self._last_body = now, body

    def warn(self, text: str) -> None:
        """One line above the live view (which is redrawn under it)."""
        if self._live and self._pending_line:
            self._write("\r\x1b[K")
            self._pending_line = False
        self._write(f"warning: {text}\n")
        self._show(force=True, now_or_never=self._live)

    # ---------------------------------------------------------------- Tune hooks
    def setup(self, **info) -> None:
        self._live = _is_terminal() if self.live is None else self.live
        self._every_s = self.every_s or progress_seconds()
        self._start = time.monotonic()
        self._last_shown = -math.inf
        self._last_body = ""
        self._epochs_seen = 0
        self._pending_line = False
        self._owed = False  # a state change not shown yet
        # Slots: the most trials seen running at once, not budget.max_concurrent (0 means "no
        # limit", and a small cluster runs fewer than asked); counted from the hooks, O(1).
        self._slots = 1
        self._running: set[str] = set()
        self._rate: float | None = None
        self._warned: set[tuple[str, str]] = set()
        self._nodes: dict[str, str] | None = None
        self._nodes_checked = time.monotonic()
        rows = list(self.results.trials.values())
        finished = sum(r["status"] in FINISHED for r in rows)
        again = f"; {finished} of them already finished" if rows else ""
        plural = "s" if self.epochs != 1 else ""
        self._write(f"sweep {self.name}: {self.total} trials of {self.epochs} epoch{plural}"
                    f"{f', {self.concurrent} at a time' if self.concurrent else ''}{again}; "
                    f"best by {self.metric} ({self.mode}); Ray's log: "
                    f"{self.results_dir / schema.DRIVER_LOG}\n")

    def on_step_end(self, iteration, trials, **info) -> None:
        self._show()
        if time.monotonic() - self._nodes_checked >= min(self._every_s, 10.0):
            self._check_nodes()

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self._running.add(trial.trial_id)
        self._slots = max(self._slots, len(self._running))
        self._show(force=True)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        if result.get("status") == "diverged":
            self.warn(f"trial {self._label(trial)} diverged: {result.get('error')}; the sweep "
                      f"goes on (its worker log: {self.results_dir / schema.DRIVER_LOG})")
        else:
            self._epochs_seen += 1
            self._show()

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._running.discard(trial.trial_id)
        self._show(force=True)

    def on_trial_recover(self, iteration, trials, trial, **info) -> None:
        failures = int(getattr(trial, "num_failures", 0) or 0)
        self.warn(f"trial {self._label(trial)} failed, retry {failures} from its last "
                  f"checkpoint: {_last_error(trial)} (full log: {_error_path(trial)})")

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._running.discard(trial.trial_id)
        self.warn(f"trial {self._label(trial)} failed, no retries left: {_last_error(trial)} "
                  f"(full log: {_error_path(trial)})")

    def on_experiment_end(self, trials, **info) -> None:
        self._show(force=True, now_or_never=True)
        if self._live and self._pending_line:
            self._write("\n")
            self._pending_line = False

    # ---------------------------------------------------------------- helpers
    def _label(self, trial) -> str:
        row = self.results.trials.get(trial.trial_id)
        return trial_label(row, self.axes) if row else trial.trial_id

    def _check_nodes(self) -> None:
        """A node that was alive and is not any more: one warning (its trials are retried)."""
        self._nodes_checked = time.monotonic()
        try:
            import ray
            nodes = {n["NodeID"]: n for n in ray.nodes()}
        except Exception:  # noqa: BLE001 - a status probe must never stop the sweep
            return
        alive = {k: n.get("NodeManagerAddress", "?") for k, n in nodes.items() if n.get("Alive")}
        if self._nodes is not None:
            for node_id, address in self._nodes.items():
                if node_id not in alive:
                    self.warn(f"node {address}/{node_id[:12]} lost; its trials restart from "
                              f"their last checkpoint elsewhere (log: "
                              f"{self.results_dir / schema.DRIVER_LOG})")
        self._nodes = alive


def _last_error(trial) -> str:
    text = error_message(trial)
    return text if len(text) <= 200 else text[:197] + "..."


def _error_path(trial) -> str:
    """The trial's error.txt in the results directory (Tune syncs it there from staging)."""
    name = getattr(getattr(trial, "run_metadata", None), "error_filename", None)
    if name and getattr(trial, "path", None):
        return str(Path(trial.path) / name)
    return str(getattr(trial, "error_file", None) or "?")


# ------------------------------------------------------------------------------ Ray's output
WORKER_LOGGER = "hinr.workers"
# Ray's printer, put back after a quiet sweep replaced it (see _RayOutput).  Private (Ray 2.60.0):
# Ray has no public way to send worker output anywhere but the console.
try:
    from ray._private.worker import print_to_stdstream as _PRINT_TO_STDSTREAM
except ImportError:
    _PRINT_TO_STDSTREAM = None
# Ray's own logger, and Tune's TensorBoard logger in the driver, which warns on every NaN or
# infinite metric (a diverged trial reports -inf to the search).
QUIET_LOGGERS = ("ray", "tensorboardX")


@contextmanager
def ray_console(results_dir: Path, verbose: bool = False,
                owns_ray: bool = False) -> Iterator["_RayOutput"]:
    """Ray's own logging (``QUIET_LOGGERS``) and, once ``after_init()`` is called after
    ``ray.init``, the trial workers' output and Ray's error messages go to
    ``<results>/driver.log`` (appended: a resume adds to it); quiet (not ``verbose``) they go
    nowhere else.  If Ray was not running on entry, or ``owns_ray`` (the caller started it for
    this sweep), it is shut down on exit, before the console is restored: a worker that prints
    while it is being stopped (Ray's SIGTERM handler raises SystemExit in it) would otherwise
    put a traceback on the console after a successful sweep."""
    import ray

    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    output = _RayOutput(results_dir / schema.DRIVER_LOG, verbose)
    started_here = owns_ray or not ray.is_initialized()
    try:
        yield output
    finally:
        if started_here and ray.is_initialized():
            ray.shutdown()
        output.restore()


class _RayOutput:
    """Where Ray's output goes while a sweep runs (see ``ray_console``).  Three routes: the
    loggers; the driver's printer of worker output (``ray_print_logs`` on the stdstream
    dispatcher that ``ray.init(log_to_driver=True)`` installs); and Ray's error-message
    listener, which calls ``ray._private.worker.print_to_stdstream`` itself.  The last two are
    private Ray API with no public equivalent (``log_to_driver`` is all or nothing; checked
    against Ray 2.60.0, the pinned version): if they move, that output stays on the console."""

    NAME = "hinr_driver_log"

    def __init__(self, path: Path, verbose: bool):
        self.verbose = verbose
        self.handler = logging.FileHandler(path, encoding="utf-8")
        self.handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger(WORKER_LOGGER).setLevel(logging.INFO)
        self.saved: dict[str, tuple[list, bool]] = {}
        self.printers: list = []
        self.dispatcher = None
        self.worker_module = None
        self._route_loggers()

    def _route_loggers(self) -> None:
        for name in (*QUIET_LOGGERS, WORKER_LOGGER):
            log = logging.getLogger(name)
            self.saved.setdefault(name, (list(log.handlers), log.propagate))
            if self.handler not in log.handlers:
                log.addHandler(self.handler)
            if not self.verbose or name == WORKER_LOGGER:
                for h in [h for h in log.handlers if h is not self.handler]:
                    log.removeHandler(h)
                log.propagate = False
            else:  # Ray's console handler too, which ray.init may have cleared
                for h in self.saved[name][0]:
                    if h not in log.handlers:
                        log.addHandler(h)

    def after_init(self) -> None:
        # ray.init(configure_logging=False) clears the "ray" logger's handlers, ours included.
        self._route_loggers()
        try:
            # Private (Ray 2.60.0): the printer and the dispatcher are the only ways to route
            # worker output; log_to_driver is all or nothing (see the class docstring).
            from ray._private import worker as ray_worker
            from ray._private.ray_logging import global_worker_stdstream_dispatcher as dispatcher
        except ImportError:
            return
        self.dispatcher = dispatcher
        if not self.verbose:
            self.printers = [pair for pair in dispatcher.handlers if pair[0] == "ray_print_logs"]
            dispatcher.remove_handler("ray_print_logs")
            self.worker_module = ray_worker
            ray_worker.print_to_stdstream = _log_ray_lines
        dispatcher.remove_handler(self.NAME)
        dispatcher.add_handler(self.NAME, _log_ray_lines)

    def restore(self) -> None:
        import ray

        if self.worker_module is not None:
            self.worker_module.print_to_stdstream = _PRINT_TO_STDSTREAM
        if self.dispatcher is not None:
            self.dispatcher.remove_handler(self.NAME)
            if ray.is_initialized():  # ray.shutdown removed Ray's own printer already
                for name, handler in self.printers:
                    self.dispatcher.add_handler(name, handler)
        for name, (handlers, propagate) in self.saved.items():
            log = logging.getLogger(name)
            log.removeHandler(self.handler)
            for h in handlers:
                if h not in log.handlers:
                    log.addHandler(h)
            log.propagate = propagate
        self.handler.close()


def _log_ray_lines(data: dict[str, Any], ignore_prefix: bool = False) -> None:
    """One batch of a worker's output lines (or a raylet error message) -> driver.log, prefixed
    as Ray prints them."""
    lines = data.get("lines", [])
    if data.get("pid") == "autoscaler":  # its full status every few seconds; Ray shows events only
        # Private, as the printer it stands in for; Ray 2.60.0 has no public filter.
        from ray._private.worker import filter_autoscaler_events
        lines = list(filter_autoscaler_events(lines))
    who = " ".join(str(x) for x in (data.get("actor_name") or data.get("task_name"),
                                    f"pid={data.get('pid')}", f"ip={data.get('ip')}") if x)
    log = logging.getLogger(WORKER_LOGGER)
    for line in lines:  # INFO whatever the stream: workers log everything to stderr
        log.info("(%s) %s", who, line)
