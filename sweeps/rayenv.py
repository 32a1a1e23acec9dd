"""Settings Ray reads once, when it is imported: every module of ``sweeps`` that imports Ray
imports this first, so whichever of them a program imports first, Ray sees the same settings.
"""

import os

# Token authentication, explicitly and before Ray is imported (Ray reads it once): Ray 2.60's
# gRPC servers listen on every interface (it maps 127.0.0.1 to the routable node IP), so the
# token is what keeps other hosts out.  A cluster that runs without tokens must say so itself.
os.environ.setdefault("RAY_AUTH_MODE", "token")
# The classic table reporter shows the columns we choose (with --verbose); the newer one ignores
# them.  Quiet (the default) Tune runs at verbose=0, which under this setting prints no table.
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
# Final-only metrics (latent_acc, ...) are absent from per-epoch results; Tune must not reject them.
os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")
# One checkpoint per epoch per trial is by design; the snapshot-frequency warning is noise here.
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
