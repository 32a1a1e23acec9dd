"""``train_hinr``: the Ray Tune function trainable, Tune's checkpoint and report calls plugged
into ``sweeps.trial.run_trial`` (which holds the trial itself, Ray-free)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import ray
import torch
from ray import tune

from contract.schema import TB_DIR, image_dir, predictions_path
from hinr import TrainingRun
from hinr.data import ImageData

from ..checkpoint import load_checkpoint, save_checkpoint
from ..trial import CHECKPOINT_FILE, CheckpointClock, config_from_trial, run_trial


def train_hinr(config: dict[str, Any], data: dict[str, ImageData] | None = None,
               results_dir: str | None = None, objectives: dict[str, str] | None = None,
               checkpoint_every_s: float = 0.0, varying: list[str] | None = None) -> None:
    """Ray Tune function trainable (wrapped with tune.with_parameters by sweeps.tune.run, which
    passes the sweep's ``budget.checkpoint_every_s`` and its axes, ``varying``)."""
    ctx = tune.get_context()
    resources = ctx.get_trial_resources().required_resources
    cfg = config_from_trial(config, cpus=resources.get("CPU", 0.0))
    shared = (data or {}).get(cfg.dataset)
    tb_dir = Path(results_dir) / TB_DIR / ctx.get_trial_id() if results_dir else None
    images_dir = image_dir(results_dir, ctx.get_trial_id()) if results_dir else None
    predictions_file = (predictions_path(results_dir, ctx.get_trial_id()) if results_dir
                        else None)

    def restore(exp: TrainingRun) -> None:
        checkpoint = tune.get_checkpoint()
        if checkpoint is not None:
            with checkpoint.as_directory() as directory:
                load_checkpoint(exp, os.path.join(directory, CHECKPOINT_FILE))

    clock = CheckpointClock(checkpoint_every_s)

    def report(metrics: dict[str, Any], exp: TrainingRun | None) -> None:
        if exp is None or not clock.due(last_epoch=metrics.get("status") == "completed"):
            tune.report(metrics)
            return
        with tempfile.TemporaryDirectory() as directory:
            save_checkpoint(exp, os.path.join(directory, CHECKPOINT_FILE))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))

    # Several nodes of a cluster on one host share an IP; the node id tells them apart.
    node = f"{ray.util.get_node_ip_address()}/{ray.get_runtime_context().get_node_id()[:12]}"
    torch.set_num_threads(cfg.threads or torch.get_num_threads())
    run_trial(cfg, shared, tb_dir, report, restore, objectives or {}, node, images_dir,
              predictions_file, varying)
