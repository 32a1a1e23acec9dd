"""The sweep's console: one live progress view, Ray kept quiet, one line per warning that matters.

``SweepProgress`` is a ``ray.tune.Callback`` on the driver.  It reads the rows that
``ParquetResults`` keeps (the same rows as ``trials.parquet``) and shows, on one line: trials
completed / running / pending / failed / diverged, epochs done of total, images/s, an ETA from
the measured epoch times and the best trial so far on the sweep's first metric with its axis
values.  On a terminal the line is rewritten in place (``\\r``, at most once a second); otherwise
(CI, ``nohup``, a pipe) a plain line is printed on trial state changes (at most one a second:
changes closer together share a line) and every ``HINR_PROGRESS_SECONDS`` seconds (default
30).  A trial that failed, is retried or diverged, and a node that was lost, get one
``warning:`` line each, naming the trial and its full log.

``ray_console`` routes Ray's own logging and the trial workers' output to ``driver.log`` in the
results directory; with ``verbose`` they go to the console as well (Ray's default).

The formatting functions below are plain functions of those rows, shared with
``launch.py status`` and the closing summary.
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

from hinr import metrics as metrics_registry
from ray import tune  # Ray's environment: set by sweeps/__init__ (rayenv.configure) before this

from . import schema

PROGRESS_SECONDS_ENV = "HINR_PROGRESS_SECONDS"
DEFAULT_PROGRESS_SECONDS = 30.0
LIVE_REFRESH_SECONDS = 1.0  # a terminal line redrawn more often only flickers
# State changes closer together than this share one line: a line reads every row (O(trials)),
# so one per trial start and end was quadratic; at 10,000 no-op trials it was 44% of the
# driver's time (benchmarks/scale.py).
STATE_LINE_GAP_SECONDS = 1.0
# Display names, in display order; "errored" is a failed trial (retries used up).
SHOWN = (("completed", "completed"), ("running", "running"), ("pending", "pending"),
         ("errored", "failed"), ("diverged", "diverged"), ("stopped", "stopped"))
FINISHED = ("completed", "stopped", "diverged", "errored")


# ------------------------------------------------------------------------------ formatting
def duration(seconds: float | None) -> str:
    """``H:MM:SS`` (``M:SS`` under an hour); ``?`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = int(round(max(0.0, seconds)))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def number(value: float) -> str:
    """4 significant digits: 11.73 dB, 0.9312 accuracy, 1e+30 learning rate."""
    return f"{value:.4g}"


def metric_text(name: str, value: float) -> str:
    return f"{name} {number(value)}{' dB' if metrics_registry.is_db(name) else ''}"


def counts(rows: list[dict[str, Any]], total: int) -> dict[str, int]:
    """Trials by status; trials Tune has not created yet are pending."""
    out = {status: 0 for status, _ in SHOWN}
    for r in rows:
        # A status the view does not list has not finished either: count it as running.
        out[r["status"] if r["status"] in out else "running"] += 1
    out["pending"] += max(0, total - len(rows))
    return out


def planned_epochs(row: dict[str, Any], default: int) -> int:
    return int(row.get(schema.CONFIG_PREFIX + "epochs") or default)


def epochs_done_total(rows: list[dict[str, Any]], total: int, default: int) -> tuple[int, int]:
    """(epochs done, epochs the sweep will have run): a trial that ended early (stopped by
    ASHA, diverged, failed) counts the epochs it ran, the others their planned epochs."""
    done = sum(int(r.get("epochs_done") or 0) for r in rows)
    planned = sum(int(r.get("epochs_done") or 0) if r["status"] in FINISHED
                  else max(planned_epochs(r, default), int(r.get("epochs_done") or 0))
                  for r in rows)
    return done, planned + max(0, total - len(rows)) * default


def epoch_seconds(rows: list[dict[str, Any]]) -> float | None:
    """Mean measured seconds per epoch of one trial (as trials ran: concurrently)."""
    measured = [r for r in rows if (r.get("epochs_done") or 0) > 0 and (r.get("wall_seconds") or 0) > 0]
    epochs = sum(int(r["epochs_done"]) for r in measured)
    return sum(float(r["wall_seconds"]) for r in measured) / epochs if epochs else None


def eta_seconds(rows: list[dict[str, Any]], total: int, default: int, slots: int,
                per_epoch: float | None = None) -> float | None:
    """Remaining epochs x seconds per epoch / trials at once.  ``per_epoch``: measured by the
    caller (the driver sees start-up and final evaluation too), else from the rows' training
    time.  ``slots`` is how many trials run at once (the most seen running); the tail of a
    sweep has fewer left than that.  None before any epoch was measured; 0 when none remain."""
    done, planned = epochs_done_total(rows, total, default)
    remaining = planned - done
    if remaining <= 0:
        return 0.0
    per_epoch = per_epoch or epoch_seconds(rows)
    if per_epoch is None:
        return None
    unfinished = sum(r["status"] not in FINISHED for r in rows) + max(0, total - len(rows))
    return remaining * per_epoch / max(1, min(slots, unfinished))


def images_per_s(rows: list[dict[str, Any]]) -> float | None:
    """Training images/s of the trials running now (their last epoch), summed."""
    key = schema.METRIC_PREFIX + "train_images_per_s"
    rates = [r[key] for r in rows if r["status"] == "running" and r.get(key)]
    return sum(rates) if rates else None


def best_row(rows: list[dict[str, Any]], metric: str, mode: str) -> dict[str, Any] | None:
    """The trial with the best finite last value of ``metric``; among completed trials once
    any has completed (a diverged trial keeps the value of its last good epoch, and a running
    one has no test numbers yet), as the report chooses."""
    key = schema.METRIC_PREFIX + metric
    scored = [r for r in rows if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
    finished = [r for r in scored if r.get("status") == "completed"]
    scored = finished or scored
    if not scored:
        return None
    return (max if mode == "max" else min)(scored, key=lambda r: r[key])


def axis_values(row: dict[str, Any], axes: list[str]) -> str:
    """``a2=100, seed=0``: the trial's values of the sweep's axes, and its seed."""
    parts = []
    for name in [*axes, "seed"]:
        value = row.get(schema.CONFIG_PREFIX + name)
        parts.append(f"{name}={number(value) if isinstance(value, float) else value}")
    return ", ".join(parts)


def trial_label(row: dict[str, Any], axes: list[str]) -> str:
    return f"{row['trial_id']} ({axis_values(row, axes)})"


def progress_line(rows: list[dict[str, Any]], total: int, epochs: int, metric: str, mode: str,
                  axes: list[str], elapsed: float, slots: int, rate: float | None = None,
                  per_epoch: float | None = None) -> str:
    """The one progress line (``rate``: images/s to show when none is running right now;
    ``per_epoch``: seconds per epoch as the driver measured them, see eta_seconds)."""
    n = counts(rows, total)
    parts = [f"[{duration(elapsed)}] trials " + ", ".join(
        f"{n[status]} {shown}" for status, shown in SHOWN if n[status] or status != "stopped")]
    done, planned = epochs_done_total(rows, total, epochs)
    parts.append(f"epochs {done}/{planned}")
    ips = images_per_s(rows) or rate
    if ips:
        parts.append(f"{ips:.0f} images/s")
    parts.append(f"ETA {duration(eta_seconds(rows, total, epochs, slots, per_epoch))}")
    best = best_row(rows, metric, mode)
    if best is not None:
        parts.append(f"best {metric_text(metric, best[schema.METRIC_PREFIX + metric])} "
                     f"in {trial_label(best, axes)}")
    return " | ".join(parts)


def defined_metrics(row: dict[str, Any], first: list[str]) -> list[str]:
    """The metrics that mean something for this trial, ``first`` (the sweep's) leading: the
    joint head's accuracy only where it was trained (variant classifier_loss, cls_weight > 0),
    the pretrained pixel MLP's only for variant pretrained."""
    variant = row.get(schema.CONFIG_PREFIX + "variant")
    cls_weight = row.get(schema.CONFIG_PREFIX + "cls_weight") or 0.0
    names = list(dict.fromkeys([*first, *metrics_registry.names("summary")]))
    out = []
    for name in names:
        info = metrics_registry.get(name)
        # The sweep's own metrics are always shown; the others only where they mean
        # something (a chance-level untrained head next to a result would read as one).
        if info is not None and name not in first and (
                (info.variants and variant not in info.variants)
                or (info.needs_head and not cls_weight > 0)):
            continue
        value = row.get(schema.METRIC_PREFIX + name)
        if isinstance(value, (int, float)) and math.isfinite(value):
            out.append(name)
    return out


# ------------------------------------------------------------------------------ the callback
def progress_seconds() -> float:
    """Seconds between plain progress lines: ``$HINR_PROGRESS_SECONDS``, default 30.  A value
    that is not a number > 0 raises ValueError with the one-line message to show."""
    raw = os.environ.get(PROGRESS_SECONDS_ENV, "").strip()
    if not raw:
        return DEFAULT_PROGRESS_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"${PROGRESS_SECONDS_ENV}: {raw!r}: allowed: a number of seconds > 0 "
                         f"(default {DEFAULT_PROGRESS_SECONDS:g})")
    return value


def _is_terminal() -> bool:
    return sys.stdout.isatty() and os.environ.get("TERM", "") != "dumb"


class SweepProgress(tune.Callback):
    """The live progress view and the warning lines (see the module docstring).

    ``results`` is the ``ParquetResults`` callback of the same run (listed before this one, so
    its rows are up to date when these hooks run).  ``live``: rewrite one line in place (None:
    when stdout is a terminal).  The stream is looked up at each write, never stored: Tune
    pickles its callbacks with the experiment.
    """

    def __init__(self, results, spec, live: bool | None = None, every_s: float | None = None):
        self.results = results
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
                             self._slots, self._rate, self._per_epoch())

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
    from .results import _error_message

    text = _error_message(trial)
    return text if len(text) <= 200 else text[:197] + "..."


def _error_path(trial) -> str:
    """The trial's error.txt in the results directory (Tune syncs it there from staging)."""
    name = getattr(getattr(trial, "run_metadata", None), "error_filename", None)
    if name and getattr(trial, "path", None):
        return str(Path(trial.path) / name)
    return str(getattr(trial, "error_file", None) or "?")


# ------------------------------------------------------------------------------ Ray's output
WORKER_LOGGER = "hinr.workers"
# Ray's printer, put back after a quiet sweep replaced it (see _RayOutput).  Private: Ray has no
# public way to send worker output anywhere but the console (checked against Ray 2.60.0).
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
