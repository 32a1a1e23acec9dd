"""contract: the results contract, the bottom layer that every other layer may import.

What a sweep writes and everything that reads it agree on, defined once:

* ``contract.schema``: the results directory's layout, the Parquet columns and metadata, the
  schema version, the writers' tables;
* ``contract.metrics``: the one registry of metric names (label, unit, split, who reports
  what) and the default selection metric;
* ``contract.fields``: the config fields as columns, the variant names and the label counts;
* ``contract.atomic``: the one atomic file write;
* ``contract.resultsdir``: the one checked reader of a results directory.

It imports nothing of the project outside itself (pyarrow, yaml and the standard library
only; never torch or Ray), so ``hinr``, ``sweeps`` and ``analysis`` all build on it and
``analysis`` needs nothing else of the project (``tests/test_layers.py``).
"""
