"""One trial: a thin adapter over ``hinr.TrainingRun`` and ``hinr.evaluate.finish``, Ray-free.

``run_trial`` is a plain function of (config, data, tb_root, reporter hooks);
``sweeps.tune.trainable.train_hinr`` is the Ray Tune function trainable that plugs Tune's
checkpoint and report calls into it.  All of the science is in hinr; all of the Parquet
writing is in results.py on the driver; what the trial shows (TensorBoard, PNG grids) is in
``sweeps.trial_views``, outside the code a sweep's continuation must find unchanged.

A trial's config is the flat dict of TrainingConfig fields plus ``preset``, its replicate's
``seed`` included whatever the search type (``sweeps.tune.search`` puts it there).
"""

from __future__ import annotations

import math
import socket
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

from contract.schema import NOT_FIELDS, RESOLVED_CONFIG_KEY, predictions_table, write_atomic
from hinr import Diverged, TrainingConfig, TrainingRun, preset
from hinr.data import ImageData
from hinr.evaluate import finish
from sweeps.cache import evaluation_cache
from sweeps.trial_views import log_epoch, run_name, save_examples, tb_label

CHECKPOINT_FILE = "state.pt"
# in a trial's config, not TrainingConfig fields
RESERVED = NOT_FIELDS  # a design's point index among them (sweeps.tune.search.DESIGN_POINT)


def config_from_trial(config: dict[str, Any], cpus: float = 0.0) -> TrainingConfig:
    """The trial's TrainingConfig; threads default to the trial's CPU share so that
    concurrent trials never oversubscribe the cores (torch's default is every core)."""
    fields = {k: v for k, v in config.items() if k not in RESERVED}
    cfg = preset(config.get("preset", "small"), **fields)
    if cfg.threads == 0 and cpus > 0:
        cfg = cfg.replace(threads=max(1, int(cpus)))
    return cfg


def worst(mode: str) -> float:
    return -math.inf if mode == "max" else math.inf


def run_trial(cfg: TrainingConfig, data: ImageData | None, tb_dir: Path | None,
              report: Callable[[dict[str, Any], TrainingRun | None], None],
              restore: Callable[[TrainingRun], None], objectives: dict[str, str],
              node: str | None = None, images_dir: Path | None = None,
              predictions_file: Path | None = None, varying: list[str] | None = None) -> None:
    """Train, evaluate and finish one trial; ``report`` gets a flat dict per epoch.
    ``images_dir``: where the last epoch's example grids go as PNG; ``predictions_file``:
    where its per-image test outputs go (``contract.schema.predictions_path``, whose stem is
    the trial id); ``varying``: the sweep's axes (and ``seed``), whose values name the
    trial's TensorBoard run and are its HParams (``tb_label``)."""
    exp = TrainingRun(cfg, data=data)
    restore(exp)
    writer = None
    label = tb_label(cfg, varying)
    if tb_dir is not None:
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter(str(tb_dir / run_name(label) if label else tb_dir))
    info = {"device": str(exp.device), "node": node or socket.gethostname()}
    # The config as this trial resolved it travels with its first result, so the driver
    # records it without resolving it again (or importing this worker-side module).
    first = {RESOLVED_CONFIG_KEY: cfg.flat_dict()}
    start = time.perf_counter()
    try:
        while exp.epoch < cfg.epochs:
            try:
                metrics = exp.train_epoch()
            except Diverged as err:
                # A recorded outcome, not a crash: the search sees the worst value.
                out = {**info, **first, "status": "diverged", "diverged_epoch": err.epoch,
                       "diverged_step": err.step, "error": str(err), "epoch": float(exp.epoch)}
                out.update({m: worst(mode) for m, mode in objectives.items()})
                report(out, None)
                return
            metrics.update(exp.evaluate())
            last = exp.epoch >= cfg.epochs
            examples = exp.examples()
            if last:
                final = finish(exp, cache=evaluation_cache(cfg))
                metrics.update(final.metrics)
                examples = final.examples
            metrics["trial_seconds"] = time.perf_counter() - start
            if writer is not None:
                log_epoch(writer, exp, metrics, last, examples, label)
            if last and images_dir is not None:
                save_examples(examples, images_dir)
            if last and predictions_file is not None:
                save_predictions(final.outputs, predictions_file)
            report({**info, **first, **metrics, "status": "completed" if last else "running"},
                   exp)
            first = {}
    finally:
        if writer is not None:
            writer.close()


def save_predictions(outputs: dict[str, torch.Tensor], path: Path) -> None:
    """The trial's per-image test outputs (``hinr.evaluate.Evaluation``) as one Parquet file,
    written atomically; named by trial id (``contract.schema.predictions_path``).  Like the
    image grids, a file that cannot be written is a warning line, not a failed trial."""

    table = predictions_table(path.stem, outputs)
    try:
        write_atomic(table, path)
    except OSError as err:
        print(f"warning: {path}: not written: {err}", file=sys.stderr)


# --------------------------------------------------------------------------------------
# When a trial checkpoints (the trainable, sweeps.tune.trainable, asks at every report)

class CheckpointClock:
    """Which reports carry a checkpoint: the last epoch's always (a resumed sweep never reruns
    a finished trial), any other once ``every_s`` seconds have passed since the trial's start
    or its last checkpoint (0: every epoch).  A crash then costs at most ``every_s`` seconds of
    training or one epoch, the longer; results never depend on it (a trial restored from an
    older checkpoint recomputes the same epochs, tests/test_faults.py).  Why not every epoch:
    ``sweeps.spec.CHECKPOINTS_KEPT``."""

    def __init__(self, every_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_s = every_s
        self.clock = clock
        self.last = clock()

    def due(self, last_epoch: bool) -> bool:
        now = self.clock()
        if last_epoch or now - self.last >= self.every_s:
            self.last = now
            return True
        return False
