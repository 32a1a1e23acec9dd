"""benchmarks/scale.py and the writer's flush policy: the growth arithmetic, the sweeps it
builds, ParquetResults batching its trials.parquet rewrites, and ``--tiny`` end to end (real
Ray Tune, real Parquet read back, the analysis tables) both through run_sweep and as a replay."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import scale  # noqa: E402


def test_grid_shape_and_sweep_doc_parse():
    from sweeps.spec import parse_spec

    assert scale.grid_shape(1000) == (10, 10) and scale.grid_shape(10000) == (10, 100)
    assert scale.grid_shape(50) == (5, 2) and scale.grid_shape(16) == (4, 1)
    with pytest.raises(ValueError, match="allowed multiples of 100"):
        scale.grid_shape(7)
    for n in (16, 50, 3000):
        spec = parse_spec(scale.sweep_doc(n, 20, 8.0), "<test>")
        assert spec.num_trials() == n and spec.base_config.epochs == 20
        assert spec.resources["cpus"] == 8.0


def test_bad_trials_is_one_clear_line(capsys):
    with pytest.raises(SystemExit) as err:
        scale.parse_args(["--trials", "1000,7"])
    assert err.value.code == 2
    assert "--trials: 7: allowed multiples of 100" in capsys.readouterr().err


def test_fit_exponent():
    assert scale.fit_exponent([1, 10, 100], [2, 20, 200]) == pytest.approx(1.0)
    assert scale.fit_exponent([1000, 3000, 10000], [1, 9, 100]) == pytest.approx(2.0)
    assert scale.fit_exponent([1000], [1.0]) is None
    assert scale.fit_exponent([1, 10], [0.0, 1.0]) is None  # one positive point


def test_format_tables_growth():
    runs = [{"trials": n, "results": 20 * n, "wall_s": n / 10, "driver_cpu_s": n / 20,
             "results_per_s": 200.0, "peak_rss_mb": 500.0, "writer_share": 0.01,
             "tune_snapshots": 3, "analysis_s": 0.1, "load_avg": 1.0,
             "writer_hook_s": n * n / 1e6} for n in (1000, 3000, 10000)]
    result = {"setup": {"epochs": 20, "cpus": 128, "cpus_per_trial": 8.0, "checkpoints": True,
                        "host_cpus": 2, "load_start": 1.0, "load_end": 1.5},
              "runs": runs,
              "exponents": {k: scale.fit_exponent([1000, 3000, 10000], [r.get(k) for r in runs])
                            for k, _ in scale.GROWTH}}
    text = scale.format_tables(result)
    writer = next(ln for ln in text.splitlines() if ln.startswith("Parquet writer s"))
    assert writer.split()[-1] == "2.00" and "9.00" in writer  # quadratic: x3 -> x9
    cpu = next(ln for ln in text.splitlines() if ln.startswith("driver CPU s"))
    assert cpu.split()[-1] == "1.00"
    assert "16 at once" in text and "load average 1.00 at start, 1.50 at end" in text


# ------------------------------------------------------------------------------ the flush policy
def stub_trial(i: int):
    from ray.tune.experiment import Trial

    return Trial("noop", config={"preset": "tiny", "a2": float(i), "seed": 0},
                 trial_id=f"t{i}", stub=True)


def trials_file(out: Path) -> dict[str, str]:
    return {r["trial_id"]: r["status"] for r in pq.read_table(out / "trials.parquet").to_pylist()}


def test_trials_parquet_is_batched_but_errors_and_the_end_are_written_at_once(tmp_path):
    from sweeps.tune.results import ParquetResults

    writer = ParquetResults(str(tmp_path), "s", flush_seconds=3600)  # no periodic rewrite here
    writer.setup()
    a, b = stub_trial(1), stub_trial(2)
    writer.on_trial_start(0, [a], a)  # the first change is written at once
    assert trials_file(tmp_path) == {"t1": "running"}
    writer.on_trial_start(1, [a, b], b)
    writer.on_trial_result(2, [a, b], a, {"epoch": 1.0, "test_psnr": 10.0,
                                          "status": "completed"})
    writer.on_trial_complete(2, [a, b], a)
    writer.on_step_end(3, [a, b])
    assert trials_file(tmp_path) == {"t1": "running"}  # batched: the period is not up
    assert writer.stats["trials_writes"] == 1 and writer.stats["epoch_writes"] == 1
    assert pq.read_table(tmp_path / "epochs" / "t1.parquet").num_rows == 1  # epochs: at once
    writer.on_trial_error(4, [a, b], b)  # an error is written at once, with what was batched
    assert trials_file(tmp_path) == {"t1": "completed", "t2": "errored"}
    writer.on_experiment_end([a, b])
    assert writer.stats["trials_writes"] == 3  # the end is always written
    assert writer.stats["hook_calls"] == 7 and writer.stats["hook_s"] > 0


def test_pending_changes_are_written_once_the_period_is_up(tmp_path):
    from sweeps.tune.results import ParquetResults

    writer = ParquetResults(str(tmp_path), "s", flush_seconds=0.0)
    writer.setup()
    a = stub_trial(1)
    writer.on_trial_start(0, [a], a)
    writer._period = 3600.0  # as if the last rewrite had been slow: the next one waits
    writer.on_trial_complete(1, [a], a)
    assert trials_file(tmp_path) == {"t1": "running"}
    writer._period = 0.0
    writer.on_step_end(2, [a])
    assert trials_file(tmp_path) == {"t1": "stopped"}  # ended before its last epoch


def test_a_resumed_writer_catches_up_with_the_epochs_files(tmp_path):
    """The driver dies while trials.parquet lags (batched) behind epochs/ (written at each
    checkpoint): the resumed writer takes the rows it missed from the epochs files."""
    from ray.tune.experiment import Trial

    from sweeps.tune.results import ParquetResults

    writer = ParquetResults(str(tmp_path), "s", flush_seconds=3600)
    writer.setup()
    a = Trial("noop", config={"preset": "tiny", "epochs": 2, "seed": 0}, trial_id="a", stub=True)
    b = Trial("noop", config={"preset": "tiny", "epochs": 3, "seed": 1}, trial_id="b", stub=True)
    for trial in (a, b):
        writer.on_trial_start(0, [a, b], trial)
    writer.on_trial_result(1, [a, b], a, {"epoch": 1.0, "test_psnr": 9.0, "status": "running"})
    writer.on_trial_result(2, [a, b], a, {"epoch": 2.0, "test_psnr": 11.0, "latent_acc": 0.9,
                                          "trial_seconds": 4.0, "status": "completed"})
    writer.on_checkpoint(2, [a, b], a, None)  # Tune, before it records the final checkpoint
    writer.on_trial_result(3, [a, b], b, {"epoch": 1.0, "test_psnr": 8.0, "status": "running"})
    writer.on_checkpoint(3, [a, b], b, None)
    rows = {r["trial_id"]: r for r in pq.read_table(tmp_path / "trials.parquet").to_pylist()}
    assert rows["a"]["status"] == "running" and rows["a"]["epochs_done"] == 0  # it lags
    resumed = ParquetResults(str(tmp_path), "s")  # a new driver: launch.py resume
    resumed.setup()
    assert "b" not in resumed.trials  # its start was batched too
    resumed.on_trial_start(0, [a, b], b)  # Tune restarts it from its checkpoint
    ra, rb = resumed.trials["a"], resumed.trials["b"]
    assert ra["status"] == "completed" and ra["epochs_done"] == 2 and ra["wall_seconds"] == 4.0
    assert ra["metric.test_psnr"] == 11.0 and ra["metric.latent_acc"] == 0.9
    assert rb["status"] == "running" and rb["epochs_done"] == 1  # unfinished: Tune reruns it
    assert rb["metric.test_psnr"] == 8.0


def test_a_trial_row_says_when_it_finished(tmp_path):
    """``finished_at`` is the last result's Tune timestamp (UTC), read back as a Parquet
    timestamp; with ``wall_seconds`` it places the trial on a timeline (the Optuna export's)."""
    from datetime import datetime, timezone

    import pyarrow as pa
    from ray.tune.experiment import Trial

    from contract.resultsdir import read_trials_file
    from sweeps.tune.results import ParquetResults

    writer = ParquetResults(str(tmp_path), "s", flush_seconds=0)
    writer.setup()
    a = Trial("noop", config={"preset": "tiny", "epochs": 2, "seed": 0}, trial_id="a", stub=True)
    writer.on_trial_start(0, [a], a)
    writer.on_trial_result(1, [a], a, {"epoch": 1.0, "timestamp": 1_765_000_000,
                                       "status": "running"})
    writer.on_trial_result(2, [a], a, {"epoch": 2.0, "timestamp": 1_765_000_090,
                                       "trial_seconds": 95.0, "status": "completed"})
    writer.on_trial_complete(3, [a], a)
    writer.write(force=True)  # as the sweep's end does (the period may hold a rewrite back)
    table, _ = read_trials_file(tmp_path / "trials.parquet", tmp_path)  # the contract's check
    assert table.schema.field("finished_at").type == pa.timestamp("ms", tz="UTC")
    row = table.to_pylist()[0]
    assert row["finished_at"] == datetime.fromtimestamp(1_765_000_090, timezone.utc)
    assert row["wall_seconds"] == 95.0


def test_a_stopped_trial_that_resume_restarts_is_running_again(tmp_path):
    """Ctrl-C settles an unfinished trial as stopped; resume restarts it from its checkpoint,
    and the progress view (which counts rows by status) must then count it as running."""
    from ray.tune.experiment import Trial

    from sweeps.tune.results import ParquetResults

    writer = ParquetResults(str(tmp_path), "s", flush_seconds=0.0)
    writer.setup()
    a = Trial("noop", config={"preset": "tiny", "epochs": 3, "seed": 0}, trial_id="t1", stub=True)
    writer.on_trial_start(0, [a], a)
    writer.on_trial_result(1, [a], a, {"epoch": 1.0, "test_psnr": 9.0, "status": "running"})
    a.set_status(a.TERMINATED)  # the interrupted driver's last word on it
    writer.on_experiment_end([a])
    assert trials_file(tmp_path) == {"t1": "stopped"}
    resumed = ParquetResults(str(tmp_path), "s", flush_seconds=0.0)
    resumed.setup()
    a.set_status(a.RUNNING)
    resumed.on_trial_start(0, [a], a)
    assert trials_file(tmp_path) == {"t1": "running"}


def test_epochs_files_are_batched_and_written_at_a_checkpoint_and_the_end(tmp_path):
    """A trial's epoch rows reach disk when it checkpoints (before Tune records the checkpoint,
    so a resume never skips an epoch that is not on disk), when it ends, or with the periodic
    flush; in between they are held, and rows after the last checkpoint are what a dying driver
    may lose (the resumed trial reports them again)."""
    from hinr import preset
    from contract.schema import RESOLVED_CONFIG_KEY
    from sweeps.tune.results import ParquetResults

    writer = ParquetResults(str(tmp_path), "s", flush_seconds=3600)
    writer.setup()
    a = stub_trial(1)
    epochs = tmp_path / "epochs" / "t1.parquet"
    writer.on_trial_start(0, [a], a)  # the first change is written at once
    for epoch in (1, 2):
        # as a real trial does, the first result carries the trial's resolved config: the
        # writer learns from it how many epochs (the tiny preset's 3) make the trial complete
        first = {RESOLVED_CONFIG_KEY: preset("tiny").flat_dict()} if epoch == 1 else {}
        writer.on_trial_result(epoch, [a], a, {"epoch": float(epoch), "val_psnr": 10.0 + epoch,
                                               "status": "running", **first})
        writer.on_step_end(epoch, [a])
    assert not epochs.exists()  # held: no checkpoint, and the period is not up
    writer.on_checkpoint(3, [a], a, None)
    assert pq.read_table(epochs).column("epoch").to_pylist() == [1, 2]
    writer.on_checkpoint(3, [a], a, None)  # nothing new: no rewrite
    assert writer.stats["epoch_writes"] == 1
    writer.on_trial_result(4, [a], a, {"epoch": 3.0, "val_psnr": 13.0, "status": "running"})
    assert pq.read_table(epochs).num_rows == 2
    writer.on_trial_complete(5, [a], a)  # an end without a checkpoint first (ASHA's stop)
    assert pq.read_table(epochs).column("epoch").to_pylist() == [1, 2, 3]
    assert trials_file(tmp_path) == {"t1": "running"}  # trials.parquet: still batched
    writer.on_experiment_end([a])
    assert trials_file(tmp_path) == {"t1": "completed"}  # the tiny preset's 3 epochs


def test_a_failed_epochs_write_at_a_checkpoint_stops_the_sweep_at_the_next_hook(tmp_path):
    """Tune catches and logs an error raised in on_checkpoint (and then does not record that
    checkpoint); the writer raises it again from the next hook, as any failed write stops the
    sweep, and the rows it could not write stay held for the next attempt."""
    from sweeps.results import ResultsWriteError
    from sweeps.tune.results import ParquetResults

    writer = ParquetResults(str(tmp_path), "s", flush_seconds=3600)
    writer.setup()
    a = stub_trial(1)
    writer.on_trial_start(0, [a], a)
    writer.on_trial_result(1, [a], a, {"epoch": 1.0, "val_psnr": 11.0, "status": "running"})
    (tmp_path / "epochs").write_text("")  # a file where the folder goes: every write fails
    with pytest.raises(ResultsWriteError, match="epochs"):
        writer.on_checkpoint(2, [a], a, None)
    with pytest.raises(ResultsWriteError, match="epochs"):
        writer.on_step_end(3, [a])
    assert writer._epochs_dirty == {"t1"}


def test_the_periodic_flush_writes_epochs_before_the_trials_table(tmp_path):
    """With the period up, lagging epochs files are written first: trials.parquet never claims
    an epoch that its epochs file does not hold."""
    from sweeps.tune.results import ParquetResults

    writer = ParquetResults(str(tmp_path), "s", flush_seconds=0.0)
    writer.setup()
    a = stub_trial(1)
    writer.on_trial_start(0, [a], a)
    writer._period = 0.0  # not 19x the first write's time: the next change is written at once
    writer.on_trial_result(1, [a], a, {"epoch": 1.0, "val_psnr": 11.0, "status": "running"})
    rows = pq.read_table(tmp_path / "trials.parquet").to_pylist()
    assert rows[0]["epochs_done"] == 1
    assert pq.read_table(tmp_path / "epochs" / "t1.parquet").num_rows == 1


# ------------------------------------------------------------------------------ end to end
def check_results_dir(out: Path, trials: int, epochs: int) -> None:
    """What the sweep left, read back for real: the contract files and the analysis on them."""
    from analysis import load_results
    from analysis.tables import all_tables

    rows = pq.read_table(out / "trials.parquet").to_pylist()
    assert len(rows) == trials and {r["status"] for r in rows} == {"completed"}
    assert {r["epochs_done"] for r in rows} == {epochs}
    assert all(r["metric.latent_acc"] is not None and r["metric.test_psnr"] is not None
               for r in rows)
    assert len({(r["config.a2"], r["config.cls_weight"], r["config.seed"]) for r in rows}) == trials
    epoch_rows = pq.read_table(out / "epochs").to_pylist()
    assert len(epoch_rows) == trials * epochs
    assert len({(r["trial_id"], r["epoch"]) for r in epoch_rows}) == trials * epochs
    results = load_results(out)
    assert results.problems == [] and set(results.factors) == {"a2", "cls_weight"}
    tables = all_tables(results)
    assert len(tables["factors"]) > 0 and len(tables["effects"]) > 0


def run_scale(tmp_path: Path, *extra: str) -> dict:
    out = tmp_path / "scale.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "scale.py"), "--tiny",
                           "--keep", "--work", str(tmp_path / "work"), "--out", str(out), *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=560,
                          env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    assert "writer % = seconds inside ParquetResults' Tune hooks" in proc.stdout
    return json.loads(out.read_text())


def test_tiny_replay(tmp_path):
    result = run_scale(tmp_path, "--replay")
    run, = result["runs"]
    assert run["trials"] == 16 and run["results"] == 48 and run["statuses"] == {"completed": 16}
    # epochs files are batched too: each trial's at least once (when it ends), never more
    # often than it reported
    assert 16 <= run["epoch_writes"] <= 48 and 1 <= run["trials_writes"] <= 33
    check_results_dir(tmp_path / "work" / "replay-16", 16, 3)


@pytest.mark.timeout(600)
def test_tiny_through_run_sweep(tmp_path):
    result = run_scale(tmp_path)
    run, = result["runs"]
    assert run["trials"] == 16 and run["results"] == 48 and run["statuses"] == {"completed": 16}
    assert run["driver_cpu_s"] > 0 and run["peak_rss_mb"] > 0 and run["wall_s"] > 0
    assert 16 <= run["epoch_writes"] <= 48 and run["writer_hook_s"] > 0
    assert run["tune_snapshots"] >= 1  # Tune's debug line was found
    assert result["setup"]["cpus"] == 128 and result["setup"]["checkpoints"]
    check_results_dir(tmp_path / "work" / "scale-16", 16, 3)
