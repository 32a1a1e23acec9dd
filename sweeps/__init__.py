"""sweeps: YAML sweep files and the Ray Tune glue (spec, trial, results, run).

Importing the package is cheap and imports no Ray: ``sweeps.schema`` (the Parquet contract)
is shared with ``analysis``; Ray is imported by ``sweeps.run`` / ``sweeps.trial`` only.
"""
