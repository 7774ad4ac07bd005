"""History is immutable: a manifest of per-revision checksums (like atlas.sum), and sealing.

``versions.sum`` sits beside ``versions/``, one line per sealed revision::

    <revision> <sha256:...> <file name>[ -- reason it was re-sealed]

Editing a sealed revision is a finding until it is re-sealed with a reason
(``tfsync review --seal REV --reason "..."``). A new revision is sealed with
``tfsync review --seal`` when it is merged to main; until then it may still change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config

from terrafusion_sync.errors import TfsyncError
from terrafusion_sync.migrations.plumbing.checksums import revision_checksum
from terrafusion_sync.migrations.plumbing.config import versions_dir
from terrafusion_sync.review import codes
from terrafusion_sync.review.findings import Finding
from terrafusion_sync.review.revisions import RevisionFile, read_versions
from terrafusion_sync.settings import shown_path

MANIFEST_NAME = "versions.sum"
HEADER = (
    "# Sealed revisions: <revision> <checksum> <file> [-- reason for a re-seal].\n"
    "# Written by `tfsync review --seal`; never edit a sealed revision, add a new one.\n"
)


@dataclass(frozen=True)
class Seal:
    """One manifest line."""

    revision: str
    checksum: str
    file: str
    reason: str = ""
    line: int = 0

    def render(self) -> str:
        reason = f" -- {self.reason}" if self.reason else ""
        return f"{self.revision} {self.checksum} {self.file}{reason}"


def manifest_path(versions: Path) -> Path:
    """``versions.sum`` beside the versions folder."""
    return versions.parent / MANIFEST_NAME


def read_manifest(path: Path) -> dict[str, Seal]:
    """The sealed revisions by id; an absent manifest seals nothing."""
    if not path.is_file():
        return {}
    seals: dict[str, Seal] = {}
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        body, _, reason = text.partition(" -- ")
        parts = body.split()
        if not parts or parts[0].startswith("#"):
            continue
        if len(parts) != 3 or not parts[1].startswith("sha256:"):
            raise TfsyncError(
                f"{shown_path(path)} line {number} is not `<revision> <checksum> <file>`",
                "restore it from git; it is written by tfsync review --seal",
            )
        seals[parts[0]] = Seal(parts[0], parts[1], parts[2], reason.strip(), number)
    return seals


def seal_findings(
    revisions: list[RevisionFile], versions: Path, seals: Mapping[str, Seal]
) -> list[Finding]:
    """A sealed revision (of ``seals``, read from ``versions``' manifest) whose file changed
    or disappeared."""
    path = manifest_path(versions)
    by_id = {r.revision: r for r in revisions if r.revision}
    findings = []
    for seal in seals.values():
        rev = by_id.get(seal.revision)
        if rev is None:
            findings.append(
                Finding(
                    shown_path(path),
                    seal.line,
                    codes.SEALED_REVISION_MISSING.code,
                    f"sealed revision {seal.revision} ({seal.file}) is gone",
                    codes.SEALED_REVISION_MISSING.hint(),
                )
            )
        elif revision_checksum(rev.path) != seal.checksum:
            findings.append(
                Finding(
                    rev.shown,
                    1,
                    codes.SEALED_REVISION_CHANGED.code,
                    f"revision {seal.revision} is sealed and was edited: databases that "
                    "already ran it will not run the new version",
                    codes.SEALED_REVISION_CHANGED.hint(),
                )
            )
    return findings


def unsealed(revisions: list[RevisionFile], seals: Mapping[str, Seal]) -> list[RevisionFile]:
    """Revisions the manifest (``seals``) does not list yet (new since the last seal)."""
    return [r for r in revisions if r.revision and r.revision not in seals]


def seal(
    revisions: list[RevisionFile], versions: Path, targets: list[str], reason: str = ""
) -> list[Seal]:
    """Seal ``targets`` (ids; empty: every unsealed revision) and write the manifest.

    Re-sealing an already sealed revision whose file changed needs a ``reason``, which is
    recorded on its line. Returns the seals written or changed.
    """
    path = manifest_path(versions)
    seals = read_manifest(path)
    by_id = {r.revision: r for r in revisions if r.revision}
    if not targets:
        targets = [r.revision for r in unsealed(revisions, seals) if r.revision]
    written = []
    for target in targets:
        rev = by_id.get(target)
        if rev is None:
            raise TfsyncError(f"no revision {target!r} to seal", "see `make status` for the ids")
        checksum = revision_checksum(rev.path)
        old = seals.get(target)
        if old is not None and old.checksum == checksum:
            continue
        if old is not None and not reason.strip():
            raise TfsyncError(
                f"revision {target} is sealed and changed; re-sealing it needs a reason",
                'say why: tfsync review --seal REV --reason "..."',
            )
        seals[target] = Seal(target, checksum, rev.path.name, reason.strip() if old else "")
        written.append(seals[target])
    if written:
        order = {r.revision: i for i, r in enumerate(revisions)}
        ordered = sorted(seals.values(), key=lambda s: order.get(s.revision, -1))
        lines = [s.render() for s in ordered]
        path.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    return written


def seal_chain(cfg: Config, targets: list[str], reason: str = "") -> list[Seal]:
    """Seal revisions of the chain ``cfg`` names (see :func:`seal`)."""
    versions = versions_dir(cfg)
    return seal(read_versions(versions), versions, targets, reason)


def record_squash(versions: Path, replaced: list[str], baseline: Path) -> Seal | None:
    """Record a squash in ``versions``' manifest as deliberate: the replaced revisions'
    lines go, and the squash point (the last of ``replaced``, whose id the ``baseline``
    keeps) is re-sealed with the baseline's checksum and a reason that says what it was.

    Without a manifest there is nothing to record (nothing was sealed)."""
    path = manifest_path(versions)
    seals = read_manifest(path)
    if not seals:
        return None
    point = replaced[-1]
    old = seals.get(point)
    was = f"; was {old.checksum}" if old else ""
    reason = f"squash of {len(replaced)} revision(s) through {point} by tfsync squash{was}"
    kept = [s for s in seals.values() if s.revision not in replaced]
    sealed = Seal(point, revision_checksum(baseline), baseline.name, reason)
    lines = [sealed.render(), *(s.render() for s in sorted(kept, key=lambda s: s.line))]
    path.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    return sealed
