"""Offsets from a trial's seed, one per random stream that must not share draws with another.

A trial's ``cfg.seed`` seeds model init and the training shuffle itself; every other consumer
below seeds its own generator at ``cfg.seed + offset``.  Distinct offsets keep the streams
apart (a probe drawing the same numbers as the training shuffle would correlate the two), and
fixed offsets keep every number reproducible from ``cfg.seed`` alone.  The values are what
every result so far was computed with: changing one changes results.
"""

# Pixel-MLP pre-training (variant pretrained, paper 4.2): its own init and batch order.
PRETRAIN = 1
# The latent MLP probe on frozen v (latent_acc): init and batches.
LATENT_PROBE = 2
# The weight CNN probe on the SIREN weights theta (weight_acc): init and batches.
WEIGHT_PROBE = 3
# Pixel baselines (pixel_mlp_acc, pixel_cnn_acc): each its own stream, so each baseline is
# the same whichever trial computes it first (they are cached per dataset, split and seed).
PIXEL_MLP = 4
PIXEL_CNN = 5
# Masks and noise of the image operations (sr/inpaint/denoise): a prime far from the small
# offsets above, so they never collide with another stream of a neighbouring seed
# (seed s + 2 is seed s + 1's + 1; 7919 apart they would need seeds 7,000+ apart).
IMAGE_OPS = 7919
