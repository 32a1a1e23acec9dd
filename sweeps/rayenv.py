"""The environment Ray reads once, when it is imported: ``configure()`` sets it.

Call it first, before anything imports ``ray``: ``launch.py``, the benchmarks and
``tests/conftest.py`` do, and ``sweeps/__init__`` does on import (see there why).  Ray reads
these variables at its own import and the processes it starts inherit them, so a Ray
imported earlier keeps the settings it saw then: with token authentication that is the
"Failed to start GCS ... InvalidAuthToken" failure (a driver that read auth mode 'disabled'
starting a GCS that inherited 'token').  The trial workers need no call of their own: the
raylet that starts them inherits the driver's environment.

Each value is a default (``setdefault``): a setting the user exported wins, and calling
``configure()`` again changes nothing.
"""

import os

DEFAULTS = {
    # Token authentication, explicitly: Ray 2.60's gRPC servers listen on every interface (it
    # maps 127.0.0.1 to the routable node IP), so the token is what keeps other hosts out.  A
    # cluster that runs without tokens must say so itself.
    "RAY_AUTH_MODE": "token",
    # The classic table reporter shows the columns we choose (with --verbose); the newer one
    # ignores them.  Quiet (the default) Tune runs at verbose=0, which under this prints no table.
    "RAY_AIR_NEW_OUTPUT": "0",
    # Final-only metrics (latent_acc, ...) are absent from per-epoch results; Tune must not
    # reject them.
    "TUNE_DISABLE_STRICT_METRIC_CHECKING": "1",
    # A trial may checkpoint every epoch (budget.checkpoint_every_s: 0, or epochs longer than
    # it) by design; the snapshot-frequency warning is noise.
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
}


def configure() -> None:
    """Set Ray's and Tune's environment defaults in ``os.environ`` (idempotent; no Ray import)."""
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)
