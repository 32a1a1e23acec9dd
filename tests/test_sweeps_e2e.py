"""smoke.yaml end to end through the real CLI: embedded Ray, Parquet read back with pyarrow,
TensorBoard event files read back with tensorboard's own reader."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "sweeps" / "smoke.yaml"


def launch(*args: str, timeout: int = 400) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "launch.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env=os.environ.copy())


@pytest.fixture(scope="module")
def smoke_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("smoke") / "results"
    proc = launch("run", str(SMOKE), "--results", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    assert "tensorboard --logdir" in proc.stdout and "4 trials: 4 completed" in proc.stdout
    return out


def test_trials_parquet(smoke_dir):
    table = pq.read_table(smoke_dir / "trials.parquet")
    assert table.schema.metadata[b"hinr_schema_version"] == b"1"
    rows = table.to_pylist()
    doc = yaml.safe_load((smoke_dir / "sweep.yaml").read_text())
    assert len(rows) == 4
    assert {r["status"] for r in rows} == {"completed"}
    assert sorted((r["config.a2"], r["config.seed"]) for r in rows) == [
        (1.0, 0), (1.0, 1), (100.0, 0), (100.0, 1)]
    for r in rows:
        assert r["epochs_done"] == 2 and r["config.epochs"] == 2
        assert r["config.preset"] == "tiny" and r["config.variant"] == "classifier_loss"
        assert r["config.threads"] == 1  # the thread count the trial used: its CPU share
        for m in ("val_psnr", "val_joint_acc", "val_latent_acc", "val_weight_acc",
                  "test_psnr", "test_mse", "train_loss", "latent_acc", "weight_acc", "joint_acc",
                  "sr_psnr", "sr_bilinear_psnr", "sr_bicubic_psnr", "inpaint_psnr",
                  "inpaint_meanfill_psnr", "inpaint_biharmonic_psnr", "denoise_tv_psnr",
                  "denoise_noisy_unclipped_psnr",
                  "denoise_psnr", "denoise_noisy_psnr"):
            assert r[f"metric.{m}"] is not None, m
        assert 0.0 <= r["metric.latent_acc"] <= 1.0
        assert r["wall_seconds"] > 0 and r["node"] and r["device"] == "cpu"
        assert r["error"] is None and r["retries"] == 0
        # when it ended, from Tune's timestamp: after the sweep started, by the trial's time
        started = datetime.fromisoformat(doc["stages"][0]["started"])
        assert r["finished_at"] - timedelta(seconds=r["wall_seconds"]) >= started - \
            timedelta(seconds=1)  # Tune's timestamp is whole seconds


def test_the_driver_records_the_config_each_trial_reports(smoke_dir):
    """config.* comes from the trial's own first result (every field it resolved, preset
    defaults included), not from the driver resolving it again: the writer does not even
    load the worker-side module."""
    import subprocess
    import sys

    code = ("import sys, sweeps.tune.results; "
            "print(sorted(m for m in sys.modules if m in ('sweeps.trial', 'hinr.training')))")
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.strip()
    assert loaded == "[]"
    from hinr import TrainingConfig
    rows = pq.read_table(smoke_dir / "trials.parquet").to_pylist()
    # label_counts at its default (no label-efficiency probes) writes no column, so a sweep
    # that runs none has the columns it had before issue 28 (sweeps/results.py _record_config)
    fields = set(TrainingConfig().to_dict()) - {"label_counts"}
    for r in rows:
        assert {k[len("config."):] for k in r if k.startswith("config.")} >= fields
        assert "config.label_counts" not in r
        assert all(r[f"config.{f}"] is not None or TrainingConfig().to_dict()[f] is None
                   for f in fields)
        assert r["config.inr_width"] == 16  # the tiny preset's, not the dataclass default


def test_trials_parquet_carries_its_meaning(smoke_dir, tmp_path):
    """Factors, reference levels, seeds and the spec travel in trials.parquet's metadata:
    analysis reads them from there, and a copy without sweep.yaml reads the same."""
    import shutil

    import analysis
    from contract.schema import read_contract

    contract = read_contract(pq.read_schema(smoke_dir / "trials.parquet"))
    assert contract["factors"] == {"a2": {"levels": [1.0, 100.0]}}
    assert contract["references"] == {"a2": {"value": 1.0, "source": "first axis value"}}
    assert contract["seeds"] == [0, 1]
    assert contract["spec"]["name"] == "smoke" and contract["spec"]["metric"] == "val_psnr"
    copy = tmp_path / "copy"
    shutil.copytree(smoke_dir, copy)
    (copy / "sweep.yaml").unlink()
    with_yaml, without = analysis.load_results(smoke_dir), analysis.load_results(copy)
    assert without.factors == with_yaml.factors == ["a2"]
    assert without.reference("a2") == with_yaml.reference("a2") == (1.0, "first axis value")
    assert without.spec == contract["spec"] and without.name == "smoke"
    assert not any("sweep.yaml" in p for p in without.problems)


def test_epochs_parquet(smoke_dir):
    table = pq.read_table(smoke_dir / "epochs")
    rows = table.to_pylist()
    assert len(rows) == 8
    keys = [(r["trial_id"], r["epoch"]) for r in rows]
    assert len(set(keys)) == 8
    assert {r["epoch"] for r in rows} == {1, 2}
    for r in rows:
        assert r["metric.val_psnr"] is not None and r["metric.train_loss"] is not None
        assert r["metric.train_images_per_s"] > 0
        # the test split is scored once, after the last epoch
        assert (r["metric.test_psnr"] is not None) == (r["epoch"] == 2)


def test_predictions_parquet(smoke_dir):
    """One file per completed trial, one row per test image: label, PSNR and each probe's
    prediction, consistent with the trial's own metrics in trials.parquet."""
    import math

    from contract import schema

    trials = {r["trial_id"]: r for r in pq.read_table(smoke_dir / "trials.parquet").to_pylist()}
    files = sorted((smoke_dir / "predictions").glob("*.parquet"))
    assert {p.stem for p in files} == set(trials)
    # classifier_loss with the pixel baselines on: every probe but variant pretrained's
    probes = ["latent_mlp", "weight_cnn", "joint", "pixel_mlp", "pixel_cnn"]
    for path in files:
        table = schema.read_predictions(path)
        assert table.schema.metadata[b"hinr_schema_version"] == b"1"
        assert table.column_names == ["trial_id", "image", "label", "psnr",
                                      *(f"pred.{p}" for p in probes)]
        assert [str(t) for t in table.schema.types] == ["string"] + ["int64"] * 2 + [
            "double"] + ["int64"] * len(probes)
        rows, trial = table.to_pydict(), trials[path.stem]
        assert len(rows["image"]) == 128  # the smoke sweep's test images (tiny: test_subset)
        assert rows["image"] == list(range(128)) and set(rows["trial_id"]) == {path.stem}
        assert all(math.isfinite(x) for x in rows["psnr"])
        # test_psnr is the mean of the per-image PSNRs (summed per batch in float32)
        assert sum(rows["psnr"]) / 128 == pytest.approx(trial["metric.test_psnr"], rel=1e-5)
        for probe in probes:
            pred = rows[f"pred.{probe}"]
            assert all(0 <= p < 10 for p in pred), probe
            correct = sum(p == y for p, y in zip(pred, rows["label"]))
            assert correct / 128 == trial[f"metric.{_ACC[probe]}"], probe


_ACC = {"latent_mlp": "latent_acc", "weight_cnn": "weight_acc", "joint": "joint_acc",
        "pixel_mlp": "pixel_mlp_acc", "pixel_cnn": "pixel_cnn_acc"}


def test_tensorboard_events(smoke_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    trial_dirs = sorted((smoke_dir / "tb").iterdir())
    assert len(trial_dirs) == 4
    # each trial's run is named by what varies (tb/<trial id>/a2=1,seed=0): readable in the
    # dashboard, one per trial, the trial id still keying the driver's files
    runs = [d for t in trial_dirs for d in t.iterdir() if d.is_dir()]
    assert sorted(r.name for r in runs) == ["a2=1,seed=0", "a2=1,seed=1", "a2=100,seed=0",
                                            "a2=100,seed=1"]
    acc = EventAccumulator(str(runs[0]), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    tags = acc.Tags()
    assert "train/train_loss" in tags["scalars"] and "val/val_psnr" in tags["scalars"]
    # a2's term under its one name (contract.metrics), as in Parquet
    assert "train/train_theta_prior" in tags["scalars"] and "val/val_latent_prior" in tags["scalars"]
    assert [e.step for e in acc.Scalars("val/val_psnr")] == [1, 2]
    assert [e.step for e in acc.Scalars("test/test_psnr")] == [2]
    assert "images/reconstruction" in tags["images"] and "images/inpainting" in tags["images"]
    hparams = acc.PluginTagToContent("hparams")
    assert "_hparams_/session_start_info" in hparams and "_hparams_/experiment" in hparams


def test_sweep_yaml_provenance(smoke_dir):
    import yaml

    doc = yaml.safe_load((smoke_dir / "sweep.yaml").read_text())
    assert doc["name"] == "smoke" and doc["axes"] == {"a2": [1.0, 100.0]}
    prov = doc["provenance"]
    assert prov["packages"]["torch"].startswith("2.14.1") and "launch.py" in prov["command"]


def test_status_and_refusals(smoke_dir):
    status = launch("status", str(smoke_dir))
    assert status.returncode == 0
    assert "completed 4" in status.stdout and "remaining: 0" in status.stdout

    # The same sweep again into the same directory: refused, nothing touched.
    before = (smoke_dir / "trials.parquet").read_bytes()
    again = launch("run", str(SMOKE), "--results", str(smoke_dir))
    assert again.returncode == 2 and "already holds this sweep" in again.stderr
    # A different sweep into it: refused too.
    other = launch("run", str(SMOKE), "--results", str(smoke_dir), "--set", "epochs=1")
    assert other.returncode == 2 and "different sweep" in other.stderr
    assert (smoke_dir / "trials.parquet").read_bytes() == before


def test_resume_not_a_sweep(tmp_path):
    proc = launch("resume", str(tmp_path))
    assert proc.returncode == 2
    assert str(tmp_path) in proc.stderr and "not a sweep results directory" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_report_from_the_smoke_run(smoke_dir):
    """launch.py report on a real sweep: Markdown with figures, and one self-contained HTML."""
    from html.parser import HTMLParser

    proc = launch("report", str(smoke_dir))
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = smoke_dir / "report"
    md = (report / "report.md").read_text()
    assert "Sweep smoke" in md and "Effects against the reference setting" in md
    assert list((report / "figures").glob("*.png"))

    class Sources(HTMLParser):
        def __init__(self):
            super().__init__()
            self.srcs, self.links = [], []

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "img":
                self.srcs.append(attrs.get("src", ""))
            if tag in ("link", "script") and (attrs.get("href") or attrs.get("src")):
                self.links.append(attrs)

    parser = Sources()
    parser.feed((report / "index.html").read_text())
    assert parser.srcs and all(s.startswith("data:image/png;base64,") for s in parser.srcs)
    assert parser.links == []  # nothing to fetch: the file opens offline


def test_open_results_gives_the_reports_best_point_and_its_checkpoints(smoke_dir):
    """analysis.open_results on a real sweep: a plain DataFrame, the point best on val_psnr
    (the report's choice, seeds averaged) with its test numbers, and each of its trials'
    last checkpoint in Tune's directory."""
    import analysis
    from analysis.selection import best_config

    sweep = analysis.open_results(smoke_dir)
    frame = sweep.dataframe()
    assert len(frame) == 4 and {"trial_id", "a2", "seed", "val_psnr", "test_psnr"} <= set(frame)
    best = sweep.best()
    means = frame.groupby("a2")["val_psnr"].mean()
    assert best.chosen_on == "val_psnr" and best.mode == "max"
    assert best.config == {"a2": means.idxmax()} and best.score == pytest.approx(means.max())
    assert best.test["test_psnr"] == pytest.approx(
        frame[frame["a2"] == means.idxmax()]["test_psnr"].mean())
    report = best_config(sweep.results, "test_psnr")  # the report's answer is the same point
    assert report.config == f"a2={best.config['a2']:g}"
    assert report.value == pytest.approx(best.test["test_psnr"])
    assert len(best.trial_ids) == 2 and all(
        c is not None and c.name.startswith("checkpoint_") and c.is_dir()
        for c in best.checkpoints)
    worst = sweep.best(metric="val_psnr", mode="min")
    assert worst.config == {"a2": means.idxmin()}
