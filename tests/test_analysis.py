"""analysis: tables on a hand-built fixture with known numbers, the report (HTML parsed),
robustness to damaged or empty results, the CLI, and the no-torch/no-Ray import rule."""

from __future__ import annotations

import math
import statistics
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/ may or may not be a package

import analysis_fixtures as fx  # noqa: E402

import analysis  # noqa: E402
from analysis.stats import holm  # noqa: E402
from contract.schema import TRIAL_CORE, VERSION_KEY, build_table, write_atomic  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
T_975_4 = 2.7764451051977987  # t quantile 0.975 with 4 degrees of freedom (5 seeds)
T_975_2 = 4.302652729911275  # ... with 2 degrees of freedom (3 seeds)


@pytest.fixture()
def results_dir(tmp_path):
    return fx.write_results(tmp_path / "fixture")


def run_cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "analysis", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


# ------------------------------------------------------------------------------------
# Loading

def test_load_reads_the_contract(results_dir):
    res = analysis.load_results(results_dir)
    assert res.problems == []
    assert len(res.trials) == 12 and len(res.completed) == 10
    assert len(res.epochs) == 10 * 3 + 1  # the errored trial has no epochs, the diverged one 1
    assert res.name == "fixture"
    assert res.factors == ["a2"]
    assert res.reference("a2") == (100.0, "base config")


def test_factors_without_sweep_yaml_come_from_config_columns(tmp_path):
    res = analysis.load_results(fx.write_results(tmp_path / "r", with_spec=False))
    assert res.factors == ["a2"]  # seed varies too but is never a factor
    assert any("sweep.yaml: missing" in p for p in res.problems)
    assert res.reference("a2")[1].startswith("most common level")


# ------------------------------------------------------------------------------------
# Tables against hand computations

def test_factor_table_means_sd_and_ci(results_dir):
    ft = analysis.factor_table(analysis.load_results(results_dir))
    psnr = ft[ft["metric"] == "test_psnr"].set_index("level")
    assert list(psnr.index) == [1.0, 100.0]  # numeric order
    ref = psnr.loc[100.0]
    assert ref["reference"] and not psnr.loc[1.0]["reference"]
    assert ref["n"] == 5 and ref["seeds"] == 5
    assert ref["mean"] == pytest.approx(20.24)
    sd = statistics.stdev(fx.REF_PSNR)
    assert ref["std"] == pytest.approx(sd)
    assert ref["ci_half"] == pytest.approx(T_975_4 * sd / math.sqrt(5))
    assert ref["ci_low"] == pytest.approx(20.24 - T_975_4 * sd / math.sqrt(5))
    assert psnr.loc[1.0]["mean"] == pytest.approx(22.24)
    # accuracies are shown in percent
    lat = ft[(ft["metric"] == "latent_acc") & (ft["level"] == 100.0)].iloc[0]
    assert lat["mean"] == pytest.approx(100 * statistics.mean(fx.REF_LATENT))
    assert lat["unit"] == "%"
    # only completed trials count: the errored a2=1 and diverged a2=100 trials are out
    assert set(ft["n"]) == {5}


def test_effects_one_significant_one_not(results_dir):
    eff = analysis.effects_table(analysis.load_results(results_dir)).set_index("metric")
    psnr, lat = eff.loc["test_psnr"], eff.loc["latent_acc"]
    assert psnr["test"] == "paired t" and psnr["n_pairs"] == 5
    assert psnr["level"] == 1.0 and psnr["reference"] == 100.0
    assert psnr["diff"] == pytest.approx(2.0)
    # the paired t-test by hand
    d = fx.PSNR_GAIN
    t = statistics.mean(d) / (statistics.stdev(d) / math.sqrt(5))
    assert psnr["p"] == pytest.approx(2 * stats.t.sf(t, 4))
    half = T_975_4 * statistics.stdev(d) / math.sqrt(5)
    assert (psnr["ci_low"], psnr["ci_high"]) == pytest.approx((2.0 - half, 2.0 + half))
    assert psnr["significant"] and psnr["p_holm"] < 0.001
    # latent accuracy: tiny mean difference, large scatter -> not significant
    assert lat["diff"] == pytest.approx(-0.02)  # percentage points
    assert lat["unit"] == "pp"
    assert lat["p"] > 0.5 and not lat["significant"]
    assert lat["ci_low"] < 0 < lat["ci_high"]
    # Holm: never below the raw p; the smallest p is multiplied by the family size
    assert (eff["p_holm"] >= eff["p"] - 1e-15).all()
    assert psnr["p_holm"] == pytest.approx(min(1.0, len(eff) * psnr["p"]))
    # significant effects come first
    assert bool(eff["significant"].iloc[0])


def test_welch_when_seeds_do_not_match(tmp_path):
    rows = fx.trial_rows()
    for row in rows:
        if row["trial_id"].startswith("ref_"):
            row["config.seed"] += 100  # no reference trial shares a seed with a level trial
    eff = analysis.effects_table(analysis.load_results(fx.write_results(tmp_path / "w", rows=rows)))
    psnr = eff.set_index("metric").loc["test_psnr"]
    lvl = [r + g for r, g in zip(fx.REF_PSNR, fx.PSNR_GAIN)]
    assert psnr["test"] == "Welch t" and psnr["n_pairs"] == 0
    assert psnr["diff"] == pytest.approx(statistics.mean(lvl) - statistics.mean(fx.REF_PSNR))
    assert psnr["p"] == pytest.approx(stats.ttest_ind(lvl, fx.REF_PSNR, equal_var=False).pvalue)
    assert psnr["significant"]


def test_holm_by_hand():
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    out = holm([0.5, float("nan"), 0.001])
    assert math.isnan(out[1]) and out[2] == pytest.approx(0.002) and out[0] == pytest.approx(0.5)


def test_paper_comparison_labels_the_budget(results_dir):
    pc = analysis.paper_comparison(analysis.load_results(results_dir))
    assert list(pc["metric"]) == ["latent_acc", "weight_acc"]  # plain variant on MNIST only
    lat = pc.iloc[0]
    assert lat["paper"] == "98.42"
    assert "mnist-5k" in lat["budget"] and "256 training images" in lat["budget"]
    assert lat["comparable"].startswith("reduced") and "tiny" in lat["comparable"]
    assert lat["selection"] == "reference setting: a2=100" and lat["n"] == 5
    assert lat["ours"] == pytest.approx(100 * statistics.mean(fx.REF_LATENT))


def test_pareto_and_failures(results_dir):
    res = analysis.load_results(results_dir)
    front = analysis.pareto_front(res)
    assert len(front) == 2 and front["on_front"].any()
    # a2=1 has higher PSNR; its accuracy differs by 0.02 pp: both are on the front here
    fail = analysis.failures_table(res)
    assert list(fail["trial_id"]) == ["div_s6", "err_s5"]
    assert fail.set_index("trial_id").loc["div_s6", "diverged_epoch"] == 2
    assert "CUDA out of memory" in fail.set_index("trial_id").loc["err_s5", "error"]


# ------------------------------------------------------------------------------------
# The report

class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs, self.refs, self.tags = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.imgs.append(attrs.get("src", ""))
        for key in ("href", "src"):
            if key in attrs and tag != "img":
                self.refs.append(attrs[key])


def test_report_html_is_self_contained(tmp_path):
    results_dir = fx.write_results(tmp_path / "fixture", images=True)
    out = tmp_path / "report"
    written = analysis.build_report([results_dir], out, "both")
    html_path, md_path = out / "index.html", out / "report.md"
    assert html_path in written and md_path in written
    parser = _Collector()
    parser.feed(html_path.read_text())
    assert parser.imgs and all(src.startswith("data:image/png;base64,") for src in parser.imgs)
    # scripts only inline (the explore section's table and parallel coordinates): no src,
    # no link, nothing fetched
    assert parser.refs == [] and "link" not in parser.tags
    assert "<script>" in html_path.read_text() and "<script src" not in html_path.read_text()
    text = html_path.read_text()
    assert "Headline" in text and "a2 = 1</strong> vs 100" in text
    assert "98.42" in text and "reduced" in text
    md = md_path.read_text()
    for rel in [line.split("](")[1].rstrip(")") for line in md.splitlines()
                if line.startswith("![")]:
        assert (out / rel).is_file()
    assert len(parser.imgs) == md.count("![")
    # the trials' own pictures: one reconstruction grid per a2 level, from the level's best
    # trial on the sweep's metric (no validation column here), then the three operations
    assert "Pictures: what was learned" in md and "test_psnr (test split" in md
    assert "a2=1: trial lvl_s2" in md and "a2=100 (ref): trial ref_s2" in md  # best PSNRs
    for name in ("lvl_s2-reconstruction", "ref_s2-reconstruction", "lvl_s2-superres",
                 "lvl_s2-inpainting", "lvl_s2-denoising"):
        assert f"images-{name}.png" in md
    assert "mean-filled (the baseline)" in md
    # a2 is named by its concept, the theta prior, once in the factors table
    assert "| a2 | 1, 100 | 100 | base config | theta prior mean(theta^2) |" in md


def test_html_only_report_leaves_no_loose_pictures(tmp_path):
    root = fx.write_results(tmp_path / "fixture", images=True)
    analysis.build_report([root], tmp_path / "rep", "html")
    assert sorted(p.name for p in (tmp_path / "rep").iterdir()) == ["index.html"]
    assert (tmp_path / "rep" / "index.html").read_text().count('class="pixels"') == 5


def test_results_list_the_trials_images(tmp_path):
    root = fx.write_results(tmp_path / "fixture", images=True)
    (root / "images" / "ref_s0" / ".reconstruction.png.x.tmp").write_bytes(b"half")
    res = analysis.load_results(root)
    assert len(res.images) == 10 and set(res.images["ref_s0"]) == set(fx.IMAGE_NAMES)
    assert res.images["ref_s0"]["superres"] == root / "images" / "ref_s0" / "superres.png"


def test_two_sweeps_side_by_side(tmp_path):
    a = fx.write_results(tmp_path / "results" / "mnist", sweep="mnist")
    b = fx.write_results(tmp_path / "results" / "cifar", sweep="cifar")
    written = analysis.build_report([a, b], formats="md")
    assert written[0] == tmp_path / "results" / "report" / "report.md"
    md = written[0].read_text()
    assert "## Sweeps side by side" in md and "## Sweep mnist" in md and "## Sweep cifar" in md
    cmp = analysis.compare_sweeps([analysis.load_results(a), analysis.load_results(b)])
    assert list(cmp["sweep"]) == ["mnist", "cifar"]
    assert cmp["test_psnr.mean"].iloc[0] == pytest.approx(20.24)  # at the reference a2=100


# ------------------------------------------------------------------------------------
# Robustness: damaged, foreign and empty results

def test_truncated_trials_parquet_is_refused(results_dir, tmp_path):
    """A damaged trials.parquet is the contract broken, not a part to do without (issue 32):
    the report refuses in one line naming it, and writes nothing."""
    from contract.resultsdir import ResultsDirError

    path = results_dir / "trials.parquet"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ResultsDirError, match="trials.parquet: damaged"):
        analysis.load_results(results_dir)
    proc = run_cli(results_dir, "-o", tmp_path / "rep", "--format", "html")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: damaged"), proc.stderr
    assert not (tmp_path / "rep").exists()


def test_report_from_epochs_alone(results_dir, tmp_path):
    """Without trials.parquet (what the refusal above suggests), the learning curves still
    come from epochs/ and the report says what is missing."""
    (results_dir / "trials.parquet").unlink()
    proc = run_cli(results_dir, "-o", tmp_path / "rep", "--format", "html")
    assert proc.returncode == 0, proc.stderr
    assert "warning:" in proc.stderr and "trials.parquet: missing" in proc.stderr
    html = (tmp_path / "rep" / "index.html").read_text()
    assert "trials.parquet" in html and "missing or could not be read" in html
    assert "No trial finished" in html
    assert "data:image/png;base64," in html  # learning curves still drawn from epochs/


def test_garbage_epochs_file(results_dir):
    bad = results_dir / "epochs" / "garbage.parquet"
    bad.write_bytes(b"this is not parquet at all")
    res = analysis.load_results(results_dir)
    assert not res.epochs_loaded  # the tables need trials.parquet only
    assert len(analysis.effects_table(res)) and not res.epochs_loaded
    assert len(res.problems) == 1 and str(bad) in res.problems[0]
    assert len(res.epochs) == 31 and len(res.completed) == 10
    md = analysis.build_report([res], results_dir / "report", "md")[0].read_text()
    assert "garbage.parquet" in md


def test_unknown_schema_version(results_dir):
    from contract.resultsdir import ResultsDirError

    table = build_table(fx.trial_rows(), TRIAL_CORE)
    table = table.replace_schema_metadata({VERSION_KEY: b"99"})
    write_atomic(table, results_dir / "trials.parquet")
    with pytest.raises(ResultsDirError, match="trials.parquet.*schema version 99 is not supported"):
        analysis.load_results(results_dir)


def test_empty_sweep_says_so(tmp_path):
    rows = [fx._row("empty", f"p{i}", "pending", 1.0, i, epochs_done=0) for i in range(3)]
    rows[0]["status"] = "errored"
    rows[0]["error"] = "ValueError: boom"
    root = fx.write_results(tmp_path / "empty", sweep="empty", rows=rows)
    proc = run_cli(root)
    assert proc.returncode == 0, proc.stderr
    md = (root / "report" / "report.md").read_text()
    assert "No trial finished in this sweep (2 pending, 1 errored)" in md
    assert "ValueError: boom" in md
    assert (root / "report" / "index.html").is_file()


def test_zero_row_trials_and_no_epochs(tmp_path):
    root = tmp_path / "zero"
    write_atomic(build_table([], TRIAL_CORE), root / "trials.parquet")
    res = analysis.load_results(root)
    assert res.trials.empty and res.epochs.empty
    assert all(t.empty for t in analysis.all_tables(res).values())
    md = analysis.build_report([root], formats="md")[0].read_text()
    assert "No trial finished" in md and "epochs: missing" in md


def test_cli_missing_directory_exits_2(tmp_path):
    missing = tmp_path / "nope"
    proc = run_cli(missing)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {missing}: no such directory"
    (tmp_path / "notresults").mkdir()
    proc = run_cli(tmp_path / "notresults")
    assert proc.returncode == 2 and str(tmp_path / "notresults") in proc.stderr
    with pytest.raises(analysis.ResultsNotFound, match="nope"):
        analysis.load_results(missing)


def test_continuous_factor_is_binned_not_tested(tmp_path):
    rows = []
    for i in range(20):
        row = fx._row("search", f"t{i}", "completed", 100.0, i, metrics={
            "test_psnr": 20 + i / 10, "latent_acc": 0.9})
        row["config.lr"] = 1e-4 * (1 + i)
        rows.append(row)
    root = fx.write_results(tmp_path / "search", sweep="search", rows=rows, with_spec=False)
    res = analysis.load_results(root)
    assert res.factors == ["lr"] and res.is_continuous("lr")
    ft = analysis.factor_table(res)
    assert ft[ft["metric"] == "test_psnr"]["n"].sum() == 20 and ft["level"].nunique() <= 5
    assert analysis.effects_table(res).empty


# ------------------------------------------------------------------------------------
def test_analysis_imports_neither_torch_nor_ray():
    code = ("import analysis, analysis.report, analysis.plots, analysis.cli, sys; "
            "assert 'torch' not in sys.modules and 'ray' not in sys.modules, "
            "[m for m in sys.modules if m.split('.')[0] in ('torch', 'ray')]")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


# ------------------------------------------------------------------------------------
# Bounded intervals, the paper rows' trials, the untrained head

def test_accuracy_interval_stays_inside_0_100(tmp_path):
    res = analysis.load_results(fx.write_cls_results(tmp_path / "cls"))
    vals = 100 * np.array(fx.WIDE_LATENT)
    t_high = vals.mean() + T_975_2 * vals.std(ddof=1) / math.sqrt(3)
    assert t_high > 100  # the fixture is one where the t-interval would pass 100%
    ft = analysis.factor_table(res, "a2")
    acc = ft[ft["metric"].str.endswith("_acc")]
    assert (acc["ci_low"] >= 0).all() and (acc["ci_high"] <= 100).all()
    assert (acc["ci_low"] <= acc["mean"]).all() and (acc["mean"] <= acc["ci_high"]).all()
    # the cell of exactly the wide seeds: asymmetric, the upper end close to but below 100
    t = res.trials
    wide = analysis.Results(res.path, t[(t["config.a2"] == 1) & (t["config.cls_weight"] > 0)],
                            spec=res.spec)
    cell = analysis.factor_table(wide, "a2", ["latent_acc"]).iloc[0]
    assert cell["n"] == 3 and cell["mean"] == pytest.approx(vals.mean())
    assert 99 < cell["ci_high"] < 100 and cell["ci_high"] - cell["mean"] < cell["mean"] - cell["ci_low"]
    md = analysis.build_report([wide], tmp_path / "rep", "md")[0].read_text()
    assert f"93.00 [{cell['ci_low']:.2f}, {cell['ci_high']:.2f}]" in md
    # PSNR keeps its symmetric t-interval
    psnr = ft[ft["metric"] == "test_psnr"].iloc[0]
    assert psnr["ci_high"] - psnr["mean"] == pytest.approx(psnr["mean"] - psnr["ci_low"])


def test_proportion_interval_by_hand():
    from analysis.stats import EPS, proportion_interval
    vals = np.array(fx.WIDE_LATENT)
    z = np.log(vals / (1 - vals))
    half = T_975_2 * z.std(ddof=1) / math.sqrt(3)
    iv = proportion_interval(100 * vals, scale=100)
    expit = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    assert iv.mean == pytest.approx(100 * vals.mean())
    assert iv.low == pytest.approx(100 * expit(z.mean() - half))
    assert iv.high == pytest.approx(100 * expit(z.mean() + half)) and iv.high < 100
    perfect = proportion_interval([1.0, 1.0, 0.99])  # a seed at 100% is clipped, not +inf
    assert 0.99 < perfect.high < 1 and 1 - EPS > perfect.low > 0.9


def test_paper_rows_only_from_trials_that_ran_the_classifier_loss(tmp_path):
    res = analysis.load_results(fx.write_cls_results(tmp_path / "cls"))
    pc = analysis.paper_comparison(res).set_index("metric")
    for metric in ("latent_acc", "joint_acc"):
        row = pc.loc[metric]
        assert row["n"] == 3  # the 3 seeds of one setting, all with cls_weight 0.1
        # chosen on validation (a2=100 wins there), not on test (a2=1 would)
        assert "val_psnr (validation split" in row["selection"]
        assert "a2=100, cls_weight=0.1" in row["selection"]
        assert 0 <= row["ci_low"] <= row["ours"] <= row["ci_high"] <= 100
    assert pc.loc["joint_acc", "ours"] == pytest.approx(97.0)  # never the 11% of cls_weight 0
    # without a validation column the sweep's metric chooses, and the row says so
    res = analysis.load_results(fx.write_cls_results(tmp_path / "noval", with_val=False))
    row = analysis.paper_comparison(res).set_index("metric").loc["joint_acc"]
    assert "test_psnr (test split" in row["selection"] and "a2=1, cls_weight=0.1" in row["selection"]


def test_paper_rows_left_out_when_only_untrained_heads(tmp_path):
    root = fx.write_cls_results(tmp_path / "cls", weights=(0.0,))
    res = analysis.load_results(root)
    pc = analysis.paper_comparison(res).set_index("metric")
    for metric in ("latent_acc", "joint_acc"):
        assert math.isnan(pc.loc[metric, "ours"]) and pc.loc[metric, "n"] == 0
        assert pc.loc[metric, "selection"].startswith("left out: every such trial has cls_weight 0")
    md = analysis.build_report([root], formats="md")[0].read_text()
    assert "left out: every such trial has cls_weight 0" in md
    # no untrained-head number anywhere (the report names its results directory, and pytest's
    # temp dirs are numbered: /tmp/pytest-of-root/pytest-87/ once failed this on its own)
    md = md.replace(str(root), "<results>")
    assert "-87" not in md and "11.2" not in md
    assert "| left out | - | 0 | - |" in md  # no interval, no n, no difference


def test_joint_acc_is_null_where_the_head_was_untrained(tmp_path):
    res = analysis.load_results(fx.write_cls_results(tmp_path / "cls"))
    untrained = res.trials["config.cls_weight"] == 0
    assert res.trials.loc[untrained, "metric.joint_acc"].isna().all()
    assert res.trials.loc[~untrained, "metric.joint_acc"].notna().all()
    eff = analysis.effects_table(res)
    # no effect of cls_weight on the joint head: its reference (cls_weight 0) has no value
    assert eff[(eff["factor"] == "cls_weight") & (eff["metric"] == "joint_acc")].empty
    ft = analysis.factor_table(res, "cls_weight")
    joint = ft[ft["metric"] == "joint_acc"]
    assert list(joint["level"]) == [0.1] and joint["n"].iloc[0] == 6


def test_figure_error_bars_stay_inside_0_100(tmp_path):
    from matplotlib.collections import LineCollection

    from analysis import plots
    res = analysis.load_results(fx.write_cls_results(tmp_path / "cls"))
    fig = plots.metric_vs_factor(res, "a2", ["latent_acc", "joint_acc"])
    for ax in fig.axes:
        for coll in ax.collections:
            if isinstance(coll, LineCollection):
                ys = np.concatenate([seg[:, 1] for seg in coll.get_segments()])
                assert ys.min() >= 0 and ys.max() <= 100, ys


def test_trial_writes_its_pictures_at_the_last_epoch_only(tmp_path):
    """The writer's side of images/<trial>/: sweeps.trial.run_trial on a real tiny model."""
    from PIL import Image

    from hinr import preset
    from contract.schema import IMAGE_NAMES, image_dir
    from sweeps.trial import run_trial

    folder = image_dir(tmp_path, "trial_0")
    seen = []

    def report(metrics, exp):
        seen.append((metrics["status"], sorted(p.name for p in folder.glob("*"))
                     if folder.exists() else []))

    run_trial(preset("tiny", device="cpu", epochs=2), None, None, report, lambda exp: None, {},
              images_dir=folder)
    names = [f"{n}.png" for n in IMAGE_NAMES]
    assert seen == [("running", []), ("completed", sorted(names))]
    for name, rows in zip(IMAGE_NAMES, (2, 3, 3, 3)):
        with Image.open(folder / f"{name}.png") as img:  # 8 images a row, 28 px + 2 px padding
            assert img.size == (8 * 30 + 2, rows * 30 + 2)
        assert (folder / f"{name}.png").stat().st_size < 20_000  # small


def test_tensorboard_hparams_hold_what_varies_and_each_metric_once(tmp_path):
    """Issue 43: HParams listed 36 parameters (mostly constants) and every metric twice (as
    hparam/<metric> in a sub-run beside the real curve).  Now: the sweep's varying fields and
    the seed, and metrics that point at the curves' own tags."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    from hinr import preset
    from sweeps.trial import run_trial

    run_trial(preset("tiny", device="cpu", epochs=1, a2=10.0, seed=3), None, tmp_path / "t",
              lambda metrics, exp: None, lambda exp: None, {}, varying=["a2", "seed"])
    runs = [d for d in (tmp_path / "t").iterdir()]
    assert [r.name for r in runs] == ["a2=10,seed=3"]
    assert not [d for d in runs[0].iterdir() if d.is_dir()]  # no hparams sub-run
    acc = EventAccumulator(str(runs[0]), size_guidance={"scalars": 0})
    acc.Reload()
    content = acc.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(
        content["_hparams_/session_start_info"]).session_start_info
    assert set(start.hparams) == {"a2", "seed"}
    assert start.hparams["a2"].number_value == 10.0
    experiment = plugin_data_pb2.HParamsPluginData.FromString(
        content["_hparams_/experiment"]).experiment
    tags = [m.name.tag for m in experiment.metric_infos]
    scalars = set(acc.Tags()["scalars"])
    assert tags and set(tags) <= scalars and len(tags) == len(set(tags))
    assert "val/val_psnr" in tags and not any(t.startswith("hparam/") for t in scalars)


def test_learning_curve_band_of_an_accuracy_stays_inside_0_100(tmp_path):
    import pandas as pd

    from analysis import plots
    res = analysis.load_results(fx.write_cls_results(tmp_path / "cls"))
    epochs = res.epochs.copy()
    final = res.trials.set_index("trial_id")["metric.latent_acc"]
    epochs["metric.latent_acc"] = epochs["trial_id"].map(final) - 0.01 * (2 - epochs["epoch"])
    res = analysis.Results(res.path, res.trials, epochs=pd.DataFrame(epochs), spec=res.spec)
    fig = plots.learning_curves(res, "cls_weight", ["latent_acc"])
    bands = [p.get_paths()[0].vertices[:, 1] for p in fig.axes[0].collections]
    assert bands and all(b.min() >= 0 and b.max() <= 100 for b in bands)
    assert max(b.max() for b in bands) > 99  # the wide seeds reach up towards 100, not past it


# ------------------------------------------------------------------------------------
# Validation chooses, test reports

def test_curves_use_val_psnr_and_fall_back_to_test_psnr(tmp_path):
    from analysis import plots

    new = analysis.load_results(fx.write_cls_results(tmp_path / "new"))
    assert plots.curve_metrics(new.epochs) == ["val_psnr", "train_loss"]
    old = analysis.load_results(fx.write_cls_results(tmp_path / "old", with_val=False))
    assert plots.curve_metrics(old.epochs) == ["test_psnr", "train_loss"]
    for res, label in ((new, "validation PSNR (dB)"), (old, "test PSNR (dB)")):
        fig = plots.learning_curves(res, "a2")
        assert fig.axes[0].get_ylabel() == label
        plots.plt.close(fig)


def test_report_best_setting_is_chosen_on_val_and_reports_test(tmp_path):
    """In the fixture a2=100 has the best validation PSNR, a2=1 the best test PSNR: the
    headline names a2=100 with its test PSNR, and the preamble says which split did what."""
    root = fx.write_cls_results(tmp_path / "cls")
    best = analysis.best_config(analysis.load_results(root), "test_psnr")
    assert best.chosen_on == "val_psnr" and best.config.startswith("a2=100")
    assert best.value == pytest.approx(18.1) and best.score == pytest.approx(19.1)
    md = analysis.build_report([root], formats="md")[0].read_text()
    assert "Best setting on validation PSNR (validation split): a2=100, cls_weight=0, " \
           "test PSNR 18.10 dB" in md
    assert "chosen on val_psnr, the validation split" in md and "the test split's, scored once" in md
    # older results without a validation metric: the test split chose, and the text says so
    old = fx.write_cls_results(tmp_path / "old", with_val=False)
    md = analysis.build_report([old], formats="md")[0].read_text()
    assert "Best setting on test PSNR (test split: no validation metric in these results): " \
           "a2=1" in md


def test_the_pareto_front_is_the_one_the_sweep_optimised(tmp_path):
    """A sweep that optimised val_psnr (max) and val_loss (min): the front is taken on those
    two, in their modes, on validation, with test PSNR reported beside it; the test split's
    own front (a different one here) is not what the report shows."""
    import yaml

    # a2 level -> (val_psnr, val_loss, test_psnr, latent_acc); seeds 0 and 1 the same
    table = {1.0: (18.0, 0.30, 17.0, 0.90), 10.0: (17.0, 0.20, 18.5, 0.95),
             100.0: (16.0, 0.25, 16.5, 0.99), 1000.0: (15.0, 0.10, 16.0, 0.80)}
    rows = [fx._row("mo", f"t{i}_{s}", "completed", a2, s, metrics={
        "val_psnr": v, "val_loss": loss, "test_psnr": t, "latent_acc": acc,
        "val_latent_acc": acc}) for i, (a2, (v, loss, t, acc)) in enumerate(table.items())
        for s in (0, 1)]
    root = fx.write_results(tmp_path / "mo", "mo", rows=rows, with_spec=False)
    (root / "sweep.yaml").write_text(yaml.safe_dump({
        "name": "mo", "base": {"preset": "small"}, "axes": {"a2": list(table)}, "seeds": [0, 1],
        "search": "grid", "metric": ["val_psnr", "val_loss"], "mode": ["max", "min"]}))
    from analysis.selection import pareto_objectives

    res = analysis.load_results(root)
    metrics, modes, why = pareto_objectives(res)
    assert (metrics, modes) == (["val_psnr", "val_loss"], ["max", "min"]) and "optimised" in why
    front = analysis.pareto_front(res, metrics=metrics, modes=modes)
    # 100 is dominated (val_psnr 16 < 17, val_loss 0.25 > 0.20 at a2 = 10); the rest trade off
    on = set(front.loc[front["on_front"], "config"])
    assert on == {"a2=1", "a2=10", "a2=1000"}
    # numbered by val_psnr, best first
    assert list(front.loc[front["on_front"], "front_rank"]) == [1, 2, 3]
    assert "test_psnr" in front and "latent_acc" not in front  # the twin of val_psnr, reported
    # the described pair (accuracy vs test PSNR) would pick another front: a2 = 100 is on it
    described = analysis.pareto_front(res, metrics=["latent_acc", "test_psnr"])
    assert "a2=100" in set(described.loc[described["on_front"], "config"])
    md = analysis.build_report([root], out=tmp_path / "report", formats="md")[0].read_text()
    assert "Pareto front: validation PSNR vs validation loss" in md
    assert "reported beside it once" in md


def test_a_sweep_without_comparisons_says_so_instead_of_bolding_none_of_zero(tmp_path):
    """A sampled search has no setting to pair against: the headline says why there is no
    comparison, never '**No significant effect**: none of the 0 comparisons'."""
    from analysis.document import Doc
    from analysis.headline import headline

    res = analysis.load_results(fx.write_results(tmp_path / "r"))
    doc = Doc()
    headline(doc, res, analysis.effects_table(res).iloc[0:0], multi=False)
    text = " ".join(getattr(b, "text", "") or "" for b in doc.blocks)
    assert "none of the 0" not in text and "No paired comparison" in text


def test_open_results_is_the_reports_answer_for_a_program(results_dir, tmp_path):
    """analysis.open_results: plain column names, the best point by the report's rule in the
    report's units, a min mode on request, and no checkpoint where only records exist."""
    sweep = analysis.open_results(results_dir)
    frame = sweep.dataframe()
    assert {"trial_id", "status", "a2", "seed", "test_psnr", "latent_acc"} <= set(frame)
    assert not any(c.startswith(("config.", "metric.")) for c in frame)
    best = sweep.best()
    chosen = analysis.best_config(sweep.results, "test_psnr")
    assert best.chosen_on == chosen.chosen_on and best.score == pytest.approx(chosen.score)
    assert chosen.config == f"a2={best.config['a2']:g}" and isinstance(best.config["a2"], float)
    done = frame[(frame["status"] == "completed") & (frame["a2"] == best.config["a2"])]
    assert best.test["latent_acc"] == pytest.approx(100 * done["latent_acc"].mean())  # in %
    assert sorted(best.trial_ids) == sorted(done["trial_id"])
    assert best.checkpoints == [None] * len(best.trial_ids)  # records alone: no Tune state
    low = sweep.best(metric="test_psnr", mode="min")
    assert low.config != best.config and low.mode == "min"
    assert sweep.checkpoint("../../etc") is None  # never a path
    with pytest.raises(analysis.ResultsNotFound):
        analysis.open_results(tmp_path / "nothing")
