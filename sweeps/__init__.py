"""sweeps: YAML sweep files and the Ray Tune glue (spec, search, trial, results, run).

Importing the package is cheap and imports no Ray: the results contract it writes is the
package ``contract``, below it and shared with ``analysis``; Ray is imported by ``sweeps.run``
/ ``sweeps.trial`` and the modules they use.
"""

from . import rayenv

# The one import-time call of rayenv.configure() (entry points call it explicitly, first):
# every module here that imports Ray is imported through this package, so this runs before
# that Ray import whatever a program imports first, `from sweeps.run import run_sweep` in a
# notebook included.  Without it such a program would start Ray without token authentication
# and without Tune's settings for final-only metrics.
rayenv.configure()
