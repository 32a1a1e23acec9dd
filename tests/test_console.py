"""The console of a sweep: quiet by default, one progress view with the right counts, one line
per warning, Ray's table back with --verbose; and the progress formatter / ETA on fixed rows.

The CLI runs are real (smoke.yaml through launch.py as a non-TTY subprocess).  Plain progress
lines are printed on trial state changes and every $HINR_PROGRESS_SECONDS; the tests set that
interval far beyond any run, so the number of lines does not depend on how loaded the machine is.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from sweeps.console import (best_row, counts, defined_metrics, duration, epochs_done_total,
                             eta_seconds, progress_line, progress_seconds)

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "sweeps" / "smoke.yaml"
# The budget for the console of the quiet run below (4 trials): a header, one progress line
# per trial state change (<= 9), one warning per diverged trial (2) and the summary (<= 8).
LINE_BUDGET = 30
RAY_TABLE = ("== Status ==", "Trial name", "+------", "╭", "│")
PROGRESS = re.compile(r"^\[[0-9:]+\] trials (?P<counts>[^|]+) \| epochs (?P<done>\d+)/(?P<total>\d+)")


def launch(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "HINR_PROGRESS_SECONDS": "100000"}
    return subprocess.run([sys.executable, str(ROOT / "launch.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env=env)


def parse_progress(line: str) -> dict[str, int]:
    """``[0:58] trials 2 completed, 0 running, ... | epochs 2/2 | ...`` -> the numbers."""
    match = PROGRESS.match(line)
    assert match, line
    out = {name: int(n) for n, name in (part.split() for part in match["counts"].split(", "))}
    return {**out, "epochs_done": int(match["done"]), "epochs_total": int(match["total"])}


# ------------------------------------------------------------------------------ real runs
@pytest.fixture(scope="module")
def quiet_run(tmp_path_factory):
    """smoke.yaml, 1 epoch, one seed, lr in {1e-3, 1e30}: 2 trials complete, 2 diverge."""
    out = tmp_path_factory.mktemp("console") / "results"
    proc = launch("run", str(SMOKE), "--results", str(out), "--set", "epochs=1",
                  "--set", "seeds=[0]", "--set", "axes.lr=[0.001, 1.0e30]")
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    return out, proc


def test_quiet_console(quiet_run):
    out, proc = quiet_run
    console = proc.stdout + proc.stderr
    assert "Traceback" not in console and "Exception ignored" not in console
    assert not any(mark in console for mark in RAY_TABLE), console
    assert "Checkpoint successfully created" not in console
    assert proc.stderr == ""
    lines = console.splitlines()
    assert len(lines) <= LINE_BUDGET, console
    # Ray's noise went to the results directory, not away.
    log = (out / "driver.log").read_text()
    assert "Checkpoint successfully created" in log


def test_progress_lines_carry_the_right_counts(quiet_run):
    out, proc = quiet_run
    trials = pq.read_table(out / "trials.parquet").to_pylist()
    progress = [ln for ln in proc.stdout.splitlines() if PROGRESS.match(ln)]
    assert progress
    first, last = parse_progress(progress[0]), parse_progress(progress[-1])
    assert first["pending"] == 4 and first["epochs_done"] == 0 and first["epochs_total"] == 4
    statuses = [t["status"] for t in trials]
    assert last["completed"] == statuses.count("completed") == 2
    assert last["diverged"] == statuses.count("diverged") == 2
    assert last["failed"] == statuses.count("errored") == 0
    assert last["running"] == last["pending"] == 0
    assert last["epochs_done"] == last["epochs_total"] == sum(t["epochs_done"] for t in trials)
    best = max((t for t in trials if t["metric.val_psnr"] is not None),
               key=lambda t: t["metric.val_psnr"])
    assert f"best val_psnr {best['metric.val_psnr']:.4g} dB in {best['trial_id']} (" in progress[-1]


def test_one_warning_line_per_diverged_trial(quiet_run):
    out, proc = quiet_run
    trials = pq.read_table(out / "trials.parquet").to_pylist()
    warnings = [ln for ln in proc.stdout.splitlines() if ln.startswith("warning:")]
    diverged = [t["trial_id"] for t in trials if t["status"] == "diverged"]
    assert len(warnings) == len(diverged) == 2
    for trial_id in diverged:
        line = next(w for w in warnings if trial_id in w)
        assert "diverged" in line and "lr=1e+30" in line and str(out / "driver.log") in line


def test_summary_and_status(quiet_run):
    out, proc = quiet_run
    summary = proc.stdout.split("\n\n")[-1]
    assert summary.startswith("4 trials: 2 completed, 2 diverged;") and "wall time" in summary
    best = next(ln for ln in summary.splitlines() if ln.startswith("best "))
    # variant classifier_loss with the default cls_weight 0.1: the joint head was trained
    assert best.startswith("best val_psnr") and "test_psnr" in best and "joint_acc" in best and "latent_acc" in best
    # the interpreter as this install runs it (sweeps.invocation; runs as printed: tested below)
    report = next(ln for ln in summary.splitlines() if ln.startswith("report:      "))
    assert "python" in report and report.endswith(f"launch.py report {out}")
    assert "resume:" not in summary  # nothing remains

    status = launch("status", str(out))
    assert status.returncode == 0, status.stderr
    assert status.stdout.count("epoch 1/1") == 2 and status.stdout.count("epoch 0/1") == 2
    assert "failures:" in status.stdout and "loss became nan" in status.stdout
    assert "remaining: 0" in status.stdout


def test_resume_of_a_finished_sweep_is_quiet(quiet_run):
    out, _ = quiet_run
    proc = launch("resume", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    console = proc.stdout + proc.stderr
    assert "Traceback" not in console and not any(mark in console for mark in RAY_TABLE)
    assert "all 4 trials have their outcome; nothing to run" in proc.stdout
    assert "4 trials: 2 completed, 2 diverged;" in proc.stdout


def test_verbose_brings_rays_table_back(tmp_path):
    proc = launch("run", str(SMOKE), "--results", str(tmp_path / "r"), "--set", "epochs=1",
                  "--set", "seeds=[0]", "--verbose")
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    assert "== Status ==" in proc.stdout and "Trial name" in proc.stdout
    assert "Checkpoint successfully created" in proc.stdout + proc.stderr
    assert "2 trials: 2 completed" in proc.stdout


def test_a_killed_trial_is_one_warning_line(tmp_path):
    """The OOM killer takes a trial process: one warning naming the trial and its error.txt,
    no traceback and no raylet message on the console, and the sweep completes."""
    import signal

    from .sweep_helpers import running_trial, wait_for_epochs

    out, log = tmp_path / "results", tmp_path / "console.txt"
    env = {**os.environ, "HINR_PROGRESS_SECONDS": "100000"}
    with log.open("w") as sink:
        driver = subprocess.Popen([sys.executable, str(ROOT / "launch.py"), "run", str(SMOKE),
                                   "--results", str(out), "--set", "epochs=3"], cwd=ROOT,
                                  env=env, stdout=sink, stderr=subprocess.STDOUT, text=True)
        try:
            wait_for_epochs(out, rows=1)
            os.kill(running_trial(driver.pid), signal.SIGKILL)
            assert driver.wait(timeout=500) == 0
        finally:
            if driver.poll() is None:
                driver.kill()
    console = log.read_text()
    assert "Traceback" not in console and "(raylet)" not in console, console
    warnings = [ln for ln in console.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1, console
    retried = next(t for t in pq.read_table(out / "trials.parquet").to_pylist() if t["retries"])
    assert f"trial {retried['trial_id']} (a2=" in warnings[0] and "failed, retry 1" in warnings[0]
    assert str(out / "tune") in warnings[0] and warnings[0].endswith("error.txt)")
    assert "4 trials: 4 completed" in console


# ------------------------------------------------------------------------------ formatter
def row(trial_id: str, status: str, done: int, wall: float, **extra) -> dict:
    return {"trial_id": trial_id, "status": status, "epochs_done": done, "wall_seconds": wall,
            "config.epochs": 4, "config.a2": 1.0, "config.seed": 0, **extra}


def test_duration():
    assert duration(0) == "0:00" and duration(59.6) == "1:00" and duration(3725) == "1:02:05"
    assert duration(None) == "?" and duration(math.inf) == "?"


def test_counts_and_epochs():
    rows = [row("a", "completed", 4, 40.0), row("b", "running", 2, 20.0),
            row("c", "stopped", 1, 10.0), row("d", "diverged", 0, 0.0), row("e", "errored", 3, 30)]
    n = counts(rows, total=7)
    assert n == {"completed": 1, "running": 1, "pending": 2, "errored": 1, "diverged": 1,
                 "stopped": 1}
    # done: 4+2+1+0+3; total: the finished ones as run, b and the 2 not created as planned
    assert epochs_done_total(rows, total=7, default=4) == (10, 4 + 4 + 1 + 0 + 3 + 2 * 4)


def test_eta():
    rows = [row("a", "completed", 4, 40.0), row("b", "running", 2, 20.0)]
    # 10 s per epoch (60 s / 6 epochs); 2 + 2*4 epochs left; 3 trials unfinished, 2 at once
    assert eta_seconds(rows, total=4, default=4, slots=2) == pytest.approx(50.0)
    # one slot: all in series; more slots than unfinished trials: as many as are left
    assert eta_seconds(rows, total=4, default=4, slots=1) == pytest.approx(100.0)
    assert eta_seconds(rows, total=4, default=4, slots=8) == pytest.approx(100 / 3)
    # the driver's own measurement (start-up included) wins over the rows' training time
    assert eta_seconds(rows, total=4, default=4, slots=2, per_epoch=20.0) == pytest.approx(100.0)
    assert eta_seconds([row("b", "running", 0, 0.0)], total=2, default=4, slots=2) is None
    assert eta_seconds([row("a", "completed", 4, 40.0)], total=1, default=4, slots=1) == 0.0


def test_best_row_follows_the_spec_metric_and_mode():
    rows = [row("a", "completed", 4, 1, **{"metric.val_psnr": 12.0, "metric.test_psnr": 20.0}),
            row("b", "running", 2, 1, **{"metric.val_psnr": 13.0, "metric.test_psnr": 10.0}),
            row("c", "diverged", 0, 1, **{"metric.val_psnr": None}),
            row("d", "completed", 4, 1, **{"metric.val_psnr": math.inf}),
            row("e", "diverged", 2, 1, **{"metric.val_psnr": 14.0})]
    # once a trial has completed, the best is a completed one (as the report chooses): a
    # diverged trial keeps its last good epoch's value, a running one has no test numbers yet
    assert best_row(rows, "val_psnr", "max")["trial_id"] == "a"
    assert best_row(rows, "val_psnr", "min")["trial_id"] == "a"
    assert best_row(rows[1:3], "val_psnr", "max")["trial_id"] == "b"  # none completed yet
    assert best_row(rows, "latent_acc", "max") is None
    rows = rows[:4]
    line = progress_line(rows, total=4, epochs=4, metric="val_psnr", mode="max", axes=["a2"],
                         elapsed=65, slots=2)
    assert "best val_psnr 12 dB in a (a2=1, seed=0)" in line and "test_psnr" not in line
    assert parse_progress(line) == {"completed": 2, "running": 1, "pending": 0, "failed": 0,
                                    "diverged": 1, "epochs_done": 10, "epochs_total": 12}


def test_defined_metrics_only_where_the_trial_trained_them():
    metrics = {"metric.test_psnr": 15.0, "metric.latent_acc": 0.9, "metric.weight_acc": 0.5,
               "metric.joint_acc": 0.11, "metric.pretrain_mlp_acc": 0.8}
    untrained = row("a", "completed", 4, 1, **metrics, **{"config.variant": "classifier_loss",
                                                           "config.cls_weight": 0.0})
    trained = {**untrained, "config.cls_weight": 0.1}
    plain = {**untrained, "config.variant": "plain", "config.cls_weight": 0.1}
    pretrained = {**untrained, "config.variant": "pretrained"}
    assert defined_metrics(untrained, ["test_psnr"]) == ["test_psnr", "latent_acc", "weight_acc"]
    assert defined_metrics(trained, ["test_psnr"])[-1] == "joint_acc"
    assert "joint_acc" not in defined_metrics(plain, ["test_psnr"])
    assert defined_metrics(pretrained, ["test_psnr"])[-1] == "pretrain_mlp_acc"
    # the sweep's own metric is always shown, first
    assert defined_metrics(untrained, ["joint_acc"])[0] == "joint_acc"


def test_progress_seconds(monkeypatch):
    monkeypatch.delenv("HINR_PROGRESS_SECONDS", raising=False)
    assert progress_seconds() == 30.0
    monkeypatch.setenv("HINR_PROGRESS_SECONDS", "5")
    assert progress_seconds() == 5.0
    for bad in ("0", "-1", "soon", "nan"):
        monkeypatch.setenv("HINR_PROGRESS_SECONDS", bad)
        with pytest.raises(ValueError, match="allowed: a number of seconds > 0"):
            progress_seconds()


def test_bad_progress_interval_is_refused_before_anything(tmp_path):
    env = {**os.environ, "HINR_PROGRESS_SECONDS": "soon"}
    proc = subprocess.run([sys.executable, str(ROOT / "launch.py"), "run", str(SMOKE),
                           "--results", str(tmp_path / "r")], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=env)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == ("error: $HINR_PROGRESS_SECONDS: 'soon': allowed: a number of "
                                   "seconds > 0 (default 30)")
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------------------ line pacing
def test_state_changes_less_than_a_second_apart_share_one_line(tmp_path, monkeypatch, capsys):
    """A line reads every row, so one per trial start and end was quadratic in trials: changes
    closer than STATE_LINE_GAP_SECONDS wait for the next step's hook; the end prints at once."""
    from types import SimpleNamespace

    from sweeps.tune import progress
    from sweeps.spec import parse_spec

    now = [1000.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    spec = parse_spec({"name": "pace", "base": {"preset": "tiny", "epochs": 1},
                       "axes": {"lr": [1e-3, 2e-3, 3e-3]}, "seeds": [0], "search": "grid",
                       "metric": "val_psnr", "mode": "max"}, "pace.yaml")
    rows: dict = {}
    view = progress.SweepProgress(SimpleNamespace(trials=rows, results_dir=str(tmp_path)), spec,
                                  live=False, every_s=1000.0)
    view.setup()
    capsys.readouterr()  # the header
    trials = [SimpleNamespace(trial_id=f"t{i}") for i in range(3)]

    def start(i):
        rows[f"t{i}"] = {"trial_id": f"t{i}", "status": "running", "epochs_done": 0,
                         "wall_seconds": 0.0}
        view.on_trial_start(0, trials, trials[i])

    def lines():
        return [ln for ln in capsys.readouterr().out.splitlines() if PROGRESS.match(ln)]

    start(0)
    assert [parse_progress(ln)["running"] for ln in lines()] == [1]  # the first: at once
    now[0] += 0.2
    start(1)
    start(2)
    view.on_step_end(1, trials)
    assert lines() == []  # 0.2 s after the last line: owed, not printed
    now[0] += 1.0
    view.on_step_end(2, trials)
    assert [parse_progress(ln)["running"] for ln in lines()] == [3]  # both starts, one line
    now[0] += 0.1
    view.on_step_end(3, trials)
    assert lines() == []  # nothing owed, and the 1000 s period is not up
    for row in rows.values():
        row.update(status="completed", epochs_done=1)
    view.on_trial_complete(4, trials, trials[0])
    view.on_experiment_end(trials)
    assert [parse_progress(ln)["completed"] for ln in lines()] == [3]  # the end: at once
    assert view._slots == 3


@pytest.mark.parametrize("where", ["checkout", "elsewhere"])
def test_suggested_commands_run_as_printed_without_an_activated_venv(tmp_path, where):
    """The console's suggestions name the interpreter and the tensorboard that run them: with
    PATH holding only the system's directories (no activated venv), each printed command runs,
    from the checkout and from another directory."""
    import os
    import shlex
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    cwd = root if where == "checkout" else tmp_path
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from sweeps.invocation import launch_command, tensorboard_command\n"
            "print(launch_command()); print(tensorboard_command('tb'))" % str(root))
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=60, check=True).stdout.splitlines()
    launch, tensorboard = out
    if where == "checkout":
        assert launch.endswith(" launch.py") and not launch.startswith("/")
    proc = subprocess.run(shlex.split(launch) + ["--help"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "usage" in proc.stdout, proc.stderr[-2000:]
    proc = subprocess.run(shlex.split(tensorboard.replace("--logdir tb", "--version_tb")),
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
