"""The live study (analysis.live, issue 43): while a sweep runs, its finished points are in an
Optuna journal on disk that optuna (and so optuna-dashboard) opens at any moment; ``--dashboard``
serves it on 127.0.0.1 during the sweep and is gone after it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import analysis_fixtures as fx  # noqa: E402
import explore_fixtures as ef  # noqa: E402

from analysis.live import LiveStudy, journal_path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _study(root: Path):
    import optuna
    from analysis.optuna_export import open_storage
    return optuna.load_study(study_name="random", storage=open_storage(str(journal_path(root))))


def test_points_are_added_once_each_when_every_seed_finished_and_a_resume_continues(tmp_path):
    rows = ef.random_rows()
    late = [r for r in rows if r["trial_id"].startswith("p03_")]
    root = fx.write_results(tmp_path / "live", "random",
                            rows=[r for r in rows if r not in late[1:]], with_spec=False)
    (root / "sweep.yaml").write_text(yaml.safe_dump(ef.random_spec()))
    live = LiveStudy(root)
    # point 3 has one of its three seeds: not yet (it would show one seed's luck for good)
    assert live.sync() == ef.RANDOM_POINTS - 1 and live.sync() == 0
    fx.write_results(root, "random", rows=rows, with_spec=False)  # its other seeds finish
    (root / "sweep.yaml").write_text(yaml.safe_dump(ef.random_spec()))
    resumed = LiveStudy(root)  # a resumed driver: reads the keys back, adds only point 3
    assert resumed.sync() == 1
    trials = _study(root).trials
    assert len(trials) == ef.RANDOM_POINTS
    assert len({t.user_attrs["point"] for t in trials}) == ef.RANDOM_POINTS
    p3 = next(t for t in trials if t.user_attrs["trial_ids"][0].startswith("p03_"))
    assert len(p3.user_attrs["seeds"]) == 3
    # a lock left by a killed driver is a regular file: the directory stays readable
    from optuna.storages.journal import JournalFileOpenLock

    from contract.resultsdir import check_entries
    JournalFileOpenLock(str(journal_path(root))).acquire()  # held, never released: killed
    assert check_entries(root) > 0


def _get(url: str):
    with urllib.request.urlopen(url, timeout=5) as reply:
        return json.loads(reply.read())


@pytest.mark.slow  # a real sweep on an embedded Ray and a real optuna-dashboard
def test_a_running_sweep_is_watched_live_on_its_dashboard(tmp_path):
    sweep = {"name": "live", "base": {"preset": "tiny", "dataset": "mnist-5k", "epochs": 2},
             "axes": {"a2": [1.0, 10.0, 100.0]}, "seeds": [0], "search": "grid",
             "metric": "val_psnr", "mode": "max", "resources": {"cpus": 1},
             "budget": {"max_concurrent": 1}}
    (tmp_path / "live.yaml").write_text(yaml.safe_dump(sweep))
    out = tmp_path / "results"
    env = {**os.environ, "HINR_LIVE_SECONDS": "0.5"}
    proc = subprocess.Popen([sys.executable, "launch.py", "run", str(tmp_path / "live.yaml"),
                             "--results", str(out), "--dashboard"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        for line in proc.stdout:
            if line.startswith("dashboard:"):
                url = line.split()[1]
                break
        assert url and url.startswith("http://127.0.0.1:"), url
        # trials arrive in the dashboard while the sweep still runs (1 at a time: the first
        # point ends while two are still to train)
        seen = 0
        while proc.poll() is None and seen == 0:
            try:
                studies = _get(f"{url}/api/studies")["study_summaries"]
                if studies:
                    detail = _get(f"{url}/api/studies/{studies[0]['study_id']}")
                    seen = len(detail["trials"])
            except OSError:
                pass
            time.sleep(0.3)
        assert seen >= 1 and proc.poll() is None, "no trial on the dashboard during the sweep"
        rest, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    with pytest.raises(OSError):  # stopped with the sweep
        _get(f"{url}/api/studies")
    import optuna
    from analysis.optuna_export import open_storage
    study = optuna.load_study(study_name="live", storage=open_storage(str(journal_path(out))))
    assert len(study.trials) == 3 and all(t.state.name == "COMPLETE" for t in study.trials)


def test_dashboard_without_optuna_dashboard_is_refused_before_anything(tmp_path, monkeypatch,
                                                                         capsys):
    """An environment without optuna-dashboard: one line, exit 2, nothing written."""
    import importlib.util

    from analysis import live
    monkeypatch.setattr(live, "dashboard_command", lambda: None)
    spec = importlib.util.spec_from_file_location("launch_main", ROOT / "launch.py")
    launch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch)
    code = launch.main(["run", str(ROOT / "sweeps" / "smoke.yaml"), "--results",
                        str(tmp_path / "r"), "--dashboard"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "--dashboard: optuna-dashboard is not installed" in err
    assert not (tmp_path / "r").exists()
