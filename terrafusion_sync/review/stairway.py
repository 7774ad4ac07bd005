"""The stairway: every revision up, down one step, up again, on one scratch database.

The schema after each downgrade must equal the schema before the upgrade (the downgrade
leaves no trace); the snapshot covers tables, columns (type, nullability, default),
indexes, constraints, sequences and enums. All steps run on one connection with the
revision files loaded once
(:class:`~terrafusion_sync.migrations.plumbing.steps.ConnectionMigrator`). The first
upgrade of each revision is also measured (locks, rewrites, scans, time), on rows made
for the tables it touches, at no extra walk.
"""

from __future__ import annotations

import ast
import os
from typing import Any

from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection

from terrafusion_sync.database import connect
from terrafusion_sync.errors import first_line
from terrafusion_sync.migrations.planning.impact import Impact, ImpactMeter, measure_upgrade
from terrafusion_sync.migrations.plumbing import revision_lines
from terrafusion_sync.migrations.plumbing.steps import ConnectionMigrator
from terrafusion_sync.review import codes
from terrafusion_sync.review.findings import Finding
from terrafusion_sync.review.revisions import RevisionFile

Snapshot = frozenset[tuple[str, str, str]]

SNAPSHOT_SQL = text(
    """
SELECT 'table', c.relname, '' FROM pg_class c
  WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
UNION ALL
SELECT 'column', c.relname || '.' || a.attname,
       format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
       || COALESCE(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
    AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'index', indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()
UNION ALL
SELECT 'constraint', c.relname || '.' || k.conname, pg_get_constraintdef(k.oid)
  FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
  WHERE k.connamespace = current_schema()::regnamespace
UNION ALL
SELECT 'sequence', c.relname, '' FROM pg_class c
  WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'S'
UNION ALL
SELECT 'enum', t.typname, string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
  FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
  WHERE t.typnamespace = current_schema()::regnamespace GROUP BY t.typname
"""
)
IGNORED = ("alembic_version",)


def snapshot(conn: Connection) -> Snapshot:
    """The schema of the current schema, as comparable rows (``kind``, ``name``, ``detail``)."""
    rows = conn.execute(SNAPSHOT_SQL).all()
    return frozenset(
        (kind, name, detail)
        for kind, name, detail in rows
        if not name.startswith(IGNORED) and not detail.startswith(IGNORED)
    )


def difference(before: Snapshot, after: Snapshot, limit: int = 3) -> str:
    """What ``after`` has that ``before`` had not, and the reverse, in a few words."""
    parts = [f"{kind} {name} remains" for kind, name, _ in sorted(after - before)]
    gone = {(k, n) for k, n, _ in after}
    parts += [f"{kind} {name} is missing" for kind, name, _ in sorted(before - after)]
    parts = [p for p in parts if not (p.endswith("is missing") and tuple(p.split()[:2]) in gone)]
    shown = "; ".join(parts[:limit]) or "details differ"
    return shown + (f"; and {len(parts) - limit} more" if len(parts) > limit else "")


def downgrade_missing(rev: RevisionFile) -> Finding | None:
    """A downgrade that is missing or does nothing (only ``pass``, ``...`` or a docstring)."""
    fn = rev.functions.get("downgrade")
    if fn is not None and any(not _inert(stmt) for stmt in fn.body):
        return None
    if fn is not None and len(rev.down_revisions) > 1:
        return None  # a merge revision has nothing to undo
    what = "has no downgrade()" if fn is None else "downgrade() does nothing"
    return Finding(
        rev.shown,
        rev.line_of("downgrade"),
        codes.DOWNGRADE_MISSING.code,
        f"revision {rev.revision} {what}, so it cannot be rolled back",
        codes.DOWNGRADE_MISSING.hint(),
    )


def _inert(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Pass):
        return True
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)


async def stairway_findings(
    url: URL,
    cfg: Config,
    revisions: list[RevisionFile],
    wanted: set[str],
    order: list[str],
    touched: dict[str, list[str]] | None = None,
    *,
    measure: bool = True,
) -> tuple[list[Finding], bool, dict[str, Impact]]:
    """Walk ``url`` (an empty scratch database) from base to head; stairway the ``wanted``.

    The first upgrade of each wanted revision is measured (:mod:`~terrafusion_sync.migrations.
    impact`), with the tables ``touched[rev]`` filled with rows first. Returns the findings,
    whether the database ended at head (so drift can be checked), and the measurements
    (none without ``measure``).
    """
    paths = {str(r.path) for r in revisions} | {os.path.realpath(r.path) for r in revisions}  # noqa: ASYNC240
    async with connect(url) as conn:
        return await conn.run_sync(
            lambda sync: _Stairway(sync, cfg, revisions, paths, touched or {}, measure).walk(
                wanted, order
            )
        )


class _Stairway:
    """One walk up the chain on one connection, collecting findings and measurements."""

    def __init__(
        self,
        conn: Connection,
        cfg: Config,
        revisions: list[RevisionFile],
        paths: set[str],
        touched: dict[str, list[str]],
        measure: bool,
    ) -> None:
        self.conn = conn
        self.by_id = {r.revision: r for r in revisions if r.revision}
        self.branched = any(r.phase == "contract" for r in revisions)
        """A contract branch beside the main line: step down one revision of a branch."""
        self.migrator = ConnectionMigrator(cfg, conn)
        self.meter = ImpactMeter(conn, paths)
        self.touched = touched
        self.measure = measure
        self.findings: list[Finding] = []
        self.impacts: dict[str, Impact] = {}

    def walk(
        self, wanted: set[str], order: list[str]
    ) -> tuple[list[Finding], bool, dict[str, Impact]]:
        """Up the chain ``order``: each of ``wanted`` stepped up, down and up again; the others
        in one go up to the next wanted one. Also whether it reached head."""
        for index, rev_id in enumerate(order):
            rev = self.by_id[rev_id]
            if rev_id in wanted:
                went_on = self._up_down_up(rev_id, rev)
            elif index + 1 == len(order) or order[index + 1] in wanted:
                went_on = _step(
                    self.migrator.upgrade, rev_id, rev, codes.UPGRADE_FAILS, self.findings
                )
            else:
                continue  # the next step upgrades through it
            if not went_on:
                return self.findings, False, self.impacts
        return self.findings, True, self.impacts

    def _first_upgrade(self, target: str) -> None:
        if not self.measure:
            self.migrator.upgrade(target)
            return
        self.impacts[target] = measure_upgrade(
            self.conn, self.migrator.upgrade, target, self.meter, self.touched.get(target)
        )

    def _up_down_up(self, rev_id: str, rev: RevisionFile) -> bool:
        """One revision's stair; False when the walk cannot go on (an upgrade failed)."""
        conn, findings = self.conn, self.findings
        parent = rev.down_revisions[0] if rev.down_revisions else "base"
        if self.branched:  # one step down on this revision's branch only (Alembic's X@-1)
            parent = f"{rev_id}@-1"
        before = snapshot(conn)
        if not _step(self._first_upgrade, rev_id, rev, codes.UPGRADE_FAILS, findings):
            return False
        if downgrade_missing(rev) is not None:
            return True  # reported statically; stepping down would leave the schema behind
        after = snapshot(conn)
        if not _step(self.migrator.downgrade, parent, rev, codes.DOWNGRADE_FAILS, findings):
            return True  # rolled back: still at this revision
        down = snapshot(conn)
        if down != before:
            findings.append(
                Finding(
                    rev.shown,
                    rev.line_of("downgrade"),
                    codes.DOWNGRADE_LEAVES_TRACE.code,
                    f"downgrade of {rev_id} leaves a trace: {difference(before, down)}",
                    codes.DOWNGRADE_LEAVES_TRACE.hint(),
                )
            )
        if not _step(self.migrator.upgrade, rev_id, rev, codes.UPGRADE_AGAIN_FAILS, findings):
            return False
        again = snapshot(conn)
        if again != after and down == before:
            findings.append(
                Finding(
                    rev.shown,
                    rev.line_of("upgrade"),
                    codes.DOWNGRADE_LEAVES_TRACE.code,
                    f"upgrade of {rev_id} after its downgrade builds another schema: "
                    f"{difference(after, again)}",
                    codes.DOWNGRADE_LEAVES_TRACE.hint("upgrade again"),
                )
            )
        return True


_WHAT = {
    codes.DOWNGRADE_FAILS.code: "downgrade raises",
    codes.UPGRADE_FAILS.code: "upgrade fails",
    codes.UPGRADE_AGAIN_FAILS.code: "upgrade fails again after its downgrade",
}


def _step(
    step: Any, target: str, rev: RevisionFile, code: codes.Code, findings: list[Finding]
) -> bool:
    """Run one step; a failure becomes a finding at the failing line of the revision file."""
    try:
        step(target)
    except Exception as exc:
        name = "downgrade" if code is codes.DOWNGRADE_FAILS else "upgrade"
        line = revision_lines.raised_at(rev.path, exc) or rev.line_of(name)
        findings.append(
            Finding(
                rev.shown,
                line,
                code.code,
                f"{_WHAT[code.code]} on a scratch database: {first_line(exc, typed=True)}",
                code.hint(),
            )
        )
        return False
    return True
