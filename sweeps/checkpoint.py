"""A training run's checkpoint file: ``hinr.training.TrainingRun.state_dict()`` through
``torch.save``, read back as data only (``weights_only``: a checkpoint is data, never code)."""

from __future__ import annotations

import torch

from hinr.training import TrainingRun


def save_checkpoint(run: TrainingRun, path: str) -> None:
    torch.save(run.state_dict(), path)


def load_checkpoint(run: TrainingRun, path: str) -> None:
    run.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
