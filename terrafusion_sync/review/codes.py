"""Every review code, declared once: its title, why it matters, the safe way, its severity,
and the module that finds it.

The modules that report findings take their code and safe-way text from here, so the
README's "Review codes" table and ``tfsync review --codes`` are generated from this one
list (:mod:`.codes_table`), as strong_migrations keeps every message in one file and
squawk one rule enum. This module sits beneath every check and imports none of them.

Ranges (the hundreds say which check finds a code):

- ``ruff`` and ruff's own codes: the lint, passed through; ``mypy``: the type check;
- TF0xx the review itself (format, allows); TF1xx the history's structure;
  TF2xx drift; TF3xx the stairway; TF4xx unsafe operations on a live table;
  TF5xx sealed history; TF6xx generated documents.
- Reserved in TF4xx this round: TF420-TF429 expand/contract (issue 18), TF430-TF439
  enums and views (issue 20), TF440-TF449 backfills and batched deletes (issue 22).

Adding a code is a change in this file only: declare it with :func:`_declare` in its
range's section below (code, title, why, safe way, severity, the finding module, an
example line, and, when no bad revision in ``tests/revisions/`` can show it alone,
``shown_by`` naming the test that does). The finding module then reports
``codes.NAME.code`` with ``codes.NAME.hint(...)``. The README table is rewritten from here
(``tfsync review --codes --readme README.md``); the tests fail until the README agrees, a bad
revision (or the named test) shows the code, and the named module reports it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

_FIELD = re.compile(r"\{(\w+)\}")


class Severity(Enum):
    """What ignoring a finding costs. Every finding fails the review (exit 1) alike."""

    OUTAGE = "outage"
    FAILURE = "failure"
    UPKEEP = "upkeep"

    @property
    def meaning(self) -> str:
        """One line for the listing."""
        return {
            Severity.OUTAGE: "blocks the application's reads or writes on a live table",
            Severity.FAILURE: "a deploy, a rollback or the running application fails",
            Severity.UPKEEP: "the history or its files break a convention; nothing fails yet",
        }[self]


@dataclass(frozen=True, eq=False)
class Code:
    """One review code. ``safe_way`` may hold ``{fields}`` a finding fills in (:meth:`hint`);
    ``variants`` are the safe ways of other situations the same code covers. Each is
    declared once, so a code is compared (and hashed) by identity."""

    code: str
    title: str
    why: str
    safe_way: str
    severity: Severity
    found_by: str
    example: str
    shown_by: str | None = None
    variants: Mapping[str, str] = field(default_factory=dict)

    def hint(self, variant: str | None = None, **values: str) -> str:
        """The safe way as a finding prints it, its ``{fields}`` filled from ``values``."""
        text = self.variants[variant] if variant is not None else self.safe_way
        return text.format(**values) if values else text

    @property
    def safe_way_shown(self) -> str:
        """The safe way for documentation: ``{revision}`` shown as ``<revision>``."""
        return _FIELD.sub(r"<\1>", self.safe_way)


CODES: dict[str, Code] = {}
"""Every declared code by its name (``TF401``), in declaration order."""


def _declare(code: Code) -> Code:
    if code.code in CODES:
        raise ValueError(f"review code {code.code} is declared twice")
    CODES[code.code] = code
    return code


def lookup(code: str) -> Code:
    """The declared code ``code``; ruff's own codes are the ruff pass-through."""
    return CODES.get(code) or CODES[RUFF.code]


_RERUN = "run it with make upgrade / make downgrade REV=-1 on a copy and fix the error"

# --- the lint (ruff) and the review itself -------------------------------------------
RUFF = _declare(
    Code(
        "ruff",
        "ruff lint (ruff's own codes: `E501`, `F401`, …)",
        "ruff's rules catch mistakes and style drift in the package, the revisions and tests",
        "ruff check --fix may fix it",
        Severity.UPKEEP,
        "review.lint",
        "…/versions/x.py:9: F401 `sqlalchemy` imported but unused",
        shown_by="tests/test_review_codes.py::test_ruff_findings_pass_through",
    )
)
TYPE_ERROR = _declare(
    Code(
        "mypy",
        "type error in the package (mypy, strict)",
        "a value of the wrong type fails at run time, on the path no test took",
        "fix the types; `make lint` runs the same mypy",
        Severity.FAILURE,
        "review.typecheck",
        'terrafusion_sync/x.py:2: mypy Incompatible return value type (got "str", expected '
        '"int") [return-value]',
        shown_by="tests/test_typecheck.py::test_a_type_error_is_a_finding_at_its_line",
    )
)
NOT_FORMATTED = _declare(
    Code(
        "TF001",
        "file not formatted",
        "an unformatted file makes the next diff noisy and fails the lint hook",
        "run ruff format, or make lint",
        Severity.UPKEEP,
        "review.lint",
        "…/versions/x.py:1: TF001 file is not formatted (run ruff format, or make lint)",
    )
)
ALLOW_WITHOUT_REASON = _declare(
    Code(
        "TF002",
        "allow without a reason",
        "an accepted risk nobody explained cannot be judged later, so it accepts nothing",
        "say why after two dashes: # review: allow CODE -- reason",
        Severity.UPKEEP,
        "review.allow",
        "x.py:18: TF002 allow TF410 gives no reason, so it accepts nothing",
    )
)

# --- TF1xx the history's structure ---------------------------------------------------
MULTIPLE_HEADS = _declare(
    Code(
        "TF101",
        "more than one head",
        "`upgrade head` refuses to choose, so deploys have no single path",
        "merge them with `alembic merge heads -m merge` so deploys have one path",
        Severity.FAILURE,
        "review.structure",
        "…/versions:1: TF101 2 heads: 0b22f05953e4, 3f2a9c1d0e4b",
        shown_by="tests/test_review.py::test_two_heads",
    )
)
UNKNOWN_DOWN_REVISION = _declare(
    Code(
        "TF102",
        "`down_revision` names no revision",
        "Alembic cannot place the revision in the history and refuses to run",
        "point it at an existing revision; `make status` lists them",
        Severity.FAILURE,
        "review.structure",
        "x.py:11: TF102 down_revision 'ffffffffffff' names no revision in versions/",
    )
)
FILE_NAME = _declare(
    Code(
        "TF103",
        "file name off convention",
        "dated file names keep versions/ in the order revisions were written",
        "rename it to <date>-{revision}_{slug}.py, as make revision names files",
        Severity.UPKEEP,
        "review.structure",
        "check_reports.py:1: TF103 file name 'check_reports.py' does not follow "
        "YYYY_MM_DD_HHMM-<rev>_<slug>.py",
    )
)
REVISION_MESSAGE = _declare(
    Code(
        "TF104",
        "no message, or file name and message disagree",
        "the message is what `make status` and the history show of a revision",
        "start the file with a docstring saying what it changes, as make revision does",
        Severity.UPKEEP,
        "review.structure",
        "x.py:1: TF104 file name says 'add_priority' but the message 'check reports' gives "
        "'check_reports'",
        variants={
            "disagree": "keep the file name and the docstring's first line saying the same thing"
        },
    )
)
IMPORTS_APPLICATION = _declare(
    Code(
        "TF105",
        "revision imports application code",
        "a revision is frozen history; today's models change and break it tomorrow",
        "copy the table definitions it needs into the revision (sa.table(...))",
        Severity.FAILURE,
        "review.structure",
        "x.py:11: TF105 imports terrafusion_sync.core_models: a revision must not depend on "
        "today's application code",
    )
)
UNREADABLE = _declare(
    Code(
        "TF106",
        "file Alembic cannot read",
        "a syntax error or a missing `revision = ...` stops every Alembic command",
        "regenerate it with make revision, or fix the file",
        Severity.FAILURE,
        "review.structure",
        "x.py:1: TF106 not a revision Alembic can read (syntax error or no `revision = ...`)",
    )
)

# --- TF2xx drift between the models and the migrations --------------------------------
ONLY_IN_MODELS = _declare(
    Code(
        "TF201",
        "only in the models",
        "the application uses a table or column that no deploy creates",
        'generate one: make revision M="..."',
        Severity.FAILURE,
        "review.drift_findings",
        "core_models.py:58: TF201 column property_operational.owner_email exists only in the "
        "models: no revision creates it",
        shown_by="tests/test_review.py::test_a_model_change_without_its_revision_is_drift",
    )
)
ONLY_IN_MIGRATIONS = _declare(
    Code(
        "TF202",
        "only in the migrations",
        "the database has what the application does not know, and the next revision drops it",
        "update the model, or remove the revision if it is not yet deployed",
        Severity.FAILURE,
        "review.drift_findings",
        "core_models.py:108: TF202 column report_jobs.priority exists only in the migrations: "
        "the models do not reflect a revision",
    )
)
MODELS_DIFFER = _declare(
    Code(
        "TF203",
        "models and migrations differ",
        "the application expects another type, default or nullability than the database has",
        'align the model, or generate a revision: make revision M="..."',
        Severity.FAILURE,
        "review.drift_findings",
        "core_models.py:120: TF203 column report_jobs.message nullable is False in the "
        "migrations but True in the models",
    )
)

# --- TF3xx the stairway: up, down, up again on a scratch database ----------------------
DOWNGRADE_MISSING = _declare(
    Code(
        "TF301",
        "downgrade missing or does nothing",
        "a deploy that goes wrong cannot be rolled back",
        "write the ops that undo upgrade(), in reverse order",
        Severity.FAILURE,
        "review.stairway",
        "x.py:21: TF301 revision 3f2a9c1d0e4b downgrade() does nothing, so it cannot be "
        "rolled back",
    )
)
DOWNGRADE_FAILS = _declare(
    Code(
        "TF302",
        "downgrade raises",
        "the rollback fails when it is needed most",
        _RERUN,
        Severity.FAILURE,
        "review.stairway",
        "x.py:22: TF302 downgrade raises on a scratch database: NotImplementedError: there is "
        "no way back",
    )
)
UPGRADE_FAILS = _declare(
    Code(
        "TF303",
        "upgrade fails",
        "the deploy fails on every database",
        _RERUN,
        Severity.FAILURE,
        "review.stairway",
        "x.py:17: TF303 upgrade fails on a scratch database: ProgrammingError: relation "
        '"report_job" does not exist',
    )
)
DOWNGRADE_LEAVES_TRACE = _declare(
    Code(
        "TF304",
        "downgrade leaves a trace",
        "after a rollback the schema is not what the previous release expects",
        "undo in downgrade() everything upgrade() creates, alters or drops",
        Severity.FAILURE,
        "review.stairway",
        "x.py:20: TF304 downgrade of 3f2a9c1d0e4b leaves a trace: sequence report_number_seq "
        "remains",
        variants={
            "upgrade again": "make upgrade() depend only on the schema, not on what was there "
            "before"
        },
    )
)
UPGRADE_AGAIN_FAILS = _declare(
    Code(
        "TF305",
        "upgrade fails again after its downgrade",
        "a rolled-back deploy cannot be deployed again",
        _RERUN,
        Severity.FAILURE,
        "review.stairway",
        "x.py:18: TF305 upgrade fails again after its downgrade on a scratch database: … "
        "already exists",
    )
)

# --- TF4xx unsafe operations on a live table ------------------------------------------
# TF401-TF412: squawk's rules (review.squawk maps them); the title and why make the message
NOT_NULL_WITHOUT_DEFAULT = _declare(
    Code(
        "TF401",
        "NOT NULL column added without a default",
        "the ALTER fails on a table with rows and breaks every insert that does not set it",
        "add it nullable (or with a constant server_default), backfill in batches, "
        "then enforce NOT NULL in a later revision",
        Severity.FAILURE,
        "review.squawk",
        "x.py:18: TF401 NOT NULL column added without a default on report_jobs: the ALTER "
        "fails on a table with rows …",
    )
)
SET_NOT_NULL = _declare(
    Code(
        "TF402",
        "SET NOT NULL on an existing column",
        "PostgreSQL scans the whole table under an ACCESS EXCLUSIVE lock, blocking reads "
        "and writes",
        'write it as an expand and a contract revision: make revision M="..." writes the pair '
        "for nullable=False on an existing column (CHECK NOT VALID; then VALIDATE, SET NOT "
        "NULL without a scan; README: Zero-downtime changes)",
        Severity.OUTAGE,
        "review.squawk",
        "x.py:18: TF402 SET NOT NULL on an existing column on report_jobs: PostgreSQL scans "
        "the whole table under an ACCESS EXCLUSIVE lock …",
    )
)
INDEX_NOT_CONCURRENT = _declare(
    Code(
        "TF403",
        "index created without CONCURRENTLY on an existing table",
        "the build blocks every write to the table until it finishes",
        "create it with postgresql_concurrently=True inside "
        "`with op.get_context().autocommit_block():`; for a unique constraint, "
        'make revision M="..." writes the pair (the index built CONCURRENTLY, then '
        "UNIQUE USING INDEX; README: Zero-downtime changes)",
        Severity.OUTAGE,
        "review.squawk",
        "x.py:17: TF403 index created without CONCURRENTLY on an existing table on "
        "report_jobs: the build blocks every write …",
    )
)
CONCURRENT_IN_TRANSACTION = _declare(
    Code(
        "TF404",
        "CREATE INDEX CONCURRENTLY inside a transaction",
        "PostgreSQL refuses CONCURRENTLY in a transaction block, so the deploy fails",
        "wrap the op.create_index in `with op.get_context().autocommit_block():`",
        Severity.FAILURE,
        "review.squawk",
        "x.py:17: TF404 CREATE INDEX CONCURRENTLY inside a transaction on report_jobs …",
    )
)
FOREIGN_KEY_VALIDATED = _declare(
    Code(
        "TF405",
        "foreign key added without NOT VALID",
        "validating it scans both tables under SHARE ROW EXCLUSIVE locks, blocking writes",
        'write it as an expand and a contract revision: make revision M="..." writes the pair '
        "for a ForeignKey on an existing table (NOT VALID; then VALIDATE CONSTRAINT; README: "
        "Zero-downtime changes)",
        Severity.OUTAGE,
        "review.squawk",
        "x.py:17: TF405 foreign key added without NOT VALID on report_jobs: validating it "
        "scans both tables …",
    )
)
CHECK_VALIDATED = _declare(
    Code(
        "TF406",
        "constraint added without NOT VALID",
        "validating it scans the table while writes are blocked",
        "add it with postgresql_not_valid=True, then VALIDATE CONSTRAINT in a later revision "
        '(make revision M="..." writes that pair for NOT NULL and for a ForeignKey)',
        Severity.OUTAGE,
        "review.squawk",
        "x.py:17: TF406 constraint added without NOT VALID on report_jobs …",
    )
)
TYPE_CHANGE = _declare(
    Code(
        "TF407",
        "column type changed",
        "most type changes rewrite the table under an ACCESS EXCLUSIVE lock, blocking reads "
        "and writes",
        "write it as an expand and a contract revision: change the model's type and run "
        'make revision M="...", which writes both (README: Zero-downtime changes)',
        Severity.OUTAGE,
        "review.squawk",
        "x.py:18: TF407 column type changed on report_jobs: rewrote report_jobs under "
        "AccessExclusiveLock (measured) …",
    )
)
RENAME_COLUMN = _declare(
    Code(
        "TF408",
        "column renamed",
        "the running application still uses the old name and fails until it is redeployed",
        'write it as an expand and a contract revision: make revision M="..." '
        'ARGS="--rename TABLE.OLD=NEW" (README: Zero-downtime changes)',
        Severity.FAILURE,
        "review.squawk",
        "x.py:17: TF408 column renamed on report_jobs: the running application still uses "
        "the old name …",
    )
)
RENAME_TABLE = _declare(
    Code(
        "TF409",
        "table renamed",
        "the running application still uses the old name and fails until it is redeployed",
        "create the new table (or a view under the old name) and move readers first",
        Severity.FAILURE,
        "review.squawk",
        "x.py:17: TF409 table renamed on report_jobs …",
    )
)
DROP_COLUMN = _declare(
    Code(
        "TF410",
        "column dropped",
        "application code still reading or writing it fails as soon as this runs",
        "stop using it in the models and deploy that first, then drop it in a later revision",
        Severity.FAILURE,
        "review.squawk",
        "x.py:18: TF410 column dropped on report_jobs: application code still reading or "
        "writing it fails …",
    )
)
DROP_TABLE = _declare(
    Code(
        "TF411",
        "table dropped",
        "application code still using it fails, and the data is gone",
        "stop using it and deploy that first, then drop it in a later revision",
        Severity.FAILURE,
        "review.squawk",
        "x.py:18: TF411 table dropped on report_jobs: application code still using it fails, "
        "and the data is gone",
    )
)
VOLATILE_DEFAULT = _declare(
    Code(
        "TF412",
        "column added with a volatile default",
        "a volatile default is computed per row, rewriting the table under an ACCESS "
        "EXCLUSIVE lock",
        "add the column without a default, set the default afterwards, backfill in batches",
        Severity.OUTAGE,
        "review.squawk",
        "x.py:18: TF412 column added with a volatile default on report_jobs …",
    )
)
SCHEMA_AND_ROWS = _declare(
    Code(
        "TF413",
        "schema change and row rewrite in one revision",
        "the DDL's ACCESS EXCLUSIVE lock is held until every row is written",
        "split it: the schema change in one revision, the backfill in batches in the next",
        Severity.OUTAGE,
        "review.schema_and_rows",
        "x.py:19: TF413 rows of report_jobs rewritten in the revision that changes its schema …",
    )
)
OFFLINE_FAILED = _declare(
    Code(
        "TF414",
        "upgrade cannot render its SQL offline",
        "`make sql`, an offline deploy and the review's SQL checks cannot see what it runs",
        "use op.execute(...) rather than reading rows with op.get_bind(), "
        "or guard it with context.is_offline_mode()",
        Severity.FAILURE,
        "review.offline",
        "x.py:20: TF414 upgrade cannot render its SQL offline: AttributeError: …",
    )
)
PLAIN_REWRITE = _declare(
    Code(
        "TF415",
        "rows of a live table rewritten by one plain `UPDATE`/`DELETE`",
        "the row lock of every row it touches is held until the revision commits, stalling "
        "the application's writers of those rows",
        'write it as op.backfill("{table}", set=..., where=...), which runs in short batches '
        "on the primary key after the revision commits",
        Severity.OUTAGE,
        "review.rewrites",
        "x.py:17: TF415 rows of report_jobs updated by one plain statement: the row lock of "
        "every row it touches is held until the revision commits …",
        variants={
            "deleted": 'write it as op.backfill("{table}", delete=True, where=...), which '
            "deletes in short batches on the primary key after the revision commits"
        },
    )
)
MEASURED_BLOCKING = _declare(
    Code(
        "TF416",
        "measured rewrite or full read of an existing table under a write-blocking lock, "
        "no rule caught it",
        "the scratch run measured the table blocked while the statement runs",
        "do it in steps that keep writers going (a new column backfilled in batches, a "
        "constraint NOT VALID then VALIDATE), or accept it with a reason if the table is "
        "small everywhere",
        Severity.OUTAGE,
        "review.measured",
        "x.py:17: TF416 rewrote report_jobs under AccessExclusiveLock (measured): blocking "
        "every read and write while it runs, and no rule explains why",
    )
)
OTHER_LOCK = _declare(
    Code(
        "TF419",
        "another squawk rule about locks",
        "squawk found a lock or rewrite risk that no code of ours names; its message says which",
        "follow squawk's help, which the finding carries",
        Severity.OUTAGE,
        "review.squawk",
        "x.py:18: TF419 squawk require-concurrent-index-deletion: A normal DROP INDEX acquires "
        "an ACCESS EXCLUSIVE lock …",
    )
)
# TF420-TF429 expand/contract (issue 18)
EXPAND_NOT_ADDITIVE = _declare(
    Code(
        "TF420",
        "an expand revision drops, renames or rewrites",
        "an expand runs while the old application still writes: what it drops, renames or "
        "rewrites, old code still uses",
        'move it to the contract revision (phase = "contract"), or let `tfsync revision '
        "--rename TABLE.OLD=NEW` write both",
        Severity.FAILURE,
        "review.phases",
        "x.py:19: TF420 in an expand revision, column dropped on report_jobs: application "
        "code still reading or writing it fails …",
        shown_by="tests/test_expand_contract.py::"
        "test_the_review_finds_a_destructive_expand_and_a_contract_without_expand",
    )
)
CONTRACT_WITHOUT_EXPAND = _declare(
    Code(
        "TF421",
        "a contract revision with no expand before it",
        "nothing kept old and new in step and nothing shows when old code last wrote, so "
        "`make contract` may drop what running code still uses",
        "write the pair with `tfsync revision --rename TABLE.OLD=NEW`, or mark the revision "
        'that adds the new shape phase = "expand" and name it in depends_on',
        Severity.FAILURE,
        "review.phases",
        "x.py:15: TF421 contract revision 3f2a9c1d0e4b has no expand revision before it …",
        shown_by="tests/test_expand_contract.py::"
        "test_the_review_finds_a_destructive_expand_and_a_contract_without_expand",
    )
)
# TF430-TF439 enum types, views, functions and triggers (issue 20)
_ENUM_RECREATED = (
    "the type is recreated and every column of it rewritten under an ACCESS EXCLUSIVE lock, "
    "and the running application may still write the old value"
)
ENUM_VALUE_REMOVED = _declare(
    Code(
        "TF430",
        "enum value removed (`op.sync_enum_values`)",
        _ENUM_RECREATED + "; a row holding the value makes the upgrade fail (the pre-flight "
        "counts them)",
        "stop writing the value, move its rows to another value with op.backfill, then "
        "remove it in a later revision (make plan counts the rows still holding it)",
        Severity.OUTAGE,
        "review.enum_values",
        "x.py:20: TF430 enum value removed: 'heard' from enum type appeal_status: the type is "
        "recreated and every column of it rewritten under an ACCESS EXCLUSIVE lock, …",
    )
)
ENUM_VALUE_RENAMED = _declare(
    Code(
        "TF431",
        "enum value renamed",
        _ENUM_RECREATED,
        "append the new name (ALTER TYPE ... ADD VALUE), move the rows with op.backfill, "
        "switch the application, then remove the old name in a later revision",
        Severity.OUTAGE,
        "review.enum_values",
        "x.py:20: TF431 enum value renamed: 'heard' -> 'hearing' in enum type appeal_status: …",
    )
)
# TF440-TF449 backfills and batched deletes (issue 22): none yet; a plain DELETE is TF415.

# --- TF5xx sealed history -------------------------------------------------------------
SEALED_REVISION_CHANGED = _declare(
    Code(
        "TF501",
        "sealed revision edited",
        "databases that already ran it will not run the new version",
        "undo the edit and add a new revision, or re-seal it: tfsync review --seal REV "
        '--reason "..."',
        Severity.FAILURE,
        "review.seal",
        "…/versions/2026_11_25_1439-0b22f05953e4_initial_schema.py:1: TF501 revision "
        "0b22f05953e4 is sealed and was edited …",
        shown_by="tests/test_review.py::test_editing_a_sealed_revision_needs_a_reason",
    )
)
SEALED_REVISION_MISSING = _declare(
    Code(
        "TF502",
        "sealed revision deleted",
        "deployed databases still record it, and no longer find their place in the history",
        "restore the file from git: deployed databases still record it",
        Severity.FAILURE,
        "review.seal",
        "…/versions.sum:4: TF502 sealed revision 3f2a9c1d0e4b (…) is gone",
        shown_by="tests/test_review.py::"
        "test_new_revisions_are_sealed_and_a_sealed_one_may_not_vanish",
    )
)

# --- TF6xx generated documents ---------------------------------------------------------
STALE_PICTURES = _declare(
    Code(
        "TF601",
        "pictures out of date",
        "docs/schema.md no longer shows the models and revisions a reader will meet",
        "run `make docs` and commit the file",
        Severity.UPKEEP,
        "review.pictures",
        "docs/schema.md:77: TF601 schema.md is out of date: the revision graph differs from "
        "what make docs writes now",
        shown_by="tests/test_pictures.py::"
        "test_a_revision_or_model_change_without_its_picture_is_a_finding",
    )
)
