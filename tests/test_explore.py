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
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import analysis_fixtures as fx  # noqa: E402
import explore_fixtures as ef  # noqa: E402

from analysis.model_effects import design_analysis  # noqa: E402
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


@pytest.mark.slow  # a real optuna-dashboard server
def test_export_optuna_opens_in_optuna_dashboard(tmp_path, random_sweep):
    db = tmp_path / "sweep.db"
    url = f"sqlite:///{db}"
    done = _launch("export-optuna", random_sweep.path, "--storage", url)
    assert done.returncode == 0, done.stderr
    assert f"exported {ef.RANDOM_POINTS} point(s) ({len(random_sweep.trials)} trial(s)" \
        in done.stdout
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
        assert len(trials) == ef.RANDOM_POINTS  # one per point, its seeds averaged
        frame = random_sweep.trials.set_index("trial_id")
        one = trials[0]
        attrs = {a["key"]: a["value"] for a in one["user_attrs"]}
        tids = json.loads(attrs["trial_ids"]) if isinstance(attrs["trial_ids"], str) \
            else attrs["trial_ids"]
        assert len(tids) == len(ef.RANDOM_SEEDS)
        assert one["values"][0] == pytest.approx(frame.loc[tids, "metric.val_psnr"].mean())
        params = {p["name"]: p["param_internal_value"] for p in one["params"]}
        assert params["lr"] == pytest.approx(frame.loc[tids[0], "config.lr"])
        # the per-epoch validation PSNR, from epochs/, averaged over the seeds
        epochs = random_sweep.epochs.set_index(["trial_id", "epoch"])
        steps = {v["step"]: v["value"] for v in one["intermediate_values"]}
        assert sorted(steps) == [1, 2, 3]
        assert steps[2] == pytest.approx(np.mean([epochs.loc[(t, 2), "metric.val_psnr"]
                                                  for t in tids]))
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


# ------------------------------------------------------------------------------------
# The report's interactive views, in a real headless Chromium

from test_report_browser import browser  # noqa: E402,F401 - the fixture (Debian's chromium)

import analysis  # noqa: E402
from analysis.explore_html import PC_ASSETS, PC_H, PC_BOTTOM, PC_TOP, TABLE_ASSETS  # noqa: E402


def _visible_rows(driver, box: int) -> list[list[str]]:
    return driver.execute_script(
        "var t=document.querySelectorAll('table.trials')[arguments[0]];"
        "return [].slice.call(t.tBodies[0].rows).filter(r=>r.style.display!='none')"
        ".map(r=>[].slice.call(r.cells).map(c=>c.hasAttribute('data-v')?c.getAttribute('data-v')"
        ":c.textContent));", box)


@pytest.mark.slow  # a real browser
def test_report_explore_views_in_a_real_browser(browser, tmp_path, random_sweep):  # noqa: F811
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    design = load_results(fx.write_design_results(tmp_path / "design"))
    out = tmp_path / "report"
    analysis.build_report([random_sweep, design], out, "html")
    browser.get((out / "index.html").as_uri())
    assert [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")] == []
    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert all(u.startswith(("data:", "file:")) for u in resources), resources
    # the embedded code stays small: "a few KB"
    assert len(PC_ASSETS) + len(TABLE_ASSETS) < 6000
    headings = browser.execute_script(
        "return Array.from(document.querySelectorAll('h3')).map(h => h.textContent)")
    assert headings.count("Explore: importance, parallel coordinates, every trial") == 2
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "fANOVA [95% interval]" in text and "PED-ANOVA [95% interval]" in text
    assert "linear model: effect [95% CI] (share of variance)" in text  # the design, beside

    # -- the trial table: every trial, sorted and filtered for real
    n_random = len(random_sweep.trials)
    counts = browser.execute_script(
        "return [].slice.call(document.querySelectorAll('.tt-count')).map(p=>p.textContent)")
    assert counts == [f"{n_random} of {n_random} trials shown",
                      f"{len(design.trials)} of {len(design.trials)} trials shown"]
    table = browser.find_elements(By.CSS_SELECTOR, "table.trials")[0]
    header = [th.text for th in table.find_elements(By.CSS_SELECTOR, "thead tr:first-child th")]
    col = header.index("validation PSNR (dB)")
    th = table.find_elements(By.CSS_SELECTOR, "thead tr:first-child th")[col]
    th.click()
    psnr = [float(r[col]) for r in _visible_rows(browser, 0)]
    assert psnr == sorted(psnr) and len(psnr) == n_random
    th.click()
    psnr = [float(r[col]) for r in _visible_rows(browser, 0)]
    assert psnr == sorted(psnr, reverse=True)
    assert psnr[0] == pytest.approx(random_sweep.trials["metric.val_psnr"].max())
    box = table.find_elements(By.CSS_SELECTOR, "input.tf")[col]
    box.send_keys(">21")
    rows = _visible_rows(browser, 0)
    expected = int((random_sweep.trials["metric.val_psnr"] > 21).sum())
    assert 0 < len(rows) == expected < n_random
    assert all(float(r[col]) > 21 for r in rows)
    seed_col = header.index("seed")
    table.find_elements(By.CSS_SELECTOR, "input.tf")[seed_col].send_keys("=2")
    rows = _visible_rows(browser, 0)
    assert len(rows) == int(((random_sweep.trials["metric.val_psnr"] > 21)
                             & (random_sweep.trials["config.seed"] == 2)).sum())
    assert all(float(r[seed_col]) == 2 for r in rows)
    assert browser.find_elements(By.CSS_SELECTOR, ".tt-count")[0].text == \
        f"{len(rows)} of {n_random} trials shown"

    # -- parallel coordinates: brush the lr axis with the mouse, check the selected lines
    browser.get((out / "index.html").as_uri())  # the table's filters from above cleared
    svg = browser.find_elements(By.CSS_SELECTOR, "svg.pc")[0]
    labels = browser.execute_script(
        "return [].slice.call(arguments[0].querySelectorAll('.pc-label')).map(t=>t.textContent)",
        svg)
    axis = labels.index("lr (log)")
    hit = svg.find_elements(By.CSS_SELECTOR, f".pc-hit[data-axis='{axis}']")[0]
    assert browser.find_elements(By.CSS_SELECTOR, ".pc-count")[0].text == \
        f"{n_random} of {n_random} trials selected"
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", svg)
    height = hit.rect["height"]
    ActionChains(browser).move_to_element_with_offset(hit, 0, -height / 2 + 4).click_and_hold() \
        .move_by_offset(0, height * 0.3).move_by_offset(0, height * 0.1).release().perform()
    top, size = (float(browser.execute_script(
        f"return arguments[0].querySelector('.pc-brush[data-axis=\"{axis}\"]')"
        f".getAttribute('{a}')", svg)) for a in ("y", "height"))
    assert size > 0
    span = PC_H - PC_TOP - PC_BOTTOM
    # the brushed range in lr: the axis is log10(lr) from its lowest (bottom) to highest (top)
    lr = random_sweep.trials["config.lr"]
    lo, hi = np.log10(lr.min()), np.log10(lr.max())
    p_high, p_low = 1 - (top - PC_TOP) / span, 1 - (top + size - PC_TOP) / span
    pos = (np.log10(lr) - lo) / (hi - lo)
    # the SVG keeps one decimal of each line's y: compare on those, as the page does
    y = np.round(PC_TOP + (1 - pos) * span, 1)
    inside = int(((y >= top) & (y <= top + size)).sum())
    assert 0 < inside < n_random, (p_low, p_high)
    assert browser.find_elements(By.CSS_SELECTOR, ".pc-count")[0].text == \
        f"{inside} of {n_random} trials selected"
    off = browser.execute_script("return arguments[0].querySelectorAll('.pc-line.pc-off')"
                                 ".length", svg)
    assert off == n_random - inside
    # the sweep's trial table follows the selection; the other sweep's table does not
    selected = set(browser.execute_script(
        "return [].slice.call(arguments[0].querySelectorAll('.pc-line:not(.pc-off)'))"
        ".map(l => l.getAttribute('data-id'))", svg))
    assert {r[0] for r in _visible_rows(browser, 0)} == selected and len(selected) == inside
    assert [p.text for p in browser.find_elements(By.CSS_SELECTOR, ".tt-count")] == [
        f"{inside} of {n_random} trials shown",
        f"{len(design.trials)} of {len(design.trials)} trials shown"]
    ActionChains(browser).move_to_element(hit).click().perform()  # a click clears the axis
    assert browser.find_elements(By.CSS_SELECTOR, ".pc-count")[0].text == \
        f"{n_random} of {n_random} trials selected"
    assert browser.find_elements(By.CSS_SELECTOR, ".tt-count")[0].text == \
        f"{n_random} of {n_random} trials shown"


def test_export_a_pareto_sweep_keeps_both_objectives_on_validation(tmp_path):
    import optuna
    import yaml

    from analysis.optuna_export import export
    root = ef.write_random_results(tmp_path / "pareto")
    spec = ef.random_spec()
    spec.update(metric=["val_latent_acc", "test_psnr"], mode=["max", "min"])
    (root / "sweep.yaml").write_text(yaml.safe_dump(spec))
    url = f"sqlite:///{tmp_path / 'p.db'}"
    done = export(root, url)
    assert (done.trials, done.runs, done.left_out) == (
        ef.RANDOM_POINTS, ef.RANDOM_POINTS * len(ef.RANDOM_SEEDS), 0)
    study = optuna.load_study(study_name="random", storage=url)
    # test_psnr is chosen on its validation twin, as the report chooses
    assert study.metric_names == ["val_latent_acc", "val_psnr"]
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    trial = study.trials[5]
    rows = load_results(root).trials.set_index("trial_id").loc[trial.user_attrs["trial_ids"]]
    assert trial.user_attrs["seeds"] == ef.RANDOM_SEEDS == rows["config.seed"].tolist()
    assert trial.values == pytest.approx([rows["metric.val_latent_acc"].mean(),
                                          rows["metric.val_psnr"].mean()])
    assert trial.user_attrs["test_psnr"] == pytest.approx(rows["metric.test_psnr"].mean())
    assert trial.user_attrs["test_psnr by seed"] == pytest.approx(
        rows["metric.test_psnr"].tolist())


def test_the_dashboard_sees_points_as_the_searcher_did(tmp_path):
    """One Optuna trial per point (issue 43): optuna's own Pareto front and importance on the
    exported study are those of seed means; each point spans its seeds' real times; a point
    with a seed still running is left out whole, one whose every seed failed is FAIL."""
    import optuna
    import yaml

    from analysis.optuna_export import export
    rows = ef.random_rows()
    for r in rows[:3]:  # point 0: every seed errored
        r.update(status="errored", **{k: None for k in r if k.startswith("metric.")})
    rows[3]["status"] = "running"  # point 1: one seed still running
    root = fx.write_results(tmp_path / "pts", "random", rows=rows, with_spec=False)
    spec = ef.random_spec()
    spec.update(metric=["val_latent_acc", "val_psnr"], mode=["max", "max"])
    (root / "sweep.yaml").write_text(yaml.safe_dump(spec))
    url = f"sqlite:///{tmp_path / 'pts.db'}"
    done = export(root, url)
    assert (done.trials, done.left_out) == (ef.RANDOM_POINTS - 1, 3)
    study = optuna.load_study(study_name="random", storage=url)
    by_first = {t.user_attrs["trial_ids"][0]: t for t in study.trials}
    assert "p01_s0" not in by_first and by_first["p00_s0"].state.name == "FAIL"

    frame = load_results(root).trials
    done_rows = frame[frame["trial_id"].str[:3].isin([f"p{p:02d}" for p in range(2, 24)])]
    means = done_rows.groupby(done_rows["trial_id"].str[:3])[
        ["metric.val_latent_acc", "metric.val_psnr"]].mean()
    # the front of the seed means, by hand: no other point at least as good in both
    front = {p for p, (a, b) in means.iterrows()
             if not any((a2 >= a and b2 >= b) and (a2 > a or b2 > b)
                        for q, (a2, b2) in means.iterrows() if q != p)}
    assert {t.user_attrs["trial_ids"][0][:3] for t in study.best_trials} == front
    ranked = optuna.importance.get_param_importances(
        study, target=lambda t: t.values[1],
        evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    assert next(iter(ranked)) == "lr"  # the dominant factor, as the report finds it

    point = by_first["p05_s0"]  # seeds 15-17 of the sweep's order finished 15-17 min in
    end = (ef.FIRST_END + timedelta(minutes=17)).astimezone().replace(tzinfo=None)
    assert point.datetime_complete == end
    assert point.datetime_start == end - timedelta(minutes=2, seconds=30)


def test_export_failed_trials_are_fail_and_keep_their_curves_in_a_journal(tmp_path):
    import optuna

    from analysis.optuna_export import export, open_storage
    root = fx.write_results(tmp_path / "fixture")
    journal = str(tmp_path / "f.journal")  # the other kind of storage: a journal file
    export(root, journal)
    trials = optuna.load_study(study_name="fixture", storage=open_storage(journal)).trials
    states = {tid: t.state.name for t in trials for tid in t.user_attrs["trial_ids"]}
    # a failed seed does not fail its point: the others' mean is what the searcher was told
    assert states["err_s5"] == states["div_s6"] == "COMPLETE"
    results = load_results(root)
    failed = [t for t in trials if "div_s6" in t.user_attrs["trial_ids"]][0]
    rows = results.trials.set_index("trial_id").loc[failed.user_attrs["trial_ids"]]
    ok = rows[rows["status"] == "completed"]
    assert failed.user_attrs["seeds_scored"] == len(ok) < len(rows)
    assert failed.values == pytest.approx([ok["metric.test_psnr"].mean()])
    assert None in failed.user_attrs["test_psnr by seed"]
    # no validation metric in these older-style results: the sweep's test_psnr it is
    assert all(t.intermediate_values for t in trials if t.state.name == "COMPLETE")


# ------------------------------------------------------------------------------------
# The same views on real sweeps: the demo's, optuna_pareto's and a random search, each run
# for real on an embedded Ray in tiny mode, reported together and read in Chromium.

def _tiny_explorable(path: Path, **changes):
    """``path``'s tiny mode with enough points (the whole grid, or 4 searched points) and two
    seeds, so importance has an interval over seeds (tiny mode alone keeps 3 points, 1 seed)."""
    import copy

    from sweeps.spec import load_spec, parse_spec
    from sweeps.tiny import tiny_mode
    full = load_spec(path)
    doc = copy.deepcopy(tiny_mode(full).raw)
    doc.update(seeds=[0, 1], **changes)
    if doc["search"] == "grid":
        doc["axes"] = copy.deepcopy(full.raw["axes"])  # the whole grid: the demo's 4 points
    else:
        doc["budget"] = {**doc["budget"], "num_samples": 4}
    return parse_spec(doc, str(path))


@pytest.fixture(scope="module")
def real_sweeps(tmp_path_factory, ray_embedded):
    from sweeps.tune.run import run_sweep

    out = tmp_path_factory.mktemp("real")
    specs = {
        "demo": _tiny_explorable(ROOT / "sweeps" / "demo.yaml"),
        "optuna": _tiny_explorable(ROOT / "sweeps" / "optuna_pareto.yaml"),
        "random": _tiny_explorable(ROOT / "sweeps" / "optuna_pareto.yaml", search="random",
                                   name="optuna_pareto-random", metric="val_psnr",
                                   mode="max"),
    }
    loaded = {}
    for key, spec in specs.items():
        run_sweep(spec, out / spec.name)
        loaded[key] = load_results(out / spec.name)
    return loaded


@pytest.mark.slow  # three real sweeps and a real browser
def test_real_sweeps_explore_in_a_real_browser(browser, tmp_path, real_sweeps):  # noqa: F811
    from selenium.webdriver.common.by import By

    sweeps = [real_sweeps[k] for k in ("demo", "optuna", "random")]
    # importance with an interval over the two seeds, on every search type
    for res in sweeps:
        imp = importance(res, replicates=10)
        assert imp is not None and imp.seeds == 2 and imp.points >= 3, res.path
        assert set(imp.table["evaluator"]) == {"fanova", "ped_anova"}
        assert (imp.table["ci_low"] <= imp.table["mean"]).all()
        assert (imp.table["mean"] <= imp.table["ci_high"]).all()
    cont = importance(real_sweeps["optuna"], replicates=10).table.set_index("factor")
    assert cont.loc["a2", "scale"].iloc[0] == "continuous, log scale"  # not binned

    out = tmp_path / "report"
    analysis.build_report(sweeps, out, "html")
    browser.get((out / "index.html").as_uri())
    assert [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")] == []
    headings = browser.execute_script(
        "return Array.from(document.querySelectorAll('h3')).map(h => h.textContent)")
    assert headings.count("Explore: importance, parallel coordinates, every trial") == 3
    text = browser.find_element(By.TAG_NAME, "body").text
    # one importance table per sweep, and one more for optuna_pareto's second objective
    assert text.count("fANOVA [95% interval]") == 4 and text.count("PED-ANOVA [95% interval]") == 4

    # parallel coordinates: one line per trial in each sweep's figure
    lines = browser.execute_script(
        "return [].slice.call(document.querySelectorAll('svg.pc'))"
        ".map(s => s.querySelectorAll('.pc-line').length)")
    assert lines == [len(r.trials) for r in sweeps]

    # the trial table of the Optuna sweep: sorted and filtered in the page
    n = len(sweeps[1].trials)
    table = browser.find_elements(By.CSS_SELECTOR, "table.trials")[1]
    heads = table.find_elements(By.CSS_SELECTOR, "thead tr:first-child th")
    header = [th.text for th in heads]
    col = header.index("validation PSNR (dB)")
    heads[col].click()
    psnr = [float(r[col]) for r in _visible_rows(browser, 1)]
    assert psnr == sorted(psnr) and len(psnr) == n
    seed_col = header.index("seed")
    table.find_elements(By.CSS_SELECTOR, "input.tf")[seed_col].send_keys("=1")
    rows = _visible_rows(browser, 1)
    assert len(rows) == int((sweeps[1].trials["config.seed"] == 1).sum()) == n // 2
    assert browser.find_elements(By.CSS_SELECTOR, ".tt-count")[1].text == \
        f"{n // 2} of {n} trials shown"


def test_a_choice_axis_keeps_its_levels_in_the_level_tables(tmp_path):
    """latent_dim: {choice: [8, 16, 32]} is three levels, never quantile bins that would
    merge 16 and 32 (issue 43); a loguniform lr is still binned."""
    res = analysis.load_results(ef.write_random_results(tmp_path / "r"))
    assert not res.is_continuous("latent_dim") and res.is_continuous("lr")
    table = analysis.factor_table(res)
    levels = set(table.loc[table["factor"] == "latent_dim", "level"])
    assert levels == {8, 16, 32}, levels


def test_a_multi_objective_sweep_gets_importance_for_every_objective(tmp_path):
    """Importance was shown for the first objective only (issue 43): a sweep that optimised
    val_psnr (max) and val_latent_acc (min, here) gets one ranking per objective, each in
    the mode it was optimised in."""
    import yaml

    from analysis.explore_model import prepare

    root = ef.write_random_results(tmp_path / "mo")
    spec = ef.random_spec()
    spec.update(metric=["val_psnr", "val_latent_acc"], mode=["max", "min"])
    (root / "sweep.yaml").write_text(yaml.safe_dump(spec))
    res = analysis.load_results(root)
    ex = prepare(res, tmp_path / "fig", "mo")
    assert ex.importance.metric == "val_psnr" and ex.importance.mode == "max"
    assert [(i.metric, i.mode) for i in ex.others] == [("val_latent_acc", "min")]
    md = analysis.build_report([root], out=tmp_path / "r", formats="md")[0].read_text()
    assert "Which factors matter, on validation PSNR" in md
    assert "Which factors matter, on validation latent-classifier accuracy" in md
    # why the dashboard's importances differ, under each table
    assert md.count("optuna-dashboard, on the study `launch.py export-optuna` writes") == 2


def test_a_metric_that_never_varies_ranks_nothing_instead_of_failing(tmp_path):
    """fANOVA raises on zero variance; importance says there is nothing to rank (None)."""
    from analysis.importance import importance

    res = analysis.load_results(ef.write_random_results(tmp_path / "r"))
    assert importance(res, metric="latent_acc") is None  # 0.9 at every point
