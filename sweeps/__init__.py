"""sweeps: YAML sweep files and the sweep around Ray Tune: a Ray-free core (spec, search types,
designs, trial, the Parquet writer, the console) and the Tune adapter, ``sweeps.tune``.

Importing the package is cheap and imports no Ray: the results contract it writes is the
package ``contract``, below it and shared with ``analysis``; Ray is imported by the modules of
``sweeps.tune`` only (tests/test_layers.py checks it).
"""

from . import rayenv

# The one import-time call of rayenv.configure() (entry points call it explicitly, first):
# every module here that imports Ray is imported through this package, so this runs before
# that Ray import whatever a program imports first, `from sweeps.tune.run import run_sweep` in a
# notebook included.  Without it such a program would start Ray without token authentication
# and without Tune's settings for final-only metrics.
rayenv.configure()
