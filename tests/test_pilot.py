"""--dry-run --pilot: seeds needed for a target half-width and the smallest effect detectable
at 80% power, from a real pilot sweep, through the real CLI; and the arithmetic itself."""

from __future__ import annotations

import math
import re
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from scipy import stats

from sweeps.power import (detectable, family_size, halfwidth, seeds_needed, spread_upper,
                          report_metrics)
from sweeps.spec import load_spec

from .sweep_helpers import launch_cmd, run_ok

ROOT = Path(__file__).resolve().parent.parent
PILOT = {"name": "pilot", "base": {"preset": "tiny", "epochs": 1}, "axes": {"a2": [1.0, 100.0]},
         "seeds": [0, 1, 2], "search": "grid", "metric": "val_psnr", "mode": "max",
         "resources": {"cpus": 1}, "budget": {"max_concurrent": 2}}


def test_seeds_needed_is_the_fewest_that_reach_the_half_width():
    s = 0.8
    for target in (0.2, 0.5, 1.0):
        n = seeds_needed(s, target)
        assert stats.t.ppf(0.975, n - 1) * s / math.sqrt(n) <= target
        assert n == 2 or stats.t.ppf(0.975, n - 2) * s / math.sqrt(n - 1) > target
    assert seeds_needed(1.0, 1e-4) is None  # more than the cap: said, not computed forever
    assert halfwidth(1.0, 1) == math.inf


def test_detectable_effect_has_80_percent_power():
    """At the detectable difference a two-sample t-test with n per group rejects with
    probability 0.8: the noncentral t's tail, computed here without statsmodels."""
    s, n = 0.5, 6
    delta = detectable(s, n)
    df, nc = 2 * n - 2, delta / (s * math.sqrt(2 / n))
    crit = stats.t.ppf(0.975, df)
    power = stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc)
    assert power == pytest.approx(0.8, abs=1e-3)


def test_a_corrected_alpha_keeps_80_percent_power_where_statsmodels_does_not_converge():
    """0.05 / 45 with 2 seeds per group needs d ~ 35: the power at the solved difference is
    still 0.8 (statsmodels' solve_power returned an array there)."""
    s, n, alpha = 1.0, 2, 0.05 / 45
    delta = detectable(s, n, alpha)
    df, nc = 2 * n - 2, delta / (s * math.sqrt(2 / n))
    crit = stats.t.ppf(1 - alpha / 2, df)
    assert stats.nct.sf(crit, df, nc) == pytest.approx(0.8, abs=1e-3)
    assert detectable(s, 12, alpha) < detectable(s, 3, alpha) < delta


def test_the_spread_upper_bound_covers_the_true_spread_95_percent_of_the_time():
    import numpy as np
    rng = np.random.default_rng(0)
    sigma, points, seeds = 0.3, 4, 3  # a pilot of 4 points x 3 seeds: df 8
    covered = 0
    for _ in range(4000):
        x = rng.normal(0, sigma, (points, seeds))
        s = math.sqrt(((x - x.mean(1, keepdims=True)) ** 2).sum() / (points * (seeds - 1)))
        covered += spread_upper(s, points * (seeds - 1)) >= sigma
    assert covered / 4000 == pytest.approx(0.95, abs=0.012)


def test_the_ablation_plans_from_its_own_first_chunk():
    """On committed records (no Ray): a designed sweep's family is its main effects and
    two-factor interactions on the design metrics, plus its equivalence tests; each of
    those metrics gets a spread line and rows of detectable differences."""
    from sweeps.power import describe

    spec = load_spec(str(ROOT / "sweeps" / "ablation_cpu.yaml"))
    text = describe(spec, ROOT / "docs" / "results-ablation" / "data" / "ablation_cpu")
    k = 5
    m = (k + k * (k - 1) // 2) * 3 + len(spec.raw["equivalence"])
    assert f"~{m} tests (alpha/{m})" in text
    for metric in ("val_psnr", "val_latent_acc", "val_weight_acc"):
        assert f"  {metric}: s = " in text and f"{metric}, two points" in text
    assert "levels of 8 point(s): a1, a2, cls_weight, latent_dim, inr_depth" in text


@pytest.fixture(scope="module")
def pilot(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("pilot")
    (tmp / "pilot.yaml").write_text(yaml.safe_dump(PILOT))
    out = tmp / "results"
    run_ok("run", str(tmp / "pilot.yaml"), "--results", str(out))
    return out


def dry_run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(launch_cmd("run", *args), cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def test_dry_run_with_a_pilot_prints_seeds_needed_and_detectable_effects(pilot, tmp_path):
    proc = dry_run(str(ROOT / "sweeps" / "smoke.yaml"), "--dry-run", "--pilot", str(pilot),
                   "--halfwidth", "0.3")
    assert proc.returncode == 0, proc.stderr
    # the pooled within-point SD, recomputed from the pilot's rows
    rows = pq.read_table(pilot / "trials.parquet").to_pylist()
    groups: dict = {}
    for r in rows:
        groups.setdefault(r["config.a2"], []).append(r["metric.val_psnr"])
    ss = sum(sum((x - sum(v) / len(v)) ** 2 for x in v) for v in groups.values())
    s = math.sqrt(ss / (len(rows) - len(groups)))
    head = re.search(r"\(2 points, 6 completed trials of val_psnr\)", proc.stdout)
    assert head, proc.stdout
    got = re.search(r"  val_psnr: s = ([0-9.e-]+) dB \(df 4\), at most ([0-9.e-]+) dB",
                    proc.stdout)
    assert float(got.group(1)) == pytest.approx(s, rel=5e-3)
    high = spread_upper(s, 4)
    assert float(got.group(2)) == pytest.approx(high, rel=5e-3)
    need, need_high = seeds_needed(s, 0.3), seeds_needed(high, 0.3)
    assert f"seeds per point needed for a 95% half-width of 0.3 dB: {need or 'more than'}" \
        in proc.stdout
    assert f"at s, {need_high or 'more than'}" in proc.stdout
    # smoke.yaml: a2's two levels of one point each, 2 seeds; its report tests ~m contrasts
    spec = load_spec(str(ROOT / "sweeps" / "smoke.yaml"))
    m = family_size(spec, [x for x in report_metrics(spec)
                           if f"metric.{x}" in pq.read_schema(pilot / "trials.parquet").names])
    assert f"after Holm over the report's ~{m} tests (alpha/{m})" in proc.stdout
    assert "levels of 1 point(s): a2" in proc.stdout
    row = next(line for line in proc.stdout.splitlines()
               if line.strip().startswith("val_psnr, two points"))
    cell = f"{detectable(s, 2, 0.05 / m):.3g} dB [{detectable(s, 2):.3g} dB]"
    assert row.split()[3:7] == cell.split(), (row, cell)  # the first column: 2 seeds
    assert re.search(r"checkpoint disk: .* per checkpoint x 2 kept x 4 trials = .* bytes per "
                     r"parameter measured on the pilot's checkpoints", proc.stdout)
    assert "GPU" in proc.stdout or "hours of training" in proc.stdout  # the cost lines beside


@pytest.mark.parametrize("args, message", [
    (["--dry-run", "--pilot", "/nonexistent/pilot"], "/nonexistent/pilot: --pilot: no such "
                                                     "results directory"),
    (["--dry-run", "--halfwidth", "0.2"], "--halfwidth: needs --pilot"),
    (["--pilot", "PILOT"], "--pilot, --halfwidth: allowed only with --dry-run"),
    (["--dry-run", "--pilot", "PILOT", "--halfwidth", "-1"], "--halfwidth: allowed finite numbers > 0"),
])
def test_pilot_refusals(pilot, tmp_path, args, message):
    args = [str(pilot) if a == "PILOT" else a for a in args]
    proc = dry_run(str(ROOT / "sweeps" / "smoke.yaml"), "--results", str(tmp_path / "r"), *args)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert message in proc.stderr
    assert not (tmp_path / "r").exists()


def test_a_pilot_with_one_seed_per_point_is_refused(tmp_path):
    (tmp_path / "one.yaml").write_text(yaml.safe_dump({**PILOT, "seeds": [0]}))
    out = tmp_path / "results"
    run_ok("run", str(tmp_path / "one.yaml"), "--results", str(out))
    proc = dry_run(str(ROOT / "sweeps" / "smoke.yaml"), "--dry-run", "--pilot", str(out))
    assert proc.returncode == 2
    assert "every point has at most one completed seed" in proc.stderr


def test_every_equivalence_test_gets_its_power_line_before_the_run():
    """--dry-run --pilot: each equivalence entry's 90% half-width with the sweep's seeds (at
    alpha / k in a primary family of k), the largest difference it can call equivalent and
    the smallest it can call different; a no-effect test differences two settings (x sqrt 2)."""
    from sweeps.power import equivalence_lines, pilot_spread
    from sweeps.spec import load_spec

    root = Path(__file__).resolve().parent.parent
    spec = load_spec(str(root / "sweeps" / "depth_prior_cpu.yaml"))
    pilot = root / "docs" / "results-cpu" / "data"  # committed records: a real pilot
    lines = equivalence_lines(spec, pilot)
    s = pilot_spread(pilot, "test_psnr")[0] * math.sqrt(2)
    n = len(spec.seeds)  # in a primary family of 2: alpha / 2
    half = stats.t.ppf(1 - 0.05 / 2, n - 1) * s / math.sqrt(n)
    line = next(x for x in lines if x.strip().startswith("depth_strong_prior"))
    assert "in the primary family of 2 (alpha/2)" in line
    assert f"half-width {half:.3g} dB" in line
    assert f"different only if |diff| >= {0.3 + half:.3g} dB" in line
    assert f"equivalent only if |diff| <= {max(0.3 - half, 0):.3g} dB" in line
