"""Which epochs a trial checkpoints, and how many checkpoints Tune keeps (sweeps.trial.CheckpointClock,
sweeps.spec.CHECKPOINTS_KEPT): the policy that keeps Tune's experiment-state snapshots off the
per-result path (benchmarks/scale.py measures that; here, that the policy is what runs)."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
import torch

from sweeps.spec import SpecError, parse_spec
from sweeps.specsections import CHECKPOINT_EVERY_S
from sweeps.trial import CHECKPOINT_FILE, CheckpointClock


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_clock_checkpoints_the_last_epoch_and_otherwise_once_per_period():
    t = FakeClock()
    clock = CheckpointClock(60.0, clock=t)
    due = []
    for elapsed, last in [(20, False), (20, False), (25, False), (10, False), (10, True)]:
        t.now += elapsed
        due.append(clock.due(last_epoch=last))
    # 20, 40: not yet; 65 s after the start: due; 10, 20 s after it: not; the last: always
    assert due == [False, False, True, False, True]


def test_clock_zero_checkpoints_every_epoch():
    t = FakeClock()
    clock = CheckpointClock(0.0, clock=t)
    assert all(clock.due(last_epoch=False) for _ in range(3))  # no time passes at all


def test_clock_period_restarts_at_each_checkpoint():
    t = FakeClock()
    clock = CheckpointClock(60.0, clock=t)
    t.now += 59
    assert not clock.due(last_epoch=False)
    t.now += 1
    assert clock.due(last_epoch=False)
    t.now += 59
    assert not clock.due(last_epoch=False)


def doc(**budget) -> dict:
    return {"name": "ckpt", "base": {"preset": "tiny", "epochs": 3, "train_subset": 128,
                                     "test_subset": 64},
            "axes": {"lr": [1e-3, 3e-3]}, "seeds": [0], "search": "grid",
            "metric": "val_psnr", "mode": "max", "resources": {"cpus": 1},
            "budget": {"max_concurrent": 1, **budget}}


def test_spec_default_and_bad_values():
    assert parse_spec(doc(), "c.yaml").budget["checkpoint_every_s"] == CHECKPOINT_EVERY_S
    assert parse_spec(doc(checkpoint_every_s=0), "c.yaml").budget["checkpoint_every_s"] == 0.0
    with pytest.raises(SpecError, match=r"c.yaml: budget.checkpoint_every_s: allowed seconds >= 0"):
        parse_spec(doc(checkpoint_every_s=-1), "c.yaml")
    with pytest.raises(SpecError, match=r"c.yaml: budget.checkpoint_every_s: expected float"):
        parse_spec(doc(checkpoint_every_s="often"), "c.yaml")


def checkpoint_epochs(results) -> list[list[int]]:
    """Per trial directory, the epoch each kept checkpoint holds, oldest first."""
    out = []
    for trial_dir in sorted(p for p in (results / "tune").iterdir() if p.is_dir()):
        kept = sorted(trial_dir.glob("checkpoint_*"))
        out.append([int(torch.load(c / CHECKPOINT_FILE, weights_only=True)["epoch"])
                    for c in kept])
    return out


@pytest.mark.parametrize("every_s,want", [(1e6, [3]), (0, [2, 3])])
def test_a_real_sweep_keeps_the_checkpoints_the_policy_names(every_s, want, ray_embedded,
                                                             tmp_path):
    """A period longer than any trial (as the default minute is for tiny trials, but not tied
    to how fast this machine is): one checkpoint, the last epoch's.  Every epoch (0): Tune
    keeps the last two.  Both sweeps end complete, with every epoch row."""
    from sweeps.tune.run import run_sweep

    out = tmp_path / "results"
    run_sweep(parse_spec(doc(checkpoint_every_s=every_s), "c.yaml"), out)
    assert checkpoint_epochs(out) == [want, want]
    rows = pq.read_table(out / "trials.parquet").to_pylist()
    assert [r["status"] for r in rows] == ["completed", "completed"]
    assert pq.read_table(out / "epochs").num_rows == 6
