"""Checksums of revision files: what history records, what the review seals, and a
fingerprint of the whole ``versions/`` folder (the test template's stamp, and how an
upgrade knows, without loading a file, that nothing changed since the database was at head).
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def revision_checksum(path: Path) -> str:
    """``sha256:<hex>`` of a revision file, independent of line endings."""
    content = path.read_bytes().replace(b"\r\n", b"\n")
    return "sha256:" + hashlib.sha256(content).hexdigest()


def versions_fingerprint(folder: Path) -> str:
    """``sha256:<hex>`` over the names and checksums of every revision file in ``folder``."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        digest.update(f"{path.name}\0{revision_checksum(path)}\n".encode())
    return "sha256:" + digest.hexdigest()
