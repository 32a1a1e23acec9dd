"""Fair comparisons (issue 26): intervals with the test set's sampling error, equivalence
tests against margins stated in the sweep file, one Holm family per report, conditional
effects where factors interact.  Synthetic Parquet through the contract, the real loader and
the real CLI."""

from __future__ import annotations

import copy
import datetime as dt
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import analysis
from analysis import images
from analysis.stats import equivalence, t_interval, two_level_bootstrap, union
from analysis.paper import NO_MARGIN, equivalence_table
from sweeps.spec import SpecError, parse_spec
from tests import analysis_fixtures as fx

ROOT = Path(__file__).resolve().parent.parent

#: the paper's latent-MLP number (sec. 4.1) with a 0.5 pp margin, and a no-effect claim
PLAIN_LATENT = {"metric": "latent_acc", "where": {"variant": "plain"}, "reference": 0.9842,
                "margin": 0.005, "source": "paper sec. 4.1", "stated": "2026-12-04"}
NO_PSNR_COST = {"metric": "test_psnr", "where": {"variant": "classifier_loss"},
                "versus": {"variant": "plain"}, "margin": 0.3,
                "source": "issue 26: no PSNR cost", "stated": "2026-12-04"}


# ------------------------------------------------------------------------------------
# The two-level bootstrap

def test_bootstrap_carries_the_shared_test_set_error():
    """Identical seeds (no seed spread): a seed-only interval has width 0, the bootstrap's is
    the test set's binomial error, and it does not shrink with more seeds, because every seed
    saw the same images (an independent image draw per seed would shrink it by sqrt(k))."""
    rng = np.random.default_rng(3)
    one = (rng.random(2000) < 0.9).astype(float) * 100
    binomial = 1.96 * math.sqrt(one.mean() * (100 - one.mean()) / len(one))
    for k in (1, 4):
        boot = two_level_bootstrap(np.tile(one, (k, 1)))
        assert boot.mean == pytest.approx(one.mean())
        assert (boot.high - boot.low) / 2 == pytest.approx(binomial, rel=0.15)
    # seeds without spread: no seed-level interval or test (the variance is unknown, not 0)
    flat = t_interval(np.tile(one.mean(), 4))
    assert flat.mean == pytest.approx(one.mean()) and np.isnan([flat.low, flat.high, flat.p]).all()


def test_bootstrap_resamples_seeds_too():
    """Seeds that differ a lot, images that do not: the spread comes from the seeds."""
    cells = np.repeat(np.array([[10.0], [12.0], [14.0], [16.0]]), 50, axis=1)
    boot = two_level_bootstrap(cells)
    assert boot.low < 12.0 and boot.high > 14.0 and boot.mean == pytest.approx(13.0)


def test_union_is_never_narrower_than_either():
    seed = t_interval([1.0, 1.1, 0.9])
    boot = two_level_bootstrap(np.random.default_rng(0).normal(1.0, 3.0, (3, 300)))
    both = union(seed, boot)
    assert both.low <= min(seed.low, boot.low) and both.high >= max(seed.high, boot.high)
    assert both.p >= max(seed.p, boot.p_zero())


# ------------------------------------------------------------------------------------
# Equivalence verdicts (TOST, interval-inclusion form)

@pytest.mark.parametrize("values, verdict", [
    ([98.50, 98.55, 98.45], "equivalent"),   # inside 98.42 +- 0.5
    ([99.60, 99.65, 99.55], "better"),       # the whole interval above 98.92
    ([97.40, 97.35, 97.45], "worse"),        # the whole interval below 97.92
    ([98.20, 99.40, 98.00], "inconclusive"),  # straddles a margin end
])
def test_equivalence_verdicts(values, verdict):
    eq = equivalence(values, 98.42, 0.5, bounded=True, scale=100)
    assert eq.verdict(eq.p) == verdict
    inside = eq.lower < eq.low and eq.high < eq.upper
    assert (verdict == "equivalent") == inside  # TOST at 0.05 = the 90% interval inside


def test_a_significant_family_can_still_leave_it_inconclusive():
    eq = equivalence([98.50, 98.55, 98.45], 98.42, 0.5, bounded=True, scale=100)
    assert eq.verdict(min(1.0, eq.p * 40)) == "inconclusive"  # Holm over 40 tests


def test_bootstrap_widens_the_equivalence_interval():
    """Seeds agree to 0.05 pp, but 300 test images carry ~1.5 pp of sampling error: with the
    per-image cells the same numbers are no longer 'equivalent'."""
    rng = np.random.default_rng(1)
    cells = (rng.random((3, 300)) < 0.985).astype(float) * 100
    seeds = cells.mean(axis=1)
    alone = equivalence(seeds, 98.42, 0.5, bounded=True, scale=100)
    both = equivalence(seeds, 98.42, 0.5, two_level_bootstrap(cells), bounded=True, scale=100)
    assert both.evidence == "seeds and test images" and alone.evidence == "seeds only"
    assert both.high - both.low > 2 * (alone.high - alone.low)
    assert both.verdict(both.p) == "inconclusive"


# ------------------------------------------------------------------------------------
# The sweep file's equivalence section

def _doc(**equivalence_section):
    return {"name": "t", "base": {"preset": "tiny", "dataset": "mnist-5k", "epochs": 1},
            "axes": {"variant": ["plain", "classifier_loss"]}, "seeds": [0, 1],
            "equivalence": equivalence_section}


def test_equivalence_section_is_kept_as_written():
    doc = _doc(latent_acc={**PLAIN_LATENT, "stated": dt.date(2026, 12, 4)}, psnr=NO_PSNR_COST)
    doc["equivalence"]["latent_acc"].pop("metric")  # the name is the metric
    spec = parse_spec(doc, "s.yaml")
    assert spec.raw["equivalence"]["latent_acc"] == PLAIN_LATENT  # date -> text, metric filled
    assert spec.equivalence["psnr"]["versus"] == {"variant": "plain"}
    assert parse_spec(copy.deepcopy(spec.raw), "again.yaml").raw == spec.raw
    assert "equivalence" not in parse_spec({**doc, "equivalence": None}, "s.yaml").raw


@pytest.mark.parametrize("entry, message", [
    ({**PLAIN_LATENT, "reference": 98.42}, "equivalence.e.reference: latent_acc is stored as "
     "a fraction: allowed 0 to 1 (0.9842 for 98.42%), got 98.42"),
    ({**PLAIN_LATENT, "margin": 0}, "equivalence.e.margin: allowed a fraction above 0 and "
     "below 1"),
    ({**PLAIN_LATENT, "metric": "test_mse"}, "equivalence.e.metric: 'test_mse' is not allowed; "
     "allowed (test metrics, higher is better): test_psnr, latent_acc"),
    ({**PLAIN_LATENT, "where": {"variant": "pretrained"}}, "equivalence.e.where.variant: "
     "'pretrained' is not a level this sweep runs; allowed: plain, classifier_loss"),
    ({**PLAIN_LATENT, "versus": {"variant": "classifier_loss"}}, "equivalence.e: give exactly "
     "one of reference"),
    ({**NO_PSNR_COST, "versus": {"variant": "classifier_loss"}}, "equivalence.e.versus: the "
     "same setting as where"),
    ({k: v for k, v in PLAIN_LATENT.items() if k != "stated"}, "equivalence.e.stated: expected "
     "the date it was written, YYYY-MM-DD"),
    ({**PLAIN_LATENT, "stated": "2999-01-01"}, "equivalence.e.stated: 2999-01-01 is in the "
     "future"),
    ({**PLAIN_LATENT, "source": ""}, "equivalence.e.source: expected text"),
    ({**PLAIN_LATENT, "margins": 0.1}, "equivalence.e.'margins': unknown key; allowed: metric, "
     "where, reference, versus, margin, source, stated"),
])
def test_equivalence_section_refuses_bad_entries(entry, message):
    with pytest.raises(SpecError) as err:
        parse_spec(_doc(e=entry), "s.yaml")
    assert str(err.value).startswith("s.yaml: " + message)


def test_bad_equivalence_is_refused_by_the_cli_before_anything_is_written(tmp_path):
    doc = _doc(e={**PLAIN_LATENT, "reference": 98.42})
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(doc))
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, "launch.py", "run", str(tmp_path / "s.yaml"),
                           "--results", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and \
        "equivalence.e.reference" in lines[0]
    assert not out.exists()


# ------------------------------------------------------------------------------------
# Per-image files, the paper table and the no-effect table

def test_per_image_files_read_back_and_match_the_trials(tmp_path):
    res = analysis.load_results(fx.write_paper_results(tmp_path / "p"))
    assert len(res.predictions) == 9 and not res.problems
    frame = res.predictions["plain_s0"]
    assert images.values(frame, "latent_acc").mean() == pytest.approx(0.986, abs=1 / 400)
    assert images.values(frame, "test_psnr").mean() == pytest.approx(20.0)
    assert images.values(frame, "joint_acc") is None  # plain has no joint head


def test_damaged_per_image_file_is_a_problem_not_a_crash(tmp_path):
    root = fx.write_paper_results(tmp_path / "p", equivalence={"latent_acc": PLAIN_LATENT})
    (root / "predictions" / "plain_s1.parquet").write_bytes(b"PAR1 not really")
    res = analysis.load_results(root)
    assert any("plain_s1.parquet: unreadable" in p for p in res.problems)
    row = analysis.paper_comparison(res).set_index("metric").loc["latent_acc"].iloc[0]
    assert row["interval"] == "seeds only"  # one trial without its file: no half bootstrap


def test_paper_rows_test_equivalence_with_test_set_error(tmp_path):
    """Plain's 98.62% over 3 seeds that agree to 0.04 pp: 'equivalent' to the paper's 98.42%
    +- 0.5 over seeds only, 'inconclusive' once 400 test images' error is in the interval."""
    eq = {"latent_acc": PLAIN_LATENT}
    with_images = analysis.paper_comparison(analysis.load_results(
        fx.write_paper_results(tmp_path / "img", equivalence=eq)))
    seeds_only = analysis.paper_comparison(analysis.load_results(
        fx.write_paper_results(tmp_path / "old", equivalence=eq, predictions=False)))
    a = with_images[with_images["claim"].str.startswith("latent-vector")].iloc[0]
    b = seeds_only[seeds_only["claim"].str.startswith("latent-vector")].iloc[0]
    assert (a["interval"], b["interval"]) == ("seeds and test images", "seeds only")
    assert (a["verdict"], b["verdict"]) == ("inconclusive", "equivalent")
    assert a["margin"] == pytest.approx(0.5) and a["margin_source"] == "paper sec. 4.1"
    assert a["ci_high"] - a["ci_low"] > 5 * (b["ci_high"] - b["ci_low"])
    # a row without a margin is not tested, and nothing says "matched"
    assert set(with_images.loc[with_images["metric"] == "weight_acc", "verdict"]) == {NO_MARGIN}
    assert not with_images.astype(str).apply(lambda c: c.str.contains("matched")).any().any()


def test_no_effect_claim_is_paired_on_the_same_images(tmp_path):
    res = analysis.load_results(fx.write_paper_results(tmp_path / "p",
                                                       equivalence={"psnr": NO_PSNR_COST}))
    row = equivalence_table(res).iloc[0]
    assert row["compared"].startswith("variant=classifier_loss minus variant=plain")
    assert row["estimate"] == pytest.approx(0.05) and row["n"] == 3
    # the per-image offsets cancel in the paired difference: equivalent inside +- 0.3 dB
    assert row["interval"] == "seeds and test images" and row["verdict"] == "equivalent"


# ------------------------------------------------------------------------------------
# One Holm family per report

def _p_holm_column(md: str, header_start: str) -> list[str]:
    """The 'p (Holm)' cells of the first Markdown table whose header starts so."""
    lines = md.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith(header_start))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    col = header.index("p (Holm)")
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")][col])
    return rows


def test_every_verdict_of_a_report_is_in_one_holm_family(tmp_path):
    """The effects table, the claims and the equivalence tests of a document share one Holm
    correction; the preamble says how many tests and which.  The same p that a 6-row effects
    table would call 0.0012 is corrected over all of them."""
    from tests.test_claims import write_claims

    root = fx.write_paper_results(tmp_path / "p", equivalence={"latent_acc": PLAIN_LATENT,
                                                               "psnr": NO_PSNR_COST})
    res = analysis.load_results(root)
    alone = analysis.effects_table(res)
    claims = analysis.claims_table(res)
    paper = analysis.paper_comparison(res)
    others = equivalence_table(res)
    pooled = np.concatenate([alone["p"], claims["p"].dropna(), paper["p"].dropna(),
                             others["p"].dropna()])
    md = analysis.build_report([root], formats="md")[0].read_text()
    assert (f"Holm's correction over the same {len(pooled)} tests (paired effects against "
            f"the reference setting: {len(alone)}; the paper's claims: "
            f"{claims['p'].notna().sum()}; equivalence tests of the paper's numbers: 1; other "
            "pre-stated equivalence tests: 1)") in md
    family = analysis.stats.holm(pooled)
    expected = sorted(f"{p:.4f}" if 1e-4 <= p < 0.01 else f"{p:.3f}" if p >= 0.01 else "< 0.0001"
                      for p in family[:len(alone)])
    assert sorted(_p_holm_column(md, "| factor | level vs reference")) == expected
    assert max(family[:len(alone)]) > 0 and not np.allclose(family[:len(alone)],
                                                            alone["p_holm"])
    # two sweeps in one report: one family over both
    second = write_claims(tmp_path / "claims")
    md2 = analysis.build_report([root, second], out=tmp_path / "both", formats="md")[0]
    text = md2.read_text()
    # (a comparison whose seeds all agree has no test, NaN p: not in the family)
    n2 = int(analysis.effects_table(analysis.load_results(second))["p"].notna().sum()) + int(
        analysis.claims_table(analysis.load_results(second))["p"].notna().sum())
    assert f"over the same {len(pooled) + n2} tests" in text and "from claims, paper" in text
    assert "wrong" not in text and "matched" not in text


def test_conditional_effects_of_an_interaction_come_from_the_model(tmp_path):
    """The design fixture's truth: a2 -1.5 dB, latent_dim +1.0 dB, a2:latent_dim +0.8 dB, so
    latent_dim gains 0.2 dB at a2 = 1 and 1.8 dB at a2 = 100 (and a2 costs 2.3 / 0.7 dB)."""
    res = analysis.load_results(fx.write_design_results(tmp_path / "d"))
    da = analysis.design_analysis(res)
    cond = da.conditional_for("val_psnr", "a2:latent_dim").set_index(["factor", "at_level"])
    truth = {("latent_dim", 1.0): 0.2, ("latent_dim", 100.0): 1.8, ("a2", 16): -2.3,
             ("a2", 64): -0.7}
    for key, value in truth.items():
        row = cond.loc[key]
        assert row["ci_low"] < value < row["ci_high"]
    # the main effect is their average: the conditional effects are not a relabelling of it
    main = da.effects.set_index(["metric", "term"]).loc[("val_psnr", "latent_dim"), "effect"]
    assert cond.loc[("latent_dim", 1.0), "effect"] < main < cond.loc[("latent_dim", 100.0),
                                                                       "effect"]
    md = analysis.build_report([res], out=tmp_path / "r", formats="md")[0].read_text()
    assert "### Conditional effects where factors interact" in md
    assert "| validation PSNR | a2:latent_dim | latent_dim (16 -> 64) | a2 = 100 | +1.7" in md
    assert "it interacts with a2: +0.2" in md  # the headline says it too


# ------------------------------------------------------------------------------------
# A real sweep: the margins travel from the sweep file to the report

def test_a_real_sweep_carries_its_margins_into_the_report(tmp_path):
    """A tiny real sweep (Ray Tune, 4 trials of one epoch) with two pre-stated margins: they
    are in sweep.yaml and in trials.parquet's contract, and the report (the real CLI) tests
    them in its one family and prints margin, source and date.  Every trial saves its
    per-image test outputs, so the paper row's interval takes in the test set's error too."""
    import pyarrow.parquet as pq

    from contract.schema import read_contract

    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    section = {"latent_acc": {**PLAIN_LATENT, "stated": today},
               "psnr": {"metric": "test_psnr", "where": {"a2": 1.0}, "versus": {"a2": 100.0},
                        "margin": 50.0, "source": "plumbing check", "stated": today}}
    doc = {"name": "fair-tiny", "base": {"preset": "tiny", "dataset": "mnist-5k",
                                         "variant": "plain", "epochs": 1},
           "axes": {"a2": [1.0, 100.0]}, "seeds": [0, 1], "metric": "val_psnr", "mode": "max",
           "resources": {"cpus": 1}, "budget": {"max_concurrent": 2, "max_failures": 0},
           "equivalence": section}
    sweep = tmp_path / "fair.yaml"
    sweep.write_text(yaml.safe_dump(doc, sort_keys=False))
    out = tmp_path / "results"
    run = subprocess.run([sys.executable, "launch.py", "run", str(sweep), "--results", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    written = {**section, "latent_acc": {**section["latent_acc"]}}
    contract = read_contract(pq.read_schema(out / "trials.parquet"))
    assert contract["spec"]["equivalence"] == written
    assert yaml.safe_load((out / "sweep.yaml").read_text())["equivalence"] == written
    report = subprocess.run([sys.executable, "-m", "analysis", str(out), "--format", "md"],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert report.returncode == 0, report.stderr[-3000:]
    md = (out / "report" / "report.md").read_text()
    assert len(list((out / "predictions").glob("*.parquet"))) == 4
    assert "no per-image test outputs" not in md
    assert "seeds and test images" in md
    assert "+-0.50 (paper sec. 4.1; stated " + today + ")" in md
    assert "| psnr | test PSNR | a2=1 minus a2=100, paired by seed | 0.00 +- 50.00 dB |" in md
    assert "equivalence tests of the paper's numbers: 1; other pre-stated equivalence " \
        "tests: 1)" in md
    res = analysis.load_results(out)
    assert set(analysis.paper_comparison(res)["verdict"]) <= {
        "equivalent", "better", "worse", "inconclusive", NO_MARGIN}


def test_a_margin_dated_after_the_run_is_not_a_test(tmp_path):
    root = fx.write_paper_results(tmp_path / "p", equivalence={
        "latent_acc": {**PLAIN_LATENT, "stated": "2026-12-04"},
        "psnr": {**NO_PSNR_COST, "stated": "2026-12-04"}})
    doc = yaml.safe_load((root / "sweep.yaml").read_text())
    doc["provenance"] = {"started": "2026-12-03T09:00:00+00:00"}  # the run came first
    (root / "sweep.yaml").write_text(yaml.safe_dump(doc))
    res = analysis.load_results(root)
    row = analysis.paper_comparison(res).set_index("metric").loc["latent_acc"].iloc[0]
    assert row["verdict"] == "not tested: margin stated after the run began"
    assert math.isnan(row["p"]) and row["stated"] == "2026-12-04"
    assert equivalence_table(res).iloc[0]["verdict"] == "not tested: margin stated after the run began"
    doc["provenance"]["started"] = "2026-12-05T09:00:00+00:00"  # stated the day before
    (root / "sweep.yaml").write_text(yaml.safe_dump(doc))
    assert equivalence_table(analysis.load_results(root)).iloc[0]["verdict"] == "equivalent"


def test_tiny_mode_keeps_only_the_margins_it_can_still_test():
    """Tiny mode keeps one value of most axes: a margin about a level it drops goes with it
    (instead of refusing the shrunk sweep), one about a level it keeps stays."""
    from sweeps.tiny import tiny_mode

    doc = _doc(latent_acc=PLAIN_LATENT, psnr=NO_PSNR_COST,
               deep={**PLAIN_LATENT, "where": {"inr_depth": 5}})
    # a third axis: tiny mode keeps its first value only (the first two already give 4 points)
    doc["axes"]["latent_dim"] = [16, 32]
    doc["axes"]["inr_depth"] = [3, 5]
    tiny = tiny_mode(parse_spec(doc, "s.yaml"))
    assert tiny.axes["inr_depth"] == [3] and tiny.axes["latent_dim"] == [16, 32]
    assert set(tiny.equivalence) == {"latent_acc", "psnr"}


def test_degenerate_seeds_make_no_seed_level_claim():
    """Identical seeds give no p = 0 (no 'significant' finding from a tie), one seed with
    per-image files is labelled as the test images only, and either alone is no test."""
    from analysis.stats import EVIDENCE, coverage, welch_interval

    assert np.isnan(t_interval([0.3, 0.3, 0.3]).p) and np.isnan(welch_interval([1, 1], [2, 2]).p)
    tie = equivalence([0.1, 0.1, 0.1], 0.0, 0.5)
    assert tie.verdict(tie.p) == "inconclusive" and tie.evidence == EVIDENCE["none"]
    boot = two_level_bootstrap(np.random.default_rng(0).normal(0.1, 1.0, (1, 400)))
    one = equivalence([0.1], 0.0, 0.5, boot=boot)
    assert one.evidence == EVIDENCE["images"] and "one seed" in one.evidence
    assert coverage([0.1, 0.2], boot) == EVIDENCE["both"] == "seeds and test images"
    assert coverage([0.1, 0.2], None) == EVIDENCE["seeds"] == "seeds only"
    assert coverage([0.1], None) == coverage([0.1, 0.1], None) == EVIDENCE["none"]


# ------------------------------------------------------------------------------------
# A primary family named before the run (issue 41)

def test_a_primary_family_is_holm_alone_and_the_rest_is_secondary(tmp_path):
    """The sweep file names one confirmatory test: it is Holm-corrected alone (its adjusted p
    is its own), every other test of the report is secondary with Benjamini-Hochberg, each
    row is in exactly one family, and the preamble names the primary test and both sizes."""
    import yaml

    root = fx.write_paper_results(tmp_path / "p", equivalence={"psnr": NO_PSNR_COST,
                                                               "latent_acc": PLAIN_LATENT})
    doc = yaml.safe_load((root / "sweep.yaml").read_text())
    doc["primary"] = {"stated": "2026-12-04",
                      "tests": [{"table": "equivalence", "where": {"name": "psnr"}}]}
    (root / "sweep.yaml").write_text(yaml.safe_dump(doc))
    res = analysis.load_results(root)
    from analysis import family as families
    from analysis.report import _family

    (tables,), fam = _family([res], [None])
    rows = [(key, r) for key, frame in tables.items() if len(frame) and "p" in frame
            for r in frame.itertuples() if np.isfinite(r.p)]
    assert fam.primary == [("paper", "equivalence name=psnr")] and not fam.unmatched
    primary = [r for _, r in rows if r.family == families.PRIMARY]
    secondary = [r for _, r in rows if r.family == families.SECONDARY]
    assert len(primary) == 1 and len(primary) + len(secondary) == len(rows) == fam.size
    assert primary[0].p_holm == pytest.approx(primary[0].p)  # Holm over one test
    bh = analysis.stats.benjamini_hochberg([r.p for r in secondary])
    np.testing.assert_allclose([r.p_holm for r in secondary], bh)
    md = analysis.build_report([root], out=tmp_path / "r", formats="md")[0].read_text()
    assert "Two testing families. Primary, named in the sweep file before the run: 1 test(s) " \
           "(equivalence name=psnr)" in md
    assert f"the other {fam.size - 1} tests" in md and "| family |" in md
    assert "primary (Holm)" in md and "secondary (BH)" in md


def test_a_primary_test_that_names_no_single_row_is_said_and_left_secondary(tmp_path):
    import yaml

    root = fx.write_paper_results(tmp_path / "p", equivalence={"psnr": NO_PSNR_COST})
    doc = yaml.safe_load((root / "sweep.yaml").read_text())
    doc["primary"] = {"stated": "2026-12-04", "tests": [
        {"table": "claims", "where": {"question": "no such question"}},
        {"table": "equivalence", "where": {"name": "psnr"}},
        {"table": "equivalence", "where": {"name": "psnr", "metric": "test_psnr"}}]}
    (root / "sweep.yaml").write_text(yaml.safe_dump(doc))
    from analysis.report import _family

    _, fam = _family([analysis.load_results(root)], [None])
    assert [what for _, what in fam.primary] == ["equivalence name=psnr"]
    assert len(fam.unmatched) == 2 and "not in this report" in fam.unmatched[0]
    assert "enters the family once" in fam.unmatched[1]


def test_every_equivalence_row_prints_the_largest_difference_it_could_pass_with(tmp_path):
    """The power line: margin minus the interval's half-width at the family's strictest
    level (alpha / its size), from the row's own 90% interval and seeds; a row whose
    interval is wider than its margin can pass with nothing."""
    from scipy import stats as st

    from analysis.family import passable

    frame = pd.DataFrame({"tost_low": [-0.1, -1.0], "tost_high": [0.1, 1.0],
                          "margin": [0.5, 0.5], "n": [3, 3]})
    room = passable(frame, np.array([1, 1]))
    assert room[0] == pytest.approx(0.4) and room[1] == 0.0  # alone: the 90% interval itself
    scale = st.t.ppf(1 - 0.05 / 10, 2) / st.t.ppf(0.95, 2)
    assert passable(frame, np.array([10, 10]))[0] == pytest.approx(max(0.5 - 0.1 * scale, 0))
    root = fx.write_paper_results(tmp_path / "p", equivalence={"psnr": NO_PSNR_COST})
    md = analysis.build_report([root], out=tmp_path / "r", formats="md")[0].read_text()
    assert "largest passable diff" in md
