"""How far does one driver go?  The real pipeline at 1,000 / 3,000 / 10,000 trials, no training.

For each trial count N, a child process runs one sweep through the real pipeline: a sweep
document -> ``sweeps.spec.parse_spec`` -> ``sweeps.tune.run.run_sweep`` (Ray Tune, the
``ParquetResults`` writer, the progress reporter, experiment-state snapshots) ->
``analysis.load_results`` + every table the report prints (``analysis.tables.all_tables``).
Only the trainable is swapped (``run_sweep(trainable_fn=...)``): ``noop_trial`` reports
``--epochs`` epochs of realistic metrics (the names and magnitudes a real trial reports, from
``benchmarks/analysis_load.trial_numbers``; the finish() metrics with the last epoch) as fast
as Tune takes them, so the driver, not training, sets the pace.  With ``--checkpoints`` (the
default, as real trials do) every report carries a small checkpoint.

The cluster is simulated with logical resources: one embedded Ray started with ``--cpus``
logical CPUs (default 128, i.e. 16 nodes x 8 CPUs) and ``--cpus-per-trial`` CPUs per trial
(default 8): 16 trials at once, each in its own actor process as in a real sweep.  The
processes are real, so on a small machine the trial processes compete with the driver for
the cores: the load average is printed and stored.

Measured per N (the driver is the child process; its numbers are its own):

* driver CPU seconds (``time.process_time``, all its threads) per trial and per result;
* peak driver RSS (``ru_maxrss`` of the child);
* the Parquet writer (``ParquetResults.stats``): seconds inside its Tune hooks (the time it
  holds Tune's event loop; the goal is < 5% of the driver's wall time), and the count, total
  and slowest of the trials.parquet and epochs/ writes;
* Tune's experiment-state snapshots: count and seconds, from Tune's own debug log line
  ("Experiment state snapshotting took X seconds");
* the analysis: ``load_results`` + all report tables, and reading every epoch row;
* results per second the driver absorbed (results / sweep wall time).

Then a growth table: each measure at every N, the ratios between successive N and the
exponent k of a least-squares fit measure ~ N^k (k = 1: linear; k = 2: quadratic).

    python benchmarks/scale.py                                  # 1000,3000 x 20 epochs
    python benchmarks/scale.py --trials 1000,3000,10000 --epochs 20
    python benchmarks/scale.py --tiny                           # 16 trials x 3 epochs (tests)
    python benchmarks/scale.py --replay --trials 1000,3000,10000  # the writer alone, no Ray

Writes benchmarks/results/scale.json (``--out``).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from sweeps import rayenv  # noqa: E402 - os.environ only, no Ray

rayenv.configure()  # Ray's settings, before anything here imports ray (sweeps/rayenv.py)
from sweeps.spec import CHECKPOINTS_KEPT  # noqa: E402
from sweeps.specsections import CHECKPOINT_EVERY_S  # noqa: E402

CHILD_MARK = "SCALE "
# Whether the no-op trials checkpoint; Ray's trial processes inherit the driver's environment.
CHECKPOINTS_ENV = "HINR_SCALE_CHECKPOINTS"
# The finish() metrics a completed trial adds beyond analysis_load's FINAL_METRICS.
FINISH_EXTRA = {"latent_probe_standardized": 1.0, "proto_ratio": 0.8, "proto_closer_frac": 0.7}
# Grid factors (real TrainingConfig fields); seeds make up the trial count.
FACTORS = ("a2", "cls_weight")
LEVELS = {"a2": [0.0, 0.1, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0],
          "cls_weight": [0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0]}
# Measures of the growth table: (key in a run's record, label).
GROWTH = (("wall_s", "sweep wall s"),
          ("driver_cpu_s", "driver CPU s"),
          ("peak_rss_mb", "peak driver RSS MB"),
          ("writer_hook_s", "Parquet writer s (in hooks)"),
          ("trials_write_mean_s", "one trials.parquet write s"),
          ("trials_write_s", "trials.parquet writes s"),
          ("epoch_write_s", "epochs/ writes s"),
          ("tune_snapshot_s", "Tune state snapshots s"),
          ("analysis_s", "analysis load + tables s"),
          ("epochs_read_s", "read all epoch rows s"))


# ======================================================================================
# The no-op trainable (runs in Ray's trial processes: no torch, no hinr)

def noop_trial(config: dict[str, Any], data: Any = None, results_dir: str | None = None,
               objectives: dict[str, str] | None = None, checkpoint_every_s: float = 0.0,
               varying: list[str] | None = None) -> None:
    """Report ``config["epochs"]`` epochs of a real trial's metrics, without training; a
    checkpoint goes with the reports a real trial's would (``sweeps.trial.CheckpointClock``)."""
    import ray
    from ray import tune

    from benchmarks.analysis_load import trial_numbers
    from sweeps.trial import CheckpointClock

    epochs = int(config.get("epochs", 1))
    factors = {"a1": 0.1, "a2": 100.0, "inr_depth": 4, "latent_dim": 64, **config}
    ctx = tune.get_context()
    index = zlib.crc32(ctx.get_trial_id().encode())
    cols, final, _ = trial_numbers(index, factors, epochs)
    node = f"{ray.util.get_node_ip_address()}/{ray.get_runtime_context().get_node_id()[:12]}"
    checkpoints = os.environ.get(CHECKPOINTS_ENV, "1") == "1"
    clock = CheckpointClock(checkpoint_every_s)
    seconds = 0.0
    for i in range(epochs):
        seconds += float(cols["train_seconds"][i])
        last = i == epochs - 1
        metrics = {k: float(v[i]) for k, v in cols.items()}
        if last:
            metrics.update({**final, **FINISH_EXTRA})
        metrics.update(epoch=float(i + 1), trial_seconds=seconds, device="cpu",
                       node=node, status="completed" if last else "running")
        if not checkpoints or not clock.due(last_epoch=last):
            tune.report(metrics)
            continue
        with tempfile.TemporaryDirectory() as directory:
            Path(directory, "state.txt").write_text(str(i + 1))  # a real trial's is state.pt
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))


# ======================================================================================
# Pure helpers (tests/test_scale.py)

def grid_shape(trials: int) -> tuple[int, int]:
    """(levels per factor, seeds) so that levels^2 x seeds = trials: 10 levels when trials is
    a multiple of 100, else 5 (multiples of 25) or 4 (multiples of 16)."""
    for levels in (10, 5, 4):
        if trials % (levels * levels) == 0 and trials > 0:
            return levels, trials // (levels * levels)
    raise ValueError(f"--trials: {trials}: allowed multiples of 100 (or of 25 or 16)")


def sweep_doc(trials: int, epochs: int, cpus_per_trial: float,
              checkpoint_every_s: float = CHECKPOINT_EVERY_S) -> dict:
    levels, seeds = grid_shape(trials)
    return {"name": f"scale-{trials}",
            "base": {"preset": "tiny", "dataset": "mnist-5k", "epochs": epochs,
                     "train_subset": 64, "test_subset": 32},
            "axes": {f: LEVELS[f][:levels] for f in FACTORS}, "seeds": list(range(seeds)),
            "search": "grid", "metric": "val_psnr", "mode": "max", "scheduler": "fifo",
            "resources": {"cpus": cpus_per_trial, "gpus": 0},
            "budget": {"num_samples": 1, "max_concurrent": 0, "time_limit_s": 0.0,
                       "max_failures": 0, "checkpoint_every_s": checkpoint_every_s}}


def fit_exponent(ns: list[float], values: list[float]) -> float | None:
    """k of the least-squares fit log(value) = k log(n) + c; None with < 2 positive points."""
    pts = [(math.log(n), math.log(v)) for n, v in zip(ns, values) if n > 0 and v and v > 0]
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sxx if sxx > 0 else None


def _fmt(value: Any, spec: str = ".3g") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value, spec)


def format_tables(result: dict[str, Any]) -> str:
    runs = result["runs"]
    s = result["setup"]
    ns = [r["trials"] for r in runs]
    if s.get("replay"):
        what = (f"Writer replay: ParquetResults fed a FIFO sweep's hook calls ({s['concurrent']} "
                f"trials at once, {s['epochs']} epochs each; no Ray), then analysis")
    else:
        what = (f"Driver scale benchmark: no-op trials x {s['epochs']} epochs through run_sweep "
                f"-> ParquetResults -> analysis; {s['cpus']} logical CPUs, "
                f"{s['cpus_per_trial']:g} per trial "
                f"({s['cpus'] // max(1, int(s['cpus_per_trial']))} at once), checkpoints "
                + (f"every {s.get('checkpoint_every_s', 0):g} s and at the end, "
                   f"{s.get('checkpoints_kept', 1)} kept" if s["checkpoints"] else "off"))
    lines = [f"{what}; {s['host_cpus']} real cores, load average "
             f"{_fmt(s['load_start'], '.2f')} at start, {_fmt(s.get('load_end'), '.2f')} at end",
             ""]
    head = (f"{'trials':>7} {'results':>8} {'wall s':>8} {'drv CPU s':>9} {'CPU ms/trial':>12} "
            f"{'CPU ms/result':>13} {'results/s':>9} {'RSS MB':>7} {'writer %':>8} "
            f"{'snapshots':>9} {'analysis s':>10} {'load':>5}")
    lines += [head, "-" * len(head)]
    for r in runs:
        lines.append(
            f"{r['trials']:>7d} {r['results']:>8d} {r['wall_s']:>8.1f} {r['driver_cpu_s']:>9.1f} "
            f"{1e3 * r['driver_cpu_s'] / r['trials']:>12.1f} "
            f"{1e3 * r['driver_cpu_s'] / max(1, r['results']):>13.2f} "
            f"{r['results_per_s']:>9.1f} {r['peak_rss_mb']:>7.0f} {r['writer_share']:>8.1%} "
            f"{r['tune_snapshots']:>9d} {r['analysis_s']:>10.2f} {_fmt(r.get('load_avg'), '.1f'):>5}")
    lines += ["", "writer % = seconds inside ParquetResults' Tune hooks / sweep wall time "
                  "(goal < 5%)", ""]
    if len(runs) > 1:
        ratio_heads = [f"x{ns[i + 1] / ns[i]:g} ({ns[i]}->{ns[i + 1]})" for i in range(len(ns) - 1)]
        head = (f"{'growth':<30} " + " ".join(f"{n:>9d}" for n in ns) + " "
                + " ".join(f"{h:>18}" for h in ratio_heads) + f" {'exponent':>8}")
        lines += [head, "-" * len(head)]
        for key, label in GROWTH:
            vals = [r.get(key) for r in runs]
            ratios = [(_fmt(b / a, ".2f") if a and b is not None else "-")
                      for a, b in zip(vals, vals[1:])]
            lines.append(f"{label:<30} " + " ".join(f"{_fmt(v):>9}" for v in vals) + " "
                         + " ".join(f"{x:>18}" for x in ratios) + " "
                         + f"{_fmt(result['exponents'].get(key), '.2f'):>8}")
        lines += ["", "exponent k of a fit measure ~ trials^k: 1 linear, 2 quadratic"]
    return "\n".join(lines)


# ======================================================================================
# --replay: the writer alone, fed the hook calls a FIFO sweep makes (no Ray, no trial processes)

def replay_one(trials: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Call ``ParquetResults``' hooks as Tune does for a FIFO sweep of ``trials`` trials,
    ``--concurrent`` at once, each reporting ``--epochs`` epochs round-robin, with real Tune
    ``Trial`` objects (stubs: no trainable registered) and the metrics ``noop_trial`` reports.
    It isolates the writer's own growth in seconds where the real pipeline, which starts a
    process per trial, would take hours on a small machine; the hook time is measured here,
    around each call, so it times any version of the writer the same way."""
    from ray.tune.experiment import Trial

    from benchmarks.analysis_load import trial_numbers
    from sweeps.spec import parse_spec
    from sweeps.sweepdoc import write_spec
    from sweeps.tune.results import ParquetResults
    from sweeps.trial import CheckpointClock

    spec = parse_spec(sweep_doc(trials, args.epochs, args.cpus_per_trial,
                                args.checkpoint_every_s), f"<scale {trials}>")
    out = work / f"replay-{trials}"
    write_spec(spec, out, ["benchmarks/scale.py", "--replay"])
    writer = ParquetResults(str(out), spec.name)
    writer.setup()
    seeds, levels = spec.seeds, grid_shape(trials)[0]
    configs = [{"preset": spec.preset, **spec.base, "a2": LEVELS["a2"][i % levels],
                "cls_weight": LEVELS["cls_weight"][(i // levels) % levels],
                "seed": seeds[i // (levels * levels)]} for i in range(trials)]
    hook_s = 0.0
    calls = 0

    def call(hook, *a, **kw):
        nonlocal hook_s, calls
        t = time.perf_counter()
        hook(*a, **kw)
        hook_s += time.perf_counter() - t
        calls += 1

    pending = list(range(trials))
    running: dict[int, tuple[Any, dict, dict, int]] = {}
    everyone: list[Any] = []
    cpu0, t0 = time.process_time(), time.perf_counter()
    step = 0
    while pending or running:
        while pending and len(running) < args.concurrent:
            i = pending.pop(0)
            trial = Trial("noop", config=configs[i], trial_id=f"{i:05d}", stub=True)
            everyone.append(trial)
            cols, final, _ = trial_numbers(i, {"a1": 0.1, "inr_depth": 4, "latent_dim": 64,
                                               **configs[i]}, args.epochs)
            running[i] = (trial, cols, final, 0, CheckpointClock(args.checkpoint_every_s))
            call(writer.on_trial_start, step, everyone, trial)
        for i in list(running):
            trial, cols, final, done, clock = running[i]
            metrics = {k: float(v[done]) for k, v in cols.items()}
            last = done + 1 == args.epochs
            if last:
                metrics.update({**final, **FINISH_EXTRA})
            metrics.update(epoch=float(done + 1), trial_seconds=float(done + 1), device="cpu",
                           node="127.0.0.1/replay", status="completed" if last else "running")
            call(writer.on_trial_result, step, everyone, trial, metrics)
            if args.checkpoints and clock.due(last_epoch=last) and hasattr(writer,
                                                                           "on_checkpoint"):
                call(writer.on_checkpoint, step, everyone, trial, None)  # Tune's order
            if last:
                call(writer.on_trial_complete, step, everyone, trial)
                del running[i]
            else:
                running[i] = (trial, cols, final, done + 1, clock)
            step += 1
            if hasattr(writer, "on_step_end"):
                call(writer.on_step_end, step, everyone)
    call(writer.on_experiment_end, everyone)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    st = dict(getattr(writer, "stats", {}))
    record = {"trials": trials, "epochs": args.epochs, "results": trials * args.epochs,
              "statuses": {}, "wall_s": wall, "driver_cpu_s": cpu,
              "results_per_s": trials * args.epochs / wall if wall > 0 else 0.0,
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "writer_hook_s": hook_s, "writer_calls": calls,
              "writer_share": hook_s / wall if wall else 0.0, "writer_stats": st,
              "trials_write_s": st.get("trials_write_s"),
              "trials_writes": int(st.get("trials_writes", 0)),
              "trials_write_mean_s": (st["trials_write_s"] / max(1, st["trials_writes"])
                                      if st else None),
              "epoch_write_s": st.get("epoch_write_s"),
              "epoch_writes": int(st.get("epoch_writes", 0)),
              "tune_snapshots": 0, "tune_snapshot_s": None, "load_avg": None}
    record.update(analyse(out))
    record["statuses"] = record.pop("_statuses")
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)
    return record


def analyse(out: Path) -> dict[str, Any]:
    """analysis.load_results + every report table, then every epoch row: seconds and sizes."""
    from analysis import load_results
    from analysis.tables import all_tables

    t = time.perf_counter()
    results = load_results(out)
    tables = all_tables(results)
    analysis_s = time.perf_counter() - t
    t = time.perf_counter()
    epochs = results.epochs
    epochs_read_s = time.perf_counter() - t
    statuses = results.trials["status"].value_counts().to_dict()
    return {"analysis_s": analysis_s, "epochs_read_s": epochs_read_s,
            "epoch_rows": int(len(epochs)),
            "table_rows": {k: int(len(v)) for k, v in tables.items()},
            "problems": list(results.problems),
            "_statuses": {str(k): int(v) for k, v in statuses.items()}}


# ======================================================================================
# One run (in a child process, so that its peak RSS and Ray are its own)

class SnapshotLog(logging.Handler):
    """Tune's experiment-state snapshot times, from its debug line (no patching of Tune)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.times: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if msg.startswith("Experiment state snapshotting took"):
            try:
                self.times.append(float(msg.split()[4]))
            except (IndexError, ValueError):
                pass


def run_one(trials: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from benchmarks.sweep import load_avg, quiet, start_ray
    from sweeps.spec import parse_spec
    from sweeps.sweepdoc import write_spec
    from sweeps.tune import run as sweeps_run
    from sweeps.tune.results import ParquetResults

    spec = parse_spec(sweep_doc(trials, args.epochs, args.cpus_per_trial,
                                args.checkpoint_every_s), f"<scale {trials}>")
    os.environ[CHECKPOINTS_ENV] = "1" if args.checkpoints else "0"  # before Ray starts
    out = work / f"scale-{trials}"
    snapshots = SnapshotLog()
    tune_log = logging.getLogger("ray.tune.execution.experiment_state")
    tune_log.setLevel(logging.DEBUG)
    tune_log.addHandler(snapshots)
    writer = ParquetResults(str(out), spec.name)
    write_spec(spec, out, ["benchmarks/scale.py", "--child", str(trials)])
    load0 = load_avg()
    with quiet(None if args.verbose else work / f"scale-{trials}.log"):
        ray_start = start_ray(args.cpus)
        cpu0, t0 = time.process_time(), time.perf_counter()
        try:
            sweeps_run.run_sweep(spec, out, trainable_fn=noop_trial, writer=writer,
                                 checkpoints_kept=args.checkpoints_kept)
        finally:
            wall = time.perf_counter() - t0
            cpu = time.process_time() - cpu0
            import ray
            ray.shutdown()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    read = analyse(out)
    st = writer.stats
    record = {
        "trials": trials, "epochs": args.epochs, "results": read["epoch_rows"],
        "statuses": read.pop("_statuses"),
        "ray_start_s": ray_start, "wall_s": wall, "driver_cpu_s": cpu,
        "results_per_s": read["epoch_rows"] / wall if wall > 0 else 0.0, "peak_rss_mb": peak,
        "writer_hook_s": st["hook_s"], "writer_share": st["hook_s"] / wall if wall else 0.0,
        "writer_stats": dict(st),
        "trials_write_s": st["trials_write_s"], "trials_writes": int(st["trials_writes"]),
        "trials_write_mean_s": st["trials_write_s"] / max(1, st["trials_writes"]),
        "epoch_write_s": st["epoch_write_s"], "epoch_writes": int(st["epoch_writes"]),
        "tune_snapshots": len(snapshots.times), "tune_snapshot_s": sum(snapshots.times),
        "tune_snapshot_max_s": max(snapshots.times, default=0.0),
        "load_avg": load0, **read}
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)
    return record


def run_child(trials: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(trials),
           "--epochs", str(args.epochs), "--cpus", str(args.cpus),
           "--cpus-per-trial", str(args.cpus_per_trial), "--work", str(work)]
    cmd += ["--checkpoint-every-s", str(args.checkpoint_every_s),
            "--checkpoints-kept", str(args.checkpoints_kept)]
    cmd += ([] if args.checkpoints else ["--no-checkpoints"]) + (["--keep"] if args.keep else [])
    cmd += ["--verbose"] if args.verbose else []
    cmd += ["--replay", "--concurrent", str(args.concurrent)] if args.replay else []
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(CHILD_MARK)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"the {trials}-trial run failed (logs in {work}):\n"
                           + proc.stderr[-3000:] + proc.stdout[-2000:])
    return json.loads(lines[-1][len(CHILD_MARK):])


# ======================================================================================

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", default="1000,3000",
                    help="comma-separated trial counts, multiples of 100, 25 or 16 "
                         "(default 1000,3000)")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--cpus", type=int, default=128, help="logical CPUs given to Ray")
    ap.add_argument("--cpus-per-trial", type=float, default=8.0)
    ap.add_argument("--no-checkpoints", dest="checkpoints", action="store_false",
                    help="report without a checkpoint (default: one per epoch, as real trials)")
    ap.add_argument("--checkpoint-every-s", type=float, default=CHECKPOINT_EVERY_S,
                    help="the sweep's budget.checkpoint_every_s (default %(default)g; 0: a "
                         "checkpoint every epoch, as before it existed)")
    ap.add_argument("--checkpoints-kept", type=int, default=CHECKPOINTS_KEPT,
                    help="Tune's num_to_keep (default %(default)d, sweeps.spec.CHECKPOINTS_KEPT; "
                         "1 was the setting before)")
    ap.add_argument("--replay", action="store_true",
                    help="the writer alone: ParquetResults fed a FIFO sweep's hook calls, no Ray")
    ap.add_argument("--concurrent", type=int, default=16, help="--replay: trials at once")
    ap.add_argument("--tiny", action="store_true", help="16 trials x 3 epochs (for tests)")
    ap.add_argument("--keep", action="store_true", help="keep the results directories")
    ap.add_argument("--work", default=None, help="where the results directories go")
    ap.add_argument("--verbose", action="store_true", help="show Tune's and Ray's output")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "scale.json"))
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.tiny:
        args.trials, args.epochs, args.cpus_per_trial = "16", 3, 32.0  # 4 at once
    try:
        args.counts = [int(x) for x in str(args.trials).split(",") if x.strip()]
        for n in args.counts:
            grid_shape(n)
    except ValueError as err:
        ap.error(str(err) if "allowed" in str(err) else
                 f"--trials: {args.trials}: allowed comma-separated integers")
    if args.epochs < 1 or args.cpus < 1 or not 0 < args.cpus_per_trial <= args.cpus:
        ap.error("need --epochs >= 1, --cpus >= 1 and 0 < --cpus-per-trial <= --cpus")
    if args.checkpoints_kept < 1 or not 0 <= args.checkpoint_every_s < math.inf:
        ap.error("need --checkpoints-kept >= 1 and a finite --checkpoint-every-s >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child is not None:
        record = (replay_one if args.replay else run_one)(args.child, args, Path(args.work))
        print(CHILD_MARK + json.dumps(record), flush=True)
        return 0
    from benchmarks.sweep import load_avg

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="hinr-bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    setup = {"epochs": args.epochs, "cpus": args.cpus, "cpus_per_trial": args.cpus_per_trial,
             "checkpoints": args.checkpoints, "checkpoint_every_s": args.checkpoint_every_s,
             "checkpoints_kept": args.checkpoints_kept, "host_cpus": os.cpu_count(),
             "host": platform.node(), "load_start": load_avg(), "tiny": args.tiny,
             "replay": args.replay, "concurrent": args.concurrent}
    runs = []
    t0 = time.perf_counter()
    for n in args.counts:
        print(f"  {n} trials x {args.epochs} epochs ...", flush=True)
        runs.append(run_child(n, args, work))
        r = runs[-1]
        print(f"  {n}: {r['wall_s']:.0f} s, {r['results_per_s']:.0f} results/s, writer "
              f"{r['writer_share']:.1%} of the driver's time", flush=True)
    setup["load_end"] = load_avg()
    ns = [r["trials"] for r in runs]
    result = {"setup": setup, "runs": runs, "runtime_s": time.perf_counter() - t0,
              "exponents": {key: fit_exponent(ns, [r.get(key) for r in runs])
                            for key, _ in GROWTH}}
    print()
    print(format_tables(result))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    print(f"\nwrote {out}")
    if not args.keep and not args.work:
        shutil.rmtree(work, ignore_errors=True)
    bad = [r for r in runs if set(r["statuses"]) != {"completed"}
           or r["results"] != r["trials"] * r["epochs"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
