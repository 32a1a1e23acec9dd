"""Session fixtures for the whole suite.

* ``hinr_data`` (autouse): ``$HINR_DATA`` points at a fresh session temp dir for every test and
  for every subprocess a test starts, so no test reads or writes ``~/.cache/hinr``.
* ``cifar10_fixture`` / ``cifar10_root``: a small CIFAR-10 (200 train / 100 test) in the
  official python-batch layout, written once per session (see fixtures.py).
* ``mnist5k``: the whole offline mnist-5k set, loaded once per session.
* ``reference``: smoke.yaml run uninterrupted, for the fault tests to compare against.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import torch
from hypothesis import settings

# Ray reads its settings (token authentication above all) once, when it is first imported: a
# test module that imports ray before any of sweeps would fix them for the whole session, and
# a later Ray started with the product's settings would refuse that process's unauthenticated
# client ("Failed to start GCS ... InvalidAuthToken").  So the product's settings come first,
# before pytest collects any test module.
from sweeps import rayenv  # noqa: E402 - os.environ only, no Ray

rayenv.configure()

from .fixtures import Cifar10Fixture, write_cifar10_fixture

# Property tests draw the same examples on every run ("ci", the default), so a red CI always
# reproduces; explore new ones with `pytest --hypothesis-profile=explore` (failures found that
# way become explicit @example regressions).
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile("ci")

# Ray starts trial workers at nice 15 (RAY_worker_niceness): on a 2-core machine shared with
# other busy processes they then starve, and tests time out.  At 0 they compete as equals.  The
# raylet reads it from its environment, which every Ray this suite starts inherits (embedded
# ones through launch.py subprocesses, tests/raycluster.py's `ray start`).
os.environ.setdefault("RAY_worker_niceness", "0")

# One intra-op thread: the models here are tiny, and OpenMP's spin-waiting with 2 threads on a
# shared 2-core machine made single epochs 10-30x slower whenever anything else was running.
# HINR_TEST_THREADS overrides it.
torch.set_num_threads(int(os.environ.get("HINR_TEST_THREADS", "1")))


# The fast tier (`make test-fast`, `pytest -m "not slow"`, under 3 minutes on 2 idle cores)
# leaves out what takes tens of seconds to minutes a test: whole sweeps through the CLI, Ray
# clusters, faults, full disks, browsers.  A test is slow when its module, its name or a fixture
# it uses is below, or when it says @pytest.mark.slow itself; `make test`'s durations
# (test-results/junit.xml) show what else has grown slow.
SLOW_MODULES = {
    "test_faults.py": "kills drivers, trial workers and nodes mid-sweep, then resumes",
    "test_cluster.py": "starts a 2-node Ray cluster on loopback",
    "test_disk.py": "fills a real tmpfs under a running sweep",
    "test_driver_lock.py": "keeps a live sweep running while a second driver is refused",
    "test_checkpoints.py": "whole sweeps, checkpointing and restoring trials",
    "test_sweeps_e2e.py": "smoke.yaml through the CLI, Parquet and TensorBoard read back",
    "test_report_browser.py": "drives Chromium over a real report",
    "test_console.py": "reads the console of real sweeps, killed trials and resumes included",
    "test_extend.py": "extends real sweeps, interrupted ones included",
    "test_pilot.py": "runs pilot sweeps for the dry-run's power lines",
}
# Single tests of otherwise fast modules: each runs a sweep, a benchmark or Ray, and took
# 10-170 s in a full suite on a loaded machine (3-50 s idle).  Names without parameters.
SLOW_TESTS = {
    "test_adversarial.py::test_overwrite_never_deletes_what_is_not_its_own",
    "test_adversarial.py::test_refused_after_ray_starts_writes_nothing",
    "test_adversarial.py::test_adversarial_runs_are_refused_cleanly",
    "test_adversarial.py::test_adversarial_dry_runs_are_refused_cleanly",
    "test_adversarial.py::test_dry_run_random_search_with_fewer_trials_than_rows",
    "test_analysis.py::test_report_best_setting_is_chosen_on_val_and_reports_test",
    "test_benchmark_sweep.py::test_tiny_run_end_to_end",
    "test_benchmark_sweep.py::test_gpu_share_arm_on_a_logical_gpu",
    "test_benchmark_sweep.py::test_tiny_cut_arm_exits_0",
    "test_benchmarks_reference.py::test_step_benchmark_runs_end_to_end",
    "test_design.py::test_designed_sweep_resumes_to_the_same_trials",
    "test_design.py::test_dry_run_prints_the_design_and_its_aliases",
    "test_estimate.py::test_dry_run_prints_the_estimate",
    "test_fair.py::test_a_real_sweep_carries_its_margins_into_the_report",
    "test_model_effects.py::test_report_under_early_stopping_and_for_one_factor",
    "test_model_effects.py::test_report_of_a_designed_sweep",
    "test_scale.py::test_tiny_replay",
    "test_scale.py::test_tiny_through_run_sweep",
    "test_security.py::test_embedded_ray_has_no_dashboard_and_uses_tokens",
    "test_spec.py::test_launch_run_bad_file_exits_2",
    "test_storage.py::test_resume_refuses_an_optuna_sweep_saved_before_seeds_were_a_config_field",
    "test_sweep_files.py::test_a_reused_worker_process_gives_the_same_results",
    "test_sweep_files.py::test_diverged_trial_is_recorded_and_sweep_goes_on",
}
SLOW_FIXTURES = {
    "reference": "runs smoke.yaml to the end (once per session)",
    "ray_embedded": "runs whole sweeps on an embedded Ray",
    "small_disk": "mounts and fills a tmpfs",
    "control_runs": "six tiny trials of three variants with every label-efficiency probe",
}
# The fast tier keeps one tiny real Ray Tune sweep, the demo's, so it still runs Tune, the
# trainable and the Parquet writer end to end.
FAST_RAY_SWEEP = "tests/test_sweep_files.py::test_tiny_mode_runs[demo]"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid == FAST_RAY_SWEEP:
            continue
        if (item.path.name in SLOW_MODULES or f"{item.path.name}::{item.originalname}" in SLOW_TESTS
                or SLOW_FIXTURES.keys() & set(item.fixturenames)):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def hinr_data(tmp_path_factory: pytest.TempPathFactory):
    """Point $HINR_DATA at a session temp dir (inherited by subprocesses); restore afterwards."""
    path = tmp_path_factory.mktemp("hinr_data")
    old = os.environ.get("HINR_DATA")
    os.environ["HINR_DATA"] = str(path)
    yield path
    if old is None:
        os.environ.pop("HINR_DATA", None)
    else:
        os.environ["HINR_DATA"] = old


@pytest.fixture(scope="session")
def cifar10_fixture(tmp_path_factory: pytest.TempPathFactory) -> Cifar10Fixture:
    """200 train / 100 test CIFAR-10-layout images; ``.root`` is the data root to pass on."""
    return write_cifar10_fixture(tmp_path_factory.mktemp("cifar10"), n_train=200, n_test=100,
                                 seed=0)


@pytest.fixture(scope="session")
def cifar10_root(cifar10_fixture: Cifar10Fixture) -> Path:
    """Data root holding ``cifar-10-batches-py/`` (use with verify_data=False)."""
    return cifar10_fixture.root


@pytest.fixture(scope="session")
def mnist5k(hinr_data):
    """The full offline mnist-5k set (4,000 / 1,000), written under $HINR_DATA on first use."""
    from hinr import data, preset
    return data.load(preset("tiny", train_subset=0, test_subset=0))


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """smoke.yaml run once, uninterrupted: what every interrupted run must end up equal to."""
    from .sweep_helpers import EPOCHS, SMOKE, run_ok

    out = tmp_path_factory.mktemp("reference") / "results"
    run_ok("run", SMOKE, "--results", str(out), "--set", f"epochs={EPOCHS}")
    return out


@pytest.fixture(scope="module")
def ray_embedded():
    """One embedded 2-CPU Ray for a test module's run_sweep calls."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             configure_logging=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def small_disk(tmp_path):
    """A real tmpfs of a given size (tests of a full disk); unmounted afterwards."""
    mounts = []

    def make(megabytes: int) -> Path:
        point = tmp_path / f"disk{len(mounts)}"
        point.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(point)],
                       check=True, capture_output=True)
        mounts.append(point)
        return point

    yield make
    for point in mounts:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)
