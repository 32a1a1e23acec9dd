"""A straightforward HyperINR: the yardstick that ``benchmarks/step.py`` times hinr against.

``ReferenceHyperINR`` computes the same function as ``hinr.models.HyperINR`` written the plain
way, with nothing shared with hinr's model code:

* the conv encoder is a flat list of ``nn.Conv2d`` in the default (NCHW) memory format;
* the hyper-network has one independent MLP head (latent -> hidden -> ReLU, ``hyper_layers``
  times, -> numel) per SIREN parameter tensor, called one after the other;
* the SIREN is evaluated image by image in a Python loop (``x @ W.T + b`` per layer).

``reference_loss`` is the HyperINR objective written out again (MSE + a1 mean(v^2) +
a2 mean(theta^2)), so a loss that agrees with ``hinr.losses.hyperinr_loss`` on the same batch
checks hinr's model *and* loss.  ``copy_from_hinr`` loads a hinr ``HyperINR``'s weights, after
which both give the same loss and gradients (up to float rounding).

    ref = ReferenceHyperINR.like(model)      # same sizes as a hinr HyperINR, its weights copied
    terms = reference_loss(ref, images, coords, a1, a2)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ReferenceHyperINR(nn.Module):
    def __init__(self, channels: int, image_size: tuple[int, int], latent_dim: int,
                 encoder_channels: int, encoder_blocks: int, encoder_kernel: int,
                 inr_depth: int, inr_width: int, hyper_hidden: int, omega0: float,
                 hyper_layers: int = 1):
        super().__init__()
        self.channels, self.image_size, self.omega0 = channels, tuple(image_size), omega0
        stem, k = encoder_channels // 2, encoder_kernel
        self.stem = nn.Conv2d(channels, stem, 3, padding=1)
        self.widen = nn.Conv2d(stem, encoder_channels, 3, padding=1)
        # residual block i: convs[2i], convs[2i+1]
        self.convs = nn.ModuleList(nn.Conv2d(encoder_channels, encoder_channels, k, padding=k // 2)
                                   for _ in range(2 * encoder_blocks))
        self.to_latent = nn.Conv2d(encoder_channels, latent_dim, 1)
        self.readout = nn.Linear(image_size[0] * image_size[1], 1)
        dims = [2] + [inr_width] * (inr_depth - 1) + [channels]
        self.shapes = [(dims[i + 1], dims[i]) for i in range(inr_depth)]  # (out, in) per layer
        self.weight_heads = nn.ModuleList(self._head(latent_dim, hyper_hidden, o * i, hyper_layers)
                                          for o, i in self.shapes)
        self.bias_heads = nn.ModuleList(self._head(latent_dim, hyper_hidden, o, hyper_layers)
                                        for o, _ in self.shapes)

    @staticmethod
    def _head(latent_dim: int, hidden: int, out: int, layers: int) -> nn.Module:
        dims = [latent_dim] + [hidden] * layers
        hidden_layers = [m for a, b in zip(dims, dims[1:]) for m in (nn.Linear(a, b), nn.ReLU())]
        return nn.Sequential(*hidden_layers, nn.Linear(hidden, out))

    @classmethod
    def like(cls, model: nn.Module) -> "ReferenceHyperINR":
        """A reference of the same sizes as hinr ``HyperINR`` ``model``, with its weights."""
        enc = model.encoder
        convs = [m for m in enc.features.modules() if isinstance(m, nn.Conv2d)]
        head = model.hyper.heads[0]
        ref = cls(channels=model.channels, image_size=model.image_size,
                  latent_dim=convs[-1].out_channels, encoder_channels=convs[1].out_channels,
                  encoder_blocks=(len(convs) - 3) // 2,
                  encoder_kernel=convs[2].kernel_size[0] if len(convs) > 3 else 3,
                  inr_depth=len(model.shapes), inr_width=model.shapes[0][0],
                  hyper_hidden=head[0].out_features, omega0=model.siren.omega0,
                  hyper_layers=len(_linears(head)) - 1)
        ref = ref.to(next(model.parameters()).device)
        copy_from_hinr(ref, model)
        return ref

    # --------------------------------------------------------------------------------
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.stem(images))
        x = F.relu(self.widen(x))
        for i in range(0, len(self.convs), 2):
            y = F.relu(self.convs[i](x))
            y = F.relu(self.convs[i + 1](y))
            x = F.relu(y + x)
        x = F.relu(self.to_latent(x))  # (B, latent, H, W)
        b, c, h, w = x.shape
        return self.readout(x.reshape(b, c, h * w)).reshape(b, c)  # (B, latent)

    def hyper(self, v: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        theta = []
        for (o, i), wh, bh in zip(self.shapes, self.weight_heads, self.bias_heads):
            theta.append((wh(v).reshape(-1, o, i), bh(v)))  # (B, out, in), (B, out)
        return theta

    def siren_one(self, coords: torch.Tensor, theta_b: list[tuple[torch.Tensor, torch.Tensor]],
                  ) -> torch.Tensor:
        x = coords  # (N, 2)
        for layer, (w, b) in enumerate(theta_b):
            x = x @ w.T + b
            if layer < len(theta_b) - 1:
                x = torch.sin(self.omega0 * x)
        return x  # (N, channels)

    def forward(self, images: torch.Tensor, coords: torch.Tensor):
        v = self.encode(images)
        theta = self.hyper(v)
        h, w = self.image_size
        recon = []
        for b in range(images.shape[0]):  # one SIREN per image
            pixels = self.siren_one(coords, [(wt[b], bs[b]) for wt, bs in theta])  # (N, C)
            recon.append(pixels.T.reshape(self.channels, h, w))
        return torch.stack(recon), v, theta  # (B, C, H, W), (B, latent), theta


def reference_loss(model: ReferenceHyperINR, images: torch.Tensor, coords: torch.Tensor,
                   a1: float, a2: float) -> dict[str, torch.Tensor]:
    """The HyperINR objective, written out: MSE + a1 mean(v^2) + a2 mean(all theta entries^2)."""
    recon, v, theta = model(images, coords)
    mse = ((recon - images) ** 2).mean()
    latent_prior = (v ** 2).mean()
    flat = torch.cat([t.reshape(-1) for pair in theta for t in pair])
    theta_prior = (flat ** 2).mean()
    return {"mse": mse, "latent_prior": latent_prior, "theta_prior": theta_prior,
            "loss": mse + a1 * latent_prior + a2 * theta_prior}


@torch.no_grad()
def copy_from_hinr(ref: ReferenceHyperINR, model: nn.Module) -> None:
    """Copy a hinr ``HyperINR``'s weights into ``ref`` (same sizes), tensor by tensor."""
    convs = [m for m in model.encoder.features.modules() if isinstance(m, nn.Conv2d)]
    mine = [ref.stem, ref.widen, *ref.convs, ref.to_latent]
    if len(convs) != len(mine):
        raise ValueError(f"encoder has {len(convs)} convs, reference {len(mine)}")
    pairs = list(zip(mine, convs)) + [(ref.readout, model.encoder.readout)]
    heads = model.hyper.heads
    for layer in range(len(ref.shapes)):
        for dst, src in ((ref.weight_heads[layer], heads[2 * layer]),
                         (ref.bias_heads[layer], heads[2 * layer + 1])):
            pairs += list(zip(_linears(dst), _linears(src)))
    for dst, src in pairs:
        if dst.weight.shape != src.weight.shape:
            raise ValueError(f"shape mismatch {tuple(dst.weight.shape)} "
                             f"vs {tuple(src.weight.shape)}")
        dst.weight.copy_(src.weight)
        dst.bias.copy_(src.bias)


def matching_grads(ref: ReferenceHyperINR, model: nn.Module,
                   ) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(name, reference grad, hinr grad) for every parameter, paired as ``copy_from_hinr`` pairs."""
    convs = [m for m in model.encoder.features.modules() if isinstance(m, nn.Conv2d)]
    mine = [ref.stem, ref.widen, *ref.convs, ref.to_latent]
    named = [(f"conv{i}", a, b) for i, (a, b) in enumerate(zip(mine, convs))]
    named.append(("readout", ref.readout, model.encoder.readout))
    heads = model.hyper.heads
    for layer in range(len(ref.shapes)):
        for kind, dst, src in (("w", ref.weight_heads[layer], heads[2 * layer]),
                               ("b", ref.bias_heads[layer], heads[2 * layer + 1])):
            named += [(f"head{layer}{kind}.{j}", a, b)
                      for j, (a, b) in enumerate(zip(_linears(dst), _linears(src)))]
    out = []
    for name, a, b in named:
        out.append((f"{name}.weight", a.weight.grad, b.weight.grad))
        out.append((f"{name}.bias", a.bias.grad, b.bias.grad))
    return out


def _linears(head: nn.Module) -> list[nn.Linear]:
    return [m for m in head if isinstance(m, nn.Linear)]
