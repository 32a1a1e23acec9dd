"""launch.py extend on real tiny sweeps: by seeds, by a new level and by the complementary
fraction, each pooled in one sweep with the old trials untouched; every refusal is one line,
exit 2, and leaves the results directory byte for byte as it was; an interrupted extension
resumes, and an extension of an unfinished sweep finishes it first."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from .sweep_helpers import kill_family, launch_cmd, run_ok, start_run, wait_for_epochs

ROOT = Path(__file__).resolve().parent.parent
GRID = {"name": "ext", "base": {"preset": "tiny", "epochs": 1}, "axes": {"a2": [1.0, 100.0]},
        "seeds": [0, 1], "search": "grid", "metric": "val_psnr", "mode": "max",
        "resources": {"cpus": 1}, "budget": {"max_concurrent": 2}}


def sweep_file(tmp_path: Path, **changes) -> str:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({**GRID, **changes}))
    return str(path)


def digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` by relative path -> the sha256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def extend(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(launch_cmd("extend", *args), cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def rows(out: Path) -> list[dict]:
    return pq.read_table(out / "trials.parquet").to_pylist()


def points(out: Path, axes=("a2",)) -> list[tuple]:
    return sorted((*(t[f"config.{a}"] for a in axes), t["config.seed"]) for t in rows(out))


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """The 2 x 2 grid run once to the end (the tests copy it before they change it)."""
    tmp = tmp_path_factory.mktemp("finished")
    out = tmp / "results"
    run_ok("run", sweep_file(tmp), "--results", str(out))
    return out


def copy_of(finished: Path, tmp_path: Path) -> Path:
    import shutil
    out = tmp_path / "results"
    shutil.copytree(finished, out)
    return out


def test_extend_by_seeds_then_by_a_level_pools_one_sweep_and_keeps_old_trials(finished, tmp_path):
    from analysis.load import load_results as load

    out = copy_of(finished, tmp_path)
    old_rows, old_files = rows(out), digest(out / "epochs")
    proc = extend(str(out), "--seeds", "3")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "extension 1 adds 2 trial(s): seeds [0, 1] -> [0, 1, 2]" in proc.stdout
    assert points(out) == sorted((a2, s) for a2 in (1.0, 100.0) for s in (0, 1, 2))
    assert rows(out)[:4] == old_rows  # old rows unchanged, value for value, in their order
    after = digest(out / "epochs")
    assert {k: after[k] for k in old_files} == old_files  # old epochs files byte-identical
    doc = yaml.safe_load((out / "sweep.yaml").read_text())
    assert doc["seeds"] == [0, 1, 2] and doc["provenance"]["command"].startswith("launch.py run")
    (entry,) = doc["extensions"]
    assert entry["added"] == "seeds [0, 1] -> [0, 1, 2]" and entry["trials"] == 2
    assert entry["git_commit"] and entry["started"] and entry["command"].startswith("launch.py extend")
    assert (out / "extensions" / "1" / "tuner.pkl").exists()

    proc = extend(str(out), "--set", "axes.a2=[1.0, 100.0, 10.0]")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert points(out) == sorted((a2, s) for a2 in (1.0, 100.0, 10.0) for s in (0, 1, 2))
    assert all(t["status"] == "completed" for t in rows(out))
    assert [e["added"] for e in yaml.safe_load((out / "sweep.yaml").read_text())["extensions"]] \
        == ["seeds [0, 1] -> [0, 1, 2]", "axes.a2 [1.0, 100.0] -> [1.0, 100.0, 10.0]"]
    # analysis reads one sweep: three levels, three seeds each, from the contract metadata
    results = load(out)
    assert results.spec["axes"]["a2"] == [1.0, 100.0, 10.0] and results.spec["seeds"] == [0, 1, 2]
    assert results.trials.groupby("config.a2")["config.seed"].nunique().to_dict() == \
        {1.0: 3, 10.0: 3, 100.0: 3}
    from analysis.extended import extension_lines  # what the report lists above its tables
    lines = extension_lines(results)
    assert [line.split(" (")[0] for line in lines] == [
        "extension 1: seeds [0, 1] -> [0, 1, 2]",
        "extension 2: axes.a2 [1.0, 100.0] -> [1.0, 100.0, 10.0]"]
    assert "2 trial(s), started 20" in lines[0] and "3 trial(s)" in lines[1]
    # status counts the pooled sweep; resume of the finished extension adds nothing
    status = subprocess.run(launch_cmd("status", str(out)), cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert "9 of 9 trials started" in status.stdout and "remaining: 0 trial(s)" in status.stdout
    run_ok("resume", str(out))
    assert len(rows(out)) == 9


def _old_numeric_commit() -> str:
    """A commit whose hinr/ differs from HEAD's: the parent of the last commit touching it."""
    last = subprocess.run(["git", "log", "-n1", "--format=%H", "--", "hinr"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout.strip()
    return last + "^"


@pytest.mark.parametrize("args, message", [
    (["--set", "epochs=2"], "--set epochs: extend changes only axis levels"),
    (["--set", "preset=small"], "--set preset: extend changes only axis levels"),
    (["--set", "dataset=mnist"], "--set dataset: extend changes only axis levels"),
    (["--set", "val_fraction=0.2"], "--set val_fraction: extend changes only axis levels"),
    (["--set", "base.lr=0.01"], "--set base.lr: extend changes only axis levels"),
    (["--set", "axes.lr=[0.001, 0.01]"], "lr is not an axis of this sweep"),
    (["--set", "axes.a2=[100.0, 1.0, 10.0]"], "the old levels [1.0, 100.0] first"),
    (["--seeds", "2"], "--seeds 2: the sweep already runs 2 seeds per point"),
    (["--fraction", "complementary"], "only a fractional design has another fraction"),
    ([], "nothing to add"),
    (["--seeds", "3", "provenance.git_commit"], "the code that computes the numbers changed"),
    (["--seeds", "3", "provenance.packages.torch"], "torch 2.0.0 ran the sweep"),
    (["--seeds", "3", "provenance.git_commit=none"], "provenance records no git commit"),
])
def test_refusals_are_one_line_exit_2_and_change_nothing(finished, tmp_path, args, message):
    out = copy_of(finished, tmp_path)
    if args and args[-1].startswith("provenance."):  # a sweep run by other code or packages
        doc = yaml.safe_load((out / "sweep.yaml").read_text())
        field = args.pop()
        if field == "provenance.git_commit":
            doc["provenance"]["git_commit"] = subprocess.run(
                ["git", "rev-parse", _old_numeric_commit()], cwd=ROOT, capture_output=True,
                text=True, check=True).stdout.strip()
        elif field == "provenance.packages.torch":
            doc["provenance"]["packages"]["torch"] = "2.0.0"
        else:
            doc["provenance"]["git_commit"] = None
        (out / "sweep.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    before = digest(out)
    proc = extend(str(out), *args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: "), proc.stderr
    assert message in proc.stderr
    assert digest(out) == before


def test_a_design_refuses_a_third_level_and_gains_its_complementary_fraction(tmp_path):
    """A 2^(3-1) design (I = ABC: every main effect aliased with a two-factor interaction)
    extended by the other half is the full 2^3: the pooled analysis estimates every term."""
    from analysis.load import load_results as load
    from analysis.model_effects import design_analysis

    axes = {"a2": [1.0, 100.0], "latent_dim": [8, 16], "inr_depth": [2, 3]}
    sweep = sweep_file(tmp_path, axes=axes, seeds=[0], search="design",
                       design={"type": "fractional", "resolution": 3})
    out = tmp_path / "results"
    run_ok("run", sweep, "--results", str(out))
    before = digest(out)
    proc = extend(str(out), "--set", "axes.a2=[1.0, 100.0, 10.0]")
    assert proc.returncode == 2 and "a two-level design cannot absorb a third level" in proc.stderr
    assert digest(out) == before
    half = rows(out)
    assert {t["stage"] for t in half} == {1}
    proc = extend(str(out), "--fraction", "complementary", "--repeat", "5")
    assert proc.returncode == 2 and "--repeat: allowed 1 to 4 (the sweep's points; got 5)" in \
        proc.stderr and digest(out) == before
    proc = extend(str(out), "--fraction", "complementary", "--repeat", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert rows(out)[:4] == half
    # two of the first half's points run again in the extension (stage 2): the shift between
    # the runs measured on the same configurations, each factor once at each level
    second = [t for t in rows(out) if t["stage"] == 2]
    repeated = sorted(tuple(t[f"config.{a}"] for a in axes) for t in second
                      if tuple(t[f"config.{a}"] for a in axes) in
                      {tuple(h[f"config.{a}"] for a in axes) for h in half})
    assert len(second) == 6 and len(repeated) == 2
    # any two points of this half differ in exactly two factors: both at two levels
    assert sorted(len({p[i] for p in repeated}) for i in range(3)) == [1, 2, 2]
    got = points(out, axes=tuple(axes))
    assert sorted(set(got)) == sorted((a, b, c, 0) for a in (1.0, 100.0) for b in (8, 16)
                                      for c in (2, 3))
    doc = yaml.safe_load((out / "sweep.yaml").read_text())
    assert doc["design"]["fraction"] == "both"
    assert len(doc["extensions"][0]["repeats"]) == 2
    status = subprocess.run(launch_cmd("status", str(out)), cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert "10 of 10 trials started" in status.stdout, status.stdout
    analysis = design_analysis(load(out))
    assert analysis is not None and analysis.aliased.empty  # nothing confounded any more
    proc = extend(str(out), "--fraction", "complementary")
    assert proc.returncode == 2 and "already runs both fractions" in proc.stderr


def test_an_interrupted_extension_resumes_and_an_unfinished_sweep_is_finished_first(tmp_path):
    """The sweep's driver dies mid-way; extend finishes it, then its own driver dies mid-way
    too; resume ends with every (a2, seed) once, all completed, every epoch once."""
    sweep = sweep_file(tmp_path, base={"preset": "tiny", "epochs": 3})
    out = tmp_path / "results"
    driver = start_run("run", sweep, "--results", str(out))
    try:
        wait_for_epochs(out, rows=2)
    finally:
        kill_family(driver)
    assert len(pq.read_table(out / "epochs").to_pylist()) < 4 * 3
    proc = subprocess.Popen(launch_cmd("extend", str(out), "--seeds", "4"), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    try:
        wait_for_epochs(out, rows=4 * 3 + 2)  # the first run finished, the extension under way
    finally:
        kill_family(proc)
    assert len(yaml.safe_load((out / "sweep.yaml").read_text())["extensions"]) == 1
    finished_rows = [t for t in rows(out) if t["config.seed"] in (0, 1)]
    assert len(finished_rows) == 4 and all(t["status"] == "completed" for t in finished_rows)
    run_ok("resume", str(out))
    assert points(out) == sorted((a2, s) for a2 in (1.0, 100.0) for s in range(4))
    assert all(t["status"] == "completed" for t in rows(out))
    assert [t for t in rows(out) if t["config.seed"] in (0, 1)] == finished_rows
    epochs = pq.read_table(out / "epochs").to_pylist()
    assert len(epochs) == len({(e["trial_id"], e["epoch"]) for e in epochs}) == 8 * 3


def test_adaptive_seeds_stop_where_the_target_is_met_and_the_report_shows_seeds_per_point(tmp_path):
    """seeds: {min: 3, max: 5, until: {val_psnr, 2.95 dB}}: after the first stage each point
    gets Stein's number of seeds, n = max(3, floor((t(0.975, 2) s0 / 2.95)^2) + 1) capped at 5,
    as one more (recorded) round.  The target sits between the two points' first-stage
    thresholds as this tiny sweep computes them (s0 1.15 and 1.24 dB: 2.85 and 3.08 dB), so
    one point stops at 3 seeds and the other gets more."""
    from analysis.extended import stein_table
    from analysis.load import load_results
    from analysis.report import build_report
    from sweeps.adaptive import seeds_for

    rule = {"min": 3, "max": 5, "until": {"metric": "val_psnr", "halfwidth": 2.95}}
    sweep = sweep_file(tmp_path, seeds=rule)
    out = tmp_path / "results"
    run_ok("run", sweep, "--results", str(out))
    trials = rows(out)
    per_point: dict = {}
    for t in trials:
        per_point.setdefault(t["config.a2"], []).append(t)
    for a2, group in per_point.items():
        first = [t["metric.val_psnr"] for t in group if t["config.seed"] < 3]
        assert len(group) == seeds_for(first, rule)[0], a2  # the rule, point by point
        assert sorted(t["config.seed"] for t in group) == list(range(len(group)))
    assert min(len(g) for g in per_point.values()) == 3  # one point stopped at min
    assert max(len(g) for g in per_point.values()) > 3  # the other got more seeds
    (entry,) = yaml.safe_load((out / "sweep.yaml").read_text())["extensions"]
    assert entry["added"].startswith("adaptive seeds, second stage")
    assert {r["seeds"] for r in entry["adaptive"]} == {len(g) for g in per_point.values()}
    table = stein_table(load_results(out))
    assert sorted(table["seeds"]) == sorted(len(g) for g in per_point.values())
    met = table[table["seeds"] == 3]["target met"].tolist()
    assert met == ["yes"]
    report = build_report([out], tmp_path / "report", formats="md")
    text = Path(report[0]).read_text()
    assert "Adaptive seeds" in text and "Stein" in text and "not valid under it" in text
    run_ok("resume", str(out))  # a finished adaptive sweep: resume adds nothing
    assert len(rows(out)) == len(trials)


def test_repeated_points_are_balanced_on_every_factor_where_the_design_allows():
    """extend --repeat 4 on the ablation's half-fraction: every factor twice at each level,
    and the same four points every time (deterministic)."""
    from sweeps.extend import repeated_points
    from sweeps.spec import load_spec

    spec = load_spec(str(ROOT / "sweeps" / "ablation_cpu.yaml"))
    chosen = repeated_points(spec, 4)
    assert chosen == repeated_points(spec, 4) and len(chosen) == 4
    halves = {str(p) for p in chosen}
    assert len(halves) == 4  # four different points
    for name in spec.axes:
        assert sorted(p[name] for p in chosen) == sorted(spec.axes[name] * 2), name
