"""The HyperINR objective, returned term by term.

    loss = MSE(recon, image) + a1 * mean(v^2) + a2 * R(theta) [+ cls_weight * CE(head(v), y)]

(variant ``autoencoder`` has no theta: its loss is the same without the a2 term.)

The two priors have one name each everywhere (code, Parquet columns, TensorBoard tags, the
report; see ``contract.metrics``): mean(v^2) is the *latent prior*, weighted by ``a1``, and
mean(theta^2) the *theta prior*, weighted by ``a2``.

mean(theta^2) is taken over every generated INR parameter (weights and biases, all images), as
SIREN's ``hypo_weight_loss`` does; mean(v^2) over every latent coordinate of every image.

What ``a2`` multiplies, R(theta), is set by config ``theta_prior_norm``
(``normalized_theta_prior``), with S = sum(theta^2) over a batch of B images of P generated
parameters each:

* ``mean`` (the default, SIREN's and every result's so far): R = S / (B P) = mean(theta^2).
  Its gradient per parameter is 2 a2 theta / (B P): the pull on each parameter weakens as
  the SIREN grows (23x stronger on ``small``, P = 8,577, than on ``paper``, P = 198,401).
* ``sum``: R = S / B, the squared norm of each image's theta, averaged over images: a pull per
  parameter of 2 a2 theta / B on any model (a2 must then be ~P times smaller).
* ``paper``: R = S / (B P_paper), with P_paper the ``paper`` preset's parameters per image for
  the same number of channels (198,401 on MNIST): a2 = 100 then pulls every parameter as the
  paper's a2 = 100 does on its own model, whatever the model's size; on ``paper`` itself it is
  ``mean`` exactly.

The reported term ``theta_prior`` is mean(theta^2) under every norm (the metric's one
meaning), so ``loss = mse + a1 latent_prior + a2 theta_prior`` holds for ``mean`` only.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .config import THETA_PRIOR_NORMS, paper
from .models import Theta, siren_shapes


def latent_prior(v: torch.Tensor) -> torch.Tensor:
    return v.pow(2).mean()


def theta_prior(theta: Theta) -> torch.Tensor:
    total = sum(w.pow(2).sum() + b.pow(2).sum() for w, b in theta)
    count = sum(w.numel() + b.numel() for w, b in theta)
    return total / count


def paper_theta_count(channels: int) -> int:
    """Generated parameters per image (weights and biases) of the ``paper`` preset's SIREN
    for images of ``channels`` channels: 198,401 for MNIST."""
    cfg = paper()
    return sum(out * inp + out for out, inp in siren_shapes(cfg.inr_depth, cfg.inr_width, 2,
                                                            channels))


def normalized_theta_prior(theta: Theta, norm: str = "mean") -> torch.Tensor:
    """The theta prior as ``a2`` weighs it under ``norm`` (config ``theta_prior_norm``; the
    module docstring has the three): sum(theta^2) divided by images x parameters per image
    (``mean``), by images (``sum``) or by images x the paper preset's parameters per image
    (``paper``)."""
    if norm == "mean":
        return theta_prior(theta)  # the very expression of every result so far
    if norm not in THETA_PRIOR_NORMS:
        raise ValueError(f"theta_prior_norm={norm!r}: allowed values are "
                         f"{', '.join(THETA_PRIOR_NORMS)}")
    total = sum(w.pow(2).sum() + b.pow(2).sum() for w, b in theta)
    images = theta[0][0].shape[0]  # weight (B, out, in)
    if norm == "sum":
        return total / images
    channels = theta[-1][0].shape[1]  # the last layer's outputs are the image's channels
    return total / (images * paper_theta_count(channels))


def hyperinr_loss(recon: torch.Tensor, images: torch.Tensor, v: torch.Tensor,
                  theta: Theta | None, a1: float, a2: float, logits: torch.Tensor | None = None,
                  labels: torch.Tensor | None = None, cls_weight: float = 0.0,
                  theta_norm: str = "mean") -> dict[str, torch.Tensor]:
    """All terms (unweighted; ``theta_prior`` is mean(theta^2) whatever ``theta_norm``) plus
    ``loss``, the weighted sum to backpropagate, whose a2 term is
    ``normalized_theta_prior(theta, theta_norm)``.

    ``theta`` None (variant ``autoencoder``: a conv decoder generates no weights): the loss is
    MSE + a1 * mean(v^2) [+ cls_weight * CE], and there is no ``theta_prior`` term at all; a2
    weighs nothing (reported as absent, not as 0)."""
    if theta is None:
        terms = {"mse": F.mse_loss(recon, images), "latent_prior": latent_prior(v)}
        loss = terms["mse"] + a1 * terms["latent_prior"]
        if logits is not None:
            terms["cls_ce"] = F.cross_entropy(logits, labels)
            loss = loss + cls_weight * terms["cls_ce"]
        terms["loss"] = loss
        return terms
    terms = {"mse": F.mse_loss(recon, images),
             "latent_prior": latent_prior(v),
             "theta_prior": theta_prior(theta)}
    prior = (terms["theta_prior"] if theta_norm == "mean"
             else normalized_theta_prior(theta, theta_norm))
    loss = terms["mse"] + a1 * terms["latent_prior"] + a2 * prior
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
