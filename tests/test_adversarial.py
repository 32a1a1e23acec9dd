"""An adversarial user at the command line (issue 13): sweep names that are paths, --overwrite
aimed at places that are not this sweep's results, files that expand or overflow, sweeps that
cannot run or mean nothing, damaged results directories.

Every refusal is exit 2, one short ``error:`` line, no traceback, and not one file created or
changed.  Most cases go through ``launch.main`` in this process (the same code path as the
script, without paying a Python + torch start-up per case); the cases that need a real process
(cwd-relative targets, the path that starts Ray) run ``launch.py`` as a subprocess.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .sweep_helpers import snapshot

ROOT = Path(__file__).resolve().parent.parent
LAUNCH = str(ROOT / "launch.py")
MAX_LINES = 3
MAX_LINE = 1100  # "error: " + a message capped at 1000 characters, whatever it quotes

VALID = {"name": "mine", "base": {"preset": "tiny", "epochs": 1},
         "axes": {"a2": [1.0, 100.0]}, "seeds": [0], "resources": {"cpus": 1}}


def assert_refused(code: int, out: str, err: str) -> None:
    text = out + err
    assert code == 2, (code, text[-3000:])
    assert "Traceback" not in text, text[-3000:]
    lines = text.strip().splitlines()
    assert 1 <= len(lines) <= MAX_LINES, text[-3000:]
    assert all(len(line) <= MAX_LINE for line in lines), [len(line) for line in lines]
    assert lines[-1].startswith("error: "), text[-3000:]


def launch(*args: str, cwd: Path, env: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)}
    env.pop("RAY_ADDRESS", None)
    return subprocess.Popen([sys.executable, LAUNCH, *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(procs: dict[str, subprocess.Popen]) -> dict[str, tuple[int, str, str]]:
    try:
        done = {key: p.communicate(timeout=300) for key, p in procs.items()}
        return {key: (procs[key].returncode, out, err) for key, (out, err) in done.items()}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()


def write_results_dir(path: Path, name: str) -> None:
    """A results directory of sweep ``name`` as the product writes it (spec, tune/, Parquet)."""
    path.mkdir(parents=True)
    (path / "sweep.yaml").write_text(yaml.safe_dump({**VALID, "name": name}))
    (path / "tune").mkdir()
    (path / "tune" / "experiment_state.json").write_text("{}")
    (path / "trials.parquet").write_bytes(b"PAR1 not really")


# ------------------------------------------------------------------------ --overwrite

def test_overwrite_never_deletes_what_is_not_its_own(tmp_path):
    """--overwrite against ".", "..", an absolute path, a symlink, another sweep's directory
    and the working directory by its absolute name: all refused, and not one file anywhere
    in the sandbox created, deleted or touched."""
    work = tmp_path / "work"  # the working directory: a project with its own files
    (work / ".git").mkdir(parents=True)
    (work / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (work / "notes.txt").write_text("precious\n")
    write_results_dir(work / "results" / "other", "other")  # another sweep's results
    outside = tmp_path / "outside"  # somebody's directory, not results
    outside.mkdir()
    (outside / "thesis.tex").write_text("precious\n")
    (work / "link").symlink_to(work / "results" / "other")
    write_results_dir(tmp_path / "mixed", "mine")  # this sweep's name, but with user files
    (tmp_path / "mixed" / "data.csv").write_text("precious\n")
    sweep = tmp_path / "mine.yaml"
    sweep.write_text(yaml.safe_dump(VALID))
    dots = {name: tmp_path / f"{name}.yaml" for name in ("dot", "dotdot")}
    dots["dot"].write_text(yaml.safe_dump({**VALID, "name": "."}))
    dots["dotdot"].write_text(yaml.safe_dump({**VALID, "name": ".."}))
    before = snapshot(tmp_path)

    targets = {"dot": ".", "dotdot": "..", "absolute": str(outside), "symlink": "link",
               "other_sweep": "results/other", "cwd_absolute": str(work),
               "parent_absolute": str(tmp_path), "user_files": str(tmp_path / "mixed")}
    procs = {key: launch("run", str(sweep), "--results", target, "--overwrite", cwd=work)
             for key, target in targets.items()}
    # The name itself as the path: results/. and results/.. (the default --results).
    procs.update({f"name_{key}": launch("run", str(path), "--overwrite", cwd=work)
                  for key, path in dots.items()})
    for key, (code, out, err) in finish(procs).items():
        assert_refused(code, out, err)
    assert snapshot(tmp_path) == before


def _launch_module():
    spec = importlib.util.spec_from_file_location("hinr_launch_adversarial", ROOT / "launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_overwrite_is_allowed_on_its_own_results_only(tmp_path):
    from sweeps.guard import check_results_dir
    from sweeps.spec import parse_spec

    spec = parse_spec(copy.deepcopy(VALID), "mine.yaml")
    own = tmp_path / "own"
    write_results_dir(own, "mine")
    (own / ".trials.parquet.abc.tmp").write_bytes(b"")  # an interrupted atomic write
    assert check_results_dir(spec, own, overwrite=True) is None
    other = tmp_path / "other"
    write_results_dir(other, "other")
    assert "holds sweep 'other'" in check_results_dir(spec, other, overwrite=True)
    (own / "sweep.yaml").write_text("[")
    assert "damaged" in check_results_dir(spec, own, overwrite=True)


def test_a_sweep_extended_from_the_same_file_is_recognised(tmp_path):
    """Running a sweep file again into a directory that holds it extended (more seeds, a
    level, the other fraction) says so, not 'a different sweep'; a real difference still does."""
    from sweeps.guard import check_results_dir
    from sweeps.spec import parse_spec

    spec = parse_spec(copy.deepcopy(VALID), "mine.yaml")
    grown = copy.deepcopy(spec.raw)
    grown["seeds"] = list(spec.raw["seeds"]) + [max(spec.raw["seeds"]) + 1]
    grown["axes"]["a2"] = [1.0, 100.0, 10.0]  # a level appended
    out = tmp_path / "ext"
    (out / "tune").mkdir(parents=True)
    (out / "sweep.yaml").write_text(yaml.safe_dump(
        {**grown, "extensions": [{"number": 1, "added": "seeds 2 -> 3"}]}))
    message = check_results_dir(spec, out, overwrite=False)
    assert "already holds this sweep, extended since (seeds 2 -> 3)" in message
    assert "status" in message and "different" not in message
    grown["base"] = {**grown.get("base", {}), "epochs": 99}  # extend never changes the base
    (out / "sweep.yaml").write_text(yaml.safe_dump(
        {**grown, "extensions": [{"number": 1, "added": "seeds 2 -> 3"}]}))
    assert "already holds a different sweep" in check_results_dir(spec, out, overwrite=False)


def test_half_started_directory_runs_again(tmp_path):
    """sweep.yaml written, then refused before Tune began (no tune/): run takes it up again
    instead of sending the user to a resume that cannot work."""
    from sweeps.guard import check_results_dir
    from sweeps.spec import parse_spec

    spec = parse_spec(copy.deepcopy(VALID), "mine.yaml")
    half = tmp_path / "half"
    half.mkdir()
    (half / "sweep.yaml").write_text(yaml.safe_dump(spec.raw))
    assert check_results_dir(spec, half, overwrite=False) is None
    (half / "tune").mkdir()
    assert "resume" in check_results_dir(spec, half, overwrite=False)


# ------------------------------------------------------------------------ the path that starts Ray

def test_refused_after_ray_starts_writes_nothing(tmp_path):
    """Refusals that need Ray (no node fits a trial) or the data (not on disk, download off):
    one line, exit 2, and no sweep.yaml left behind, so running the command again is not a
    dead end."""
    home_data = Path.home() / f".hinr-test-missing-{os.getpid()}"  # a data root never created
    cases = {"cpus": (["--set", "resources.cpus=512"], {}),
             "no_data": (["--set", "dataset=mnist", "--set", "download=false"],
                         {"HINR_DATA": str(home_data)})}
    sweep = tmp_path / "mine.yaml"
    sweep.write_text(yaml.safe_dump(VALID))
    # Ray's socket paths must stay under 108 bytes: a short temp dir, not tmp_path.
    ray_tmp = Path(tempfile.mkdtemp(prefix="hr", dir="/tmp"))
    procs = {key: launch("run", str(sweep), "--results", str(tmp_path / "res" / key), *args,
                         cwd=tmp_path, env={**env, "RAY_TMPDIR": str(ray_tmp / key)})
             for key, (args, env) in cases.items()}
    try:
        results = finish(procs)
        ray_started_for_no_data = (ray_tmp / "no_data").exists()
    finally:
        import shutil
        shutil.rmtree(ray_tmp, ignore_errors=True)
        if home_data.is_dir():  # torchvision should not create it; never leave it behind
            shutil.rmtree(home_data)
    for key, (code, out, err) in results.items():
        assert_refused(code, out, err)
        assert not (tmp_path / "res" / key).exists(), key
    _, _, err = results["no_data"]
    assert "not found" in err and str(Path.home()) not in err and "~/" in err, err
    assert not ray_started_for_no_data, "Ray started before the data was checked"
    assert "resources" in results["cpus"][2]


# ------------------------------------------------------------------------ damaged results dirs

DAMAGED_SPECS = {"corrupt": "name: [unclosed\n", "empty": "", "list": "- 1\n- 2\n",
                 "invalid": "name: x\nbogus: 1\n", "binary": "\udcff"}


@pytest.mark.parametrize("what", sorted(DAMAGED_SPECS) + ["parquet_garbage", "parquet_empty",
                                                          "parquet_foreign"])
def test_damaged_results_directory(tmp_path, capsys, what):
    import pyarrow as pa

    results = tmp_path / "res"
    write_results_dir(results, "mine")
    spec_text = yaml.safe_dump({**VALID, "name": "mine"})
    if what in DAMAGED_SPECS:
        (results / "sweep.yaml").write_bytes(DAMAGED_SPECS[what].encode("utf-8", "surrogateescape"))
        (results / "trials.parquet").unlink()
        named = results / "sweep.yaml"
    else:
        (results / "sweep.yaml").write_text(spec_text)
        named = results / "trials.parquet"
        if what == "parquet_empty":
            named.write_bytes(b"")
        elif what == "parquet_foreign":  # a valid Parquet file, not one of ours
            pq.write_table(pa.table({"x": [1]}), named)
    before = snapshot(tmp_path)
    launch_mod = _launch_module()
    for command in ("status", "resume"):
        code = launch_mod.main([command, str(results)])
        out, err = capsys.readouterr()
        assert_refused(code, out, err)
        assert str(named) in err and "damaged" in err, err
    assert snapshot(tmp_path) == before
    ray = sys.modules.get("ray")
    assert ray is None or not ray.is_initialized()


def test_trial_id_that_is_a_path_is_damage(tmp_path, capsys):
    """Trial ids name files under epochs/, tb/ and images/: one that is a path (or empty) in
    trials.parquet is a damaged file, never a path to follow."""
    from contract.schema import TRIAL_CORE, build_table, write_atomic

    results = tmp_path / "res"
    write_results_dir(results, "mine")
    for bad in ("../../outside", ""):
        write_atomic(build_table([{"trial_id": bad, "sweep": "mine", "status": "running"}],
                                 TRIAL_CORE), results / "trials.parquet")
        before = snapshot(tmp_path)
        for command in ("status", "resume"):
            code = _launch_module().main([command, str(results)])
            out, err = capsys.readouterr()
            assert_refused(code, out, err)
            assert "trials.parquet" in err and "damaged" in err, err
        assert snapshot(tmp_path) == before


def test_a_million_row_trials_file_is_refused_from_its_footer(tmp_path, capsys):
    """Issue 45: report on a 1,000,000-row trials.parquet ran past 120 s.  Every command now
    reads the row count from the file's footer and refuses, in one line naming the file and
    the cap, before a row is read (no report folder, nothing written)."""
    import pyarrow as pa

    from contract.resultsdir import MAX_TRIAL_ROWS
    from contract.schema import TRIAL_CORE, write_atomic

    results = tmp_path / "res"
    write_results_dir(results, "mine")
    n = 1_000_000
    ids = pa.array([f"t{i:07d}" for i in range(n)])
    columns = {f.name: pa.nulls(n, f.type) for f in TRIAL_CORE}
    columns.update(trial_id=ids, sweep=pa.array(["mine"] * n), status=pa.array(["completed"] * n),
                   epochs_done=pa.array([1] * n, pa.int64()), retries=pa.array([0] * n, pa.int64()),
                   wall_seconds=pa.array([1.0] * n))
    table = pa.table(columns, schema=pa.schema(list(TRIAL_CORE),
                                               metadata={b"hinr_schema_version": b"1"}))
    write_atomic(table, results / "trials.parquet")
    before = snapshot(tmp_path)
    for command in (["status", str(results)], ["report", str(results), "--format", "md"]):
        code = _launch_module().main(command)
        out, err = capsys.readouterr()
        assert_refused(code, out, err)
        assert "trials.parquet" in err and "1,000,000 rows" in err, err
        assert f"{MAX_TRIAL_ROWS:,}" in err
    assert snapshot(tmp_path) == before
    assert not (results / "report").exists()


def test_results_from_before_the_validation_split(tmp_path, capsys):
    """A sweep.yaml that selected on test_psnr (every sweep before the split) is not damage:
    status reads it, resume says why it cannot continue it and what still works."""
    results = tmp_path / "res"
    write_results_dir(results, "mine")
    (results / "sweep.yaml").write_text(yaml.safe_dump({**VALID, "metric": "test_psnr"}))
    (results / "trials.parquet").unlink()
    before = snapshot(tmp_path)
    code = _launch_module().main(["status", str(results)])
    out, err = capsys.readouterr()
    assert code == 0 and "sweep mine" in out, (out, err)
    code = _launch_module().main(["resume", str(results)])
    out, err = capsys.readouterr()
    assert_refused(code, out, err)
    assert "older hinr-sweeps" in err and "damaged" not in err and "launch.py report" in err, err
    assert snapshot(tmp_path) == before


# ------------------------------------------------------------------------ --dry-run edge cases

def test_dry_run_random_search_with_fewer_trials_than_rows(tmp_path, capsys):
    """num_samples x seeds below the rows printed (a grid axis in a random search) used to
    end in min() of an empty sequence."""
    doc = {**VALID, "search": "random", "axes": {"a2": [1.0, 10.0, 100.0],
                                                 "lr": {"loguniform": [1e-4, 1e-2]}},
           "budget": {"num_samples": 1}}
    sweep = tmp_path / "r.yaml"
    sweep.write_text(yaml.safe_dump(doc))
    for search in ("random", "optuna"):
        code = _launch_module().main(["run", str(sweep), "--dry-run", "--set", f"search={search}",
                                      "--results", str(tmp_path / "res")])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert "1 trials" in out and "GFLOP per image" in out, out
    assert not (tmp_path / "res").exists()


# ------------------------------------------------------------------------ property: the real CLI

BAD_NAMES = [".", "..", "../up", "/abs", ".hidden", "-rf", "a/b", "x" * 101, "", "caf\u00e9"]
# Each makes the sweep invalid, whatever else the document holds.
BAD_EDITS = st.one_of(
    st.sampled_from(BAD_NAMES).map(lambda n: ("name", n)),
    st.sampled_from([10**309, -(10**400), 10**1000]).map(lambda v: ("base.a2", v)),
    st.sampled_from([[2**32], [0, 2**64], [-1], [1, 1]]).map(lambda v: ("seeds", v)),
    st.sampled_from([1e-5, 1e-9, 5e-5]).map(lambda v: ("resources.cpus", v)),
    st.just(("axes", {"a1": [float(i) for i in range(101)], "a2": [float(i) for i in range(101)]})),
    st.sampled_from([[1.0, 1.0], [1, 1.0, 2.0]]).map(lambda v: ("axes", {"a2": v})),
    st.sampled_from([{"inr_width": 5000, "hyper_hidden": 5000}, {"inr_width": 2**40},
                     {"latent_dim": 10**6, "hyper_hidden": 10**4}]).map(lambda v: ("base+", v)),
    st.just(("metric", "joint_acc")),
    st.just(("optuna_twice", None)),
    st.just(("budget.num_samples", 10**9)),
    # designs that cannot be run as asked (sweeps/design.py)
    st.sampled_from([
        {"design": "full"},  # without search: design
        {"search": "design"},  # without a design
        {"search": "design", "design": "plackett-burman"},
        {"search": "design", "design": {"type": "full", "resolution": "V"}},
        {"search": "design", "design": {"type": "fractional", "resolution": "V", "runs": 8},
         "axes": {k: [1.0, 2.0] for k in ("a1", "a2", "cls_weight", "lr", "cls_lr")}},
        {"search": "design", "design": {"type": "fractional", "resolution": "IV"},
         "axes": {"a1": [0.0, 0.1, 1.0], "a2": [1.0, 100.0], "cls_weight": [0.0, 0.1]}},
        {"search": "design", "design": {"type": "lhs", "runs": 4}},  # a list axis
    ]).map(lambda v: ("design+", v)),
    st.text(max_size=30).map(lambda t: ("junk_key", t)),
)
LAUGHS = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10))
BAD_FLAGS = st.sampled_from([
    [], [], [], ["--gpu-tflops", "nan"], ["--gpu-tflops", "-5"], ["--gpu-tflops", "inf"],
    ["--gpu-tflops", "0"], ["--max-concurrent", "-1"], ["--max-concurrent", "x"], ["--bogus"],
    ["--set", "a2=" + "9" * 400], ["--set", "name=.."], ["--set", "seeds=[18446744073709551616]"],
    ["--set", "x" * 5000 + "=1"], ["--set", "noequals"], ["--results", "."], ["--results", ".."],
    ["--results", "/"], ["--set", "axes.a2=[1, 1]"], ["--set", "resources.gpus=0.00001"],
])


def _apply(doc: dict, edit: tuple) -> dict:
    key, value = edit
    if key == "base.a2":
        doc["base"]["a2"] = value
    elif key == "base+":
        doc["base"].update(value)
    elif key == "resources.cpus":
        doc["resources"]["cpus"] = value
    elif key == "budget.num_samples":
        doc["budget"] = {"num_samples": value}
    elif key == "optuna_twice":
        doc.update(search="optuna", metric=["val_psnr", "val_psnr"], mode=["max", "min"],
                   axes={"lr": {"loguniform": [1e-4, 1e-2]}})
    elif key == "design+":
        doc.update(copy.deepcopy(value))
    elif key == "junk_key":
        doc["junk" + value] = "v" * 5000
    else:
        doc[key] = value
    return doc


def _document(edit: tuple, laughs: bool) -> str:
    doc = _apply(copy.deepcopy(VALID), edit)
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    if laughs:  # an alias bomb riding along in an otherwise small file
        text = "l0: &l0 [lol]\n" + LAUGHS + text
    return text


# Random text, then a top-level key no sweep has: malformed, not a mapping, or an unknown
# key, but never a valid sweep.
random_texts = st.text(alphabet=st.sampled_from(list("name:base{}[]-,.'\"&*!|>#%@` \n\t01eE+_xyz~")),
                       max_size=80).map(lambda t: t + "\nzz_not_a_key: 1\n")
documents = st.one_of(st.builds(_document, BAD_EDITS, st.booleans()), random_texts)


def _run_in_process(argv: list[str], cwd: Path) -> tuple[int, str, str]:
    launch_mod = _launch_module()
    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = launch_mod.main(argv)
            except SystemExit as stop:  # argparse refuses a flag
                code = stop.code
    finally:
        os.chdir(old)
    return code, out.getvalue(), err.getvalue()


def _assert_refused_without_writes(document: str, flags: list[str], dry_run: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "results").mkdir()
        sweep = root / "sweep.yaml"
        sweep.write_text(document, encoding="utf-8")
        before = snapshot(root)
        if dry_run:
            code, out, err = _run_in_process(["run", str(sweep), "--dry-run", *flags], root)
        else:
            (code, out, err), = finish({"run": launch("run", str(sweep), *flags, cwd=root, env={
                "RAY_TMPDIR": str(root / "ray")})}).values()
        assert_refused(code, out, err)
        assert snapshot(root) == before


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=documents, flags=BAD_FLAGS)
def test_adversarial_dry_runs_are_refused_cleanly(document, flags):
    _assert_refused_without_writes(document, flags, dry_run=True)


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=documents, flags=BAD_FLAGS)
def test_adversarial_runs_are_refused_cleanly(document, flags):
    """The real, non-dry ``launch.py run`` as a process: the same inputs, the same answer."""
    _assert_refused_without_writes(document, flags, dry_run=False)
