"""Tune's experiment directory through a full disk: the file system sweeps give Tune writes
whole files or none (a real tmpfs filled to the last byte), and resume refuses a directory
whose Tune state is damaged instead of letting Tune restart the sweep and drop its rows."""

from __future__ import annotations

import gc
import pickle
import shutil
import subprocess
from pathlib import Path

import cloudpickle
import pyarrow.fs
import pytest

from sweeps.storage import damaged_state, storage_filesystem

from .sweep_helpers import ROOT, fill, launch_cmd


def test_a_copy_onto_a_full_disk_leaves_the_old_files_whole(tmp_path, small_disk):
    staging = tmp_path / "staging"  # Tune's driver staging directory, on a disk with room
    staging.mkdir()
    new_state = '{"trials": "%s"}' % ("x" * 300_000)
    (staging / "experiment_state-s.json").write_text(new_state)
    (staging / "basic-variant-state-s.json").write_bytes(pickle.dumps({"generated": 4}))
    disk = small_disk(1)
    (disk / "experiment_state-s.json").write_text('{"trials": "old"}')
    (disk / "basic-variant-state-s.json").write_bytes(pickle.dumps({"generated": 2}))
    filler = fill(disk)

    with pytest.raises(OSError):
        pyarrow.fs.copy_files(str(staging), str(disk), destination_filesystem=storage_filesystem())
    assert (disk / "experiment_state-s.json").read_text() == '{"trials": "old"}'
    assert pickle.loads((disk / "basic-variant-state-s.json").read_bytes()) == {"generated": 2}
    # A stream pyarrow dropped without closing it (the copy of the other file, cut short by
    # the first one's failure) removes its temp file when it is finalised; it can sit in a
    # reference cycle until the next collection, so collect before looking (it was flaky).
    gc.collect()
    assert sorted(p.name for p in disk.iterdir()) == [  # no temp file left behind
        "basic-variant-state-s.json", "experiment_state-s.json", "filler"]
    assert damaged_state(disk) is None

    filler.unlink()  # space again: the next sync goes through whole
    pyarrow.fs.copy_files(str(staging), str(disk), destination_filesystem=storage_filesystem())
    assert (disk / "experiment_state-s.json").read_text() == new_state
    assert (disk / "experiment_state-s.json").stat().st_mode & 0o777 == 0o644


def test_plain_local_copies_cut_the_state_short_which_damaged_state_names(tmp_path, small_disk):
    """Why the file system above exists: pyarrow's own local copy overwrites in place."""
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "experiment_state-s.json").write_text('{"trials": "%s"}' % ("x" * 300_000))
    disk = small_disk(1)
    (disk / "experiment_state-s.json").write_text('{"trials": "old"}')
    fill(disk)
    with pytest.raises(OSError):
        pyarrow.fs.copy_files(str(staging), str(disk))
    problem = damaged_state(disk)
    assert problem.startswith(f"{disk / 'experiment_state-s.json'}: not whole JSON")


def test_the_file_system_travels_by_pickle_and_copies_whole_files(tmp_path):
    fs = storage_filesystem()
    assert cloudpickle.loads(cloudpickle.dumps(fs)) == fs  # tuner.pkl, and to every worker
    (tmp_path / "a").write_bytes(b"1" * 100_000)
    fs.copy_file(str(tmp_path / "a"), str(tmp_path / "b"))
    assert (tmp_path / "b").read_bytes() == b"1" * 100_000
    with pytest.raises(PermissionError):
        fs.delete_dir_contents("/", accept_root_dir=True)


@pytest.mark.parametrize("name,content,expected", [
    ("experiment_state-2.json", b'{"trial_data": [', "not whole JSON"),
    ("basic-variant-state-2.json", b"", "empty"),
    ("searcher-state-2.pkl", pickle.dumps({"points": list(range(100))})[:-7], "cut short at"),
    ("callback-states-2.pkl", b"\x80\x05not a pickle at all", "cut short at"),
])
def test_damaged_state_names_the_file_and_what_is_wrong(tmp_path, name, content, expected):
    (tmp_path / "experiment_state-1.json").write_text("{}")
    for pattern in ("basic-variant-state", "searcher-state", "callback-states"):
        suffix = ".json" if pattern == "basic-variant-state" else ".pkl"
        (tmp_path / f"{pattern}-1{suffix}").write_bytes(pickle.dumps({"ok": 1}))
        (tmp_path / f"{pattern}-2{suffix}").write_bytes(pickle.dumps({"ok": 2}))
    (tmp_path / "experiment_state-2.json").write_text('{"ok": 2}')
    assert damaged_state(tmp_path) is None
    (tmp_path / name).write_bytes(content)  # only the newest of each is what Tune reads
    problem = damaged_state(tmp_path)
    assert problem.startswith(f"{tmp_path / name}: {expected}"), problem
    assert "\n" not in problem


def test_no_state_at_all_is_named(tmp_path):
    assert "no experiment_state-*.json" in damaged_state(tmp_path)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_resume_passes_over_a_damaged_tune_state_for_the_records(tmp_path, reference):
    """The state a plain local copy left on a full disk: before, Tune restarted the sweep from
    scratch and the restart dropped every earlier trial's rows; then resume refused it.  Now
    the records are the truth: resume says why it passes the state over and continues from
    them, and the sweep ends equal to an uninterrupted run."""
    from .sweep_helpers import EPOCHS, SMOKE, assert_same_results, kill_after_epochs

    results = tmp_path / "results"
    kill_after_epochs(results, EPOCHS + 2, "run", SMOKE, "--results", str(results), "--set",
                      f"epochs={EPOCHS}")
    state = max((results / "tune").glob("experiment_state-*.json"))
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    proc = subprocess.run(launch_cmd("resume", str(results)), cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"Tune's state cannot be restored ({state}: not whole JSON" in proc.stdout
    assert "continuing from the records" in proc.stdout
    assert_same_results(reference, results)


def test_resume_refuses_an_optuna_sweep_saved_before_seeds_were_a_config_field(tmp_path):
    """tests/data/optuna_before_9761130: a real interrupted Optuna sweep written by the code
    before 9761130 (its README says how).  Resuming it used to hang the driver in Tune's
    restore.  Its Tune state is passed over, and its records cannot be continued either: the
    code that computes the numbers changed since.  One line saying so, before Ray starts,
    nothing touched."""
    results = tmp_path / "results"
    shutil.copytree(ROOT / "tests" / "data" / "optuna_before_9761130", results)
    before = snapshot(results)
    proc = subprocess.run(launch_cmd("resume", str(results)), cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(f"error: {results / 'sweep.yaml'}: ")
    assert "pooled trials would not be comparable: run a new sweep" in proc.stderr
    assert snapshot(results) == before
    assert not (results / "driver.log").exists()  # refused before Ray started


def test_state_of_this_version_is_not_taken_for_an_older_one(reference):
    from sweeps.storage import state_from_older_version

    assert state_from_older_version(reference / "tune") is None
