"""analysis.model_effects: effects from a linear model on designed sweeps, and effects under
early stopping, on hand-built results directories with known effects written through the
Parquet contract and read back by the real loader (tests/analysis_fixtures.py); the report
through the real CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/ may or may not be a package

import analysis_fixtures as fx  # noqa: E402

from analysis import load_results  # noqa: E402
from analysis.load import DeclaredDesign  # noqa: E402
from analysis.design_model import detect_design  # noqa: E402
from analysis.model_effects import (design_analysis, design_metrics, early_stopping,  # noqa: E402
                                    rung_frame)
from analysis.plots import interaction_plot  # noqa: E402
from analysis.stats import holm  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: the two-factor interactions a 2^(5-1) with E = ABC cannot separate (each from one other)
ALIASED_IV = {"a2:cls_weight": "a1:inr_depth", "a2:inr_depth": "a1:cls_weight",
              "cls_weight:inr_depth": "a1:a2"}


def _row(effects, metric, term):
    rows = effects[(effects["metric"] == metric) & (effects["term"] == term)]
    assert len(rows) == 1, (metric, term)
    return rows.iloc[0]


def test_resolution_v_fraction_recovers_known_effects(tmp_path):
    res = load_results(fx.write_design_results(tmp_path / "design", "V"))
    da = design_analysis(res)
    assert da.design.kind == "design" and "resolution V" in da.design.why
    eff = da.effects
    psnr = eff[eff["metric"] == "val_psnr"]
    # resolution V: every main effect and every two-factor interaction is estimable
    assert len(psnr) == 5 + 10 and da.aliased.empty
    for term, truth in fx.DESIGN_TRUTH.items():
        row = _row(eff, "val_psnr", term)
        assert row.ci_low < truth < row.ci_high, (term, row.effect)
        assert row.significant
    acc = _row(eff, "val_latent_acc", "cls_weight")  # percentage points
    assert acc.ci_low < fx.DESIGN_ACC_TRUTH["cls_weight"] < acc.ci_high and acc.significant
    nulls = psnr[~psnr["term"].isin(list(fx.DESIGN_TRUTH))]
    assert not nulls["significant"].any()
    # effect = 2 x coefficient = mean(high) - mean(low): a main effect checked by hand
    done = res.completed
    hi = done[done["config.a2"] == 100.0]["metric.val_psnr"].mean()
    lo = done[done["config.a2"] == 1.0]["metric.val_psnr"].mean()
    assert _row(eff, "val_psnr", "a2").effect == pytest.approx(hi - lo, abs=1e-9)
    # one Holm over the whole table, the project's implementation
    np.testing.assert_allclose(eff["p_holm"], holm(eff["p"]))
    # variance shares: the biggest true effect explains the most; a balanced design adds to 1
    var = da.variance[da.variance["metric"] == "val_psnr"].set_index("source")
    assert var["share"].idxmax() == "a2"
    assert var["share"].sum() == pytest.approx(1.0, abs=1e-9)
    assert da.significant_pairs == [("val_psnr", "a2", "latent_dim")]
    assert [b.reported for b in da.selected] == ["test_psnr", "latent_acc", "weight_acc"]
    assert all(b.chosen_on.startswith("val_") for b in da.selected)


def test_resolution_iv_fraction_reports_no_aliased_term(tmp_path):
    da = design_analysis(load_results(fx.write_design_results(tmp_path / "design", "IV")))
    psnr = da.effects[da.effects["metric"] == "val_psnr"]
    assert set(psnr["term"]).isdisjoint(ALIASED_IV)
    assert len(psnr) == 5 + 10 - len(ALIASED_IV)
    aliased = da.aliased[da.aliased["metric"] == "val_psnr"].set_index("term")["aliased with"]
    assert aliased.to_dict() == ALIASED_IV
    row = _row(da.effects, "val_psnr", "a2:latent_dim")  # clear of every other interaction
    assert row.ci_low < fx.DESIGN_TRUTH["a2:latent_dim"] < row.ci_high


def test_asha_rung_recovers_the_effect_survivors_are_biased(tmp_path):
    res = load_results(fx.write_asha_results(tmp_path / "asha"))
    da = design_analysis(res)
    assert da.rung_epochs == [1, 2] and "grace_period 1" in da.rung_source
    rung1 = da.rungs[da.rungs["rung"] == "rung 1"]
    assert set(rung1["n"]) == {48} and "no selection yet" in rung1["trials"].iloc[0]
    a2 = _row(rung1, "val_psnr", "a2")
    assert a2.ci_low < fx.ASHA_EFFECT_DB < a2.ci_high and a2.significant
    assert a2.effect == pytest.approx(fx.ASHA_EFFECT_DB, abs=1e-9)  # the luck is balanced
    # survivors only: half the trials, and the effect shrunk by more than half its size
    final = _row(da.effects, "val_psnr", "a2")
    assert final.n == 24 and "survivors only: the 24 of 48" in final.trials
    assert fx.ASHA_EFFECT_DB - final.effect > fx.ASHA_EFFECT_DB / 2
    assert not final.significant
    last = _row(da.rungs[da.rungs["rung"] == "final"], "val_psnr", "a2")
    assert last.epoch == fx.ASHA_EPOCHS and last.n == 24


def test_rungs_inferred_from_epochs_without_a_scheduler_section(tmp_path):
    res = load_results(fx.write_asha_results(tmp_path / "asha", scheduler=False))
    rungs, source = early_stopping(res)
    assert rungs == [1] and source.startswith("inferred")
    frame = rung_frame(res, 1, ["val_psnr"])
    assert len(frame) == 48 and frame["metric.val_psnr"].notna().all()


def test_which_sweeps_get_the_model(tmp_path):
    one = load_results(fx.write_results(tmp_path / "one"))
    design, why = detect_design(one)
    assert design is None and "one varied factor" in why
    assert design_analysis(one) is None
    grid = load_results(fx.write_cls_results(tmp_path / "cls"))
    design, _ = detect_design(grid)
    assert design.kind == "full two-level grid" and design.levels["a2"] == (1.0, 100.0)
    half = fx.cls_rows()[:6]  # a2 = 1 only: a2 is no longer a two-level factor
    fx.write_results(tmp_path / "half", "cls", rows=half, with_spec=False)
    (tmp_path / "half" / "sweep.yaml").write_text(yaml.safe_dump(fx.cls_spec()))
    design, why = detect_design(load_results(tmp_path / "half"))
    assert design is None and "a2 has 1 levels" in why


def test_the_declared_design_is_read_off_the_sweep_document(tmp_path):
    """A design: section (as sweeps.spec writes it, or an older document's bare type with a
    resolution beside it) declares a design; a grid declares none, even a full two-level one."""
    older = load_results(fx.write_design_results(tmp_path / "older", "IV"))
    assert older.declared_design == DeclaredDesign("fractional", "IV")
    root = fx.write_design_results(tmp_path / "current", "V")
    doc = {k: v for k, v in fx.design_spec("V").items() if k != "resolution"}
    doc["design"] = {"type": "fractional", "resolution": "V"}
    (root / "sweep.yaml").write_text(yaml.safe_dump(doc))
    current = load_results(root)
    assert current.declared_design == DeclaredDesign({"type": "fractional", "resolution": "V"})
    design, _ = detect_design(current)
    assert design.declared and "sweep.yaml says search: design (design: {" in design.why
    grid = load_results(fx.write_cls_results(tmp_path / "cls"))
    assert grid.declared_design is None and not detect_design(grid)[0].declared


def test_metrics_fall_back_to_the_test_split_without_validation(tmp_path):
    res = load_results(fx.write_cls_results(tmp_path / "cls", with_val=False))
    assert design_metrics(res.completed) == ["test_psnr", "latent_acc"]
    da = design_analysis(res)
    assert set(da.effects["metric"]) == {"test_psnr", "latent_acc"}
    assert "all 12 completed trials" in da.trials_label and da.rung_epochs == []


def test_a_saturated_fraction_estimates_nothing(tmp_path):
    """One seed of a 2^(5-1) at resolution V: 16 runs for 16 coefficients, no residual."""
    root = tmp_path / "one-seed"
    fx.write_results(root, "design", rows=[r for r in fx.design_rows("V")
                                           if r["config.seed"] == 0], with_spec=False)
    (root / "sweep.yaml").write_text(yaml.safe_dump(fx.design_spec("V")))
    da = design_analysis(load_results(root))
    assert da.design.kind == "design" and da.effects.empty
    md = _report(root, tmp_path / "md", "md")
    assert "No effect estimated: the model needs more completed trials than terms" in md


def test_interaction_plot(tmp_path):
    res = load_results(fx.write_design_results(tmp_path / "design", "V"))
    fig = interaction_plot(res, res.completed, "val_psnr", [("a2", "latent_dim")])
    ax = fig.axes[0]
    assert ax.get_xlabel() == "a2" and len(ax.lines) >= 2
    assert interaction_plot(res, res.completed, "val_psnr", []) is None


def _report(results_dir: Path, out: Path, fmt: str) -> str:
    run = subprocess.run([sys.executable, "-m", "analysis", str(results_dir), "-o", str(out),
                          "--format", fmt], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    return (out / ("report.md" if fmt == "md" else "index.html")).read_text()


def test_report_of_a_designed_sweep(tmp_path):
    root = fx.write_design_results(tmp_path / "design", "IV")
    md = _report(root, tmp_path / "md", "md")
    assert "Analysis used: model-based, because sweep.yaml says search: design" in md
    assert "Effects from a linear model (designed sweep)" in md
    assert "Effects against the reference setting" not in md  # a fraction has no pairs
    assert "| validation PSNR | a2:cls_weight | interaction |" not in md  # aliased: not estimated
    assert "| validation PSNR | a2:cls_weight | a1:inr_depth |" in md  # ... but named
    assert "confounded with" in md and "a1:inr_depth" in md
    # bold verdicts only after Holm: every **yes** row has a Holm p below 0.05
    rows = [line for line in md.splitlines() if line.startswith("| validation ")]
    for line in rows:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 8 and cells[6] == "**yes**":
            assert cells[5].startswith("<") or float(cells[5]) < 0.05
    assert (tmp_path / "md" / "figures" / "design-interactions-val_psnr.png").is_file()
    html = _report(root, tmp_path / "html", "html")
    assert "Effects from a linear model" in html and "<strong>yes</strong>" in html


def test_report_under_early_stopping_and_for_one_factor(tmp_path):
    md = _report(fx.write_asha_results(tmp_path / "asha"), tmp_path / "a", "md")
    assert "Effects under early stopping: per rung" in md
    assert "rung 1 (epoch 1)" in md and "survivors only: 24 of 48" in md
    grid = _report(fx.write_cls_results(tmp_path / "cls"), tmp_path / "g", "md")
    assert "Analysis used: model-based, because every factor has two levels" in grid
    assert "Effects against the reference setting" in grid  # a full grid keeps its pairs
    one = _report(fx.write_results(tmp_path / "one"), tmp_path / "o", "md")
    assert "Analysis used: paired comparisons against the reference setting, because one " \
           "varied factor" in one
    assert "linear model" not in one


def _two_runs(tmp_path: Path, shift: float, repeats: int) -> Path:
    """The full 2^5 of the fixture's factors run as two chunks: the principal half in stage 1
    (its rows without a stage column value, as files written before the column), the other
    half and ``repeats`` principal points again in stage 2, which reads ``shift`` dB higher
    (another machine).  Same truth and noise as ``fx.design_rows``."""
    import itertools

    rng = np.random.default_rng(2)
    names = list(fx.DESIGN_LEVELS)
    rows = []

    def add(coded: dict, seed: int, stage: int, tid: str) -> None:
        psnr = 18.0 + 0.2 * seed + rng.normal(0, fx.DESIGN_NOISE_DB) + shift * (stage == 2)
        for term, effect in fx.DESIGN_TRUTH.items():
            psnr += effect / 2 * np.prod([coded[f] for f in term.split(":")])
        acc = 0.90 + rng.normal(0, 0.004)
        row = fx._row("design", tid, "completed", 1.0, seed, metrics={
            "val_psnr": psnr, "test_psnr": psnr + 0.1, "val_latent_acc": acc,
            "latent_acc": acc, "val_weight_acc": 0.85, "weight_acc": 0.85})
        for f, c in coded.items():
            row[f"config.{f}"] = fx.DESIGN_LEVELS[f][(c + 1) // 2]
        row["stage"] = None if stage == 1 else stage
        rows.append(row)

    points = [dict(zip(names, signs)) for signs in itertools.product((-1, 1), repeat=5)]
    principal = [p for p in points if np.prod(list(p.values())) == 1]
    for seed in fx.DESIGN_SEEDS:
        for i, p in enumerate(points):
            add(p, seed, 1 if p in principal else 2, f"p{i:02d}_s{seed}")
        for i, p in enumerate(principal[:repeats]):
            add(p, seed, 2, f"r{i:02d}_s{seed}")
    root = tmp_path / "chunks"
    fx.write_results(root, "design", rows=rows, with_spec=False)
    spec = fx.design_spec()
    spec["design"] = {"type": "fractional", "resolution": "V", "fraction": "both"}
    spec.pop("resolution")
    (root / "sweep.yaml").write_text(yaml.safe_dump(spec))
    return root


@pytest.mark.parametrize("repeats", [0, 4])
def test_two_runs_are_a_block_and_repeated_points_measure_its_shift(tmp_path, repeats):
    """A 0.6 dB shift between the chunks is a block effect, not a term of the model: every
    main effect and two-factor interaction keeps its truth in its CI, the run's row finds the
    shift, and repeated trials measure it directly."""
    da = design_analysis(load_results(_two_runs(tmp_path, 0.6, repeats)))
    eff = da.effects
    assert da.aliased.empty  # the run is confounded with ABCDE only, which is not a term
    for term, truth in fx.DESIGN_TRUTH.items():
        row = _row(eff, "val_psnr", term)
        assert row.ci_low < truth < row.ci_high, (term, row.effect)
    block = _row(eff, "val_psnr", "run: stage 2 - stage 1")
    assert block.kind == "block" and block.ci_low < 0.6 < block.ci_high and block.significant
    assert (block.low, block.high) == ("stage 1", "stage 2")
    psnr = eff[(eff["metric"] == "val_psnr") & (eff["kind"] != "block")]
    assert not psnr[~psnr["term"].isin(list(fx.DESIGN_TRUTH))]["significant"].any()
    shifts = da.shifts[da.shifts["metric"] == "val_psnr"]
    if not repeats:
        assert shifts.empty
        return
    (shift,) = shifts.itertuples()
    assert (shift.stage, shift.versus, shift.pairs) == (2, 1, repeats * len(fx.DESIGN_SEEDS))
    assert shift.ci_low < 0.6 < shift.ci_high


def test_a_run_that_computed_the_same_numbers_shows_a_zero_shift(tmp_path):
    """Repeats identical to their originals (the same machine and code): shift 0, sd 0."""
    root = _two_runs(tmp_path, 0.0, 4)
    import pyarrow.parquet as pq
    rows = pq.read_table(root / "trials.parquet").to_pylist()
    keys = [f"config.{f}" for f in fx.DESIGN_LEVELS] + ["config.seed"]
    first = {tuple(r[k] for k in keys): r for r in rows if r["stage"] is None}
    for r in rows:
        if r["trial_id"].startswith("r"):
            r.update({k: v for k, v in first[tuple(r[k] for k in keys)].items()
                      if k.startswith("metric.")})
    fx.write_results(root, "design", rows=rows, with_spec=False)
    da = design_analysis(load_results(root))
    shift = da.shifts[da.shifts["metric"] == "val_psnr"].iloc[0]
    assert shift["shift"] == 0.0 and shift["sd"] == 0.0
