"""Exploring any sweep: importance with intervals over seeds (analysis.importance), the export
into an Optuna storage read back by a real optuna-dashboard (analysis.optuna_export through
``launch.py export-optuna``), and the report's parallel coordinates and trial table.

The importance tests use sweeps whose truth is known (tests/explore_fixtures.py and the
designed fixture of tests/analysis_fixtures.py): the dominant factor must come first, with an
interval clear of the inert factors', for both of Optuna's evaluators.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import analysis_fixtures as fx  # noqa: E402
import explore_fixtures as ef  # noqa: E402

from analysis.design import design_analysis  # noqa: E402
from analysis.importance import importance  # noqa: E402
from analysis.load import load_results  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def random_sweep(tmp_path_factory):
    return load_results(ef.write_random_results(tmp_path_factory.mktemp("random")))


@pytest.fixture(scope="module")
def random_importance(random_sweep):
    return importance(random_sweep, replicates=30)


@pytest.mark.parametrize("evaluator", ["fanova", "ped_anova"])
def test_importance_finds_the_dominant_and_the_inert_factor(random_importance, evaluator):
    imp = random_importance
    assert imp.metric == "val_psnr" and imp.points == ef.RANDOM_POINTS
    assert imp.seeds == len(ef.RANDOM_SEEDS) and imp.replicates == 30
    rows = imp.table[imp.table["evaluator"] == evaluator].set_index("factor")
    assert set(rows.index) == {"lr", "a1", "latent_dim"}
    assert rows["rank"].idxmin() == "lr"
    # the dominant factor's whole interval lies above the inert factor's whole interval
    assert rows.loc["lr", "ci_low"] > rows.loc["a1", "ci_high"], rows
    assert rows.loc["lr", "mean"] > 0.6 and rows.loc["a1", "mean"] < 0.2, rows
    for f in rows.index:
        assert rows.loc[f, "ci_low"] <= rows.loc[f, "mean"] <= rows.loc[f, "ci_high"]
    # seeds resampled: a real interval, not a point
    assert (rows["ci_high"] - rows["ci_low"]).max() > 0
    # continuous factors stay continuous, on the scale the search sampled them on
    assert rows.loc["lr", "scale"] == "continuous, log scale"
    assert rows.loc["a1", "scale"] == "continuous"


def test_importance_ranks_a_design_like_its_linear_model(tmp_path):
    res = load_results(fx.write_design_results(tmp_path / "design"))
    imp = importance(res, replicates=20)
    effects = design_analysis(res).effects
    mains = effects[(effects["metric"] == "val_psnr") & (effects["kind"] == "main")]
    by_model = mains.assign(size=mains["effect"].abs()).sort_values("size", ascending=False)
    model_order = [str(t) for t in by_model["term"]]
    assert model_order[0] == "a2"  # the fixture's largest true effect
    for evaluator in ("fanova", "ped_anova"):
        rows = imp.table[imp.table["evaluator"] == evaluator].set_index("factor")
        assert rows["mean"].idxmax() == model_order[0], (evaluator, rows)
        # the factors with no true effect (a1, cls_weight) are the least important
        inert = rows.loc[["a1", "cls_weight"], "mean"].max()
        assert inert < rows.loc["a2", "ci_low"], (evaluator, rows)
    fanova = imp.table[imp.table["evaluator"] == "fanova"]
    assert list(fanova["factor"][:3]) == model_order[:3], (fanova, model_order)


def test_importance_of_a_sweep_without_factors_is_none(tmp_path):
    rows = [r for r in fx.trial_rows() if r["config.a2"] == 100.0]
    res = load_results(fx.write_results(tmp_path / "one", rows=rows))
    assert importance(res) is None


# ------------------------------------------------------------------------------------
# launch.py export-optuna, read back by a real optuna-dashboard

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return json.loads(reply.read())


def _launch(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "launch.py", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_export_optuna_opens_in_optuna_dashboard(tmp_path, random_sweep):
    db = tmp_path / "sweep.db"
    url = f"sqlite:///{db}"
    done = _launch("export-optuna", random_sweep.path, "--storage", url)
    assert done.returncode == 0, done.stderr
    assert f"exported {len(random_sweep.trials)} trial(s)" in done.stdout
    # a second export into the same study is refused, and changes nothing
    before = db.stat().st_mtime_ns, db.stat().st_size
    again = _launch("export-optuna", random_sweep.path, "--storage", url)
    assert again.returncode == 2 and again.stderr.startswith("error: ")
    assert len(again.stderr.strip().splitlines()) == 1 and "--replace" in again.stderr
    assert (db.stat().st_mtime_ns, db.stat().st_size) == before

    dashboard = Path(sys.executable).parent / "optuna-dashboard"
    if not dashboard.exists():
        pytest.fail(f"{dashboard} missing: pip install -e '.[dev]' (optuna-dashboard)")
    port = _free_port()
    proc = subprocess.Popen([str(dashboard), url, "--host", "127.0.0.1", "--port", str(port),
                             "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                studies = _get(f"{base}/api/studies")["study_summaries"]
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "optuna-dashboard did not answer in 60 s"
                time.sleep(0.3)
        assert [s["study_name"] for s in studies] == ["random"]
        detail = _get(f"{base}/api/studies/{studies[0]['study_id']}")
        trials = detail["trials"]
        assert len(trials) == len(random_sweep.trials) == ef.RANDOM_POINTS * len(ef.RANDOM_SEEDS)
        frame = random_sweep.trials.set_index("trial_id")
        one = trials[0]
        attrs = {a["key"]: a["value"] for a in one["user_attrs"]}
        tid = attrs["trial_id"]
        assert float(attrs["seed"]) == frame.loc[tid, "config.seed"]
        assert one["values"][0] == pytest.approx(frame.loc[tid, "metric.val_psnr"])
        params = {p["name"]: p["param_internal_value"] for p in one["params"]}
        assert params["lr"] == pytest.approx(frame.loc[tid, "config.lr"])
        # the per-epoch validation PSNR, from epochs/
        epochs = random_sweep.epochs.set_index(["trial_id", "epoch"])
        steps = {v["step"]: v["value"] for v in one["intermediate_values"]}
        assert sorted(steps) == [1, 2, 3]
        assert steps[2] == pytest.approx(epochs.loc[(tid, 2), "metric.val_psnr"])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_export_optuna_bad_input_is_one_line(tmp_path, random_sweep):
    missing = _launch("export-optuna", tmp_path / "nothing")
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"error: {tmp_path / 'nothing'}: no such directory"
    folder = tmp_path / "adir"
    folder.mkdir()
    bad = _launch("export-optuna", random_sweep.path, "--storage", folder)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "is a directory" in bad.stderr and not any(folder.iterdir())
