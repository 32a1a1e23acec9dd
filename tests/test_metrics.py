"""The metrics registry (hinr.metrics) against what a real trial reports, and its readers.

The registry is the one place a metric is named: the spec, the Parquet writer, the console and
analysis derive their lists from it.  So the test that matters runs a real (tiny) trial through
``sweeps.trial.run_trial`` -- the exact code a Ray trial runs, without Ray -- and checks that
the metric columns the writer makes from its reports are the registry, no more, no less.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hinr import metrics, preset
from sweeps import schema

REPO = Path(__file__).resolve().parent.parent


def _reported(cfg) -> tuple[set[str], list[dict]]:
    """Metric names of the writer's columns for every epoch ``cfg``'s trial reports."""
    from sweeps.results import metric_items
    from sweeps.trial import run_trial

    reports: list[dict] = []
    run_trial(cfg, None, None, lambda result, exp: reports.append(result), lambda exp: None,
              objectives={})
    names = {schema.metric_name(col) for r in reports for col in metric_items(r)}
    return names, reports


@pytest.fixture(scope="module")
def trials(mnist5k):
    """Two one-epoch trials that between them report everything: the joint head (variant
    classifier_loss, cls_weight > 0) with the pixel baselines, and the pretrained pixel MLP."""
    joint = preset("tiny", device="cpu", epochs=1, variant="classifier_loss", cls_weight=0.1,
                   pixel_baselines=True)
    pretrained = preset("tiny", device="cpu", epochs=1, variant="pretrained",
                        pixel_baselines=False)
    return _reported(joint), _reported(pretrained)


def test_every_reported_metric_is_registered_and_every_registered_one_is_reported(trials):
    (joint, joint_reports), (pretrained, _) = trials
    reported_keys = {k for r in joint_reports for k in r}
    # The writer drops what is not registered: a new metric computed in hinr but missing
    # from the registry would vanish from Parquet without this check.
    not_columns = {k for k in reported_keys if k not in metrics.REGISTRY}
    assert not_columns == {"epoch", "status", "device", "node", schema.RESOLVED_CONFIG_KEY}, \
        not_columns
    # the resolved config rides on the first result only
    assert [schema.RESOLVED_CONFIG_KEY in r for r in joint_reports] == \
        [True] + [False] * (len(joint_reports) - 1)
    assert joint_reports[0][schema.RESOLVED_CONFIG_KEY] == preset(
        "tiny", device="cpu", epochs=1, variant="classifier_loss", cls_weight=0.1,
        pixel_baselines=True).to_dict()
    assert joint | pretrained == set(metrics.REGISTRY)
    # and the registry's variant restrictions hold: only the joint trial has the head's metrics
    assert {m for m in metrics.REGISTRY if "classifier_loss" in metrics.REGISTRY[m].variants} \
        <= joint - pretrained
    assert "pretrain_mlp_acc" in pretrained - joint


def test_timing_per_epoch_and_final_is_what_the_registry_says(trials):
    (_, joint), (_, pretrained) = trials
    assert len(joint) == len(pretrained) == 1  # one epoch: its report has the finals too
    for name in metrics.names(when="epoch"):
        assert metrics.REGISTRY[name].split in ("train", "val")
    assert set(metrics.names(when="final")) <= set(joint[-1]) | set(pretrained[-1])


def test_selectable_metrics_are_never_on_the_test_split():
    from sweeps.spec import EPOCH_METRICS, FINAL_METRICS, TEST_METRICS

    for name in EPOCH_METRICS + FINAL_METRICS:
        assert metrics.REGISTRY[name].split != "test"
    for name, twin in TEST_METRICS.items():
        assert metrics.REGISTRY[name].split == "test"
        assert twin is None or twin in EPOCH_METRICS + FINAL_METRICS


def test_legacy_names_map_onto_registered_metrics():
    for old, new in metrics.LEGACY_NAMES.items():
        assert old not in metrics.REGISTRY and new in metrics.REGISTRY
        assert metrics.get(old) is metrics.REGISTRY[new]
    with pytest.raises(ValueError, match="unknown view"):
        metrics.names("tabel")


def test_the_registry_and_analysis_import_no_torch():
    code = ("import sys, hinr.metrics, analysis.tables, analysis.plots, analysis.load; "
            "bad = [m for m in ('torch', 'ray') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
