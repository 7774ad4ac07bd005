"""Unsafe operations on a live table, from the SQL each revision emits in offline mode.

The SQL comes from ``migrations.upgrade_sql`` (``alembic upgrade FROM:TO --sql``) into a
buffer that notes, for every statement, the line of the revision file that emitted it.
Each revision's SQL goes to squawk; its findings are mapped back to those lines and given
stable codes. What squawk lacks is added here: tables created earlier in the same revision
are not "existing" (so nothing on them is flagged), and a revision that changes a table's
schema and also rewrites its rows; and rows rewritten by one plain statement
(:mod:`.rewrites`).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from alembic.config import Config

from terrafusion_sync.errors import TfsyncError, first_line, raised_in
from terrafusion_sync.migrations import upgrade_sql
from terrafusion_sync.migrations.plumbing.config import script_directory
from terrafusion_sync.migrations.sql import statements
from terrafusion_sync.review.findings import Finding
from terrafusion_sync.review.revisions import RevisionFile
from terrafusion_sync.review.rewrites import plain_rewrites

NOT_NULL_WITHOUT_DEFAULT = "TF401"
SET_NOT_NULL = "TF402"
INDEX_NOT_CONCURRENT = "TF403"
CONCURRENT_IN_TRANSACTION = "TF404"
FOREIGN_KEY_VALIDATED = "TF405"
CHECK_VALIDATED = "TF406"
TYPE_CHANGE = "TF407"
RENAME_COLUMN = "TF408"
RENAME_TABLE = "TF409"
DROP_COLUMN = "TF410"
DROP_TABLE = "TF411"
VOLATILE_DEFAULT = "TF412"
SCHEMA_AND_ROWS = "TF413"
OFFLINE_FAILED = "TF414"
OTHER_LOCK = "TF419"

# squawk rule -> (code, what, why it locks or breaks, the safe way)
RULES: dict[str, tuple[str, str, str, str]] = {
    "adding-required-field": (
        NOT_NULL_WITHOUT_DEFAULT,
        "NOT NULL column added without a default",
        "the ALTER fails on a table with rows and breaks every insert that does not set it",
        "add it nullable (or with a constant server_default), backfill in batches, "
        "then enforce NOT NULL in a later revision",
    ),
    "adding-not-nullable-field": (
        SET_NOT_NULL,
        "SET NOT NULL on an existing column",
        "PostgreSQL scans the whole table under an ACCESS EXCLUSIVE lock, blocking reads "
        "and writes",
        "add CHECK (col IS NOT NULL) NOT VALID, VALIDATE it in a later revision, "
        "then SET NOT NULL, which then skips the scan",
    ),
    "require-concurrent-index-creation": (
        INDEX_NOT_CONCURRENT,
        "index created without CONCURRENTLY on an existing table",
        "the build blocks every write to the table until it finishes",
        "create it with postgresql_concurrently=True inside "
        "`with op.get_context().autocommit_block():`",
    ),
    "ban-concurrent-index-creation-in-transaction": (
        CONCURRENT_IN_TRANSACTION,
        "CREATE INDEX CONCURRENTLY inside a transaction",
        "PostgreSQL refuses CONCURRENTLY in a transaction block, so the deploy fails",
        "wrap the op.create_index in `with op.get_context().autocommit_block():`",
    ),
    "adding-foreign-key-constraint": (
        FOREIGN_KEY_VALIDATED,
        "foreign key added without NOT VALID",
        "validating it scans both tables under SHARE ROW EXCLUSIVE locks, blocking writes",
        "add it with postgresql_not_valid=True, then VALIDATE CONSTRAINT in a later revision",
    ),
    "constraint-missing-not-valid": (
        CHECK_VALIDATED,
        "constraint added without NOT VALID",
        "validating it scans the table while writes are blocked",
        "add it with postgresql_not_valid=True, then VALIDATE CONSTRAINT in a later revision",
    ),
    "changing-column-type": (
        TYPE_CHANGE,
        "column type changed",
        "most type changes rewrite the table under an ACCESS EXCLUSIVE lock, blocking reads "
        "and writes",
        "add a column of the new type, backfill it in batches, move readers, then drop the old",
    ),
    "renaming-column": (
        RENAME_COLUMN,
        "column renamed",
        "the running application still uses the old name and fails until it is redeployed",
        "add the new column, write both, backfill, move readers, drop the old one later",
    ),
    "renaming-table": (
        RENAME_TABLE,
        "table renamed",
        "the running application still uses the old name and fails until it is redeployed",
        "create the new table (or a view under the old name) and move readers first",
    ),
    "ban-drop-column": (
        DROP_COLUMN,
        "column dropped",
        "application code still reading or writing it fails as soon as this runs",
        "stop using it in the models and deploy that first, then drop it in a later revision",
    ),
    "ban-drop-table": (
        DROP_TABLE,
        "table dropped",
        "application code still using it fails, and the data is gone",
        "stop using it and deploy that first, then drop it in a later revision",
    ),
    "adding-field-with-default": (
        VOLATILE_DEFAULT,
        "column added with a volatile default",
        "a volatile default is computed per row, rewriting the table under an ACCESS "
        "EXCLUSIVE lock",
        "add the column without a default, set the default afterwards, backfill in batches",
    ),
}
# Style and settings rules that say nothing about locking a live table.
EXCLUDED_RULES = (
    "prefer-bigint-over-int",
    "prefer-bigint-over-smallint",
    "prefer-identity",
    "prefer-text-field",
    "prefer-timestamp-tz",
    "prefer-robust-stmts",
    "require-lock-timeout",
    "require-statement-timeout",
    "require-timeout-settings",
    "ban-char-field",
    "transaction-nesting",
    "ban-uncommitted-transaction",
)
PG_VERSION = "15"

_RUNNING = re.compile(r"^-- Running upgrade .*-> (\w+)")


@dataclass
class Chunk:
    """One write of Alembic's SQL output, and the revision line that emitted it."""

    text: str
    line: int | None


@dataclass
class Segment:
    """The SQL of one revision's upgrade."""

    revision: str
    chunks: list[Chunk] = field(default_factory=list)


class LineTracer(io.StringIO):
    """A buffer for Alembic's offline output that records which revision line wrote what."""

    def __init__(self, paths: dict[str, str]) -> None:
        super().__init__()
        self.paths = paths  # code filename -> revision id
        self.segments: list[Segment] = []
        self._pending: list[Chunk] = []

    def write(self, text: str) -> int:
        line = self._revision_line()
        chunk = Chunk(text.strip(), line)
        if not chunk.text:
            return super().write(text)
        running = _RUNNING.match(chunk.text)
        if running:
            self.segments.append(Segment(running[1], self._pending))
            self._pending = []
        elif line is None and chunk.text.upper() == "BEGIN;":
            self._pending = [chunk]
        elif self.segments:
            self.segments[-1].chunks.append(chunk)
        return super().write(text)

    def _revision_line(self) -> int | None:
        frame = sys._getframe(2)
        while frame is not None:
            if frame.f_code.co_filename in self.paths:
                return frame.f_lineno
            frame = frame.f_back  # type: ignore[assignment]
        return None


async def unsafe_findings(
    cfg: Config, revisions: list[RevisionFile], wanted: set[str], order: list[str]
) -> list[Finding]:
    """Findings for the revisions ``wanted`` (ids); ``order`` is the chain, oldest first."""
    segments, findings = await render(cfg, revisions, wanted, order)
    return findings + segment_findings(segments, revisions)


def segment_findings(segments: list[Segment], revisions: list[RevisionFile]) -> list[Finding]:
    """What squawk and this module's own rules find in rendered ``segments``."""
    by_id = {r.revision: r for r in revisions if r.revision}
    findings = _squawk(segments, by_id)
    for segment in segments:
        findings += _schema_and_rows(segment, by_id[segment.revision])
        findings += plain_rewrites(segment, by_id[segment.revision], findings)
    return findings


async def render(
    cfg: Config, revisions: list[RevisionFile], wanted: set[str], order: list[str]
) -> tuple[list[Segment], list[Finding]]:
    """The offline SQL of the revisions ``wanted``, by revision and line, and a TF414 finding
    for each that cannot be rendered offline."""
    by_id = {r.revision: r for r in revisions if r.revision}
    todo = [rev for rev in order if rev in wanted]
    if not todo:
        return [], []
    paths = {str(r.path): r.revision for r in revisions if r.revision}
    paths |= {os.path.realpath(p): rev for p, rev in list(paths.items())}  # noqa: ASYNC240
    findings: list[Finding] = []
    segments: list[Segment] = []
    start = order.index(todo[0])
    scripts = script_directory(cfg)  # the revision files are loaded once for every segment
    while start < len(order):
        tracer = LineTracer(paths)
        first = order[start]
        parent = by_id[first].down_revisions
        spec = f"{parent[0]}:{order[-1]}" if parent else f"base:{order[-1]}"
        try:
            await upgrade_sql(None, spec, cfg=cfg, buffer=tracer, scripts=scripts)
        except Exception as exc:
            failed, line = _failing_revision(exc, paths, tracer)
            segments += [s for s in tracer.segments if s.revision != failed]
            rev = by_id.get(failed)
            if rev is None:
                raise
            if failed in wanted:
                findings.append(
                    Finding(
                        rev.shown,
                        line or rev.line_of("upgrade"),
                        OFFLINE_FAILED,
                        f"upgrade cannot render its SQL offline: {first_line(exc, typed=True)}",
                        "use op.execute(...) rather than reading rows with op.get_bind(), "
                        "or guard it with context.is_offline_mode()",
                    )
                )
            start = order.index(failed) + 1
            continue
        segments += tracer.segments
        break
    return [s for s in segments if s.revision in wanted], findings


def touched_tables(segment: Segment) -> list[str]:
    """The tables a revision acts on that it did not create itself (those that have rows)."""
    created: set[str] = set()
    touched: dict[str, None] = {}
    for chunk in segment.chunks:
        for action in statements.actions(chunk.text):
            if action.kind == statements.CREATE_TABLE:
                created.add(action.table)
            elif action.table not in created:
                touched.setdefault(action.table, None)
            if action.references and action.references not in created:
                touched.setdefault(action.references, None)
    return [t for t in touched if t != "alembic_version"]


def _squawk(segments: list[Segment], by_id: dict[str, RevisionFile]) -> list[Finding]:
    if not segments:
        return []
    binary = squawk_binary()
    findings: list[Finding] = []
    with tempfile.TemporaryDirectory(prefix="tfsync-squawk-") as tmp:
        layout: dict[str, tuple[Segment, list[int | None], list[str]]] = {}
        for index, segment in enumerate(segments):
            name = f"{index:05d}_{segment.revision}.sql"
            lines: list[int | None] = []
            texts: list[str] = []
            for chunk in segment.chunks:
                body = chunk.text.splitlines()
                lines += [chunk.line] * len(body)
                texts += [chunk.text] * len(body)
            Path(tmp, name).write_text("\n".join(c.text for c in segment.chunks) + "\n")
            layout[name] = (segment, lines, texts)
        done = subprocess.run(
            [
                binary,
                "--reporter",
                "json",
                "--pg-version",
                PG_VERSION,
                "--exclude",
                ",".join(EXCLUDED_RULES),
                *sorted(layout),
            ],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
        )
        try:
            reported = json.loads(done.stdout or "[]")
        except json.JSONDecodeError as exc:
            first = first_line(done.stderr) or "no output"
            raise TfsyncError(
                f"squawk could not check the SQL: {first}",
                "run the review through `make review`, which installs squawk-cli",
            ) from exc
    seen: set[tuple[str, int, str]] = set()
    for item in reported:
        segment, lines, texts = layout[Path(item["file"]).name]
        at = item["line"]
        if at >= len(lines) or lines[at] is None:
            continue
        rev = by_id[segment.revision]
        statement = texts[at]
        table = table_of(statement)
        if table is not None and table in created_before(segment, statement):
            continue  # a table this revision created has no readers yet
        rule = item["rule_name"]
        code, what, why, safe = RULES.get(
            rule,
            (OTHER_LOCK, f"squawk {rule}", item["message"].rstrip("."), item.get("help") or ""),
        )
        key = (rev.shown, lines[at], code)  # type: ignore[arg-type]
        if key in seen:
            continue
        if code == CHECK_VALIDATED and "FOREIGN KEY" in statement.upper():
            continue  # reported as a foreign key
        seen.add(key)
        on = f" on {table}" if table else ""
        findings.append(Finding(rev.shown, lines[at], code, f"{what}{on}: {why}", safe))  # type: ignore[arg-type]
    return findings


def _schema_and_rows(segment: Segment, rev: RevisionFile) -> list[Finding]:
    altered: set[str] = set()
    created: set[str] = set()
    findings = []
    for chunk in segment.chunks:
        if chunk.line is None:
            continue
        for action in statements.actions(chunk.text):
            if action.kind == statements.CREATE_TABLE:
                created.add(action.table)
            elif action.kind in statements.ROW_WRITES:
                if action.table in altered and action.table not in created:
                    findings.append(
                        Finding(
                            rev.shown,
                            chunk.line,
                            SCHEMA_AND_ROWS,
                            f"rows of {action.table} rewritten in the revision that changes its "
                            "schema: the DDL's ACCESS EXCLUSIVE lock is held until every row is "
                            "written",
                            "split it: the schema change in one revision, the backfill in "
                            "batches in the next",
                        )
                    )
                    break
            elif action.kind in statements.ALTER_TABLE_KINDS:
                altered.add(action.table)
    return findings


def table_of(statement: str) -> str | None:
    """The table a statement acts on (the first, as PostgreSQL's parser reads it)."""
    found = statements.actions(statement)
    return found[0].table if found else None


def created_before(segment: Segment, statement: str) -> set[str]:
    """Tables created in ``segment`` before ``statement``."""
    created: set[str] = set()
    for chunk in segment.chunks:
        if chunk.text == statement:
            break
        created.update(statements.created_tables(chunk.text))
    return created


def squawk_binary() -> str:
    """The squawk executable from squawk-cli, beside this interpreter or on PATH."""
    beside = Path(sys.executable).parent / "squawk"
    if beside.is_file():
        return str(beside)
    found = shutil.which("squawk")
    if found is None:
        raise TfsyncError(
            "squawk is not installed", "run the review through `make review`, which installs it"
        )
    return found


def _failing_revision(
    exc: BaseException, paths: dict[str, str], tracer: LineTracer
) -> tuple[str, int | None]:
    found = raised_in(paths, exc)
    if found is not None:
        return paths[found[0]], found[1]
    if tracer.segments:
        return tracer.segments[-1].revision, None
    raise exc
