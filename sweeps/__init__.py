"""sweeps: YAML sweep files and the Ray Tune glue (spec, trial, results, run).

Importing the package is cheap and imports no Ray: ``sweeps.schema`` (the Parquet contract)
is shared with ``analysis``; Ray is imported by ``sweeps.run`` / ``sweeps.trial`` only.
Importing it sets the environment Ray reads once, at its own import (``rayenv``): whichever
module of ``sweeps`` a program imports first, a Ray imported after it sees the same settings.
"""

from . import rayenv  # noqa: F401 - os.environ only, no Ray
