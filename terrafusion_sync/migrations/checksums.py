"""Checksums of revision files: what history records and what the review seals."""

from __future__ import annotations

import hashlib
from pathlib import Path


def revision_checksum(path: Path) -> str:
    """``sha256:<hex>`` of a revision file, independent of line endings."""
    content = path.read_bytes().replace(b"\r\n", b"\n")
    return "sha256:" + hashlib.sha256(content).hexdigest()
