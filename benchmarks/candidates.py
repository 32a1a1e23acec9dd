"""Variants of hinr's training step that hinr does not ship, kept here so that the benchmark
can time them side by side with hinr as it is, without touching hinr.

Each computes the same function from the same weights (copied from a hinr model), so the
benchmark's loss check covers it:

* ``BatchedHyperNetwork`` (a candidate, not adopted: 1.01x on ``small``, where the heads are a
  few percent of the FLOPs): every head's first layer in one matmul (their weights stacked),
  and the heads' second layers grouped by output size, one batched matmul per group (3-4 calls
  in all instead of one Linear pair per head).
* ``nchw``: undoes a change hinr made, the channels-last (NHWC) encoder, so that the benchmark
  keeps showing what that change gives.

``build_variant`` returns a copy of a hinr model with any mix of these.
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
        if any(len(h) != 3 for h in heads):
            raise ValueError("+batched_heads models heads of one hidden layer only "
                             "(hyper_layers: 1); this model's have more")
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


def nchw(model: HyperINR) -> HyperINR:
    """``model`` with its conv encoder back in the default NCHW layout (in place)."""
    model.encoder.memory_format = torch.contiguous_format
    model.encoder.features.to(memory_format=torch.contiguous_format)
    return model


def build_variant(model: HyperINR, channels_last: bool = True, batched_heads: bool = False,
                  ) -> HyperINR:
    """A deep copy of hinr ``model`` with the chosen changes; same weights, same forward API."""
    out = copy.deepcopy(model)
    if not channels_last:
        nchw(out)
    if batched_heads:
        out.hyper = BatchedHyperNetwork(out.hyper)
    return out
