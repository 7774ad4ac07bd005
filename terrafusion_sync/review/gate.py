"""Run every review check and collect the findings.

Global checks (one head, drift, the seal manifest, the pictures) always run; per-revision checks
(structure, unsafe SQL, stairway) run on every revision, or only on the revision files
among ``files`` when the pre-commit hook passes the changed files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from alembic.config import Config
from sqlalchemy.engine import URL

from terrafusion_sync.migrations import alembic_config, compare_models, upgrade
from terrafusion_sync.migrations.planning.impact import Impact
from terrafusion_sync.migrations.plumbing import environment
from terrafusion_sync.migrations.plumbing.config import versions_dir
from terrafusion_sync.provision import scratch_database
from terrafusion_sync.review import (
    allow,
    enum_values,
    measured,
    offline,
    phases,
    seal,
    stairway,
    structure,
    typecheck,
    unsafe,
)
from terrafusion_sync.review.drift_findings import drift_finding
from terrafusion_sync.review.findings import Finding
from terrafusion_sync.review.lint import ruff_findings
from terrafusion_sync.review.pictures import pictures_findings
from terrafusion_sync.review.revisions import RevisionFile, changed_only, read_versions
from terrafusion_sync.review.segments import touched_tables

__all__ = ["Review", "review"]


@dataclass
class Review:
    """What a review found, over how many revisions, and which revisions are not sealed."""

    findings: list[Finding]
    revisions: int
    unsealed: list[str] = field(default_factory=list)


async def review(
    server_url: URL,
    *,
    cfg: Config | None = None,
    lint: bool = True,
    files: Sequence[Path] | None = None,
    docs: Path | None = None,
    measure: bool = True,
) -> Review:
    """Review the chain ``cfg`` names (default: the project's).

    ``server_url`` names the server where one scratch database is made, walked up and down
    the chain, checked for drift and dropped; no other database is touched. ``files``
    (from pre-commit) limits the per-revision checks to the revision files among them.
    ``docs`` is the picture file to compare with what ``make docs`` writes (default:
    ``docs/schema.md`` when ``cfg`` names the project's own versions folder, else none).
    ``measure=False`` leaves the text rules unmeasured (what the benchmark compares with).
    """
    cfg = cfg or alembic_config()
    versions = versions_dir(cfg)
    revisions = read_versions(versions)
    reviewed = revisions if files is None else changed_only(revisions, files)
    findings: list[Finding] = _ruff(files) if lint else []
    findings += _file_findings(cfg, versions, revisions, reviewed)
    seals = seal.read_manifest(seal.manifest_path(versions))
    findings += seal.seal_findings(revisions, versions, seals)
    findings += pictures_findings(cfg, docs)
    findings += await _run_findings(server_url, cfg, revisions, reviewed, measure)
    if lint and (files is None or typecheck.touches_package(files)):
        findings += typecheck.mypy_findings()  # last: a review that cannot connect fails fast
    findings = allow.apply_allows(findings, revisions)
    unsealed = [r.revision for r in seal.unsealed(revisions, seals) if r.revision]
    return Review(sorted(set(findings)), len(reviewed), unsealed)


def _file_findings(
    cfg: Config, versions: Path, revisions: list[RevisionFile], reviewed: list[RevisionFile]
) -> list[Finding]:
    """What the revision files show read as text: structure, a missing downgrade."""
    known = {r.revision for r in revisions if r.revision}
    slug_length = int(cfg.get_main_option("truncate_slug_length") or 40)
    findings: list[Finding] = []
    for rev in reviewed:
        findings += structure.revision_findings(rev, known, slug_length)
        findings += enum_values.enum_findings(rev)
        missing = stairway.downgrade_missing(rev) if rev.tree is not None else None
        if missing is not None:
            findings.append(missing)
    findings += phases.contract_findings([r for r in revisions if r.tree is not None])
    return findings + structure.global_findings(revisions, versions)


async def _run_findings(
    server_url: URL,
    cfg: Config,
    revisions: list[RevisionFile],
    reviewed: list[RevisionFile],
    measure: bool,
) -> list[Finding]:
    """What running the revisions shows: their SQL (rendered offline, then measured on the
    stairway's scratch database), the stairway itself, and drift at head."""
    order = _chain(revisions)
    if order is None:
        if not _one_head_all_known(revisions):
            return []
        # merged branches: the stairway and the SQL check walk a straight line only, but
        # the drift check still runs on the schema the whole history builds
        return await _drift_at_head(server_url, cfg)
    wanted = {r.revision for r in reviewed if r.revision}
    segments, unrendered = await offline.render(cfg, revisions, wanted, order)
    touched = {s.revision: touched_tables(s) for s in segments}
    walked, impacts = await _on_scratch_database(
        server_url, cfg, revisions, wanted, order, touched, measure
    )
    # the text rules guess; the stairway's first upgrade of each revision measured
    static = unrendered + unsafe.segment_findings(segments, revisions)
    judged = measured.reconcile(static, impacts, revisions) if measure else static
    return phases.in_phase(judged, revisions) + walked


def _ruff(files: Sequence[Path] | None) -> list[Finding]:
    """ruff on the project, or on the Python files among ``files`` (pre-commit's)."""
    if files is None:
        return ruff_findings()
    python_files = [Path(f) for f in files if str(f).endswith(".py") and Path(f).is_file()]
    return ruff_findings(python_files) if python_files else []


async def _on_scratch_database(
    server_url: URL,
    cfg: Config,
    revisions: list[RevisionFile],
    wanted: set[str],
    order: list[str],
    touched: dict[str, list[str]],
    measure: bool,
) -> tuple[list[Finding], dict[str, Impact]]:
    # scratch_database names it after the server's database: whose it is shows in pg_database
    async with scratch_database(server_url, "review") as scratch:
        found, at_head, impacts = await stairway.stairway_findings(
            scratch, cfg, revisions, wanted, order, touched, measure=measure
        )
        return found + (await _drift(scratch, cfg) if at_head else []), impacts


async def _drift_at_head(server_url: URL, cfg: Config) -> list[Finding]:
    async with scratch_database(server_url, "review") as scratch:
        await upgrade(scratch, "heads", cfg=cfg)
        return await _drift(scratch, cfg)


async def _drift(url: URL, cfg: Config) -> list[Finding]:
    """Drift between the models and the database ``url``, which is at head."""
    metadata = cfg.attributes.get("target_metadata")
    objects = cfg.attributes.get(environment.ENTITIES)
    return [drift_finding(d) for d in await compare_models(url, metadata, objects=objects)]


def _one_head_all_known(revisions: list[RevisionFile]) -> bool:
    known = {r.revision for r in revisions}
    return (
        None not in known
        and len(structure.heads(revisions)) == 1
        and all(down in known for r in revisions for down in r.down_revisions)
    )


def _chain(revisions: list[RevisionFile]) -> list[str] | None:
    """The revision ids from base to head, or ``None`` when the history is not one line
    (several heads, a missing parent, an unreadable file: already findings of their own).

    Contract revisions, a branch of their own (``plumbing/phases.py``), are walked right
    after the last revision they need (their parent and their ``depends_on``).
    """
    if any(r.revision is None for r in revisions):
        return None
    contracts = [r for r in revisions if r.phase == "contract"]
    main = [r for r in revisions if r.phase != "contract"]
    order = _line(main)
    if order is None:
        return None
    return _with_contracts(order, contracts)


def _line(revisions: list[RevisionFile]) -> list[str] | None:
    children: dict[str | None, list[str]] = {}
    for rev in revisions:
        parents = rev.down_revisions or (None,)
        for parent in parents:
            children.setdefault(parent, []).append(rev.revision or "")  # None: returned above
        if len(parents) > 1:
            return None  # a merge revision: the stairway walks a straight line only
    order: list[str] = []
    current: str | None = None
    while children.get(current):
        nxt = children[current]
        if len(nxt) > 1:
            return None
        order.append(nxt[0])
        current = nxt[0]
    if len(order) != len(revisions):
        return None
    return order


def _with_contracts(order: list[str], contracts: list[RevisionFile]) -> list[str] | None:
    """``order`` with each contract revision placed once everything it needs is placed."""
    walked: list[str] = []
    waiting = list(contracts)
    for rev_id in [*order, None]:
        if rev_id is not None:
            walked.append(rev_id)
        placed = True
        while placed:
            placed = False
            for contract in list(waiting):
                if all(d in walked for d in (*contract.down_revisions, *contract.depends_on)):
                    walked.append(contract.revision or "")  # None: returned above
                    waiting.remove(contract)
                    placed = True
    return None if waiting else walked
