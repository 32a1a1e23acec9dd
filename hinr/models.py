"""The HyperINR: conv encoder -> latent v -> hyper-network -> per-image SIREN weights theta.

Shapes, with B images of C channels and size H x W, L SIREN layers of width W_h:

    image (B, C, H, W) --ConvEncoder--> v (B, latent_dim)
    v --HyperNetwork--> theta: L weights (B, out_l, in_l) and L biases (B, out_l)
    coords (H*W, 2) --Siren(theta)--> pixels (B, H*W, C) -> image (B, C, H, W)

The controls of issue 28 (config ``variant``) swap one part and keep the encoder:
``ConvAutoencoder`` decodes v with an ordinary conv decoder (``ConvDecoder``, of about the
hyper-network's parameter count) instead of hyper-network + SIREN, and ``EncoderOnly`` is the
encoder alone, left at its seeded random init.  ``build_model`` picks one per variant.

Modules return tensors only; losses live in losses.py, logging in the training loop.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import TrainingConfig

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

    def __init__(self, cfg: TrainingConfig, channels: int, image_size: tuple[int, int]):
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


# --------------------------------------------------------------------------------------
# The controls of issue 28: the same encoder without the hyper-network and the INR

class ConvDecoder(nn.Module):
    """An ordinary conv decoder, v -> image, of the DCGAN shape (Radford et al. 2016), with
    nearest-neighbour upsampling followed by a 3x3 conv instead of transposed convs (no
    checkerboard artefacts, Odena et al. 2016).  Shapes, width c (even), image (C, H, W),
    h0 = ceil(H / 4), w0 = ceil(W / 4):

        v (B, latent) --Linear, ReLU--> (B, 2c * h0 * w0) -> (B, 2c, h0, w0)
        --upsample x2, conv3x3 2c->c, ReLU--> (B, c, 2 h0, 2 w0)
        --upsample x2, conv3x3 c->c/2, ReLU--> (B, c/2, 4 h0, 4 w0)
        --conv3x3 c/2->C--> (B, C, 4 h0, 4 w0) -> cropped to (B, C, H, W)

    The output is linear, like the SIREN's last layer: images live in [-1, 1] and the MSE
    and PSNR read them as they are (PSNR clips).  ``width=0`` picks c by ``decoder_width``."""

    def __init__(self, latent_dim: int, channels: int, image_size: tuple[int, int], width: int):
        super().__init__()
        if width < 2 or width % 2:
            raise ValueError(f"ConvDecoder width={width}: allowed even integers >= 2")
        self.image_size = image_size
        self.width = width
        self.start = (math.ceil(image_size[0] / 4), math.ceil(image_size[1] / 4))  # (h0, w0)
        self.readin = nn.Sequential(
            nn.Linear(latent_dim, 2 * width * self.start[0] * self.start[1]), nn.ReLU(inplace=True))
        self.convs = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(2 * width, width, 3, padding=1), nn.ReLU(inplace=True),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(width, width // 2, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(width // 2, channels, 3, padding=1))
        init_conv_decoder(self)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        h0, w0 = self.start
        x = self.readin(v).view(-1, 2 * self.width, h0, w0)  # (B, 2c*h0*w0) -> (B, 2c, h0, w0)
        x = self.convs(x)  # (B, C, 4 h0, 4 w0)
        h, w = self.image_size
        return x[:, :, :h, :w]  # (B, C, H, W): the crop of a size not divisible by 4


def init_conv_decoder(decoder: ConvDecoder) -> None:
    """Kaiming-normal weights (fan-in, ReLU gain) and zero biases for every layer followed by
    a ReLU: He et al. 2015's init keeps the activations' second moment constant through ReLU
    layers, so the decoder starts neither saturated nor vanishing whatever its width (the
    width is chosen to match a parameter count, not by hand).  The last conv, which has no
    ReLU after it, gets Xavier-uniform weights scaled by 0.1 and a zero bias: the first
    reconstructions are then small values around 0 (mid-grey, like the HyperINR's initial
    SIREN, whose heads are divided by 100), not large outputs that would make the first MSE
    steps a scale correction rather than learning."""
    layers = [m for m in decoder.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    for layer in layers[:-1]:
        nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
        nn.init.zeros_(layer.bias)
    last = layers[-1]
    nn.init.xavier_uniform_(last.weight, gain=0.1)
    nn.init.zeros_(last.bias)


def conv_decoder_params(latent_dim: int, channels: int, image_size: tuple[int, int],
                        width: int) -> int:
    """Parameters of ``ConvDecoder(latent_dim, channels, image_size, width)``, by formula."""
    h0, w0 = math.ceil(image_size[0] / 4), math.ceil(image_size[1] / 4)
    readin = (latent_dim + 1) * 2 * width * h0 * w0
    convs = (9 * 2 * width + 1) * width + (9 * width + 1) * (width // 2)
    return readin + convs + (9 * (width // 2) + 1) * channels


def hyper_params(cfg: TrainingConfig, channels: int) -> int:
    """Parameters of the hyper-network that ``cfg`` builds for images of ``channels`` channels
    (the SIREN itself has none: its weights are the hyper-network's outputs)."""
    total = 0
    for out_f, in_f in siren_shapes(cfg.inr_depth, cfg.inr_width, 2, channels):
        for numel in (out_f * in_f, out_f):  # the weight head, the bias head
            hidden = (cfg.latent_dim + 1) * cfg.hyper_hidden
            hidden += (cfg.hyper_layers - 1) * (cfg.hyper_hidden + 1) * cfg.hyper_hidden
            total += hidden + (cfg.hyper_hidden + 1) * numel
    return total


def decoder_width(cfg: TrainingConfig, channels: int, image_size: tuple[int, int]) -> int:
    """The even width c whose ``ConvDecoder`` has the parameter count nearest to the
    hyper-network's (``hyper_params``), so that the autoencoder control decodes v with as
    many parameters as hyper-network + SIREN.  On MNIST (1 x 28 x 28): ``small`` c = 74,
    595,035 decoder parameters against the hyper-network's 590,785 (+0.7%); ``paper`` c =
    1,064, 52,276,449 against 52,304,897; ``tiny`` c = 4, 7,049 against 7,361
    (``tests/test_controls.py`` checks these counts).  Equal parameters are not equal
    compute: on ``small`` the decoder costs ~39 M multiply-adds per image against ~7 M for
    hyper-network + SIREN (the encoder, ~134 M, dominates both)."""
    target = hyper_params(cfg, channels)
    best, width = None, 2
    while True:
        n = conv_decoder_params(cfg.latent_dim, channels, image_size, width)
        if best is None or abs(n - target) < abs(best[1] - target):
            best = (width, n)
        if n > target:
            return best[0]
        width += 2


class ConvAutoencoder(nn.Module):
    """Variant ``autoencoder``: the HyperINR's encoder (the same class, built first from the
    same seed, so it starts from the same weights) and a ``ConvDecoder`` of about the
    hyper-network's parameter count.  ``forward`` returns (reconstruction, v, None): there is
    no theta, so the a2 prior has nothing to weigh and the weight probes nothing to read.
    ``coords`` is accepted and unused: a conv decoder draws its own pixel grid only."""

    def __init__(self, cfg: TrainingConfig, channels: int, image_size: tuple[int, int]):
        super().__init__()
        self.image_size = image_size
        self.channels = channels
        self.encoder: nn.Module = _encoder(cfg, channels, image_size)
        self.decoder = ConvDecoder(cfg.latent_dim, channels, image_size,
                                   decoder_width(cfg, channels, image_size))

    def forward(self, images: torch.Tensor, coords: torch.Tensor | None = None,
                ) -> tuple[torch.Tensor, torch.Tensor, None]:
        v = self.encoder(images)  # (B, latent_dim)
        return self.decoder(v), v, None  # (B, C, H, W), (B, latent_dim), no theta


class EncoderOnly(nn.Module):
    """Variant ``random_encoder``: the HyperINR's encoder alone (built first from the same
    seed: the weights plain starts from), never trained; the probes read its v.  It has no
    decoder, so ``forward`` returns (None, v, None): nothing is reconstructed."""

    def __init__(self, cfg: TrainingConfig, channels: int, image_size: tuple[int, int]):
        super().__init__()
        self.image_size = image_size
        self.channels = channels
        self.encoder: nn.Module = _encoder(cfg, channels, image_size)
        self.encoder.requires_grad_(False)

    def forward(self, images: torch.Tensor, coords: torch.Tensor | None = None,
                ) -> tuple[None, torch.Tensor, None]:
        return None, self.encoder(images), None  # v: (B, latent_dim)


def _encoder(cfg: TrainingConfig, channels: int, image_size: tuple[int, int]) -> ConvEncoder:
    """The HyperINR's encoder as ``HyperINR`` builds it (the controls' first module)."""
    return ConvEncoder(channels, image_size, cfg.encoder_channels, cfg.encoder_blocks,
                       cfg.encoder_kernel, cfg.latent_dim, bf16=cfg.precision == "bf16")


def build_model(cfg: TrainingConfig, channels: int, image_size: tuple[int, int]) -> nn.Module:
    """The trial's model for ``cfg.variant``: HyperINR (plain, pretrained, classifier_loss),
    ConvAutoencoder (autoencoder) or EncoderOnly (random_encoder).  Each builds its encoder
    first, so at one seed all start from the same encoder weights."""
    if cfg.variant == "autoencoder":
        return ConvAutoencoder(cfg, channels, image_size)
    if cfg.variant == "random_encoder":
        return EncoderOnly(cfg, channels, image_size)
    return HyperINR(cfg, channels, image_size)
