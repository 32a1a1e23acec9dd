"""What a sweep will cost, before it runs (printed by ``launch.py run --dry-run``).

FLOPs per image per training step are counted on the real model with torch's FlopCounterMode;
throughput on this machine is measured by timing a few real training steps; GPU time uses a
sustained rate you pass (``--gpu-tflops``, default ``DEFAULT_GPU_TFLOPS``) because no GPU is
measured here.  Evaluation and the end-of-trial classifiers are not counted (a few percent of
a trial at paper scale); ASHA sweeps are priced as if no trial stopped early (an upper bound).
Each variant is priced on its own model (``hinr.models.build_model``: the autoencoder's conv
decoder costs more per image than hyper-network + SIREN); variant random_encoder trains
nothing and costs no training FLOPs (its probes, like every trial's, are not counted).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from hinr.config import TrainingConfig

DEFAULT_GPU_TFLOPS = 25.0  # sustained fp32 training rate of one A10G-class GPU; an assumption
# Training images per epoch of each dataset (before train_subset) and its image shape.
DATASET_SHAPES = {"mnist": (60000, 1, 28, 28), "mnist-5k": (4000, 1, 28, 28),
                  "cifar10": (50000, 3, 32, 32)}


@dataclass
class Cost:
    gflop_per_image: float  # one training step (forward + backward), per image
    images: int  # training images over all epochs of one trial

    @property
    def tflop(self) -> float:
        return self.gflop_per_image * self.images / 1e3


def _model_step(cfg: TrainingConfig, batch: int, device: str = "cpu"):
    # torch costs 1.6 s of start-up (measured 2026-12-06): only --dry-run's cost needs it
    import torch

    from hinr.data import grid
    from hinr.losses import hyperinr_loss
    from hinr.models import build_model

    _, channels, h, w = DATASET_SHAPES[cfg.dataset]
    with torch.device(device):
        model = build_model(cfg, channels, (h, w))
        coords = grid(h, w)
        images = torch.rand(batch, channels, h, w) * 2 - 1  # (B, C, H, W)

    def step() -> None:
        recon, v, theta = model(images, coords)
        hyperinr_loss(recon, images, v, theta, cfg.a1, cfg.a2)["loss"].backward()

    return step


def trial_cost(cfg: TrainingConfig) -> Cost:
    """FLOPs of one training step, counted on the real model at batch 2.  On the meta device
    every op keeps its shapes but computes nothing, so pricing a paper-size model is instant."""
    from torch.utils.flop_counter import FlopCounterMode

    n_train = DATASET_SHAPES[cfg.dataset][0]
    n_train = min(n_train, cfg.train_subset) if cfg.train_subset else n_train
    if cfg.variant == "random_encoder":  # never trains: no step to count
        return Cost(0.0, 0)
    with FlopCounterMode(display=False) as counter:
        _model_step(cfg, batch=2, device="meta")()
    return Cost(counter.get_total_flops() / 2 / 1e9, n_train * cfg.epochs)


def measured_gflops(cfg: TrainingConfig, seconds: float = 3.0) -> float:
    """This machine's training rate on ``cfg``'s model (GFLOP/s), timed for ~``seconds``."""
    cost = trial_cost(cfg)
    batch = max(2, min(32, int(32 / max(cost.gflop_per_image, 1.0))))
    step = _model_step(cfg, batch)
    step()  # warm-up: allocations and kernel selection
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or done == 0:
        step()
        done += batch
    return cost.gflop_per_image * done / (time.perf_counter() - start)


def describe(costs: list[Cost], cpu_gflops: float, gpus_per_trial: float,
             gpu_tflops: float) -> str:
    total_tflop = sum(c.tflop for c in costs)
    cpu_hours = total_tflop * 1e3 / cpu_gflops / 3600
    gpu_hours = total_tflop / gpu_tflops / 3600
    trained = [c.gflop_per_image for c in costs if c.images] or [0.0]
    low, high = min(trained), max(trained)
    span = f"{low:.2f}" if abs(high - low) < 1e-3 else f"{low:.2f}-{high:.2f}"
    lines = [f"cost: {span} GFLOP per image per training step (counted), "
             f"{total_tflop / 1e3:.3f} PFLOP for the sweep's training",
             f"  this machine (measured {cpu_gflops:.0f} GFLOP/s for one trial on every core): "
             f"~{cpu_hours:.1f} hours of training"]
    if gpus_per_trial > 0:
        lines.append(f"  GPU: ~{gpu_hours:.1f} GPU-hours at an assumed {gpu_tflops:g} TFLOP/s "
                     f"sustained per GPU (--gpu-tflops to change); {1 / gpus_per_trial:g} trials "
                     "share a GPU")
    return "\n".join(lines)
