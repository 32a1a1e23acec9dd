"""How fast does analysis load and tabulate a big sweep, against reading Ray Tune's own files?

Generates, in a temporary directory, one synthetic sweep of ``--trials`` trials x ``--epochs``
epochs twice over:

* in the Parquet contract (``contract.schema``): trials.parquet + epochs/<trial>.parquet;
* as Ray Tune 2.x leaves it: one directory per trial with ``result.json`` (one JSON object
  per report, config nested, final metrics in the last), ``progress.csv`` (one row per
  report, no config, only the first report's columns) and ``params.json`` (the config).

Then times loading the same rows into the same DataFrames, and all tables on them
(``factor_table``, ``effects_table``, ``paper_comparison``, ``pareto_front``,
``failures_table``; not the figures), for four readers: analysis on the Parquet contract as
it runs (the tables need trials.parquet only; epochs/ is read on first use), the same forced
to read all epoch rows as well, the leanest pandas reader of Ray's files (progress.csv +
params.json + the last line of result.json), and what Ray's ``ExperimentAnalysis`` does
(json.loads of result.json + ``pd.json_normalize``).  Ray's files have no per-trial summary,
so its readers must read every trial's files for any table.  The target is the Parquet path
at least 10x faster.

    python benchmarks/analysis_load.py                      # 10,000 x 100 (a few minutes)
    python benchmarks/analysis_load.py --trials 500 --epochs 20
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis import load  # noqa: E402
from analysis.load import Results  # noqa: E402
from analysis.tables import all_tables  # noqa: E402
from contract.schema import (EPOCH_CORE, EPOCHS_DIR, TRIAL_CORE, TRIALS_FILE,  # noqa: E402
                             build_table, write_atomic)

# A grid of 2,000 configurations; seeds fill up to --trials.
AXES = {"a1": [0.0, 0.01, 0.1, 1.0, 10.0], "a2": [0.0, 1.0, 10.0, 100.0, 1000.0],
        "latent_dim": [16, 32, 64, 128], "inr_depth": [2, 3, 4, 5, 6],
        "cls_weight": [0.0, 0.01, 0.1, 1.0]}
BASE = {"a1": 0.1, "a2": 100.0, "latent_dim": 64, "inr_depth": 4, "cls_weight": 0.1}
FIXED = {"dataset": "mnist-5k", "variant": "classifier_loss", "inr_width": 64, "omega0": 30.0,
         "hyper_hidden": 64, "encoder_channels": 64, "encoder_blocks": 2, "encoder_kernel": 3,
         "lr": 5e-4, "cls_lr": 0.01, "batch_size": 32, "pretrain_epochs": 3,
         "probe_epochs": 20, "train_subset": 0, "test_subset": 0, "data_root": "",
         "download": False, "verify_data": True, "device": "cpu", "threads": 0,
         "preset": "small"}
EPOCH_METRICS = ("step", "train_images_per_s", "train_seconds", "train_loss", "train_mse",
                 "train_latent_prior", "train_theta_prior", "train_cls_ce", "val_loss",
                 "val_mse", "val_latent_prior", "val_theta_prior", "val_cls_ce", "val_psnr",
                 "eval_images_per_s", "val_joint_acc")
FINAL_METRICS = ("test_psnr", "test_mse", "test_loss", "joint_acc", "latent_acc", "weight_acc",
                 "val_latent_acc", "val_weight_acc", "sr_psnr", "sr_bilinear_psnr", "inpaint_psnr",
                 "inpaint_meanfill_psnr", "denoise_psnr", "denoise_noisy_psnr", "sr_gain_db",
                 "inpaint_gain_db", "denoise_gain_db")


# ------------------------------------------------------------------------------------
# Synthetic trials: plausible numbers that depend on the factors, so the tables have work.

def trial_configs(n_trials: int, epochs: int) -> list[dict]:
    grid = [dict()]
    for name, values in AXES.items():
        grid = [dict(g, **{name: v}) for g in grid for v in values]
    return [dict(FIXED, **grid[i % len(grid)], seed=i // len(grid), epochs=epochs)
            for i in range(n_trials)]


def trial_numbers(i: int, cfg: dict, epochs: int) -> tuple[dict, dict, str]:
    """(per-epoch columns as arrays, final metrics, status) for trial i."""
    rng = np.random.default_rng(i)
    e = np.arange(1, epochs + 1, dtype=float)
    top = 24 - 0.4 * np.log10(1 + cfg["a2"]) + 0.3 * cfg["inr_depth"] + rng.normal(0, 0.3)
    psnr = top - 8 * np.exp(-e / max(epochs / 5, 1)) + rng.normal(0, 0.05, epochs)
    mse = 10 ** (-psnr / 10) * 4
    cols = {"step": e * 125, "train_images_per_s": rng.normal(400, 20, epochs),
            "train_seconds": rng.normal(10, 0.5, epochs), "train_mse": mse * 0.95,
            "train_latent_prior": np.full(epochs, 0.01), "train_theta_prior": np.full(epochs, 1e-4),
            "train_cls_ce": np.exp(-e / 10), "val_mse": mse, "val_psnr": psnr,
            "val_latent_prior": np.full(epochs, 0.01), "val_theta_prior": np.full(epochs, 1e-4),
            "val_cls_ce": np.exp(-e / 10) * 1.1, "eval_images_per_s": rng.normal(2000, 50, epochs),
            "val_joint_acc": 0.98 - 0.5 * np.exp(-e / 5)}
    cols["train_loss"] = cols["train_mse"] + 0.1 * cols["train_cls_ce"]
    cols["val_loss"] = cols["val_mse"] + 0.1 * cols["val_cls_ce"]
    acc = 0.95 + 0.01 * np.log2(cfg["latent_dim"] / 16) - 0.005 * cfg["a1"] + rng.normal(0, .004)
    # Since the validation split, test metrics come once, with the last epoch (finish()).
    final = {"test_psnr": float(psnr[-1]) - 0.1, "test_mse": float(mse[-1]) * 1.02,
             "test_loss": float(cols["val_loss"][-1]) * 1.02,
             "joint_acc": float(cols["val_joint_acc"][-1]) - 0.002,
             "latent_acc": min(acc, 0.999), "weight_acc": min(acc - 0.01, 0.999),
             "val_latent_acc": min(acc + 0.002, 0.999), "val_weight_acc": min(acc - 0.008, 0.999),
             "sr_psnr": top - 3, "sr_bilinear_psnr": 18.0, "inpaint_psnr": top - 5,
             "inpaint_meanfill_psnr": 12.0, "denoise_psnr": top - 1, "denoise_noisy_psnr": 20.0}
    for op, base in (("sr", "sr_bilinear"), ("inpaint", "inpaint_meanfill"),
                     ("denoise", "denoise_noisy")):
        final[f"{op}_gain_db"] = final[f"{op}_psnr"] - final[f"{base}_psnr"]
    status = "diverged" if i % 997 == 13 else "errored" if i % 1499 == 7 else "completed"
    return cols, final, status


def _write_chunk(args: tuple[Path, Path, list[int], list[dict], int]) -> list[dict]:
    """Write epochs/<trial>.parquet and the Ray Tune trial dirs for a chunk; return trial rows."""
    parquet_dir, ray_dir, ids, cfgs, epochs = args
    rows = []
    for i, cfg in zip(ids, cfgs):
        tid = f"t{i:05d}"
        cols, final, status = trial_numbers(i, cfg, epochs)
        n = epochs if status == "completed" else max(1, epochs // 3)
        wall = np.cumsum(cols["train_seconds"][:n])
        # --- Parquet contract -------------------------------------------------------
        arrays = {"trial_id": pa.array([tid] * n), "sweep": pa.array(["bench"] * n),
                  "epoch": pa.array(np.arange(1, n + 1)), "wall_seconds": pa.array(wall)}
        arrays.update({f"metric.{k}": pa.array(v[:n]) for k, v in sorted(cols.items())})
        fields = list(EPOCH_CORE) + [pa.field(f"metric.{k}", pa.float64()) for k in sorted(cols)]
        schema = pa.schema(fields, metadata={b"hinr_schema_version": b"1"})
        write_atomic(pa.table(arrays, schema=schema), parquet_dir / EPOCHS_DIR / f"{tid}.parquet")
        row = {"trial_id": tid, "sweep": "bench", "status": status, "epochs_done": n,
               "wall_seconds": float(wall[-1]), "node": "node-1", "device": "cpu",
               "error": None if status == "completed" else f"synthetic {status}",
               "retries": 0, "diverged_epoch": n if status == "diverged" else None,
               "diverged_step": n * 125 if status == "diverged" else None}
        row.update({f"config.{k}": v for k, v in cfg.items()})
        last = {f"metric.{k}": float(v[n - 1]) for k, v in cols.items()}
        if status == "completed":
            last.update({f"metric.{k}": float(v) for k, v in final.items()})
        row.update(last)
        rows.append(row)
        # --- Ray Tune's own files -----------------------------------------------------
        # As Ray 2.x writes them: result.json has one JSON object per report with the config
        # nested; progress.csv drops the config (CSVLoggerCallback pops it) and keeps only the
        # columns of the first report (csv.DictWriter), so final metrics that arrive with the
        # last report exist in result.json only; params.json holds the config.
        tdir = ray_dir / f"trainable_{tid}_{i}"
        tdir.mkdir(parents=True)
        auto = {"timestamp": [1_700_000_000 + i] * n, "checkpoint_dir_name": [None] * n,
                "done": [False] * (n - 1) + [True], "training_iteration": list(range(1, n + 1)),
                "trial_id": [tid] * n, "date": ["2025-01-01_00-00-00"] * n,
                "time_this_iter_s": cols["train_seconds"][:n].tolist(),
                "time_total_s": wall.tolist(), "pid": [1234] * n, "hostname": ["node-1"] * n,
                "node_ip": ["10.0.0.1"] * n, "time_since_restore": wall.tolist(),
                "iterations_since_restore": list(range(1, n + 1))}
        per_epoch = {k: v[:n].tolist() for k, v in cols.items()}
        per_epoch.update(auto)
        pacsv.write_csv(pa.table(per_epoch), tdir / "progress.csv")
        keys = list(per_epoch)
        cfg_json = json.dumps(cfg)
        with open(tdir / "result.json", "w") as handle:
            for j, values in enumerate(zip(*per_epoch.values())):
                rec = dict(zip(keys, values))
                if j == n - 1 and status == "completed":
                    rec.update(final)
                handle.write(json.dumps(rec)[:-1] + ', "config": ' + cfg_json + "}\n")
        (tdir / "params.json").write_text(cfg_json)
    return rows


def generate(root: Path, n_trials: int, epochs: int, jobs: int) -> tuple[Path, Path]:
    parquet_dir, ray_dir = root / "parquet", root / "ray"
    (parquet_dir / EPOCHS_DIR).mkdir(parents=True)
    ray_dir.mkdir()
    cfgs = trial_configs(n_trials, epochs)
    chunk = max(1, n_trials // (jobs * 8))
    work = [(parquet_dir, ray_dir, list(range(s, min(s + chunk, n_trials))),
             cfgs[s:s + chunk], epochs) for s in range(0, n_trials, chunk)]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        rows = [r for part in pool.map(_write_chunk, work) for r in part]
    write_atomic(build_table(rows, TRIAL_CORE), parquet_dir / TRIALS_FILE)
    spec = {"name": "bench", "base": dict(BASE, preset="small"), "axes": AXES,
            "seeds": sorted({c["seed"] for c in cfgs})}
    import yaml
    (parquet_dir / "sweep.yaml").write_text(yaml.safe_dump(spec))
    return parquet_dir, ray_dir


# ------------------------------------------------------------------------------------
# The two readers.

def _ray_results(ray_dir: Path, spec: dict, trials: list[dict], epochs: list[pd.DataFrame],
                 ) -> Results:
    ep = pd.concat(epochs, ignore_index=True).rename(
        columns={"training_iteration": "epoch", "time_total_s": "wall_seconds",
                 **{k: f"metric.{k}" for k in EPOCH_METRICS}})
    tr = pd.DataFrame(trials)
    # Ray's files carry no status: a trial without final metrics is "errored" as far as a
    # reader of these files can tell.
    tr["status"] = np.where(tr["metric.latent_acc"].notna(), "completed", "errored")
    return Results(path=ray_dir, trials=tr, epochs=ep, spec=spec)


def _trial_row(last: dict, config: dict) -> dict:
    row = {"trial_id": last["trial_id"], "sweep": "bench",
           "epochs_done": int(last["training_iteration"]),
           "wall_seconds": float(last["time_total_s"]), "node": last["hostname"]}
    row.update({f"config.{k}": v for k, v in config.items()})
    row.update({f"metric.{k}": last.get(k) for k in EPOCH_METRICS + FINAL_METRICS})
    return row


def read_ray_json(ray_dir: Path, spec: dict) -> Results:
    """What Ray's own ``tune.ExperimentAnalysis`` does per trial: every line of result.json
    through json.loads, then ``pd.json_normalize(sep="/")`` (config as config/<field>)."""
    epochs, trials = [], []
    for tdir in sorted(p for p in ray_dir.iterdir() if p.is_dir()):
        content = (tdir / "result.json").read_text().rstrip("\n")
        records = [json.loads(line) for line in content.split("\n")]
        frame = pd.json_normalize(records, sep="/")
        epochs.append(frame[["trial_id", "training_iteration", "time_total_s", *EPOCH_METRICS]])
        trials.append(_trial_row(records[-1], records[-1]["config"]))
    return _ray_results(ray_dir, spec, trials, epochs)


def read_ray_csv(ray_dir: Path, spec: dict) -> Results:
    """The leanest pandas reader of Ray's files: progress.csv for the epochs, params.json for
    the config, and only the last line of result.json for the final metrics (progress.csv
    does not have them)."""
    epochs, trials = [], []
    for tdir in sorted(p for p in ray_dir.iterdir() if p.is_dir()):
        progress = pd.read_csv(tdir / "progress.csv", dtype={"trial_id": str})
        epochs.append(progress[["trial_id", "training_iteration", "time_total_s", *EPOCH_METRICS]])
        with open(tdir / "result.json", "rb") as handle:  # the last line only
            handle.seek(max(0, os.path.getsize(tdir / "result.json") - 65536))
            last = json.loads(handle.read().rstrip(b"\n").rsplit(b"\n", 1)[-1])
        config = json.loads((tdir / "params.json").read_text())
        trials.append(_trial_row(last, config))
    return _ray_results(ray_dir, spec, trials, epochs)


def timed(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10_000)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                    help="processes that generate the synthetic files")
    ap.add_argument("--repeat", type=int, default=1, help="best of N timings per path")
    ap.add_argument("--keep", metavar="DIR",
                    help="generate under DIR and keep the files (reused when already there)")
    args = ap.parse_args(argv)

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="hinr-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        start = time.perf_counter()
        if args.keep and (root / "parquet" / TRIALS_FILE).exists() and (root / "ray").is_dir():
            parquet_dir, ray_dir = root / "parquet", root / "ray"
            print(f"reusing the files under {root} (--trials/--epochs ignored)", flush=True)
        else:
            parquet_dir, ray_dir = generate(root, args.trials, args.epochs, args.jobs)
            print(f"generated {args.trials} trials x {args.epochs} epochs in "
                  f"{time.perf_counter() - start:.1f}s under {root}", flush=True)
        spec = load.load_results(parquet_dir).spec
        all_tables(load.load_results(parquet_dir))  # warm-up: scipy's first calls, imports

        readers = [("Parquet: tables (epochs not needed)", lambda: load.load_results(parquet_dir)),
                   ("Parquet: + read all epoch rows",
                    lambda: load.load_results(parquet_dir, lazy_epochs=False)),
                   ("Ray progress.csv + params.json", lambda: read_ray_csv(ray_dir, spec)),
                   ("Ray result.json (ExperimentAnalysis)", lambda: read_ray_json(ray_dir, spec))]
        rows = []
        for name, read in readers:
            t_load, res = timed(read, args.repeat)
            t_tab, _ = timed(lambda: all_tables(res), args.repeat)
            rows.append((name, t_load, t_tab, len(res.trials), len(res.epochs)))  # (untimed)
            print(f"  {name}: load {t_load:.2f}s, tables {t_tab:.2f}s", flush=True)
        assert len({r[3] for r in rows}) == 1 and len({r[4] for r in rows}) == 1, rows

        print(f"\n{args.trials:,} trials x {args.epochs} epochs = {rows[0][4]:,} epoch rows, "
              f"{rows[0][3]:,} trial rows; {os.cpu_count()} CPUs\n")
        print(f"{'reader':<38}{'load':>9}{'tables':>9}{'total':>9}"
              f"{'Ray lean / this':>17}{'Ray JSON / this':>17}")
        totals = [r[1] + r[2] for r in rows]
        for (name, t_load, t_tab, _, _), total in zip(rows, totals):
            print(f"{name:<38}{t_load:>8.2f}s{t_tab:>8.2f}s{total:>8.2f}s"
                  f"{totals[2] / total:>16.1f}x{totals[3] / total:>16.1f}x")
        for i, what in ((0, "tables from trials.parquet"), (1, "also reading every epoch row")):
            ratio = min(totals[2:]) / totals[i]
            print(f"Parquet, {what}: {ratio:.1f}x faster than the fastest pandas reader of "
                  f"Ray's files (target >= 10x: {'met' if ratio >= 10 else 'NOT met'})")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
