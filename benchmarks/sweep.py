"""How well does a sweep use the machine?  Scheduling efficiency, overhead, and ASHA vs FIFO.

One fixed search space (``small`` preset on 500 train / 100 test images of mnist-5k, a grid
over lr {1e-4, 3e-4, 1e-3, 3e-3}, one seed, 4 epochs, one CPU per trial, as many trials at once
as the cores hold) is run through ``sweeps.tune.run.run_sweep`` on embedded Ray, three times:

* ``fifo``: threads left to the framework (``threads: 0``).  ``sweeps.trial.config_from_trial``
  gives each trial ``int(resources.cpus)`` torch threads, its CPU share, so whatever
  ``budget.max_concurrent`` a user picks, the threads of the trials Ray runs at once add up to
  at most the cores (Ray never runs more trials than the cores hold at ``cpus`` each).  The
  efficiency target is about this arm.
* ``oversubscribed``: the same sweep with ``threads`` forced to every core per trial (what
  torch does by default): the trap the automatic setting avoids; with 2 cores, 2 trials of 2
  OpenMP threads each share 2 cores.  It can be many times slower, so it runs under Tune's
  time budget (``--trap-limit-s``; default the fifo arm's sweep time) and its rates come from
  the epochs that finished.  A cut arm is marked in the table ("cut at 60 s: 3/4 trials
  finished"); its unfinished trials are no failure.  The script exits 1 only when a trial
  errored, or an arm that was not cut left trials unfinished.
* ``fresh_workers``: the ``fifo`` sweep with a new worker process per trial (Tune's
  ``reuse_actors`` off, ``run_sweep(reuse_actors=False)``), which is how sweeps ran before:
  what reusing a slot's process for its next trial saves (process start, torch's import, the
  dataset's transfer), measured side by side.
* ``asha``: the same sweep under ``{type: asha, grace_period: 1, reduction_factor: 2}``,
  compared with ``fifo`` (same search space and seeds): epochs spent, best val_psnr, and the
  compute saved for that best result.

* ``gpu_share`` (by default only where CUDA is visible): for k in ``--gpu-share`` (1 2 4 8),
  k trials of one lr (k seeds) sharing one GPU, ``resources: {gpus: 1/k, cpus: cpus/k}``, all
  at once; their combined training images/s against one trial alone on the GPU.  On a machine
  without CUDA, ``--arms gpu_share --gpus 1`` gives Ray a logical GPU: the trials then run on
  the CPU, which checks the scheduling and the bookkeeping, not GPU throughput.

And one trial alone using the whole machine (``threads`` = every core, no Ray) before the
sweeps and again after them (the two bracket changes in background load).  It runs in a child
process at the nice value Ray gives its workers (15, ``RAY_worker_niceness``), so that on a
shared machine it competes for the cores exactly as a trial does.

Definitions (slots ``c`` = trials Ray runs at once = min(trials, cpus // cpus_per_trial,
max_concurrent); ``wall`` = Ray start-up + ``run_sweep``; images/s always counts training
images through ``TrainingRun.train_epoch``, whose time each epoch reports as ``train_seconds``):

* training efficiency = (c x sum(images) / sum(train_seconds)) / alone images/s: the sweep's
  throughput while its slots train, against one trial owning the machine.  Target >= 0.9.
  It can exceed 1: one small model does not scale perfectly over several threads.
* share outside training = 1 - sum(train_seconds) / (c x wall): slot-seconds not spent in
  ``train_epoch``, split into Ray start-up (timed around ``ray.init``), dataset loading
  (``sweeps.tune.cluster.shared_datasets`` on the driver, timed: ``run_sweep(datasets=)``), evaluation
  (test_subset / eval_images_per_s, every epoch), finish (latent-MLP and weight-CNN probes
  and the image operations after the last epoch), checkpoint + TensorBoard + report between
  epochs (from the gaps in each trial's per-epoch ``wall_seconds``), and the rest (Tune
  set-up, actor start-up and imports in the workers, the last epoch's checkpoint, image grids
  and HParams, Parquet writing, slots idle at the tail).
* end-to-end efficiency = sum(images) / wall / alone images/s
  = training efficiency x (1 - share outside training).

Everything is read back from each sweep's own ``trials.parquet`` and ``epochs/`` (pyarrow).

    python benchmarks/sweep.py           # table + benchmarks/results/sweep.json
    python benchmarks/sweep.py --tiny    # tiny preset, fifo + asha arms, one Ray: ~1 min (tests)
    python benchmarks/sweep.py --train-subset 2000 --keep results/bench --verbose
    python benchmarks/sweep.py --arms gpu_share --train-subset 4000 --epochs 2   # on a GPU

Runtime: the default run is 16 + 16 + <=16 + ~8 epochs of 500 images plus 2-4 alone epochs,
four Ray start-ups and ~10 trial processes: 4.5 minutes expected on 2 idle cores.  The load average is
printed and stored; on a machine loaded by other jobs everything slows down (one run at load
7-10 on 2 cores took 15 minutes) and the alone baseline, whose threads wait on each other at
every parallel region, suffers far more than 1-thread trials, so a loaded run's efficiency is
inflated: read it against the load.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ALONE_MARK = "ALONE "
TARGET = 0.9  # training efficiency of the fifo (automatic threads) arm
E2E_TARGET = 0.85  # end-to-end efficiency of the fifo arm (issue 15: < 15% outside training)
ASHA = {"type": "asha", "grace_period": 1, "reduction_factor": 2}
SAME_BEST_DB = 0.05  # two best val_psnr values closer than this are "the same result"

OVERHEAD_PARTS = (("ray_start", "Ray start-up"),
                  ("data_load", "dataset loading (driver)"),
                  ("eval", "evaluation (per epoch)"),
                  ("finish", "finish: probes + image ops"),
                  ("between_epochs", "checkpoint + TB between epochs"),
                  ("rest", "rest: Tune/actor start, last ckpt+TB, Parquet, idle"))


# ======================================================================================
# Pure helpers (unit-tested in tests/test_benchmark_sweep.py)

def slots(trials: int, cpus: float, cpus_per_trial: float, max_concurrent: int = 0,
          gpus: float = 0.0, gpus_per_trial: float = 0.0) -> int:
    """Trials Ray runs at once: what the cores (and GPUs) hold, capped by max_concurrent and
    the trials.  Divisions are rounded so that 1 / (1/3) counts as 3 trials, as Ray does."""
    fit = int(cpus / cpus_per_trial + 1e-9) if cpus_per_trial > 0 else trials
    if gpus_per_trial > 0:
        fit = min(fit, int(gpus / gpus_per_trial + 1e-9))
    cap = max_concurrent if max_concurrent > 0 else fit
    return max(1, min(trials, fit, cap))


def trial_timings(epochs: list[dict[str, Any]], test_images: int,
                  completed: bool) -> dict[str, float]:
    """One trial's time split from its epochs/<trial>.parquet rows (any order).

    Each row's ``wall_seconds`` is the time since the trial's training loop started, taken
    after the epoch's train + evaluate (+ finish on the last epoch) and before its TensorBoard
    logging, checkpoint and report.  So the gap between two rows, less the later epoch's train
    and eval time, is the earlier epoch's checkpoint + TB + report; the last gap also holds
    ``finish`` (only if the trial completed), estimated as that gap less the median of the
    other gaps' overhead.
    """
    rows = sorted(epochs, key=lambda r: r["epoch"])
    train = [float(r["metric.train_seconds"]) for r in rows]
    evals = [test_images / float(r["metric.eval_images_per_s"])
             if r.get("metric.eval_images_per_s") else 0.0 for r in rows]
    images = [float(r["metric.train_images_per_s"]) * t for r, t in zip(rows, train)]
    walls = [float(r["wall_seconds"]) for r in rows]
    gaps = [walls[i] - (walls[i - 1] if i else 0.0) - train[i] - evals[i]
            for i in range(len(rows))]
    # gap[0] is the first epoch's own slack (~0); gaps 1..n-2 are checkpoint+TB of the epoch
    # before; the last gap is that plus finish when the trial completed.
    middle = [max(0.0, g) for g in gaps[1:-1]] if completed else [max(0.0, g) for g in gaps[1:]]
    per_epoch = statistics.median(middle) if middle else 0.0
    finish = max(0.0, gaps[-1] - per_epoch) if completed and len(rows) > 1 else (
        max(0.0, gaps[-1]) if completed else 0.0)
    total = walls[-1] if walls else 0.0
    between = max(0.0, total - sum(train) - sum(evals) - finish)
    return {"epochs": float(len(rows)), "images": float(round(sum(images))),
            "train_s": sum(train), "eval_s": sum(evals), "finish_s": finish,
            "between_epochs_s": between, "trial_s": total}


def arm_metrics(timings: list[dict[str, float]], c: int, wall_s: float, ray_start_s: float,
                data_load_s: float, alone_ips: float) -> dict[str, Any]:
    """Efficiencies and the slot-second split of one sweep arm (see the module docstring)."""
    images = sum(t["images"] for t in timings)
    train_s = sum(t["train_s"] for t in timings)
    slot_s = c * wall_s
    pooled = images / train_s if train_s > 0 else 0.0  # per-trial images/s while training
    aggregate = c * pooled
    parts = {"ray_start": c * ray_start_s, "data_load": c * data_load_s,
             "eval": sum(t["eval_s"] for t in timings),
             "finish": sum(t["finish_s"] for t in timings),
             "between_epochs": sum(t["between_epochs_s"] for t in timings)}
    outside = max(0.0, slot_s - train_s)
    parts["rest"] = outside - sum(parts.values())  # may be slightly < 0 if estimates overlap
    share = {k: (v / slot_s if slot_s > 0 else 0.0) for k, v in parts.items()}
    return {
        "trials": len(timings), "slots": c, "epochs": sum(t["epochs"] for t in timings),
        "images": images, "train_s": train_s, "wall_s": wall_s,
        "per_trial_images_per_s": pooled, "aggregate_train_images_per_s": aggregate,
        "end_to_end_images_per_s": images / wall_s if wall_s > 0 else 0.0,
        "training_efficiency": aggregate / alone_ips if alone_ips > 0 else 0.0,
        "end_to_end_efficiency": (images / wall_s / alone_ips) if wall_s > 0 and alone_ips > 0
        else 0.0,
        "outside_training_share": outside / slot_s if slot_s > 0 else 0.0,
        "outside_parts_share": share,
    }


def best_trial(trials: list[dict[str, Any]], metric: str = "val_psnr",
               mode: str = "max") -> dict[str, Any] | None:
    """The trials.parquet row with the best final ``metric.<metric>`` (None if no trial has it)."""
    key = f"metric.{metric}"
    scored = [t for t in trials if t.get(key) is not None and math.isfinite(t[key])]
    if not scored:
        return None
    return (max if mode == "max" else min)(scored, key=lambda t: t[key])


def asha_vs_fifo(fifo: dict[str, Any], asha: dict[str, Any], axis: str = "lr",
                 metric: str = "val_psnr", tolerance_db: float = SAME_BEST_DB) -> dict[str, Any]:
    """Epochs, train seconds and wall time of the two arms; the best result of each; what ASHA
    saved.  ``fifo`` / ``asha``: {"trials": trials.parquet rows, "epochs": .., "train_s": ..,
    "wall_s": ..}."""
    bf, ba = best_trial(fifo["trials"], metric), best_trial(asha["trials"], metric)
    key, cfg = f"metric.{metric}", f"config.{axis}"
    out = {"fifo_epochs": fifo["epochs"], "asha_epochs": asha["epochs"],
           "fifo_train_s": fifo["train_s"], "asha_train_s": asha["train_s"],
           "fifo_wall_s": fifo["wall_s"], "asha_wall_s": asha["wall_s"],
           "fifo_best": bf[key] if bf else None, "asha_best": ba[key] if ba else None,
           "fifo_best_config": bf.get(cfg) if bf else None,
           "asha_best_config": ba.get(cfg) if ba else None,
           "asha_stopped": sum(1 for t in asha["trials"] if t.get("status") == "stopped"),
           "asha_trials": len(asha["trials"])}
    out["same_best"] = bool(bf and ba and abs(bf[key] - ba[key]) <= tolerance_db)
    out["best_gap_db"] = (ba[key] - bf[key]) if bf and ba else None

    def saved(a: float, f: float) -> float:
        return 1.0 - a / f if f > 0 else 0.0

    out["epochs_saved"] = saved(asha["epochs"], fifo["epochs"])
    out["train_s_saved"] = saved(asha["train_s"], fifo["train_s"])
    out["wall_saved"] = saved(asha["wall_s"], fifo["wall_s"])
    return out


def finished_trials(trials: list[dict[str, Any]]) -> int:
    """Trials that ran to their end (completed, or diverged on the way): what a cut arm's note
    counts; one the time budget stopped is not among them."""
    return sum(1 for t in trials if t.get("status") in ("completed", "diverged"))


def failures(arms: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The trials that make the benchmark fail: errored ones, and unfinished ones of an arm
    that was not cut by its time budget (run_arm refuses those already).  A cut arm's
    pending/running trials are what the cut means: its table says so, it is no failure."""
    out = []
    for arm in arms:
        for t in arm["trials"]:
            if t["status"] == "errored" or (t["status"] in ("running", "pending")
                                            and not arm.get("cut")):
                out.append(t)
    return out


def _fmt(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value, spec)


def format_table(result: dict[str, Any]) -> str:
    """The printed report: setup, alone baseline, the arms, the overhead split, ASHA vs FIFO."""
    s, alone, arms = result["setup"], result["alone"], result["arms"]
    lines = [
        f"Sweep scheduling benchmark: {s['preset']} preset, {s['dataset']} "
        f"({s['train_subset']} train / {s['test_subset']} test images), {s['epochs']} epochs, "
        f"lr grid {s['lrs']} x seeds {s['seeds']}",
        f"machine: {s['cpus']} CPUs, {s['cpus_per_trial']:g} CPU per trial; load average "
        f"{_fmt(s['load_start'], '.2f')} at start, {_fmt(s.get('load_end'), '.2f')} at end",
        f"one trial alone (threads={alone['threads']}, nice {alone.get('niceness', 0)} as Ray's "
        f"workers): {_fmt(alone['images_per_s'], '.1f')} "
        f"train images/s (before {_fmt(alone['before'], '.1f')}, after "
        f"{_fmt(alone.get('after'), '.1f')})",
        "",
    ]
    head = (f"{'arm':<15} {'trials':>6} {'slots':>5} {'thr/trial':>9} {'epochs':>6} "
            f"{'images':>7} {'wall s':>7} {'img/s/trial':>11} {'agg img/s':>9} "
            f"{'train eff':>9} {'outside':>7} {'e2e eff':>7}")
    lines += [head, "-" * len(head)]
    cut = []
    for name, a in arms.items():
        m = a["metrics"]
        if a.get("cut"):
            done = a.get("finished_trials", finished_trials(a.get("trials", [])))
            cut.append(f"* {name}: cut at {a['time_limit_s']:.0f} s (Tune's time budget): "
                       f"{done}/{a.get('planned_trials', m['trials'])} trials finished; its "
                       f"rates come from the {m['epochs']:.0f} epochs that finished")
            name += "*"
        lines.append(
            f"{name:<15} {m['trials']:>6d} {m['slots']:>5d} {a['threads_per_trial']:>9d} "
            f"{m['epochs']:>6.0f} {m['images']:>7.0f} {m['wall_s']:>7.1f} "
            f"{m['per_trial_images_per_s']:>11.1f} {m['aggregate_train_images_per_s']:>9.1f} "
            f"{m['training_efficiency']:>9.2f} {m['outside_training_share']:>7.1%} "
            f"{m['end_to_end_efficiency']:>7.2f}")
    lines += cut
    main = arms.get("fifo")
    if main:
        m = main["metrics"]
        ok = "meets" if m["training_efficiency"] >= TARGET else "MISSES"
        e2e_ok = "meets" if m["end_to_end_efficiency"] >= E2E_TARGET else "MISSES"
        lines += ["", f"training efficiency (fifo, automatic threads): "
                      f"{m['training_efficiency']:.2f} ({ok} the {TARGET} target)",
                  f"end-to-end efficiency (fifo): {m['end_to_end_efficiency']:.2f} ({e2e_ok} "
                  f"the {E2E_TARGET} target)"]
        fresh = arms.get("fresh_workers")
        if fresh:
            f = fresh["metrics"]
            lines.append(
                f"worker reuse (fifo) vs a process per trial (fresh_workers): wall "
                f"{m['wall_s']:.1f} vs {f['wall_s']:.1f} s ({_less(1 - m['wall_s'] / f['wall_s'])}"
                f"), outside training {m['outside_training_share']:.1%} vs "
                f"{f['outside_training_share']:.1%}, end-to-end efficiency "
                f"{m['end_to_end_efficiency']:.2f} vs {f['end_to_end_efficiency']:.2f}")
        trap = arms.get("oversubscribed")
        if trap and trap["metrics"]["epochs"] == 0:
            lines.append(f"{trap['threads_per_trial']} threads per trial: no epoch finished "
                         f"within {trap['metrics']['wall_s']:.0f} s")
        elif trap and trap["metrics"]["aggregate_train_images_per_s"] > 0:
            ratio = (m["aggregate_train_images_per_s"]
                     / trap["metrics"]["aggregate_train_images_per_s"])
            lines.append(f"automatic threads vs {trap['threads_per_trial']} threads per trial: "
                         f"{ratio:.2f}x the training throughput")
        lines += ["", f"wall time outside training, fifo arm (share of {m['slots']} slots x "
                      f"{m['wall_s']:.1f} s):"]
        for key, label in OVERHEAD_PARTS:
            lines.append(f"  {label:<52} {m['outside_parts_share'][key]:>6.1%}")
        lines.append(f"  {'total outside training':<52} {m['outside_training_share']:>6.1%}")
    cmp_ = result.get("asha_vs_fifo")
    if cmp_:
        lines += ["", f"ASHA vs FIFO (grace_period {ASHA['grace_period']}, reduction_factor "
                      f"{ASHA['reduction_factor']}; same lr grid and seeds):",
                  f"  {'':<5} {'epochs':>6} {'train s':>8} {'wall s':>7} {'best val_psnr':>14} "
                  f"{'best lr':>8}"]
        for arm in ("fifo", "asha"):
            lines.append(f"  {arm:<5} {cmp_[arm + '_epochs']:>6.0f} "
                         f"{cmp_[arm + '_train_s']:>8.1f} {cmp_[arm + '_wall_s']:>7.1f} "
                         f"{_fmt(cmp_[arm + '_best'], '.2f'):>14} "
                         f"{_fmt(cmp_[arm + '_best_config'], 'g'):>8}")
        lines.append("  " + asha_note(cmp_))
    if result.get("runtime_s") is not None:
        lines += ["", f"benchmark runtime: {result['runtime_s']:.0f} s"]
    return "\n".join(lines)


def _less(share: float, less: str = "less", more: str = "more") -> str:
    return f"{share:.0%} {less}" if share >= 0 else f"{-share:.0%} {more}"


def asha_note(c: dict[str, Any]) -> str:
    saved = (f"ASHA spent {_less(c['epochs_saved'], 'fewer', 'more')} epochs "
             f"({_less(c['train_s_saved'])} train time, {_less(c['wall_saved'])} wall time; "
             f"{c['asha_stopped']} of {c['asha_trials']} trials stopped early)")
    if c["same_best"]:
        return f"{saved} for the same best result ({_fmt(c['asha_best'], '.2f')} dB)."
    return (f"{saved}, but its best differs from FIFO's by {_fmt(c['best_gap_db'], '+.2f')} dB "
            f"(lr {_fmt(c['asha_best_config'], 'g')} vs {_fmt(c['fifo_best_config'], 'g')}).")


# ======================================================================================
# Running the arms

@contextlib.contextmanager
def quiet(log: Path | None) -> Iterator[None]:
    """Send this process's stdout/stderr (Tune's progress tables, Ray's logs) to ``log``."""
    if log is None:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log, "ab") as handle:
        os.dup2(handle.fileno(), 1)
        os.dup2(handle.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def load_avg() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def cuda_devices() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def trial_base(args: argparse.Namespace) -> dict[str, Any]:
    return {"preset": args.preset, "dataset": "mnist-5k", "variant": "plain",
            "epochs": args.epochs, "train_subset": args.train_subset,
            "test_subset": args.test_subset, "probe_epochs": args.probe_epochs}


def worker_niceness() -> int:
    """The nice value Ray gives its worker processes (and so every trial): 15 unless
    ``RAY_worker_niceness`` says otherwise."""
    try:
        return int(os.environ.get("RAY_worker_niceness", "15"))
    except ValueError:
        return 15


def alone_config(args: argparse.Namespace) -> dict[str, Any]:
    base = {k: v for k, v in trial_base(args).items() if k != "preset"}
    return {"preset": args.preset, **base, "lr": args.lrs[len(args.lrs) // 2],
            "seed": args.seeds[0], "threads": args.cpus, "epochs": args.alone_epochs,
            "budget_s": args.alone_budget_s}


def train_alone(config: dict[str, Any]) -> dict[str, Any]:
    """Train one TrainingRun for its epochs, or until an epoch ends past ``budget_s`` (no
    evaluation); its train images and seconds."""
    from hinr import TrainingRun, preset

    fields = dict(config)
    budget = fields.pop("budget_s", 0.0)
    exp = TrainingRun(preset(fields.pop("preset"), **fields))
    images = seconds = 0.0
    rates = []
    for _ in range(exp.cfg.epochs):
        if budget and seconds > budget:
            break
        m = exp.train_epoch()
        images += m["train_images_per_s"] * m["train_seconds"]
        seconds += m["train_seconds"]
        rates.append(m["train_images_per_s"])
    return {"images": images, "seconds": seconds, "images_per_s": images / seconds,
            "epoch_images_per_s": rates}


def measure_alone(args: argparse.Namespace) -> dict[str, Any]:
    """One trial owning every core (threads = cpus), no Ray, first epoch included as in the
    sweep's trials.  It runs in a child process at the nice value of Ray's workers, so that
    on a machine shared with other jobs it competes for the cores as a trial does (at nice 0
    it would outrank every trial and inflate the baseline)."""
    nice = worker_niceness()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--alone-child",
           json.dumps(alone_config(args))]
    preexec = (lambda: os.nice(nice)) if hasattr(os, "nice") and nice > 0 else None
    proc = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=preexec)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(ALONE_MARK)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError("the alone trial failed:\n" + proc.stderr[-3000:])
    return {**json.loads(lines[-1][len(ALONE_MARK):]), "niceness": nice}


def pooled_rate(runs: list[dict[str, float]]) -> float:
    """Images/s over several runs together (sum of images / sum of seconds)."""
    seconds = sum(r["seconds"] for r in runs)
    return sum(r["images"] for r in runs) / seconds if seconds > 0 else 0.0


def sweep_doc(args: argparse.Namespace, name: str, threads: int, scheduler: Any,
              time_limit_s: float = 0.0) -> dict:
    """The arm's sweep file as a document for sweeps.spec.parse_spec: the lr grid x seeds,
    one CPU (``--cpus-per-trial``) per trial, as many at once as the cores hold."""
    base = trial_base(args)
    if threads:
        base["threads"] = threads
    return {"name": name, "base": base, "axes": {"lr": list(args.lrs)},
            "seeds": list(args.seeds), "search": "grid", "metric": "val_psnr", "mode": "max",
            "scheduler": scheduler, "resources": {"cpus": args.cpus_per_trial, "gpus": 0},
            "budget": {"num_samples": 1,
                       "max_concurrent": max(1, int(args.cpus // args.cpus_per_trial)),
                       "time_limit_s": float(time_limit_s), "max_failures": 0}}


def gpu_share_doc(args: argparse.Namespace, k: int) -> dict:
    """``k`` trials of one lr (``k`` seeds) sharing one GPU: ``gpus: 1/k`` each, the CPUs split
    evenly, all ``k`` at once."""
    base = trial_base(args)
    return {"name": f"bench-gpu-share-{k}", "base": base,
            "axes": {"lr": [args.lrs[len(args.lrs) // 2]]}, "seeds": list(range(k)),
            "search": "grid", "metric": "val_psnr", "mode": "max", "scheduler": "fifo",
            "resources": {"cpus": args.cpus / k, "gpus": 1.0 / k},
            "budget": {"num_samples": 1, "max_concurrent": k, "time_limit_s": 0.0,
                       "max_failures": 0}}


def start_ray(cpus: int, gpus: float = 0.0) -> float:
    """Embedded Ray as sweeps.tune.run starts it, with ``cpus`` CPUs (and ``gpus`` GPUs: more than
    the machine has are logical only); seconds it took.

    ``address="local"``: always a new instance of our own (a bare ``ray.init()`` joins the
    latest ``ray start`` cluster on the machine if there is one).  A longer GCS health-check
    grace: on a machine loaded by other jobs a starved raylet otherwise gets marked dead and
    its trials killed mid-sweep (seen while developing this); it changes failure detection
    only, not how trials run."""
    import ray

    os.environ.setdefault("RAY_health_check_failure_threshold", "30")
    os.environ.setdefault("RAY_health_check_timeout_ms", "30000")
    t = time.perf_counter()
    ray.init(address="local", num_cpus=cpus, num_gpus=gpus, include_dashboard=False,
             _node_ip_address="127.0.0.1", configure_logging=False, log_to_driver=False)
    return time.perf_counter() - t


def run_arm(args: argparse.Namespace, name: str, doc: dict, work: Path, alone_ips: float,
            shared_ray_start: float | None, reuse_actors: bool = True) -> dict[str, Any]:
    """The sweep ``doc`` (``sweep_doc`` / ``gpu_share_doc``) as one arm through
    sweeps.tune.run.run_sweep, read back from its Parquet files.  With ``shared_ray_start`` None,
    Ray is started for this arm and shut down after it.  With a ``budget.time_limit_s``
    (Tune's time budget) the arm may end with trials unfinished; its rates then come from the
    epochs that finished."""
    import pyarrow.parquet as pq
    import ray

    from contract.resultsdir import trial_rows
    from sweeps.tune import cluster, run as sweeps_run
    from sweeps.spec import parse_spec

    spec = parse_spec(doc, f"<bench {name}>")
    time_limit_s = spec.budget["time_limit_s"]
    out = work / name
    log = None if args.verbose else work / f"{name}.log"
    timed: dict[str, float] = {}

    def timed_datasets(spec_):
        t = time.perf_counter()
        try:
            return cluster.shared_datasets(spec_)
        finally:
            timed["data_load_s"] = time.perf_counter() - t

    print(f"  {name}: {spec.num_trials()} trials ...", flush=True)
    with quiet(log):
        ray_start = start_ray(args.cpus) if shared_ray_start is None else shared_ray_start
        load_start = load_avg()
        t = time.perf_counter()
        try:
            sweeps_run.run_sweep(spec, out, datasets=timed_datasets, reuse_actors=reuse_actors)
        finally:
            sweep_s = time.perf_counter() - t
            if shared_ray_start is None:
                ray.shutdown()
    if not (out / "trials.parquet").exists():
        raise RuntimeError(f"the {name} sweep wrote no trials.parquet; see {log or out}")
    trials = trial_rows(out)  # checked, like every read of a trials.parquet
    epoch_rows = pq.read_table(out / "epochs").to_pylist() if (out / "epochs").is_dir() else []
    by_trial: dict[str, list[dict]] = {}
    for row in epoch_rows:
        by_trial.setdefault(row["trial_id"], []).append(row)
    timings = [trial_timings(by_trial.get(t["trial_id"], []), args.test_subset,
                             t["status"] == "completed") for t in trials
               if by_trial.get(t["trial_id"])]
    wall = ray_start + sweep_s
    c = slots(len(trials), args.cpus, spec.resources["cpus"], spec.budget["max_concurrent"],
              args.gpus, spec.resources["gpus"])
    metrics = arm_metrics(timings, c, wall, ray_start, timed.get("data_load_s", 0.0), alone_ips)
    metrics["trials"] = len(trials)  # arm_metrics counts the trials that finished an epoch
    unfinished = [t for t in trials if t["status"] in ("running", "pending")]
    missing = spec.num_trials() - len(trials)  # never started: no row at all
    # Cut by Tune's time budget: the limit was reached and trials were left unfinished (or
    # stopped: in an arm without a scheduler only the budget stops a trial).
    cut = (time_limit_s > 0 and sweep_s >= 0.9 * time_limit_s
           and (missing > 0 or finished_trials(trials) < len(trials)))
    if (unfinished or missing > 0) and not cut:
        raise RuntimeError(f"the {name} sweep did not finish ({len(unfinished)} of "
                           f"{spec.num_trials()} trials unfinished; interrupted?); see {out}")
    bad = [t for t in trials if t["status"] not in ("completed", "stopped", "running", "pending")]
    rate = (f"training efficiency {metrics['training_efficiency']:.2f}" if alone_ips > 0 else
            f"{metrics['aggregate_train_images_per_s']:.1f} train images/s together")
    print(f"  {name}: {wall:.0f} s, {metrics['epochs']:.0f} epochs, {rate}"
          + (f"; {len(bad)} trials {sorted({t['status'] for t in bad})}" if bad else "")
          + (f"; cut at {time_limit_s:.0f} s: {finished_trials(trials)}/{spec.num_trials()} "
             f"trials finished" if cut else ""), flush=True)
    keep = ("trial_id", "status", "epochs_done", "wall_seconds", "config.lr", "config.seed",
            "config.threads", "metric.val_psnr", "metric.test_psnr", "metric.latent_acc", "error")
    threads = spec.base_config.threads or max(1, int(spec.resources["cpus"]))  # as the trial sets
    return {"threads_per_trial": threads, "reuse_actors": reuse_actors,
            "resources": dict(spec.resources), "devices": sorted({str(t.get("device"))
                                                                 for t in trials}),
            "ray_start_s": ray_start, "sweep_s": sweep_s,
            "data_load_s": timed.get("data_load_s"), "load_avg_start": load_start,
            "time_limit_s": time_limit_s, "cut": cut, "planned_trials": spec.num_trials(),
            "finished_trials": finished_trials(trials), "metrics": metrics, "timings": timings,
            "trials": [{k: t.get(k) for k in keep} for t in trials]}


# ======================================================================================

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true",
                    help="tiny preset, 2 trials, 2 epochs, one Ray for all arms (for tests)")
    ap.add_argument("--preset", default="small")
    ap.add_argument("--cpus", type=int, default=os.cpu_count() or 1,
                    help="CPUs given to Ray and threads of the alone trial (default: all)")
    ap.add_argument("--cpus-per-trial", type=float, default=1.0)
    ap.add_argument("--lrs", type=float, nargs="+", default=[1e-4, 3e-4, 1e-3, 3e-3])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--alone-epochs", type=int, default=2)
    ap.add_argument("--alone-budget-s", type=float, default=45.0,
                    help="stop the alone trial after the epoch that passes this many seconds")
    ap.add_argument("--train-subset", type=int, default=500)
    ap.add_argument("--test-subset", type=int, default=100)
    ap.add_argument("--probe-epochs", type=int, default=1)
    ap.add_argument("--arms", nargs="+", default=None,
                    choices=["fifo", "fresh_workers", "oversubscribed", "asha", "gpu_share"],
                    help="default: fifo fresh_workers oversubscribed asha, and gpu_share where "
                         "CUDA is visible (--tiny: fifo asha)")
    ap.add_argument("--gpu-share", type=int, nargs="+", default=[1, 2, 4, 8],
                    help="gpu_share arm: numbers of trials sharing one GPU (gpus: 1/k each)")
    ap.add_argument("--gpus", type=float, default=None,
                    help="GPUs given to Ray (default: the CUDA devices visible).  Without CUDA, "
                         "--gpus 1 makes a logical GPU: the gpu_share arm then checks the "
                         "scheduling with trials on the CPU")
    ap.add_argument("--trap-limit-s", type=float, default=0.0,
                    help="time limit of the oversubscribed arm (default: the fifo arm's sweep "
                         "time, at least 60 s; it can be many times slower, and its rate comes "
                         "from the epochs that finish)")
    ap.add_argument("--shared-ray", action="store_true",
                    help="one Ray for all arms (default: a fresh ray.init per arm, as a user has)")
    ap.add_argument("--keep", default=None, help="keep the arms' results directories here")
    ap.add_argument("--verbose", action="store_true", help="show Tune's and Ray's output")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sweep.json"))
    ap.add_argument("--alone-child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.alone_child:
        return args
    if args.tiny:
        args.preset, args.epochs, args.alone_epochs = "tiny", 2, 1
        args.train_subset, args.test_subset, args.probe_epochs = 128, 64, 1
        args.lrs = args.lrs[-2:]
        args.shared_ray = True
    if args.gpus is None:
        args.gpus = float(cuda_devices())
    if args.arms is None:
        # --tiny leaves out the oversubscribed arm: at tiny sizes it only measures OpenMP
        # spin-waiting, and it is the slowest arm (the test must stay under a minute).
        args.arms = (["fifo", "asha"] if args.tiny
                     else ["fifo", "fresh_workers", "oversubscribed", "asha"])
        if args.gpus >= 1 and not args.tiny:
            args.arms.append("gpu_share")
    if "gpu_share" in args.arms:
        if args.gpus < 1:
            ap.error("the gpu_share arm needs a GPU: none is visible; --gpus 1 gives Ray a "
                     "logical one (trials then run on the CPU: a check of the scheduling only)")
        if not args.gpu_share or min(args.gpu_share) < 1:
            ap.error("--gpu-share: allowed integers >= 1 (trials sharing one GPU)")
    if args.cpus < 1 or args.cpus_per_trial <= 0 or args.cpus_per_trial > args.cpus:
        ap.error("need cpus >= 1 and 0 < cpus-per-trial <= cpus")
    return args


def run_gpu_share(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    """For each k of ``--gpu-share``: k trials sharing one GPU (``gpus: 1/k``), all at once,
    on one embedded Ray with ``--gpus`` GPUs; their combined training images/s against the
    first k's (normally 1: one trial alone on the GPU)."""
    import ray

    out = []
    with quiet(None if args.verbose else work / "ray-gpu.log"):
        ray_start = start_ray(args.cpus, args.gpus)
    try:
        for k in args.gpu_share:
            arm = run_arm(args, f"gpu_share_{k}", gpu_share_doc(args, k), work, 0.0, ray_start)
            out.append({"trials_per_gpu": k, **arm})
    finally:
        ray.shutdown()
    base = out[0]["metrics"]["aggregate_train_images_per_s"] if out else 0.0
    for row in out:
        agg = row["metrics"]["aggregate_train_images_per_s"]
        row["vs_first"] = agg / base if base > 0 else 0.0
    return out


def format_gpu_share(rows: list[dict[str, Any]], setup: dict[str, Any]) -> str:
    first = rows[0]["trials_per_gpu"]
    lines = [f"GPU sharing: k {setup['preset']} trials on one GPU at once (gpus 1/k, the CPUs "
             f"split evenly; {setup['train_subset']} images x {setup['epochs']} epochs each)",
             f"  {'trials/GPU':>10} {'gpus/trial':>10} {'cpus/trial':>10} {'device':>7} "
             f"{'img/s/trial':>11} {'agg img/s':>9} {'x ' + str(first) + ' trial':>10}"]
    for r in rows:
        m = r["metrics"]
        lines.append(f"  {r['trials_per_gpu']:>10d} {r['resources']['gpus']:>10.3g} "
                     f"{r['resources']['cpus']:>10.3g} {','.join(r['devices']):>7} "
                     f"{m['per_trial_images_per_s']:>11.1f} "
                     f"{m['aggregate_train_images_per_s']:>9.1f} {r['vs_first']:>10.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.alone_child:  # the child process of measure_alone
        print(ALONE_MARK + json.dumps(train_alone(json.loads(args.alone_child))), flush=True)
        return 0
    t0 = time.perf_counter()
    # First, before anything here imports Ray: it reads its settings once, at import.
    from sweeps import rayenv
    rayenv.configure()

    setup = {"preset": args.preset, "dataset": "mnist-5k", "train_subset": args.train_subset,
             "test_subset": args.test_subset, "epochs": args.epochs,
             "probe_epochs": args.probe_epochs, "lrs": args.lrs, "seeds": args.seeds,
             "cpus": args.cpus, "cpus_per_trial": args.cpus_per_trial, "gpus": args.gpus,
             "load_start": load_avg(), "host": platform.node(), "tiny": args.tiny}
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="hinr-bench-sweep-"))
    if args.keep and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    cpu_arms = [a for a in args.arms if a != "gpu_share"]
    alone: dict[str, Any] = {}
    if cpu_arms:
        print(f"load average {_fmt(setup['load_start'], '.2f')} on {args.cpus} CPUs; "
              f"one trial alone ({args.cpus} threads, nice {worker_niceness()}) ...", flush=True)
        before = measure_alone(args)
        alone = {"threads": args.cpus, "niceness": before["niceness"],
                 "before": before["images_per_s"], "images_per_s": before["images_per_s"],
                 "epoch_images_per_s": before["epoch_images_per_s"]}
    arms: dict[str, Any] = {}
    gpu_share: list[dict[str, Any]] = []
    shared: float | None = None
    finished = False
    try:
        if args.shared_ray and cpu_arms:
            with quiet(None if args.verbose else work / "ray.log"):
                shared = start_ray(args.cpus)
        # (threads per trial, scheduler, a worker process reused across trials)
        plan = {"fifo": (0, "fifo", True), "fresh_workers": (0, "fifo", False),
                "oversubscribed": (args.cpus, "fifo", True), "asha": (0, ASHA, True)}
        for name in cpu_arms:
            threads, scheduler, reuse = plan[name]
            limit = 0.0
            if name == "oversubscribed":
                limit = args.trap_limit_s or (max(60.0, arms["fifo"]["sweep_s"])
                                              if "fifo" in arms else 0.0)
            doc = sweep_doc(args, f"bench-{name}", threads, scheduler, limit)
            arms[name] = run_arm(args, name, doc, work, alone["images_per_s"], shared, reuse)
        if shared is not None:  # the gpu_share arm starts a Ray of its own, with GPUs
            import ray
            ray.shutdown()
        if "gpu_share" in args.arms:
            print(f"  GPU sharing: {args.gpu_share} trials on one of {args.gpus:g} GPUs ...",
                  flush=True)
            gpu_share = run_gpu_share(args, work)
        finished = True
    finally:
        import ray
        if ray.is_initialized():
            ray.shutdown()
        if not args.keep and finished:
            shutil.rmtree(work, ignore_errors=True)
        elif not finished:
            print(f"stopped early; logs and results are in {work}", file=sys.stderr)
    if cpu_arms and not args.tiny:  # --tiny skips the second alone run (the test's seconds)
        after = measure_alone(args)
        alone.update(after=after["images_per_s"], images_per_s=pooled_rate([before, after]),
                     epoch_images_per_s=before["epoch_images_per_s"] + after["epoch_images_per_s"])
    # Re-rate every arm against both alone runs together (they bracket the sweeps in time).
    for arm in arms.values():
        m = arm["metrics"]
        m["training_efficiency"] = m["aggregate_train_images_per_s"] / alone["images_per_s"]
        m["end_to_end_efficiency"] = m["end_to_end_images_per_s"] / alone["images_per_s"]
    setup["load_end"] = load_avg()
    result: dict[str, Any] = {"setup": setup, "alone": alone, "arms": arms}
    if "fifo" in arms and "asha" in arms:
        def summary(a):
            return {"trials": a["trials"], "epochs": a["metrics"]["epochs"],
                    "train_s": a["metrics"]["train_s"], "wall_s": a["metrics"]["wall_s"]}
        result["asha_vs_fifo"] = asha_vs_fifo(summary(arms["fifo"]), summary(arms["asha"]))
    if gpu_share:
        result["gpu_share"] = gpu_share
    result["runtime_s"] = time.perf_counter() - t0
    if "fifo" in arms:
        result["training_efficiency"] = arms["fifo"]["metrics"]["training_efficiency"]
        result["meets_target"] = result["training_efficiency"] >= TARGET
    print()
    if arms:
        print(format_table(result))
    if gpu_share:
        print("\n" + format_gpu_share(gpu_share, setup))
        if not any("cuda" in d for r in gpu_share for d in r["devices"]):
            print("  (no CUDA device: the GPUs were Ray's logical ones and the trials ran on the "
                  "CPU; this checks the scheduling, not GPU throughput)")
    if not arms:
        print(f"\nbenchmark runtime: {result['runtime_s']:.0f} s")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    print(f"\nwrote {out}")
    failed = failures([*arms.values(), *gpu_share])
    if failed:
        print(f"{len(failed)} trials failed: "
              + "; ".join(f"{t['trial_id']} {t['status']}: {t.get('error') or '-'}"
                          for t in failed[:5]), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
