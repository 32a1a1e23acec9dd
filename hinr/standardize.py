"""The one input convention of every classifier: inputs standardised with training statistics.

Every classifier of the project (the pixel baselines ``PixelMLP`` / ``PixelClassifierCNN``,
variant ``pretrained``'s pixel MLP, the latent MLP probe and the weight CNN probe) reads its
input as ``(x - mean) / std``, with ``mean`` and ``std`` measured on the training split
(validation held out) and never on the images it is scored on.  Comparing classifiers is then
comparing representations, not how well each copes with the scale of its input: before this
convention the pixel classifiers read raw [-1, 1] pixels while the probes read standardised
inputs, which handicapped the pixel baselines (issue 26).

What "per feature" is for each input (the reduced dims of ``fit``):

* latents v (N, D): per coordinate, over images.
* theta* (N, L, W, W): per position (every element its own statistics), over images; see
  ``THETA_DIMS`` for why, and for the alternatives the weight probe can be asked for.
* pixels (N, C, H, W): per channel, over images *and* positions (torchvision's ``Normalize``
  convention), not per pixel: MNIST's border pixels are background in (nearly) every training
  image, so a per-pixel std is ~0 there and a rare stroke in a test image would be scaled to
  hundreds of standard deviations; and a CNN shares its kernels over positions, so one scale
  per channel is what it expects.  ``PIXEL_DIMS`` keeps ``position`` (per pixel) and
  ``none`` (the raw [-1, 1] pixels of results before issue 26) for comparisons and old numbers.

This module holds the statistics only; ``hinr.training`` and ``hinr.evaluate`` choose the sample
they come from.
"""

from __future__ import annotations

import torch
from torch import nn

# The floor of a standard deviation: an input that never varies in the training sample is
# centred, not divided by ~0.  Latents keep 1e-6 and theta* 1e-8, the floors every result so
# far was computed with (a latent's dead ReLU unit and theta*'s constant tiles are exactly 0
# after centring whatever the floor; the values only matter for nearly constant inputs).
LATENT_FLOOR = 1e-6
THETA_FLOOR = 1e-8
PIXEL_FLOOR = 1e-6

LATENT_DIMS = (0,)  # of (N, D)
# Of theta* (N, L, W, W): per position, per layer, or one scalar.  Per position, because what
# tells images apart is small: on `tiny` the spread of an element across images is ~0.1% of
# its layer's spread (the weights all images share), so per-layer or scalar standardisation
# leaves the weight CNN at chance (tests/test_training.py).
THETA_DIMS = {"scalar": (0, 1, 2, 3), "layer": (0, 2, 3), "position": (0,)}
# Of pixels (N, C, H, W); None: no standardisation (config pixel_standardization: none).
PIXEL_DIMS = {"channel": (0, 2, 3), "position": (0,), "none": None}


class Standardizer(nn.Module):
    """``(x - mean) / std`` with fixed statistics, as a module so that it can sit in front of a
    classifier (the pretrained encoder) and move with it between devices.  The statistics are
    buffers left out of ``state_dict`` (persistent=False): they are recomputed from the
    training split, so checkpoints keep their format.  ``mean``/``std`` None: the identity."""

    def __init__(self, mean: torch.Tensor | None = None, std: torch.Tensor | None = None):
        super().__init__()
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mean is None:
            return x
        return (x - self.mean) / self.std


def fit(sample: torch.Tensor, dims: tuple[int, ...] | None, floor: float) -> Standardizer:
    """Statistics of ``sample`` reduced over ``dims`` (kept as size-1 dims, so they broadcast
    over any batch), the std floored at ``floor``; ``dims`` None gives the identity."""
    if dims is None:
        return Standardizer()
    with torch.no_grad():
        mean = sample.mean(dims, keepdim=True)
        std = sample.std(dims, keepdim=True).clamp_min(floor)
    return Standardizer(mean, std)


def latents(v_train: torch.Tensor) -> Standardizer:
    """For the latent MLP probe: per coordinate of v (N, D)."""
    return fit(v_train, LATENT_DIMS, LATENT_FLOOR)


def theta(sample: torch.Tensor, mode: str = "position") -> Standardizer:
    """For the weight CNN: theta* (S, L, W, W) per ``mode``, a key of ``THETA_DIMS``."""
    return fit(sample, THETA_DIMS[mode], THETA_FLOOR)


def pixels(train_x: torch.Tensor, mode: str = "channel") -> Standardizer:
    """For every pixel classifier: images (N, C, H, W) per ``mode``, a key of ``PIXEL_DIMS``."""
    return fit(train_x, PIXEL_DIMS[mode], PIXEL_FLOOR)
