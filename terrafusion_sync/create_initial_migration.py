"""Autogenerate the initial revision when ``versions/`` is empty.

``python terrafusion_sync/create_initial_migration.py``: a thin wrapper over ``tfsync init``,
which refuses when a revision already exists.
"""

import sys
from pathlib import Path

if __package__ in {None, ""}:  # run as a file: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from terrafusion_sync.cli import entry_point

if __name__ == "__main__":
    entry_point(["init", *sys.argv[1:]])
