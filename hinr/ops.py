"""Appendix A's image operations, each scored as PSNR on the test split next to its naive baseline.

* super-resolution: the input is downsampled x2 (average pooling) and re-upsampled bilinearly;
  the HyperINR's reconstruction of that blurry input is compared with the original.
  Baseline: the bilinear image itself.
* inpainting: a random square (a quarter of the side) is hidden and filled with the image's
  visible mean; PSNR inside the hole.  Baseline: that mean fill.
* denoising: Gaussian noise of sigma 0.2 on the [0, 1] scale (0.4 on [-1, 1]).
  Baseline: the noisy image.

``reconstruct`` maps images (B, C, H, W) in [-1, 1] to reconstructions of the same shape.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from .losses import psnr

NOISE_SIGMA_UNIT = 0.2  # on the [0, 1] scale


def degrade_superres(images: torch.Tensor) -> torch.Tensor:
    h, w = images.shape[-2:]
    low = F.avg_pool2d(images, 2, ceil_mode=True)  # (B, C, H/2, W/2)
    return F.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)  # (B, C, H, W)


def hole_mask(images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A random square per image, side = a quarter of the image side: bool (B, C, H, W)."""
    b, c, h, w = images.shape
    side = max(1, h // 4)
    mask = torch.zeros(b, 1, h, w, dtype=torch.bool)
    tops = torch.randint(0, h - side + 1, (b,), generator=gen)
    lefts = torch.randint(0, w - side + 1, (b,), generator=gen)
    for i in range(b):  # B small squares: cheaper than building index grids
        mask[i, :, tops[i]:tops[i] + side, lefts[i]:lefts[i] + side] = True
    return mask.expand(b, c, h, w).to(images.device)


def mean_fill(images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    visible = (~mask).to(images.dtype)
    mean = (images * visible).sum((1, 2, 3), keepdim=True) / visible.sum((1, 2, 3), keepdim=True)
    return torch.where(mask, mean.expand_as(images), images)


def add_noise(images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    noise = torch.randn(images.shape, generator=gen).to(images.device)
    return images + 2 * NOISE_SIGMA_UNIT * noise  # [-1, 1] spans 2 units of [0, 1]


@torch.no_grad()
def evaluate_ops(reconstruct: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor,
                 seed: int, batch_size: int = 128) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """PSNRs of the three operations and their baselines, plus example grids (first 8 images)."""
    gen = torch.Generator().manual_seed(seed + 7919)  # fixed masks and noise per seed
    sums: dict[str, float] = {}
    examples: dict[str, torch.Tensor] = {}
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size]
        blurry = degrade_superres(x)
        mask = hole_mask(x, gen)
        holed = mean_fill(x, mask)
        noisy = add_noise(x, gen)
        out_sr, out_in, out_dn = reconstruct(blurry), reconstruct(holed), reconstruct(noisy)
        scores = {"sr_psnr": psnr(out_sr, x), "sr_bilinear_psnr": psnr(blurry, x),
                  "inpaint_psnr": psnr(out_in, x, mask), "inpaint_meanfill_psnr": psnr(holed, x, mask),
                  "denoise_psnr": psnr(out_dn, x), "denoise_noisy_psnr": psnr(noisy, x)}
        for k, val in scores.items():
            sums[k] = sums.get(k, 0.0) + float(val.sum())
        if start == 0:
            n = min(8, len(x))
            examples = {"superres": torch.cat([x[:n], blurry[:n], out_sr[:n]]),
                        "inpainting": torch.cat([x[:n], holed[:n], out_in[:n]]),
                        "denoising": torch.cat([x[:n], noisy[:n], out_dn[:n]])}
    metrics = {k: s / len(images) for k, s in sums.items()}
    for op, base in (("sr", "sr_bilinear"), ("inpaint", "inpaint_meanfill"), ("denoise", "denoise_noisy")):
        metrics[f"{op}_gain_db"] = metrics[f"{op}_psnr"] - metrics[f"{base}_psnr"]
    return metrics, examples
