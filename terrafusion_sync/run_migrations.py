"""Bring the application database to head, or to the revision given.

``python terrafusion_sync/run_migrations.py [REV]``: a thin wrapper over ``tfsync upgrade``
that also works from a checkout without installing.
"""

import sys
from pathlib import Path

if __package__ in {None, ""}:  # run as a file: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from terrafusion_sync.cli import entry_point

if __name__ == "__main__":
    entry_point(["upgrade", *sys.argv[1:]])
