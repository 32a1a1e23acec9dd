"""A results directory is input too (issue 32): every command that reads one (status, resume,
report, python -m analysis, run --overwrite) goes through contract/resultsdir.py, which refuses
a directory that breaks the contract with one line and exit 2, before anything is read into a
report or handed to Ray.

Every case starts from a real smoke sweep's directory (the session's ``reference`` run),
copied, then damaged the way users damage them: wrong column types, duplicate or path-like
trial ids, links and FIFOs among the entries, truncated or foreign files, a sweep.yaml of
another sweep, a path that is not UTF-8, a report folder that cannot be written.  The
property test at the end draws damage at random and runs every command as a subprocess.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract import resultsdir, schema
from contract.resultsdir import MAX_DEPTH, ResultsDirError, check, check_entries

from .sweep_helpers import snapshot

ROOT = Path(__file__).resolve().parent.parent
LAUNCH = str(ROOT / "launch.py")
SMOKE = str(ROOT / "sweeps" / "smoke.yaml")
MAX_LINES = 3
TIMEOUT = 120  # per command: a FIFO opened by mistake hangs until this


# ------------------------------------------------------------------------------ helpers
@pytest.fixture
def copy_of(reference, tmp_path):
    """A fresh copy of the real smoke sweep's results, and an outside folder beside it whose
    files no command may read or change (links below point there)."""
    results = tmp_path / "results"
    shutil.copytree(reference, results, symlinks=True,
                    ignore=shutil.ignore_patterns(schema.REPORT_DIR))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(b"\x89PNG\r\n\x1a\n OUTSIDE-SECRET " * 8)
    return results, outside


def trial_ids(results: Path) -> list[str]:
    return pq.read_table(results / schema.TRIALS_FILE).column("trial_id").to_pylist()


def rewrite_trials(results: Path, change) -> None:
    """trials.parquet rewritten through ``change(table) -> table``, its metadata kept unless
    ``change`` replaces it."""
    path = results / schema.TRIALS_FILE
    if not regular(path):  # damaged already (a link, a FIFO): reading it would hang the test
        return
    table = change(pq.read_table(path))
    pq.write_table(table, path)


def regular(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def set_column(table: pa.Table, name: str, values, type_=None) -> pa.Table:
    index = table.schema.get_field_index(name)
    array = pa.array(values, type=type_)
    new = (table.set_column(index, pa.field(name, array.type), array) if index >= 0
           else table.append_column(pa.field(name, array.type), array))  # a column added
    return new.replace_schema_metadata(table.schema.metadata)


def _launch_module():
    spec = importlib.util.spec_from_file_location("hinr_launch_results_input", LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def in_process(*argv: str) -> tuple[int, str]:
    """launch.py's main in this process (no Python + Ray start-up per case); stdout + stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = _launch_module().main(list(argv))
    return code, out.getvalue() + err.getvalue()


def assert_one_line_refusal(code: int, text: str, *names: str) -> None:
    assert code == 2, (code, text[-3000:])
    assert "Traceback" not in text, text[-3000:]
    lines = text.strip().splitlines()
    assert 1 <= len(lines) <= MAX_LINES and lines[-1].startswith("error: "), text[-3000:]
    for name in names:
        assert name in lines[-1], (name, lines[-1])


def reading_commands(results: Path) -> list[tuple[str, ...]]:
    return [("status", str(results)), ("report", str(results), "--format", "md")]


def assert_every_command_refuses(results: Path, outside: Path, *names: str) -> None:
    """status, report and resume (which refuses before Ray starts) all refuse, in one line
    naming ``names``, and change nothing anywhere."""
    before = snapshot(results.parent)
    for argv in reading_commands(results) + [("resume", str(results))]:
        code, text = in_process(*argv)
        assert_one_line_refusal(code, text, *names)
    assert snapshot(results.parent) == before
    ray = sys.modules.get("ray")
    assert ray is None or not ray.is_initialized()


# ------------------------------------------------------------------------------ wrong types
@pytest.mark.parametrize("column,values,type_", [
    ("metric.val_psnr", lambda n: ["11.5"] * n, pa.string()),      # a metric stored as text
    ("status", lambda n: [1] * n, pa.int64()),                      # status as a number
    ("epochs_done", lambda n: [2.0] * n, pa.float64()),             # an epoch count as float
    ("config.a2", lambda n: ["1.0"] * n, pa.string()),              # a float field as text
    ("finished_at", lambda n: [1.7e9] * n, pa.float64()),           # a time as epoch seconds
])
def test_a_column_of_the_wrong_type_is_refused_by_every_command(copy_of, column, values, type_):
    results, outside = copy_of
    rewrite_trials(results, lambda t: set_column(t, column, values(t.num_rows), type_))
    assert_every_command_refuses(results, outside, "trials.parquet", column)


def test_a_negative_epoch_count_is_refused(copy_of):
    results, outside = copy_of
    rewrite_trials(results, lambda t: set_column(t, "epochs_done", [-3] * t.num_rows, pa.int64()))
    assert_every_command_refuses(results, outside, "trials.parquet", "epochs_done")


# ------------------------------------------------------------------------------ trial ids
def test_duplicate_trial_ids_are_refused_not_counted(copy_of):
    """status used to print a negative number of remaining trials; resume rewrote the dir."""
    results, outside = copy_of
    rewrite_trials(results, lambda t: pa.concat_tables([t, t.slice(0, 1)]))
    assert_every_command_refuses(results, outside, "trials.parquet", "more than one row")


@pytest.mark.parametrize("bad", ["../../x", "", "a/b", "x" * 65])
def test_a_trial_id_that_is_a_path_is_refused(copy_of, bad):
    results, outside = copy_of
    rewrite_trials(results, lambda t: set_column(
        t, "trial_id", [bad] + t.column("trial_id").to_pylist()[1:], pa.string()))
    assert_every_command_refuses(results, outside, "trials.parquet", "trial_id")


# ------------------------------------------------------------------------------ entries
def test_an_images_link_out_of_the_directory_is_refused_never_embedded(copy_of):
    results, outside = copy_of
    trial = trial_ids(results)[0]
    shutil.rmtree(results / schema.IMAGES_DIR / trial)
    (results / schema.IMAGES_DIR / trial).symlink_to(outside, target_is_directory=True)
    (outside / "reconstruction.png").write_bytes((outside / "secret.png").read_bytes())
    assert_every_command_refuses(results, outside, trial, "symbolic link")
    assert not (results / schema.REPORT_DIR).exists()


@pytest.mark.parametrize("entry", [schema.TB_DIR, schema.EPOCHS_DIR, schema.TRIALS_FILE,
                                   schema.REPORT_DIR])
def test_a_link_in_place_of_an_entry_is_refused(copy_of, entry):
    results, outside = copy_of
    path = results / entry
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    path.symlink_to(outside / "secret.png" if entry == schema.TRIALS_FILE else outside)
    assert_every_command_refuses(results, outside, str(path), "symbolic link")


@pytest.mark.parametrize("where", [schema.TRIALS_FILE, f"{schema.EPOCHS_DIR}/extra.parquet",
                                   f"{schema.TUNE_DIR}/fifo"])
def test_a_fifo_is_refused_never_opened(copy_of, where):
    """A FIFO opened for reading blocks until a writer comes: nothing may open one (the
    commands run in this process, so an open would hang the test, not pass it)."""
    results, outside = copy_of
    path = results / where
    if path.exists():
        path.unlink()
    os.mkfifo(path)
    assert_every_command_refuses(results, outside, str(path), "FIFO")


def test_trials_parquet_as_a_directory_is_refused(copy_of):
    results, outside = copy_of
    (results / schema.TRIALS_FILE).unlink()
    (results / schema.TRIALS_FILE).mkdir()
    assert_every_command_refuses(results, outside, "trials.parquet", "not a regular file")


def deep_tree(top: Path, levels: int) -> None:
    path = top
    for _ in range(levels):
        path = path / "d"
    path.mkdir(parents=True)
    (path / "leaf").write_text("x")


def test_a_deep_tree_inside_is_refused_by_every_command_and_by_overwrite(copy_of):
    results, outside = copy_of
    deep_tree(results / schema.TB_DIR, 200)
    assert_every_command_refuses(results, outside, "deeper than a sweep writes")
    before = snapshot(results.parent)
    code, text = in_process("run", SMOKE, "--results", str(results), "--overwrite")
    assert_one_line_refusal(code, text, "deeper than a sweep writes")
    assert snapshot(results.parent) == before


def test_the_walk_allows_what_a_sweep_writes_and_nothing_deeper(copy_of):
    results, _ = copy_of
    assert check_entries(results) > 10  # the real sweep's tree passes
    deep_tree(results / schema.TUNE_DIR, MAX_DEPTH - 2)  # tune/d/.../leaf: MAX_DEPTH - 1 deep
    check_entries(results)
    deep_tree(results / schema.TB_DIR, MAX_DEPTH)
    with pytest.raises(ResultsDirError, match="deeper"):
        check_entries(results)


@pytest.mark.parametrize("entry", [schema.TB_DIR, f"{schema.TUNE_DIR}/link"])
def test_overwrite_refuses_a_link_inside_and_deletes_nothing(copy_of, entry):
    """--overwrite of this sweep's own results: a link anywhere inside is a refusal, never
    something to delete through or follow; the outside folder stays as it was."""
    results, outside = copy_of
    path = results / entry
    if path.is_dir():
        shutil.rmtree(path)
    path.symlink_to(outside, target_is_directory=True)
    before = snapshot(results.parent)
    code, text = in_process("run", SMOKE, "--results", str(results), "--overwrite")
    assert_one_line_refusal(code, text, str(path), "symbolic link")
    assert snapshot(results.parent) == before


def test_overwrite_walks_the_hidden_temp_files_too(copy_of):
    """A hidden atomic-write temp name is the sweep's to delete, so it is checked like the
    rest: a link under that name is refused, not deleted through."""
    results, outside = copy_of
    (results / ".trials.parquet.x1.tmp").symlink_to(outside, target_is_directory=True)
    before = snapshot(results.parent)
    code, text = in_process("run", SMOKE, "--results", str(results), "--overwrite")
    assert_one_line_refusal(code, text, ".trials.parquet.x1.tmp", "symbolic link")
    assert snapshot(results.parent) == before


# ------------------------------------------------------------------------------ foreign contracts
def test_a_future_schema_version_is_refused(copy_of):
    results, outside = copy_of
    rewrite_trials(results, lambda t: t.replace_schema_metadata(
        {**t.schema.metadata, schema.VERSION_KEY: b"99"}))
    assert_every_command_refuses(results, outside, "trials.parquet", "schema version 99")


@pytest.mark.parametrize("key,value", [(b"hinr_factors", b"5"), (b"hinr_spec", b"[1]"),
                                       (b"hinr_seeds", b"{not json")])
def test_contract_metadata_of_the_wrong_shape_is_refused(copy_of, key, value):
    results, outside = copy_of
    rewrite_trials(results, lambda t: t.replace_schema_metadata({**t.schema.metadata, key: value}))
    assert_every_command_refuses(results, outside, "trials.parquet", key.decode())


@pytest.mark.parametrize("keep", [0.0, 0.5, 0.97])
def test_a_truncated_trials_parquet_is_refused(copy_of, keep):
    results, outside = copy_of
    path = results / schema.TRIALS_FILE
    path.write_bytes(path.read_bytes()[:int(path.stat().st_size * keep)])
    assert_every_command_refuses(results, outside, "trials.parquet", "damaged")


def test_the_one_file_readers_read_what_check_reads_and_refuse_the_same(copy_of, tmp_path):
    """trial_rows / trial_ids (the writer's read-back on resume, extend, adaptive seeds) and
    read_sweep_doc (sweep.yaml for sweeps and analysis) read through the checked reader."""
    results, _ = copy_of
    assert resultsdir.trial_rows(results) == check(results).rows()
    assert resultsdir.trial_ids(results) == frozenset(trial_ids(results))
    assert resultsdir.read_sweep_doc(results) == yaml.safe_load(
        (results / schema.SPEC_FILE).read_text())
    (tmp_path / "fresh").mkdir()
    assert resultsdir.trial_rows(tmp_path / "fresh") == []  # before the first trial
    rewrite_trials(results, lambda t: set_column(t, "retries", [-1] * t.num_rows, pa.int64()))
    with pytest.raises(ResultsDirError, match="retries"):
        resultsdir.trial_ids(results)


@pytest.mark.parametrize("values,arrow_type,message", [
    ([1], pa.int64(), None),  # the stage a trial was created in: read as written
    (["1"], pa.string(), "column 'stage' holds string, the contract says int64"),
    ([-1], pa.int64(), "column 'stage' holds -1"),
])
def test_the_optional_stage_column_is_checked_where_present(copy_of, values, arrow_type,
                                                             message):
    results, _ = copy_of
    rewrite_trials(results, lambda t: set_column(t, "stage", values * t.num_rows, arrow_type))
    if message is None:
        assert {r["stage"] for r in resultsdir.trial_rows(results)} == set(values)
        return
    with pytest.raises(ResultsDirError, match=message):
        resultsdir.trial_rows(results)


def test_a_sweep_yaml_of_another_sweep_is_refused(copy_of):
    results, outside = copy_of
    path = results / schema.SPEC_FILE
    doc = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**doc, "name": "another"}))
    assert_every_command_refuses(results, outside, "sweep.yaml", "'another'", "'smoke'")


def test_a_truncated_epochs_file_skipped_by_report_refused_by_resume(copy_of):
    """The report can do without one trial's curves (and says so); resume would hand the file
    to Ray, so it refuses before Ray starts."""
    results, outside = copy_of
    victim = sorted((results / schema.EPOCHS_DIR).iterdir())[0]
    victim.write_bytes(victim.read_bytes()[:100])
    code, text = in_process("resume", str(results))
    assert_one_line_refusal(code, text, victim.name, "damaged")
    code, text = in_process("status", str(results))
    assert code == 0, text
    code, text = in_process("report", str(results), "--format", "md")
    assert code == 0 and "Traceback" not in text, text
    assert f"warning: {victim}" in text
    assert victim.name in (results / schema.REPORT_DIR / "report.md").read_text()


def test_an_epochs_file_of_text_metrics_is_skipped_not_mixed_in(copy_of):
    results, _ = copy_of
    victim = sorted((results / schema.EPOCHS_DIR).iterdir())[0]
    table = pq.read_table(victim)
    pq.write_table(set_column(table, "metric.val_psnr", ["x"] * table.num_rows, pa.string()),
                   victim)
    code, text = in_process("report", str(results), "--format", "md")
    assert code == 0 and "Traceback" not in text, text
    assert "metric.val_psnr" in text and victim.name in text


# ------------------------------------------------------------------------------ odd but valid
def test_odd_but_valid_data_still_renders_and_says_what_it_skipped(copy_of):
    """NaN metrics and a column outside the contract: the report renders, names the column."""
    results, _ = copy_of

    def odd(table):
        n = table.num_rows
        table = set_column(table, "metric.val_psnr", [float("nan")] * n, pa.float64())
        return table.append_column("my_note", pa.array(["hello"] * n))
    rewrite_trials(results, odd)
    code, text = in_process("status", str(results))
    assert code == 0, text
    code, text = in_process("report", str(results), "--format", "both")
    assert code == 0 and "Traceback" not in text, text
    assert "my_note" in text and "outside the contract" in text
    assert "my_note" in (results / schema.REPORT_DIR / "report.md").read_text()


def test_zero_rows_renders(copy_of):
    results, _ = copy_of
    rewrite_trials(results, lambda t: t.slice(0, 0))
    for argv in reading_commands(results):
        code, text = in_process(*argv)
        assert code == 0 and "Traceback" not in text, text


def test_many_rows_are_checked_quickly(copy_of):
    """100,000 trials: the checks are column operations, not a Python loop over rows."""
    import time

    results, _ = copy_of

    def many(table):
        n = 100_000
        rows = table.take([i % table.num_rows for i in range(n)])
        return set_column(rows, "trial_id", [f"t{i:06d}" for i in range(n)], pa.string())
    rewrite_trials(results, many)
    started = time.perf_counter()
    assert check(results).trials.num_rows == 100_000
    assert time.perf_counter() - started < 10


# ------------------------------------------------------------------------------ paths and disks
def test_a_results_path_that_is_not_utf8_is_refused_in_one_line(copy_of):
    results, _ = copy_of
    odd = Path(os.fsdecode(bytes(results.parent) + b"/r\xffs"))
    results.rename(odd)
    for argv in reading_commands(odd) + [("resume", str(odd))]:
        proc = subprocess.run([sys.executable, LAUNCH, *argv], cwd=ROOT, capture_output=True,
                              timeout=TIMEOUT)
        text = (proc.stdout + proc.stderr).decode("utf-8", "replace")
        assert_one_line_refusal(proc.returncode, text, "not valid UTF-8", "r\\xffs")
    proc = subprocess.run([sys.executable, "-m", "analysis", odd], cwd=ROOT, capture_output=True,
                          timeout=TIMEOUT)
    assert_one_line_refusal(proc.returncode, proc.stderr.decode(), "not valid UTF-8")


def test_a_read_only_report_folder_is_one_line(copy_of, small_disk):
    results, _ = copy_of
    disk = small_disk(8)
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True, capture_output=True)
    code, text = in_process("report", str(results), "-o", str(disk / "rep"))
    assert_one_line_refusal(code, text, str(disk), "Read-only file system")


def test_a_full_disk_while_writing_the_report_is_one_line(copy_of, small_disk):
    from .sweep_helpers import fill

    results, _ = copy_of
    disk = small_disk(1)
    (disk / "rep").mkdir()
    fill(disk)  # the probe's temp file needs no blocks; the report's first figure does
    code, text = in_process("report", str(results), "-o", str(disk / "rep"))
    assert code == 1, text
    lines = text.strip().splitlines()
    assert "Traceback" not in text and lines[-1].startswith("error: "), text
    assert "No space left on device" in lines[-1] and "-o" in lines[-1]


# ------------------------------------------------------------------------------ the property test
def _damage_types(results: Path, draw) -> bool:
    column = draw(st.sampled_from(["metric.val_psnr", "status", "epochs_done", "retries",
                                   "config.seed", "trial_id", "wall_seconds"]))
    rewrite_trials(results, lambda t: set_column(t, column, [b"\x00\x01"] * t.num_rows,
                                                 pa.binary()))
    return True


def _damage_ids(results: Path, draw) -> bool:
    how = draw(st.sampled_from(["duplicate", "path", "empty", "null"]))
    if how == "duplicate":
        rewrite_trials(results, lambda t: pa.concat_tables([t, t.slice(t.num_rows - 1, 1)]))
        return True
    bad = {"path": "../../outside/secret", "empty": "", "null": None}[how]
    rewrite_trials(results, lambda t: set_column(
        t, "trial_id", t.column("trial_id").to_pylist()[:-1] + [bad], pa.string()))
    return True


def first_trial(results: Path) -> str:
    """A trial of the sweep, from epochs/ (trials.parquet's ids may be damaged already)."""
    return sorted((results / schema.EPOCHS_DIR).iterdir())[0].stem


def _damage_link(results: Path, draw, outside: Path) -> bool:
    trial = first_trial(results)
    where = draw(st.sampled_from([f"{schema.IMAGES_DIR}/{trial}", schema.TB_DIR,
                                  f"{schema.EPOCHS_DIR}/{trial}.parquet", schema.TRIALS_FILE,
                                  schema.SPEC_FILE, f"{schema.TUNE_DIR}/x"]))
    path = results / where
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    # The link leads to a FIFO outside: a command that follows it hangs (and times out).
    os.mkfifo(outside / f"trap{len(list(outside.iterdir()))}")
    path.symlink_to(sorted(outside.glob("trap*"))[-1])
    return True


def _damage_fifo(results: Path, draw) -> bool:
    trial = first_trial(results)
    where = draw(st.sampled_from([schema.TRIALS_FILE, schema.SPEC_FILE,
                                  f"{schema.EPOCHS_DIR}/{trial}.parquet",
                                  f"{schema.IMAGES_DIR}/{trial}/reconstruction.png"]))
    path = results / where
    if path.exists():
        path.unlink()
    os.mkfifo(path)
    return True


def _damage_truncate(results: Path, draw) -> bool | str:
    files = [p for p in [results / schema.TRIALS_FILE, *sorted((results / schema.EPOCHS_DIR)
                                                               .iterdir())] if regular(p)]
    path = draw(st.sampled_from(files))
    keep = draw(st.floats(0, 0.99))
    path.write_bytes(path.read_bytes()[:int(path.stat().st_size * keep)])
    # trials.parquet: refused; an epochs file: the report skips it and names it
    return True if path.name == schema.TRIALS_FILE else path.name


def _damage_contract(results: Path, draw) -> bool:
    how = draw(st.sampled_from(["version", "other_sweep", "directory", "deep"]))
    if how == "version":
        rewrite_trials(results, lambda t: t.replace_schema_metadata(
            {**t.schema.metadata, schema.VERSION_KEY: b"2"}))
    elif how == "other_sweep":
        path = results / schema.SPEC_FILE
        if regular(path):
            path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), "name": "other"}))
    elif how == "directory":
        (results / schema.TRIALS_FILE).unlink()
        (results / schema.TRIALS_FILE).mkdir()
    else:
        deep_tree(results / schema.TB_DIR, draw(st.integers(MAX_DEPTH, 60)))
    return True


def _valid_oddity(results: Path, draw) -> str | None:
    how = draw(st.sampled_from(["nan", "extra", "zero", "user_file"]))
    if how == "nan":
        rewrite_trials(results, lambda t: set_column(t, "metric.test_psnr",
                                                     [float("nan")] * t.num_rows, pa.float64()))
    elif how == "extra":
        rewrite_trials(results, lambda t: t.append_column("extra_col", pa.array([1] * t.num_rows)))
        return "extra_col"  # the report says it ignored this column
    elif how == "zero":
        rewrite_trials(results, lambda t: t.slice(0, 0))
    else:
        (results / "my_notes.txt").write_text("mine")
    return None


DAMAGE = ["types", "ids", "link", "fifo", "truncate", "contract", "valid"]


def run_all(results: Path, out_dir: Path, refused: bool) -> list[tuple]:
    """Every command at once (2 cores; each is mostly start-up), each with a timeout.  resume
    and run --overwrite only where they must refuse: on a valid directory they would start
    Ray and run the sweep."""
    commands = [[LAUNCH, "status", str(results)],
                [LAUNCH, "report", str(results), "--format", "html"],
                ["-m", "analysis", str(results), "-o", str(out_dir), "--format", "md"]]
    if refused:
        commands.append([LAUNCH, "resume", str(results)])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [(c, subprocess.Popen([sys.executable, *c], cwd=ROOT, env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE))
             for c in commands]
    done = []
    try:
        for command, proc in procs:
            try:
                out, err = proc.communicate(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                pytest.fail(f"{command} hung (over {TIMEOUT} s): it opened a FIFO or "
                            "followed a link")
            done.append((command, proc.returncode, out + err))
    finally:
        for _, proc in procs:
            if proc.poll() is None:
                proc.kill()
    return done


# Every kind leads at least one example (derandomized draws start from the simplest, so a
# single test drawing the kind too would try few kinds); the details and a second kind are
# drawn.  Two examples per kind keep it to about a minute on 2 idle cores.
@pytest.mark.parametrize("first", DAMAGE)
@settings(max_examples=2, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_damaged_results_directories(reference, tmp_path_factory, first, data):
    """Random damage to a real smoke sweep's directory, then every command: exit 0 with a report
    that states what it skipped, or exit 2 in at most 3 lines; never a traceback or a hang, and
    the outside folder beside it neither read (its FIFOs would hang a reader, its secret is
    never embedded) nor changed."""
    base = tmp_path_factory.mktemp("damaged")
    results, outside = base / "results", base / "outside"
    shutil.copytree(reference, results, ignore=shutil.ignore_patterns(schema.REPORT_DIR))
    outside.mkdir()
    (outside / "secret.png").write_bytes(b"\x89PNG OUTSIDE-SECRET")
    kinds = [first] + data.draw(st.lists(st.sampled_from([k for k in DAMAGE if k != first]),
                                         max_size=1))
    # What each damage expects: True, a refusal by every command; a name, a report (exit 0)
    # that says it skipped that; None, a report with nothing to say.
    said = [_damage_link(results, data.draw, outside) if kind == "link" else
            {"types": _damage_types, "ids": _damage_ids, "fifo": _damage_fifo,
             "truncate": _damage_truncate, "contract": _damage_contract,
             "valid": _valid_oddity}[kind](results, data.draw) for kind in kinds]
    refused = any(s is True for s in said)
    skipped = [s for s in said if isinstance(s, str)]
    before = snapshot(outside)
    secret = base64.b64encode((outside / "secret.png").read_bytes()).decode()
    for command, code, text in run_all(results, base / "out", refused):
        assert "Traceback" not in text, (kinds, command, text[-3000:])
        if refused:
            assert_one_line_refusal(code, text)
            continue
        assert code == 0, (kinds, command, text[-3000:])
        if command[1] != "status":  # the report and analysis say what they skipped
            for name in skipped:
                assert "warning:" in text and name in text, (kinds, command, text[-3000:])
    written = [p for folder in (results / schema.REPORT_DIR, base / "out") if folder.is_dir()
               for p in folder.rglob("*") if p.is_file()]
    for path in written:  # no file the links led to was copied or embedded
        data_ = path.read_bytes()
        assert b"OUTSIDE-SECRET" not in data_ and secret.encode() not in data_, path
    assert snapshot(outside) == before
