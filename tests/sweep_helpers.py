"""Helpers for tests that interrupt sweeps and compare their Parquet files with an
uninterrupted run of the same sweep (the ``reference`` fixture in conftest.py)."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
SMOKE = str(ROOT / "sweeps" / "smoke.yaml")
EPOCHS = 4
# Timing columns differ between any two runs; everything else must match exactly.
TIMING = ("wall_seconds", "metric.train_images_per_s", "metric.train_seconds",
          "metric.eval_images_per_s", "metric.trial_seconds", "finished_at")


def launch_cmd(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "launch.py"), *args]


def start_run(*args: str, env=None, stderr=subprocess.DEVNULL) -> subprocess.Popen:
    """``launch.py ARGS`` in the background (a driver a test will interrupt)."""
    return subprocess.Popen(launch_cmd(*args), cwd=ROOT, env=env or os.environ.copy(),
                            stdout=subprocess.DEVNULL, stderr=stderr, text=True)


def kill_family(proc: subprocess.Popen) -> None:
    """The driver's machine dies: the driver and everything it started (its embedded Ray)."""
    from .raycluster import descendants

    for pid in [proc.pid] + descendants(proc.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def run_ok(*args: str, env=None) -> subprocess.CompletedProcess:
    proc = subprocess.run(launch_cmd(*args), cwd=ROOT, env=env or os.environ.copy(),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def kill_after_epochs(out: Path, rows: int, *args: str) -> None:
    """``launch.py ARGS`` (which writes to ``out``), its driver and Ray killed once ``rows``
    epoch rows are written."""
    driver = start_run(*args)
    try:
        wait_for_epochs(out, rows=rows)
    finally:
        kill_family(driver)


def interrupt_then_resume(sweep: str, out: Path, rows: int) -> int:
    """Run ``sweep`` into ``out``, kill its driver (and its Ray) once ``rows`` epoch rows are
    written, then ``launch.py resume`` it; the epoch rows there were at the kill."""
    driver = start_run("run", sweep, "--results", str(out))
    try:
        wait_for_epochs(out, rows=rows)
    finally:
        kill_family(driver)
    before = pq.read_table(out / "epochs").num_rows
    run_ok("resume", str(out))
    return before


def by_point(results: Path) -> tuple[dict, dict]:
    """trials keyed by (a2, seed) and epochs keyed by (a2, seed, epoch), timing dropped."""
    trials = pq.read_table(results / "trials.parquet").to_pylist()
    ids = {t["trial_id"]: (t["config.a2"], t["config.seed"]) for t in trials}
    assert len(ids) == len(trials)
    where = ("trial_id", "retries", "node", "stage")  # where and when it ran, not what
    keyed_trials = {ids[t["trial_id"]]: {k: v for k, v in t.items() if k not in TIMING + where}
                    for t in trials}
    epochs = pq.read_table(results / "epochs").to_pylist()
    keyed_epochs = {}
    for e in epochs:
        key = (*ids[e["trial_id"]], e["epoch"])
        assert key not in keyed_epochs, f"duplicate epoch row {key}"
        keyed_epochs[key] = {k: v for k, v in e.items() if k not in TIMING + ("trial_id",)}
    return keyed_trials, keyed_epochs


def wait_for_epochs(results: Path, rows: int, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if (results / "epochs").is_dir() and pq.read_table(results / "epochs").num_rows >= rows:
                return
        except Exception:  # a file being replaced right now; look again
            pass
        time.sleep(0.5)
    raise TimeoutError(f"fewer than {rows} epoch rows in {results} after {timeout} s")


def assert_same_results(reference: Path, results: Path) -> None:
    ref_trials, ref_epochs = by_point(reference)
    got_trials, got_epochs = by_point(results)
    assert got_trials.keys() == ref_trials.keys()
    assert got_epochs.keys() == ref_epochs.keys()  # no gaps, no duplicates
    for key in ref_trials:
        assert got_trials[key] == ref_trials[key], key
    for key in ref_epochs:
        assert got_epochs[key] == ref_epochs[key], key


def fill(disk: Path) -> Path:
    """Fill the file system under ``disk`` to its last byte (unbuffered writes of one page, so
    no partial buffer is left to fail later); returns the filler, to unlink for space again."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 4096)
        except OSError as err:
            assert err.errno == errno.ENOSPC
    return filler


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under ``root`` (links not followed) with its type, size, mtime and target."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            st_ = path.lstat()
            target = os.readlink(path) if path.is_symlink() else None
            out[str(path.relative_to(root))] = (st_.st_mode, st_.st_size, st_.st_mtime_ns, target)
    return out


def running_trial(driver_pid: int, timeout: float = 120) -> int:
    """The pid of a process running a trial right now (titled "ray::ImplicitFunc.train"), not
    one that Tune keeps idle for reuse ("ray::ImplicitFunc"): the OOM killer's victim in the
    fault tests.  Killing an idle cached actor instead (seen under load) gave its dead actor to
    the next trial, which then failed on it twice and ran out of retries."""
    from .raycluster import cmdline, descendants

    deadline = time.time() + timeout
    while time.time() < deadline:
        pids = [p for p in descendants(driver_pid) if "ray::ImplicitFunc.train" in cmdline(p)]
        if pids:
            return pids[0]
        time.sleep(0.2)
    raise TimeoutError(f"no process running a trial under driver {driver_pid} after {timeout} s")
