"""Results directories that cannot take the results: refused before Ray starts, or (disk full
mid-sweep) a clean stop with one clear line, every file written before intact, and a resume
that finishes the sweep once space is back.  Small disks are real tmpfs mounts."""

from __future__ import annotations

import subprocess

import pyarrow.parquet as pq

from .sweep_helpers import (ROOT, EPOCHS, SMOKE, assert_same_results, fill, launch_cmd,
                            run_ok, start_run, wait_for_epochs)


def launch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(launch_cmd(*args), cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_results_path_under_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    proc = launch("run", SMOKE, "--results", str(blocker / "results"))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and str(blocker) in proc.stderr
    assert blocker.read_text() == "not a directory"


def test_nearly_full_disk_refused_up_front(small_disk):
    disk = small_disk(8)
    proc = launch("run", SMOKE, "--results", str(disk / "results"))
    assert proc.returncode == 2 and "MiB free" in proc.stderr and str(disk) in proc.stderr
    assert list(disk.iterdir()) == []


def test_disk_full_mid_sweep_stops_cleanly_and_resumes(reference, small_disk):
    disk = small_disk(96)
    out = disk / "results"
    driver = start_run("run", SMOKE, "--results", str(out), "--set", f"epochs={EPOCHS}",
                       stderr=subprocess.PIPE)
    try:
        wait_for_epochs(out, rows=2)
        written = {p: pq.read_table(p).num_rows for p in (out / "epochs").glob("*.parquet")}
        filler = fill(disk)
        _, err = driver.communicate(timeout=300)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 1, err[-3000:]
    assert "error: sweep stopped" in err
    for path, rows in written.items():  # nothing already written was lost or truncated
        assert pq.read_table(path).num_rows >= rows
    filler.unlink()
    run_ok("resume", str(out))
    assert_same_results(reference, out)
