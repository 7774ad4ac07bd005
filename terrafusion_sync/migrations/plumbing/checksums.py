"""Checksums of revision files: what history records, what the review seals, and a
fingerprint of the whole ``versions/`` folder (the test template's stamp, and how an
upgrade knows, without loading a file, that nothing changed since the database was at head).

A run reads each file once (:func:`revision_checksums`); fingerprint, validation and
history then use those checksums (:func:`checksum_of`).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from terrafusion_sync.errors import MigrationError

if TYPE_CHECKING:
    from alembic.script import Script, ScriptDirectory

SQUASHED = "squashed"
"""The name of a baseline's (``tfsync squash``) list of the files it replaced: revision id
-> the checksum databases recorded for it."""


def revision_checksum(path: Path) -> str:
    """``sha256:<hex>`` of a revision file, independent of line endings."""
    try:
        content = path.read_bytes().replace(b"\r\n", b"\n")
    except OSError as exc:
        raise MigrationError(
            f"cannot read revision file {path.name}: {exc.strerror or exc}",
            f"fix or remove it in {path.parent}; nothing was changed",
        ) from exc
    return "sha256:" + hashlib.sha256(content).hexdigest()


def revision_checksums(folder: Path) -> dict[Path, str]:
    """Every revision file in ``folder`` (by :func:`file_key`) and its checksum."""
    return {file_key(path): revision_checksum(path) for path in folder.glob("*.py")}


def checksum_of(path: str | Path, known: Mapping[Path, str]) -> str:
    """The checksum of ``path``: from ``known`` when the run read it already, else read now."""
    return known.get(file_key(path)) or revision_checksum(Path(path))


def file_key(path: str | Path) -> Path:
    """``path`` with its folder resolved: the same key whichever way the folder was named."""
    path = Path(path)
    return _real_folder(path.parent) / path.name


@functools.lru_cache(maxsize=16)
def _real_folder(folder: Path) -> Path:
    """Resolved once per folder, not once per file: a run looks up every file it applies."""
    return folder.resolve()


def fingerprint(checksums: Mapping[Path, str]) -> str:
    """``sha256:<hex>`` over the names and checksums of the files of one folder."""
    digest = hashlib.sha256()
    for path, checksum in sorted(checksums.items(), key=lambda item: item[0].name):
        digest.update(f"{path.name}\0{checksum}\n".encode())
    return "sha256:" + digest.hexdigest()


def versions_fingerprint(folder: Path) -> str:
    """:func:`fingerprint` of every revision file in ``folder``."""
    return fingerprint(revision_checksums(folder))


def replaced_checksum(script: Script) -> str | None:
    """The checksum databases recorded for ``script``'s revision before a squash replaced
    its file with a baseline; None for any other revision."""
    listed = getattr(script.module, SQUASHED, None)
    found = listed.get(script.revision) if isinstance(listed, dict) else None
    return found if isinstance(found, str) else None


def squashed_files(scripts: ScriptDirectory) -> dict[str, str]:
    """The checksum of every file a baseline replaced -> that baseline's revision, so a
    history that recorded an old file can say where it went."""
    found: dict[str, str] = {}
    for script in scripts.walk_revisions():
        listed = getattr(script.module, SQUASHED, None)
        if isinstance(listed, dict):
            found |= {str(checksum): script.revision for checksum in listed.values()}
    return found
