"""What a trial shows besides its numbers: its TensorBoard run (scalars, image grids, HParams)
and its example grids as PNG files.

Kept apart from ``sweeps.trial`` on purpose: ``sweeps.trial`` is code that computes numbers
(``sweeps.extend.NUMERIC_CODE``: a sweep can only be extended or continued by a checkout where
it is unchanged), and how a trial is named or drawn must be free to change without making
every recorded sweep non-extendable.
"""

from __future__ import annotations

import io
import math
import sys
from pathlib import Path
from typing import Any

import torch

from contract import metrics as metrics_registry
from contract.schema import IMAGE_SUFFIX, write_bytes_atomic
from hinr import TrainingConfig, TrainingRun


def grid(images: torch.Tensor) -> torch.Tensor:
    """An example stack (rows of 8 in [-1, 1]) as one (C, H', W') grid in [0, 1]."""
    from torchvision.utils import make_grid

    return make_grid((images.clamp(-1, 1) + 1) / 2, nrow=min(8, len(images)))


def save_examples(examples: dict[str, torch.Tensor], folder: Path) -> None:
    """The example grids as PNG files, each written atomically (the report embeds them).

    A grid that cannot be written (results disk full) is one warning line, not a failed
    trial: the final metrics matter more than its pictures, and the driver reports the disk."""

    from torchvision.utils import save_image

    for name, images in examples.items():
        buffer = io.BytesIO()
        save_image(grid(images), buffer, format="png")
        try:
            write_bytes_atomic(buffer.getvalue(), folder / f"{name}{IMAGE_SUFFIX}")
        except OSError as err:
            print(f"warning: {folder / name}{IMAGE_SUFFIX}: not written: {err}", file=sys.stderr)


def tb_label(cfg: TrainingConfig, varying: list[str] | None) -> dict[str, Any]:
    """The trial's values of the sweep's varying fields (``varying``, the seed among them), as
    the trial resolved them; {} without them (a trial run outside a sweep)."""
    values = cfg.to_dict()
    return {k: values[k] for k in varying or () if k in values}


RUN_NAME_CHARS = 100  # a directory name TensorBoard shows whole


def run_name(label: dict[str, Any]) -> str:
    """``a2=100,inr_depth=5,seed=1``: the TensorBoard run of a trial, under tb/<trial id>/, so
    that the dashboard names runs by what varies (the trial id keeps them apart and is what
    the driver's files are keyed by).  Only characters safe in a file name."""
    text = ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in label.items())
    safe = "".join(c if c.isalnum() or c in "=,._-" else "_" for c in text)
    return safe[:RUN_NAME_CHARS] or "run"


def log_epoch(writer, exp: TrainingRun, metrics: dict[str, float], last: bool,
              examples: dict[str, torch.Tensor], label: dict[str, Any] | None = None) -> None:
    """Scalars every epoch; image grids at the first, middle and last epoch; HParams at the end."""
    step = exp.epoch
    tags = {}
    for key, value in metrics.items():
        # Tags are the registry's names (contract.metrics), grouped by split; a final metric
        # without a split prefix (latent_acc, sr_psnr) under final/, per-epoch ones (step,
        # throughput) under eval/ at every epoch, so that each is one curve under one tag.
        info = metrics_registry.get(key)
        group = (key.split("_", 1)[0] if key.startswith(("train_", "val_", "test_"))
                 else "final" if info is not None and info.when == "final" else "eval")
        tags[key] = f"{group}/{key}"
        writer.add_scalar(tags[key], value, step)
    epochs = exp.cfg.epochs
    if step in {1, max(1, epochs // 2), epochs}:
        for name, images in examples.items():
            writer.add_image(f"images/{name}", grid(images), step)
    if last:
        log_hparams(writer, label or exp.cfg.to_dict(), {
            tags[k]: v for k, v in metrics.items() if isinstance(v, float) and math.isfinite(v)
            and (k.startswith(("val_", "test_")) or k.endswith(("_acc", "_psnr")))})


def log_hparams(writer, hparams: dict[str, Any], metrics: dict[str, float]) -> None:
    """The HParams dashboard's row for this run: the varying ``hparams``, and ``metrics``
    named by the scalar tags already written (the dashboard reads their last values), so
    each metric appears once (``SummaryWriter.add_hparams`` writes every metric again as a
    new scalar in a sub-run)."""
    from torch.utils.tensorboard.summary import hparams as hparams_summary

    plain = {k: (v if isinstance(v, (int, float, str, bool)) else str(v))
             for k, v in hparams.items()}
    for summary in hparams_summary(plain, metrics):
        writer.file_writer.add_summary(summary)
