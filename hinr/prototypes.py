"""The paper's "prototypical convergence" (4.2) as numbers: how far reconstructions collapse
toward their class's mean image, discounted for what any loss of detail does."""

from __future__ import annotations

import math
from typing import Callable

import torch

from .fitting import EVAL_BATCH


@torch.no_grad()
def prototype_scores(reconstruct: Callable[[torch.Tensor], torch.Tensor], train_x: torch.Tensor,
                     train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
                     num_classes: int) -> dict[str, float]:
    """How far reconstructions collapse toward class prototypes (paper 4.2's observation).

    For each test image: d_own = RMS distance of its reconstruction to the image itself and
    d_proto = RMS distance to its class's mean train image.  ``proto_ratio`` is the mean of
    d_own / d_proto (above 1: closer to the prototype than to the input) and
    ``proto_closer_frac`` the share of images whose reconstruction is closer to the prototype.

    proto_ratio rises with any loss of detail, class-aware or not (a blur moves it too), so two
    measures discount that:

    * ``proto_ratio_excess``: the mean over images of ratio(reconstruction) - ratio(blur), where
      blur is the input under a Gaussian blur whose sigma is set per image (bisection) so that
      its RMS error equals the reconstruction's: the same PSNR (unclipped, the error d_own
      uses), no knowledge of classes.  ~0: the reconstruction is as prototypical as any
      degradation of its quality; > 0: it leans toward its class mean beyond that.  A
      reconstruction worse than the blurriest blur (sigma 4x the image size, about the image's
      mean) is matched with that blur.
    * ``proto_retrieval_acc``: the share of reconstructions whose nearest test image (RMS) among
      those of the same class is their own input; a collapse onto prototypes drives it toward
      1/(images per class).
    """
    protos = torch.stack([train_x[train_y == c].mean(0) for c in range(num_classes)])  # (K, C, H, W)
    recon = torch.cat([reconstruct(test_x[i:i + EVAL_BATCH])
                       for i in range(0, len(test_x), EVAL_BATCH)])  # (N, C, H, W)
    d_own, d_proto = _rms(recon - test_x), _rms(recon - protos[test_y])  # (N,), (N,)
    ratio = d_own / d_proto.clamp_min(1e-8)
    blur = matched_blur(test_x, d_own)
    ratio_blur = _rms(blur - test_x) / _rms(blur - protos[test_y]).clamp_min(1e-8)

    dist = torch.cdist(recon.flatten(1), test_x.flatten(1),
                       compute_mode="donot_use_mm_for_euclid_dist")  # (N, N): recon i, input j
    dist[test_y[:, None] != test_y[None, :]] = float("inf")  # same class only
    own = dist.argmin(1) == torch.arange(len(test_x), device=dist.device)
    return {"proto_ratio": float(ratio.mean()),
            "proto_closer_frac": int((d_proto < d_own).sum()) / len(test_x),
            "proto_ratio_excess": float((ratio - ratio_blur).mean()),
            "proto_retrieval_acc": int(own.sum()) / len(test_x)}


def _rms(diff: torch.Tensor) -> torch.Tensor:
    return diff.flatten(1).pow(2).mean(1).sqrt()  # (B, ...) -> (B,)


def gaussian_blur(images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """``images`` (B, C, H, W) each blurred with its own ``sigma`` (B,), in pixels.  Kernels are
    truncated at the border and renormalised (no padding values invented), written as
    matrices so that one batched matmul per axis blurs every image with its own sigma."""
    def kernels(n: int) -> torch.Tensor:
        pos = torch.arange(n, dtype=images.dtype, device=images.device)
        d2 = (pos[:, None] - pos[None, :]).pow(2)  # (n, n)
        k = torch.exp(-d2 / (2 * sigma.to(images.dtype).view(-1, 1, 1).pow(2)))  # (B, n, n)
        return (k / k.sum(-1, keepdim=True)).unsqueeze(1)  # (B, 1, n, n), rows sum to 1
    h, w = images.shape[-2:]
    return kernels(h) @ images @ kernels(w).transpose(-1, -2)  # (B, C, H, W)


def matched_blur(images: torch.Tensor, target_rms: torch.Tensor, steps: int = 24,
                 ) -> torch.Tensor:
    """Each image blurred with the sigma whose RMS error to the image is ``target_rms`` (B,),
    found by bisection on log(sigma) (the error grows with sigma; 24 halvings of
    [0.05, 4 x size] pin sigma to 1e-6 relative); deterministic."""
    size = max(images.shape[-2:])
    lo = torch.full_like(target_rms, math.log(0.05))  # sigma 0.05: the image itself
    hi = torch.full_like(target_rms, math.log(4.0 * size))  # about the image's mean
    for _ in range(steps):
        mid = (lo + hi) / 2
        too_blurred = _rms(gaussian_blur(images, mid.exp()) - images) > target_rms
        hi = torch.where(too_blurred, mid, hi)
        lo = torch.where(too_blurred, lo, mid)
    return gaussian_blur(images, ((lo + hi) / 2).exp())
