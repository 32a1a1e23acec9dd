"""``python -m analysis RESULTS_DIR ...``: see ``analysis.cli``."""

from .cli import main

raise SystemExit(main())
