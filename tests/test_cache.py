"""The evaluation's cache (sweeps/cache.py): entry names and paths, what a change of settings
or code does, damaged entries, and the same numbers with or without a cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hinr import TrainingRun, preset
from hinr import evaluate
from hinr.evaluate import baseline_key, label_key, pixel_baselines
from sweeps.cache import JsonCache, evaluation_cache

# Entry names written by the code before the cache left hinr (hinr/experiment.py's
# baseline_cache_path and label_cache_path at 909f0d0, printed for these configs): every entry
# a data root already holds keeps its name, so no result is computed again or read wrongly.
KEYS_BEFORE = [
    ({}, "mnist-5k-n229-128-val0.1-seed0-ep3-channel-v2-c203699171501a48",
     {(100,): "51604c323af138df", (100, 300): "2467343d364034f6"}),
    ({"pixel_standardization": "none", "seed": 3},
     "mnist-5k-n229-128-val0.1-seed3-ep3-none-v2-7efdb7bbe7e4a9db",
     {(100,): "a228feb17897f6c8", (100, 300): "2ec8481f0edbe8e4"}),
    ({"train_subset": 0, "test_subset": 0, "probe_epochs": 2, "val_fraction": 0.2, "seed": 1},
     "mnist-5k-n3200-1000-val0.2-seed1-ep2-channel-v2-98af3c4c737d615b",
     {(100,): "50efdd3c49eb3a24", (100, 300): "288e24fdd34ad588"}),
]


def tiny(**overrides):
    return preset("tiny", device="cpu", **overrides)


@pytest.mark.parametrize("overrides, baseline, labels", KEYS_BEFORE)
def test_entry_names_and_paths_are_those_of_before(overrides, baseline, labels, mnist5k):
    cfg = tiny(**overrides)
    run = TrainingRun(cfg, data=mnist5k)
    cache = evaluation_cache(cfg)
    root = Path(os.environ["HINR_DATA"]) / "baselines"
    assert baseline_key(run) == baseline
    assert cache.path(baseline_key(run)) == root / f"{baseline}.json"
    for counts, digest in labels.items():
        key = f"labels-{'-'.join(map(str, counts))}-{baseline}-{digest}"
        assert label_key(run, counts) == key
        assert cache.path(key) == root / f"{key}.json"


def test_cached_pixel_baselines_are_keyed_by_standardisation_and_code_version(
        mnist5k, monkeypatch):
    """A change of the standardisation, or of the code (BASELINE_VERSION), computes the
    baselines afresh: a cache entry of other settings or older code is never read.  Without
    a cache the numbers are the same."""
    raw = TrainingRun(tiny(pixel_standardization="none"), data=mnist5k)
    scaled = TrainingRun(tiny(), data=mnist5k)
    cache = evaluation_cache(scaled.cfg)
    assert baseline_key(raw) != baseline_key(scaled)
    before, after = pixel_baselines(raw, cache)[0], pixel_baselines(scaled, cache)[0]
    assert cache.path(baseline_key(raw)).exists() and cache.path(baseline_key(scaled)).exists()
    assert before != after  # measured on tiny: pixel MLP 0.570 -> 0.648, CNN 0.078 -> 0.219
    assert pixel_baselines(scaled, cache)[0] == after  # the cached entry, read back
    # an entry that is damaged or lacks the per-image predictions is recomputed, not trusted
    cache.path(baseline_key(scaled)).write_text('{"metrics": {"pixel_mlp_acc": 0.5}}')
    assert pixel_baselines(scaled, cache)[0] == after
    computed, predictions = pixel_baselines(scaled)
    assert computed == after
    cached_predictions = pixel_baselines(scaled, cache)[1]
    assert all((predictions[p] == cached_predictions[p]).all() for p in predictions)
    old = baseline_key(scaled)
    monkeypatch.setattr(evaluate, "BASELINE_VERSION", evaluate.BASELINE_VERSION + 1)
    assert baseline_key(scaled) != old


def test_json_cache_computes_once_and_recomputes_what_it_cannot_trust(tmp_path):
    cache = JsonCache(tmp_path / "entries")
    calls = []

    def compute():
        calls.append(1)
        return {"n": len(calls)}

    assert cache.get("k", compute) == {"n": 1}
    assert cache.get("k", compute) == {"n": 1} and len(calls) == 1  # read back, not computed
    assert cache.path("k") == tmp_path / "entries" / "k.json"
    cache.path("k").write_text("{not json")
    assert cache.get("k", compute) == {"n": 2}
    assert cache.get("k", compute, valid=lambda value: value["n"] > 2) == {"n": 3}
