"""Training and scoring one classifier: the probes and pixel baselines of the evaluation
(``hinr.evaluate``) and variant pretrained's pixel MLP (``hinr.training``).

A classifier's inputs come from a function of an index tensor, so that large inputs (theta*)
can be generated per batch instead of held in memory.  ``seeded`` draws a module's initial
weights from a seed of its own, never from torch's global stream.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

PROBE_LR = 1e-3  # the paper's Adam lr for both downstream classifiers
PROBE_BATCH = 128
EVAL_BATCH = 256


def adam(params: Any, lr: float, device: torch.device) -> torch.optim.Adam:
    """Adam with its fused kernel on CPU and CUDA: one pass over every parameter per step
    instead of the foreach implementation's several (``small``: 1.09x less CPU per step);
    same update rule, so results match the default to float rounding."""
    return torch.optim.Adam(params, lr=lr, fused=device.type in ("cpu", "cuda"))


def seeded(seed: int, build: Callable[[], nn.Module]) -> nn.Module:
    """Build a module with its init drawn from ``seed``, leaving torch's global stream as it
    was: the evaluation's results then depend on the config and the trained state only, not
    on what else ran in the process (another TrainingRun re-seeds the global stream)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def train_classifier(model: nn.Module, train_inputs: Callable[[torch.Tensor], torch.Tensor],
                     train_y: torch.Tensor, epochs: int, seed: int, device: torch.device) -> None:
    """Train ``model`` with Adam(1e-3) and cross-entropy; leave it in eval mode."""
    gen = torch.Generator().manual_seed(seed)
    opt = adam([p for p in model.parameters() if p.requires_grad], PROBE_LR, device)
    n = len(train_y)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen).to(device)
        for i in range(0, n, PROBE_BATCH):
            idx = order[i:i + PROBE_BATCH]
            loss = F.cross_entropy(model(train_inputs(idx)), train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    model.eval()


@torch.no_grad()
def predict(model: nn.Module, inputs: Callable[[torch.Tensor], torch.Tensor], n: int,
            device: torch.device) -> torch.Tensor:
    """The predicted class of inputs 0..n-1, (n,) int64 on ``device``, in batches of
    EVAL_BATCH (the batches ``accuracy`` uses: the same numbers)."""
    if not n:
        return torch.zeros(0, dtype=torch.int64, device=device)
    return torch.cat([model(inputs(torch.arange(i, min(i + EVAL_BATCH, n), device=device)))
                      .argmax(1) for i in range(0, n, EVAL_BATCH)])


@torch.no_grad()
def accuracy(model: nn.Module, inputs: Callable[[torch.Tensor], torch.Tensor], labels: torch.Tensor,
             device: torch.device) -> float:
    correct = 0
    for i in range(0, len(labels), EVAL_BATCH):
        idx = torch.arange(i, min(i + EVAL_BATCH, len(labels)), device=device)
        correct += int((model(inputs(idx)).argmax(1) == labels[idx]).sum())
    return correct / len(labels)
