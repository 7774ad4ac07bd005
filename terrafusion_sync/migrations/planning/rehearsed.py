"""What a rehearsal found, per revision, each measured figure beside the plan's estimate.

Kept apart from the run (:mod:`.rehearse`) so that the text and the JSON a person or a
tool reads are written in one place: ``revisions[]`` with ``revision``, ``duration_s``,
``statements[]``, ``tables[]`` (``table``, ``lock``, ``lock_held_s``, ``rewrite``),
``wal_bytes``, ``size_delta_bytes`` and ``ok``; the plan's figures under ``plan``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from terrafusion_sync.migrations.planning.copy import Copied
from terrafusion_sync.migrations.planning.plan import TableImpact

SHOWN = 120
"""Characters of a statement shown in the text report."""
WAL_NOTE = (
    "WAL is the copy's server's, for the whole server: other sessions' writes there count too"
)


@dataclass(frozen=True)
class TableFigures:
    """What one revision did to one existing table of the copy, and what the plan said."""

    table: str
    lock: str | None
    lock_held_s: float | None
    rewrite: bool
    scan: bool
    plan: TableImpact | None

    def as_json(self) -> dict[str, Any]:
        planned = self.plan
        return {
            "table": self.table,
            "lock": self.lock,
            "lock_held_s": _rounded(self.lock_held_s),
            "rewrite": self.rewrite,
            "scan": self.scan,
            "plan": None
            if planned is None
            else {
                "lock": planned.lock,
                "rewrite": planned.rewrite,
                "scan": planned.scan,
                "estimated_lock_s": planned.estimated_lock_s,
            },
        }

    def describe(self) -> str:
        """``report_jobs: AccessExclusiveLock held 2.1 s, rewrite  | plan: ... ~1.9 s``."""
        work = ", ".join(w for w, on in (("rewrite", self.rewrite), ("full scan", self.scan)) if on)
        held = f" held {self.lock_held_s:.3f} s" if self.lock_held_s is not None else ""
        measured = f"{self.lock or 'no lock'}{held}{', ' + work if work else ''}"
        return f"      {self.table}: {measured}  | plan: {_planned(self.plan)}"


@dataclass(frozen=True)
class Backfill:
    """One ``op.backfill`` of the revision, run on the copy's rows."""

    table: str
    rows: int
    seconds: float
    state: str

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class Failure:
    """Where and why a revision failed on the copy."""

    statement: str | None
    line: int | None
    error: str
    key: str | None
    """The failing row, where the error tells it or a query could find it."""
    seconds: float | None = None
    """How long the statement ran before PostgreSQL refused it."""

    def as_json(self) -> dict[str, Any]:
        return {
            "statement": self.statement,
            "line": self.line,
            "error": self.error,
            "key": self.key,
            "seconds": _rounded(self.seconds),
        }


@dataclass(frozen=True)
class Statement:
    """One statement the revision sent, its file line and time."""

    line: int | None
    sql: str
    seconds: float


@dataclass
class Rehearsed:
    """One revision run on the copy."""

    revision: str
    file: str
    doc: str
    duration_s: float
    statements: list[Statement] = field(default_factory=list)
    tables: list[TableFigures] = field(default_factory=list)
    backfills: list[Backfill] = field(default_factory=list)
    wal_bytes: int = 0
    size_delta_bytes: int = 0
    failure: Failure | None = None
    plan_duration_s: float | None = None
    """The plan's estimate: its longest lock time here (the revision holds it to commit)."""

    @property
    def ok(self) -> bool:
        return self.failure is None

    def as_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "file": self.file,
            "duration_s": _rounded(self.duration_s),
            "plan_duration_s": self.plan_duration_s,
            "statements": [
                {"line": s.line, "sql": s.sql, "seconds": _rounded(s.seconds)}
                for s in self.statements
            ],
            "tables": [t.as_json() for t in self.tables],
            "backfills": [
                {
                    "table": b.table,
                    "rows": b.rows,
                    "seconds": _rounded(b.seconds),
                    "rows_per_s": round(b.rows_per_s, 1),
                    "state": b.state,
                    "plan": None,
                }
                for b in self.backfills
            ],
            "wal_bytes": self.wal_bytes,
            "size_delta_bytes": self.size_delta_bytes,
            "ok": self.ok,
            "error": self.failure.as_json() if self.failure else None,
        }

    def describe_lines(self) -> list[str]:
        estimate = (
            f"~{self.plan_duration_s:.3g} s" if self.plan_duration_s is not None else "no estimate"
        )
        head = "FAILED" if self.failure else "ok"
        found = [
            f"  {self.revision}  {self.doc}  ({self.file}): {head}, {self.duration_s:.3f} s"
            f"  | plan: {estimate}",
            f"    WAL {self.wal_bytes:,} bytes, database size {self.size_delta_bytes:+,} bytes"
            "  | plan: no estimate",
        ]
        for s in self.statements:
            at = f"line {s.line}" if s.line else "line ?"
            found.append(f"    {s.seconds:8.3f} s  {at}: {_short(s.sql)}")
        if self.tables:
            found.append("    tables:")
            found.extend(t.describe() for t in self.tables)
        for b in self.backfills:
            found.append(
                f"    backfill {b.table}: {b.rows:,} rows in {b.seconds:.2f} s "
                f"({b.rows_per_s:,.0f} rows/s, in short batches), {b.state}  | plan: no estimate"
            )
        if self.failure:
            f = self.failure
            ran = f" after {f.seconds:.3f} s" if f.seconds is not None else ""
            found.append(f"    failed at line {f.line or '?'}{ran}: {_short(f.statement or '?')}")
            found.append(f"    PostgreSQL: {f.error}")
            if f.key:
                found.append(f"    failing row: {f.key}")
        return found


@dataclass
class Rehearsal:
    """The whole rehearsal: where, the copy, each revision run, those left."""

    database: str
    copy: str
    current: tuple[str, ...]
    kept: bool = False
    copied: Copied | None = None
    revisions: list[Rehearsed] = field(default_factory=list)
    not_rehearsed: list[str] = field(default_factory=list)
    plan_note: str = ""

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.revisions)

    @property
    def nothing_pending(self) -> bool:
        return not self.revisions and not self.not_rehearsed

    def as_json(self) -> dict[str, Any]:
        copied = self.copied
        return {
            "database": self.database,
            "copy": self.copy,
            "kept": self.kept,
            "current": list(self.current),
            "copied": None
            if copied is None
            else {
                "tables": len(copied.tables),
                "rows": copied.rows,
                "seconds": _rounded(copied.seconds),
                "sample_percent": copied.sample,
            },
            "revisions": [r.as_json() for r in self.revisions],
            "not_rehearsed": self.not_rehearsed,
            "ok": self.ok,
            "plan": self.plan_note,
            "wal": WAL_NOTE,
        }

    def describe_lines(self) -> list[str]:
        if self.nothing_pending:
            where = ", ".join(self.current) or "base"
            return [f"{self.database} is at {where}: nothing pending, nothing to rehearse"]
        found = [f"rehearsal of {self.database} on a copy ({self.copy})"]
        if self.copied:
            found.append(f"  {self.copied.describe()}")
        found.append(f"  plan: {self.plan_note}")
        for revision in self.revisions:
            found.extend(revision.describe_lines())
        found.extend(
            f"  {rev}: not rehearsed (an earlier revision failed)" for rev in self.not_rehearsed
        )
        found.append(f"  ({WAL_NOTE})")
        kept = f"copy kept: {self.copy}" if self.kept else "copy dropped"
        verdict = "every revision passed" if self.ok else "a revision FAILED on the copy"
        found.append(f"{verdict}; the live database was only read; {kept}")
        return found


def _planned(plan: TableImpact | None) -> str:
    if plan is None:
        return "not in the plan"
    work = ", ".join(w for w, on in (("rewrite", plan.rewrite), ("full scan", plan.scan)) if on)
    held = (
        f" ~{plan.estimated_lock_s:.3g} s" if plan.estimated_lock_s is not None else " time unknown"
    )
    return f"{plan.lock or 'no lock'}{held}{', ' + work if work else ''}"


def _short(sql: str) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= SHOWN else flat[: SHOWN - 3] + "..."


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
