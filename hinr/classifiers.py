"""Downstream classifiers of the paper: on frozen latents v (4.1, 4.2), on theta* (4.1), the
joint head of section 5, and pixel baselines.  Modules only; training lives in fitting.py, and
every one of them reads its input standardised as hinr.standardize says."""

from __future__ import annotations

from torch import nn


class LatentMLP(nn.Module):
    """2 layers, hidden 256 (paper Fig. 5 and the joint head of Fig. 9): v -> logits."""

    def __init__(self, latent_dim: int, num_classes: int = 10, hidden: int = 256):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, num_classes))

    def forward(self, v):
        return self.net(v)  # (B, num_classes)


class WeightCNN(nn.Module):
    """Paper Fig. 6: four conv layers then three linear layers on theta* (B, L, W, W).

    The convs stride 2 where the map is still large, and an adaptive pool to 4x4 makes the head
    independent of the INR width."""

    def __init__(self, depth: int, num_classes: int = 10, channels: int = 16):
        super().__init__()
        c = channels
        self.features = nn.Sequential(
            nn.Conv2d(depth, c, 3, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(2 * c, 2 * c, 3, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(2 * c, 2 * c, 3, padding=1), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(4))
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(2 * c * 16, 256), nn.ReLU(inplace=True),
            nn.Linear(256, 128), nn.ReLU(inplace=True), nn.Linear(128, num_classes))

    def forward(self, theta_star):
        return self.head(self.features(theta_star))  # (B, L, W, W) -> (B, 2c, 4, 4) -> (B, classes)


class PixelClassifierCNN(nn.Module):
    """A small conv baseline on raw pixels (two conv blocks and a linear head)."""

    def __init__(self, channels: int, num_classes: int = 10, width: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(2 * width * 16, num_classes))

    def forward(self, images):
        return self.net(images)  # (B, num_classes)


class LinearProbe(nn.Module):
    """The label-efficiency linear probe: one linear layer on the flattened, standardised
    input (v (B, D), or theta* (B, L, W, W) -> (B, L*W*W)) -> logits.

    A torch layer trained like every other probe of the project (``train_classifier``: Adam,
    the probes' lr and batch, the same standardised inputs), not scikit-learn's
    LogisticRegression (which requirements.lock does hold): theta* is generated batch by batch
    from v, and a whole split of it does not fit in memory for L-BFGS (54,000 x 16,384 floats,
    3.5 GB, on ``small``; 20x that on ``paper``); one training loop for every probe keeps the
    linear and non-linear probes comparable and runs on the trial's device.  It is therefore
    trained for a step budget, not to convergence."""

    def __init__(self, in_features: int, num_classes: int = 10):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, num_classes))

    def forward(self, x):
        return self.net(x)  # (B, ...) -> (B, in_features) -> (B, num_classes)
