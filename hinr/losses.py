"""The HyperINR objective, returned term by term.

    loss = MSE(recon, image) + a1 * mean(v^2) + a2 * mean(theta^2) [+ cls_weight * CE(head(v), y)]

The two priors have one name each everywhere (code, Parquet columns, TensorBoard tags, the
report; see ``hinr.metrics``): mean(v^2) is the *latent prior*, weighted by ``a1``, and
mean(theta^2) the *theta prior*, weighted by ``a2``.

mean(theta^2) is taken over every generated INR parameter (weights and biases, all images), as
SIREN's ``hypo_weight_loss`` does; mean(v^2) over every latent coordinate of every image.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .models import Theta


def latent_prior(v: torch.Tensor) -> torch.Tensor:
    return v.pow(2).mean()


def theta_prior(theta: Theta) -> torch.Tensor:
    total = sum(w.pow(2).sum() + b.pow(2).sum() for w, b in theta)
    count = sum(w.numel() + b.numel() for w, b in theta)
    return total / count


def hyperinr_loss(recon: torch.Tensor, images: torch.Tensor, v: torch.Tensor, theta: Theta,
                  a1: float, a2: float, logits: torch.Tensor | None = None,
                  labels: torch.Tensor | None = None, cls_weight: float = 0.0,
                  ) -> dict[str, torch.Tensor]:
    """All terms (unweighted) plus ``loss``, the weighted sum to backpropagate."""
    terms = {"mse": F.mse_loss(recon, images),
             "latent_prior": latent_prior(v),
             "theta_prior": theta_prior(theta)}
    loss = terms["mse"] + a1 * terms["latent_prior"] + a2 * terms["theta_prior"]
    if logits is not None:
        terms["cls_ce"] = F.cross_entropy(logits, labels)
        loss = loss + cls_weight * terms["cls_ce"]
    terms["loss"] = loss
    return terms


def psnr(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-image PSNR in dB of images in [-1, 1], measured after mapping to [0, 1] (peak 1).

    The one definition used everywhere.  ``mask`` (same shape, bool) restricts the error to
    masked pixels (inpainting holes).  Returns (B,)."""
    p = ((pred.clamp(-1, 1) + 1) / 2).flatten(1)  # (B, C*H*W)
    t = ((target.clamp(-1, 1) + 1) / 2).flatten(1)
    err = (p - t).pow(2)
    if mask is None:
        mse = err.mean(1)
    else:
        m = mask.flatten(1).to(err.dtype)
        mse = (err * m).sum(1) / m.sum(1).clamp_min(1)
    return 10.0 * torch.log10(1.0 / mse.clamp_min(1e-10))


def mse_to_psnr(mse_unit: float) -> float:
    """PSNR of an MSE measured on [0, 1] images."""
    return 10.0 * math.log10(1.0 / max(mse_unit, 1e-10))
