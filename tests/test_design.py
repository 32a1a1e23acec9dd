"""search: design: the designs themselves (what each estimates, checked on the matrix), the
--dry-run table through the real CLI, and a designed sweep on real Ray that is interrupted and
resumed."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from sweeps.design import build, describe
from sweeps.spec import SpecError, load_spec, parse_spec
from sweeps.tiny import tiny_mode

ROOT = Path(__file__).resolve().parent.parent
FIVE = {"a1": [0.0, 0.1], "a2": [1.0, 100.0], "cls_weight": [0.0, 0.1], "latent_dim": [32, 64],
        "inr_depth": [3, 5]}


def doc(design, axes=None, **more) -> dict:
    return {"name": "d", "base": {"preset": "tiny", "epochs": 1}, "axes": axes or FIVE,
            "seeds": [0, 1, 2], "search": "design", "design": design, **more}


def model_matrix(coded: np.ndarray, order: int) -> np.ndarray:
    """Columns: the mean, every main effect and (order 2) every two-factor interaction."""
    k = coded.shape[1]
    cols = [np.ones(len(coded))] + [coded[:, i] for i in range(k)]
    if order == 2:
        cols += [coded[:, i] * coded[:, j] for i, j in itertools.combinations(range(k), 2)]
    return np.stack(cols, axis=1)  # (runs, terms)


def test_resolution_v_half_fraction_of_five_factors():
    """2^(5-1)_V: 16 points; the mean, 5 main effects and 10 two-factor interactions are 16
    mutually orthogonal columns, so each is estimated clear of every other."""
    d = build({"type": "fractional", "resolution": "V"}, FIVE)
    coded = np.asarray(d.coded)
    assert coded.shape == (16, 5) and d.resolution == 5
    assert [sorted(w) for w in d.words] == [[0, 1, 2, 3, 4]]  # I = ABCDE
    x = model_matrix(coded, order=2)
    assert np.array_equal(x.T @ x, 16 * np.eye(16))
    # the real levels, low for -1
    for code, point in zip(coded, d.points):
        for (name, levels), c in zip(FIVE.items(), code):
            assert point[name] == levels[int(c > 0)]


@pytest.mark.parametrize("k, resolution, runs", [(6, "IV", 16), (7, "III", 8), (7, "IV", 16),
                                                 (8, "V", 64), (4, "IV", 8), (3, "III", 4)])
def test_smallest_fraction_with_the_resolution(k, resolution, runs):
    axes = {f"x{i}": [0.0, 1.0] for i in range(k)}  # build() takes any names; parse_spec checks them
    d = build({"type": "fractional", "resolution": resolution}, axes)
    coded = np.asarray(d.coded)
    want = {"III": 3, "IV": 4, "V": 5}[resolution]
    assert len(coded) == runs and d.resolution >= want
    assert len({tuple(r) for r in coded}) == runs
    # what the resolution promises, checked on the matrix: mains are orthogonal to each other
    # (III), and to every two-factor interaction (IV); V: interactions among themselves too.
    mains = model_matrix(coded, order=1)
    assert np.array_equal(mains.T @ mains, runs * np.eye(k + 1))
    if want >= 4:
        pairs = [coded[:, i] * coded[:, j] for i, j in itertools.combinations(range(k), 2)]
        assert all(abs(m @ p) == 0 for m in mains.T for p in pairs)


def test_full_factorial_is_every_combination():
    axes = {"a2": [1.0, 100.0], "latent_dim": [32, 64], "inr_depth": [3, 5]}
    d = build({"type": "full"}, axes)
    assert sorted(tuple(p.values()) for p in d.points) == sorted(itertools.product(*axes.values()))
    assert d.words == [] and "aliases: none" in describe(d, [0])


def test_latin_hypercube_one_point_per_stratum():
    axes = {"lr": {"loguniform": [1e-4, 1e-2]}, "a2": {"uniform": [1.0, 100.0]},
            "latent_dim": {"randint": [8, 72]}}
    d = build({"type": "lhs", "runs": 8}, axes)
    unit = np.asarray(d.coded)  # (8, 3) in [0, 1)
    for col in unit.T:
        assert sorted(np.floor(col * 8).astype(int)) == list(range(8))
    assert all(1e-4 <= p["lr"] <= 1e-2 and 1 <= p["a2"] <= 100 and 8 <= p["latent_dim"] < 72
               for p in d.points)
    assert all(isinstance(p["latent_dim"], int) for p in d.points)
    # log scale: the strata of lr are equal in log(lr)
    logs = np.log10([p["lr"] for p in d.points])
    assert sorted(np.floor((logs + 4) / 2 * 8).astype(int)) == list(range(8))


def test_crossed_axes_and_trial_count():
    axes = {**FIVE, "a1": [0.0, 0.1, 1.0]}
    spec = parse_spec(doc({"type": "fractional", "resolution": "IV",
                           "factors": ["a2", "cls_weight", "latent_dim", "inr_depth"]}, axes),
                      "x.yaml")
    # 2^(4-1)_IV = 8 points, crossed with 3 levels of a1, 3 seeds
    assert spec.num_trials() == 8 * 3 * 3
    rows = spec.trial_configs()
    assert len(rows) == spec.num_trials()
    assert {r["a1"] for r in rows} == {0.0, 0.1, 1.0}
    assert len({tuple(sorted(r.items())) for r in rows}) == len(rows)


def test_too_few_runs_names_what_the_resolution_needs(tmp_path):
    with pytest.raises(SpecError) as info:
        parse_spec(doc({"type": "fractional", "resolution": "V", "runs": 8}), "x.yaml")
    message = str(info.value)
    assert message.startswith("x.yaml: design.runs: 8 runs of 5 two-level factors reach at "
                              "most resolution III; resolution V needs 16 runs"), message


def test_tiny_mode_keeps_both_levels_of_every_factor():
    spec = tiny_mode(load_spec(ROOT / "sweeps" / "ablation_cpu.yaml"))
    assert spec.design["resolution"] == "III" and spec.num_trials() == 8
    for name in FIVE:
        assert {r[name] for r in spec.trial_configs()} == set(spec.axes[name])


# ------------------------------------------------------------------------ the real CLI

def test_dry_run_prints_the_design_and_its_aliases(tmp_path):
    results = tmp_path / "results"
    proc = subprocess.run([sys.executable, str(ROOT / "launch.py"), "run",
                           "sweeps/ablation_cpu.yaml", "--dry-run", "--results", str(results)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "48 trials (design search" in out
    assert "2^(5-1) fractional factorial, resolution V, 16 points" in out
    assert "generators E = ABCD" in out and "I = ABCDE" in out
    assert "main effects and 2-factor interactions clear" in out
    for alias in ("AB = CDE", "DE = ABC", "A = BCDE"):
        assert alias in out, out
    assert "trials: 48 (16 points x 3 seeds); the full grid of these axes: 96; saves 48" in out
    # the matrix: 16 rows, coded signs agree with the real levels, E = ABCD on every row
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == ["pt"])
    rows = [line.split() for line in lines[start + 1:start + 17]]
    assert [int(r[0]) for r in rows] == list(range(16))
    for r in rows:
        signs = [1 if s == "+" else -1 for s in r[1:6]]
        assert signs[4] == signs[0] * signs[1] * signs[2] * signs[3]
        for (name, levels), sign, shown in zip(FIVE.items(), signs, r[6:]):
            assert float(shown) == levels[int(sign > 0)], (name, r)
    assert not results.exists()


# ------------------------------------------------------------------------ real Ray: resume

def test_designed_sweep_resumes_to_the_same_trials(tmp_path):
    """A 2^(3-1) design x 2 seeds whose driver dies mid-way: resume ends with exactly the
    design's 8 trials, each point once per seed with its real levels, every epoch once."""
    from .sweep_helpers import interrupt_then_resume, run_ok

    sweep = tmp_path / "designed.yaml"
    axes = {"a2": [1.0, 100.0], "latent_dim": [8, 16], "inr_depth": [2, 3]}
    sweep.write_text(yaml.safe_dump({
        "name": "designed", "base": {"preset": "tiny", "epochs": 3}, "axes": axes,
        "seeds": [0, 1], "search": "design", "design": {"type": "fractional", "resolution": 3},
        "metric": "val_psnr", "mode": "max", "resources": {"cpus": 1},
        "budget": {"max_concurrent": 2}}))
    expected = {(tuple(p[k] for k in axes), seed) for p in load_spec(sweep).points()
                for seed in (0, 1)}
    assert len(expected) == 8
    out = tmp_path / "results"
    assert 0 < interrupt_then_resume(str(sweep), out, rows=4) < 8 * 3  # interrupted mid-way
    run_ok("resume", str(out))  # a second resume of a finished sweep adds nothing
    trials = pq.read_table(out / "trials.parquet").to_pylist()
    got = [(tuple(t[f"config.{k}"] for k in axes), t["config.seed"]) for t in trials]
    assert sorted(got) == sorted(expected)
    assert all(t["status"] == "completed" for t in trials)
    epochs = pq.read_table(out / "epochs").to_pylist()
    assert len(epochs) == len({(e["trial_id"], e["epoch"]) for e in epochs}) == 8 * 3


def test_complementary_fraction_is_the_other_half_and_both_are_the_full_factorial():
    """fraction: complementary negates the generator (E = -ABCD): 16 points, none of them in
    the principal half, the same resolution; the two halves together are all 32 points of the
    2^5 with no defining word left, so no interaction is aliased."""
    half = build({"type": "fractional", "resolution": "V"}, FIVE)
    other = build({"type": "fractional", "resolution": "V", "fraction": "complementary"}, FIVE)
    both = build({"type": "fractional", "resolution": "V", "fraction": "both"}, FIVE)
    key = lambda p: tuple(sorted(p.items()))  # noqa: E731
    assert other.runs == 16 and other.resolution == 5
    assert not {key(p) for p in half.points} & {key(p) for p in other.points}
    coded = np.asarray(other.coded)
    assert np.all(np.prod(coded, axis=1) == -1)  # I = -ABCDE
    assert both.runs == 32 and not both.words and both.resolution is None
    assert [key(p) for p in both.points] == [key(p) for p in half.points + other.points]
    x = model_matrix(np.asarray(both.coded), order=2)
    assert np.linalg.matrix_rank(x) == x.shape[1]
    assert "E = -ABCD (complementary fraction); shortest words I = -ABCDE" in describe(other, [0])
    assert "full factorial, 32 points (both fractions" in describe(both, [0])


def test_fraction_is_validated_and_the_default_is_not_written():
    spec = parse_spec(doc({"type": "fractional", "resolution": "V", "fraction": "principal"}), "f.yaml")
    assert spec.raw["design"] == {"type": "fractional", "resolution": "V"}
    assert spec.num_trials() == 48
    spec = parse_spec(doc({"type": "fractional", "resolution": "V", "fraction": "both"}), "f.yaml")
    assert spec.num_trials() == 96
    with pytest.raises(SpecError, match=r"f.yaml: design.fraction: 'other' is not a fraction; "
                                        r"allowed: principal, complementary, both"):
        parse_spec(doc({"type": "fractional", "resolution": "V", "fraction": "other"}), "f.yaml")
    with pytest.raises(SpecError, match="design.fraction: not a key of a full design"):
        parse_spec(doc({"type": "full", "fraction": "both"}), "f.yaml")
