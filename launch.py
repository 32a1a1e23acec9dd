#!/usr/bin/env python
"""hinr-sweeps command line: run, resume, inspect and report HyperINR sweeps.

Start here (the demo: a real ablation on the offline MNIST subset, about 17 minutes on 2 cores):

    python launch.py run sweeps/demo.yaml

Other commands:

    python launch.py run SWEEP.yaml [--address auto] [--results DIR] [--set key=value ...]
                                    [--max-concurrent N] [--dry-run] [--tiny] [--overwrite]
    python launch.py resume RESULTS_DIR [--address auto]
    python launch.py status RESULTS_DIR
    python launch.py report RESULTS_DIR [RESULTS_DIR ...] [-o OUT] [--format md|html|both]

Results go to results/<sweep name>/ (trials.parquet, epochs/, tb/, tune/, sweep.yaml).
TensorBoard: tensorboard --logdir results/<sweep name>/tb
One driver per results directory: run and resume refuse a directory a live driver holds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_BAD_INPUT = 2  # refused before anything ran: bad sweep file, flags or results directory
EXIT_STOPPED = 1  # a sweep that started and had to stop (results disk full, ...)
MIN_FREE_BYTES = 64 << 20  # a sweep's Parquet, checkpoints and TensorBoard need at least this


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    run.add_argument("--dry-run", action="store_true", help="print the trials and exit; writes nothing")
    run.add_argument("--gpu-tflops", type=float, default=None,
                     help="with --dry-run: sustained TFLOP/s per GPU for the GPU-hours estimate")
    run.add_argument("--tiny", action="store_true",
                     help="tiny mode: tiny preset, 1 epoch, first seed, 2 values per axis (seconds)")
    run.add_argument("--overwrite", action="store_true",
                     help="replace a results directory that holds a different sweep")

    resume = sub.add_parser("resume", help="continue an interrupted sweep")
    resume.add_argument("results_dir")
    resume.add_argument("--address")

    status = sub.add_parser("status", help="trials by status, best so far, what remains")
    status.add_argument("results_dir")

    report = sub.add_parser("report", help="tables, figures and an HTML/Markdown report")
    report.add_argument("results_dirs", nargs="+")
    report.add_argument("-o", "--out")
    report.add_argument("--format", choices=("md", "html", "both"), default="both")
    return parser


def cmd_run(args) -> int:
    from sweeps.spec import SpecError, load_spec, tiny_mode

    try:
        spec = load_spec(args.sweep, args.overrides)
        if args.tiny:
            spec = tiny_mode(spec)
    except SpecError as err:
        return _fail(str(err))
    if args.max_concurrent is not None and args.max_concurrent < 0:
        return _fail("--max-concurrent: allowed integers >= 0")
    results_dir = Path(args.results or Path("results") / spec.name)
    if args.dry_run:
        print_dry_run(spec, results_dir, args.gpu_tflops)
        return 0
    from sweeps.lock import SweepInUse, driver_lock
    from sweeps.run import SweepError, run_sweep, write_spec

    try:
        writable_check(results_dir)
    except SweepError as err:
        return _fail(str(err))
    command = ["launch.py"] + sys.argv[1:]
    try:
        # The lock first: a live driver is the answer to give before "already holds this
        # sweep; resume it", and --overwrite must not delete a directory in use.
        with driver_lock(results_dir, command):
            refusal = check_results_dir(spec, results_dir, args.overwrite)
            if refusal:
                return _fail(refusal)
            if args.overwrite and results_dir.exists():
                import shutil
                shutil.rmtree(results_dir)
            write_spec(spec, results_dir, command)
            run_sweep(spec, results_dir, args.address, args.max_concurrent)
    except (SweepError, SweepInUse) as err:
        return _fail(str(err))
    except Exception as err:  # noqa: BLE001 - one clear line for a stop, the trace in the log
        return _stopped(err)
    summary(results_dir)
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
    import os
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


def check_results_dir(spec, results_dir: Path, overwrite: bool) -> str | None:
    """Refuse to mix two sweeps in one directory, and to overwrite without being told."""
    from sweeps import schema

    existing = results_dir / schema.SPEC_FILE
    if results_dir.exists() and any(results_dir.iterdir()) and not existing.exists() and not overwrite:
        return (f"{results_dir}: exists and is not a sweep results directory; choose --results "
                "elsewhere or pass --overwrite")
    if not existing.exists() or overwrite:
        return None
    import yaml
    doc = yaml.safe_load(existing.read_text()) or {}
    doc.pop("provenance", None)
    if doc != spec.raw:
        return (f"{results_dir}: already holds a different sweep ({existing}); pass --overwrite, "
                "--results NEW_DIR, or a new name")
    return (f"{results_dir}: already holds this sweep; continue it with: python launch.py resume "
            f"{results_dir} (or pass --overwrite to start again)")


def print_dry_run(spec, results_dir: Path, gpu_tflops: float | None = None) -> None:
    rows = spec.trial_configs()
    keys = list(rows[0]) if rows else []
    print(f"sweep {spec.name}: {spec.num_trials()} trials ({spec.search} search, "
          f"{spec.scheduler['type']} scheduler), preset {spec.preset}, "
          f"{spec.base_config.epochs} epochs each, resources {spec.resources}")
    if spec.search != "grid":
        print(f"  {spec.num_samples} points drawn by {spec.search}, each run with seeds {spec.seeds}")
    widths = [max(len(k), *(len(str(r[k])) for r in rows)) for k in keys]
    print("  " + "  ".join(k.ljust(w) for k, w in zip(keys, widths)))
    for r in rows:
        print("  " + "  ".join(str(r[k]).ljust(w) for k, w in zip(keys, widths)))
    print(f"results would go to {results_dir}")
    from sweeps.estimate import DEFAULT_GPU_TFLOPS, describe, measured_gflops, trial_cost

    # Price one trial per distinct model shape; other axes change the cost negligibly.
    shape_keys = ("latent_dim", "inr_depth", "inr_width", "hyper_hidden", "encoder_channels",
                  "encoder_blocks", "encoder_kernel", "dataset", "epochs", "train_subset")
    cache, costs = {}, []
    for row in rows:
        fields = {k: v for k, v in row.items() if k in shape_keys and not isinstance(v, str)
                  or k == "dataset"}
        cfg = spec.base_config.replace(**fields)
        key = tuple(getattr(cfg, k) for k in shape_keys)
        if key not in cache:
            cache[key] = trial_cost(cfg)
        costs.append(cache[key])
    costs = costs * (spec.num_trials() // max(1, len(costs)))
    print(describe(costs, measured_gflops(spec.base_config), spec.resources["gpus"],
                   gpu_tflops or DEFAULT_GPU_TFLOPS))


def summary(results_dir: Path) -> None:
    import pyarrow.parquet as pq
    from sweeps import schema

    path = results_dir / schema.TRIALS_FILE
    if not path.exists():
        print(f"no trial finished; see {results_dir / schema.TUNE_DIR}")
        return
    trials = pq.read_table(path).to_pylist()
    counts: dict[str, int] = {}
    for t in trials:
        counts[t["status"]] = counts.get(t["status"], 0) + 1
    # chosen on validation, reported on test: choosing by test PSNR would report a maximum
    best = max((t for t in trials if t.get("metric.val_psnr") is not None),
               key=lambda t: t["metric.val_psnr"], default=None)
    print(f"\n{len(trials)} trials: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    if best:
        accs = ", ".join(f"{k[7:]} {best[k]:.4f}" for k in ("metric.test_psnr", "metric.latent_acc",
                                                          "metric.weight_acc", "metric.joint_acc")
                         if best.get(k) is not None)
        print(f"best val PSNR {best['metric.val_psnr']:.2f} dB (trial {best['trial_id']}"
              f"{'; ' + accs if accs else ''})")
    print(f"results:     {results_dir}/trials.parquet, {results_dir}/epochs/")
    print(f"tensorboard: tensorboard --logdir {results_dir}/tb")
    print(f"report:      python launch.py report {results_dir}")


def cmd_resume(args) -> int:
    from sweeps.lock import SweepInUse, driver_lock
    from sweeps.run import SweepError, read_spec, resume_sweep

    results_dir = Path(args.results_dir)
    try:
        read_spec(results_dir)  # not a results directory: say so before taking any lock
        with driver_lock(results_dir, ["launch.py"] + sys.argv[1:]):
            resume_sweep(results_dir, args.address)
    except (SweepError, SweepInUse) as err:
        return _fail(str(err))
    except Exception as err:  # noqa: BLE001
        return _stopped(err)
    summary(results_dir)
    return 0


def cmd_status(args) -> int:
    from sweeps.lock import describe_holder, running_driver
    from sweeps.run import SweepError, read_spec

    results_dir = Path(args.results_dir)
    try:
        spec = read_spec(results_dir)
    except SweepError as err:
        return _fail(str(err))
    import pyarrow.parquet as pq
    from sweeps import schema

    path = results_dir / schema.TRIALS_FILE
    trials = pq.read_table(path).to_pylist() if path.exists() else []
    counts = {s: sum(t["status"] == s for t in trials) for s in schema.STATUSES}
    print(f"sweep {spec.name} in {results_dir}: {len(trials)} of {spec.num_trials()} trials started")
    print("  " + ", ".join(f"{s} {n}" for s, n in counts.items() if n))
    metric, mode = spec.metric[0], spec.mode[0]
    scored = [t for t in trials if t.get(f"metric.{metric}") is not None]
    if scored:
        pick = max if mode == "max" else min
        best = pick(scored, key=lambda t: t[f"metric.{metric}"])
        print(f"  best {metric} ({mode}): {best[f'metric.{metric}']:.4f} in {best['trial_id']}")
    remaining = spec.num_trials() - counts["completed"] - counts["stopped"] - counts["diverged"]
    driver = running_driver(results_dir)
    if driver is not None:
        print(f"  driver: running now ({describe_holder(driver)})")
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return {"run": cmd_run, "resume": cmd_resume, "status": cmd_status,
            "report": cmd_report}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
