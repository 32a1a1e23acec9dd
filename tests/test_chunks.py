"""Runs that outlive their machine (issue 38): ``--time-budget`` ends a stage by the clock, and
``resume`` continues a sweep from its records alone (sweep.yaml, trials.parquet, epochs/), in
the same directory or in a copy made by ``launch.py records``; the end result is the Parquet of
one uninterrupted run.  Real sweeps through the real CLI, real Ray, real Parquet.

Timing: which trials a budget or a kill leaves unfinished depends on the machine's speed, so
every test asserts what holds whatever was left (the continuation ends equal to the
uninterrupted run, nothing runs twice); a 1 s budget always stops the stage, since no trial
ends within a second of its worker's start (torch's import alone takes longer).
"""

from __future__ import annotations

import glob
import pickle
import shutil
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from sweeps.budget import EXIT_BUDGET, Budget, BudgetError, parse_duration

from .sweep_helpers import (EPOCHS, SMOKE, assert_same_results, kill_after_epochs, launch_cmd,
                            run_ok)

ROOT = Path(__file__).resolve().parent.parent


def launch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(launch_cmd(*args), cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def rows(out: Path) -> list[dict]:
    return pq.read_table(out / "trials.parquet").to_pylist()


def stages(out: Path) -> list[dict]:
    return yaml.safe_load((out / "sweep.yaml").read_text()).get("stages", [])


def drop_tune_state(out: Path) -> None:
    """What a copy of the records alone has: no Tune experiment, no checkpoint."""
    for name in ("tune", "extensions", "continued"):
        shutil.rmtree(out / name, ignore_errors=True)


def test_the_environment_names_the_cpu_and_the_kernel_flags():
    from sweeps.environment import cpu_info, environment

    info = cpu_info("processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: fpu avx2 fma "
                    "amx_tile\nprocessor\t: 1\nmodel name\t: other\nflags\t: sse\n")
    assert info["cpu_model"] == "Test CPU 9000"
    assert info["isa_flags"] == ["avx2", "fma", "amx_tile"]  # the first CPU's, in ISA_FLAGS order
    here = environment()
    assert isinstance(here["cpu_model"], str) and here["cpu_count"] >= 1
    assert here["torch_cpu_capability"] and "isa_env" in here


# ------------------------------------------------------------------------------ the clock
@pytest.mark.parametrize("text, seconds", [("90m", 5400), ("2h30m", 9000), ("45s", 45),
                                           ("1h0m5s", 3605), ("1.5h", 5400), ("2H", 7200)])
def test_durations_read_as_written(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "90", "0m", "m", "-5m", "1h1h", "30m2h", "2 h", "1d",
                                  "nanh", "1e400s"])
def test_bad_durations_are_refused(text):
    with pytest.raises(BudgetError, match="--time-budget: allowed a duration such as 90m"):
        parse_duration(text)


def test_the_budget_admits_a_trial_only_if_its_measured_time_ends_in_time():
    budget = Budget(100.0, deadline=1000.0)  # ends at t = 1000
    assert budget.admits(now=950.0)  # nothing measured yet: while time is left
    for trial, start, end in (("a", 900.0, 940.0), ("b", 900.0, 930.0)):
        budget.trial_started(trial, now=start)
        budget.trial_ended(trial, full=True, now=end)
    assert budget.trial_s() == 40.0  # the longest full trial, with 10% headroom: 44 s
    assert budget.admits(now=955.0) and not budget.admits(now=957.0)
    assert budget.should_stop(now=957.0)  # refused one, and nothing runs: the stage ends
    assert budget.stopped and budget.cut == frozenset()
    late = Budget(100.0, deadline=1000.0, prior_s=30.0)  # the records' measure, until its own
    assert late.admits(now=966.0) and not late.admits(now=968.0)
    late.trial_started("b", now=990.0)
    assert not late.should_stop(now=999.0)  # still running, before the deadline
    assert late.should_stop(now=1000.0) and late.cut == frozenset({"b"})


@pytest.mark.parametrize("command", ["run", "resume", "extend"])
def test_a_bad_budget_is_one_line_exit_2_and_writes_nothing(command, tmp_path):
    out = tmp_path / "results"
    target = [SMOKE, "--results", str(out)] if command == "run" else [str(out)]
    proc = launch(command, *target, "--time-budget", "2 hours")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "--time-budget: allowed a duration" in proc.stderr
    assert not out.exists()


# ------------------------------------------------------------------------------ grid
def test_a_budget_stops_a_grid_and_its_records_alone_finish_it_as_one_run(reference, tmp_path):
    """Stopped by a 1 s budget (exit 3, the line, the stage recorded as ended by it, no
    trial marked stopped), copied by `records` (no Tune state), continued in the copy by
    `resume`: the Parquet equals one uninterrupted run's."""
    out, copy = tmp_path / "results", tmp_path / "data" / "smoke"
    proc = launch("run", SMOKE, "--results", str(out), "--set", f"epochs={EPOCHS}",
                  "--time-budget", "1s")
    assert proc.returncode == EXIT_BUDGET, proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("budget reached: ") and last.endswith(
        f"of 4 trials finished; launch.py resume {out} continues")
    assert [s["ended"] for s in stages(out)] == ["budget"]
    assert stages(out)[0]["budget_s"] >= 1.0
    assert all(r["status"] in ("completed", "running", "pending") for r in rows(out))
    proc = launch("records", str(out), str(copy))
    assert proc.returncode == 0, proc.stderr
    assert {p.name for p in copy.iterdir()} <= {"epochs", "images", "predictions", "sweep.yaml",
                                                "trials.parquet"}
    assert not list(copy.rglob("*.pt")) and not list(copy.rglob("*.pkl"))
    proc = launch("resume", str(copy))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "continuing from the records: " in proc.stdout
    assert_same_results(reference, copy)
    assert [s["kind"] for s in stages(copy)] == ["first", "continue"]
    assert stages(copy)[-1]["ended"] == "finished"
    # each stage says where it ran (the CPU and kernels: a run is a block), and the rows which
    assert all(s["environment"]["cpu_model"] and "isa_flags" in s["environment"]
               for s in stages(copy))
    assert {r["stage"] for r in rows(copy)} <= {1, 2} and 2 in {r["stage"] for r in rows(copy)}
    # records again into the same copy: the same sweep's records are updated, not refused
    assert launch("records", str(out), str(copy)).returncode == 0


def test_a_budget_its_records_say_is_too_short_starts_nothing(reference, tmp_path):
    """Records whose trials took an hour each (the measure a continuation starts from) and a
    10-minute budget: no trial starts, the stage ends at once by its budget (exit 3), and the
    records are as they were."""
    import pyarrow as pa

    out = tmp_path / "results"
    shutil.copytree(reference, out)
    drop_tune_state(out)
    table = pq.read_table(out / "trials.parquet")
    keep = [i for i, r in enumerate(table.to_pylist()) if r["config.seed"] == 0]
    table = table.take(pa.array(keep))  # half of the sweep recorded, the rest missing
    hour = pa.array([3600.0] * table.num_rows)
    table = table.set_column(table.schema.get_field_index("wall_seconds"),
                             table.schema.field("wall_seconds"), hour)
    pq.write_table(table, out / "trials.parquet")
    before = rows(out)
    proc = launch("resume", str(out), "--time-budget", "10m")
    assert proc.returncode == EXIT_BUDGET, proc.stderr[-3000:]
    assert "continuing from the records: 2 missing trial(s) of 4, 2 recorded" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1].startswith("budget reached: 2 of 4 trials")
    assert rows(out) == before
    assert [s["kind"] for s in stages(out)][-1] == "continue" and stages(out)[-1]["ended"] == "budget"


def test_a_sweep_killed_before_tune_saved_its_state_continues_from_its_records(reference,
                                                                               tmp_path):
    """Killed mid-way, its Tune state gone (as a driver killed before Tune's first save leaves
    it): resume runs exactly the missing trials, and nothing finished runs again."""
    out = tmp_path / "results"
    kill_after_epochs(out, EPOCHS + 2, "run", SMOKE, "--results", str(out), "--set",
                      f"epochs={EPOCHS}")
    for state in (out / "tune").glob("*"):  # the directory stays, its state never came
        shutil.rmtree(state) if state.is_dir() else state.unlink()
    finished = {r["trial_id"]: r for r in rows(out) if r["status"] == "completed"}
    proc = launch("resume", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"{4 - len(finished)} missing trial(s) of 4" in proc.stdout
    assert_same_results(reference, out)
    after = {r["trial_id"]: r for r in rows(out)}
    assert all(after[i] == r for i, r in finished.items())  # kept as they were


@pytest.mark.parametrize("mode, recorded, verdict", [
    ("max", {"o1": {1: 10.0, 2: 11.0}, "o2": {1: 12.0}, "o3": {1: 14.0}}, "STOP"),
    ("max", None, "CONTINUE"),  # nothing recorded: the first trial at a rung is never cut
    ("min", {"o1": {1: 10.0}, "o2": {1: 12.0}, "o3": {1: 14.0}}, "CONTINUE"),
])
def test_a_continuations_asha_rungs_start_with_the_recorded_values(mode, recorded, verdict):
    """A continued trial reaching ASHA's first rung at val_psnr 11 is cut against the recorded
    trials' values there (the upper half of 10, 12, 14 when larger is better), as it would
    have been in one uninterrupted run."""
    from ray.tune.experiment import Trial
    from ray.tune.schedulers import TrialScheduler

    from sweeps.spec import parse_spec
    from sweeps.tune.run import scheduler

    spec = parse_spec({"name": "asha", "base": {"preset": "tiny", "epochs": 4},
                       "axes": {"a2": [1.0, 100.0]}, "seeds": [0], "search": "grid",
                       "metric": "val_psnr", "mode": mode,
                       "scheduler": {"type": "asha", "grace_period": 1, "reduction_factor": 2}},
                      "asha.yaml")
    asha = scheduler(spec, 4, recorded)
    trial = Trial("train", trial_id="continued", stub=True)
    asha.on_trial_add(None, trial)
    got = asha.on_trial_result(None, trial, {"training_iteration": 1, "val_psnr": 11.0})
    assert got == getattr(TrialScheduler, verdict)


# ------------------------------------------------------------------------------ records
def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("case", ["foreign file", "another sweep", "itself", "inside",
                                  "not a sweep", "a file"])
def test_records_refuses_a_destination_it_would_damage(reference, tmp_path, case):
    """One line, exit 2, and neither the source nor the destination changed."""
    dest = tmp_path / "dest"
    source = reference
    if case == "foreign file":
        dest.mkdir()
        (dest / "notes.txt").write_text("mine")
    elif case == "another sweep":
        dest.mkdir()
        (dest / "sweep.yaml").write_text("name: other\n")
    elif case == "itself":
        dest = reference
    elif case == "inside":
        dest = reference / "epochs" / "copy"
    elif case == "not a sweep":
        source = tmp_path / "empty"
        source.mkdir()
    else:
        dest.write_text("a file")
    source_before = _tree(source)
    dest_before = _tree(dest) if dest.is_dir() else None
    proc = launch("records", str(source), str(dest))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: "), proc.stderr
    assert _tree(source) == source_before
    assert (_tree(dest) if dest.is_dir() else None) == dest_before
    assert not (reference / "epochs" / "copy").exists()


# ------------------------------------------------------------------------------ design
DESIGN = {"name": "chunked-design", "base": {"preset": "tiny", "epochs": 2},
          "axes": {"a2": [1.0, 100.0], "latent_dim": [8, 16], "inr_depth": [2, 3]},
          "seeds": [0], "search": "design", "design": {"type": "fractional", "resolution": 3},
          "metric": "val_psnr", "mode": "max", "resources": {"cpus": 1},
          "budget": {"max_concurrent": 2}}


def test_a_designed_sweep_continues_from_its_records_in_another_directory(tmp_path):
    sweep = tmp_path / "design.yaml"
    sweep.write_text(yaml.safe_dump(DESIGN))
    whole, out, copy = tmp_path / "whole", tmp_path / "results", tmp_path / "copy"
    run_ok("run", str(sweep), "--results", str(whole))
    kill_after_epochs(out, 3, "run", str(sweep), "--results", str(out))
    assert launch("records", str(out), str(copy)).returncode == 0
    proc = launch("resume", str(copy))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "continuing from the records" in proc.stdout
    key = lambda r: (r["config.a2"], r["config.latent_dim"], r["config.inr_depth"],  # noqa: E731
                     r["config.seed"])
    timing = ("wall_seconds", "metric.train_images_per_s", "metric.train_seconds",
              "metric.eval_images_per_s", "metric.trial_seconds", "trial_id", "node", "retries",
              "stage", "finished_at")
    want = {key(r): {k: v for k, v in r.items() if k not in timing} for r in rows(whole)}
    got = {key(r): {k: v for k, v in r.items() if k not in timing} for r in rows(copy)}
    assert got == want and len(rows(copy)) == 4


# ------------------------------------------------------------------------------ Optuna
OPTUNA = {"name": "chunked-optuna", "base": {"preset": "tiny", "epochs": 1},
          "axes": {"a2": {"loguniform": [1.0, 100.0]}, "latent_dim": [8, 16]},
          "seeds": [0, 1], "search": "optuna", "metric": "val_psnr", "mode": "max",
          "resources": {"cpus": 1}, "budget": {"num_samples": 4, "max_concurrent": 2}}


def _study_trials(experiment: Path) -> list[dict]:
    """The Optuna study the continuation's searcher ended with (Tune's saved searcher state:
    the OptunaSearch pickled by its save()), as the params of each of its trials."""
    files = sorted(glob.glob(str(experiment / "searcher-state-*.pkl")))
    assert files, f"no searcher state in {experiment}"
    with open(files[-1], "rb") as f:
        state = pickle.load(f)
    study = state["_ot_study"] if isinstance(state, dict) else state._ot_study
    return [t.params for t in study.trials]


def test_an_optuna_sweep_continues_from_its_records_with_every_recorded_trial_told(tmp_path):
    """Killed mid-way, Tune's state deleted: resume runs only the remaining trials, draws no
    recorded point again, ends with 4 points x 2 seeds, and its sampler's study holds every
    point of the sweep (the recorded ones told, the rest drawn)."""
    sweep = tmp_path / "optuna.yaml"
    sweep.write_text(yaml.safe_dump(OPTUNA))
    out = tmp_path / "results"
    kill_after_epochs(out, 3, "run", str(sweep), "--results", str(out))
    before = [r for r in rows(out) if r["status"] == "completed"]
    drop_tune_state(out)
    proc = launch("resume", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "A new study created" not in proc.stdout + proc.stderr  # Optuna's INFO: silenced
    after = rows(out)
    assert len(after) == 8 and all(r["status"] == "completed" for r in after)
    points = {}
    for r in after:
        points.setdefault((r["config.a2"], r["config.latent_dim"]), []).append(r["config.seed"])
    assert len(points) == 4 and all(sorted(s) == [0, 1] for s in points.values())
    kept = {r["trial_id"]: r for r in after}
    assert all(kept[r["trial_id"]] == r for r in before)  # recorded trials kept, not rerun
    told = _study_trials(out / "continued" / "1")
    assert sorted((p["a2"], p["latent_dim"]) for p in told) == sorted(points)
