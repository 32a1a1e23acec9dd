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

What ``a1`` multiplies is set the same way by config ``latent_prior_norm``
(``normalized_latent_prior``), with S = sum(v^2) over B images of d latent coordinates:
``mean`` (the paper's, the default) S / (B d), whose pull per coordinate, 2 a1 v / (B d),
halves from latent 32 to 64; ``sum`` S / B, the same pull per coordinate at any latent size;
``paper`` S / (B 256), the paper's latent size, so a1 = 0.1 pulls each coordinate as the
paper's does whatever ``latent_dim`` is.

The reported terms ``latent_prior`` and ``theta_prior`` are mean(v^2) and mean(theta^2) under
every norm (each metric's one meaning), so ``loss = mse + a1 latent_prior + a2 theta_prior``
holds for ``mean`` only.  ``python -m hinr.losses`` prints, for each preset, the factor that
converts a weight under ``mean`` into the weight that pulls the same under ``sum`` or
``paper`` (``prior_conversions``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .config import LATENT_PRIOR_NORMS, PRESETS, THETA_PRIOR_NORMS, TrainingConfig, paper
from .models import Theta, siren_shapes


def latent_prior(v: torch.Tensor) -> torch.Tensor:
    return v.pow(2).mean()


def normalized_latent_prior(v: torch.Tensor, norm: str = "mean") -> torch.Tensor:
    """The latent prior as ``a1`` weighs it under ``norm`` (config ``latent_prior_norm``; the
    module docstring has the three): sum(v^2) divided by images x latent_dim (``mean``), by
    images (``sum``) or by images x the paper's latent size, 256 (``paper``)."""
    if norm == "mean":
        return latent_prior(v)  # the very expression of every result so far
    if norm not in LATENT_PRIOR_NORMS:
        raise ValueError(f"latent_prior_norm={norm!r}: allowed values are "
                         f"{', '.join(LATENT_PRIOR_NORMS)}")
    total = v.pow(2).sum()  # v: (B, latent_dim)
    if norm == "sum":
        return total / v.shape[0]
    return total / (v.shape[0] * paper().latent_dim)


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
                  theta_norm: str = "mean", latent_norm: str = "mean",
                  ) -> dict[str, torch.Tensor]:
    """All terms (unweighted: ``latent_prior`` and ``theta_prior`` are mean(v^2) and
    mean(theta^2) whatever the norms) plus ``loss``, the weighted sum to backpropagate, whose
    a1 term is ``normalized_latent_prior(v, latent_norm)`` and whose a2 term is
    ``normalized_theta_prior(theta, theta_norm)``.

    ``theta`` None (variant ``autoencoder``: a conv decoder generates no weights): the loss is
    MSE + a1 * mean(v^2) [+ cls_weight * CE], and there is no ``theta_prior`` term at all; a2
    weighs nothing (reported as absent, not as 0)."""
    terms = {"mse": F.mse_loss(recon, images), "latent_prior": latent_prior(v)}
    pull = (terms["latent_prior"] if latent_norm == "mean"
            else normalized_latent_prior(v, latent_norm))
    if theta is None:
        loss = terms["mse"] + a1 * pull
        if logits is not None:
            terms["cls_ce"] = F.cross_entropy(logits, labels)
            loss = loss + cls_weight * terms["cls_ce"]
        terms["loss"] = loss
        return terms
    terms["theta_prior"] = theta_prior(theta)
    prior = (terms["theta_prior"] if theta_norm == "mean"
             else normalized_theta_prior(theta, theta_norm))
    loss = terms["mse"] + a1 * pull + a2 * prior
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


# ------------------------------------------------------------------------------ conversions
def prior_conversions(cfg: TrainingConfig, channels: int = 1) -> dict[str, float]:
    """Factors that turn a weight under ``mean`` into the weight with the same pull under
    another norm, for ``cfg``'s sizes: ``a1_sum`` = a1 / latent_dim, ``a1_paper`` =
    a1 x 256 / latent_dim, ``a2_sum`` = a2 / P, ``a2_paper`` = a2 x P_paper / P, with P the
    generated SIREN parameters per image of ``channels`` channels (the factor in each entry;
    multiply the weight by it)."""
    count = sum(out * inp + out for out, inp in siren_shapes(cfg.inr_depth, cfg.inr_width, 2,
                                                            channels))
    return {"latent_dim": cfg.latent_dim, "theta_count": count,
            "a1_sum": 1.0 / cfg.latent_dim, "a1_paper": paper().latent_dim / cfg.latent_dim,
            "a2_sum": 1.0 / count, "a2_paper": paper_theta_count(channels) / count}


def conversion_table(channels: int = 1) -> str:
    """``prior_conversions`` for each preset (and ``small`` at the ablation's latent and depth
    levels), as a plain-text table with the paper's weights (a1 0.1, a2 100) converted."""
    rows = [(name, PRESETS[name]()) for name in PRESETS]
    rows += [(f"small latent {d} depth {k}", PRESETS["small"](latent_dim=d, inr_depth=k))
             for d in (32, 64) for k in (3, 5)]
    head = (f"{'config':<24} {'latent':>6} {'theta/img':>9}  {'a1=0.1 as sum':>13} "
            f"{'as paper':>9}  {'a2=100 as sum':>13} {'as paper':>9}")
    lines = [f"Prior weights with the same pull per coordinate / parameter as a1 = 0.1 and "
             f"a2 = 100 under the default norm (mean), {channels} channel(s):", head]
    for name, cfg in rows:
        f = prior_conversions(cfg, channels)
        lines.append(f"{name:<24} {f['latent_dim']:>6} {f['theta_count']:>9}  "
                     f"{0.1 * f['a1_sum']:>13.4g} {0.1 * f['a1_paper']:>9.4g}  "
                     f"{100 * f['a2_sum']:>13.4g} {100 * f['a2_paper']:>9.4g}")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m hinr.losses [channels]: the conversions per preset
    import sys
    print(conversion_table(int(sys.argv[1]) if len(sys.argv) > 1 else 1))
