"""The metrics registry (contract.metrics) against what a real trial reports, and its readers.

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

from contract import metrics, schema
from contract.fields import LABEL_COUNTS
from hinr import preset

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


#: label counts the tiny split holds (the others are the same code under other names: checked
#: by ``label_metric`` below, and by the label-count trials of tests/test_controls.py)
TINY_COUNTS = (100, "all")


@pytest.fixture(scope="module")
def trials(mnist5k):
    """Trials that between them report everything: the joint head (variant classifier_loss,
    cls_weight > 0) with the pixel baselines and the label-efficiency probes, the pretrained
    pixel MLP, and the two controls (issue 28), which report less."""
    from hinr import evaluate

    joint = preset("tiny", device="cpu", epochs=1, variant="classifier_loss", cls_weight=0.1,
                   pixel_baselines=True, label_counts=list(TINY_COUNTS))
    pretrained = preset("tiny", device="cpu", epochs=1, variant="pretrained",
                        pixel_baselines=False)
    controls = [preset("tiny", device="cpu", epochs=1, variant=v, pixel_baselines=False)
                for v in ("autoencoder", "random_encoder")]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(evaluate, "LABEL_PROBE_STEPS", 20)  # seconds, not a minute
        return _reported(joint), _reported(pretrained), *[_reported(c) for c in controls]


def _untried_counts() -> set[str]:
    """The label metrics of counts a tiny trial cannot hold."""
    return {metrics.label_metric(p.metric, c) for p in metrics.LABEL_PROBES
            for c in LABEL_COUNTS if c not in TINY_COUNTS}


def test_every_reported_metric_is_registered_and_every_registered_one_is_reported(trials):
    (joint, joint_reports), (pretrained, _), (ae, _), (rnd, _) = trials
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
        pixel_baselines=True, label_counts=list(TINY_COUNTS)).flat_dict()
    assert joint | pretrained == set(metrics.REGISTRY) - _untried_counts()
    # and the registry's variant restrictions hold: only the joint trial has the head's metrics
    assert {m for m in metrics.REGISTRY if metrics.REGISTRY[m].variants == ("classifier_loss",)} \
        <= joint - pretrained
    assert "pretrain_mlp_acc" in pretrained - joint
    # a control reports no metric the registry keeps from its variant, and every other one
    # that a trial without label counts and pixel baselines reports
    for variant, got in (("autoencoder", ae), ("random_encoder", rnd)):
        allowed = {m for m, info in metrics.REGISTRY.items()
                   if not info.variants or variant in info.variants}
        assert got <= allowed, got - allowed
        assert (pretrained & allowed) - {"pretrain_mlp_acc"} <= got


def test_label_metrics_are_named_by_one_rule():
    for p in metrics.LABEL_PROBES:
        assert metrics.label_metric(p.metric, "all") == p.metric
        assert metrics.PROBES[p.probe] == p.metric
        for c in LABEL_COUNTS:
            if c != "all":
                name = metrics.label_metric(p.metric, c)
                assert name == f"{p.metric}_n{c}" and name in metrics.REGISTRY
                assert metrics.PROBES[metrics.label_probe(p.probe, c)] == name
                info = metrics.REGISTRY[name]
                assert (info.split, info.when, info.unit, info.better) == ("test", "final", "%",
                                                                           "max")
                assert info.variants == p.variants


def test_timing_per_epoch_and_final_is_what_the_registry_says(trials):
    (_, joint), (_, pretrained), *_ = trials
    assert len(joint) == len(pretrained) == 1  # one epoch: its report has the finals too
    for name in metrics.names(when="epoch"):
        assert metrics.REGISTRY[name].split in ("train", "val")
    assert set(metrics.names(when="final")) - _untried_counts() <= \
        set(joint[-1]) | set(pretrained[-1])


def test_selectable_metrics_are_never_on_the_test_split():
    from sweeps.specsections import EPOCH_METRICS, FINAL_METRICS, TEST_METRICS

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
    code = ("import sys, contract.metrics, analysis.tables, analysis.plots, analysis.load; "
            "bad = [m for m in ('torch', 'ray') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
