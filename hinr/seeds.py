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
# Label efficiency (config label_counts): the class-balanced label subsets, and the two linear
# probes (on v, on theta*).  The MLP and CNN probes keep their own offsets above at every label
# count, so a probe starts from the same weights whatever labels it gets.  Primes near
# IMAGE_OPS, 8 to 12 apart: seeds 0-7 of a sweep never share a stream between two of them.
LABEL_SUBSETS = 7927
LATENT_LINEAR = 7937
WEIGHT_LINEAR = 7949
