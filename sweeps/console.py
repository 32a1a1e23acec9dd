"""The console's views of a sweep, from trials.parquet's rows: the live progress line's
arithmetic (``sweeps.tune.progress`` draws it during a run), ``launch.py status``, and the
closing summary of a run.  No Ray and no torch, so that ``status`` answers at once.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from contract import metrics as metrics_registry
from contract import schema
from contract.resultsdir import ResultsDirError, check

from .guard import describe_holder, running_driver
from .invocation import launch_command, tensorboard_command
from .sweepdoc import SweepError, read_spec

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
                  per_epoch: float | None = None, budget_left: float | None = None) -> str:
    """The one progress line (``rate``: images/s to show when none is running right now;
    ``per_epoch``: seconds per epoch as the driver measured them, see eta_seconds;
    ``budget_left``: seconds until the stage's --time-budget ends)."""
    n = counts(rows, total)
    parts = [f"[{duration(elapsed)}] trials " + ", ".join(
        f"{n[status]} {shown}" for status, shown in SHOWN if n[status] or status != "stopped")]
    done, planned = epochs_done_total(rows, total, epochs)
    parts.append(f"epochs {done}/{planned}")
    ips = images_per_s(rows) or rate
    if ips:
        parts.append(f"{ips:.0f} images/s")
    parts.append(f"ETA {duration(eta_seconds(rows, total, epochs, slots, per_epoch))}")
    if budget_left is not None:
        parts.append(f"budget {duration(budget_left)} left")
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


# ------------------------------------------------------------------------------ views
def trials_remaining(spec, trials: list[dict]) -> int:
    """Trials a resume would still run: not started, running, interrupted or failed.  Stopped
    (by ASHA) and diverged trials are outcomes, not interruptions: resume never reruns them."""
    return spec.num_trials() - sum(t["status"] in ("completed", "stopped", "diverged") for t in trials)


def best_text(spec, trials: list[dict]) -> str | None:
    """``best val_psnr 11.73 dB in ID (a2=100, seed=0); test_psnr 11.9 dB, ...``: chosen on the
    sweep's (first) metric, with only the metrics that are defined for that trial."""
    metric, mode = spec.metric[0], spec.mode[0]
    best = best_row(trials, metric, mode)
    if best is None:
        return None
    others = [m for m in defined_metrics(best, spec.metric) if m != metric]
    text = (f"best {metric_text(metric, best[schema.metric_column(metric)])} ({mode}) in "
            f"{trial_label(best, list(spec.axes))}")
    if others:
        text += "; " + ", ".join(metric_text(m, best[schema.metric_column(m)]) for m in others)
    if len(spec.metric) > 1:
        text += f" (first of {len(spec.metric)} objectives; the Pareto front is in the report)"
    return text


def summary(results_dir: Path, wall_s: float | None = None) -> None:
    """The closing lines of a run or resume: counts by status, time, the best trial, what next."""
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
    best = best_text(spec, trials)
    if best:
        print(best)
    if n["errored"] or n["diverged"]:
        print(f"failures:    {launch_command()} status {results_dir}")
    print(f"results:     {results_dir}/trials.parquet, {results_dir}/epochs/ "
          f"(Ray's log: {results_dir / schema.DRIVER_LOG})")
    print(f"tensorboard: {tensorboard_command(f'{results_dir}/tb')}")
    print(f"report:      {launch_command()} report {results_dir}")
    remaining = trials_remaining(spec, trials)
    if remaining:
        print(f"resume:      {launch_command()} resume {results_dir}   ({remaining} trial(s) remain)")


STATUS_LIST_MAX = 40  # more trials than this: list only those not completed


def read_trials(results_dir: Path) -> list[dict]:
    """trials.parquet's rows ([] before any trial started), read by the one reader of a results
    directory (contract/resultsdir.py), which checks the whole directory first: damage is a
    SweepError naming the file."""
    try:
        return check(results_dir).rows()
    except ResultsDirError as err:
        raise SweepError(str(err)) from None


def print_status(results_dir: Path) -> None:
    """``launch.py status``: trials by status, the best so far, each unfinished trial, the
    failures, the live driver (if any) with an ETA, and what remains.  A results directory
    that breaks the contract, or a damaged sweep.yaml, is a SweepError naming the file."""
    spec = read_spec(results_dir, legacy_ok=True)
    trials = read_trials(results_dir)
    by_status = {s: sum(t["status"] == s for t in trials) for s in schema.STATUSES}
    print(f"sweep {spec.name} in {results_dir}: {len(trials)} of {spec.num_trials()} trials started")
    print("  " + ", ".join(f"{s} {n}" for s, n in by_status.items() if n))
    best = best_text(spec, trials)
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
    remaining = trials_remaining(spec, trials)
    driver = running_driver(results_dir)
    if driver is not None:
        print(f"  driver: running now ({describe_holder(driver)})")
        running = max(1, by_status["running"])
        eta = eta_seconds(trials, spec.num_trials(), epochs, running)
        per_epoch = epoch_seconds(trials)
        if eta is not None and per_epoch is not None:
            print(f"  ETA {duration(eta)} (measured {per_epoch:.1f} s per epoch, {running} "
                  f"trial(s) at once)")
        print(f"  remaining: {remaining} trial(s), in the hands of that driver")
    else:
        print(f"  remaining: {remaining} trial(s)"
              + (f"; continue with: {launch_command()} resume {results_dir}" if remaining else ""))
