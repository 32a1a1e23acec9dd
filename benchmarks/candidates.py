"""Prototypes of changes to hinr's training step, kept here so the benchmark can time them
side by side with hinr as it is, without touching hinr.

Each is a drop-in for a piece of ``hinr.models.HyperINR`` that computes the same function from
the same weights (copied from a hinr model), so the benchmark's loss check covers it:

* ``BatchedHyperNetwork``: every head's first layer in one matmul (their weights stacked), and
  the heads' second layers grouped by output size, one batched matmul per group (3-4 calls in
  all instead of one Linear pair per head).
* channels-last: the encoder's weights and input in ``torch.channels_last`` (NHWC), the layout
  oneDNN's convolutions prefer on CPU.
* bf16 encoder: the conv features under ``torch.autocast(dtype=bfloat16)``; read-out,
  hyper-network and SIREN stay in float32 (sin(30 x) needs float32 x).  Changes the numbers:
  the loss agrees with float32 to about 1e-3 relative, not to rounding.

``build_variant`` returns a model with any mix of these, its weights copied from a hinr model.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from hinr.models import HyperINR, Theta


class BatchedHyperNetwork(nn.Module):
    """hinr's ``HyperNetwork`` (one 2-layer MLP head per SIREN tensor) in few matmuls.

    First layers: ``w1`` (heads*hidden, latent), one ``addmm`` for all heads.  Second layers:
    heads of equal output size share one stacked weight (g, out, hidden), one ``baddbmm``.
    """

    def __init__(self, hyper: nn.Module):
        super().__init__()
        self.shapes = list(hyper.shapes)
        heads = list(hyper.heads)
        self.hidden = heads[0][0].out_features
        self.n_heads = len(heads)
        with torch.no_grad():
            self.w1 = nn.Parameter(torch.cat([h[0].weight for h in heads]).clone())
            self.b1 = nn.Parameter(torch.cat([h[0].bias for h in heads]).clone())
        sizes = [h[2].out_features for h in heads]
        groups: dict[int, list[int]] = {}
        for k, size in enumerate(sizes):
            groups.setdefault(size, []).append(k)
        self.groups = list(groups.items())  # (out size, head indices)
        self.w2 = nn.ParameterList()
        self.b2 = nn.ParameterList()
        with torch.no_grad():
            for _, idx in self.groups:
                self.w2.append(nn.Parameter(torch.stack([heads[k][2].weight.T for k in idx])
                                            .contiguous()))  # (g, hidden, out)
                self.b2.append(nn.Parameter(torch.stack([heads[k][2].bias for k in idx])
                                            .unsqueeze(1).contiguous()))  # (g, 1, out)

    def forward(self, v: torch.Tensor) -> Theta:
        b = v.shape[0]
        h = torch.relu(torch.addmm(self.b1, v, self.w1.T))  # (B, heads*hidden)
        h = h.view(b, self.n_heads, self.hidden).transpose(0, 1)  # (heads, B, hidden)
        outs: list[torch.Tensor | None] = [None] * self.n_heads
        for (_, idx), w2, b2 in zip(self.groups, self.w2, self.b2):
            hg = h[idx[0]:idx[0] + 1] if len(idx) == 1 else h[idx]  # (g, B, hidden)
            y = torch.baddbmm(b2, hg, w2)  # (g, B, out)
            for j, k in enumerate(idx):
                outs[k] = y[j]
        theta = []
        for layer, (out_f, in_f) in enumerate(self.shapes):
            theta.append((outs[2 * layer].view(b, out_f, in_f), outs[2 * layer + 1]))
        return theta


class EncoderVariant(nn.Module):
    """hinr's ``ConvEncoder`` with an optional NHWC layout and bf16 autocast of the convs."""

    def __init__(self, encoder: nn.Module, channels_last: bool, bf16: bool):
        super().__init__()
        self.features = encoder.features
        self.readout = encoder.readout
        self.channels_last, self.bf16 = channels_last, bf16
        if channels_last:
            self.features.to(memory_format=torch.channels_last)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        if self.bf16:
            with torch.autocast(images.device.type, dtype=torch.bfloat16):
                f = self.features(images)
            f = f.float()
        else:
            f = self.features(images)  # (B, latent, H, W)
        return self.readout(f.flatten(2)).squeeze(-1)  # (B, latent)


def build_variant(model: HyperINR, channels_last: bool = False, batched_heads: bool = False,
                  bf16_encoder: bool = False) -> HyperINR:
    """A deep copy of hinr ``model`` with the chosen changes; same weights, same forward API."""
    out = copy.deepcopy(model)
    if channels_last or bf16_encoder:
        out.encoder = EncoderVariant(out.encoder, channels_last, bf16_encoder)
    if batched_heads:
        out.hyper = BatchedHyperNetwork(out.hyper)
    return out
