"""One driver per results directory: a second ``run``/``resume`` on a live sweep is refused
with one line and exit 2, and touches nothing; ``status`` says a driver is running.  (That a
SIGKILLed driver releases the lock is covered by test_faults' kill-then-resume.)"""

from __future__ import annotations

import re
import subprocess
import time

from sweeps.guard import SweepInUse, driver_lock, running_driver

from .sweep_helpers import ROOT, SMOKE, kill_family, launch_cmd, start_run, wait_for_epochs


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(launch_cmd(*args), cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_lock_is_exclusive_and_released(tmp_path):
    results = tmp_path / "sweep"
    assert running_driver(results) is None
    with driver_lock(results, ["launch.py", "run", "x.yaml"]):
        holder = running_driver(results)
        assert holder["command"] == ["launch.py", "run", "x.yaml"] and holder["pid"] > 0
        try:
            with driver_lock(results):
                raise AssertionError("a second holder got the lock")
        except SweepInUse as err:
            assert "\n" not in str(err) and "launch.py run x.yaml" in str(err)
    assert running_driver(results) is None
    assert not (tmp_path / ".sweep.driver.json").exists()


def test_a_lock_that_cannot_be_taken_is_one_clear_error(tmp_path):
    (tmp_path / ".sweep.lock").mkdir()  # stands in for storage where the lock file fails
    try:
        with driver_lock(tmp_path / "sweep"):
            raise AssertionError("locked a directory")
    except SweepInUse as err:
        assert "\n" not in str(err) and "cannot take the driver lock" in str(err)
        assert ".sweep.lock" in str(err)


def test_second_driver_on_a_live_sweep_is_refused(tmp_path):
    results = tmp_path / "smoke"
    # A sweep that cannot end on its own while the five commands below run, however slow the
    # machine (40 epochs once finished first under load, once workers were reused): the
    # test ends it by killing its driver.
    proc = start_run("run", SMOKE, "--results", str(results), "--set", "epochs=100000")
    try:
        wait_for_epochs(results, 1)
        spec_before = (results / "sweep.yaml").read_bytes()
        for args in (("resume", str(results)), ("run", SMOKE, "--results", str(results)),
                     ("run", SMOKE, "--results", str(results), "--overwrite")):
            refused = _cli(*args)
            assert refused.returncode == 2, (args, refused.stderr[-2000:])
            lines = refused.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: ")
            assert "a sweep driver is running on it" in lines[0]
            assert f"pid {proc.pid}" in lines[0]
        assert (results / "sweep.yaml").read_bytes() == spec_before  # --overwrite deleted nothing
        status = _cli("status", str(results))
        assert status.returncode == 0 and f"driver: running now (pid {proc.pid}" in status.stdout
        assert "launch.py resume" not in status.stdout
    finally:
        kill_family(proc)
    deadline = time.time() + 30  # the kernel drops a dead process's locks as it reaps it
    while running_driver(results) is not None and time.time() < deadline:
        time.sleep(0.2)
    assert running_driver(results) is None
    status = _cli("status", str(results))
    assert re.search(r"continue with: \S*python\S* \S*launch\.py resume", status.stdout), \
        status.stdout
