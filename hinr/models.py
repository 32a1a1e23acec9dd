"""The HyperINR: conv encoder -> latent v -> hyper-network -> per-image SIREN weights theta.

Shapes, with B images of C channels and size H x W, L SIREN layers of width W_h:

    image (B, C, H, W) --ConvEncoder--> v (B, latent_dim)
    v --HyperNetwork--> theta: L weights (B, out_l, in_l) and L biases (B, out_l)
    coords (H*W, 2) --Siren(theta)--> pixels (B, H*W, C) -> image (B, C, H, W)

Modules return tensors only; losses live in losses.py, logging in the training loop.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import ExperimentConfig

Theta = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: weight (B, out, in), bias (B, out)


# --------------------------------------------------------------------------------------
# Encoders

class ResBlock(nn.Module):
    """SIREN's Conv2dResBlock: two same-padded convs and a skip, ReLU after the sum."""

    def __init__(self, channels: int, kernel: int):
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(channels, channels, kernel, padding=kernel // 2), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, kernel, padding=kernel // 2), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.convs(x) + x)


class ConvEncoder(nn.Module):
    """SIREN's ConvImgEncoder, with the latent size and kernel as parameters.

    A 3x3 stem to channels/2, a 3x3 conv to channels, residual blocks, a 1x1 conv to latent_dim
    channels, then a learned linear read-out over the H*W positions (SIREN's ``fc``), so each
    latent coordinate is one channel summarised over space.  Works for any input size and
    channel count because the read-out is sized from ``image_size``.

    Two speed choices, both measured in ``benchmarks/step.py``:

    * the conv weights and activations are channels-last (NHWC), the layout oneDNN's CPU
      convolutions (and cuDNN's tensor-core kernels) prefer; NCHW made them reorder every
      tensor at every conv (``small``: 1.20x the CPU time per image, 1.04x wall on 2
      threads; ``paper``: 1.07x wall);
    * ``bf16=True`` (config ``precision: bf16``) runs the convs under bf16 autocast (``small``
      2.2x, ``paper`` 2.4x on a CPU with AMX; GPUs have native bf16 too).  Only the features: the read-out, the
      hyper-network and the SIREN stay float32, since sin(30 x) needs float32 x.
    """

    def __init__(self, in_channels: int, image_size: tuple[int, int], channels: int,
                 blocks: int, kernel: int, latent_dim: int, bf16: bool = False):
        super().__init__()
        stem = channels // 2
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, stem, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(stem, channels, 3, padding=1), nn.ReLU(inplace=True),
            *[ResBlock(channels, kernel) for _ in range(blocks)],
            nn.Conv2d(channels, latent_dim, 1), nn.ReLU(inplace=True))
        self.readout = nn.Linear(image_size[0] * image_size[1], 1)
        self.bf16 = bf16
        self.memory_format = torch.channels_last
        self.features.to(memory_format=self.memory_format)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        images = images.contiguous(memory_format=self.memory_format)
        if self.bf16:
            with torch.autocast(images.device.type, dtype=torch.bfloat16):
                f = self.features(images)
            f = f.float()
        else:
            f = self.features(images)  # (B, latent_dim, H, W), NHWC in memory
        # flatten copies NHWC to (B, latent_dim, H*W) contiguous for the read-out's matmul
        return self.readout(f.flatten(2)).squeeze(-1)  # (B, latent_dim, H*W) -> (B, latent_dim)


class PixelMLP(nn.Module):
    """The 2-layer pixel MLP of paper 4.2 (hidden = latent_dim); its hidden layer is v."""

    def __init__(self, in_features: int, latent_dim: int, num_classes: int = 10):
        super().__init__()
        self.hidden = nn.Sequential(nn.Flatten(), nn.Linear(in_features, latent_dim), nn.ReLU())
        self.head = nn.Linear(latent_dim, num_classes)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return self.hidden(images)  # (B, C*H*W) -> (B, latent_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(images))  # (B, num_classes)


class PretrainedEncoder(nn.Module):
    """Paper 4.2: v = the hidden activations of a pixel MLP pre-trained as a classifier.

    ``standardize``: what the MLP was pre-trained on is ``standardize(images)`` (a
    ``hinr.standardize.Standardizer``, None: raw pixels), so the encoder reads the same."""

    def __init__(self, mlp: PixelMLP, frozen: bool = True, standardize: nn.Module | None = None):
        super().__init__()
        self.hidden = mlp.hidden
        self.hidden.requires_grad_(not frozen)
        self.standardize = standardize if standardize is not None else nn.Identity()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.hidden(self.standardize(images))  # (B, latent_dim)


# --------------------------------------------------------------------------------------
# SIREN with per-image weights

def siren_shapes(depth: int, width: int, in_features: int = 2, out_features: int = 1,
                 ) -> list[tuple[int, int]]:
    """(out, in) of each SIREN layer: in -> width -> ... -> width -> out, ``depth`` layers."""
    dims = [in_features] + [width] * (depth - 1) + [out_features]
    return [(dims[i + 1], dims[i]) for i in range(depth)]


def siren_init_bound(layer: int, fan_in: int, omega0: float) -> float:
    """SIREN's uniform init bound: 1/fan_in for the first layer, sqrt(6/fan_in)/omega0 after,
    so that omega0 * (Wx + b) keeps unit-scale arcsine-distributed activations at every depth."""
    return 1.0 / fan_in if layer == 0 else math.sqrt(6.0 / fan_in) / omega0


class Siren(nn.Module):
    """A SIREN evaluated with a different weight set per image, in one batched matmul per layer.

    Every layer but the last computes sin(omega0 * (W x + b)), as SIREN's own code does (the
    factor also in hidden layers: without it, the hyper-network's small weights shrink the
    activations ~30x per layer).  The last layer is linear, giving pixel values.
    """

    def __init__(self, omega0: float):
        super().__init__()
        self.omega0 = omega0

    def forward(self, coords: torch.Tensor, theta: Theta) -> torch.Tensor:
        x = coords  # (N, 2), shared by every image; broadcast in the first matmul
        for i, (weight, bias) in enumerate(theta):
            # (B or 1, N, in) @ (B, in, out) + (B, 1, out) -> (B, N, out)
            x = torch.matmul(x, weight.transpose(1, 2)) + bias.unsqueeze(1)
            if i < len(theta) - 1:
                x = torch.sin(self.omega0 * x)
        return x  # (B, N, out)


def siren_reference(coords: torch.Tensor, theta_one: list[tuple[torch.Tensor, torch.Tensor]],
                    omega0: float) -> torch.Tensor:
    """One image's SIREN, written plainly (weight (out, in), bias (out,)); used by tests."""
    x = coords
    for i, (w, b) in enumerate(theta_one):
        x = x @ w.T + b
        if i < len(theta_one) - 1:
            x = torch.sin(omega0 * x)
    return x  # (N, out)


# --------------------------------------------------------------------------------------
# Hyper-network

class HyperNetwork(nn.Module):
    """One MLP head (latent -> hidden -> ReLU [-> hidden -> ReLU]... -> numel) per SIREN
    parameter tensor, with ``layers`` hidden ReLU layers (SIREN's FCBlock with
    hyper_hidden_layers=layers-1)."""

    def __init__(self, latent_dim: int, hidden: int, shapes: list[tuple[int, int]], omega0: float,
                 layers: int = 1, bias_init: str = "fan_in"):
        super().__init__()
        self.shapes = shapes
        heads = []
        for out_f, in_f in shapes:
            heads.append(self._head(latent_dim, hidden, out_f * in_f, layers))  # weight head
            heads.append(self._head(latent_dim, hidden, out_f, layers))  # bias head
        self.heads = nn.ModuleList(heads)
        init_hyper_heads(self, omega0, bias_init)

    @staticmethod
    def _head(latent_dim: int, hidden: int, out: int, layers: int) -> nn.Sequential:
        modules: list[nn.Module] = [nn.Linear(latent_dim, hidden), nn.ReLU(inplace=True)]
        for _ in range(layers - 1):
            modules += [nn.Linear(hidden, hidden), nn.ReLU(inplace=True)]
        return nn.Sequential(*modules, nn.Linear(hidden, out))

    def forward(self, v: torch.Tensor) -> Theta:
        theta = []
        for layer, (out_f, in_f) in enumerate(self.shapes):
            w = self.heads[2 * layer](v).view(-1, out_f, in_f)  # (B, out*in) -> (B, out, in)
            b = self.heads[2 * layer + 1](v)  # (B, out)
            theta.append((w, b))
        return theta


def init_hyper_heads(hyper: HyperNetwork, omega0: float, bias_init: str = "fan_in") -> None:
    """SIREN's hyper-network init: each head's last layer has Kaiming weights divided by 100, so
    theta depends only weakly on v at the start, and a bias drawn from the SIREN init of the
    tensor it produces, so the initial INR *is* a valid SIREN (right frequency scale per layer).
    SIREN's own code draws every weight bias from U(-1/fan_in, 1/fan_in); we use the exact
    per-layer SIREN bound (``siren_init_bound``) instead, which keeps hidden layers at the
    intended sqrt(6/fan_in)/omega0 scale.  Bias heads (the SIREN's own biases at init):
    ``bias_init`` "siren" is SIREN's hyper_bias_init, U(+-1/hidden) with hidden the fan-in of
    the head's last layer; "fan_in" is PyTorch's nn.Linear default for the SIREN layer,
    U(+-1/sqrt(in))."""
    if bias_init not in ("siren", "fan_in"):
        raise ValueError(f"bias_init={bias_init!r}: allowed values are siren, fan_in")
    for layer, (out_f, in_f) in enumerate(hyper.shapes):
        for k, head in enumerate((hyper.heads[2 * layer], hyper.heads[2 * layer + 1])):
            last = head[-1]
            nn.init.kaiming_normal_(last.weight, nonlinearity="relu", mode="fan_in")
            with torch.no_grad():
                last.weight.div_(100.0)
                bound = siren_init_bound(layer, in_f, omega0)
                if k == 1:  # bias tensor
                    bound = (1.0 / last.in_features if bias_init == "siren"
                             else 1.0 / math.sqrt(in_f))
                last.bias.uniform_(-bound, bound)


# --------------------------------------------------------------------------------------

class HyperINR(nn.Module):
    """Encoder + hyper-network + SIREN.  ``forward`` returns (reconstruction, v, theta)."""

    def __init__(self, cfg: ExperimentConfig, channels: int, image_size: tuple[int, int]):
        super().__init__()
        self.image_size = image_size
        self.channels = channels
        self.encoder: nn.Module = ConvEncoder(channels, image_size, cfg.encoder_channels,
                                              cfg.encoder_blocks, cfg.encoder_kernel, cfg.latent_dim,
                                              bf16=cfg.precision == "bf16")
        self.shapes = siren_shapes(cfg.inr_depth, cfg.inr_width, 2, channels)
        self.hyper = HyperNetwork(cfg.latent_dim, cfg.hyper_hidden, self.shapes, cfg.omega0,
                                  cfg.hyper_layers, cfg.bias_head_init)
        self.siren = Siren(cfg.omega0)

    def decode(self, theta: Theta, coords: torch.Tensor, size: tuple[int, int] | None = None,
               ) -> torch.Tensor:
        """Evaluate the INRs on ``coords`` (N, 2); reshape to images of ``size`` (default: own)."""
        h, w = size or self.image_size
        pixels = self.siren(coords, theta)  # (B, H*W, C)
        return pixels.transpose(1, 2).reshape(-1, self.channels, h, w)  # (B, C, H, W)

    def forward(self, images: torch.Tensor, coords: torch.Tensor,
                ) -> tuple[torch.Tensor, torch.Tensor, Theta]:
        v = self.encoder(images)  # (B, latent_dim)
        theta = self.hyper(v)
        return self.decode(theta, coords), v, theta


def theta_star(theta: Theta, width: int) -> torch.Tensor:
    """The paper's theta*: every layer's weight tiled to (width, width) and stacked, (B, L, W, W).

    The first layer (W, 2) is repeated along its input dimension and the last (C, W) along its
    output dimension (the paper: "we repeat weights theta_1 and theta_5 in dimensions 2 and 1")."""
    tiles = []
    for w, _ in theta:  # w: (B, out, in)
        reps_out = math.ceil(width / w.shape[1])
        reps_in = math.ceil(width / w.shape[2])
        tiles.append(w.repeat(1, reps_out, reps_in)[:, :width, :width])  # (B, W, W)
    return torch.stack(tiles, dim=1)  # (B, L, W, W)
